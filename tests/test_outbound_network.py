"""Outbound network per function: off by default (an instance has only its loopback),
turned on with the gust-only `PUT /gust/v1/functions/{name}/network`, after which
new instances get a link to the host with NAT beyond it, and still cannot reach the
host itself (its loopback, its own addresses, the gust API), link-local addresses
(where a cloud's instance metadata is) or another instance.

Every packet stays on this machine: the "outside" is a network namespace the test
makes, with a listener in it that answers with the address it saw, which shows the
masquerading. It needs the Linux sandbox and ip, nsenter and nft on the host
(scripts/test installs nftables); otherwise the file is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

import support
from conftest import GustServer, isolation
from support import invoke

MISSING = [tool for tool in ("ip", "nsenter", "nft") if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.skipif(isolation() == "none",
                       reason="GUST_TEST_ISOLATION=none: instances share the host's network"),
    pytest.mark.skipif(bool(MISSING), reason=f"outbound network needs {', '.join(MISSING)}"),
]


@pytest.fixture(scope="module")
def srv(gust_bin: Path, tmp_path_factory) -> Iterator[GustServer]:
    server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-network"),
                        ["--memory", "4096", "--idle-ttl", "120s"])
    server.start()
    try:
        if server.health()["isolation"] != "linux":
            pytest.skip("the Linux sandbox is unavailable here: instances share the host's "
                        "network")
        yield server
    finally:
        server.stop()


@pytest.fixture
def probe(srv: GustServer) -> Iterator[str]:
    name = support.unique_name("net-probe")
    srv.create_function(name, support.function_zip("network_probe"), Timeout=30)
    yield name
    srv.delete_quietly(name)


def network(srv: GustServer, name: str, body: Any = None) -> requests.Response:
    path = f"{srv.url}/gust/v1/functions/{name}/network"
    if body is None:
        return requests.get(path, timeout=30)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.put(path, data=data, timeout=30)


def allow_outbound(srv: GustServer, name: str, on: bool = True) -> None:
    resp = network(srv, name, {"outbound": on})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"outbound": on}
    assert network(srv, name).json() == {"outbound": on}


def run_probe(srv: GustServer, name: str, *targets: tuple[str, int]) -> dict[str, Any]:
    return invoke(srv.lambda_, name, {"action": "probe", "targets": list(targets)}).ok()


class Listener:
    """A TCP service on the host that answers each connection with the address it
    came from."""

    def __init__(self, address: str):
        self.sock = socket.create_server((address, 0))
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            with conn:
                conn.sendall(f"you are {peer[0]}\n".encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def host_services() -> Iterator[tuple[Listener, Listener]]:
    everywhere, loopback = Listener("0.0.0.0"), Listener("127.0.0.1")
    yield everywhere, loopback
    everywhere.close()
    loopback.close()


def test_outbound_is_off_by_default_and_turns_on(srv, probe):
    assert network(srv, probe).json() == {"outbound": False}
    before = run_probe(srv, probe)
    assert before["interfaces"] == ["lo"] and before["gateway"] is None, before

    allow_outbound(srv, probe)
    after = run_probe(srv, probe)
    assert after["interfaces"] == ["eth0", "lo"], after
    assert after["gateway"].startswith("10.213."), after


@contextlib.contextmanager
def outside_netns(prefix: str) -> Iterator[tuple[str, int]]:
    """A network namespace standing for a machine beyond the host: a veth to the host
    on a /30 of its own in `prefix`.0.0/16 and a listener in it that answers with the
    address it saw. Yields (address, port); removes the namespace (and so the veth)
    afterwards."""
    tag = uuid.uuid4().hex[:8]
    netns, link = f"gust-outside-{tag}", f"gto{tag[:6]}"
    third = int(tag[:2], 16)
    host_ip, outside_ip = f"{prefix}.{third}.1", f"{prefix}.{third}.2"
    listener = None

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    try:
        ip("netns", "add", netns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("addr", "add", f"{host_ip}/30", "dev", link)
        ip("link", "set", link, "up")
        ip("-n", netns, "addr", "add", f"{outside_ip}/30", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        script = (
            "import socket, sys\n"
            f"s = socket.create_server(('{outside_ip}', 0))\n"
            "print(s.getsockname()[1], flush=True)\n"
            "while True:\n"
            "    c, peer = s.accept()\n"
            "    c.sendall(('you are ' + peer[0] + '\\n').encode())\n"
            "    c.close()\n")
        listener = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", script],
                                    stdout=subprocess.PIPE, text=True)
        port = int(listener.stdout.readline())
        yield outside_ip, port
    finally:
        if listener is not None:
            listener.kill()
            listener.wait(10)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/sys/class/net/{link}").exists():
            time.sleep(0.1)
        assert not Path(f"/sys/class/net/{link}").exists(), f"{link} was left behind"


@pytest.fixture
def outside() -> Iterator[tuple[str, int]]:
    """The world beyond the host (see outside_netns)."""
    with outside_netns("10.214") as where:
        yield where


@pytest.fixture
def metadata_service() -> Iterator[tuple[str, int]]:
    """A machine on a link-local address beyond the host, where a cloud's instance
    metadata service (169.254.169.254) would be."""
    with outside_netns("169.254") as where:
        yield where


def test_outbound_instances_cannot_reach_link_local_addresses(
        srv, probe, outside, metadata_service):
    allow_outbound(srv, probe)
    result = run_probe(srv, probe, outside, metadata_service)
    world, link_local = result["attempts"]
    # The control: the same route reaches the world.
    assert world["ok"], result
    assert not link_local["ok"], f"reached a link-local address: {result}"


def test_outbound_instances_cannot_reach_the_host_itself(srv, probe, outside, host_services):
    everywhere, _ = host_services
    address, port = outside
    # The host's own address on the outside's link, and the instance's gateway: both
    # the host's, where a service listens on every address.
    host_address = address.rsplit(".", 1)[0] + ".1"
    allow_outbound(srv, probe)
    result = run_probe(srv, probe, (address, port), (host_address, everywhere.port),
                       ("gateway", everywhere.port))
    world, *host = result["attempts"]
    assert world["ok"], result
    assert not any(a["ok"] for a in host), f"reached the host: {result}"
    assert everywhere.peers == []


def test_outbound_traffic_leaves_through_nat(srv, probe, outside):
    address, port = outside
    direct = run_probe(srv, probe, (address, port))
    assert not direct["attempts"][0]["ok"], "reached the outside without outbound network"

    allow_outbound(srv, probe)
    result = run_probe(srv, probe, (address, port))
    [attempt] = result["attempts"]
    assert attempt["ok"], result
    # The outside saw the host's address on its link, not the instance's: masquerade.
    seen = attempt["reply"].removeprefix("you are ")
    assert seen == address.rsplit(".", 1)[0] + ".1", result
    assert seen != result["address"]


def test_outbound_instances_still_cannot_reach_the_hosts_loopback_or_each_other(
        srv, probe, host_services):
    _, loopback = host_services
    api_port = int(srv.url.rsplit(":", 1)[1])
    victim = support.unique_name("net-victim")
    srv.create_function(victim, support.function_zip("network_probe"), Timeout=30)
    try:
        allow_outbound(srv, probe)
        allow_outbound(srv, victim)
        holder: dict[str, Any] = {}
        t = threading.Thread(target=lambda: holder.update(r=invoke(
            srv.new_lambda_client(), victim, {"action": "listen", "port": 9556, "hold_s": 8})),
            daemon=True)
        t.start()
        listening = support.wait_until(lambda: [
            e["message"] for e in srv.logs(victim)["events"]
            if e["message"].startswith("LISTENING")], 30, message="the victim to listen")
        victim_address = listening[0].split()[1]
        assert victim_address.startswith("10.213."), listening

        # gust's API answers inside every instance on its own loopback, at gust's
        # port (tests/test_functions_call_gust.py); through the link, the host's
        # side of it (where gust also listens) stays closed.
        result = run_probe(srv, probe, ("gateway", api_port),
                           ("gateway", loopback.port), (victim_address, 9556))
        leaked = [a for a in result["attempts"] if a["ok"]]
        assert not leaked, f"reached with outbound network on: {leaked}"
        t.join(60)
        assert holder["r"].ok() == {"accepted": 0}
        assert loopback.peers == []
    finally:
        srv.delete_quietly(victim)


def test_turning_outbound_off_retires_instances_that_had_it(srv, probe):
    allow_outbound(srv, probe)
    on = run_probe(srv, probe)
    assert on["interfaces"] == ["eth0", "lo"]
    assert run_probe(srv, probe)["instance"] == on["instance"], "not a warm instance"
    allow_outbound(srv, probe, False)
    off = run_probe(srv, probe)
    assert off["instance"] != on["instance"], "a warm instance kept its link"
    assert off["interfaces"] == ["lo"], off


def test_the_setting_survives_a_restart(start_server):
    first = start_server()
    name = support.unique_name("net-restart")
    first.create_function(name, support.function_zip("network_probe"), Timeout=30)
    allow_outbound(first, name)
    first.stop()
    second = start_server(data_dir=first.data_dir)
    assert network(second, name).json() == {"outbound": True}
    assert run_probe(second, name)["interfaces"] == ["eth0", "lo"]
    second.delete_quietly(name)


@pytest.mark.parametrize("body,status,kind", [
    (b'{"outbound": "yes"}', 400, "InvalidRequestContentException"),
    (b'{"outbound": true, "ports": [80]}', 400, "InvalidRequestContentException"),
    (b"not json", 400, "InvalidRequestContentException"),
    (b"[" * 100_000, 400, "InvalidRequestContentException"),
])
def test_invalid_settings_are_refused(srv, probe, body, status, kind):
    resp = network(srv, probe, body)
    assert (resp.status_code, resp.headers.get("x-amzn-errortype")) == (status, kind), resp.text
    assert network(srv, probe).json() == {"outbound": False}


def test_unknown_and_qualified_functions(srv, probe):
    missing = support.unique_name("net-missing")
    resp = network(srv, missing, {"outbound": True})
    assert (resp.status_code, resp.headers.get("x-amzn-errortype")) == (
        404, "ResourceNotFoundException"), resp.text
    assert network(srv, missing).status_code == 404
    resp = network(srv, f"{probe}:1", {"outbound": True})
    assert (resp.status_code, resp.headers.get("x-amzn-errortype")) == (
        400, "InvalidParameterValueException"), resp.text


# ------------------------------------------- the host set-up is undone by the last gust


class NetnsGust(GustServer):
    """A gust serve in the network namespace `netns`, driven through the CLI run in
    that namespace too (its API listens on the namespace's loopback)."""

    def __init__(self, gust_bin: Path, workdir: Path, netns: str):
        super().__init__(gust_bin, workdir, ["--memory", "1024"])
        self.netns = netns
        # Not `ip netns exec`, which mounts a sysfs of its own over /sys and so hides
        # the cgroup hierarchies.
        self.args = [*enter(netns), *self.args]

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*enter(self.netns), str(self.binary), "--endpoint", self.url, *args],
            capture_output=True, text=True, timeout=kwargs.get("timeout", 60),
            env=support.env_for_subprocess(), stdin=subprocess.DEVNULL)

    def ok(self, *args: str) -> str:
        proc = self.cli(*args)
        assert proc.returncode == 0, (
            f"gust {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout


def enter(netns: str) -> list[str]:
    """The command prefix that runs a program in the network namespace `netns`."""
    return ["nsenter", f"--net=/run/netns/{netns}"]


def in_netns(netns: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run([*enter(netns), *cmd], capture_output=True, text=True, timeout=30)


def forward_policy(netns: str) -> str | None:
    """The policy of gust's forward chain in `netns`, None when its table is gone."""
    listed = in_netns(netns, "nft", "list", "chain", "ip", "gust_outbound", "forward")
    if listed.returncode != 0:
        return None
    return listed.stdout.split("policy ", 1)[1].split(";", 1)[0]


def ip_forward(netns: str) -> str:
    return in_netns(netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()


@pytest.fixture
def own_netns() -> Iterator[str]:
    """A network namespace of the test's own, so that no other gust shares its
    forwarding setting and nftables table; forwarding starts off, as on a host that
    forwards nothing."""
    netns = f"gust-own-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True,
                       capture_output=True, timeout=30)
        assert in_netns(netns, "sysctl", "-qw", "net.ipv4.ip_forward=0").returncode == 0
        yield netns
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


def test_the_last_gust_to_stop_removes_its_table_and_turns_forwarding_back_off(
        gust_bin, tmp_path, own_netns):
    servers = [NetnsGust(gust_bin, tmp_path / name, own_netns) for name in ("first", "second")]
    try:
        for s in servers:
            s.start()
            if json.loads(s.ok("health", "--output", "json"))["isolation"] != "linux":
                pytest.skip("the Linux sandbox is unavailable here")
            name = support.unique_name("net-own")
            s.ok("deploy", str(support.FUNCTIONS_DIR / "network_probe"), "--name", name,
                 "--timeout", "30", "--outbound", "on")
            probed = json.loads(s.ok("invoke", name, '{"action": "probe", "targets": []}'))
            assert probed["interfaces"] == ["eth0", "lo"], probed
        # gust turned forwarding on, so it forwards for instances only.
        assert ip_forward(own_netns) == "1"
        assert forward_policy(own_netns) == "drop"

        first, second = servers
        first.stop()
        assert forward_policy(own_netns) == "drop", "removed while another gust uses it"
        assert ip_forward(own_netns) == "1"
        name = support.unique_name("net-still")
        second.ok("deploy", str(support.FUNCTIONS_DIR / "network_probe"), "--name", name,
                  "--outbound", "on")
        probed = json.loads(second.ok("invoke", name, '{"action": "probe", "targets": []}'))
        assert probed["interfaces"] == ["eth0", "lo"], probed

        second.stop()
        assert forward_policy(own_netns) is None, "the last gust left its table behind"
        assert ip_forward(own_netns) == "0", "forwarding stayed on after the last gust"
    finally:
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                s.stop(check=False)
