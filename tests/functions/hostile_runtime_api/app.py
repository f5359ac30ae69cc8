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
    # A connection gust refused is readable (its 503, then end of file).
    poller = select.poll()
    for s in HELD:
        poller.register(s, select.POLLIN)
    refused = len(poller.poll(1000))
    return {"opened": opened, "refused": refused, "held": len(HELD), "error": error}


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
