"""Freezing idle instances (`gust serve --freeze-idle-after`): as on Lambda, what a
function leaves running between invocations does not run while its instance is idle
and frozen, and the next invocation thaws it and is answered by the same instance.

The function counts ticks of a background thread (one every 10 ms). Across an idle
gap of 1.5 s the count barely moves with freezing on (only until the instance is
frozen), and moves by about 150 with it off. The tests compare counts, never
latencies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import support
from support import invoke, wait_until

# The bench's ticker handler: its background thread ticks every 10 ms.
TICKER = (Path(__file__).resolve().parent.parent / "bench" / "handlers" / "ticker.py").read_text()

IDLE_GAP = 1.5


def _host_can_freeze() -> bool:
    """A cgroup v1 freezer, or a pure cgroup v2 host (whose cgroups all have one)."""
    return (Path("/sys/fs/cgroup/freezer/tasks").exists()
            or Path("/sys/fs/cgroup/cgroup.controllers").exists())


def _ticks_across_idle_gap(srv, name: str) -> tuple[int, set[str]]:
    """Ticks counted by the function while it sat idle for IDLE_GAP, and the
    instances that answered."""
    lam = srv.lambda_
    first = invoke(lam, name, {"n": 1}).ok()
    assert first["echo"] == {"n": 1}
    time.sleep(IDLE_GAP)
    second = invoke(lam, name, {"n": 2}).ok()
    assert second["echo"] == {"n": 2}
    return second["ticks"] - first["ticks"], {first["instance"], second["instance"]}


@pytest.fixture
def linux_server(start_server):
    def start(*args: str):
        srv = start_server(*args)
        if srv.health()["isolation"] != "linux" or not _host_can_freeze():
            pytest.skip("freezing needs the Linux sandbox and a cgroup freezer")
        return srv
    return start


def test_an_idle_frozen_instance_does_not_run_and_answers_after_the_thaw(linux_server):
    srv = linux_server("--freeze-idle-after", "200ms")
    name = support.unique_name("freeze")
    srv.create_function(name, support.make_zip({"app.py": TICKER}), Timeout=30)
    invoke(srv.lambda_, name, {"warm": True}).ok()  # the cold start

    advanced, instances = _ticks_across_idle_gap(srv, name)
    # Frozen within 250 ms of going idle: at most ~25 of the gap's ~150 ticks.
    assert advanced <= 50, f"the background thread ran while frozen: {advanced} ticks"
    assert len(instances) == 1, f"the thaw started a new instance: {instances}"

    # Thawed, it runs again: its thread ticks while it is busy and answers every
    # invocation on the same instance.
    seen = [invoke(srv.lambda_, name, {"i": i}).ok() for i in range(5)]
    assert [s["echo"] for s in seen] == [{"i": i} for i in range(5)]
    assert {s["instance"] for s in seen} == instances
    busy = invoke(srv.lambda_, name, {}).ok()
    wait_until(lambda: invoke(srv.lambda_, name, {}).ok()["ticks"] > busy["ticks"], 10,
               message="the thawed thread to tick")

    # A frozen instance is stopped when its function goes (and the server's stop
    # finds none of its processes left).
    time.sleep(0.5)
    assert srv.health()["instances"] == 1
    srv.lambda_.delete_function(FunctionName=name)
    wait_until(lambda: srv.health()["instances"] == 0, 20,
               message="the frozen instance to be stopped")


def test_with_freezing_off_the_idle_instance_keeps_running(linux_server):
    srv = linux_server("--freeze-idle-after", "off")
    name = support.unique_name("nofreeze")
    srv.create_function(name, support.make_zip({"app.py": TICKER}), Timeout=30)
    invoke(srv.lambda_, name, {"warm": True}).ok()
    advanced, instances = _ticks_across_idle_gap(srv, name)
    # ~150 ticks in 1.5 s; a loaded host stretches the 10 ms sleeps somewhat.
    assert advanced >= 90, f"the background thread barely ran: {advanced} ticks"
    assert len(instances) == 1
