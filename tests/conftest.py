"""Fixtures that run the real `gust` binary.

`server` is one `gust serve` shared by the whole session; `start_server(...)` starts
a private one with extra flags (memory capacity, idle TTL, queue timeout) for tests
that need them. Both listen on an ephemeral loopback port with a fresh data
directory, and both are stopped with SIGTERM at the end, checking that the server
exits 0 and leaves no instance process behind.

The binary is `$GUST_BIN` (scripts/test exports it), else target/debug/gust.
The sandbox is `$GUST_TEST_ISOLATION` (auto, linux or none; default auto).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
import requests
from botocore.config import Config

import support

ROOT = Path(__file__).resolve().parent.parent
LISTEN_PREFIX = "gust listening on "
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Marks the processes of functions created through `GustServer.create_function`, so
# `stop()` finds them even if they are no longer children of the server.
MARKER_VAR = "GUST_TEST_SERVER"


def gust_binary() -> Path:
    path = Path(os.environ.get("GUST_BIN") or ROOT / "target" / "debug" / "gust")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"gust binary not found at {path}: build it (cargo build -p gust-cli) "
            "or run ./scripts/test, which builds it and sets GUST_BIN",
            returncode=2,
        )
    return path


def isolation() -> str:
    return os.environ.get("GUST_TEST_ISOLATION", "auto")


# ---------------------------------------------------------------- process tree


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time), which tells a pid from its reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(p) for p in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid`, as pid -> start time."""
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in _children(stack.pop()):
            if child in found:
                continue
            start = _start_time(child)
            if start is not None:
                found[child] = start
                stack.append(child)
    return found


def marked_processes(marker: str) -> dict[int, str]:
    """Processes whose environment carries MARKER_VAR=marker."""
    needle = f"{MARKER_VAR}={marker}\0".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            start = _start_time(int(entry.name))
            if start is not None:
                found[int(entry.name)] = start
    return found


def _still_running(procs: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, start in procs.items():
        if _start_time(pid) == start and _state(pid) not in (None, "Z", "X"):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    "utf-8", "replace")
            except OSError:
                cmd = "?"
            alive[pid] = cmd.strip()
    return alive


# ---------------------------------------------------------------- the server


class GustServer:
    """One running `gust serve`."""

    def __init__(self, binary: Path, workdir: Path, extra_args: list[str],
                 data_dir: Path | None = None, run_as: int | None = None):
        """With `run_as` (a uid; needs root), gust runs as that unprivileged user and
        group, without supplementary groups, on a data directory it owns outside
        root's private temp dirs, with a PATH of system directories only (root's
        pyenv is unreadable to it): its Linux sandbox is then the rootless one."""
        self.binary = binary
        self.workdir = workdir
        self.run_as = run_as
        if run_as is not None and data_dir is None:
            home = Path(tempfile.mkdtemp(prefix="gust-rootless-"))
            home.chmod(0o755)
            data_dir = home / "data"
            data_dir.mkdir()
            os.chown(data_dir, run_as, run_as)
        self.data_dir = data_dir or workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.marker = uuid.uuid4().hex
        prefix = [] if run_as is None else [
            "setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups", "--"]
        self.args = [
            *prefix,
            str(binary), "serve",
            "--listen", "127.0.0.1:0",
            "--data-dir", str(self.data_dir),
            "--isolation", isolation(),
            *extra_args,
        ]
        self.stdout_lines: list[str] = []
        self.stderr_path = workdir / "server.stderr"
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.signalled = False
        self._listening = threading.Event()
        self._lambda = None

    # -- lifecycle

    def start(self) -> "GustServer":
        self._stderr = open(self.stderr_path, "wb")
        env = support.env_for_subprocess()
        if self.run_as is not None:
            env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(self.data_dir.parent))
            env.pop("XDG_RUNTIME_DIR", None)
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=self.workdir,
        )
        self._listening.clear()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._listening.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code = self.proc.poll()
                if code is None:
                    self.proc.kill()
                    self.proc.wait(10)
                why = (f"exited with {code}" if code is not None
                       else f"did not print '{LISTEN_PREFIX}http://...' within {STARTUP_TIMEOUT}s")
                raise RuntimeError(
                    f"gust serve {why}\ncommand: {' '.join(self.args)}\n"
                    f"stdout:\n{''.join(self.stdout_lines)[-4000:]}\nstderr:\n{self.stderr_tail()}"
                )
        return self

    def restart_fresh(self) -> None:
        """Replaces a server that died with a new one on a fresh data directory."""
        self._lambda = None
        self.stopped = False
        self.signalled = False
        self.stdout_lines = []
        self.data_dir = self.workdir / f"data-{uuid.uuid4().hex[:8]}"
        self.data_dir.mkdir(parents=True)
        self.args[self.args.index("--data-dir") + 1] = str(self.data_dir)
        self.stderr_path = self.workdir / f"server-{uuid.uuid4().hex[:8]}.stderr"
        self.start()

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            stripped = line.strip()
            if not self._listening.is_set() and stripped.startswith(LISTEN_PREFIX):
                self.url = stripped[len(LISTEN_PREFIX):].rstrip("/")
                self._listening.set()

    def stderr_tail(self, limit: int = 6000) -> str:
        try:
            return self.stderr_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def instance_processes(self) -> dict[int, str]:
        """Processes that belong to this server: its descendants and anything running
        with this server's marker in its environment."""
        assert self.proc
        procs = descendants(self.proc.pid)
        procs.update(marked_processes(self.marker))
        return procs

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Sends `sig` now; a later stop() then only waits (a second signal could
        mean "hurry up" to the server)."""
        assert self.proc
        self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, check: bool = True) -> int:
        """SIGTERM, wait, and (with check) assert a clean exit with nothing left over."""
        assert self.proc
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        before = self.instance_processes()
        if self.proc.poll() is None and not self.signalled:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            leftovers = _still_running(before)
            self._kill(leftovers)
            raise AssertionError(
                f"gust serve did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                f"stderr:\n{self.stderr_tail()}")
        finally:
            self._stderr.close()
        # Instances may take a moment to be reaped after their namespace's init dies.
        deadline = time.monotonic() + 5
        leftovers = _still_running({**before, **marked_processes(self.marker)})
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = _still_running({**before, **marked_processes(self.marker)})
        self._kill(leftovers)
        if check:
            assert code == 0, f"gust serve exited with {code} after SIGTERM\nstderr:\n{self.stderr_tail()}"
            assert not leftovers, (
                f"processes of gust serve survived its shutdown: {leftovers}\n"
                f"stderr:\n{self.stderr_tail()}")
        return code

    @staticmethod
    def _kill(procs: dict[int, str]) -> None:
        for pid in procs:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    # -- clients

    @property
    def lambda_(self):
        """A boto3 Lambda client pointed at this server. (`lambda` is a keyword.)"""
        if self._lambda is None:
            self._lambda = self.new_lambda_client()
        return self._lambda

    def new_lambda_client(self, read_timeout: int = 120):
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name=support.REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(
                retries={"max_attempts": 0},
                read_timeout=read_timeout,
                connect_timeout=10,
                # The tests send out-of-range values on purpose: the server, not
                # botocore, must reject them.
                parameter_validation=False,
                max_pool_connections=32,
            ),
        )

    def cli(self, *args: str, input: str | bytes | None = None, timeout: float = 60,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        """Runs `gust --endpoint URL ARGS...`."""
        text = not isinstance(input, bytes)
        return subprocess.run(
            [str(self.binary), "--endpoint", self.url, *args],
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            env=support.env_for_subprocess(),
            cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.get(self.url + path, **kwargs)

    def health(self) -> dict[str, Any]:
        resp = self.get("/gust/v1/health")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def logs(self, name: str, **params) -> dict[str, Any]:
        resp = self.get(f"/gust/v1/functions/{name}/logs", params=params)
        assert resp.status_code == 200, f"{resp.status_code}: {resp.text}"
        return resp.json()

    # -- functions

    def create_function(self, name: str, zip_bytes: bytes, runtime: str = support.PYTHON,
                        handler: str | None = "app.handler", *, mark: bool = True,
                        **kwargs) -> dict[str, Any]:
        """CreateFunction through boto3. Unless `mark` is false, the function's
        environment carries this server's marker so stop() can find its processes."""
        params: dict[str, Any] = dict(
            FunctionName=name,
            Runtime=runtime,
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Code={"ZipFile": zip_bytes},
            **kwargs,
        )
        if handler is not None:
            params["Handler"] = handler
        if mark:
            variables = dict(params.get("Environment", {}).get("Variables", {}))
            variables[MARKER_VAR] = self.marker
            params["Environment"] = {"Variables": variables}
        return self.lambda_.create_function(**params)

    def delete_quietly(self, name: str) -> None:
        try:
            self.lambda_.delete_function(FunctionName=name)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def gust_bin() -> Path:
    return gust_binary()


@pytest.fixture(scope="session")
def server(gust_bin: Path, tmp_path_factory) -> Iterator[GustServer]:
    """The session's shared server. Capacity is generous and idle instances expire
    quickly, so warm instances left by one test never throttle another."""
    srv = GustServer(gust_bin, tmp_path_factory.mktemp("gust-session"),
                     ["--memory", "8192", "--idle-ttl", "30s"])
    srv.start()
    _SESSION_SERVERS.append(srv)
    yield srv
    srv.stop()


_SESSION_SERVERS: list[GustServer] = []


@pytest.fixture(autouse=True)
def _shared_server_survives():
    """Fails the test during which the shared server exited, with its stderr, and
    starts a fresh one so that later tests are not failed by the same outage."""
    yield
    for srv in _SESSION_SERVERS:
        if srv.proc is not None and not srv.stopped and srv.proc.poll() is not None:
            code = srv.proc.returncode
            tail = srv.stderr_tail()
            srv._stderr.close()
            srv.restart_fresh()
            pytest.fail(f"the shared gust server exited with {code} during this test; "
                        f"a fresh one was started for the tests after it.\nstderr:\n{tail}")


@pytest.fixture
def start_server(gust_bin: Path, tmp_path_factory) -> Iterator[Callable[..., GustServer]]:
    """Factory for private servers: start_server("--memory", "256", ...), optionally
    on an existing data directory (data_dir=...)."""
    started: list[GustServer] = []

    def start(*extra_args: str, data_dir: Path | None = None) -> GustServer:
        srv = GustServer(gust_bin, tmp_path_factory.mktemp("gust-private"), list(extra_args),
                         data_dir=data_dir)
        started.append(srv)
        return srv.start()

    yield start
    errors = []
    for srv in started:
        if srv.proc is None or srv.stopped:
            continue
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors))


@pytest.fixture
def lam(server: GustServer):
    """The shared server's boto3 Lambda client."""
    return server.lambda_


@pytest.fixture
def make_function(server: GustServer) -> Iterator[Callable[..., str]]:
    """Creates functions on the shared server and deletes them after the test.

    make_function("prefix", zip_bytes, runtime=..., handler=..., **CreateFunction
    parameters) returns the new function's name."""
    created: list[tuple[GustServer, str]] = []

    def make(prefix: str, zip_bytes: bytes, *, on: GustServer | None = None, **kwargs) -> str:
        srv = on or server
        name = support.unique_name(prefix)
        srv.create_function(name, zip_bytes, **kwargs)
        created.append((srv, name))
        return name

    yield make
    for srv, name in created:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.delete_quietly(name)


@pytest.fixture(scope="session")
def python_tool_zip() -> bytes:
    return support.function_zip("python_tool")


@pytest.fixture(scope="session")
def awslambdaric_zip(tmp_path_factory) -> bytes:
    """The awslambdaric_app function with AWS's runtime interface client (and its
    dependencies) vendored next to app.py, installed once per session with pip from
    the index pip is configured with."""
    target = tmp_path_factory.mktemp("awslambdaric-vendor")
    version = _pinned("awslambdaric")
    spec = f"awslambdaric=={version}" if version else "awslambdaric"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(target), spec],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"pip install {spec} failed:\n{proc.stdout}\n{proc.stderr}"
    files: dict[str, support.FileSpec] = {}
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target)
        if path.is_dir() or rel.parts[0] == "bin" or "__pycache__" in rel.parts:
            continue
        files[rel.as_posix()] = (path.read_bytes(), path.stat().st_mode & 0o777 | 0o644)
    files.update(support.read_function_files("awslambdaric_app"))
    shutil.rmtree(target, ignore_errors=True)
    return support.make_zip(files)


def _pinned(package: str) -> str | None:
    for line in (ROOT / "tests" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.lower().startswith(package.lower() + "=="):
            return line.split("==", 1)[1].strip()
    return None
