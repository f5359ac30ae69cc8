"""`gust dev DIR`: deploys, redeploys on every save, prints the function's logs, and
keeps the last good version serving when a save does not parse."""

from __future__ import annotations

import subprocess
import threading
import uuid
from pathlib import Path

import pytest

import support
from conftest import MARKER_VAR
from support import wait_until

HANDLER = """\
def handler(event, context):
    print("{line}")
    return {{"version": {version}}}
"""

NODE_HANDLER = """\
exports.handler = async () => {{
  console.log("{line}");
  return {{ version: {version} }};
}};
"""


class Dev:
    """A running `gust dev`, its stdout and stderr collected line by line."""

    def __init__(self, server, *args: str):
        self.proc = subprocess.Popen(
            [str(server.binary), "--endpoint", server.url, "dev", *args,
             "--env", f"{MARKER_VAR}={server.marker}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=support.env_for_subprocess(), stdin=subprocess.DEVNULL)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.err)

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.out)

    def transcript(self) -> str:
        return "stdout:\n" + "".join(self.out) + "\nstderr:\n" + "".join(self.err)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def dev_function(server):
    names: list[str] = []
    yield names
    for name in names:
        server.delete_quietly(name)


def version_of(server, name: str):
    """The version number the function's code returns, or None while it cannot
    answer (not created yet, or mid-update)."""
    try:
        result = support.invoke(server.lambda_, name, {})
    except Exception:  # noqa: BLE001 - not there yet
        return None
    payload = result.payload if result.function_error is None else None
    return payload.get("version") if isinstance(payload, dict) else None


def write(path: Path, text: str) -> None:
    # Written to a temporary name and renamed over, as editors save: the watcher
    # never sees a half-written file.
    tmp = path.with_name(path.name + ".tmp-save")
    tmp.write_text(text)
    tmp.rename(path)


def test_redeploys_on_save_and_keeps_the_last_good_version(server, tmp_path, dev_function):
    name = f"dev_{uuid.uuid4().hex[:8]}"
    dev_function.append(name)
    src = tmp_path / "svc"
    src.mkdir()
    app = src / "app.py"
    app.write_text(HANDLER.format(line="dev-v1", version=1))
    (src / "helper.txt").write_text("data")

    dev = Dev(server, str(src), "--name", name)
    try:
        wait_until(lambda: version_of(server, name) == 1, 60,
                   message="the first deploy to serve version 1")
        wait_until(lambda: dev.said("watching"), 30, message="gust dev to start watching")
        conf = server.lambda_.get_function_configuration(FunctionName=name)
        assert conf["Handler"] == "app.handler"

        # A save is deployed and its log line is streamed to gust dev's stdout.
        marker = support.unique_name("dev-v2")
        write(app, HANDLER.format(line=marker, version=2))
        wait_until(lambda: version_of(server, name) == 2, 30,
                   message="the saved version 2 to serve\n" + dev.transcript())
        wait_until(lambda: dev.said(f"redeployed {name}"), 30,
                   message="gust dev to report the redeploy\n" + dev.transcript())
        wait_until(lambda: dev.printed(marker), 30,
                   message="the function's log line on gust dev's stdout\n" + dev.transcript())

        # A save that does not parse is reported with its line and not deployed.
        write(app, "def handler(event, context):\n    return (\n")
        wait_until(lambda: dev.said("not deployed"), 30,
                   message="gust dev to report the syntax error\n" + dev.transcript())
        report = "".join(dev.err)
        assert "app.py:2" in report, report
        assert "keeps its last good version" in report, report
        sha = server.lambda_.get_function_configuration(FunctionName=name)["CodeSha256"]
        assert version_of(server, name) == 2

        # A change to a non-source file while the source is still broken is not
        # deployed either: the broken file is checked again.
        (src / "helper.txt").write_text("more data")
        wait_until(lambda: sum("not deployed" in line for line in dev.err) >= 2, 30,
                   message="the second refusal\n" + dev.transcript())
        conf = server.lambda_.get_function_configuration(FunctionName=name)
        assert conf["CodeSha256"] == sha
        assert version_of(server, name) == 2

        # Fixing it deploys again.
        write(app, HANDLER.format(line="dev-v3", version=3))
        wait_until(lambda: version_of(server, name) == 3, 30,
                   message="the fixed version 3 to serve\n" + dev.transcript())
        assert dev.proc.poll() is None, dev.transcript()
    finally:
        dev.stop()
    # Stopping gust dev leaves the function deployed.
    assert version_of(server, name) == 3


def test_node_syntax_error_is_caught_before_deploy(server, tmp_path, dev_function):
    name = f"devnode_{uuid.uuid4().hex[:8]}"
    dev_function.append(name)
    src = tmp_path / "svc"
    src.mkdir()
    index = src / "index.js"
    index.write_text(NODE_HANDLER.format(line="node-v1", version=1))

    dev = Dev(server, str(src), "--name", name)
    try:
        wait_until(lambda: version_of(server, name) == 1, 60,
                   message="the first deploy to serve version 1\n" + dev.transcript())
        write(index, "exports.handler = async () => {\n  return {;\n};\n")
        wait_until(lambda: dev.said("not deployed"), 30,
                   message="gust dev to report the syntax error\n" + dev.transcript())
        assert "index.js:2" in "".join(dev.err), dev.transcript()
        assert version_of(server, name) == 1
        write(index, NODE_HANDLER.format(line="node-v2", version=2))
        wait_until(lambda: version_of(server, name) == 2, 30,
                   message="the fixed version 2 to serve\n" + dev.transcript())
    finally:
        dev.stop()


def test_first_deploy_that_fails_is_retried_on_the_next_save(server, tmp_path, dev_function):
    name = f"devfirst_{uuid.uuid4().hex[:8]}"
    dev_function.append(name)
    src = tmp_path / "svc"
    src.mkdir()
    app = src / "app.py"
    app.write_text("def handler(event, context)\n    return 1\n")

    dev = Dev(server, str(src), "--name", name)
    try:
        wait_until(lambda: dev.said("not deployed"), 30,
                   message="gust dev to report the syntax error\n" + dev.transcript())
        assert "is not deployed yet" in "".join(dev.err) or "app.py:1" in "".join(dev.err)
        assert dev.proc.poll() is None, dev.transcript()
        write(app, HANDLER.format(line="first-ok", version=1))
        wait_until(lambda: version_of(server, name) == 1, 60,
                   message="the fixed first version to serve\n" + dev.transcript())
    finally:
        dev.stop()


def test_dev_rejects_a_missing_path(server, tmp_path):
    proc = server.cli("dev", str(tmp_path / "nope"), "--name", "x")
    assert proc.returncode != 0
    assert "nope" in proc.stderr
