"""A small Lambda Runtime API server and a runtime process harness for tests.

`MockRuntimeAPI` serves `/2018-06-01/runtime/...` over HTTP/1.1 with keep-alive
on 127.0.0.1 (one thread per connection). Tests queue invocations with
`invoke()`, and wait for what the runtime reported with `result()` or
`init_error()`.

`RuntimeProcess` starts a bootstrap with the environment gust gives it and
drains its stdout/stderr. When a runtime reports (response, error, init error),
the server snapshots the output the process had written by then, so tests can
check that output was flushed before the report.
"""

import json
import os
import queue
import select
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Report:
    """What the runtime posted for one invocation (or for init)."""

    def __init__(self, kind, request_id, body, headers, stdout, stderr, connection):
        self.kind = kind  # "response" | "error" | "init_error"
        self.request_id = request_id
        self.raw = body
        self.headers = headers
        self.stdout = stdout  # runtime's stdout up to the moment of the report
        self.stderr = stderr
        self.connection = connection
        self.received_at = time.time()

    @property
    def json(self):
        return json.loads(self.raw)

    def __repr__(self):
        return "Report(%s, %s, %r)" % (self.kind, self.request_id, self.raw[:300])


class MockRuntimeAPI:
    def __init__(self):
        self._pending = queue.Queue()
        self._reports = {}
        self._cond = threading.Condition()
        self._stopping = False
        self.output_snapshot = lambda: ("", "")
        self.close_after_next = 0  # answer this many `next` requests with Connection: close
        self.drop_after_post = 0  # silently close the connection after this many reports
        self.chunked = False  # send response bodies with chunked transfer encoding
        self.next_connections = []  # client port of each `next` request
        self.requests = []  # (method, path)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _send(self, status, body, headers=(), close=False):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                if api.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if api.chunked:
                    half = len(body) // 2
                    for part in (body[:half], body[half:]):
                        if part:
                            self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
                else:
                    self.wfile.write(body)

            def do_GET(self):
                api.requests.append(("GET", self.path))
                if self.path != PREFIX + "/invocation/next":
                    return self._send(404, b'{"errorType":"NotFound"}')
                api.next_connections.append(self.client_address[1])
                while True:
                    try:
                        inv = api._pending.get(timeout=0.2)
                        break
                    except queue.Empty:
                        if api._stopping:
                            self.close_connection = True
                            return
                close = False
                if api.close_after_next > 0:
                    api.close_after_next -= 1
                    close = True
                headers = [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", inv["id"]),
                    ("Lambda-Runtime-Deadline-Ms", str(inv["deadline_ms"])),
                    ("Lambda-Runtime-Invoked-Function-Arn", inv["arn"]),
                ]
                for name, key in (
                    ("Lambda-Runtime-Trace-Id", "trace_id"),
                    ("Lambda-Runtime-Client-Context", "client_context"),
                    ("Lambda-Runtime-Cognito-Identity", "cognito_identity"),
                ):
                    if inv.get(key) is not None:
                        headers.append((name, inv[key]))
                self._send(200, inv["body"], headers, close)

            def do_POST(self):
                api.requests.append(("POST", self.path))
                body = self._body()
                stdout, stderr = api.output_snapshot()
                path = self.path[len(PREFIX):]
                parts = path.strip("/").split("/")
                if parts == ["init", "error"]:
                    kind, request_id = "init_error", None
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    kind, request_id = parts[2], parts[1]
                else:
                    return self._send(404, b'{"errorType":"NotFound"}')
                report = Report(
                    kind, request_id, body, dict(self.headers.items()), stdout, stderr,
                    self.client_address[1],
                )
                with api._cond:
                    api._reports.setdefault(request_id, []).append(report)
                    api._cond.notify_all()
                self._send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
                if api.drop_after_post > 0:
                    api.drop_after_post -= 1
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def invoke(self, event, request_id=None, timeout_ms=30000, trace_id=None,
               client_context=None, cognito_identity=None, raw_body=None):
        """Queue one invocation; returns its request id."""
        request_id = request_id or str(uuid.uuid4())
        self._pending.put({
            "id": request_id,
            "body": raw_body if raw_body is not None else json.dumps(event).encode(),
            "deadline_ms": int(time.time() * 1000) + timeout_ms,
            "arn": "arn:aws:lambda:us-east-1:123456789012:function:test-fn",
            "trace_id": trace_id,
            "client_context": client_context,
            "cognito_identity": cognito_identity,
        })
        return request_id

    def wait(self, request_id, timeout=10.0):
        """The first report for `request_id` (None: init error)."""
        deadline = time.time() + timeout
        with self._cond:
            while not self._reports.get(request_id):
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no report for %s" % request_id)
                self._cond.wait(left)
            return self._reports[request_id][0]

    def reports(self, request_id):
        with self._cond:
            return list(self._reports.get(request_id, []))

    def init_error(self, timeout=10.0):
        return self.wait(None, timeout)

    def close(self):
        self._stopping = True
        self.server.shutdown()
        self.server.server_close()


class _Drain:
    """Collects a pipe's data; `read()` also takes what is in the pipe now."""

    def __init__(self, pipe):
        self._fd = pipe.fileno()
        os.set_blocking(self._fd, False)
        self._lock = threading.Lock()
        self._data = bytearray()
        self._eof = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _pull(self):
        while not self._eof:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
                return
            self._data += chunk

    def _run(self):
        while not self._eof:
            select.select([self._fd], [], [], 0.05)
            with self._lock:
                self._pull()

    def read(self):
        with self._lock:
            self._pull()
            return self._data.decode("utf-8", "replace")

    def join(self, timeout=5.0):
        self._thread.join(timeout)


class RuntimeProcess:
    """A bootstrap started the way gust starts it, against a MockRuntimeAPI."""

    def __init__(self, argv, task_root, handler, api, extra_env=None, runtime_dir=None):
        self.api = api
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir or ""),
            "AWS_LAMBDA_FUNCTION_NAME": "test-fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test-fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
            "AWS_EXECUTION_ENV": "AWS_Lambda_test",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "TZ": ":UTC",
            "LANG": "C.UTF-8",
        }
        for name in ("HOME", "PYENV_ROOT", "PYENV_VERSION"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            argv, cwd=str(task_root), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._out = _Drain(self.proc.stdout)
        self._err = _Drain(self.proc.stderr)
        api.output_snapshot = lambda: (self._out.read(), self._err.read())

    @property
    def stdout(self):
        return self._out.read()

    @property
    def stderr(self):
        return self._err.read()

    def wait_exit(self, timeout=10.0):
        code = self.proc.wait(timeout)
        self._out.join()
        self._err.join()
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
