"""Invoking Node.js functions: async, callback and ES module handlers, the context
object, and Node's error shapes."""

from __future__ import annotations

import hashlib
import json

import support
from support import NODE, function_arn, invoke


def test_async_handler(lam, make_function):
    name = make_function("node-async", support.function_zip("node_async"), runtime=NODE,
                         handler="index.handler",
                         Environment={"Variables": {"GREETING": "hi from node"}})
    event = {"hello": "world", "n": [1, 2, 3]}
    result = invoke(lam, name, event)
    body = result.ok()
    assert body["style"] == "async"
    assert body["event"] == event
    assert body["requestId"] == result.request_id
    assert body["functionName"] == name
    assert body["functionVersion"] == "$LATEST"
    assert body["invokedFunctionArn"] == function_arn(name)
    assert str(body["memoryLimitInMB"]) == "128"
    assert body["logGroupName"] == f"/aws/lambda/{name}"
    assert 0 < body["remainingMs"] <= 3000
    assert body["greeting"] == "hi from node"
    assert body["region"] == "us-east-1"
    assert body["nodeVersion"].startswith("v"), body["nodeVersion"]

    # Warm reuse: module state survives.
    again = invoke(lam, name, {}).ok()
    assert again["instance"] == body["instance"]


def test_async_handler_throw(lam, make_function):
    name = make_function("node-throw", support.function_zip("node_async"), runtime=NODE,
                         handler="index.handler")
    err = invoke(lam, name, {"action": "throw", "message": "node-boom-42"}).error()
    assert err["errorType"] == "Error", err
    assert err["errorMessage"] == "node-boom-42", err
    assert isinstance(err.get("trace", err.get("stackTrace")), list), err
    invoke(lam, name, {}).ok()


def test_callback_handler(lam, make_function):
    name = make_function("node-cb", support.function_zip("node_callback"), runtime=NODE,
                         handler="index.handler")
    result = invoke(lam, name, {"x": 1})
    body = result.ok()
    assert body == {"style": "callback", "event": {"x": 1}, "requestId": result.request_id}

    err = invoke(lam, name, {"action": "fail", "message": "cb-failed-7"}).error()
    assert err["errorType"] == "Error", err
    assert err["errorMessage"] == "cb-failed-7", err


def test_esm_handler(lam, make_function):
    name = make_function("node-esm", support.function_zip("node_esm"), runtime=NODE,
                         handler="index.handler")
    event = {"module": "esm"}
    body = invoke(lam, name, event).ok()
    assert body["style"] == "esm"
    assert body["event"] == event
    assert body["functionName"] == name
    assert body["sha256"] == hashlib.sha256(json.dumps(event, separators=(",", ":")).encode()
                                            ).hexdigest()


def test_node_import_error(lam, make_function):
    name = make_function("node-importerr", support.function_zip("node_import_error"),
                         runtime=NODE, handler="index.handler")
    err = invoke(lam, name, {}).error()
    assert err["errorType"] == "Runtime.ImportModuleError", err
    assert "module-that-does-not-exist-in-gust-tests" in err["errorMessage"], err


def test_node_missing_handler(lam, make_function):
    name = make_function("node-nohandler", support.function_zip("node_async"), runtime=NODE,
                         handler="index.notExported")
    err = invoke(lam, name, {}).error()
    assert err["errorType"] == "Runtime.HandlerNotFound", err
    assert "notExported" in err["errorMessage"], err


def test_node_tail_log(lam, make_function):
    name = make_function("node-log", support.make_zip({
        "index.js": "exports.handler = async (e) => { console.log('node-said', e.word); "
                    "return e.word; };\n"}), runtime=NODE, handler="index.handler")
    result = invoke(lam, name, {"word": "xyzzy"}, tail=True)
    assert result.ok() == "xyzzy"
    assert "node-said xyzzy" in result.log
    assert f"REPORT RequestId: {result.request_id}" in result.log


HEAP_APP = """\
const v8 = require('v8');
exports.handler = async () => ({
  heapLimitMb: v8.getHeapStatistics().heap_size_limit / 1048576,
  cwd: process.cwd(),
  fn: process.env.AWS_LAMBDA_FUNCTION_NAME,
  prewarmFd: process.env._GUST_PREWARM_FD || null,
  utcOffset: new Date(0).getTimezoneOffset(),
});
"""


def test_cold_starts_see_only_their_own_environment(lam, make_function):
    """gust keeps a Node.js runtime started ahead of demand and hands it a function
    when it cold-starts: the function sees its own environment and directory; one
    whose variables change how Node starts (NODE_OPTIONS) gets a runtime started
    with them."""
    plain = make_function("node-env-plain", support.make_zip({"index.js": HEAP_APP}),
                          runtime=NODE, handler="index.handler")
    body = invoke(lam, plain).ok()
    assert body["fn"] == plain and body["cwd"] == "/var/task", body
    assert body["prewarmFd"] is None and body["utcOffset"] == 0, body
    assert body["heapLimitMb"] > 200, body

    tuned = make_function("node-env-tuned", support.make_zip({"index.js": HEAP_APP}),
                          runtime=NODE, handler="index.handler",
                          Environment={"Variables": {"NODE_OPTIONS": "--max-old-space-size=64"}})
    body = invoke(lam, tuned).ok()
    assert body["heapLimitMb"] < 200, body
    assert body["fn"] == tuned, body
