"""Deployment packages that cannot work, and what gust says about them: files the
function's user cannot read (as on Lambda, the function fails with
`Permission denied`, and the error and `gust deploy` name the files and the fix),
and syntax errors, which name their file and line."""

from __future__ import annotations

import os
import zipfile

import pytest

import support
from conftest import MARKER_VAR, isolation
from support import invoke

needs_sandbox_user = pytest.mark.skipif(
    isolation() == "none" and os.geteuid() == 0,
    reason="with --isolation none as root the function runs as root, which reads every "
           "file whatever its mode: there is no permission error to explain")

PY_APP = b"def handler(event, context):\n    return 'ran'\n"


@needs_sandbox_user
def test_python_files_of_mode_0600_fail_and_say_why(lam, make_function):
    name = make_function("perm-py", support.make_zip({
        "app.py": (PY_APP, 0o600),
        "data/config.json": (b"{}", 0o640),
        "lib.py": (b"X = 1\n", 0o644),
    }))
    body = invoke(lam, name, {}).error()
    assert body["errorType"] == "PermissionError", body
    message = body["errorMessage"]
    assert message.startswith("[Errno 13] Permission denied: '/var/task/app.py'"), message
    assert "app.py (mode 0600), data/config.json (mode 0640)" in message, message
    assert "lib.py" not in message, message
    assert "chmod 644" in message, message


@needs_sandbox_user
def test_reading_an_unreadable_package_file_at_run_time_says_why(lam, make_function):
    name = make_function("perm-data", support.make_zip({
        "app.py": b"def handler(event, context):\n    return open(event['path']).read()\n",
        "config.json": (b"{}", 0o600),
    }))
    body = invoke(lam, name, {"path": "/var/task/config.json"}).error()
    assert body["errorType"] == "PermissionError", body
    assert body["errorMessage"].startswith(
        "[Errno 13] Permission denied: '/var/task/config.json'. Files in the deployment "
        "package are not readable by the function's user"), body
    assert "config.json (mode 0600)" in body["errorMessage"], body
    # A permission error elsewhere is not blamed on the package.
    body = invoke(lam, name, {"path": "/proc/1/environ"}).error()
    assert body["errorType"] == "PermissionError", body
    assert "deployment package" not in body["errorMessage"], body


@needs_sandbox_user
def test_node_files_of_mode_0600_fail_and_say_why(lam, make_function):
    name = make_function("perm-node", support.make_zip({
        "index.js": (b"exports.handler = async () => 'ran';\n", 0o600),
    }), runtime=support.NODE, handler="index.handler")
    body = invoke(lam, name, {}).error()
    message = body["errorMessage"]
    assert "EACCES: permission denied" in message and "/var/task/index.js" in message, body
    assert "index.js (mode 0600)" in message and "chmod 644" in message, message
    assert body["trace"][0] == "Error: " + message, "the stack says it once, like the message"


def test_a_readable_package_is_not_blamed(lam, make_function):
    name = make_function("perm-ok", support.make_zip({"app.py": PY_APP}))
    assert invoke(lam, name, {}).ok() == "ran"


def test_a_syntax_error_names_its_file_and_line(lam, make_function):
    # A null byte: Python's compiler reports it without a file or line.
    name = make_function("syntax-null", support.make_zip({
        "app.py": b"import helper\n", "helper.py": b"A = 1\nB = 2\x00\n"}))
    body = invoke(lam, name, {}).error()
    assert body["errorType"] == "Runtime.UserCodeSyntaxError", body
    assert body["errorMessage"] == (
        "Syntax error in module 'app': source code string cannot contain null bytes "
        "(helper.py, line 2)"), body
    assert body["stackTrace"][0].startswith('  File "/var/task/helper.py" Line 2'), body
    name = make_function("syntax-plain", support.make_zip({
        "app.py": b"def handler(event, context)\n    return 1\n"}))
    body = invoke(lam, name, {}).error()
    assert body["errorMessage"] == \
        "Syntax error in module 'app': expected ':' (app.py, line 1)", body
    assert body["stackTrace"][0].startswith('  File "/var/task/app.py" Line 1'), body


@pytest.fixture
def deployed(server):
    names: list[str] = []
    yield names
    for name in names:
        server.delete_quietly(name)


def test_deploy_warns_about_unreadable_entries_of_a_zip(server, tmp_path, deployed):
    name = support.unique_name("perm-deploy")
    deployed.append(name)
    path = tmp_path / "code.zip"
    # What zipfile.writestr does with a plain name: mode 0600.
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("app.py", PY_APP)
        zf.writestr("lib/util.py", "X = 1\n")
    names = {i.filename: i.external_attr >> 16 & 0o777 for i in zipfile.ZipFile(path).infolist()}
    assert names == {"app.py": 0o600, "lib/util.py": 0o600}, names
    proc = server.cli("deploy", str(path), "--name", name, "--env", f"{MARKER_VAR}={server.marker}")
    assert proc.returncode == 0, proc.stderr
    assert "warning: the function's user will not be able to read " \
        "app.py (mode 0600), lib/util.py (mode 0600)" in proc.stderr, proc.stderr
    assert "chmod 644" in proc.stderr, proc.stderr


def test_deploy_warns_about_unreadable_files_of_a_directory(server, tmp_path, deployed):
    name = support.unique_name("perm-dir")
    deployed.append(name)
    src = tmp_path / "svc"
    src.mkdir()
    (src / "app.py").write_bytes(PY_APP)
    (src / "secret.json").write_text("{}")
    (src / "secret.json").chmod(0o600)
    proc = server.cli("deploy", str(src), "--name", name, "--env",
                      f"{MARKER_VAR}={server.marker}")
    assert proc.returncode == 0, proc.stderr
    assert "secret.json (mode 0600)" in proc.stderr, proc.stderr
    assert "app.py" not in proc.stderr.split("read ", 1)[1].split(":")[0], proc.stderr
    assert f"chmod -R a+rX {src}" in proc.stderr, proc.stderr
    # A package whose files are all readable gets no warning.
    (src / "secret.json").chmod(0o644)
    proc = server.cli("deploy", str(src), "--name", name)
    assert proc.returncode == 0, proc.stderr
    assert "will not be able to read" not in proc.stderr, proc.stderr
