# The `ticker` handler (BENCHMARKS.md, protocol 6): a background thread that keeps
# ticking every 10 ms between invocations, as a function's timers and pollers do.
# It answers with how many ticks it has counted.
import threading
import time

ticks = 0


def _tick():
    global ticks
    while True:
        ticks += 1
        time.sleep(0.01)


threading.Thread(target=_tick, daemon=True).start()


def handler(event, context):
    return {"ticks": ticks}
