# The reference `noop` handler (BENCHMARKS.md): answers at once, does no work.
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
