"""The Lambda management API through boto3: create, get, list, update, delete, and
the errors AWS documents for them."""

from __future__ import annotations

import base64

import pytest
import requests
from botocore.exceptions import ClientError

import support
from support import LAST_MODIFIED_RE, PYTHON, client_error, function_arn, sha256_b64


def hello_zip(greeting: str = "hello") -> bytes:
    return support.make_zip({
        "app.py": f"def handler(event, context):\n    return {{'greeting': {greeting!r}}}\n",
    })


def test_create_function_returns_aws_shaped_configuration(server, make_function):
    code = hello_zip()
    name = support.unique_name("mgmt-create")
    resp = server.create_function(
        name, code, mark=False, Description="first function", Timeout=7, MemorySize=256,
        Environment={"Variables": {"COLOR": "blue"}},
    )
    try:
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert resp["FunctionName"] == name
        assert resp["FunctionArn"] == function_arn(name)
        assert resp["Runtime"] == PYTHON
        assert resp["Handler"] == "app.handler"
        assert resp["CodeSha256"] == sha256_b64(code)
        assert resp["CodeSize"] == len(code)
        assert resp["Description"] == "first function"
        assert resp["Timeout"] == 7
        assert resp["MemorySize"] == 256
        assert resp["Environment"]["Variables"] == {"COLOR": "blue"}
        assert resp["Version"] == "$LATEST"
        assert resp["State"] == "Active"
        assert resp["PackageType"] == "Zip"
        assert LAST_MODIFIED_RE.match(resp["LastModified"]), resp["LastModified"]
        assert resp["RevisionId"]
    finally:
        server.delete_quietly(name)


def test_create_function_defaults(server, make_function, lam):
    name = make_function("mgmt-defaults", hello_zip())
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["MemorySize"] == 128
    assert conf["Timeout"] == 3
    assert conf["State"] == "Active"


def test_get_function_and_code_location(server, make_function, lam):
    code = hello_zip("from get")
    name = make_function("mgmt-get", code, Description="get me")
    got = lam.get_function(FunctionName=name)
    conf = got["Configuration"]
    assert conf["FunctionName"] == name
    assert conf["FunctionArn"] == function_arn(name)
    assert conf["CodeSha256"] == sha256_b64(code)
    assert conf["CodeSize"] == len(code)
    assert conf["Description"] == "get me"
    assert conf["State"] == "Active"
    assert LAST_MODIFIED_RE.match(conf["LastModified"])

    location = got["Code"]["Location"]
    assert location.startswith("http"), location
    download = requests.get(location, timeout=30)
    assert download.status_code == 200, download.text[:500]
    assert download.content == code

    only_conf = lam.get_function_configuration(FunctionName=name)
    for key in ("FunctionName", "FunctionArn", "CodeSha256", "CodeSize", "RevisionId",
                "LastModified", "Runtime", "Handler", "MemorySize", "Timeout"):
        assert only_conf[key] == conf[key], key


def test_get_function_by_arn(make_function, lam):
    name = make_function("mgmt-arn", hello_zip())
    conf = lam.get_function_configuration(FunctionName=function_arn(name))
    assert conf["FunctionName"] == name


def test_list_functions_pages_with_marker(make_function, lam):
    names = {make_function(f"mgmt-list{i}", hello_zip()) for i in range(5)}
    seen: list[str] = []
    marker = None
    for _ in range(500):
        kwargs = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2, page["Functions"]
        seen.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    else:
        pytest.fail("ListFunctions paging never ended")
    assert len(seen) == len(set(seen)), f"a function was listed twice: {seen}"
    assert names <= set(seen), f"missing from the listing: {names - set(seen)}"

    everything = lam.list_functions(MaxItems=50)
    listed = {f["FunctionName"]: f for f in everything["Functions"]}
    for name in names:
        if name in listed:
            assert listed[name]["FunctionArn"] == function_arn(name)
            assert listed[name]["Runtime"] == PYTHON


def test_update_function_code(make_function, lam):
    old = hello_zip("old")
    name = make_function("mgmt-code", old)
    before = lam.get_function_configuration(FunctionName=name)
    new = hello_zip("new and longer greeting")
    resp = lam.update_function_code(FunctionName=name, ZipFile=new)
    assert resp["CodeSha256"] == sha256_b64(new)
    assert resp["CodeSize"] == len(new)
    assert resp["RevisionId"] != before["RevisionId"]
    assert LAST_MODIFIED_RE.match(resp["LastModified"])
    assert resp["LastModified"] >= before["LastModified"]

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == sha256_b64(new)
    assert got["Configuration"]["RevisionId"] == resp["RevisionId"]
    assert requests.get(got["Code"]["Location"], timeout=30).content == new


def test_update_function_configuration(make_function, lam):
    name = make_function("mgmt-conf", hello_zip(), Environment={"Variables": {"A": "1"}})
    before = lam.get_function_configuration(FunctionName=name)
    resp = lam.update_function_configuration(
        FunctionName=name, Timeout=30, MemorySize=512, Description="changed",
        Environment={"Variables": {"B": "2"}},
    )
    assert resp["Timeout"] == 30
    assert resp["MemorySize"] == 512
    assert resp["Description"] == "changed"
    assert resp["Environment"]["Variables"] == {"B": "2"}
    assert resp["RevisionId"] != before["RevisionId"]
    assert resp["CodeSha256"] == before["CodeSha256"], "a configuration update keeps the code"

    after = lam.get_function_configuration(FunctionName=name)
    assert after["Timeout"] == 30
    assert after["MemorySize"] == 512
    assert after["Description"] == "changed"
    assert after["Environment"]["Variables"] == {"B": "2"}
    assert after["RevisionId"] == resp["RevisionId"]


def test_delete_function(server, lam):
    name = support.unique_name("mgmt-delete")
    server.create_function(name, hello_zip())
    resp = lam.delete_function(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)
    listed = {f["FunctionName"] for f in lam.list_functions(MaxItems=50)["Functions"]}
    assert name not in listed
    # The name is free again.
    server.create_function(name, hello_zip())
    server.delete_quietly(name)


UNKNOWN_FUNCTION_CALLS = {
    "get_function": lambda lam, n: lam.get_function(FunctionName=n),
    "get_function_configuration": lambda lam, n: lam.get_function_configuration(FunctionName=n),
    "invoke": lambda lam, n: lam.invoke(FunctionName=n, Payload=b"{}"),
    "invoke_dry_run": lambda lam, n: lam.invoke(FunctionName=n, InvocationType="DryRun"),
    "delete_function": lambda lam, n: lam.delete_function(FunctionName=n),
    "update_function_code": lambda lam, n: lam.update_function_code(
        FunctionName=n, ZipFile=hello_zip()),
    "update_function_configuration": lambda lam, n: lam.update_function_configuration(
        FunctionName=n, Timeout=5),
}


@pytest.mark.parametrize("call", sorted(UNKNOWN_FUNCTION_CALLS))
def test_unknown_function_is_resource_not_found(lam, call):
    name = support.unique_name("does-not-exist")
    with pytest.raises(ClientError) as e:
        UNKNOWN_FUNCTION_CALLS[call](lam, name)
    code, status, message = client_error(e)
    assert (code, status) == ("ResourceNotFoundException", 404), message
    assert name in message, f"the message should name the function: {message}"
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-errortype", "").startswith("ResourceNotFoundException"), headers


def test_duplicate_create_is_conflict(server, make_function):
    name = make_function("mgmt-dup", hello_zip())
    with pytest.raises(ClientError) as e:
        server.create_function(name, hello_zip("again"))
    code, status, message = client_error(e)
    assert (code, status) == ("ResourceConflictException", 409), message


INVALID_CREATE = {
    "memory-64": {"MemorySize": 64},
    "memory-20000": {"MemorySize": 20000},
    "timeout-0": {"Timeout": 0},
    "timeout-901": {"Timeout": 901},
    "runtime-python2.7": {"Runtime": "python2.7"},
    "runtime-unknown": {"Runtime": "cobol42"},
    "name-with-space": {"FunctionName": "has space"},
    "name-too-long": {"FunctionName": "n" * 65},
    "name-with-dot": {"FunctionName": "dots.are.not.allowed"},
    "env-reserved-key": {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
}


@pytest.mark.parametrize("case", sorted(INVALID_CREATE))
def test_invalid_create_parameters(server, lam, case):
    params = {
        "FunctionName": support.unique_name("mgmt-invalid"),
        "Runtime": PYTHON,
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "app.handler",
        "Code": {"ZipFile": hello_zip()},
        **INVALID_CREATE[case],
    }
    try:
        with pytest.raises(ClientError) as e:
            lam.create_function(**params)
    finally:
        server.delete_quietly(params["FunctionName"])
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400), message
    assert message, "the error must say what is wrong"


@pytest.mark.parametrize("field,value", [("MemorySize", 64), ("Timeout", 901)])
def test_invalid_update_parameters(make_function, lam, field, value):
    name = make_function("mgmt-badupdate", hello_zip())
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, **{field: value})
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["MemorySize"] == 128 and conf["Timeout"] == 3, "a refused update changes nothing"


def zip_slip_archive(path: str) -> bytes:
    return support.make_zip({"app.py": "def handler(e, c):\n    return 1\n", path: "pwned"})


INVALID_ARCHIVES = {
    "garbage": b"this is not a zip archive at all" * 10,
    "empty": b"",
    "truncated": hello_zip()[:40],
    "zip-slip-parent": zip_slip_archive("../../escaped.txt"),
    "zip-slip-nested": zip_slip_archive("lib/../../escaped.txt"),
    "zip-slip-absolute": zip_slip_archive("/tmp/escaped.txt"),
}


@pytest.mark.parametrize("case", sorted(INVALID_ARCHIVES))
def test_invalid_archive_on_create(server, case):
    name = support.unique_name("mgmt-badzip")
    try:
        with pytest.raises(ClientError) as e:
            server.create_function(name, INVALID_ARCHIVES[case])
    finally:
        server.delete_quietly(name)
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400), message
    if case in ("garbage", "truncated"):
        # AWS: "Could not unzip uploaded file. Please check your file, then try to
        # upload again."
        assert message.startswith("Could not unzip uploaded file"), message


@pytest.mark.parametrize("case", ["garbage", "zip-slip-parent"])
def test_invalid_archive_on_update_keeps_old_code(make_function, lam, case):
    code = hello_zip()
    name = make_function("mgmt-badzip-up", code)
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName=name, ZipFile=INVALID_ARCHIVES[case])
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha256_b64(code)


def test_error_body_shape(server):
    """Raw HTTP: AWS's error body is {"Type": "User", "message": ...} with
    x-amzn-ErrorType, which is what the SDKs parse."""
    name = support.unique_name("raw-missing")
    resp = requests.get(f"{server.url}/2015-03-31/functions/{name}", timeout=30)
    assert resp.status_code == 404
    assert resp.headers.get("x-amzn-ErrorType", "").startswith("ResourceNotFoundException")
    body = resp.json()
    assert body.get("Type") == "User", body
    assert name in body.get("message", ""), body


def test_create_with_malformed_json_is_rejected(server):
    resp = requests.post(f"{server.url}/2015-03-31/functions", data=b"{not json",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers.get("x-amzn-ErrorType"), resp.headers


def test_code_sha256_is_base64_of_raw_digest(make_function, lam):
    code = hello_zip("digest")
    name = make_function("mgmt-sha", code)
    sha = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    assert len(base64.b64decode(sha)) == 32, "base64 of the 32-byte digest, not of the hex"
    assert sha == sha256_b64(code)
