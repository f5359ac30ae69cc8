"""Function URLs end to end: the Lambda API for their configurations, the payload
format 2.0 events and response mapping, CORS, AWS_IAM (SigV4), and real web
applications behind a URL: Starlette wrapped by Mangum, Express wrapped by
serverless-http, and a page loaded and screenshotted by headless Chromium.

The web frameworks are vendored into each function's archive at test time (pip
install --target, npm install), once per session, from the pinned versions in
tests/apps/*/. gust hands out the host-based URL (`<id>.lambda-url.<region>.localhost`)
where this machine resolves `*.localhost` and the path-based one
(`127.0.0.1:<port>/gust/v1/urls/<id>/`) where it does not; most tests reach the
function through its host-based form whichever they were given, by connecting to
127.0.0.1 and sending that Host, as a browser would after resolving `*.localhost` to
the loopback address; Chromium resolves it itself. The `--url-style` tests fetch the
URL exactly as handed out, with requests.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import support
from conftest import GustServer

APPS = Path(__file__).resolve().parent / "apps"
LOGO = (APPS / "logo.png").read_bytes()
URL_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789")

ECHO_APP = """
import json

def handler(event, context):
    path = event.get("rawPath", "")
    if path.startswith("/echo"):
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(event)}
    if path == "/bare-string":
        return "Hello, world!"
    if path == "/bare-object":
        return {"message": "Hello, world!"}
    if path == "/custom":
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value"},
                "cookies": ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2; Path=/"],
                "body": "created"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": "AAEC/w==", "isBase64Encoded": True}
    if path == "/fail":
        raise RuntimeError("boom")
    return {"statusCode": 404, "body": "no route " + path}
"""


# ---------------------------------------------------------------- helpers


PATH_PREFIX = "/gust/v1/urls/"


def host_form(function_url: str) -> str:
    """The host-based form of a function URL given in either form."""
    parts = urlsplit(function_url)
    if parts.path.startswith(PATH_PREFIX):
        url_id = parts.path[len(PATH_PREFIX):].split("/")[0]
        return f"http://{url_id}.lambda-url.{support.REGION}.localhost:{parts.port}/"
    return function_url


def localhost_resolves() -> bool:
    """Whether this machine's resolver sends `*.lambda-url.REGION.localhost` to
    127.0.0.1, as gust serve --url-style auto checks at start."""
    try:
        infos = socket.getaddrinfo(f"gust-probe.lambda-url.{support.REGION}.localhost", 0)
    except socket.gaierror:
        return False
    ips = {info[4][0] for info in infos}
    return "127.0.0.1" in ips and all(ip.startswith("127.") or ip == "::1" for ip in ips)


class UrlClient:
    """Sends requests to a function URL's host-based form through 127.0.0.1."""

    def __init__(self, function_url: str):
        function_url = host_form(function_url)
        parts = urlsplit(function_url)
        self.function_url = function_url
        self.host = parts.netloc
        self.base = f"http://127.0.0.1:{parts.port}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.setdefault("Host", self.host)
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.base + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)


def url_id_of(function_url: str) -> str:
    return urlsplit(host_form(function_url)).hostname.split(".")[0]


def create_url(lam, name: str, **kwargs) -> str:
    resp = lam.create_function_url_config(FunctionName=name, AuthType=kwargs.pop("AuthType", "NONE"),
                                          **kwargs)
    return resp["FunctionUrl"]


def vendor_files(target: Path) -> dict[str, support.FileSpec]:
    files: dict[str, support.FileSpec] = {}
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target)
        if path.is_dir() or path.is_symlink() or "__pycache__" in rel.parts or rel.parts[0] == "bin":
            continue
        files[rel.as_posix()] = (path.read_bytes(), path.stat().st_mode & 0o777 | 0o644)
    return files


# ---------------------------------------------------------------- app archives


@pytest.fixture(scope="session")
def starlette_zip(tmp_path_factory) -> bytes:
    target = tmp_path_factory.mktemp("starlette-vendor")
    reqs = APPS / "starlette_app" / "requirements.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(target), "-r", str(reqs)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    files = vendor_files(target)
    files["app.py"] = (APPS / "starlette_app" / "app.py").read_text()
    files["logo.png"] = LOGO
    shutil.rmtree(target, ignore_errors=True)
    return support.make_zip(files)


@pytest.fixture(scope="session")
def express_zip(tmp_path_factory) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    work = tmp_path_factory.mktemp("express-vendor")
    shutil.copy(APPS / "express_app" / "package.json", work / "package.json")
    proc = subprocess.run(
        [npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"npm install failed:\n{proc.stdout}\n{proc.stderr}"
    files = vendor_files(work)
    files["index.js"] = (APPS / "express_app" / "index.js").read_text()
    files["logo.png"] = LOGO
    shutil.rmtree(work, ignore_errors=True)
    return support.make_zip(files)


@pytest.fixture(params=["starlette", "express"])
def web_app(request, make_function, lam) -> tuple[str, UrlClient]:
    """A web application deployed unmodified behind a function URL."""
    if request.param == "starlette":
        name = make_function("starlette", request.getfixturevalue("starlette_zip"),
                             runtime=support.PYTHON, handler="app.handler", Timeout=30,
                             MemorySize=256)
    else:
        name = make_function("express", request.getfixturevalue("express_zip"),
                             runtime=support.NODE, handler="index.handler", Timeout=30,
                             MemorySize=256)
    return request.param, UrlClient(create_url(lam, name))


@pytest.fixture
def echo(make_function, lam) -> tuple[str, str]:
    name = make_function("url-echo", support.make_zip({"app.py": ECHO_APP}))
    return name, create_url(lam, name)


# ---------------------------------------------------------------- the Lambda API


def test_url_configs_have_aws_shapes_and_lifecycle(lam, make_function, server: GustServer):
    name = make_function("url-api", support.make_zip({"app.py": ECHO_APP}))
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    url_id = url_id_of(url)
    assert len(url_id) == 32 and set(url_id) <= URL_ID_CHARS
    port = urlsplit(server.url).port
    if localhost_resolves():
        assert url == f"http://{url_id}.lambda-url.{support.REGION}.localhost:{port}/"
    else:
        assert url == f"http://127.0.0.1:{port}/gust/v1/urls/{url_id}/"
    assert created["FunctionArn"] == support.function_arn(name)
    assert created["AuthType"] == "NONE"
    assert created["InvokeMode"] == "BUFFERED"
    assert "LastModifiedTime" not in created
    assert created["CreationTime"].endswith("Z")

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == url
    assert got["CreationTime"] == created["CreationTime"]
    assert got["LastModifiedTime"]

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")

    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-total"], "MaxAge": 300,
            "AllowCredentials": True}
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors)
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["Cors"] == cors
    assert updated["FunctionUrl"] == url, "updating must keep the URL"

    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [url]

    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName=name)
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    assert UrlClient(url).get("/echo").status_code == 404


def test_url_configs_refuse_what_aws_refuses(lam, make_function):
    name = make_function("url-bad", support.make_zip({"app.py": ECHO_APP}))
    code, status, message = support.client_error(pytest.raises(
        Exception, lam.create_function_url_config, FunctionName=name, AuthType="NONE",
        InvokeMode="STREAM"))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "BUFFERED, RESPONSE_STREAM" in message
    code, _, _ = support.client_error(pytest.raises(
        Exception, lam.create_function_url_config, FunctionName=name, AuthType="OPEN"))
    assert code == "InvalidParameterValueException"
    lam.publish_version(FunctionName=name)
    code, _, _ = support.client_error(pytest.raises(
        Exception, lam.create_function_url_config, FunctionName=name, AuthType="NONE",
        Qualifier="1"))
    assert code == "InvalidParameterValueException", "URLs take an alias, not a version"
    code, status, _ = support.client_error(pytest.raises(
        Exception, lam.create_function_url_config, FunctionName=name, AuthType="NONE",
        Qualifier="nosuchalias"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, status, _ = support.client_error(pytest.raises(
        Exception, lam.get_function_url_config, FunctionName="no-such-function-url"))
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_alias_urls_invoke_the_alias(lam, make_function):
    name = make_function("url-alias", support.make_zip({"app.py": "def handler(e, c):\n    return 'v1'\n"}))
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.update_function_code(FunctionName=name,
                             ZipFile=support.make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    live = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Qualifier="live")
    assert live["FunctionArn"] == support.function_arn(name) + ":live"
    latest = create_url(lam, name)
    assert live["FunctionUrl"] != latest
    assert UrlClient(live["FunctionUrl"]).get("/").json() == "v1"
    assert UrlClient(latest).get("/").json() == "v2"
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert len(listed) == 2


def test_urls_survive_a_restart(start_server):
    srv = start_server()
    srv.create_function("url-restart", support.make_zip({"app.py": ECHO_APP}))
    url = create_url(srv.lambda_, "url-restart")
    srv.stop()
    again = start_server(data_dir=srv.data_dir)
    new_port = urlsplit(again.url).port
    got = again.lambda_.get_function_url_config(FunctionName="url-restart")["FunctionUrl"]
    assert url_id_of(got) == url_id_of(url)
    resp = UrlClient(got).get("/bare-string")
    assert resp.status_code == 200 and resp.text == '"Hello, world!"'
    assert urlsplit(got).port == new_port


def test_auto_url_style_hands_out_a_url_requests_can_fetch(echo, server: GustServer):
    # The session server runs with the default, --url-style auto: whatever this
    # machine's resolver does, the URL as handed out works with a plain client.
    _, url = echo
    resp = requests.get(url + "bare-string", timeout=60)
    assert resp.status_code == 200 and resp.text == '"Hello, world!"', (url, resp.text)
    expected_host_form = localhost_resolves()
    assert (urlsplit(url).path == "/") == expected_host_form, url


def test_path_url_style_is_fetched_by_requests(start_server):
    srv = start_server("--url-style", "path")
    srv.create_function("url-path", support.make_zip({"app.py": ECHO_APP}))
    url = create_url(srv.lambda_, "url-path")
    port = urlsplit(srv.url).port
    assert url == f"http://127.0.0.1:{port}/gust/v1/urls/{url_id_of(url)}/"
    resp = requests.get(url + "echo/a?x=1", timeout=60)
    assert resp.status_code == 200, resp.text
    event = resp.json()
    assert event["rawPath"] == "/echo/a" and event["rawQueryString"] == "x=1"
    # The host-based form is served all the same.
    resp = UrlClient(url).get("/bare-string")
    assert resp.status_code == 200 and resp.text == '"Hello, world!"'


def test_host_url_style_is_kept_where_asked(start_server):
    srv = start_server("--url-style", "host")
    srv.create_function("url-host", support.make_zip({"app.py": ECHO_APP}))
    url = create_url(srv.lambda_, "url-host")
    port = urlsplit(srv.url).port
    assert url == f"http://{url_id_of(url)}.lambda-url.{support.REGION}.localhost:{port}/"
    resp = UrlClient(url).get("/bare-string")
    assert resp.status_code == 200 and resp.text == '"Hello, world!"'


def test_dot_segments_are_refused_before_routing(echo, server: GustServer):
    _, url = echo
    url_id = url_id_of(url)
    port = urlsplit(server.url).port
    other = "0" * 32
    for path in [f"/gust/v1/urls/{other}/../{url_id}/echo", f"/gust/v1/urls/{url_id}/admin/../echo",
                 f"/gust/v1/urls/{url_id}/%2e%2e/echo", f"/gust/v1/urls/{url_id}/./echo",
                 "/2015-03-31/functions/x/../y/invocations"]:
        # http.client sends the path as given (requests would resolve the dots).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 400, (path, resp.status, body)
        assert resp.getheader("x-amzn-errortype") == "InvalidParameterValueException", path
    resp = UrlClient(url).get("/admin/../echo")
    assert resp.status_code == 200, "requests resolves dot segments before sending"
    assert resp.json()["rawPath"] == "/echo"


# ---------------------------------------------------------------- events and responses


def test_requests_become_payload_2_events(echo, server: GustServer):
    name, url = echo
    client = UrlClient(url)
    resp = client.post("/echo/a%20b?x=1&x=2&y=hello+world", data=b"Hello from client!",
                       headers={"Content-Type": "text/plain", "Cookie": "c1=v1; c2=v2",
                                "X-Custom": "one", "User-Agent": "gust-test/1"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amzn-requestid"]
    event = resp.json()
    url_id = url_id_of(url)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/echo/a%20b"
    assert event["rawQueryString"] == "x=1&x=2&y=hello+world"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["queryStringParameters"] == {"x": "1,2", "y": "hello world"}
    headers = event["headers"]
    assert headers["x-custom"] == "one"
    assert headers["host"] == client.host
    assert headers["content-type"] == "text/plain"
    assert "cookie" not in headers
    assert all(k == k.lower() for k in headers)
    ctx = event["requestContext"]
    assert ctx["accountId"] == "anonymous"
    assert ctx["apiId"] == url_id
    assert ctx["domainPrefix"] == url_id
    assert ctx["domainName"] == f"{url_id}.lambda-url.{support.REGION}.localhost"
    assert ctx["http"] == {"method": "POST", "path": "/echo/a b", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "gust-test/1"}
    assert ctx["routeKey"] == "$default" and ctx["stage"] == "$default"
    assert ctx["requestId"] == resp.headers["x-amzn-requestid"]
    assert time.strptime(ctx["time"], "%d/%b/%Y:%H:%M:%S +0000")
    assert abs(ctx["timeEpoch"] / 1000 - time.time()) < 60
    assert event["body"] == "Hello from client!"
    assert event["isBase64Encoded"] is False

    # Binary bodies arrive base64-encoded; GETs have no body.
    blob = bytes(range(256))
    event = client.post("/echo", data=blob, headers={"Content-Type": "application/octet-stream"}).json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob
    event = client.get("/echo").json()
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event and "cookies" not in event

    # The same URL by path, for clients that cannot set a Host.
    resp = requests.get(f"{server.url}/gust/v1/urls/{url_id}/echo/deep?k=v", timeout=30)
    assert resp.status_code == 200, resp.text
    event = resp.json()
    assert event["rawPath"] == "/echo/deep"
    assert event["queryStringParameters"] == {"k": "v"}
    resp = requests.get(f"{server.url}/gust/v1/urls/{url_id}", timeout=30)
    assert resp.status_code == 404 and resp.text == "no route /"


def test_results_map_to_responses_as_aws_does(echo):
    _, url = echo
    client = UrlClient(url)
    resp = client.get("/bare-string")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.text == '"Hello, world!"'
    resp = client.get("/bare-object")
    assert resp.status_code == 200 and resp.json() == {"message": "Hello, world!"}
    resp = client.get("/custom")
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "text/plain"
    assert resp.headers["my-custom-header"] == "Custom Value"
    assert resp.raw.headers.getlist("Set-Cookie") == ["Cookie_1=Value1; Max-Age=78000",
                                                      "Cookie_2=Value2; Path=/"]
    assert resp.text == "created"
    resp = client.get("/binary")
    assert resp.content == b"\x00\x01\x02\xff"
    resp = client.get("/fail")
    assert resp.status_code == 502
    assert resp.json() == {"Message": "Internal Server Error"}
    resp = UrlClient(url.replace(url_id_of(url), "0" * 32)).get("/")
    assert resp.status_code == 404


def test_throttled_urls_answer_429(echo, lam):
    name, url = echo
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    resp = UrlClient(url).get("/bare-string")
    assert resp.status_code == 429, resp.text


def test_cors_preflights_are_answered_without_invoking(lam, make_function, server: GustServer):
    name = make_function("url-cors", support.make_zip({"app.py": ECHO_APP}))
    url = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
              "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-total"], "MaxAge": 300},
    )["FunctionUrl"]
    client = UrlClient(url)
    before = server.logs(name)["nextSeq"]
    resp = client.request("OPTIONS", "/echo", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-custom"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert resp.headers["access-control-allow-methods"] == "GET,POST"
    assert resp.headers["access-control-allow-headers"] == "x-custom"
    assert resp.headers["access-control-max-age"] == "300"
    assert server.logs(name, after=before)["events"] == [], "a preflight must not invoke"
    other = client.request("OPTIONS", "/echo", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    resp = client.get("/bare-string", headers={"Origin": "https://app.example"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert resp.headers["access-control-expose-headers"] == "x-total"


def sign(method: str, url: str, body: bytes, key: str, secret: str, host: str) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers={"Host": host})
    SigV4Auth(Credentials(key, secret), "lambda", support.REGION).add_auth(request)
    return dict(request.headers.items())


def test_aws_iam_urls_need_a_valid_signature(start_server):
    # test:test is the boto3 client's key: with keys configured, the API needs them too.
    srv = start_server("--access-key", "AKIDGUSTTEST:gust-test-secret", "--access-key", "test:test")
    srv.create_function("url-iam", support.make_zip({"app.py": ECHO_APP}))
    url = create_url(srv.lambda_, "url-iam", AuthType="AWS_IAM")
    client = UrlClient(url)
    body = b'{"hello": "signed"}'
    target = f"http://{client.host}/echo?a=1"

    unsigned = client.post("/echo?a=1", data=body)
    assert unsigned.status_code == 403, unsigned.text
    headers = sign("POST", target, body, "AKIDGUSTTEST", "gust-test-secret", client.host)
    headers["Content-Type"] = "application/json"
    resp = client.post("/echo?a=1", data=body, headers=headers)
    assert resp.status_code == 200, resp.text
    event = resp.json()
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIDGUSTTEST"
    assert event["requestContext"]["accountId"] == support.ACCOUNT
    # The signature covers the body and the key must be the server's.
    tampered = client.post("/echo?a=1", data=b'{"hello": "changed"}', headers=headers)
    assert tampered.status_code == 403
    wrong = sign("POST", target, body, "AKIDGUSTTEST", "not-the-secret", client.host)
    assert client.post("/echo?a=1", data=body, headers=wrong).status_code == 403
    unknown = sign("POST", target, body, "AKIDOTHER", "gust-test-secret", client.host)
    resp = client.post("/echo?a=1", data=body, headers=unknown)
    assert resp.status_code == 403 and "AKIDOTHER" in resp.json()["Message"]


def test_aws_iam_urls_without_keys_say_why(start_server):
    srv = start_server()
    srv.create_function("url-nokeys", support.make_zip({"app.py": ECHO_APP}))
    url = create_url(srv.lambda_, "url-nokeys", AuthType="AWS_IAM")
    client = UrlClient(url)
    headers = sign("GET", f"http://{client.host}/echo", b"", "AKID", "secret", client.host)
    resp = client.get("/echo", headers=headers)
    assert resp.status_code == 403
    assert "--access-key" in resp.json()["Message"]


def test_deploy_prints_the_url(server: GustServer, tmp_path):
    source = tmp_path / "urlapp.py"
    source.write_text("def handler(event, context):\n    return {'statusCode': 200, 'body': 'hi'}\n")
    name = support.unique_name("urlapp")
    try:
        proc = server.cli("deploy", str(source), "--name", name, "--url",
                          "--env", f"GUST_TEST_SERVER={server.marker}")
        assert proc.returncode == 0, proc.stderr
        line = next(l for l in proc.stdout.splitlines() if l.startswith("URL: "))
        url = line[len("URL: "):]
        assert UrlClient(url).get("/").text == "hi"
        again = server.cli("deploy", str(source), "--name", name)
        assert f"URL: {url}" in again.stdout, "a redeploy shows the URL it keeps"
        got = server.cli("url", "get", name)
        assert got.returncode == 0 and url in got.stdout
        assert server.cli("url", "delete", name).returncode == 0
        assert server.cli("url", "get", name).returncode != 0
    finally:
        server.delete_quietly(name)


# ---------------------------------------------------------------- real web applications


def test_web_app_serves_html(web_app):
    framework, client = web_app
    resp = client.get("/")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert f"Hello from {framework.capitalize()} on gust" in resp.text


def test_web_app_serves_json_with_query_strings(web_app):
    framework, client = web_app
    resp = client.get("/api/items?limit=3&tag=a&tag=b%20c&q=caf%C3%A9")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {"framework": framework, "limit": 3, "tags": ["a", "b c"], "q": "café"}


def test_web_app_redirects(web_app):
    _, client = web_app
    resp = client.get("/redirect")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["location"]).path == "/target"


def test_web_app_sets_and_reads_cookies(web_app):
    _, client = web_app
    resp = client.get("/cookie/set?value=s3cr3t")
    assert resp.status_code == 200, resp.text
    set_cookies = resp.raw.headers.getlist("Set-Cookie")
    assert len(set_cookies) == 2, set_cookies
    assert any(c.startswith("session=s3cr3t") and "httponly" in c.lower() for c in set_cookies)
    assert any(c.startswith("theme=dark") for c in set_cookies)
    resp = client.get("/cookie/get", headers={"Cookie": "session=s3cr3t; theme=dark"})
    assert resp.json() == {"session": "s3cr3t", "theme": "dark"}


def test_web_app_reads_form_posts(web_app):
    framework, client = web_app
    resp = client.post("/form", data={"name": "Ada Lovelace", "lang": "rust & c"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"framework": framework, "name": "Ada Lovelace", "lang": "rust & c"}


def test_web_app_serves_a_binary_image(web_app):
    _, client = web_app
    resp = client.get("/logo.png")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("image/png")
    assert resp.content == LOGO, "the PNG must arrive byte for byte"


def test_web_app_unknown_paths_are_404(web_app):
    _, client = web_app
    assert client.get("/no/such/page").status_code == 404


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    binary = chromium()
    assert binary
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def test_chromium_renders_a_page_from_a_function_url(make_function, lam, starlette_zip, tmp_path):
    if chromium() is None:
        pytest.skip("chromium is not installed (scripts/test installs it)")
    name = make_function("browser", starlette_zip, runtime=support.PYTHON,
                         handler="app.handler", Timeout=30, MemorySize=256)
    # Browsers resolve *.localhost themselves, so they get the host-based form, under
    # which the page's root-relative links (/logo.png) stay on the function.
    url = host_form(create_url(lam, name))

    dom = run_chromium("--virtual-time-budget=5000", "--dump-dom", url, profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert "Hello from Starlette on gust" in dom.stdout
    assert "rendered by script: 42" in dom.stdout, "the page's script must have run"

    shot = tmp_path / "page.png"
    run = run_chromium(f"--screenshot={shot}", "--window-size=800,600", "--hide-scrollbars",
                       "--virtual-time-budget=5000", url, profile=tmp_path / "p2")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-3000:]
    width, height, rows = support.png_info(shot.read_bytes())
    assert (width, height) == (800, 600)
    colors = {row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 21)}
    assert len(colors) > 5, "the screenshot is blank"
    # The logo (red, green and blue bands) was fetched through the URL and drawn.
    def near(px: bytes, rgb: tuple[int, int, int]) -> bool:
        return all(abs(a - b) < 40 for a, b in zip(px, rgb))
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), 3)]
    for band in [(220, 30, 30), (30, 160, 60), (40, 70, 200)]:
        assert sum(near(p, band) for p in pixels) > 1000, f"no {band} pixels: the image did not load"
