"""Behaviour of gust's Python and Node.js bootstraps against a mock Runtime API.

Run with `python3 -m pytest crates/gust-runtimes/tests -q`.
"""

import json
import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from runtime_api_mock import MockRuntimeAPI, RuntimeProcess  # noqa: E402

CRATE = Path(__file__).resolve().parent.parent
PYTHON_BOOTSTRAP = CRATE / "python" / "bootstrap.py"
PYTHON_RUNTIME = CRATE / "python" / "_gust_bootstrap.py"
NODE_BOOTSTRAP = CRATE / "node" / "bootstrap.js"
PYTHON = os.environ.get("GUST_TEST_PYTHON", sys.executable)
NODE = os.environ.get("GUST_TEST_NODE") or shutil.which("node")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture
def api():
    server = MockRuntimeAPI()
    yield server
    server.close()


@pytest.fixture
def runtime(api, tmp_path):
    """`runtime(lang, files, handler, env=None)` writes the task root and
    starts the bootstrap; every started process is killed at the end."""
    started = []

    def start(lang, files, handler, env=None):
        root = tmp_path / "task"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
        root.mkdir(exist_ok=True)
        if lang == "python":
            argv = [PYTHON, str(PYTHON_BOOTSTRAP)]
        else:
            argv = [NODE, str(NODE_BOOTSTRAP)]
        proc = RuntimeProcess(argv, root, handler, api, env, runtime_dir=CRATE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(condition, timeout=5.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.01)


def roundtrip(api, event, **kw):
    return api.wait(api.invoke(event, **kw))


# ---------------------------------------------------------------------------
# Python


PY_ECHO = {
    "app.py": """
        def handler(event, context):
            return event

        def none(event, context):
            return None
    """
}


def test_python_echo_and_none(api, runtime):
    runtime("python", PY_ECHO, "app.handler")
    rep = roundtrip(api, {"a": [1, 2, {"b": "ü"}]})
    assert rep.kind == "response"
    assert rep.json == {"a": [1, 2, {"b": "ü"}]}
    assert rep.headers["Content-Type"] == "application/json"


def test_python_none_is_null(api, runtime):
    runtime("python", PY_ECHO, "app.none")
    rep = roundtrip(api, {})
    assert (rep.kind, rep.raw) == ("response", b"null")


def test_python_context(api, runtime):
    runtime("python", {
        "app.py": """
            import time

            def handler(event, context):
                first = context.get_remaining_time_in_millis()
                time.sleep(0.05)
                second = context.get_remaining_time_in_millis()
                cc = context.client_context
                return {
                    "aws_request_id": context.aws_request_id,
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "identity": [context.identity.cognito_identity_id,
                                 context.identity.cognito_identity_pool_id],
                    "client_context": None if cc is None else
                        [cc.custom, cc.env, cc.client.installation_id, cc.client.app_title],
                    "remaining": [first, second],
                }
        """
    }, "app.handler")
    before = int(time.time() * 1000)
    rid = api.invoke(
        {}, timeout_ms=5000,
        client_context=json.dumps({"custom": {"k": "v"}, "env": {"e": 1},
                                   "client": {"installation_id": "i-1", "app_title": "t"}}),
        cognito_identity=json.dumps({"cognitoIdentityId": "id-1",
                                     "cognitoIdentityPoolId": "pool-1"}),
    )
    body = api.wait(rid).json
    assert body["aws_request_id"] == rid
    assert body["function_name"] == "test-fn"
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:test-fn"
    assert body["memory_limit_in_mb"] == "128"
    assert body["log_group_name"] == "/aws/lambda/test-fn"
    assert body["log_stream_name"].endswith("0123456789abcdef")
    assert body["identity"] == ["id-1", "pool-1"]
    assert body["client_context"] == [{"k": "v"}, {"e": 1}, "i-1", "t"]
    first, second = body["remaining"]
    deadline = before + 5000
    assert 0 < first <= 5000 and first <= deadline - before
    assert first - second >= 45

    body = roundtrip(api, {}).json
    assert body["identity"] == [None, None]
    assert body["client_context"] is None


def test_python_trace_id_env(api, runtime):
    runtime("python", {
        "app.py": """
            import os
            def handler(event, context):
                return os.environ.get("_X_AMZN_TRACE_ID")
        """
    }, "app.handler")
    assert roundtrip(api, {}, trace_id="Root=1-abc;Parent=def;Sampled=1").json == \
        "Root=1-abc;Parent=def;Sampled=1"
    assert roundtrip(api, {}).json is None


def test_python_exception(api, runtime):
    runtime("python", {
        "app.py": """
            def handler(event, context):
                print("before the error")
                helper()

            def helper():
                raise ValueError("boom")
        """
    }, "app.handler")
    rid = api.invoke({})
    rep = api.wait(rid)
    assert rep.kind == "error"
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
    body = rep.json
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == rid
    trace = body["stackTrace"]
    assert len(trace) == 2
    assert trace[0].startswith('  File "') and 'app.py", line 4, in handler\n' in trace[0]
    assert trace[1].endswith('line 7, in helper\n    raise ValueError("boom")\n')
    # Logged like AWS does, and flushed before the report.
    assert "before the error\n" in rep.stdout
    # One log record: AWS's runtime joins the lines with carriage returns.
    assert "\n[ERROR] ValueError: boom\rTraceback (most recent call last):\r" in rep.stdout
    assert 'line 7, in helper\r\u00a0\u00a0\u00a0\u00a0raise ValueError("boom")\n' in rep.stdout
    # The instance keeps serving.
    assert roundtrip(api, {}).kind == "error"


def test_python_unmarshalable_result(api, runtime):
    runtime("python", {
        "app.py": """
            import decimal
            def handler(event, context):
                if event == "set":
                    return {1, 2}
                if event == "bytes":
                    return b"\\x00raw"
                return {"d": decimal.Decimal("1.5"), "i": decimal.Decimal("10")}
        """
    }, "app.handler")
    rep = roundtrip(api, "set")
    assert rep.kind == "error"
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.MarshalError"
    assert rep.json["errorType"] == "Runtime.MarshalError"
    assert rep.json["errorMessage"] == \
        "Unable to marshal response: Object of type set is not JSON serializable"
    assert rep.json["stackTrace"] == []
    rep = roundtrip(api, "bytes")
    assert (rep.kind, rep.raw, rep.headers["Content-Type"]) == \
        ("response", b"\x00raw", "application/unknown")
    assert roundtrip(api, "decimal").json == {"d": 1.5, "i": 10}


def test_python_invalid_event_json(api, runtime):
    runtime("python", PY_ECHO, "app.handler")
    rep = api.wait(api.invoke(None, raw_body=b"{not json"))
    assert rep.kind == "error"
    assert rep.json["errorType"] == "Runtime.UnmarshalError"
    assert rep.json["errorMessage"].startswith("Unable to unmarshal input: ")


def _init_error(api, proc):
    rep = api.init_error()
    assert proc.wait_exit() == 1
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == rep.json["errorType"]
    return rep


def test_python_import_module_error(api, runtime):
    proc = runtime("python", {}, "app.handler")
    rep = _init_error(api, proc)
    body = rep.json
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'app': No module named 'app'"
    assert body["requestId"] == "" and body["stackTrace"] == []
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': " \
        "No module named 'app'" in proc.stdout
    assert ("POST", "/2018-06-01/runtime/init/error") in api.requests
    assert not any(m == "GET" for m, _ in api.requests)


def test_python_import_error_inside_module(api, runtime):
    proc = runtime("python", {"app.py": "import not_a_real_dependency\n"}, "app.handler")
    assert _init_error(api, proc).json["errorMessage"] == \
        "Unable to import module 'app': No module named 'not_a_real_dependency'"


def test_python_exception_while_importing(api, runtime):
    proc = runtime("python", {"app.py": "raise KeyError('CONFIG')\n"}, "app.handler")
    body = _init_error(api, proc).json
    # AWS reports a non-import exception raised at import time under its own type.
    assert body["errorType"] == "KeyError"
    assert body["errorMessage"] == "'CONFIG'"
    assert any("app.py\", line 1, in <module>" in line for line in body["stackTrace"])


def test_python_handler_not_found(api, runtime):
    proc = runtime("python", PY_ECHO, "app.nope")
    body = _init_error(api, proc).json
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "Handler 'nope' missing on module 'app'"


def test_python_malformed_handler(api, runtime):
    proc = runtime("python", PY_ECHO, "x")
    body = _init_error(api, proc).json
    assert body["errorType"] == "Runtime.MalformedHandlerName"
    assert body["errorMessage"] == "Bad handler 'x': not enough values to unpack (expected 2, got 1)"


def test_python_syntax_error(api, runtime):
    proc = runtime("python", {"app.py": "def handler(event, context)\n    return 1\n"}, "app.handler")
    body = _init_error(api, proc).json
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("Syntax error in module 'app': ")
    assert body["stackTrace"][0].startswith('  File "') and "app.py\" Line 1" in body["stackTrace"][0]


def test_python_syntax_error_names_file_and_line_even_for_null_bytes(api, runtime):
    # The compiler reports a null byte without a file or line.
    proc = runtime("python", {"app.py": "import helper\n", "helper.py": "x = 1\ny = 2\0\n"},
                   "app.handler")
    body = _init_error(api, proc).json
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"] == ("Syntax error in module 'app': source code string cannot "
                                    "contain null bytes (helper.py, line 2)")
    assert body["stackTrace"][0].endswith('helper.py" Line 2\n    y = 2\\0\n'), body
    assert "None" not in body["stackTrace"][0]


def test_python_import_error_keeps_its_traceback(api, runtime):
    proc = runtime("python", {
        "app.py": "import helper\n",
        "helper.py": "import json\nimport not_a_real_dependency\n",
    }, "app.handler")
    body = _init_error(api, proc).json
    assert body["errorType"] == "Runtime.ImportModuleError"
    trace = body["stackTrace"]
    assert len(trace) == 2, trace
    assert 'app.py", line 1, in <module>\n    import helper\n' in trace[0]
    assert 'helper.py", line 2, in <module>\n    import not_a_real_dependency\n' in trace[1]
    # One log record holding all of it.
    record = next(line for line in proc.stdout.split("\n") if line.startswith("[ERROR]"))
    assert record.count("\r") == 5, repr(record)
    assert record.endswith("\u00a0\u00a0\u00a0\u00a0import not_a_real_dependency"), repr(record)


def test_python_logged_exception_is_one_record(api, runtime):
    runtime("python", {
        "app.py": """
            import logging

            def handler(event, context):
                try:
                    1 / 0
                except ZeroDivisionError:
                    logging.getLogger().exception("caught")
                print("after")
                return 1
        """
    }, "app.handler")
    rep = roundtrip(api, {})
    assert rep.kind == "response"
    lines = rep.stdout.split("\n")
    record = next(line for line in lines if line.startswith("[ERROR]"))
    assert "\tcaught\rTraceback (most recent call last):\r" in record, repr(record)
    assert record.endswith("ZeroDivisionError: division by zero"), repr(record)
    assert lines[lines.index(record) + 1] == "after", "the record ends with its own newline"


def test_python_nested_module_path(api, runtime):
    runtime("python", {
        "dir/sub/app.py": """
            from . import helper
            def handler(event, context):
                return helper.VALUE
        """,
        "dir/sub/helper.py": "VALUE = 'nested'\n",
    }, "dir/sub/app.handler")
    assert roundtrip(api, {}).json == "nested"


def test_python_output_flushed_before_report(api, runtime):
    runtime("python", {
        "app.py": """
            import sys
            def handler(event, context):
                print("line-" + context.aws_request_id)
                print("partial-" + context.aws_request_id, end="")
                sys.stderr.write("err-" + context.aws_request_id)
                return "ok"
        """
    }, "app.handler")
    for _ in range(5):
        rid = api.invoke({})
        rep = api.wait(rid)
        assert rep.kind == "response"
        assert "line-%s\n" % rid in rep.stdout
        assert "partial-%s" % rid in rep.stdout
        assert "err-%s" % rid in rep.stderr


def test_python_logging(api, runtime):
    files = {
        "app.py": """
            import logging
            logger = logging.getLogger()
            def handler(event, context):
                logging.info("info message")
                logger.warning("warn %s", "message")
                return len(logging.getLogger().handlers)
        """
    }
    runtime("python", files, "app.handler")
    rid = api.invoke({})
    rep = api.wait(rid)
    assert rep.json == 1
    assert "info message" not in rep.stdout  # root logger stays at WARNING, as on AWS
    lines = [l for l in rep.stdout.splitlines() if "warn message" in l]
    assert len(lines) == 1
    level, stamp, request_id, message = lines[0].split("\t")
    assert (level, request_id, message) == ("[WARNING]", rid, "warn message")
    assert time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S") and stamp.endswith("Z")
    assert len(stamp) == len("2024-01-01T00:00:00.000Z")


def test_python_log_level_env(api, runtime):
    runtime("python", {
        "app.py": """
            def handler(event, context):
                import logging
                logging.getLogger("child").info("late import info")
                logging.debug("debug hidden")
                return "ok"
        """
    }, "app.handler", {"AWS_LAMBDA_LOG_LEVEL": "info"})
    rid = api.invoke({})
    rep = api.wait(rid)
    assert "[INFO]\t" in rep.stdout and "\t%s\tlate import info" % rid in rep.stdout
    assert "debug hidden" not in rep.stdout


def test_python_survives_hostile_handler(api, runtime, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    runtime("python", {
        "app.py": """
            import os, sys
            def handler(event, context):
                data = sys.stdin.read()
                os.chdir(%r)
                sys.path[:] = []
                sys.stdout = open(os.devnull, "w")
                return {"stdin": data, "cwd": os.getcwd()}
        """ % str(other)
    }, "app.handler")
    for _ in range(3):
        assert roundtrip(api, {}).json == {"stdin": "", "cwd": str(other)}


def test_python_many_invocations_one_connection(api, runtime):
    runtime("python", {
        "app.py": """
            def handler(event, context):
                return {"n": event["n"], "id": context.aws_request_id}
        """
    }, "app.handler")
    for n in range(200):
        rid = api.invoke({"n": n})
        assert api.wait(rid).json == {"n": n, "id": rid}
    wait_for(lambda: len(api.next_connections) == 201)
    assert len(set(api.next_connections)) == 1


def test_python_reconnects_when_connection_closed(api, runtime):
    api.close_after_next = 3
    runtime("python", PY_ECHO, "app.handler")
    for n in range(6):
        assert roundtrip(api, n).json == n
    assert len(set(api.next_connections)) == 4


def test_python_retries_when_idle_connection_dropped(api, runtime):
    api.drop_after_post = 3
    runtime("python", PY_ECHO, "app.handler")
    for n in range(6):
        assert roundtrip(api, n).json == n
    assert len(set(api.next_connections)) == 4


def test_python_chunked_responses_and_hostname(api, runtime):
    api.chunked = True
    api.address = api.address.replace("127.0.0.1", "localhost")
    runtime("python", PY_ECHO, "app.handler")
    for event in ({"a": "ü" * 1000}, 1, "x" * 200000):
        assert roundtrip(api, event).json == event


def test_python_large_payload(api, runtime):
    runtime("python", PY_ECHO, "app.handler")
    event = {"data": "x" * (5 * 1024 * 1024)}
    assert roundtrip(api, event).json == event


# ---------------------------------------------------------------------------
# Node.js


NODE_HANDLERS = {
    "app.js": """
        exports.asyncEcho = async (event) => event;
        exports.promise = (event) => Promise.resolve({ promised: event });
        exports.undef = async () => undefined;
        exports.callback = (event, context, callback) => {
          setTimeout(() => callback(null, { cb: event }), 5);
        };
        exports.callbackError = (event, context, callback) => callback(new TypeError('bad input'));
        exports.callbackString = (event, context, callback) => callback('plain failure');
        exports.throws = (event) => { throw new RangeError('sync boom'); };
        exports.rejects = async () => { throw new Error('async boom'); };
        exports.syncReturn = () => 42;
        exports.waits = (event, context, callback) => {
          setTimeout(() => console.log('timer fired'), 100);
          callback(null, 'after-timer');
        };
        exports.noWait = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = false;
          setTimeout(() => console.log('late timer'), 3000);
          callback(null, 'immediately');
        };
        exports.succeed = (event, context) => { context.succeed({ legacy: true }); };
        exports.fail = (event, context) => { context.fail(new Error('legacy fail')); };
        exports.circular = async () => { const o = {}; o.self = o; return o; };
        exports.nested = { deeper: { handler: async () => 'nested-prop' } };
        exports.notFn = 5;
        exports.neverSettles = async () => new Promise(() => {});
        exports.unhandled = async () => {
          Promise.reject(new Error('yikes'));
          await new Promise((r) => setTimeout(r, 200));
          return 'unreachable';
        };
    """
}


def node(runtime, handler, files=NODE_HANDLERS, env=None):
    return runtime("node", files, handler, env)


@needs_node
def test_node_async_and_promise(api, runtime):
    node(runtime, "app.asyncEcho")
    rep = roundtrip(api, {"x": [1, "ü"]})
    assert (rep.kind, rep.json) == ("response", {"x": [1, "ü"]})


@needs_node
@pytest.mark.parametrize("handler,expected", [
    ("app.promise", {"promised": 7}),
    ("app.callback", {"cb": 7}),
    ("app.succeed", {"legacy": True}),
    ("app.nested.deeper.handler", "nested-prop"),
])
def test_node_handler_styles(api, runtime, handler, expected):
    node(runtime, handler)
    rep = roundtrip(api, 7)
    assert (rep.kind, rep.json) == ("response", expected)


@needs_node
def test_node_undefined_is_null(api, runtime):
    node(runtime, "app.undef")
    assert roundtrip(api, {}).raw == b"null"


@needs_node
def test_node_sync_return_without_callback_is_null(api, runtime):
    # AWS ignores a plain (non-promise) return value of a non-async handler.
    node(runtime, "app.syncReturn")
    assert roundtrip(api, {}).raw == b"null"


@needs_node
@pytest.mark.parametrize("handler,etype,message", [
    ("app.throws", "RangeError", "sync boom"),
    ("app.rejects", "Error", "async boom"),
    ("app.callbackError", "TypeError", "bad input"),
    ("app.fail", "Error", "legacy fail"),
])
def test_node_errors(api, runtime, handler, etype, message):
    node(runtime, handler)
    rep = roundtrip(api, {})
    assert rep.kind == "error"
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == etype
    body = rep.json
    assert list(body) == ["errorType", "errorMessage", "trace"]
    assert (body["errorType"], body["errorMessage"]) == (etype, message)
    assert body["trace"][0] == "%s: %s" % (etype, message)
    assert any("app.js" in line for line in body["trace"][1:])
    assert "\tERROR\tInvoke Error \t{" in rep.stdout
    # The instance keeps serving.
    assert roundtrip(api, {}).kind == "error"


@needs_node
def test_node_callback_with_string_error(api, runtime):
    node(runtime, "app.callbackString")
    body = roundtrip(api, {}).json
    assert body == {"errorType": "string", "errorMessage": "plain failure", "trace": []}


@needs_node
def test_node_unserialisable_result(api, runtime):
    node(runtime, "app.circular")
    rep = roundtrip(api, {})
    assert rep.kind == "error"
    assert rep.json["errorMessage"] == "Unable to stringify response body"


@needs_node
def test_node_waits_for_empty_event_loop(api, runtime):
    node(runtime, "app.waits")
    rep = roundtrip(api, {})
    assert rep.json == "after-timer"
    assert "\tINFO\ttimer fired\n" in rep.stdout


@needs_node
def test_node_callback_without_waiting(api, runtime):
    node(runtime, "app.noWait")
    started = time.time()
    rep = roundtrip(api, {})
    assert rep.json == "immediately"
    assert rep.received_at - started < 2.5
    assert "late timer" not in rep.stdout


@needs_node
def test_node_promise_never_settled(api, runtime):
    node(runtime, "app.neverSettles")
    rep = roundtrip(api, {})
    assert rep.kind == "error"
    assert rep.json["errorType"] == "Runtime.NodeJsExit"
    assert roundtrip(api, {}).kind == "error"  # and the instance keeps serving


@needs_node
def test_node_unhandled_rejection_exits(api, runtime):
    proc = node(runtime, "app.unhandled")
    rep = roundtrip(api, {})
    assert rep.kind == "error"
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UnhandledPromiseRejection"
    assert rep.json["errorMessage"] == "Error: yikes"
    assert rep.json["trace"][0] == "Runtime.UnhandledPromiseRejection: Error: yikes"
    assert proc.wait_exit() == 128
    assert "\tERROR\tUnhandled Promise Rejection \t{" in proc.stdout


@needs_node
def test_node_uncaught_exception_exits(api, runtime):
    proc = node(runtime, "app.handler", {
        "app.js": """
            exports.handler = (event, context, callback) => {
              setTimeout(() => { throw new Error('from a timer'); }, 10);
            };
        """
    })
    rep = roundtrip(api, {})
    assert (rep.kind, rep.json["errorMessage"]) == ("error", "from a timer")
    assert proc.wait_exit() == 129


@needs_node
def test_node_context(api, runtime):
    node(runtime, "app.handler", {
        "app.js": """
            exports.handler = async (event, context) => {
              const first = context.getRemainingTimeInMillis();
              await new Promise((r) => setTimeout(r, 50));
              const second = context.getRemainingTimeInMillis();
              return {
                awsRequestId: context.awsRequestId,
                functionName: context.functionName,
                functionVersion: context.functionVersion,
                invokedFunctionArn: context.invokedFunctionArn,
                memoryLimitInMB: context.memoryLimitInMB,
                logGroupName: context.logGroupName,
                logStreamName: context.logStreamName,
                identity: context.identity,
                clientContext: context.clientContext,
                waits: context.callbackWaitsForEmptyEventLoop,
                legacy: [typeof context.succeed, typeof context.fail, typeof context.done],
                trace: process.env._X_AMZN_TRACE_ID || null,
                remaining: [first, second],
              };
            };
        """
    })
    before = int(time.time() * 1000)
    rid = api.invoke({}, timeout_ms=5000, trace_id="Root=1-xyz",
                     client_context='{"custom":{"a":1}}',
                     cognito_identity='{"cognitoIdentityId":"c1"}')
    body = api.wait(rid).json
    assert body["awsRequestId"] == rid
    assert body["functionName"] == "test-fn"
    assert body["functionVersion"] == "$LATEST"
    assert body["invokedFunctionArn"].endswith(":function:test-fn")
    assert body["memoryLimitInMB"] == "128"
    assert body["logGroupName"] == "/aws/lambda/test-fn"
    assert body["logStreamName"].endswith("0123456789abcdef")
    assert body["identity"] == {"cognitoIdentityId": "c1"}
    assert body["clientContext"] == {"custom": {"a": 1}}
    assert body["waits"] is True
    assert body["legacy"] == ["function"] * 3
    assert body["trace"] == "Root=1-xyz"
    first, second = body["remaining"]
    assert 0 < first <= 5000 and first <= before + 5000 - before
    assert first - second >= 45
    body = roundtrip(api, {}).json
    assert body["trace"] is None and "identity" not in body and "clientContext" not in body


@needs_node
def test_node_console_format(api, runtime):
    node(runtime, "app.handler", {
        "app.js": """
            console.log('during init');
            exports.handler = async (event, context) => {
              console.log('hello %s', 'world', { n: 1 });
              console.info('multi\\nline');
              console.warn('warned');
              console.error('errored');
              console.debug('debugged');
              process.stdout.write('raw-' + context.awsRequestId);
              return 'ok';
            };
        """
    })
    rid = api.invoke({})
    rep = api.wait(rid)
    out = rep.stdout
    assert "\tundefined\tINFO\tduring init\n" in out
    assert "\t%s\tINFO\thello world { n: 1 }\n" % rid in out
    assert "\t%s\tINFO\tmulti\rline\n" % rid in out, "one record, as AWS's runtime writes it"
    assert "\t%s\tWARN\twarned\n" % rid in out
    assert "\t%s\tERROR\terrored\n" % rid in out
    assert "\t%s\tDEBUG\tdebugged\n" % rid in out
    assert "raw-%s" % rid in out
    line = [l for l in out.splitlines() if l.endswith("\twarned")][0]
    stamp = line.split("\t")[0]
    assert stamp.endswith("Z") and time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")


@needs_node
def test_node_log_level_env(api, runtime):
    node(runtime, "app.handler", {
        "app.js": """
            exports.handler = async () => { console.info('hidden'); console.warn('shown'); return 1; };
        """
    }, env={"AWS_LAMBDA_LOG_LEVEL": "WARN"})
    rep = roundtrip(api, {})
    assert "shown" in rep.stdout and "hidden" not in rep.stdout


@needs_node
def test_node_esm_mjs(api, runtime):
    node(runtime, "app.handler", {
        "app.mjs": """
            import { helper } from './lib.mjs';
            export const handler = async (event) => ({ esm: helper(event) });
        """,
        "lib.mjs": "export const helper = (x) => x * 2;\n",
    })
    assert roundtrip(api, 21).json == {"esm": 42}


@needs_node
def test_node_esm_type_module(api, runtime):
    node(runtime, "src/app.handler", {
        "package.json": '{"type": "module"}',
        "src/app.js": "export async function handler(event) { return 'esm-js'; }\n",
    })
    assert roundtrip(api, {}).json == "esm-js"


@needs_node
def test_node_cjs_and_directory_index(api, runtime):
    node(runtime, "lib.handler", {
        "lib/index.js": "exports.handler = async () => 'index';\n",
    })
    assert roundtrip(api, {}).json == "index"


@needs_node
def test_node_nested_path_cjs(api, runtime):
    node(runtime, "dir/sub/app.handler", {
        "dir/sub/app.cjs": "module.exports.handler = async () => 'cjs-nested';\n",
    })
    assert roundtrip(api, {}).json == "cjs-nested"


def _node_init_error(api, proc):
    rep = api.init_error()
    assert proc.wait_exit() == 129
    assert rep.headers["Lambda-Runtime-Function-Error-Type"] == rep.json["errorType"]
    assert not any(m == "GET" for m, _ in api.requests)
    return rep.json


@needs_node
def test_node_import_module_error(api, runtime):
    proc = node(runtime, "app.handler", {})
    body = _node_init_error(api, proc)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Error: Cannot find module 'app'")
    assert "\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\"" in proc.stdout


@needs_node
def test_node_handler_not_found(api, runtime):
    body = _node_init_error(api, node(runtime, "app.nope"))
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "app.nope is undefined or not exported"


@needs_node
def test_node_handler_not_a_function(api, runtime):
    body = _node_init_error(api, node(runtime, "app.notFn"))
    assert (body["errorType"], body["errorMessage"]) == \
        ("Runtime.HandlerNotFound", "app.notFn is not a function")


@needs_node
def test_node_malformed_handler(api, runtime):
    body = _node_init_error(api, node(runtime, "x"))
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")


@needs_node
@pytest.mark.parametrize("name", ["app.js", "app.mjs"])
def test_node_syntax_error(api, runtime, name):
    body = _node_init_error(api, node(runtime, "app.handler", {name: "exports.handler = (;\n"}))
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("SyntaxError: ")
    if name == "app.js":  # Node names the file and line for CommonJS only
        assert name + ":1" in body["trace"][0]


@needs_node
def test_node_exception_while_loading(api, runtime):
    body = _node_init_error(api, node(runtime, "app.handler", {
        "app.js": "throw new TypeError('bad config');\n",
    }))
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "bad config")


@needs_node
def test_node_output_flushed_before_report(api, runtime):
    node(runtime, "app.handler", {
        "app.js": """
            exports.handler = async (event, context) => {
              console.log('line-' + context.awsRequestId);
              process.stderr.write('err-' + context.awsRequestId);
              if (event.big) process.stdout.write('x'.repeat(1 << 20) + 'end-' + context.awsRequestId);
              return 'ok';
            };
        """
    })
    for n in range(5):
        rid = api.invoke({"big": n % 2 == 1})
        rep = api.wait(rid)
        assert "line-%s\n" % rid in rep.stdout
        assert "err-%s" % rid in rep.stderr
        if n % 2:
            assert "end-%s" % rid in rep.stdout


@needs_node
def test_node_many_invocations_one_connection(api, runtime):
    node(runtime, "app.handler", {
        "app.js": "exports.handler = async (e, c) => ({ n: e.n, id: c.awsRequestId });\n",
    })
    for n in range(200):
        rid = api.invoke({"n": n})
        assert api.wait(rid).json == {"n": n, "id": rid}
    wait_for(lambda: len(api.next_connections) == 201)
    assert len(set(api.next_connections)) == 1


@needs_node
def test_node_reconnects_when_connection_closed(api, runtime):
    api.close_after_next = 3
    node(runtime, "app.asyncEcho")
    for n in range(6):
        assert roundtrip(api, n).json == n


@needs_node
def test_node_retries_when_idle_connection_dropped(api, runtime):
    api.drop_after_post = 3
    node(runtime, "app.asyncEcho")
    for n in range(6):
        assert roundtrip(api, n).json == n
    assert len(set(api.next_connections)) == 4


@needs_node
def test_node_survives_hostile_handler(api, runtime, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    node(runtime, "app.handler", {
        "app.js": """
            const fs = require('fs');
            exports.handler = async () => {
              const stdin = fs.readFileSync(0, 'utf8');
              process.chdir(%s);
              return { stdin, cwd: process.cwd() };
            };
        """ % json.dumps(str(other))
    })
    for _ in range(3):
        assert roundtrip(api, {}).json == {"stdin": "", "cwd": str(other)}


@needs_node
def test_node_chunked_responses_and_hostname(api, runtime):
    api.chunked = True
    api.address = api.address.replace("127.0.0.1", "localhost")
    node(runtime, "app.asyncEcho")
    for event in ({"a": "ü" * 1000}, 1, "x" * 200000):
        assert roundtrip(api, event).json == event


@needs_node
def test_node_large_payload(api, runtime):
    node(runtime, "app.asyncEcho")
    event = {"data": "x" * (5 * 1024 * 1024)}
    assert roundtrip(api, event).json == event


# ---------------------------------------------------------------------------
# The Python bootstrap's JSON codec (the `_json` fast path and its fallback)


def _load_python_bootstrap(block_json_accelerator):
    import importlib.util

    saved = sys.modules.get("_json")
    if block_json_accelerator:
        sys.modules["_json"] = None
    try:
        spec = importlib.util.spec_from_file_location("gust_python_bootstrap", PYTHON_RUNTIME)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if block_json_accelerator:
            if saved is None:
                del sys.modules["_json"]
            else:
                sys.modules["_json"] = saved


@pytest.mark.parametrize("blocked", [False, True], ids=["_json", "json"])
def test_python_codec_matches_json(blocked):
    import decimal

    module = _load_python_bootstrap(blocked)
    loads, dumps = module._json_loads, module._encode
    assert (loads is json.loads) == blocked
    values = [None, True, 0, -1, 2**70, 1.5, 1e300, float("inf"), "", "ü\u2028\"\\\n",
              [], {}, {"a": [1, {"b": None}], "c": "d"}, [[[]]], "x" * 100000]
    for value in values:
        assert dumps(value) == json.dumps(value)
        text = json.dumps(value)
        for data in (text, text.encode(), "  \n" + text + " \t"):
            assert loads(data) == value
    assert json.dumps(json.loads(dumps(float("nan")))) == "NaN"
    assert dumps({"d": decimal.Decimal("1.25"), "i": decimal.Decimal("12")}) == '{"d": 1.25, "i": 12}'
    for bad in ("", "   ", "[1,", "[1] x", "{'a': 1}", "nul"):
        with pytest.raises(json.JSONDecodeError) as ours:
            loads(bad)
        with pytest.raises(json.JSONDecodeError) as theirs:
            json.loads(bad)
        assert str(ours.value) == str(theirs.value)
    circular = []
    circular.append(circular)
    for value, message in ((circular, "Circular reference detected"),
                           ({1, 2}, "Object of type set is not JSON serializable")):
        with pytest.raises((TypeError, ValueError)) as err:
            dumps(value)
        assert str(err.value) == message


# ---------------------------------------------------------------------------
# The trace id changes with every invocation; setting it must not leak


def test_python_trace_ids_stay_out_of_the_c_environment(api, runtime):
    """putenv of a new value per invocation leaks (the C library keeps every value
    ever set): the trace id is in os.environ, where the X-Ray SDK reads it, and not
    in the process's C environment."""
    runtime("python", {
        "app.py": """
            import ctypes, os
            getenv = ctypes.CDLL(None).getenv
            getenv.restype = ctypes.c_char_p
            def handler(event, context):
                in_c = getenv(b"_X_AMZN_TRACE_ID")
                return [os.environ.get("_X_AMZN_TRACE_ID"), in_c and in_c.decode()]
        """
    }, "app.handler")
    for i in range(3):
        trace = f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={i:016x};Sampled=1"
        assert roundtrip(api, {}, trace_id=trace).json == [trace, None]
    assert roundtrip(api, {}).json == [None, None]


@needs_node
def test_node_trace_ids_live_beside_the_environment_and_reach_child_processes(api, runtime):
    proc = runtime("node", {
        "index.js": """
            const { execFileSync } = require('child_process');
            exports.handler = async (event) => event.child
              ? { env: process.env._X_AMZN_TRACE_ID || null,
                  child: execFileSync('/bin/sh', ['-c', 'echo "$_X_AMZN_TRACE_ID"']).toString().trim(),
                  listed: Object.keys(process.env).includes('_X_AMZN_TRACE_ID') }
              : 'ok';
        """
    }, "index.handler")
    body = roundtrip(api, {"child": True}, trace_id="Root=1-abc;Sampled=1").json
    assert body == {"env": "Root=1-abc;Sampled=1", "child": "Root=1-abc;Sampled=1", "listed": True}
    body = roundtrip(api, {"child": True}).json
    assert body == {"env": None, "child": "", "listed": False}
