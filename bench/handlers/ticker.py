# The `ticker` handler (BENCHMARKS.md, protocol 6): a background thread that keeps
# ticking every 10 ms between invocations, as a function's timers and pollers do.
# It answers with how many ticks it has counted, the instance it runs in and its
# event (tests/test_freeze.py uses it too).
import threading
import time
import uuid

INSTANCE = uuid.uuid4().hex

ticks = 0


def _tick():
    global ticks
    while True:
        ticks += 1
        time.sleep(0.01)


threading.Thread(target=_tick, daemon=True).start()


def handler(event, context):
    return {"ticks": ticks, "instance": INSTANCE, "echo": event}
