"""The runtime's seccomp filter is an allow list: what ordinary functions do must keep
working under it, in every runtime, and what the list leaves out must be refused with
an error (never by killing the function).

The workloads live in tests/functions/seccomp_workload (Python: threads, subprocesses,
asyncio, loopback sockets, mmap/mprotect, signals, boto3, the benign personas and the
refused calls), seccomp_node (Node.js: workers, child processes, sockets, files,
timers, crypto, signals), seccomp_curl (a shell bootstrap using curl) and
seccomp_static (a static C and a static Rust bootstrap, compiled here).

Every test runs against gust as root and gust as an ordinary user (the rootless
sandbox). With GUST_TEST_ISOLATION=none the file is skipped: there is no filter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

import support
from conftest import GustServer, isolation
from support import invoke

pytestmark = pytest.mark.skipif(
    isolation() == "none",
    reason="GUST_TEST_ISOLATION=none: the seccomp filter belongs to the Linux sandbox")

ROOTLESS_UID = 4242
STATIC_DIR = support.FUNCTIONS_DIR / "seccomp_static"


@pytest.fixture(scope="module", params=["root", "rootless"])
def srv(request, gust_bin: Path, tmp_path_factory):
    rootless = request.param == "rootless"
    if rootless and os.geteuid() != 0:
        pytest.skip("starting gust as another user needs root")
    server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-seccomp"),
                        ["--memory", "4096", "--idle-ttl", "120s"],
                        run_as=ROOTLESS_UID if rootless else None)
    server.start()
    try:
        used = server.health()["isolation"]
        if used != ("linux-rootless" if rootless else "linux"):
            pytest.skip(f"the server runs with --isolation {used}: no seccomp filter here")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def deploy(srv: GustServer):
    names: list[str] = []

    def create(prefix: str, zip_bytes: bytes, **kwargs) -> str:
        name = support.unique_name(prefix)
        srv.create_function(name, zip_bytes, Timeout=60, MemorySize=512, **kwargs)
        names.append(name)
        return name

    yield create
    for name in names:
        if srv.proc and srv.proc.poll() is None:
            srv.delete_quietly(name)


def _vendored_sdk() -> dict[str, support.FileSpec]:
    """boto3 and its dependencies from the test venv, as archive files: the managed
    runtime runs the host's interpreter, which need not have boto3. Of botocore's
    service models only the ones the workload builds clients for."""
    site = Path(sysconfig.get_paths()["purelib"])
    files: dict[str, support.FileSpec] = {}
    models = site / "botocore" / "data"
    for package in ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3",
                    "six.py"]:
        root = site / package
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            if models in path.parents:
                service = path.relative_to(models).parts
                if len(service) > 1 and service[0] not in ("lambda", "s3", "sts"):
                    continue
            files[str(path.relative_to(site))] = (path.read_bytes(), 0o644)
    return files


@pytest.fixture(scope="module")
def python_workload(deploy) -> str:
    return deploy("seccomp-py", support.function_zip("seccomp_workload",
                                                     extra=_vendored_sdk()))


def _assert_all_ok(answer: dict) -> None:
    failed = {step: r for step, r in answer.items() if step != "refused" and not r["ok"]}
    assert not failed, f"steps failed under the seccomp filter: {failed}"


def test_python_workloads_run_under_the_filter(srv, python_workload):
    answer = invoke(srv.lambda_, python_workload, {}).ok()
    assert set(answer) >= {"threads", "subprocesses", "asyncio", "sockets", "memory",
                           "signals", "sdk", "personas"}
    _assert_all_ok(answer)
    assert answer["sdk"]["operations"] > 50
    assert "lo" in answer["sockets"]["interfaces"]
    # The same warm instance does it all again.
    _assert_all_ok(invoke(srv.lambda_, python_workload, {}).ok())


def test_dangerous_calls_are_refused_with_eperm(srv, python_workload):
    refused = invoke(srv.lambda_, python_workload, {"steps": ["threads"], "refused": True}
                     ).ok()["refused"]
    got_through = {name: r for name, r in refused.items() if r["ok"]}
    assert not got_through, f"refused calls succeeded: {got_through}"
    errors = {name: r["error"] for name, r in refused.items()}
    assert errors == {name: "EPERM" for name in refused}, errors
    # The process survived all of it: the instance still answers.
    _assert_all_ok(invoke(srv.lambda_, python_workload, {"steps": ["threads"]}).ok())


def test_node_workloads_run_under_the_filter(srv, deploy):
    name = deploy("seccomp-node", support.function_zip("seccomp_node"), runtime=support.NODE,
                  handler="index.handler")
    answer = invoke(srv.lambda_, name, {}).ok()
    assert set(answer) == {"workers", "childProcesses", "sockets", "files",
                           "timersAndCrypto", "signals"}
    _assert_all_ok(answer)
    assert answer["signals"]["got"] == "usr2"
    _assert_all_ok(invoke(srv.lambda_, name, {}).ok())


def test_shell_bootstrap_with_curl_runs_under_the_filter(srv, deploy):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed on this host")
    name = deploy("seccomp-sh", support.function_zip("seccomp_curl"),
                  runtime="provided.al2023", handler=None)
    for _ in range(2):
        body = invoke(srv.lambda_, name, {"n": 1}).ok()
        assert body == {"shell": "ok", "files": 1, "sum": body["sum"], "sorted": "abc",
                        "sub": 42}, body


def _compile(cmd: list[str], out: Path) -> bytes:
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} is not installed: cannot build the static bootstrap")
    done = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        if "cannot find -lc" in done.stderr or "crt-static" in done.stderr:
            pytest.skip(f"no static C library here to link with: {done.stderr[-500:]}")
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return out.read_bytes()


@pytest.mark.parametrize("language", ["c", "rust"])
def test_static_bootstrap_runs_under_the_filter(srv, deploy, tmp_path, language):
    if language == "c":
        binary = _compile(["cc", "-O1", "-static", "-pthread",
                           str(STATIC_DIR / "bootstrap.c")], tmp_path / "bootstrap")
    else:
        binary = _compile(["rustc", "-O", "-C", "target-feature=+crt-static",
                           str(STATIC_DIR / "bootstrap.rs")], tmp_path / "bootstrap")
    name = deploy(f"seccomp-{language}", support.make_zip({"bootstrap": (binary, 0o755)}),
                  runtime="provided.al2023", handler=None)
    for _ in range(2):
        body = invoke(srv.lambda_, name, {}).ok()
        assert body["child"] == 6, body
        if language == "c":
            assert body == {"static": "ok", "sum": 4999950000, "child": 6, "mprotect": 1}
        else:
            assert body["echo"] == "rust" and body["sum"] == 6 * 4999950000, body
