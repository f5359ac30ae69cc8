"""A function for the asynchronous-invocation tests.

It reports every execution three ways, so the tests can count executions whatever
the isolation: it returns its start time and the event's id (which reach an
on-success destination queue, durably), prints `EXEC <id>` to its log, and, when the
event names a collector URL, tells that HTTP collector (reachable only where the
instance shares the host's network, e.g. --isolation none).
"""

import json
import time
import urllib.request


def report(url, body):
    try:
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        urllib.request.urlopen(req, timeout=2).read()
        return True
    except Exception:  # noqa: BLE001 - the collector is best effort
        return False


def handler(event, context):
    started = time.time()
    event = event if isinstance(event, dict) else {"value": event}
    ident = event.get("id")
    print(f"EXEC {ident} {context.aws_request_id}", flush=True)
    reported = None
    if event.get("collector"):
        reported = report(event["collector"], {"id": ident, "rid": context.aws_request_id,
                                               "t": started})
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("fail"):
        raise RuntimeError(f"failing on purpose: {ident}")
    return {"id": ident, "t": started, "reported": reported,
            "requestId": context.aws_request_id}
