"""gust started by an ordinary user: the Linux sandbox runs in user namespaces (the
rootless mode), says at start what it does not enforce, and still runs Python, Node
and custom runtimes as an unprivileged user without capabilities, in namespaces of
their own. The hostile-function suite runs against such a server too
(test_hostile_functions.py); this file covers what is particular to it.

Starting gust as another user needs root; the file is skipped otherwise, and with
GUST_TEST_ISOLATION=none.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import requests

import support
from conftest import GustServer, isolation
from support import invoke

ROOTLESS_UID = 4243

pytestmark = [
    pytest.mark.skipif(isolation() == "none",
                       reason="GUST_TEST_ISOLATION=none: no sandbox to run rootless"),
    pytest.mark.skipif(os.geteuid() != 0, reason="starting gust as another user needs root"),
]

IDENTITY = """\
import os

def handler(event, context):
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
                  if ":\\t" in line)
    return {
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "cap_eff": status["CapEff"], "cap_bnd": status["CapBnd"],
        "no_new_privs": status["NoNewPrivs"], "seccomp": status["Seccomp"],
        "uid_map": open("/proc/self/uid_map").read().split(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "hostname": os.uname().nodename,
        "root": sorted(os.listdir("/")),
    }
"""


@pytest.fixture(scope="module")
def srv(gust_bin: Path, tmp_path_factory) -> Iterator[GustServer]:
    server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-rootless"),
                        ["--memory", "4096", "--idle-ttl", "120s"],
                        run_as=ROOTLESS_UID)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_ordinary_user_gets_the_rootless_sandbox_and_is_told_what_it_lacks(srv):
    assert srv.health()["isolation"] == "linux-rootless"
    log = srv.stderr_tail(100_000)
    warning = re.search(r"gust is not root: .*NOT enforced: (.*)", log)
    assert warning, f"no statement of what is not enforced:\n{log}"
    gaps = warning.group(1)
    # This host's cgroup v2 offers no controllers, so nothing can be delegated.
    assert "memory and CPU limits" in gaps
    assert "outbound network" in gaps
    assert "/tmp on disk" in gaps
    # gust's own files are the user's, not root's.
    assert (srv.data_dir / "gust.db").stat().st_uid == ROOTLESS_UID or any(
        p.stat().st_uid == ROOTLESS_UID for p in srv.data_dir.iterdir())


def test_python_runs_unprivileged_in_namespaces_of_its_own(srv):
    name = support.unique_name("rootless-identity")
    srv.create_function(name, support.make_zip({"app.py": IDENTITY}))
    try:
        body = invoke(srv.lambda_, name).ok()
    finally:
        srv.delete_quietly(name)
    assert (body["uid"], body["gid"]) == (993, 990), body
    assert body["cap_eff"] == "0000000000000000" and body["cap_bnd"] == "0000000000000000"
    assert body["no_new_privs"] == "1" and body["seccomp"] == "2", body
    # Its own user namespace: 993 inside is the sandbox's root, not a host uid.
    assert body["uid_map"] == ["993", "0", "1"], body
    # Its own pid namespace: the init and the runtime, nothing of the host.
    assert body["pids"][:2] == [1, 2] and len(body["pids"]) <= 3, body
    assert body["hostname"] == "localhost"
    assert "var" in body["root"] and "root" not in body["root"], body


def test_node_and_custom_runtimes_run_and_report_memory(srv):
    node = support.unique_name("rootless-node")
    srv.create_function(node, support.function_zip("node_async"), runtime=support.NODE,
                        handler="index.handler")
    provided = support.unique_name("rootless-provided")
    srv.create_function(provided, support.function_zip("provided_python"),
                        runtime="provided.al2023", handler="app.handler")
    try:
        node_result = invoke(srv.lambda_, node, {"x": 1}, tail=True)
        node_result.ok()
        invoke(srv.lambda_, provided, {"x": 1}).ok()
    finally:
        srv.delete_quietly(node)
        srv.delete_quietly(provided)
    # Without a memory cgroup, Max Memory Used is the runtime process's own peak.
    report = re.search(r"Max Memory Used: (\d+) MB", node_result.log or "")
    assert report, node_result.log
    assert 10 <= int(report.group(1)) <= 128, node_result.log


def test_instances_belong_to_gusts_user_on_the_host(srv):
    name = support.unique_name("rootless-owner")
    srv.create_function(name, support.function_zip("python_tool"))
    try:
        invoke(srv.lambda_, name, {"action": "whoami"}).ok()
        procs = srv.instance_processes()
        assert procs, "no instance processes found"
        owners = {Path(f"/proc/{pid}").stat().st_uid for pid in procs
                  if Path(f"/proc/{pid}").exists()}
        assert owners == {ROOTLESS_UID}, owners
    finally:
        srv.delete_quietly(name)


def test_outbound_network_is_refused_with_a_reason(srv):
    name = support.unique_name("rootless-outbound")
    srv.create_function(name, support.function_zip("python_tool"))
    try:
        resp = requests.put(f"{srv.url}/gust/v1/functions/{name}/network",
                            data=json.dumps({"outbound": True}), timeout=30)
        assert resp.status_code == 400, resp.text
        assert resp.headers["x-amzn-errortype"] == "InvalidParameterValueException", resp.text
        assert "runs rootless" in resp.json()["message"], resp.text
        assert requests.get(f"{srv.url}/gust/v1/functions/{name}/network",
                            timeout=30).json() == {"outbound": False}
        invoke(srv.lambda_, name, {"action": "whoami"}).ok()
    finally:
        srv.delete_quietly(name)


def test_code_on_a_noexec_mount_still_runs(gust_bin, tmp_path_factory):
    """A bind mount made in a user namespace keeps its host mount's locked flags
    (noexec here): the sandbox repeats them instead of failing every launch."""
    mount_point = Path(tempfile.mkdtemp(prefix="gust-noexec-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,nosuid,nodev,size=64m", "tmpfs",
                    str(mount_point)], check=True)
    try:
        mount_point.chmod(0o755)
        data = mount_point / "data"
        data.mkdir()
        os.chown(data, ROOTLESS_UID, ROOTLESS_UID)
        server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-noexec"),
                            ["--memory", "1024"], data_dir=data, run_as=ROOTLESS_UID)
        server.start()
        try:
            name = support.unique_name("rootless-noexec")
            server.create_function(name, support.make_zip({"app.py": IDENTITY}))
            assert invoke(server.lambda_, name).ok()["uid"] == 993
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)
        mount_point.rmdir()


def test_the_oom_score_is_pinned_without_root_too(srv):
    # No CAP_SYS_RESOURCE here to pin it: it is the lack of write access to /proc.
    from test_sandbox_hardening import OOM_SCORE
    name = support.unique_name("rootless-oom")
    srv.create_function(name, support.make_zip({"app.py": OOM_SCORE}))
    try:
        out = invoke(srv.lambda_, name, {"value": 0}).ok()
    finally:
        srv.delete_quietly(name)
    assert out == {"error": "Permission denied", "now": "1000"}, out
