"""What one function can take from gust through its own Runtime API and its log:
connections to the Runtime API are capped per instance (the rest of the host's
functions keep answering), and a log flood cannot grow gust's memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import support
from conftest import GustServer, isolation
from conftest import descendants as conftest_descendants
from support import invoke

# An instance may hold this many Runtime API connections (gust_worker's
# MAX_CONNECTIONS).
MAX_CONNECTIONS = 8


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def sockets_per_netns(srv: GustServer) -> dict[str, int]:
    """How many of gust's sockets live in each network namespace of its instances
    (an instance's Runtime API listener and the connections gust accepted on it),
    read from the sockets tables of the instances' processes."""
    mine = socket_inodes(srv.proc.pid)
    own = os.readlink(f"/proc/{srv.proc.pid}/ns/net")
    counts: dict[str, int] = {own: 0}  # gust's own namespace is not an instance's
    for pid in conftest_descendants(srv.proc.pid):
        try:
            netns = os.readlink(f"/proc/{pid}/ns/net")
            if netns in counts:
                continue
            inodes = set()
            for table in ("tcp", "tcp6"):
                lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
                inodes.update(line.split()[9] for line in lines)
        except OSError:
            continue
        counts[netns] = len(inodes & mine)
    del counts[own]
    return counts


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.fixture
def srv(start_server) -> GustServer:
    """A private server: its descriptors and memory are this test's alone."""
    return start_server("--memory", "2048", "--idle-ttl", "10m")


@pytest.fixture
def hostile_zip() -> bytes:
    return support.function_zip("hostile_runtime_api")


def test_connections_to_the_runtime_api_are_capped(srv, hostile_zip, python_tool_zip):
    lam = srv.lambda_
    attacker = support.unique_name("rtapi-conns")
    control = support.unique_name("rtapi-control")
    srv.create_function(attacker, hostile_zip, Timeout=60)
    srv.create_function(control, python_tool_zip)
    invoke(lam, control, {"action": "whoami"}).ok()
    # Warm: the attacker's instance and its own descriptors exist before counting.
    before_pid = invoke(lam, attacker, {"action": "whoami"}).ok()["pid"]
    baseline = open_fds(srv.proc.pid)

    attack = invoke(lam, attacker, {"action": "connect", "connections": 1000}).ok()
    assert attack["opened"] >= 900, f"the attack did not get its connections: {attack}"
    assert attack["refused"] >= attack["opened"] - MAX_CONNECTIONS, attack

    # The function still holds every socket it opened; gust holds at most the cap
    # (plus the listener, and one being refused at this very moment) in the
    # attacker's network namespace...
    per_netns = sockets_per_netns(srv)
    assert per_netns or isolation() == "none", "no instance namespace found"
    held = max(per_netns.values(), default=0)
    assert held <= MAX_CONNECTIONS + 2, (
        f"gust holds {held} sockets in the attacker's namespace while it holds "
        f"{attack['held']} connections to its Runtime API")
    # ...and its descriptor count barely moved (the sandbox pool refilling in the
    # background may add a few: nothing like one per connection).
    during = open_fds(srv.proc.pid)
    assert during - baseline < 100, (
        f"gust went from {baseline} to {during} open descriptors while the function "
        f"held {attack['held']} connections to its Runtime API")
    # Another function keeps answering, cold and warm, and so does the attacker's
    # own runtime on its connection.
    other = support.unique_name("rtapi-cold")
    srv.create_function(other, python_tool_zip)
    invoke(lam, other, {"action": "whoami"}).ok()
    invoke(lam, control, {"action": "whoami"}).ok()
    again = invoke(lam, attacker, {"action": "whoami"}).ok()
    assert again == {"pid": before_pid, "held": attack["held"]}, again
    assert max(sockets_per_netns(srv).values(), default=0) <= MAX_CONNECTIONS + 2


def test_a_newline_flood_leaves_gust_memory_bounded(srv, hostile_zip):
    lam = srv.lambda_
    name = support.unique_name("log-flood")
    srv.create_function(name, hostile_zip, Timeout=300)
    invoke(lam, name, {"action": "newlines", "bytes": 1000}).ok()
    baseline = rss_kb(srv.proc.pid)
    # Five million empty lines: ~100 bytes each in memory if they were kept
    # (the ring slot and the request id), so ~500 MB without a bound.
    flood = 5_000_000
    assert invoke(lam, name, {"action": "newlines", "bytes": flood}).ok() == {"written": flood}
    grown_mb = (rss_kb(srv.proc.pid) - baseline) / 1024
    assert grown_mb < 100, (
        f"gust's RSS grew by {grown_mb:.0f} MB for a 1 MiB log budget after {flood} "
        "empty lines")
    # The log kept the newest lines, within its budget: the REPORT is there.
    body = srv.logs(name)
    assert body["events"] and body["events"][-1]["message"].startswith("REPORT"), body
