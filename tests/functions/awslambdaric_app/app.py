"""A plain handler run by AWS's own runtime interface client (awslambdaric), which
the test vendors into the archive next to this file with a `bootstrap` of
`exec python3 -m awslambdaric app.handler`.
"""

import awslambdaric


def handler(event, context):
    if isinstance(event, dict) and event.get("action") == "raise":
        raise RuntimeError(event.get("message", "ric boom"))
    return {
        "client": "awslambdaric",
        "ric_module": awslambdaric.__name__,
        "event": event,
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
