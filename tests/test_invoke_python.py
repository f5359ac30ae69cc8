"""Invoking Python functions through boto3: payloads, the context object, the
environment, function errors, timeouts, crashes and payload limits."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

import support
from support import client_error, function_arn, invoke

MB = 1024 * 1024


@pytest.fixture
def tool(make_function, python_tool_zip):
    """A fresh python_tool function (128 MB, Timeout 3)."""
    return make_function("py-tool", python_tool_zip,
                         Environment={"Variables": {"GREETING": "hello from env", "EMPTY_OK": "1"}})


def test_echo_round_trips_the_payload(lam, tool):
    event = {"action": "echo", "text": "héllo ☃", "numbers": [1, 2.5, None], "nested": {"a": True}}
    result = invoke(lam, tool, event)
    body = result.ok()
    assert body["event"] == event
    assert result.executed_version == "$LATEST"


def test_non_object_payloads(lam, make_function):
    name = make_function("py-identity", support.make_zip({
        "app.py": "def handler(event, context):\n    return event\n"}))
    for payload in ["a string", 42, [1, "two"], None, True]:
        assert invoke(lam, name, raw=json.dumps(payload).encode()).ok() == payload
    assert invoke(lam, name, {}).ok() == {}


def test_context_object(lam, tool):
    result = invoke(lam, tool, {"action": "context"}, tail=True)
    ctx = result.ok()
    assert ctx["function_name"] == tool
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == function_arn(tool)
    assert int(ctx["memory_limit_in_mb"]) == 128
    assert ctx["log_group_name"] == f"/aws/lambda/{tool}"
    assert ctx["log_stream_name"]
    assert 0 < ctx["remaining_ms"] <= 3000
    # The request id the function sees is the invocation's: in the response header
    # and in the log lines.
    assert ctx["aws_request_id"] == result.request_id
    assert f"START RequestId: {ctx['aws_request_id']}" in result.log


def test_client_context(lam, tool):
    client_context = {"custom": {"tenant": "t-7"}, "env": {}, "client": {}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    ctx = invoke(lam, tool, {"action": "context"}, ClientContext=encoded).ok()
    assert ctx["client_context_custom"] == {"tenant": "t-7"}
    assert invoke(lam, tool, {"action": "context"}).ok()["client_context_custom"] is None


def test_each_invocation_gets_its_own_request_id(lam, tool):
    ids = [invoke(lam, tool, {"action": "context"}).ok()["aws_request_id"] for _ in range(3)]
    assert len(set(ids)) == 3, ids


def test_memory_size_reaches_the_context(lam, make_function, python_tool_zip):
    name = make_function("py-mem", python_tool_zip, MemorySize=256, Timeout=9)
    ctx = invoke(lam, name, {"action": "context"}).ok()
    assert int(ctx["memory_limit_in_mb"]) == 256
    assert 3000 < ctx["remaining_ms"] <= 9000


def test_environment_variables(lam, tool):
    names = [
        "GREETING", "EMPTY_OK", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER",
        "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ]
    body = invoke(lam, tool, {"action": "env", "names": names}).ok()
    env = body["env"]
    assert env["GREETING"] == "hello from env"
    assert env["EMPTY_OK"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == tool
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{tool}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_LAMBDA_RUNTIME_API"] and ":" in env["AWS_LAMBDA_RUNTIME_API"]
    task_root = env["LAMBDA_TASK_ROOT"]
    assert task_root, "LAMBDA_TASK_ROOT must be set"
    assert body["file"] == f"{task_root.rstrip('/')}/app.py", "the code runs from LAMBDA_TASK_ROOT"


def test_handler_exception_is_an_unhandled_function_error(lam, tool):
    result = invoke(lam, tool, {"action": "raise", "message": "boom-1234"})
    err = result.error()
    assert err["errorType"] == "ValueError"
    assert err["errorMessage"] == "boom-1234"
    assert isinstance(err.get("stackTrace"), list), err
    # The instance survives a handled exception.
    assert invoke(lam, tool, {"action": "echo"}).ok()["event"] == {"action": "echo"}


def test_import_error(lam, make_function):
    name = make_function("py-importerr", support.function_zip("python_import_error"))
    for _ in range(2):  # reported every time, not only on the first cold start
        err = invoke(lam, name, {}).error()
        assert err["errorType"] == "Runtime.ImportModuleError", err
        assert "Unable to import module 'app'" in err["errorMessage"], err
        assert "module_that_does_not_exist_in_gust_tests" in err["errorMessage"], err


def test_missing_handler(lam, make_function):
    name = make_function("py-nohandler", support.function_zip("python_no_handler"))
    err = invoke(lam, name, {}).error()
    assert err["errorType"] == "Runtime.HandlerNotFound", err
    assert "handler" in err["errorMessage"] and "app" in err["errorMessage"], err


def test_missing_module_file(lam, make_function, python_tool_zip):
    name = make_function("py-nomodule", python_tool_zip, handler="nothere.handler")
    err = invoke(lam, name, {}).error()
    assert err["errorType"] == "Runtime.ImportModuleError", err
    assert "nothere" in err["errorMessage"], err


def test_timeout_kills_and_replaces_the_instance(lam, make_function, python_tool_zip):
    name = make_function("py-timeout", python_tool_zip, Timeout=1)
    first = invoke(lam, name, {"action": "whoami"}).ok()

    result = invoke(lam, name, {"action": "sleep", "seconds": 5, "after": "SHOULD-NOT-PRINT"},
                    tail=True)
    err = result.error()
    # AWS: {"errorType": "Sandbox.Timedout",
    #       "errorMessage": "RequestId: <id> Error: Task timed out after 1.00 seconds"}
    assert err["errorType"] == "Sandbox.Timedout", err
    assert "Task timed out after 1.00 seconds" in err["errorMessage"], err
    assert result.request_id in err["errorMessage"], err
    assert "SHOULD-NOT-PRINT" not in (result.log or "")

    # The next invocation works, on a new instance: the timed-out one was killed.
    after = invoke(lam, name, {"action": "whoami"}).ok()
    assert after["instance"] != first["instance"], "the timed-out instance must be replaced"


def test_crash_is_runtime_exit_error_and_instance_is_replaced(lam, tool):
    first = invoke(lam, tool, {"action": "whoami"}).ok()
    err = invoke(lam, tool, {"action": "exit", "code": 3}).error()
    # AWS: "RequestId: <id> Error: Runtime exited with error: exit status 3"
    assert err["errorType"] == "Runtime.ExitError", err
    assert "exit status 3" in err["errorMessage"], err
    after = invoke(lam, tool, {"action": "whoami"}).ok()
    assert after["instance"] != first["instance"]
    assert after["invocations"] == 1, "a fresh instance has served one invocation"


def test_warm_instance_is_reused(lam, tool):
    first = invoke(lam, tool, {"action": "whoami"}).ok()
    second = invoke(lam, tool, {"action": "whoami"}).ok()
    assert second["instance"] == first["instance"]
    assert second["invocations"] == first["invocations"] + 1


def test_large_request_under_the_limit_is_accepted(lam, tool):
    data = "y" * (5 * MB)
    assert invoke(lam, tool, {"action": "length", "data": data}).ok() == {"length": len(data)}


def test_oversize_request_is_413(lam, tool):
    data = "z" * (6 * MB + 1024)
    with pytest.raises(ClientError) as e:
        invoke(lam, tool, {"action": "length", "data": data})
    code, status, message = client_error(e)
    assert (code, status) == ("RequestTooLargeException", 413), message
    # The function still works afterwards.
    invoke(lam, tool, {"action": "whoami"}).ok()


def test_oversize_response_is_a_function_error(lam, tool):
    result = invoke(lam, tool, {"action": "big", "bytes": 7 * MB})
    err = result.error()
    # AWS: {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": "Response
    # payload size exceeded maximum allowed payload size (6291556 bytes)."}
    assert err["errorType"] == "Function.ResponseSizeTooLarge", err
    assert "exceeded maximum allowed payload size" in err["errorMessage"], err
    assert len(result.payload_bytes) < MB, "the oversize payload must not be passed on"
    invoke(lam, tool, {"action": "whoami"}).ok()


def test_response_just_under_the_limit_is_returned(lam, tool):
    body = invoke(lam, tool, {"action": "big", "bytes": 5 * MB}).ok()
    assert body == "x" * (5 * MB)


def test_dry_run_is_204_and_runs_nothing(server, lam, tool):
    resp = lam.invoke(FunctionName=tool, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    assert resp["Payload"].read() == b""
    logs = server.logs(tool)
    assert not any("START RequestId" in e["message"] for e in logs["events"]), logs


def test_event_invocation_is_accepted_and_runs(server, lam, tool):
    # The async issue covers Event in depth (tests/test_async.py); here: boto3's view.
    marker = support.unique_name("async-ran")
    resp = lam.invoke(FunctionName=tool, InvocationType="Event",
                      Payload=json.dumps({"action": "print", "lines": [marker]}).encode())
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    support.wait_until(
        lambda: any(e["message"] == marker for e in server.logs(tool)["events"]), 30,
        message="the queued event to run")


def test_invalid_invocation_type_is_rejected(server, tool):
    resp = requests.post(
        f"{server.url}/2015-03-31/functions/{tool}/invocations",
        data=b"{}", headers={"X-Amz-Invocation-Type": "Sometimes"}, timeout=30)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers.get("x-amzn-ErrorType"), resp.headers


def test_invalid_json_payload_is_rejected(server, tool):
    resp = requests.post(f"{server.url}/2015-03-31/functions/{tool}/invocations",
                         data=b"{this is not json", timeout=30)
    # AWS: 400 InvalidRequestContentException "Could not parse request body into json"
    assert resp.status_code == 400, resp.text
    assert resp.headers.get("x-amzn-ErrorType", "").startswith("InvalidRequestContentException")


def test_update_code_then_invoke_runs_new_code(lam, make_function):
    def version_zip(v: int) -> bytes:
        return support.function_zip("python_versioned", replace={"__CODE_VERSION__": f"v{v}"})

    name = make_function("py-update", version_zip(0), Environment={"Variables": {"SETTING": "s0"}})
    # Warm up more than one instance so stale warm instances would be found.
    with ThreadPoolExecutor(3) as pool:
        warm = list(pool.map(lambda _: invoke(lam, name, {"sleep": 0.5}).ok(), range(3)))
    assert all(w["version"] == "v0" for w in warm), warm

    for v in range(1, 4):
        lam.update_function_code(FunctionName=name, ZipFile=version_zip(v))
        for _ in range(3):
            assert invoke(lam, name, {}).ok()["version"] == f"v{v}"

    for s in range(1, 3):
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"SETTING": f"s{s}"}})
        for _ in range(3):
            assert invoke(lam, name, {}).ok() == {"version": "v3", "setting": f"s{s}"}


def test_update_handler_takes_effect(lam, make_function, python_tool_zip):
    name = make_function("py-handler", support.make_zip({
        "app.py": "def handler(e, c):\n    return 'one'\n\ndef other(e, c):\n    return 'two'\n"}))
    assert invoke(lam, name, {}).ok() == "one"
    lam.update_function_configuration(FunctionName=name, Handler="app.other")
    assert invoke(lam, name, {}).ok() == "two"


def test_delete_then_invoke_is_not_found(server, lam, python_tool_zip):
    name = support.unique_name("py-deleted")
    server.create_function(name, python_tool_zip)
    invoke(lam, name, {"action": "whoami"}).ok()
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as e:
        invoke(lam, name, {"action": "whoami"})
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)


def test_function_can_write_tmp_but_not_its_code(server, lam, make_function):
    if server.health().get("isolation") != "linux":
        pytest.skip("code is read-only only inside the Linux sandbox")
    name = make_function("py-fs", support.make_zip({"app.py": (
        "import os\n"
        "def handler(event, context):\n"
        "    with open('/tmp/scratch.txt', 'w') as f:\n"
        "        f.write('ok')\n"
        "    tmp = open('/tmp/scratch.txt').read()\n"
        "    try:\n"
        "        open(os.path.join(os.environ['LAMBDA_TASK_ROOT'], 'new.txt'), 'w').write('x')\n"
        "        code_writable = True\n"
        "    except OSError:\n"
        "        code_writable = False\n"
        "    return {'tmp': tmp, 'code_writable': code_writable}\n"
    )}))
    body = invoke(lam, name, {}).ok()
    assert body["tmp"] == "ok"
    assert body["code_writable"] is False, "the function's code directory must be read-only"


def test_stdout_and_stderr_reach_the_log_tail(lam, tool):
    marker = support.unique_name("printed")
    result = invoke(lam, tool, {"action": "print", "lines": [marker], "stderr": marker + "-err"},
                    tail=True)
    result.ok()
    assert marker in result.log
    assert marker + "-err" in result.log


def test_executed_version_header(lam, tool):
    result = invoke(lam, tool, {"action": "whoami"})
    assert result.headers.get("x-amz-executed-version") == "$LATEST"


def test_request_id_is_a_uuid(lam, tool):
    result = invoke(lam, tool, {"action": "context"})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        result.request_id), result.request_id


FLAGS_APP = """\
import os, sys

def handler(event, context):
    return {"optimize": sys.flags.optimize, "hash_seed": os.environ.get("PYTHONHASHSEED"),
            "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"), "cwd": os.getcwd(),
            "tz": os.environ.get("TZ"), "prewarm_fd": os.environ.get("_GUST_PREWARM_FD")}
"""


def test_cold_starts_see_only_their_own_environment(lam, make_function):
    """gust keeps Python interpreters started ahead of demand and hands them a
    function when it cold-starts: the function must see its own environment and
    directory, nothing of the prewarm; one whose variables change how Python starts
    (PYTHONOPTIMIZE here) gets an interpreter started with them."""
    plain = make_function("py-env-plain", support.make_zip({"app.py": FLAGS_APP}))
    body = invoke(lam, plain).ok()
    assert body["function"] == plain and body["cwd"] == "/var/task", body
    assert body["tz"] == ":UTC" and body["prewarm_fd"] is None, body
    assert body["optimize"] == 0

    tuned = make_function("py-env-tuned", support.make_zip({"app.py": FLAGS_APP}),
                          Environment={"Variables": {"PYTHONOPTIMIZE": "1",
                                                     "PYTHONHASHSEED": "7"}})
    body = invoke(lam, tuned).ok()
    assert body["optimize"] == 1, body
    assert body["hash_seed"] == "7" and body["function"] == tuned, body


def test_the_runtime_is_loaded_compiled(server):
    cache = server.data_dir / "runtimes" / "python" / "__pycache__"
    assert list(cache.glob("_gust_bootstrap.cpython-311*.pyc")), (
        f"gust did not precompile its Python runtime into {cache}")
