"""The API listener under slow, silent, numerous or unsigned clients, with real
sockets on loopback: header and idle timeouts close connections that send no
request, a flood of idle connections beyond --max-connections does not stop health
checks and Invoke, unsigned requests are refused before their bodies are read,
stalled uploads are cut at --body-timeout, and credential scopes are checked.

Each test sets short timeouts through gust serve's flags and waits for events (a
socket closed by the server, a response) with generous bounds, never for a time.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import selectors
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import support

KEY_ID = "AKIAGUSTEDGE"
SECRET = "gust-edge-secret"
APP = "def handler(event, context):\n    return {'ok': True}\n"
# Far more than any timeout a test sets: only a server that never closes fails.
BOUND = 90.0


def address(srv) -> tuple[str, int]:
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(srv) -> socket.socket:
    return socket.create_connection(address(srv), timeout=30)


def wait_closed(socks: list[socket.socket], at_least: int | None = None,
                timeout: float = BOUND) -> tuple[int, dict[socket.socket, bytes]]:
    """Reads from `socks` until the server has closed `at_least` of them (default:
    all) or `timeout` passes. Returns how many closed and what each sent first."""
    want = len(socks) if at_least is None else at_least
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    received: dict[socket.socket, bytes] = {s: b"" for s in socks}
    closed = 0
    deadline = time.monotonic() + timeout
    while closed < want and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                received[s] += data
                continue
            sel.unregister(s)
            closed += 1
    sel.close()
    return closed, received


def api_connections(pid: int, port: int) -> int:
    """How many TCP connections on its API port `port` process `pid` holds open.

    Only those: the instances gust starts meanwhile (and its pool of ready sandboxes)
    hold sockets of their own, whose number says nothing about the cap."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == port and not listening and fields[9] in inodes:
                count += 1
    return count


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def signed_client(srv, key_id: str = KEY_ID, secret: str = SECRET, region: str = support.REGION):
    return boto3.client(
        "lambda", endpoint_url=srv.url, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, parameter_validation=False,
                      connect_timeout=10, read_timeout=60))


def create(client, name: str) -> None:
    client.create_function(FunctionName=name, Runtime=support.PYTHON,
                           Role="arn:aws:iam::000000000000:role/x", Handler="app.handler",
                           Code={"ZipFile": support.make_zip({"app.py": APP})})


# ---------------------------------------------------------------- timeouts and the cap


def test_slow_header_and_silent_connections_are_closed_while_boto3_invokes(start_server):
    srv = start_server("--header-timeout", "2s", "--idle-timeout", "2s")
    name = support.unique_name("edge")
    srv.create_function(name, support.make_zip({"app.py": APP}))
    silent = [connect(srv) for _ in range(100)]
    slow = [connect(srv) for _ in range(300)]
    for s in slow:
        try:
            s.sendall(b"GET /gust/v1/health HTTP/1.1\r\nHost: gust\r\nX-Slow: ")
        except OSError:
            pass  # already closed by the server: on a slow machine, setting up takes long
    stop = threading.Event()

    def trickle() -> None:
        # One more byte of the header every half second, for as long as it is open:
        # a client that keeps sending must still be cut off at the header timeout.
        while not stop.is_set():
            for s in slow:
                try:
                    s.send(b"x")
                except OSError:
                    pass
            stop.wait(0.5)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        # Other clients are served meanwhile.
        client = srv.new_lambda_client()
        assert support.invoke(client, name, {"n": 1}).ok() == {"ok": True}
        closed, received = wait_closed(silent + slow)
    finally:
        stop.set()
        trickler.join()
    assert closed == 400, f"only {closed} of 100 silent and 300 slow-header connections were closed"
    assert not any(received[s].startswith(b"HTTP/1.1 200") for s in slow), \
        "an unfinished request head must not be answered"
    assert support.invoke(srv.new_lambda_client(), name, {"n": 2}).ok() == {"ok": True}
    for s in silent + slow:
        s.close()


def test_idle_connections_beyond_the_cap_do_not_stop_health_and_invoke(start_server):
    cap = 128
    # Timeouts far beyond the test: only the cap may make room.
    srv = start_server("--max-connections", str(cap), "--idle-timeout", "30m",
                       "--header-timeout", "30m")
    name = support.unique_name("edge-cap")
    srv.create_function(name, support.make_zip({"app.py": APP}))
    pid = srv.proc.pid
    flood = [connect(srv) for _ in range(2000)]
    try:
        health = requests.get(srv.url + "/gust/v1/health", timeout=30)
        assert health.status_code == 200, health.text
        assert support.invoke(srv.new_lambda_client(), name, {"n": 1}).ok() == {"ok": True}
        # Each connection beyond the cap made the longest-idle one close.
        closed, _ = wait_closed(flood, at_least=len(flood) - cap)
        assert closed >= len(flood) - cap, f"only {closed} idle connections were closed"
        support.wait_until(lambda: api_connections(pid, urlsplit(srv.url).port) <= cap, BOUND,
                           message=f"gust's connections to drop to at most {cap}")
    finally:
        for s in flood:
            s.close()


# ---------------------------------------------------------------- bodies and signatures


def test_unsigned_requests_are_refused_before_their_bodies(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    for auth, error_type in [(None, "MissingAuthenticationTokenException"),
                             ("AWS4-HMAC-SHA256 garbage", "IncompleteSignatureException"),
                             ("Bearer abc", "IncompleteSignatureException")]:
        s = connect(srv)
        head = ("POST /2015-03-31/functions HTTP/1.1\r\nHost: gust\r\n"
                "Content-Type: application/json\r\nContent-Length: 83886080\r\n")
        if auth:
            head += f"Authorization: {auth}\r\n"
        # The 80 MB body is announced and never sent: the answer must not wait for it.
        s.sendall((head + "\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = s.recv(65536)
            assert chunk, f"closed without an answer ({auth!r})"
            response += chunk
        s.close()
        status_line = response.split(b"\r\n", 1)[0]
        assert status_line == b"HTTP/1.1 403 Forbidden", (auth, response[:300])
        assert f"x-amzn-errortype: {error_type}".encode() in response, (auth, response[:500])


def test_stalled_signed_uploads_are_cut_at_the_body_timeout(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}", "--body-timeout", "5s")
    pid = srv.proc.pid
    body = b'{"FunctionName": "' + b"a" * (8 << 20) + b'"}'
    request = AWSRequest(method="POST", url=srv.url + "/2015-03-31/functions", data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", support.REGION).add_auth(request)
    prepared = request.prepare()
    head = "POST /2015-03-31/functions HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in prepared.headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    before = rss_kb(pid)
    uploads, sent = [], []
    for _ in range(16):
        s = connect(srv)
        uploads.append(s)
        # Half the body, then nothing more.
        try:
            s.sendall(head.encode() + body[: len(body) // 2])
            sent.append(s)
        except OSError:
            pass  # cut already: on a slow machine sending may outlast the timeout
    held = rss_kb(pid)
    closed, received = wait_closed(uploads)
    after = rss_kb(pid)
    print(f"gust RSS: {before} kB before, {held} kB with 16 stalled uploads, {after} kB after the cut")
    assert closed == 16, f"only {closed} of 16 stalled uploads were cut"
    assert sent, "no upload could be sent"
    for s in sent:
        assert received[s].startswith(b"HTTP/1.1 408"), received[s][:300]
        assert b"--body-timeout" in received[s]
    for s in uploads:
        s.close()
    # The server goes on serving signed requests.
    assert signed_client(srv).list_functions()["Functions"] == []


def test_credential_scopes_must_be_lambdas_in_gusts_region(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    good = signed_client(srv)
    create(good, support.unique_name("scoped"))

    with pytest.raises(ClientError) as err:
        signed_client(srv, region="mars-1").list_functions()
    code, status, message = support.client_error(err)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("Credential should be scoped to a valid region, not 'mars-1'."), message

    request = AWSRequest(method="GET", url=srv.url + "/2015-03-31/functions/", headers={})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sts", support.REGION).add_auth(request)
    resp = requests.get(srv.url + "/2015-03-31/functions/",
                        headers=dict(request.prepare().headers.items()), timeout=30)
    assert resp.status_code == 403, resp.text
    assert resp.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert resp.json()["message"] == "Credential should be scoped to correct service: 'lambda'."

    # A request signed for S3 is S3's, whatever its path: here, a bucket that does
    # not exist (the S3 API shares gust's address, told apart by the scope).
    request = AWSRequest(method="GET", url=srv.url + "/2015-03-31/functions/", headers={})
    request.headers["x-amz-content-sha256"] = hashlib.sha256(b"").hexdigest()
    SigV4Auth(Credentials(KEY_ID, SECRET), "s3", support.REGION).add_auth(request)
    resp = requests.get(srv.url + "/2015-03-31/functions/",
                        headers=dict(request.prepare().headers.items()), timeout=30)
    assert resp.status_code == 404, resp.text
    assert b"<Code>NoSuchBucket</Code>" in resp.content, resp.text

    # gust's own endpoints answer to the same scope as the Lambda API.
    request = AWSRequest(method="GET", url=srv.url + "/gust/v1/health", headers={})
    SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", support.REGION).add_auth(request)
    resp = requests.get(srv.url + "/gust/v1/health",
                        headers=dict(request.prepare().headers.items()), timeout=30)
    assert resp.status_code == 200, resp.text


def test_a_signature_cannot_be_replayed_onto_a_path_with_dot_segments(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    host, port = address(srv)
    signed_path = "/2015-03-31/functions/a/invocations"
    request = AWSRequest(method="POST", url=srv.url + signed_path, data=b"{}", headers={})
    SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", support.REGION).add_auth(request)
    headers = dict(request.prepare().headers.items())
    for path in ["/2015-03-31/functions/b/../a/invocations",
                 "/2015-03-31/functions/b/%2e%2e/a/invocations"]:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", path, body=b"{}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 400, (path, resp.status, body)
        assert resp.getheader("x-amzn-errortype") == "InvalidParameterValueException"


ECHO_URL_APP = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"rawPath": event["rawPath"]})}
"""


def test_aws_iam_url_signatures_are_bound_to_the_path_and_scope(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}", "--url-style", "path")
    lam = signed_client(srv)
    lam.create_function(FunctionName="iam-url", Runtime=support.PYTHON,
                        Role="arn:aws:iam::000000000000:role/x", Handler="app.handler",
                        Code={"ZipFile": support.make_zip({"app.py": ECHO_URL_APP})})
    url = lam.create_function_url_config(FunctionName="iam-url", AuthType="AWS_IAM")["FunctionUrl"]
    url_id = url.rstrip("/").rsplit("/", 1)[1]
    host, port = address(srv)

    def signed(path: str, service: str = "lambda") -> dict[str, str]:
        request = AWSRequest(method="GET", url=f"http://{host}:{port}{path}", headers={})
        SigV4Auth(Credentials(KEY_ID, SECRET), service, support.REGION).add_auth(request)
        return dict(request.prepare().headers.items())

    def send(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, body

    public = f"/gust/v1/urls/{url_id}/public"
    status, body = send(public, signed(public))
    assert status == 200 and b'"/public"' in body, body
    # The same signature, replayed onto paths that would route elsewhere or reach
    # the function as another rawPath.
    assert send(f"/gust/v1/urls/{'0' * 32}/../{url_id}/public", signed(public))[0] == 400
    assert send(f"/gust/v1/urls/{url_id}/admin/../public", signed(public))[0] == 400
    status, body = send(f"/gust/v1/urls/{url_id}//public", signed(public))
    assert status == 403 and b"empty segment" in body, body
    # AWS_IAM URLs are signed as Lambda.
    status, body = send(public, signed(public, service="s3"))
    assert status == 403 and b"correct service: 'lambda'" in body, body
