"""A Python function whose behaviour the caller picks with event["action"].

One archive serves most end-to-end tests: echoing, reporting the context and the
environment, printing, sleeping, raising, crashing and returning oversize payloads.
"""

import os
import sys
import time
import uuid

# Module state survives between invocations of one instance: it identifies the
# instance and tells cold invocations from warm ones.
INSTANCE_ID = uuid.uuid4().hex
INVOCATIONS = 0


def whoami():
    return {"pid": os.getpid(), "instance": INSTANCE_ID, "invocations": INVOCATIONS}


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    event = event if isinstance(event, dict) else {"value": event}
    action = event.get("action", "echo")

    if action == "echo":
        return {"event": event, **whoami()}
    if action == "whoami":
        return whoami()
    if action == "length":
        return {"length": len(event.get("data", ""))}
    if action == "context":
        return {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "client_context_custom": getattr(context.client_context, "custom", None),
        }
    if action == "env":
        return {
            "env": {name: os.environ.get(name) for name in event.get("names", [])},
            "file": os.path.abspath(__file__),
            "cwd": os.getcwd(),
        }
    if action == "print":
        for line in event.get("lines", []):
            print(line)
        if event.get("stderr"):
            print(event["stderr"], file=sys.stderr)
        return {"printed": len(event.get("lines", [])), **whoami()}
    if action == "sleep":
        if "before" in event:
            print(event["before"], flush=True)
        time.sleep(float(event["seconds"]))
        print(event.get("after", "woke up"))
        return whoami()
    if action == "raise":
        raise ValueError(event.get("message", "boom"))
    if action == "exit":
        sys.stdout.flush()
        os._exit(int(event.get("code", 3)))
    if action == "big":
        return "x" * int(event["bytes"])
    raise KeyError(f"unknown action {action!r}")
