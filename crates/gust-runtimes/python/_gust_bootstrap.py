"""gust bootstrap for the Python managed runtime.

Started by the gust worker as ``python3 -S <runtime dir>/python/bootstrap.py``
(a stub that imports this module, so that Python loads it from the compiled
cache gust writes at start instead of compiling it at every cold start) with
the task root as working directory. It loads the handler named by ``_HANDLER``
from ``LAMBDA_TASK_ROOT`` and then serves invocations from the Lambda Runtime
API at ``http://$AWS_LAMBDA_RUNTIME_API`` until the platform stops it.

What user code sees follows AWS's Python runtime (awslambdaric): the context
object, the error documents and their ``Runtime.*`` types, the ``[ERROR]`` log
lines, the root logger's handler and format, and ``_X_AMZN_TRACE_ID``.

Performance notes: one keep-alive connection driven by a minimal HTTP/1.1
client on the C-level ``_socket`` module (``http.client`` costs ~30 ms to
import and parses headers with the ``email`` package; ``socket`` itself ~9 ms
for its enums); ``logging`` and ``traceback`` are only imported when user code
imports logging or an error has to be formatted.
"""

import _socket
import os
import sys
import time

_environ = os.environ

# ---------------------------------------------------------------------------
# Output: stdout is a pipe, so Python block-buffers it. Line buffering keeps
# each complete line in the log even if the instance is killed mid-invocation
# (AWS writes through on every write); _flush_output() covers partial lines
# before every report to the Runtime API.

_stdout = sys.stdout
_stderr = sys.stderr
for _stream in (_stdout, _stderr):
    try:
        _stream.reconfigure(line_buffering=True)
    except Exception:
        pass


def _flush_output():
    out, err = sys.stdout, sys.stderr
    if out is not _stdout:
        try:
            out.flush()
        except Exception:
            pass
    if err is not _stderr:
        try:
            err.flush()
        except Exception:
            pass
    try:
        _stdout.flush()
    except Exception:
        pass
    try:
        _stderr.flush()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# Errors reported by the runtime itself (names as AWS's runtime uses them).

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"


class FaultException(Exception):
    def __init__(self, exception_type, msg, trace=None):
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


def _default(obj):
    """AWS's marshaller writes ``Decimal`` (DynamoDB numbers) as numbers."""
    if type(obj).__name__ == "Decimal":
        if obj.is_nan() or obj.is_infinite():
            return float(obj)
        if obj == obj.to_integral_value() and abs(obj.adjusted()) < 20:
            return int(obj)
        return float(obj)
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _make_codec():
    """(loads, dumps) with the standard library's semantics and messages.

    They drive the C accelerator `_json` directly when it has the expected
    interface: importing `json` pulls in `re` and `enum`, 5-30 ms of a cold
    start that user code may not need. Otherwise they are `json`'s own."""
    try:
        import _json

        inf = float("inf")

        class DecoderContext:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            parse_constant = {"-Infinity": -inf, "Infinity": inf, "NaN": float("nan")}.__getitem__
            memo = None

        scan_once = _json.make_scanner(DecoderContext())
        make_encoder = _json.make_encoder
        encode_string = _json.encode_basestring_ascii
        whitespace = " \t\n\r"

        def loads(data):
            s = data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
            idx = len(s) - len(s.lstrip(whitespace))
            try:
                obj, end = scan_once(s, idx)
            except StopIteration as err:
                from json import JSONDecodeError

                raise JSONDecodeError("Expecting value", s, err.value) from None
            if end != len(s):
                rest = s[end:]
                if rest.strip(whitespace):
                    from json import JSONDecodeError

                    raise JSONDecodeError("Extra data", s, end + len(rest) - len(rest.lstrip(whitespace)))
            return obj

        def dumps(obj):
            encoder = make_encoder({}, _default, encode_string, None, ": ", ", ", False, False, True)
            return "".join(encoder(obj, 0))

        if loads(b' [1.5, "\\u00fc", {"a": null}] ') != [1.5, "\u00fc", {"a": None}] or dumps(
            {"a": [1.5, "\u00fc", None, True]}
        ) != '{"a": [1.5, "\\u00fc", null, true]}':
            raise ValueError("unexpected _json behaviour")
        return loads, dumps
    except Exception:
        import json

        encoder = json.JSONEncoder(default=_default)
        return json.loads, encoder.encode


_json_loads, _encode = _make_codec()


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return "<unprintable %s object>" % type(value).__name__


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _build_fault_result(exc_info, invoke_id=None):
    """Error document for an exception escaping user code, with its stack
    trace formatted as AWS's runtime does (leading bootstrap frames dropped)."""
    import traceback

    etype, value, tb = exc_info
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(frames)):
        if frames[i][0] != __file__:
            frames = frames[i:]
            break
    message = _safe_str(value)
    if isinstance(value, PermissionError) and _in_task_root(value.filename):
        message += _unreadable_hint()
    return make_error(message, etype.__name__, traceback.format_list(frames), invoke_id)


def _user_frames(tb):
    """The traceback's frames in the function's own code and libraries: without
    this bootstrap's and the import machinery's."""
    import traceback

    frames = [
        (f.filename, f.lineno, f.name, f.line)
        for f in traceback.extract_tb(tb)
        if f.filename != __file__
        and not f.filename.startswith("<frozen importlib")
        and not f.filename.endswith(os.sep + os.path.join("importlib", "__init__.py"))
    ]
    return traceback.format_list(frames)


# Entries of the task root looked at, at most, to explain a permission error.
_UNREADABLE_SCAN_LIMIT = 10000
# Unreadable entries named, at most.
_UNREADABLE_NAMED = 10


def _unreadable_files(root):
    """(relative path, mode) of the files and directories under `root` that this
    process cannot read (directories: cannot list or enter), first ones first."""
    found = []
    seen = 0
    access = os.access
    if not access(root, os.R_OK | os.X_OK):
        return [(".", os.stat(root).st_mode & 0o7777)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + dirnames:
            seen += 1
            if seen > _UNREADABLE_SCAN_LIMIT:
                return found
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            is_dir = (st.st_mode & 0o170000) == 0o040000
            if (st.st_mode & 0o170000) == 0o120000:  # a symlink: its target decides
                continue
            if not access(path, os.R_OK | os.X_OK if is_dir else os.R_OK):
                rel = os.path.relpath(path, root) + ("/" if is_dir else "")
                found.append((rel, st.st_mode & 0o7777))
        # os.walk skips the directories it cannot list.
        dirnames[:] = [d for d in dirnames if access(os.path.join(dirpath, d), os.R_OK | os.X_OK)]
    return found


def _in_task_root(filename):
    """Whether a path an error names lies in the task root (or none is named)."""
    if not isinstance(filename, str):
        return True
    root = os.path.abspath(_environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
    return os.path.abspath(filename).startswith(root + os.sep)


def _unreadable_hint():
    """What to append to a permission error: the unreadable entries of the
    deployment package and the fix, or nothing when every entry is readable."""
    root = _environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    try:
        found = _unreadable_files(root)
    except OSError:
        return ""
    if not found:
        return ""
    named = ", ".join("%s (mode %04o)" % entry for entry in found[:_UNREADABLE_NAMED])
    if len(found) > _UNREADABLE_NAMED:
        named += " and %d more" % (len(found) - _UNREADABLE_NAMED)
    return (
        ". Files in the deployment package are not readable by the function's user "
        "(uid %d): %s; make them world-readable (chmod 644, and 755 for directories) "
        "before zipping" % (os.getuid(), named)
    )


def _log_error(error_result):
    """Write ``[ERROR] Type: message`` plus the traceback as one log record: its
    lines are joined by carriage returns, as AWS's runtime writes an error to
    stdout, so that the log keeps it as one event."""
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    message = error_result.get("errorMessage")
    if message:
        if error_type:
            description += ":"
        description += " " + message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    text = "\r".join(line.replace("\n", "\r") for line in lines) + "\n"
    try:
        sys.stdout.write(text)
    except Exception:
        _stdout.write(text)


# ---------------------------------------------------------------------------
# Runtime API client: one persistent HTTP/1.1 connection.


class _ConnectionDropped(Exception):
    pass


class RuntimeAPIClient:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self._addr = (host, int(port))
        self._host = address.encode("ascii")
        self._sock = None
        self._reused = False
        self._buf = b""

    def _connect(self):
        host, port = self._addr
        error = OSError("cannot resolve the Runtime API address %s" % host)
        for family, kind, proto, _, sockaddr in _socket.getaddrinfo(
            host.encode("ascii"), port, 0, _socket.SOCK_STREAM
        ):
            sock = _socket.socket(family, kind, proto)
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.connect(sockaddr)
            except OSError as e:
                sock.close()
                error = e
                continue
            self._sock = sock
            self._buf = b""
            self._reused = False
            return
        raise error

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = b""

    def request(self, method, path, body=None, headers=b""):
        """Send one request; returns (status, headers dict, body bytes).

        A request that finds its kept-alive connection closed by the server is
        retried once on a fresh connection."""
        if body is None:
            data = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, path, self._host, headers)
        else:
            data = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
                method, path, self._host, len(body), headers, body,
            )
        while True:
            if self._sock is None:
                self._connect()
            reused = self._reused
            try:
                self._sock.sendall(data)
                result = self._read_response()
                self._reused = True
                return result
            except (OSError, _ConnectionDropped):
                self._close()
                if not reused:
                    raise

    def _recv(self):
        chunk = self._sock.recv(65536)
        if not chunk:
            raise _ConnectionDropped()
        return chunk

    def _recv_at_least(self, buf, length):
        """`buf` extended with data from the socket to at least `length` bytes."""
        if length - len(buf) <= 65536:
            while len(buf) < length:
                buf += self._recv()
            return buf
        out = bytearray(length)
        have = len(buf)
        out[:have] = buf
        view = memoryview(out)
        while have < length:
            n = self._sock.recv_into(view[have:])
            if not n:
                raise _ConnectionDropped()
            have += n
        return bytes(out)

    def _read_response(self):
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                buf += self._recv()
                end = buf.find(b"\r\n\r\n")
            lines = buf[:end].decode("latin-1").split("\r\n")
            buf = buf[end + 4:]
            status = int(lines[0].split(" ", 2)[1])
            if 100 <= status < 200:
                continue
            break
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()

        length = headers.get("content-length")
        if length is not None:
            length = int(length)
            if len(buf) < length:
                buf = self._recv_at_least(buf, length)
            body, buf = buf[:length], buf[length:]
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, buf = self._read_chunked(buf)
        elif status in (204, 304):
            body = b""
        else:
            parts = [buf]
            try:
                while True:
                    parts.append(self._recv())
            except _ConnectionDropped:
                pass
            body, buf = b"".join(parts), b""
            headers["connection"] = "close"
        self._buf = buf
        if headers.get("connection", "").lower() == "close":
            self._close()
        for name in ("lambda-runtime-client-context", "lambda-runtime-cognito-identity"):
            value = headers.get(name)
            if value is not None and not value.isascii():
                headers[name] = value.encode("latin-1").decode("utf-8", "replace")
        return status, headers, body

    def _read_chunked(self, buf):
        parts = []
        while True:
            end = buf.find(b"\r\n")
            while end < 0:
                buf += self._recv()
                end = buf.find(b"\r\n")
            size = int(buf[:end].split(b";", 1)[0], 16)
            buf = buf[end + 2:]
            if size == 0:
                # Trailers (if any) end with an empty line.
                while True:
                    end = buf.find(b"\r\n")
                    while end < 0:
                        buf += self._recv()
                        end = buf.find(b"\r\n")
                    line, buf = buf[:end], buf[end + 2:]
                    if not line:
                        return b"".join(parts), buf
            while len(buf) < size + 2:
                buf += self._recv()
            parts.append(buf[:size])
            buf = buf[size + 2:]

    def next_invocation(self):
        status, headers, body = self.request(b"GET", b"/2018-06-01/runtime/invocation/next")
        if status != 200:
            raise RuntimeError(
                "Runtime API invocation/next answered %d: %s"
                % (status, body.decode("utf-8", "replace"))
            )
        return headers, body

    def _post(self, path, body, headers):
        _flush_output()
        status, _, response = self.request(b"POST", path, body, headers)
        if status >= 300:
            sys.stderr.write(
                "gust runtime: POST %s answered %d: %s\n"
                % (path.decode(), status, response.decode("utf-8", "replace"))
            )
        return status

    def post_invocation_result(self, invoke_id, body, content_type=b"application/json"):
        path = b"/2018-06-01/runtime/invocation/%s/response" % _quote(invoke_id)
        return self._post(path, body, b"Content-Type: %s\r\n" % content_type)

    def post_invocation_error(self, invoke_id, error_result):
        path = b"/2018-06-01/runtime/invocation/%s/error" % _quote(invoke_id)
        return self._post(path, _encode(error_result).encode("utf-8"), _error_headers(error_result))

    def post_init_error(self, error_result):
        path = b"/2018-06-01/runtime/init/error"
        return self._post(path, _encode(error_result).encode("utf-8"), _error_headers(error_result))


_PATH_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def _quote(value):
    """Percent-encode a request id for use as a path segment."""
    raw = value.encode("utf-8")
    if not raw.translate(None, _PATH_SAFE):
        return raw
    return b"".join(b"%c" % c if c in _PATH_SAFE else b"%%%02X" % c for c in raw)


def _error_headers(error_result):
    error_type = error_result.get("errorType") or "Unhandled"
    value = "".join(c if " " <= c <= "~" else "?" for c in error_type)
    return b"Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: %s\r\n" % (
        value.encode("ascii")
    )


# ---------------------------------------------------------------------------
# Prewarmed start: gust may start this interpreter before it knows the function
# (everything above is then done ahead of demand) and name, in _GUST_PREWARM_FD,
# a pipe on which the function's environment and working directory arrive as JSON
# once it has one. End of file without data means the sandbox was discarded.


def _await_function():
    fd = _environ.pop("_GUST_PREWARM_FD", None)
    if fd is None:
        return
    fd = int(fd)
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        os._exit(0)
    config = _json_loads(b"".join(chunks))
    _environ.clear()
    _environ.update(config["env"])
    os.chdir(config["cwd"])
    time.tzset()


_await_function()


# ---------------------------------------------------------------------------
# Context object, as AWS's runtime builds it.

_LOG_GROUP_NAME = _environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
_LOG_STREAM_NAME = _environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
_FUNCTION_NAME = _environ.get("AWS_LAMBDA_FUNCTION_NAME")
_MEMORY_LIMIT_IN_MB = _environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
_FUNCTION_VERSION = _environ.get("AWS_LAMBDA_FUNCTION_VERSION")


class LambdaContext(object):
    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = invoke_id
        self.log_group_name = _LOG_GROUP_NAME
        self.log_stream_name = _LOG_STREAM_NAME
        self.function_name = _FUNCTION_NAME
        self.memory_limit_in_mb = _MEMORY_LIMIT_IN_MB
        self.function_version = _FUNCTION_VERSION
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        if client_context is None:
            self.client_context = None
        else:
            cc = ClientContext()
            cc.custom = client_context.get("custom")
            cc.env = client_context.get("env")
            client = client_context.get("client")
            if client is None:
                cc.client = None
            else:
                cc.client = Client()
                for field in Client.__slots__:
                    setattr(cc.client, field, client.get(field))
            self.client_context = cc

        identity = CognitoIdentity()
        if cognito_identity is None:
            identity.cognito_identity_id = None
            identity.cognito_identity_pool_id = None
        else:
            identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self.identity = identity

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"custom={self.custom},"
            f"env={self.env},"
            f"client={self.client}"
            "])"
        )


def _parse_json_header(value, name):
    try:
        return _json_loads(value)
    except Exception as e:
        raise FaultException(
            LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, e)
        )


# ---------------------------------------------------------------------------
# Logging: AWS gives the root logger a handler writing
# "[LEVEL]\t<UTC time>.<ms>Z\t<request id>\t<message>" to the log. Importing
# `logging` costs ~10 ms, so the handler is installed the moment user code (or a
# library) first imports it, by an import hook that drops out afterwards.

_current_request_id = None


def _log_level_from_env():
    value = _environ.get("AWS_LAMBDA_LOG_LEVEL")
    return {None: "", "TRACE": "DEBUG"}.get(value, value).upper()


def _setup_logging(logging):
    try:

        class LambdaLoggerHandler(logging.Handler):
            # One logging call is one log record, as on Lambda (whose runtime
            # frames each one): the newlines inside it, such as those of a
            # traceback from logger.exception(), become carriage returns.
            def emit(self, record):
                try:
                    text = self.format(record)
                    if text.endswith("\n"):
                        text = text[:-1]
                    sys.stdout.write(text.replace("\n", "\r") + "\n")
                except Exception:
                    self.handleError(record)

        def add_request_id(record):
            record.aws_request_id = _current_request_id or ""
            return True

        logging.Formatter.converter = time.gmtime
        handler = LambdaLoggerHandler()
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
        handler.addFilter(add_request_id)
        logger = logging.getLogger()
        level = _log_level_from_env()
        if level in getattr(logging, "_nameToLevel", {}):
            logger.setLevel(level)
        logger.addHandler(handler)
    except Exception:
        # A module called `logging` in the task root that is not the standard
        # library's: leave it alone.
        pass


class _HookedLoader(object):
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module.__loader__ = self._inner
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._inner
        _LoggingImportHook.remove()
        _setup_logging(module)


class _LoggingImportHook(object):
    _busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "logging" or self._busy:
            return None
        self._busy = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is not None:
                    spec = find(fullname, path, target)
                    if spec is not None:
                        break
        finally:
            self._busy = False
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HookedLoader(spec.loader)
        return spec

    @staticmethod
    def remove():
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _LoggingImportHook)]


def _install_logging():
    if "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingImportHook())


# ---------------------------------------------------------------------------
# Handler loading.


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, e))

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        import importlib

        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        # A directory the function's user cannot list hides the modules in it.
        message = "Unable to import module '{}': {}".format(modname, e) + _unreadable_hint()
        raise FaultException(IMPORT_MODULE_ERROR, message, _user_frames(e.__traceback__))
    except SyntaxError as e:
        filename, lineno, text = _syntax_error_location(e, modname)
        trace = ['  File "%s" Line %s\n    %s' % (filename, lineno, text or "")]
        detail = str(e)
        if e.filename is None and filename is not None:
            detail += " (%s, line %s)" % (os.path.basename(filename), lineno)
        raise FaultException(
            USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, detail),
            trace,
        )

    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname)
        )


def _syntax_error_location(e, modname):
    """(file, line, text) of a syntax error. Some (null bytes in the source) are
    raised by the compiler before it knows the file: then the file is the first
    of the task root's modules that holds a null byte, and the line is that one."""
    if e.filename is not None:
        return e.filename, e.lineno, e.text
    root = _environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    first = os.path.join(root, *modname.split("/")) + ".py"
    candidates = [first]
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            seen += 1
            if seen > _UNREADABLE_SCAN_LIMIT:
                break
            if name.endswith(".py"):
                candidates.append(os.path.join(dirpath, name))
    for path in candidates:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        at = data.find(b"\0")
        if at >= 0:
            lineno = data.count(b"\n", 0, at) + 1
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            text = data[start:end if end >= 0 else len(data)]
            text = text.replace(b"\0", b"\\0").decode("utf-8", "replace") + "\n"
            return path, lineno, text
    return first, e.lineno, e.text


def _prepare_sys_path(task_root):
    """The task root first, as on AWS; then the layers' site-packages and python
    directories; not this script's own directory; the AWS SDK (boto3) last, after
    the standard library, as Lambda's /var/runtime. The layers are at /opt, or
    where _GUST_OPT says (empty: none), for a sandbox that cannot mount them."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [p for p in sys.path if p and os.path.abspath(p) != here]
    layers = []
    opt = _environ.get("_GUST_OPT", "/opt")
    site = os.path.join(opt, "python/lib/python%d.%d/site-packages" % sys.version_info[:2])
    for extra in (site, os.path.join(opt, "python")) if opt else ():
        if os.path.isdir(extra) and extra not in paths:
            layers.append(extra)
    sdk = os.path.join(os.path.dirname(here), "sdk", "python")
    tail = [sdk] if os.path.isdir(sdk) else []
    sys.path[:] = [task_root] + layers + [p for p in paths if p != task_root] + tail


# ---------------------------------------------------------------------------
# The loop.


# Lambda's trace id changes with every invocation. Setting it with putenv would
# leak: the C library keeps every value ever set in the environment (about 150
# bytes per invocation, for the life of the instance). It is kept in os.environ
# only, where the X-Ray SDK reads it; child processes do not inherit it.
_TRACE_VAR = "_X_AMZN_TRACE_ID"
_environ_data = getattr(_environ, "_data", None)


def _set_trace_id(value):
    if _environ_data is None:  # not CPython's os.environ: the plain way
        if value is not None:
            _environ[_TRACE_VAR] = value
        elif _TRACE_VAR in _environ:
            del _environ[_TRACE_VAR]
        return
    key = _environ.encodekey(_TRACE_VAR)
    if value is not None:
        _environ_data[key] = _environ.encodevalue(value)
    else:
        _environ_data.pop(key, None)


def _handle_event(client, request_handler, headers, body):
    global _current_request_id
    invoke_id = headers.get("lambda-runtime-aws-request-id", "")
    _current_request_id = invoke_id
    _set_trace_id(headers.get("lambda-runtime-trace-id"))

    try:
        client_context = headers.get("lambda-runtime-client-context")
        if client_context:
            client_context = _parse_json_header(client_context, "Client Context")
        else:
            client_context = None
        cognito_identity = headers.get("lambda-runtime-cognito-identity")
        if cognito_identity:
            cognito_identity = _parse_json_header(cognito_identity, "Cognito Identity")
        else:
            cognito_identity = None
        context = LambdaContext(
            invoke_id,
            client_context,
            cognito_identity,
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        content_type = headers.get("content-type")
        if content_type is None or content_type.startswith("application/json"):
            try:
                event = _json_loads(body)
            except Exception as e:
                raise FaultException(UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(e))
        else:
            event = body

        response = request_handler(event, context)

        if isinstance(response, bytes):
            result, result_type = response, b"application/unknown"
        else:
            try:
                result = _encode(response).encode("utf-8")
            except Exception as e:
                raise FaultException(MARSHAL_ERROR, "Unable to marshal response: {}".format(e))
            result_type = b"application/json"
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        error_result = _build_fault_result(sys.exc_info(), invoke_id)
    else:
        client.post_invocation_result(invoke_id, result, result_type)
        return
    _log_error(error_result)
    client.post_invocation_error(invoke_id, error_result)


def main():
    client = RuntimeAPIClient(_environ.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001")
    task_root = os.path.abspath(_environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
    _prepare_sys_path(task_root)
    _install_logging()

    try:
        request_handler = _get_handler(_environ.get("_HANDLER", ""))
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
        _log_error(error_result)
        client.post_init_error(error_result)
        sys.exit(1)
    except Exception:
        error_result = _build_fault_result(sys.exc_info())
        _log_error(error_result)
        client.post_init_error(error_result)
        sys.exit(1)

    next_invocation = client.next_invocation
    try:
        while True:
            headers, body = next_invocation()
            _handle_event(client, request_handler, headers, body)
    except (OSError, RuntimeError, _ConnectionDropped) as e:
        # The platform went away or broke the protocol: nothing left to serve.
        _flush_output()
        _stderr.write("gust runtime: lost the Runtime API: %r\n" % (e,))
        _stderr.flush()
        sys.exit(1)


if __name__ == "__main__":
    main()
