"""The `gust` CLI against a running server: deploy, invoke, list, get, logs, delete,
and what it says when there is no server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

import support
from conftest import MARKER_VAR
from support import FUNCTIONS_DIR, client_error, wait_until


def ok(proc, what: str = "gust"):
    assert proc.returncode == 0, (
        f"{what} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def cli_function(server):
    """Names of functions the test deploys with the CLI; deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        server.delete_quietly(name)


def marker_env(server) -> list[str]:
    return ["--env", f"{MARKER_VAR}={server.marker}"]


def test_deploy_single_python_file_and_invoke(server, tmp_path, cli_function):
    stem = f"clihello_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{stem}.py"
    source.write_text(
        "def handler(event, context):\n"
        "    print('hello log line', event.get('name'))\n"
        "    return {'greeting': 'hello ' + event.get('name', 'nobody')}\n")
    cli_function.append(stem)

    ok(server.cli("deploy", str(source), *marker_env(server)), "gust deploy FILE")
    conf = server.lambda_.get_function_configuration(FunctionName=stem)
    assert conf["Runtime"] == support.PYTHON
    assert conf["Handler"] == f"{stem}.handler"
    assert conf["CodeSize"] > 0

    out = ok(server.cli("invoke", stem, '{"name": "x"}'), "gust invoke NAME PAYLOAD")
    assert json.loads(out.stdout) == {"greeting": "hello x"}

    payload_file = tmp_path / "event.json"
    payload_file.write_text('{"name": "from-file"}')
    out = ok(server.cli("invoke", stem, "--payload-file", str(payload_file)))
    assert json.loads(out.stdout) == {"greeting": "hello from-file"}

    out = ok(server.cli("invoke", stem, "--payload-file", "-", input='{"name": "from-stdin"}'))
    assert json.loads(out.stdout) == {"greeting": "hello from-stdin"}

    out = ok(server.cli("invoke", stem, '{"name": "tail"}', "--log-tail"))
    assert json.loads(out.stdout) == {"greeting": "hello tail"}
    assert "hello log line tail" in out.stderr
    assert "START RequestId:" in out.stderr and "REPORT RequestId:" in out.stderr

    logs = ok(server.cli("logs", stem), "gust logs")
    for needle in ("START RequestId:", "END RequestId:", "REPORT RequestId:",
                   "hello log line from-file"):
        assert needle in logs.stdout, f"{needle!r} missing from gust logs:\n{logs.stdout}"


def test_deploy_directory_with_flags(server, tmp_path, cli_function):
    name = support.unique_name("cli-dir")
    directory = tmp_path / "service"
    shutil.copytree(FUNCTIONS_DIR / "python_tool", directory)
    cli_function.append(name)

    ok(server.cli("deploy", str(directory), "--name", name, "--memory", "256", "--timeout", "10",
                  "--env", "COLOR=green", *marker_env(server)), "gust deploy DIR")
    conf = server.lambda_.get_function_configuration(FunctionName=name)
    assert conf["Runtime"] == support.PYTHON
    assert conf["Handler"] == "app.handler"
    assert conf["MemorySize"] == 256
    assert conf["Timeout"] == 10
    assert conf["Environment"]["Variables"]["COLOR"] == "green"

    out = ok(server.cli("invoke", name, '{"action": "env", "names": ["COLOR"]}'))
    assert json.loads(out.stdout)["env"] == {"COLOR": "green"}

    # Deploying again updates the code.
    (directory / "app.py").write_text("def handler(event, context):\n    return 'second version'\n")
    ok(server.cli("deploy", str(directory), "--name", name), "gust deploy (update)")
    out = ok(server.cli("invoke", name))
    assert json.loads(out.stdout) == "second version"
    conf2 = server.lambda_.get_function_configuration(FunctionName=name)
    assert conf2["CodeSha256"] != conf["CodeSha256"]


def test_deploy_node_directory_infers_the_runtime(server, tmp_path, cli_function):
    name = support.unique_name("cli-node")
    directory = tmp_path / name
    shutil.copytree(FUNCTIONS_DIR / "node_esm", directory)
    cli_function.append(name)
    ok(server.cli("deploy", str(directory), *marker_env(server)))
    conf = server.lambda_.get_function_configuration(FunctionName=name)
    assert conf["Runtime"] == support.NODE
    assert conf["Handler"] == "index.handler"
    out = ok(server.cli("invoke", name, '{"k": 1}'))
    assert json.loads(out.stdout)["style"] == "esm"


def test_deploy_custom_runtime_directory(server, tmp_path, cli_function):
    name = support.unique_name("cli-provided")
    directory = tmp_path / name
    shutil.copytree(FUNCTIONS_DIR / "provided_python", directory)
    cli_function.append(name)
    ok(server.cli("deploy", str(directory), "--runtime", "provided.al2023", *marker_env(server)))
    out = ok(server.cli("invoke", name, '{"custom": true}'))
    assert json.loads(out.stdout)["event"] == {"custom": True}


def test_list_get_delete(server, tmp_path, cli_function):
    stem = f"clilist_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{stem}.py"
    source.write_text("def handler(event, context):\n    return 1\n")
    cli_function.append(stem)
    ok(server.cli("deploy", str(source), *marker_env(server)))

    listed = ok(server.cli("list"), "gust list")
    assert stem in listed.stdout
    listed_json = json.loads(ok(server.cli("list", "--output", "json")).stdout)
    assert stem in [f["FunctionName"] for f in listed_json["Functions"]]

    got = ok(server.cli("get", stem), "gust get")
    assert stem in got.stdout and support.PYTHON in got.stdout
    got_json = json.loads(ok(server.cli("get", stem, "--output", "json")).stdout)
    assert got_json["Configuration"]["FunctionName"] == stem
    assert got_json["Configuration"]["FunctionArn"] == support.function_arn(stem)

    ok(server.cli("delete", stem), "gust delete")
    with pytest.raises(ClientError) as e:
        server.lambda_.get_function(FunctionName=stem)
    assert client_error(e)[0] == "ResourceNotFoundException"

    missing = server.cli("get", stem)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr or "not found" in missing.stderr.lower(), \
        missing.stderr
    assert stem not in ok(server.cli("list")).stdout


def test_invoke_function_error_exits_nonzero(server, make_function, python_tool_zip):
    name = make_function("cli-err", python_tool_zip)
    proc = server.cli("invoke", name, '{"action": "raise", "message": "cli-boom"}')
    assert proc.returncode == 1, proc
    assert "ValueError" in proc.stderr and "cli-boom" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["errorType"] == "ValueError"


def test_invoke_rejects_invalid_json(server, make_function, python_tool_zip):
    name = make_function("cli-badjson", python_tool_zip)
    proc = server.cli("invoke", name, "{not json")
    assert proc.returncode != 0
    assert "not valid JSON" in proc.stderr, proc.stderr
    logs = server.logs(name)
    assert not logs["events"], "an invalid payload must not reach the function"


def test_invoke_unknown_function(server):
    name = support.unique_name("cli-missing")
    proc = server.cli("invoke", name)
    assert proc.returncode != 0
    assert name in proc.stderr, proc.stderr


def test_health(server):
    proc = ok(server.cli("health"), "gust health")
    assert proc.stdout.strip() or proc.stderr.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [["list"], ["invoke", "anything"], ["logs", "anything"]])
def test_server_not_running_message(gust_bin, command):
    port = free_port()
    proc = subprocess.run([str(gust_bin), "--endpoint", f"http://127.0.0.1:{port}", *command],
                          capture_output=True, text=True, timeout=60,
                          env=support.env_for_subprocess(), stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert f"127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert "gust serve" in proc.stderr, f"the message should say to start the server: {proc.stderr}"
    assert "panicked" not in proc.stderr


def test_endpoint_from_environment(server):
    env = support.env_for_subprocess()
    env["GUST_ENDPOINT"] = server.url
    proc = subprocess.run([str(server.binary), "list", "--output", "json"], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    ok(proc, "gust list with GUST_ENDPOINT")
    assert "Functions" in json.loads(proc.stdout)


def test_logs_follow_prints_new_lines(server, make_function, python_tool_zip):
    name = make_function("cli-follow", python_tool_zip)
    proc = subprocess.Popen([str(server.binary), "--endpoint", server.url, "logs", name, "--follow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=support.env_for_subprocess(), stdin=subprocess.DEVNULL)
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        marker = support.unique_name("followed")
        support.invoke(server.lambda_, name, {"action": "print", "lines": [marker]}).ok()
        wait_until(lambda: any(marker in line for line in lines), 30,
                   message="gust logs --follow to print the new line")
    finally:
        proc.terminate()
        proc.wait(10)


def network_setting(server, name: str) -> dict:
    return json.loads(ok(server.cli("network", "get", name, "--output", "json")).stdout)


def test_network_get_and_set(server, tmp_path, cli_function):
    stem = f"clinet_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{stem}.py"
    source.write_text("def handler(event, context):\n    return 1\n")
    cli_function.append(stem)

    deployed = ok(server.cli("deploy", str(source), "--outbound", "on", *marker_env(server)),
                  "gust deploy --outbound on")
    assert "outbound network: on" in deployed.stdout, deployed.stdout
    assert network_setting(server, stem) == {"outbound": True}
    assert server.get(f"/gust/v1/functions/{stem}/network").json() == {"outbound": True}
    shown = ok(server.cli("network", "get", stem), "gust network get")
    assert shown.stdout.startswith("Outbound   on"), shown.stdout

    turned_off = ok(server.cli("network", "set", stem, "--outbound", "off"), "gust network set")
    assert f"outbound network off for {stem}" in turned_off.stdout, turned_off.stdout
    assert network_setting(server, stem) == {"outbound": False}
    as_json = ok(server.cli("network", "set", stem, "--outbound", "on", "--output", "json"))
    assert json.loads(as_json.stdout) == {"outbound": True}

    # A deploy without --outbound leaves the setting as it is.
    ok(server.cli("deploy", str(source), *marker_env(server)))
    assert network_setting(server, stem) == {"outbound": True}


def test_network_errors_name_the_problem(server, make_function, python_tool_zip):
    name = make_function("cli-net", python_tool_zip)
    bad = server.cli("network", "set", name, "--outbound", "maybe")
    assert bad.returncode == 2 and "[possible values: on, off]" in bad.stderr, bad.stderr
    no_flag = server.cli("network", "set", name)
    assert no_flag.returncode == 2 and "--outbound" in no_flag.stderr, no_flag.stderr

    unknown = support.unique_name("cli-net-missing")
    for args in (["get", unknown], ["set", unknown, "--outbound", "on"]):
        proc = server.cli("network", *args)
        assert proc.returncode == 1, proc
        assert unknown in proc.stderr and "gust list" in proc.stderr, proc.stderr
    # The setting is the function's, not a version's.
    qualified = server.cli("network", "set", f"{name}:1", "--outbound", "on")
    assert qualified.returncode == 1, qualified
    assert "InvalidParameterValueException" in qualified.stderr, qualified.stderr
    assert network_setting(server, name) == {"outbound": False}
