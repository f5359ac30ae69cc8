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


# ---------------------------------------------------------------- tags


def test_tags_are_set_at_create_changed_listed_and_removed(server, make_function, lam):
    name = make_function("compat-tags", make_zip(APP),
                         Tags={"team": "payments", "env": "dev"})
    arn = support.function_arn(name)
    got = lam.get_function(FunctionName=name)
    assert got["Tags"] == {"team": "payments", "env": "dev"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "payments", "env": "dev"}

    lam.tag_resource(Resource=arn, Tags={"env": "prod", "cost-center": "42 / a:b=c+d@e"})
    assert lam.list_tags(Resource=arn)["Tags"] == {
        "team": "payments", "env": "prod", "cost-center": "42 / a:b=c+d@e"}
    lam.untag_resource(Resource=arn, TagKeys=["team", "not-there"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod", "cost-center": "42 / a:b=c+d@e"}
    assert lam.get_function(FunctionName=name)["Tags"] == {
        "env": "prod", "cost-center": "42 / a:b=c+d@e"}
    lam.untag_resource(Resource=arn, TagKeys=["env", "cost-center"])
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=name)


def test_tags_survive_a_restart_and_go_with_the_function(start_server):
    srv = start_server()
    name = support.unique_name("compat-durable")
    srv.create_function(name, make_zip(APP), Tags={"keep": "me"})
    arn = support.function_arn(name)
    srv.lambda_.tag_resource(Resource=arn, Tags={"added": "later"})
    data_dir = srv.data_dir
    srv.stop()
    again = start_server(data_dir=data_dir)
    assert again.lambda_.list_tags(Resource=arn)["Tags"] == {"keep": "me", "added": "later"}
    assert again.lambda_.get_function(FunctionName=name)["Tags"] == {"keep": "me", "added": "later"}
    again.lambda_.delete_function(FunctionName=name)
    again.create_function(name, make_zip(APP))
    assert again.lambda_.list_tags(Resource=arn)["Tags"] == {}, "a new function starts untagged"


def _refused(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return client_error(e)


def test_tags_are_validated_as_aws_validates_them(server, make_function, lam):
    name = make_function("compat-tagval", make_zip(APP), Tags={"a": "1"})
    arn = support.function_arn(name)
    for tags, code in [
        ({"": "v"}, "ValidationException"),
        ({"k" * 129: "v"}, "ValidationException"),
        ({"k": "v" * 257}, "ValidationException"),
        ({"bad*key": "v"}, "ValidationException"),
        ({"aws:reserved": "v"}, "InvalidParameterValueException"),
        ({f"k{i}": "" for i in range(51)}, "InvalidParameterValueException"),
    ]:
        got = _refused(lambda: lam.tag_resource(Resource=arn, Tags=tags))
        assert got[:2] == (code, 400), (list(tags)[:2], got)
    # 49 more make 50: allowed; one more is not.
    lam.tag_resource(Resource=arn, Tags={f"k{i}": "" for i in range(49)})
    got = _refused(lambda: lam.tag_resource(Resource=arn, Tags={"one-too-many": ""}))
    assert got[:2] == ("InvalidParameterValueException", 400), got
    assert "at most 50 tags" in got[2]
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50
    lam.tag_resource(Resource=arn, Tags={"a": "changing a value adds no tag"})
    assert _refused(lambda: lam.untag_resource(Resource=arn, TagKeys=["aws:x"]))[:2] == (
        "InvalidParameterValueException", 400)

    # CreateFunction validates its Tags the same way, and creates nothing when they fail.
    other = support.unique_name("compat-tagcreate")
    got = _refused(lambda: server.create_function(other, make_zip(APP), Tags={"aws:x": "y"}))
    assert got[:2] == ("InvalidParameterValueException", 400), got
    assert _refused(lambda: lam.get_function(FunctionName=other))[0] == "ResourceNotFoundException"

    # The resource is a function ARN of this region and account, unqualified.
    assert _refused(lambda: lam.list_tags(Resource=name))[:2] == ("ValidationException", 400)
    assert _refused(lambda: lam.list_tags(Resource=f"{arn}:$LATEST"))[:2] == (
        "InvalidParameterValueException", 400)
    missing = support.function_arn("compat-no-such-function")
    assert _refused(lambda: lam.list_tags(Resource=missing))[:2] == (
        "ResourceNotFoundException", 404)
    elsewhere = arn.replace(f":{support.REGION}:", ":eu-west-1:")
    assert _refused(lambda: lam.tag_resource(Resource=elsewhere, Tags={"x": "y"}))[:2] == (
        "ResourceNotFoundException", 404)
