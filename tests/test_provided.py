"""Custom runtimes (`provided*`): a bootstrap speaking the Runtime API by hand, and
AWS's own Python runtime interface client (awslambdaric) as the bootstrap."""

from __future__ import annotations

import base64
import json
import time

import pytest

import support
from support import PROVIDED_RUNTIMES, function_arn, invoke


@pytest.mark.parametrize("runtime", PROVIDED_RUNTIMES)
def test_hand_written_bootstrap(lam, make_function, runtime):
    name = make_function("provided-hand", support.function_zip("provided_python"),
                         runtime=runtime, handler="my.handler.name", Timeout=10,
                         Environment={"Variables": {"CUSTOM_SETTING": "on"}})
    before_ms = time.time() * 1000
    event = {"custom": runtime}
    result = invoke(lam, name, event)
    body = result.ok()
    assert body["runtime"] == "provided"
    assert body["event"] == event
    assert body["requestId"] == result.request_id
    headers = body["headers"]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == result.request_id
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == function_arn(name)
    assert headers["Lambda-Runtime-Trace-Id"], "every Lambda-Runtime-* header is sent"
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert before_ms < deadline <= time.time() * 1000 + 10_000 + 1000, deadline
    env = body["env"]
    assert env["_HANDLER"] == "my.handler.name"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"]
    assert env["CUSTOM_SETTING"] == "on"

    # The runtime loops on /next: the same process serves the next invocation.
    again = invoke(lam, name, {"n": 2}).ok()
    assert again["instance"] == body["instance"]
    assert again["requestId"] != body["requestId"]


def test_client_context_reaches_the_runtime(lam, make_function):
    """X-Amz-Client-Context (base64 JSON) arrives as Lambda-Runtime-Client-Context
    (the JSON itself), which runtime clients parse."""
    name = make_function("provided-cc", support.function_zip("provided_python"),
                         runtime="provided.al2023", handler=None)
    client_context = {"custom": {"tenant": "t-42"}, "env": {"locale": "en"}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    body = invoke(lam, name, {}, ClientContext=encoded).ok()
    header = body["headers"]["Lambda-Runtime-Client-Context"]
    assert header, "the client context must be passed to the runtime"
    assert json.loads(header) == client_context
    # Without one, no client context is invented.
    plain = invoke(lam, name, {}).ok()["headers"]["Lambda-Runtime-Client-Context"]
    assert not plain or json.loads(plain) in ({}, None), plain


def test_bootstrap_reports_errors_through_the_error_endpoint(lam, make_function):
    name = make_function("provided-err", support.function_zip("provided_python"),
                         runtime="provided.al2023", handler=None)
    result = invoke(lam, name, {"fail": True, "message": "custom-failure-9"})
    err = result.error()
    assert err == {"errorType": "Custom.Failure", "errorMessage": "custom-failure-9"}
    # Still serving afterwards.
    assert invoke(lam, name, {"ok": 1}).ok()["event"] == {"ok": 1}


def test_init_error_is_reported(lam, make_function):
    name = make_function("provided-initerr", support.function_zip("provided_init_error"),
                         runtime="provided.al2023", handler=None)
    result = invoke(lam, name, {}, tail=True)
    err = result.error()
    assert err["errorType"] == "Custom.InitFailed", err
    assert err["errorMessage"] == "configuration file missing", err


def test_missing_bootstrap_is_an_error_not_a_hang(lam, make_function):
    name = make_function("provided-noboot", support.make_zip({"README.txt": "no bootstrap"}),
                         runtime="provided.al2023", handler=None)
    result = invoke(lam, name, {})
    result.error()


def test_bootstrap_that_exits_immediately(lam, make_function):
    name = make_function("provided-exit", support.make_zip({
        "bootstrap": "#!/bin/sh\necho going away\nexit 4\n"}), runtime="provided", handler=None)
    err = invoke(lam, name, {}).error()
    assert err["errorType"].startswith("Runtime."), err
    assert "exit status 4" in err["errorMessage"], err


def test_awslambdaric_bootstrap(lam, make_function, awslambdaric_zip):
    name = make_function("provided-ric", awslambdaric_zip, runtime="provided.al2023",
                         handler="app.handler", Timeout=10)
    event = {"via": "awslambdaric", "list": [1, 2]}
    result = invoke(lam, name, event, tail=True)
    body = result.ok()
    assert body["client"] == "awslambdaric"
    assert body["event"] == event
    assert body["requestId"] == result.request_id
    assert body["functionName"] == name
    assert int(body["memoryLimitInMB"]) == 128
    assert 0 < body["remainingMs"] <= 10_000
    assert f"REPORT RequestId: {result.request_id}" in result.log

    err = invoke(lam, name, {"action": "raise", "message": "ric-error-3"}).error()
    assert err["errorType"] == "RuntimeError", err
    assert err["errorMessage"] == "ric-error-3", err

    assert invoke(lam, name, {"again": True}).ok()["event"] == {"again": True}


def test_runtime_api_refuses_misuse_like_the_emulator(lam, make_function):
    """Unknown request ids and answers to finished invocations are refused with the
    runtime interface emulator's status codes, and never reach the caller."""
    name = make_function("provided-probe", support.function_zip("provided_probe"),
                         runtime="provided.al2023", handler=None)
    first_call = invoke(lam, name, {"n": 1})
    first = first_call.ok()
    assert first["requestId"] == first_call.request_id
    # The emulator: 400 {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    assert first["unknownId"]["status"] == 400, first
    assert first["unknownId"]["body"]["errorType"] == "InvalidRequestID", first
    # awslambdaric's native client needs a Content-Type on /invocation/next.
    assert first["nextContentType"], "invocation/next must carry a Content-Type"

    second = invoke(lam, name, {"n": 2}).ok()
    previous = second["previous"]
    assert previous["requestId"] == first["requestId"]
    assert previous["firstStatus"] == 202
    assert 400 <= previous["repeatStatus"] < 500, previous
    assert 400 <= previous["lateErrorStatus"] < 500, previous
