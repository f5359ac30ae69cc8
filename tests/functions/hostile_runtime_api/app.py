"""Attacks gust through the function's own Runtime API and its log.

- "connect": opens up to event["connections"] connections to
  $AWS_LAMBDA_RUNTIME_API and keeps them open after returning (module state), the
  way a hostile function would pin gust's file descriptors. Reports how many
  connects succeeded and how many of those gust refused (answered 503 or closed).
- "newlines": writes event["bytes"] newline characters to stdout: that many empty
  log lines, each of which gust must charge against the function's log budget.
"""

import os
import select
import socket
import sys
import time

HELD = []


def connect(count):
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    opened = 0
    error = None
    for _ in range(count):
        try:
            HELD.append(socket.create_connection((host, int(port)), timeout=10))
            opened += 1
        except OSError as e:  # the function's own descriptor limit, most likely
            error = repr(e)
            break
    # A connection gust refused turns readable (its 503, then end of file). Wait
    # (boundedly) until all but `expect_kept` of them have.
    expect_kept = int(os.environ.get("EXPECT_KEPT", "8"))
    poller = select.poll()
    for s in HELD:
        poller.register(s, select.POLLIN)
    refused = set()
    deadline = time.monotonic() + 10
    while len(refused) < opened - expect_kept and time.monotonic() < deadline:
        for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            refused.add(fd)
            poller.unregister(fd)
    return {"opened": opened, "refused": len(refused), "held": len(HELD), "error": error}


def handler(event, context):
    action = event.get("action")
    if action == "connect":
        return connect(int(event["connections"]))
    if action == "newlines":
        chunk = b"\n" * (1 << 20)
        left = int(event["bytes"])
        out = sys.stdout.buffer
        while left > 0:
            out.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        out.flush()
        return {"written": int(event["bytes"])}
    return {"pid": os.getpid(), "held": len(HELD)}
