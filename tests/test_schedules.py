"""Schedules end to end: the gust-only API and CLI, EventBridge's scheduled-event
payload, and restarts that neither lose nor double a firing.

EventBridge's smallest rate is one minute; the servers here run with the testing aid
`--allow-second-rates` so a test sees several firings in seconds. Each function
reports a firing by printing the event's scheduled `time` to its log, which the tests
read through GET /gust/v1/functions/{name}/logs.
"""

from __future__ import annotations

import calendar
import json
import time
from typing import Any

import pytest
import requests

import support
from conftest import GustServer

TICK_APP = """
import json

def handler(event, context):
    print("FIRED " + json.dumps(event, sort_keys=True))
    return "ok"
"""


def api(srv: GustServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, srv.url + "/gust/v1/schedules" + path, json=body, timeout=30)


def add_rule(srv: GustServer, name: str, function: str, expression: str, **extra) -> dict:
    resp = api(srv, "POST", "", {"name": name, "function": function, "expression": expression,
                                 **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def events_since(srv: GustServer, function: str, after: int = 0) -> tuple[list[dict], int]:
    """The scheduled events the function logged after `after`, and the next position."""
    out = srv.logs(function, after=after, limit=10000)
    fired = [json.loads(e["message"].split("FIRED ", 1)[1])
             for e in out["events"] if "FIRED " in e["message"]]
    return fired, out["nextSeq"]


def wait_for_events(srv: GustServer, function: str, count: int, timeout: float,
                    after: int = 0) -> tuple[list[dict], int]:
    """Waits until at least `count` events were logged after `after`."""
    seen: list[dict] = []
    pos = after
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(seen)} of {count} firings within {timeout}s: {seen}"
        out = srv.logs(function, after=pos, wait=max(1, min(int(left), 10)))
        seen += [json.loads(e["message"].split("FIRED ", 1)[1])
                 for e in out["events"] if "FIRED " in e["message"]]
        pos = out["nextSeq"]
    return seen, pos


def epoch(t: str) -> int:
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))


def test_schedule_api_validates_and_manages_rules(server: GustServer, make_function):
    fn = make_function("sched-api", support.make_zip({"app.py": TICK_APP}))
    created = add_rule(server, "weekday-noon", fn, "cron(0 12 ? * MON-FRI *)",
                       input={"report": "daily"}, description="the noon report")
    assert created["arn"] == f"arn:aws:events:{support.REGION}:{support.ACCOUNT}:rule/weekday-noon"
    assert created["function"] == fn
    assert created["input"] == {"report": "daily"}
    nxt = time.strptime(created["nextFire"], "%Y-%m-%dT%H:%M:%SZ")
    assert (nxt.tm_hour, nxt.tm_min, nxt.tm_sec) == (12, 0, 0) and nxt.tm_wday < 5
    assert "lastFired" not in created

    for expression, why in [
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "plural"),
        ("rate(10 seconds)", "minute(s), hour(s) or day(s)"),  # seconds: testing aid only
        ("cron(0 12 * * * *)", "'?'"),
        ("cron(0 12 * *)", "six fields"),
        ("every day", "neither"),
    ]:
        resp = api(server, "POST", "", {"name": "bad", "function": fn, "expression": expression})
        assert resp.status_code == 400, (expression, resp.text)
        assert why in resp.json()["message"], (expression, resp.json())
    resp = api(server, "POST", "", {"name": "x", "function": "no-such-fn",
                                     "expression": "rate(5 minutes)"})
    assert resp.status_code == 404
    resp = api(server, "POST", "", {"name": "bad/name", "function": fn,
                                     "expression": "rate(5 minutes)"})
    assert resp.status_code == 400
    resp = api(server, "POST", "", {"name": "weekday-noon", "function": fn,
                                     "expression": "rate(5 minutes)"})
    assert resp.status_code == 409

    assert api(server, "GET", "/weekday-noon").json()["expression"] == "cron(0 12 ? * MON-FRI *)"
    names = [s["name"] for s in api(server, "GET", "").json()["schedules"]]
    assert "weekday-noon" in names
    assert api(server, "DELETE", "/weekday-noon").status_code == 204
    assert api(server, "GET", "/weekday-noon").status_code == 404
    assert api(server, "DELETE", "/weekday-noon").status_code == 404


def test_cli_adds_lists_and_removes_rules(server: GustServer, make_function):
    fn = make_function("sched-cli", support.make_zip({"app.py": TICK_APP}))
    rule = support.unique_name("cli-rule")
    added = server.cli("schedule", "add", rule, "--function", fn,
                       "--expression", "rate(5 minutes)", "--input", '{"k": 1}')
    assert added.returncode == 0, added.stderr
    assert rule in added.stdout and "next firing" in added.stdout
    listed = server.cli("schedule", "list")
    assert listed.returncode == 0
    line = next(l for l in listed.stdout.splitlines() if l.startswith(rule))
    assert "rate(5 minutes)" in line and fn in line
    bad = server.cli("schedule", "add", "x", "--function", fn, "--expression", "rate(1 minutes)")
    assert bad.returncode != 0 and "singular" in bad.stderr
    bad_input = server.cli("schedule", "add", "x", "--function", fn,
                           "--expression", "rate(5 minutes)", "--input", "{not json")
    assert bad_input.returncode != 0 and "--input must be JSON" in bad_input.stderr
    removed = server.cli("schedule", "remove", rule)
    assert removed.returncode == 0
    assert rule not in server.cli("schedule", "list").stdout


def test_rules_fire_with_eventbridge_scheduled_events(start_server):
    srv = start_server("--allow-second-rates")
    srv.create_function("ticker", support.make_zip({"app.py": TICK_APP}))
    srv.create_function("fixed", support.make_zip({"app.py": TICK_APP}))
    rule = add_rule(srv, "every-second", "ticker", "rate(1 second)")
    add_rule(srv, "with-input", "fixed", "rate(1 second)", input={"report": "hourly", "n": 1})
    fired, _ = wait_for_events(srv, "ticker", 3, timeout=20)
    created = epoch(rule["created"])
    times = [epoch(e["time"]) for e in fired]
    assert times == list(range(times[0], times[0] + len(times))), times
    assert times[0] > created, "a rate's first firing is one period after creation"
    for e in fired:
        assert e["version"] == "0"
        assert e["detail-type"] == "Scheduled Event"
        assert e["source"] == "aws.events"
        assert e["account"] == support.ACCOUNT
        assert e["region"] == support.REGION
        assert e["resources"] == [rule["arn"]]
        assert e["detail"] == {}
        assert len(e["id"]) == 36
    assert len({e["id"] for e in fired}) == len(fired)
    inputs, _ = wait_for_events(srv, "fixed", 1, timeout=20)
    assert inputs[0] == {"n": 1, "report": "hourly"}, "Input replaces the scheduled event"
    state = api(srv, "GET", "/every-second").json()
    assert epoch(state["lastFired"]) >= times[-1]
    # A deleted rule stops firing.
    assert api(srv, "DELETE", "/every-second").status_code == 204
    time.sleep(1.5)
    _, pos = events_since(srv, "ticker")
    time.sleep(2.5)
    later, _ = events_since(srv, "ticker", after=pos)
    assert later == [], later


def test_restarts_neither_lose_nor_double_firings(start_server):
    period = 3
    srv = start_server("--allow-second-rates")
    srv.create_function("tick", support.make_zip({"app.py": TICK_APP}))
    add_rule(srv, "every-3s", "tick", f"rate({period} seconds)")

    # Run until three firings, and stop right after one: the next is seconds away.
    first, _ = wait_for_events(srv, "tick", 3, timeout=30)
    before, _ = events_since(srv, "tick")
    srv.stop()

    # A quick restart: every scheduled time must fire exactly once (one missed
    # while down is made up at start-up, within the grace window).
    srv2 = start_server("--allow-second-rates", data_dir=srv.data_dir)
    assert [s["name"] for s in api(srv2, "GET", "").json()["schedules"]] == ["every-3s"]
    after, _ = wait_for_events(srv2, "tick", 3, timeout=30)
    after_all, _ = events_since(srv2, "tick")
    times = [epoch(e["time"]) for e in before + after_all]
    assert len(times) == len(set(times)), f"a firing was doubled: {times}"
    assert times == list(range(times[0], times[0] + period * len(times), period)), \
        f"a firing was lost: {times}"

    # A longer outage: two or more firings are missed; the rule fires once for the
    # latest of them at start-up and skips the others (the documented policy).
    last_before = times[-1]
    srv2.stop()
    down_from = time.time()
    time.sleep(2 * period + 1.5)
    srv3 = start_server("--allow-second-rates", data_dir=srv.data_dir)
    up_at = time.time()
    later, _ = wait_for_events(srv3, "tick", 2, timeout=30)
    later_times = [epoch(e["time"]) for e in later]
    missed = list(range(last_before + period, int(up_at) + 1, period))
    assert len(missed) >= 2, (last_before, down_from, up_at)
    catch_up = later_times[0]
    assert catch_up in missed and catch_up > missed[0], (
        f"start-up must fire once, for the latest missed time, not {later_times} of {missed}")
    assert not {t for t in missed if t < catch_up} & set(later_times), \
        "older missed firings are skipped"
    assert len(later_times) == len(set(later_times))
    assert later_times[1] == catch_up + period
