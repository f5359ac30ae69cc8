"""What a function cannot change about its own sandbox, and what a gust that was
killed leaves behind (nothing, once the next gust has started on its data
directory)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import support
from conftest import _still_running, marked_processes
from support import invoke

OOM_SCORE = r'''
import os

def handler(event, context):
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(event["value"]))
        error = None
    except OSError as e:
        error = e.strerror
    return {"error": error, "now": open("/proc/self/oom_score_adj").read().strip()}
'''


def test_a_function_cannot_lower_its_oom_score(server):
    if server.health()["isolation"] != "linux":
        pytest.skip("the OOM score is pinned by the Linux sandbox only")
    name = support.unique_name("oom-score")
    server.create_function(name, support.make_zip({"app.py": OOM_SCORE}))
    for value in (0, 999, -1000):
        out = invoke(server.lambda_, name, {"value": value}).ok()
        assert out["now"] == "1000", out
        assert out["error"] == "Permission denied", out


# ------------------------------------------ what a killed gust leaves is ended


def _freezer_state_file(pid: int) -> Path | None:
    """The file that says whether `pid`'s cgroup is frozen (v1 freezer.state, or
    v2 cgroup.events)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return Path("/sys/fs/cgroup/freezer", path.lstrip("/"), "freezer.state")
    for line in lines:
        if line.startswith("0::") and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return Path("/sys/fs/cgroup", line[3:].lstrip("/"), "cgroup.events")
    return None


def _frozen(pid: int) -> bool:
    state = _freezer_state_file(pid)
    try:
        text = state.read_text() if state else ""
    except OSError:
        return False
    return text.strip() == "FROZEN" or "frozen 1" in text


def _thaw_and_kill(pids) -> None:
    """Ends processes a failing test leaves frozen (a v1-frozen task dies only once
    thawed)."""
    for pid in pids:
        state = _freezer_state_file(pid)
        try:
            if state and state.name == "freezer.state":
                state.write_text("THAWED")
            elif state:
                (state.parent / "cgroup.freeze").write_text("0")
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_frozen_instances_of_a_killed_gust_are_ended_by_the_next_one(start_server):
    first = start_server("--freeze-idle-after", "100ms")
    if first.health()["isolation"] != "linux" or _freezer_state_file(os.getpid()) is None:
        pytest.skip("freezing needs the Linux sandbox and a cgroup freezer")
    name = support.unique_name("left-frozen")
    # The instance's processes are found by the marker in their environment as
    # /proc shows it, the one they were started with: a prewarmed runtime, started
    # before it had a function, gets the function's variables only later. A
    # variable that changes how Python starts makes gust start a fresh one.
    first.create_function(name, support.make_zip({"app.py": OOM_SCORE}),
                          Environment={"Variables": {"PYTHONNOUSERSITE": "1"}})
    invoke(first.lambda_, name, {"value": 1000}).ok()
    runtime = marked_processes(first.marker)
    assert runtime, "no process of the instance found"
    try:
        support.wait_until(lambda: all(_frozen(p) for p in runtime), 20,
                           message="the idle instance to be frozen")
        first.proc.kill()
        first.proc.wait(30)
        first.stopped = True  # nothing to stop: this test is about what it left
        first._stderr.close()
        # The leak: frozen, the instance outlives its gust.
        assert _still_running(runtime), "the frozen instance died with its gust"

        second = start_server(data_dir=first.data_dir)
        support.wait_until(lambda: not _still_running(runtime), 10,
                           message="the left-over instance to be ended")
        assert "ended the instances a gust that was killed left running: 1" in \
            second.stderr_tail(100_000)
        # The new gust works on the same data directory.
        assert invoke(second.lambda_, name, {"value": 1000}).ok()["now"] == "1000"
    finally:
        _thaw_and_kill(_still_running(runtime))


NOFILE = '''
import resource

def handler(event, context):
    return list(resource.getrlimit(resource.RLIMIT_NOFILE))
'''


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def test_gust_raises_its_own_open_files_limit_but_not_its_instances(gust_bin, tmp_path):
    """gust holds about ten descriptors per warm instance, so a soft limit of 1,024
    (the usual default) would cap a host near a hundred instances: gust lifts its
    soft limit to the hard one, and its Linux-sandboxed instances keep their own."""
    from conftest import GustServer
    srv = GustServer(gust_bin, tmp_path, [])
    srv.args = ["prlimit", "--nofile=1024:8192", "--", *srv.args]
    srv.start()
    try:
        assert open_files_limit(srv.proc.pid) == (8192, 8192)
        name = support.unique_name("nofile")
        srv.create_function(name, support.make_zip({"app.py": NOFILE}))
        soft, _ = invoke(srv.lambda_, name).ok()
        if srv.health()["isolation"] == "linux":
            assert soft == 1024
    finally:
        srv.stop()
