"""Invocation logs: Lambda's START/END/REPORT lines, the `Tail` log, and gust's
logs endpoint."""

from __future__ import annotations

import re
import time

import pytest

import support
from support import invoke, wait_until

REPORT_RE = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
    r"Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)


@pytest.fixture
def tool(make_function, python_tool_zip):
    return make_function("logs-tool", python_tool_zip)


def test_tail_log_has_output_and_platform_lines(lam, tool):
    marker = support.unique_name("hello-log")
    cold = invoke(lam, tool, {"action": "print", "lines": [marker]}, tail=True)
    cold.ok()
    log = cold.log
    assert log is not None, "LogType=Tail must return X-Amz-Log-Result"
    rid = cold.request_id
    assert marker in log
    assert f"START RequestId: {rid}" in log
    assert f"END RequestId: {rid}" in log
    report = REPORT_RE.search(log)
    assert report, log
    assert report["id"] == rid
    assert report["memory"] == "128"
    assert int(report["billed"]) >= float(report["duration"]) - 1
    assert report["init"] is not None, f"a cold start reports Init Duration:\n{log}"
    assert "Init Duration:" in log
    # Order: START, the function's output, END, REPORT.
    assert log.index("START RequestId") < log.index(marker) < log.index("END RequestId") \
        < log.index("REPORT RequestId")

    warm = invoke(lam, tool, {"action": "print", "lines": [marker + "-warm"]}, tail=True)
    warm.ok()
    assert marker + "-warm" in warm.log
    assert rid not in warm.log, "the tail holds this invocation's log only"
    assert f"REPORT RequestId: {warm.request_id}" in warm.log
    assert "Init Duration:" not in warm.log, f"a warm invocation has no Init Duration:\n{warm.log}"
    assert "Memory Size: 128 MB" in warm.log
    assert "Max Memory Used:" in warm.log
    assert "Billed Duration:" in warm.log


def test_tail_is_at_most_4kb_and_keeps_the_end(lam, tool):
    lines = [f"line {i:05d} " + "." * 80 for i in range(200)]
    result = invoke(lam, tool, {"action": "print", "lines": lines}, tail=True)
    result.ok()
    assert len(result.log.encode()) <= 4096
    assert f"REPORT RequestId: {result.request_id}" in result.log
    assert "line 00000" not in result.log, "the tail is the last 4 KB, not the first"


def test_no_log_without_tail(lam, tool):
    result = invoke(lam, tool, {"action": "whoami"})
    assert result.log is None


def test_function_error_log_tail(lam, tool):
    result = invoke(lam, tool, {"action": "raise", "message": "logged-boom"}, tail=True)
    result.error()
    assert "logged-boom" in result.log
    assert f"REPORT RequestId: {result.request_id}" in result.log


def test_logs_endpoint(server, lam, tool):
    marker = support.unique_name("endpoint-log")
    first = invoke(lam, tool, {"action": "print", "lines": [marker, marker + "-second"]})
    first.ok()

    def have_report(rid):
        def check():
            body = server.logs(tool)
            return body if any(e["message"].startswith(f"REPORT RequestId: {rid}")
                               for e in body["events"]) else None
        return check

    body = wait_until(have_report(first.request_id), 10, message="REPORT in the logs endpoint")
    assert set(body) >= {"events", "nextSeq"}, body
    events = body["events"]
    now_ms = time.time() * 1000
    for e in events:
        assert isinstance(e["seq"], int)
        assert isinstance(e["timestamp"], int)
        assert now_ms - 3_600_000 < e["timestamp"] <= now_ms + 60_000, e
        assert isinstance(e["message"], str) and not e["message"].endswith("\n"), e
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert body["nextSeq"] >= max(seqs)

    mine = [e for e in events if e.get("requestId") == first.request_id]
    messages = [e["message"] for e in mine]
    assert any(m.startswith(f"START RequestId: {first.request_id}") for m in messages), messages
    assert marker in messages and marker + "-second" in messages, messages
    assert any(m.startswith(f"END RequestId: {first.request_id}") for m in messages), messages
    assert messages.index(marker) < messages.index(marker + "-second")

    # Following: nothing new after nextSeq, then only the next invocation's lines.
    later = server.logs(tool, after=body["nextSeq"])
    assert later["events"] == [], later
    second = invoke(lam, tool, {"action": "print", "lines": [marker + "-third"]})
    second.ok()
    newer = wait_until(lambda: (lambda b: b if any(
        e["message"].startswith(f"REPORT RequestId: {second.request_id}") for e in b["events"])
        else None)(server.logs(tool, after=body["nextSeq"])), 10, message="the second REPORT")
    assert all(e["seq"] > max(seqs) for e in newer["events"]), newer
    assert {e.get("requestId") for e in newer["events"] if e.get("requestId")} == \
        {second.request_id}, newer
    assert any(e["message"] == marker + "-third" for e in newer["events"])


def test_logs_endpoint_unknown_function_is_404(server):
    resp = server.get(f"/gust/v1/functions/{support.unique_name('nolog')}/logs")
    assert resp.status_code == 404, resp.text


def test_logs_survive_a_crash(server, lam, tool):
    marker = support.unique_name("before-crash")
    invoke(lam, tool, {"action": "print", "lines": [marker]}).ok()
    crashed = invoke(lam, tool, {"action": "exit", "code": 7})
    crashed.error()
    body = wait_until(lambda: (lambda b: b if any(
        e["message"].startswith(f"REPORT RequestId: {crashed.request_id}") for e in b["events"])
        else None)(server.logs(tool)), 10, message="the crashed invocation's REPORT")
    assert any(e["message"] == marker for e in body["events"])


# ---------------------------------------------------------------- as Lambda writes them

INIT_START_RE = re.compile(
    r"^INIT_START Runtime Version: (?P<version>[a-z]+:[0-9a-z.]+\.v\d+)\t"
    r"Runtime Version ARN: arn:aws:lambda:(?P<region>[a-z0-9-]+)::runtime:(?P<hash>[0-9a-f]{64})$")


def _records(server, name: str, until: str) -> list[dict]:
    """The function's log records once one starting with `until` is there."""
    return wait_until(lambda: (lambda b: b["events"] if any(
        e["message"].startswith(until) for e in b["events"]) else None)(server.logs(name)),
        10, message=f"a log record starting with {until!r}")


def test_init_start_carries_the_runtime_version(server, lam, make_function, python_tool_zip):
    name = make_function("logs-initstart", python_tool_zip)
    cold = invoke(lam, name, {"action": "whoami"}, tail=True)
    cold.ok()
    line = next(l for l in cold.log.splitlines() if l.startswith("INIT_START"))
    match = INIT_START_RE.match(line)
    assert match, f"INIT_START is not in Lambda's shape: {line!r}"
    assert match["version"].startswith("python:3.11.v"), line
    assert match["region"] == support.REGION
    records = _records(server, name, "REPORT")
    assert [e["message"] for e in records if e["message"].startswith("INIT_START")] == [line]
    # The same runtime, the same version: another function's instance says the same.
    other = make_function("logs-initstart2", python_tool_zip)
    again = invoke(lam, other, {"action": "whoami"}, tail=True)
    assert line in again.log.splitlines(), again.log


LOGGED_TRACEBACK = b'''
import logging

logger = logging.getLogger()


def handler(event, context):
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    if event.get("raise"):
        raise ValueError("unhandled " + event["raise"])
    return "ok"
'''


def test_a_traceback_is_one_log_record(server, lam, make_function):
    name = make_function("logs-traceback", support.make_zip({"app.py": LOGGED_TRACEBACK}))
    result = invoke(lam, name, {"raise": "boom"}, tail=True)
    assert result.error()["errorMessage"] == "unhandled boom"
    records = [e for e in _records(server, name, f"REPORT RequestId: {result.request_id}")
               if e.get("requestId") == result.request_id]
    logged = [e["message"] for e in records if "lookup failed" in e["message"]]
    assert len(logged) == 1, [e["message"] for e in records]
    lines = logged[0].split("\n")
    assert lines[0].startswith("[ERROR]\t") and lines[0].endswith("\tlookup failed"), lines
    assert lines[1] == "Traceback (most recent call last):", lines
    assert lines[-1] == "KeyError: 'missing'", lines
    unhandled = [e["message"] for e in records if e["message"].startswith("[ERROR] ValueError")]
    assert len(unhandled) == 1, [e["message"] for e in records]
    lines = unhandled[0].split("\n")
    assert lines[0] == "[ERROR] ValueError: unhandled boom", lines
    assert lines[1] == "Traceback (most recent call last):", lines
    assert 'app.py", line 13, in handler' in lines[2], lines
    assert "raise ValueError" in lines[3], lines
    # Nothing of either traceback was left over as records of its own.
    assert not any(e["message"].startswith(("Traceback", "  File", "\u00a0\u00a0File"))
                   for e in records), [e["message"] for e in records]
    # The tail shows them line by line, in order.
    tail = result.log.splitlines()
    assert tail.index("[ERROR] ValueError: unhandled boom") \
        > tail.index("KeyError: 'missing'") > 0, result.log


def test_an_import_error_shows_its_whole_traceback(server, lam, make_function):
    files = {
        "app.py": b"import helper\n\ndef handler(event, context):\n    return 1\n",
        "helper.py": b"import os\nimport not_a_module_in_gust_tests\n",
    }
    name = make_function("logs-importerr", support.make_zip(files))
    result = invoke(lam, name, {}, tail=True)
    body = result.error()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert len(body["stackTrace"]) == 2, body
    records = _records(server, name, "INIT_REPORT")
    errors = [e["message"] for e in records if e["message"].startswith("[ERROR]")]
    assert len(errors) == 1, [e["message"] for e in records]
    lines = errors[0].split("\n")
    assert lines[0] == ("[ERROR] Runtime.ImportModuleError: Unable to import module 'app': "
                        "No module named 'not_a_module_in_gust_tests'"), lines
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2].endswith('File "/var/task/app.py", line 1, in <module>'), lines
    assert lines[3].strip("\u00a0") == "import helper", lines
    assert lines[4].endswith('File "/var/task/helper.py", line 2, in <module>'), lines
    assert lines[5].strip("\u00a0") == "import not_a_module_in_gust_tests", lines
    assert "INIT_REPORT" in result.log and "import not_a_module_in_gust_tests" in result.log
    assert not any(e["message"] == "" for e in records), "no empty record after INIT_REPORT"


def test_a_node_error_logged_with_console_is_one_record(server, lam, make_function):
    code = b"exports.handler = async () => { console.error(new Error('logged-node-boom')); return 1; };\n"
    name = make_function("logs-node-err", support.make_zip({"index.js": code}),
                         runtime=support.NODE, handler="index.handler")
    result = invoke(lam, name, {})
    assert result.ok() == 1
    records = _records(server, name, f"REPORT RequestId: {result.request_id}")
    logged = [e["message"] for e in records if "logged-node-boom" in e["message"]]
    assert len(logged) == 1, [e["message"] for e in records]
    lines = logged[0].split("\n")
    assert lines[0].endswith(f"\t{result.request_id}\tERROR\tError: logged-node-boom"), lines
    assert len(lines) > 1 and all(l.lstrip().startswith("at ") for l in lines[1:]), lines
