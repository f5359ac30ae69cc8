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


@pytest.mark.parametrize("role", ["lambda-role", "arn:aws:iam::123:role/r",
                                  "arn:aws:iam::123456789012:user/r",
                                  "arn:aws:s3:::bucket"])
def test_role_must_be_an_iam_role_arn(server, lam, role):
    name = support.unique_name("compat-role")
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=name, Runtime=support.PYTHON, Role=role,
                            Handler="app.handler", Code={"ZipFile": make_zip(APP)})
    code, status, message = client_error(e)
    assert (code, status) == ("ValidationException", 400), message
    assert message == (
        f"1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
        r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert client_error(e)[0] == "ResourceNotFoundException", "nothing was created"


def test_role_is_checked_on_update_and_kept_when_valid(server, make_function, lam):
    name = make_function("compat-role-up", make_zip(APP))
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Role="nope")
    assert client_error(e)[:2] == ("ValidationException", 400)
    lam.update_function_configuration(FunctionName=name, Role=ROLE)
    assert lam.get_function_configuration(FunctionName=name)["Role"] == ROLE


def test_arns_of_another_region_or_account_do_not_name_the_local_function(
        server, make_function, lam):
    name = make_function("compat-arn", make_zip(APP))
    local = support.function_arn(name)
    assert lam.get_function(FunctionName=local)["Configuration"]["FunctionName"] == name
    assert support.invoke(lam, f"{local}:$LATEST", {"k": 1}).ok() == {"k": 1}

    elsewhere = local.replace(f":{support.REGION}:", ":eu-west-1:")
    for call in (lambda: lam.get_function(FunctionName=elsewhere),
                 lambda: lam.invoke(FunctionName=elsewhere, Payload=b"{}"),
                 lambda: lam.delete_function(FunctionName=elsewhere)):
        with pytest.raises(ClientError) as e:
            call()
        code, status, message = client_error(e)
        assert (code, status) == ("ResourceNotFoundException", 404), message
        assert message == (f"Functions from 'eu-west-1' are not reachable in this region "
                           f"('{support.REGION}')")

    other_account = local.replace(f":{support.ACCOUNT}:", ":123456789012:")
    for ref in (other_account, f"123456789012:function:{name}"):
        with pytest.raises(ClientError) as e:
            lam.invoke(FunctionName=ref, Payload=b"{}")
        code, status, message = client_error(e)
        assert (code, status) == ("ResourceNotFoundException", 404), message
        assert message == f"Function not found: {ref}"
    # The function is still there, untouched.
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
