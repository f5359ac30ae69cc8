"""Compatibility with what AWS's clients expect of the Lambda API beyond invoking:
GetFunction's Code.Location (a URL any client can fetch, presigned when requests
must be signed), IAM role ARNs, ARNs of other regions and accounts, and tags."""

from __future__ import annotations

import urllib.parse
from typing import Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import support
from conftest import GustServer
from support import client_error, make_zip

KEY_ID = "AKIAGUSTCOMPAT"
SECRET = "gust-compat-secret"
APP = {"app.py": "def handler(event, context):\n    return event\n"}
ROLE = "arn:aws:iam::123456789012:role/service-role/my-role"


def signed_client(url: str):
    return boto3.client(
        "lambda", endpoint_url=url, region_name=support.REGION,
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}, parameter_validation=False))


@pytest.fixture
def everywhere(gust_bin, tmp_path) -> Iterator[GustServer]:
    """A server listening on all interfaces (0.0.0.0), which requires access keys."""
    srv = GustServer(gust_bin, tmp_path, ["--access-key", f"{KEY_ID}:{SECRET}"])
    srv.args[srv.args.index("--listen") + 1] = "0.0.0.0:0"
    srv.start()
    yield srv
    srv.stop()


def port_of(srv: GustServer) -> int:
    return urllib.parse.urlsplit(srv.url).port


def test_code_location_is_reachable_and_presigned_when_requests_must_be_signed(everywhere):
    assert everywhere.url.startswith("http://0.0.0.0:"), everywhere.url
    endpoint = f"http://localhost:{port_of(everywhere)}"
    lam = signed_client(endpoint)
    name = support.unique_name("compat-code")
    code = make_zip(APP)
    lam.create_function(FunctionName=name, Runtime=support.PYTHON, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": code})
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    # The address this client used, never the listen address 0.0.0.0.
    assert location.startswith(f"{endpoint}/"), location
    assert "0.0.0.0" not in location
    # A plain GET, no credentials, as deployment tools fetch AWS's presigned URL.
    download = requests.get(location, timeout=30)
    assert download.status_code == 200, download.text[:500]
    assert download.content == code

    # Only that URL: tampered or unsigned, the same download needs a signature.
    parts = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert set(query) == {"sha256", "X-Gust-Expires", "X-Gust-Signature"}, query
    base = f"{endpoint}{parts.path}"
    for params in [
        {"sha256": query["sha256"]},
        {**query, "X-Gust-Signature": "0" * 64},
        {**query, "X-Gust-Expires": str(int(query["X-Gust-Expires"]) + 3600)},
    ]:
        resp = requests.get(base, params=params, timeout=30)
        assert resp.status_code == 403, (params, resp.status_code, resp.text)
    other = support.unique_name("compat-other")
    lam.create_function(FunctionName=other, Runtime=support.PYTHON, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "x = 1\n"})})
    resp = requests.get(location.replace(f"/functions/{name}/", f"/functions/{other}/"),
                        timeout=30)
    assert resp.status_code == 403, resp.text
    # Signed requests elsewhere are unaffected.
    with pytest.raises(ClientError) as e:
        signed_client(endpoint).get_function(FunctionName="nope-" + name)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)


def test_code_location_follows_the_host_the_client_used(server, make_function, lam):
    name = make_function("compat-host", make_zip(APP))
    port = port_of(server)
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert location.startswith(f"http://127.0.0.1:{port}/"), location
    via_localhost = boto3.client(
        "lambda", endpoint_url=f"http://localhost:{port}", region_name=support.REGION,
        aws_access_key_id="x", aws_secret_access_key="x")
    location = via_localhost.get_function(FunctionName=name)["Code"]["Location"]
    assert location.startswith(f"http://localhost:{port}/"), location
    assert requests.get(location, timeout=30).status_code == 200
