"""Functions that try to escape or starve the platform, run through the real server
with its default isolation: each attack must fail, while a control function deployed
beside them keeps answering (during the attack and after it, from the same warm
instance) and /gust/v1/health keeps answering.

The attacks live in tests/functions/hostile_escape (filesystem, processes, network,
privileges) and tests/functions/hostile_starve (processes, memory, CPU, /tmp). They
report every attempt as JSON, so a failing assertion names what leaked.

This file is about the Linux sandbox: with GUST_TEST_ISOLATION=none it is skipped,
and so is any attack the host cannot stop (a server that fell back to no isolation).
Every attack runs twice: against gust running as root, and against gust running as
an ordinary user (the rootless sandbox, in user namespaces), where only what gust
says at start it does not enforce is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

import support
from conftest import GustServer, isolation
from support import client_error, invoke

pytestmark = pytest.mark.skipif(
    isolation() == "none",
    reason="GUST_TEST_ISOLATION=none: the hostile functions test the Linux sandbox, "
           "which --isolation none does not have")

MB = 1024 * 1024
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


# ---------------------------------------------------------------- fixtures


# The unprivileged user the rootless server runs as (no account needed).
ROOTLESS_UID = 4242


@pytest.fixture(scope="module", params=["root", "rootless"])
def srv(request, gust_bin: Path, tmp_path_factory) -> GustServer:
    """A private server, so that an attack that did get through could not take the
    shared one down with it; stopping it checks that nothing was left running."""
    rootless = request.param == "rootless"
    if rootless and os.geteuid() != 0:
        pytest.skip("starting gust as another user needs root")
    server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-hostile"),
                        ["--memory", "8192", "--idle-ttl", "120s"],
                        run_as=ROOTLESS_UID if rootless else None)
    server.start()
    try:
        isolation_in_use = server.health()["isolation"]
        if isolation_in_use != ("linux-rootless" if rootless else "linux"):
            pytest.skip(f"the server runs with --isolation {isolation_in_use} (the Linux "
                        f"sandbox is unavailable here: see its log); nothing to attack")
        yield server
    finally:
        server.stop()


class Functions:
    """Creates functions on the private server; deletes them at the end."""

    def __init__(self, server: GustServer):
        self.server = server
        self.names: list[str] = []

    def create(self, prefix: str, zip_bytes: bytes, **kwargs) -> str:
        name = support.unique_name(prefix)
        self.server.create_function(name, zip_bytes, **kwargs)
        self.names.append(name)
        return name

    def delete_all(self) -> None:
        for name in self.names:
            if self.server.proc and self.server.proc.poll() is None:
                self.server.delete_quietly(name)


@pytest.fixture(scope="module")
def functions(srv: GustServer):
    f = Functions(srv)
    yield f
    f.delete_all()


@pytest.fixture(scope="module")
def control(srv: GustServer, functions: Functions) -> "Control":
    name = functions.create("hostile-control", support.function_zip("python_tool"))
    c = Control(srv, name)
    c.instance = c.answers()["instance"]
    return c


@pytest.fixture(scope="module")
def escape(functions: Functions) -> str:
    """The hostile_escape function, with the defaults' 128 MB and a longer timeout
    (the setuid attack runs several binaries)."""
    return functions.create("hostile-escape", support.function_zip("hostile_escape"),
                            Timeout=30)


class Control:
    """The function that must keep answering whatever its neighbours do."""

    def __init__(self, server: GustServer, name: str):
        self.server = server
        self.name = name
        self.client = server.new_lambda_client(read_timeout=60)
        self.instance = ""

    def answers(self) -> dict[str, Any]:
        started = time.monotonic()
        body = invoke(self.client, self.name, {"action": "whoami"}).ok()
        assert time.monotonic() - started < 30, "the control took over 30 s to answer"
        health = self.server.get("/gust/v1/health", timeout=30)
        assert health.status_code == 200, health.text
        return body

    def answers_from_the_same_instance(self) -> None:
        body = self.answers()
        assert body["instance"] == self.instance, (
            "the control's warm instance was replaced: the attack reached it")


def under_attack(srv: GustServer, control: Control, attack: Callable[[], Any],
                 lasting: bool = True) -> Any:
    """Runs `attack` in a thread while the control is invoked again and again; checks
    that the control answered while the attack was in flight and after it ended, from
    the instance it had before, and that the server is still running.

    `lasting` says the attack is sure to outlast the control's first invocation (it
    holds a function for a second or more), so that invocation must have started
    while the attack was in flight. An attack gust refuses in milliseconds (an
    upload) may be over before the control's first invocation: pass False, and the
    control is only required to answer, during or after."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = attack()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    during = 0
    while True:
        in_flight = thread.is_alive()
        control.answers_from_the_same_instance()
        during += in_flight
        if not thread.is_alive():
            break
        thread.join(0.2)
    control.answers_from_the_same_instance()
    assert srv.proc is not None and srv.proc.poll() is None, "the server died"
    assert during >= 1 or not lasting, (
        "the control was never invoked while the attack was in flight")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def attempts_of(result: support.Invocation) -> list[dict[str, Any]]:
    body = result.ok()
    return body["attempts"]


def escape_attack(srv: GustServer, control: Control, function: str,
                  event: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs one hostile_escape attack under_attack; the function stays busy for a
    second after its attempts, so the control is sure to run beside it."""
    result = under_attack(srv, control, lambda: invoke(
        attack_client(srv), function, {**event, "hold_s": 1}))
    return attempts_of(result)


def assert_all_refused(attempts: list[dict[str, Any]], *, expect_errors: set[str] | None = None,
                       ) -> None:
    """Every attempt but the controls failed (and, given `expect_errors`, with one of
    those errors); every control succeeded, which proves the probe itself works."""
    leaked = [a for a in attempts if a["ok"] and not a["what"].startswith("control:")]
    assert not leaked, "the sandbox let these through:\n" + json.dumps(leaked, indent=1)
    broken = [a for a in attempts if not a["ok"] and a["what"].startswith("control:")]
    assert not broken, "the probe itself does not work:\n" + json.dumps(broken, indent=1)
    if expect_errors is not None:
        odd = [a for a in attempts if not a["ok"] and a.get("error") not in expect_errors]
        assert not odd, (f"refused, but not with {sorted(expect_errors)}:\n"
                         + json.dumps(odd, indent=1))


def hex_digest(zip_bytes: bytes) -> str:
    return hashlib.sha256(zip_bytes).hexdigest()


def attack_client(srv: GustServer):
    return srv.new_lambda_client(read_timeout=120)


# ---------------------------------------------------------------- filesystem


def test_host_files_are_out_of_reach(srv, control, functions, escape):
    # Another function's code, where the archive store keeps it on the host.
    other_zip = support.make_zip({"app.py": "SECRET = 'other function code'\n"
                                            "def handler(e, c):\n    return 1\n"})
    functions.create("hostile-other", other_zip)
    other_code = srv.data_dir / "archives" / "code" / hex_digest(other_zip)
    assert (other_code / "app.py").is_file(), f"the store layout changed: {other_code}"
    paths = [str(srv.data_dir), str(srv.data_dir / "gust.db"),
             str(srv.data_dir / "archives"), str(other_code), str(other_code / "app.py"),
             str(srv.data_dir / "runtimes"), str(srv.binary), str(srv.workdir)]
    attempts = escape_attack(srv, control, escape, {"attack": "read_files", "paths": paths})
    assert_all_refused(attempts)


def test_writes_outside_tmp_fail_and_change_nothing(srv, control, escape):
    code_dir = srv.data_dir / "archives" / "code"
    before = {p: p.stat().st_mtime_ns for p in code_dir.rglob("*")}
    targets = [str(srv.data_dir / "pwned"), str(srv.workdir / "pwned"),
               str(srv.data_dir / "archives" / "pwned")]
    attempts = escape_attack(srv, control, escape,
                             {"attack": "write_files", "paths": targets})
    assert_all_refused(attempts)
    for t in targets:
        assert not Path(t).exists(), f"{t} was created on the host"
    after = {p: p.stat().st_mtime_ns for p in code_dir.rglob("*")}
    assert after == before, "the code on the host changed"


def test_proc_hides_kernel_internals_and_cannot_change_the_kernel(srv, control, escape):
    # kallsyms, keys and timer_list are world-readable on most kernels; the sandbox
    # masks them (and kcore, sched_debug...) and makes /proc/sys and the like
    # read-only, as container runtimes do.
    attempts = escape_attack(srv, control, escape, {"attack": "proc"})
    assert_all_refused(attempts, expect_errors={"ENODATA", "ENOENT", "EROFS", "EACCES"})
    refused = {a["what"] for a in attempts if not a["ok"] and a["error"] != "ENOENT"}
    assert "read /proc/kallsyms" in refused or not Path("/proc/kallsyms").exists()
    assert "writable mount under /proc/sys/kernel/core_pattern" in refused


# ---------------------------------------------------------------- processes


def test_host_processes_are_invisible_and_cannot_be_signalled(srv, control, escape):
    assert srv.proc is not None
    attempts = escape_attack(srv, control, escape,
                             {"attack": "processes", "server_pid": srv.proc.pid})
    assert_all_refused(attempts)
    assert srv.proc.poll() is None
    state = Path(f"/proc/{srv.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state != "T", "the server was stopped"


# ---------------------------------------------------------------- network


@pytest.fixture
def host_service():
    """A TCP listener on the host's loopback (and one on every address), counting
    what reaches them."""
    loopback = socket.create_server(("127.0.0.1", 0))
    anywhere = socket.create_server(("0.0.0.0", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    for s in (loopback, anywhere, udp):
        s.setblocking(False)
    yield loopback, anywhere, udp
    for s in (loopback, anywhere, udp):
        s.close()


def host_addresses() -> list[str]:
    """The host's own IPv4 addresses other than loopback."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True, check=False).stdout
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return [a for a in found if not a.startswith("127.")]


def test_host_services_are_unreachable(srv, control, escape, host_service):
    """Nothing of the host: not its loopback services, not its addresses. (gust's
    own API answers on the instance's loopback at 127.0.0.1:<gust's port>, by
    design: it is how functions call gust, tests/test_functions_call_gust.py; on
    IPv6 loopback and the host's addresses that port stays closed.)"""
    loopback, anywhere, udp = host_service
    api_port = int(srv.url.rsplit(":", 1)[1])
    lo_port = loopback.getsockname()[1]
    any_port = anywhere.getsockname()[1]
    targets = [["::1", api_port], ["127.0.0.1", lo_port], ["127.0.0.1", any_port]]
    for addr in host_addresses():
        targets += [[addr, api_port], [addr, any_port]]
    event = {"attack": "network", "targets": targets,
             "udp": [["127.0.0.1", udp.getsockname()[1]]]}
    attempts = escape_attack(srv, control, escape, event)
    assert_all_refused(attempts)
    for s in (loopback, anywhere):
        with pytest.raises(BlockingIOError):
            s.accept()
    with pytest.raises(BlockingIOError):
        udp.recv(16)


def test_other_instances_are_unreachable(srv, control, functions, escape):
    victim = functions.create("hostile-victim", support.function_zip("hostile_escape"),
                              Timeout=30)
    tag = uuid.uuid4().hex[:12]
    listen = {"attack": "listen", "port": 9555, "unix_name": f"gust-hostile-{tag}",
              "secret": f"secret-{tag}", "hold_s": 6}
    victim_result: dict[str, Any] = {}
    victim_thread = threading.Thread(
        target=lambda: victim_result.update(r=invoke(attack_client(srv), victim, listen)),
        daemon=True)
    victim_thread.start()
    support.wait_until(
        lambda: any(e["message"].startswith("LISTENING") for e in srv.logs(victim)["events"]),
        30, message="the victim to listen")
    attempts = escape_attack(srv, control, escape, {
        "attack": "neighbour", "port": listen["port"], "unix_name": listen["unix_name"]})
    assert_all_refused(attempts)
    victim_thread.join(60)
    assert victim_result["r"].ok() == {"accepted": []}, "the victim was reached"


# ---------------------------------------------------------------- privileges


def test_mount_and_namespace_calls_are_refused(srv, control, escape):
    attempts = escape_attack(srv, control, escape, {"attack": "mount"})
    expected = {"EPERM", "EACCES"}
    if srv.run_as is not None:
        # Rootless, uid and gid 0 do not exist in the runtime's user namespace.
        expected.add("EINVAL")
    assert_all_refused(attempts, expect_errors=expected)


def test_ptrace_is_refused(srv, control, escape):
    attempts = escape_attack(srv, control, escape, {"attack": "ptrace"})
    assert_all_refused(attempts, expect_errors={"EPERM", "EACCES"})


def test_raw_sockets_are_refused(srv, control, escape):
    attempts = escape_attack(srv, control, escape, {"attack": "raw_sockets"})
    assert_all_refused(attempts, expect_errors={"EPERM", "EACCES"})


def test_device_nodes_cannot_be_made_or_opened(srv, control, escape):
    attempts = escape_attack(srv, control, escape, {"attack": "device_nodes"})
    assert_all_refused(attempts, expect_errors={"EPERM", "EACCES", "ENOENT"})


def test_setuid_binaries_do_not_give_root(srv, control, escape):
    candidates = ["/usr/bin/su", "/usr/bin/passwd", "/usr/bin/newgrp", "/usr/bin/chsh",
                  "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/mount", "/usr/bin/umount",
                  "/usr/bin/sudo"]
    present = [p for p in candidates
               if os.path.exists(p) and os.stat(p).st_mode & 0o4000 and os.stat(p).st_uid == 0]
    if not present:
        pytest.skip("no setuid-root binary on this host to try")
    attempts = escape_attack(srv, control, escape,
                             {"attack": "setuid", "binaries": present})
    assert_all_refused(attempts)
    tried = [a for a in attempts if not a["what"].startswith("control:")]
    assert len(tried) == len(present), f"not every setuid binary was tried: {tried}"
    me = attempts[-1]["got"]
    assert me["Uid"][1] != "0" and me["CapEff"] == ["0000000000000000"], me


# ---------------------------------------------------------------- archives


def symlink_zip(files: dict[str, str], links: dict[str, str]) -> bytes:
    """A zip with regular files and symlink entries (unix mode S_IFLNK, the target
    as the entry's content), as `zip --symlinks` makes them."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, content in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100644) << 16
            zf.writestr(info, content)
        for path, target in links.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o120777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


APP = "def handler(event, context):\n    return open(event['path']).read()[:100]\n"

ESCAPING_ARCHIVES = {
    "symlink-to-etc-shadow": ({"app.py": APP}, {"shadow": "/etc/shadow"}),
    "symlink-to-parent": ({"app.py": APP}, {"up": "../../../../etc"}),
    "symlink-dir-to-root": ({"app.py": APP}, {"root": "/"}),
    "symlink-nested-escape": ({"app.py": APP}, {"lib/deep/x": "../../../.."}),
    "symlink-chain-escape": ({"app.py": APP}, {"a": "b/..", "b": "c/../..", "c": "."}),
    "file-through-symlink": ({"app.py": APP, "tmpdir/evil.txt": "x"}, {"tmpdir": "/tmp"}),
    "entry-dot-dot": ({"app.py": APP, "../escaped.py": "x"}, {}),
    "entry-absolute": ({"app.py": APP, "/var/task/../../tmp/escaped.py": "x"}, {}),
}


@pytest.mark.parametrize("case", sorted(ESCAPING_ARCHIVES))
def test_archives_pointing_outside_var_task_are_rejected(srv, control, case):
    files, links = ESCAPING_ARCHIVES[case]
    name = support.unique_name("hostile-zip")
    listed = {f["FunctionName"] for f in srv.lambda_.list_functions()["Functions"]}

    def upload() -> ClientError:
        with pytest.raises(ClientError) as e:
            srv.create_function(name, symlink_zip(files, links))
        return e.value

    error = under_attack(srv, control, upload, lasting=False)
    srv.delete_quietly(name)
    code, status, message = client_error(error)
    assert (code, status) == ("InvalidParameterValueException", 400), message
    assert {f["FunctionName"] for f in srv.lambda_.list_functions()["Functions"]} == listed
    assert not list((srv.data_dir / "archives" / "tmp").glob("*")), "a failed put left files"


def test_symlinks_inside_the_archive_still_work(srv, functions):
    """The other side of the rule above: a link that stays in /var/task is kept."""
    zip_bytes = symlink_zip({"app.py": APP, "data/real.txt": "inside"},
                            {"alias.txt": "data/real.txt", "lib": "data"})
    name = functions.create("hostile-zip-ok", zip_bytes)
    assert invoke(srv.lambda_, name, {"path": "/var/task/alias.txt"}).ok() == "inside"
    assert invoke(srv.lambda_, name, {"path": "/var/task/lib/real.txt"}).ok() == "inside"


# ---------------------------------------------------------------- resources


def instance_of(log: str) -> str:
    found = re.search(r"^instance (\w+)$", log, re.M)
    assert found, f"the function did not print its instance id:\n{log}"
    return found.group(1)


def cgroup_dirs(instance: str) -> list[Path]:
    """The instance's cgroup directories that exist now, in v1 or v2 hierarchies."""
    root = Path("/sys/fs/cgroup")
    found = list(root.glob(f"*/gust/{instance}")) + list(root.glob(f"gust/{instance}"))
    return [p for p in found if p.exists()]


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker`."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_nothing_left(instance: str, marker: str) -> None:
    support.wait_until(lambda: not processes_with(marker), 20,
                       message=f"the processes of instance {instance} to be gone")
    support.wait_until(lambda: not cgroup_dirs(instance), 20,
                       message=f"the cgroups of instance {instance} to be removed")


def starve_function(functions: Functions, **kwargs) -> tuple[str, str]:
    """A hostile_starve function whose processes carry a marker of their own."""
    marker = f"HOSTILE_MARKER_{uuid.uuid4().hex}"
    name = functions.create("hostile-starve", support.function_zip("hostile_starve"),
                            Environment={"Variables": {"HOSTILE": marker}}, **kwargs)
    return name, marker


def test_fork_bomb_is_bounded_and_leaves_nothing(srv, control, functions):
    if not list(Path("/sys/fs/cgroup").glob("**/pids.max"))[:1]:
        pytest.skip("no pids cgroup controller on this host: a fork bomb is not bounded")
    # Memory enough for a thousand shells: the pids limit, not the OOM killer, stops it.
    name, marker = starve_function(functions, MemorySize=1024, Timeout=10)
    newcomer = functions.create("hostile-newcomer", support.function_zip("python_tool"))

    def bomb_and_cold_start() -> support.Invocation:
        # While the bomb runs: a new function still cold-starts beside it.
        bomb: dict[str, Any] = {}
        t = threading.Thread(target=lambda: bomb.update(r=invoke(
            attack_client(srv), name, {"attack": "fork_bomb"}, tail=True)), daemon=True)
        t.start()
        time.sleep(3)
        if not t.is_alive():
            early = bomb["r"]
            pytest.fail(f"the bomb ended early: {early.payload_bytes[:300]!r}\n{early.log}")
        assert invoke(attack_client(srv), newcomer, {"action": "whoami"}).ok()
        t.join(120)
        return bomb["r"]

    result = under_attack(srv, control, bomb_and_cold_start)
    err = result.error()
    assert err["errorType"] == "Sandbox.Timedout", err
    assert re.search(r"fork refused with EAGAIN after \d+ forks", result.log or ""), (
        f"the pids limit never refused a fork:\n{result.log}")
    assert_nothing_left(instance_of(result.log or ""), marker)
    # The function itself recovers: the next invocation gets a fresh instance.
    assert invoke(srv.lambda_, name, {"attack": "noop"}).ok() == {"ok": True}


def test_endless_allocation_is_an_out_of_memory_error(srv, control, functions):
    if "NOT enforced: memory and CPU limits" in srv.stderr_tail(100_000):
        pytest.skip("rootless without a delegated cgroup: gust said at start that it does "
                    "not limit memory (an endless allocation would take the host's)")
    name, marker = starve_function(functions, MemorySize=128, Timeout=60)
    result = under_attack(srv, control, lambda: invoke(
        attack_client(srv), name, {"attack": "allocate"}, tail=True))
    err = result.error()
    # AWS reports an instance the OOM killer ended as Runtime.OutOfMemory (the
    # Telemetry API's platform.report errorType); the message is the runtime's exit.
    assert err["errorType"] == "Runtime.OutOfMemory", err
    assert "Runtime exited with error: signal: killed" in err["errorMessage"], err
    report = re.search(r"Memory Size: (\d+) MB\tMax Memory Used: (\d+) MB", result.log or "")
    assert report, f"no REPORT line in the log tail:\n{result.log}"
    size, used = int(report.group(1)), int(report.group(2))
    assert size == 128
    assert 0.9 * size <= used <= size, f"Max Memory Used {used} MB for a {size} MB function"
    assert_nothing_left(instance_of(result.log or ""), marker)
    assert invoke(srv.lambda_, name, {"attack": "noop"}).ok() == {"ok": True}


def test_spinning_on_every_core_times_out_and_others_answer(srv, control, functions):
    # 3538 MB is two vCPUs' worth: the most this function may use on a two-core host.
    name, marker = starve_function(functions, MemorySize=3538, Timeout=5)
    result = under_attack(srv, control, lambda: invoke(
        attack_client(srv), name, {"attack": "spin"}, tail=True))
    err = result.error()
    assert err["errorType"] == "Sandbox.Timedout", err
    assert "spinning in" in (result.log or ""), result.log
    assert_nothing_left(instance_of(result.log or ""), marker)


def test_filling_tmp_stops_at_the_ephemeral_storage_size(srv, control, functions):
    # Memory above /tmp's size, for a host where /tmp is a tmpfs, charged to the
    # instance's memory (rootless); with root it is an ext4 image on disk, whose own
    # metadata takes a few percent of it.
    name, _ = starve_function(functions, MemorySize=1024, Timeout=60,
                              EphemeralStorage={"Size": 512})
    result = under_attack(srv, control, lambda: invoke(
        attack_client(srv), name, {"attack": "fill_tmp"}))
    body = result.ok()
    assert body["error"] == "ENOSPC", body
    assert 0.97 * 512 * MB <= body["tmp_size"] <= 512 * MB, body
    assert 0.95 * 512 * MB <= body["written"] <= body["tmp_size"], body
