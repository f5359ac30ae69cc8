"""Hostile requests to the API: archives that escape or explode, data that is not a
zip, oversize and deeply nested bodies, invalid UTF-8, invalid names, values out of
range and unknown fields. Each must get the right 4xx and Lambda error type, leave
nothing half-created (ListFunctions and the archive store unchanged, an updated
function still on its old code), and leave the server serving (a control function
answers afterwards).

test_management.py and test_invoke_python.py cover the plainer cases (garbage and
truncated zips, `../` and absolute entries on create, MemorySize 64, a 6 MB + 1 KB
invoke); this file covers the rest and does not repeat them.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from botocore.exceptions import ClientError

import support
from conftest import GustServer
from support import PYTHON, client_error, invoke, sha256_b64

MB = 1024 * 1024
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
APP = "def handler(event, context):\n    return event\n"
ZIPPED_MAX = 50 * MB


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def control(server: GustServer) -> Iterator[str]:
    """A function that must keep answering; it also receives the invocations."""
    name = support.unique_name("hostile-req-control")
    server.create_function(name, support.make_zip({"app.py": APP}))
    yield name
    server.delete_quietly(name)


@pytest.fixture
def unchanged(server: GustServer, control: str) -> Iterator[None]:
    """Asserts that the test created nothing: the same functions with the same code
    and revisions, no new file in the archive store; and that the server still
    answers, the control function included."""
    before = state(server)
    yield
    after = state(server)
    assert after["functions"] == before["functions"], "the function list changed"
    new_files = sorted(set(after["archives"]) - set(before["archives"]))
    assert not new_files, f"files were left in the archive store: {new_files}"
    assert invoke(server.lambda_, control, {"still": "here"}).ok() == {"still": "here"}
    assert server.health()["status"] == "ok"


def state(server: GustServer) -> dict[str, Any]:
    functions: dict[str, tuple] = {}
    marker = None
    while True:
        page = server.lambda_.list_functions(**({"Marker": marker} if marker else {}))
        for f in page["Functions"]:
            functions[f["FunctionName"]] = (f["CodeSha256"], f["RevisionId"],
                                            f["MemorySize"], f["Timeout"])
        marker = page.get("NextMarker")
        if not marker:
            break
    root = server.data_dir / "archives"
    archives = [str(p.relative_to(root)) for sub in ("zips", "code", "tmp")
                if (root / sub).is_dir() for p in (root / sub).iterdir()]
    return {"functions": functions, "archives": archives}


@pytest.fixture
def target(server: GustServer, control: str) -> Iterator[tuple[str, bytes]]:
    """A function to update, with its code; deleted afterwards."""
    code = support.make_zip({"app.py": APP, "marker.txt": "old code"})
    name = support.unique_name("hostile-req-target")
    server.create_function(name, code)
    yield name, code
    server.delete_quietly(name)


def raw(server: GustServer, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """One raw HTTP request: (status, x-amzn-ErrorType, message)."""
    resp = requests.request(method, server.url + path, data=body, headers=headers or {},
                            timeout=timeout)
    try:
        message = resp.json().get("message", "")
    except ValueError:
        message = resp.text
    return resp.status_code, resp.headers.get("x-amzn-errortype", ""), message


def create_body(name: str | None = None, zip_bytes: bytes | None = None,
                **extra: Any) -> dict[str, Any]:
    return {
        "FunctionName": support.unique_name("hostile-req") if name is None else name,
        "Runtime": PYTHON, "Role": ROLE, "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(
            zip_bytes if zip_bytes is not None else support.make_zip({"app.py": APP})).decode()},
        **extra,
    }


def create_refused(server: GustServer, zip_bytes: bytes) -> tuple[str, int, str]:
    name = support.unique_name("hostile-req")
    try:
        with pytest.raises(ClientError) as e:
            server.create_function(name, zip_bytes)
    finally:
        server.delete_quietly(name)
    return client_error(e)


def assert_invalid_archive(result: tuple[str, int, str], says: str) -> None:
    code, status, message = result
    assert (code, status) == ("InvalidParameterValueException", 400), (code, status, message)
    assert says in message, message


# ---------------------------------------------------------------- archives


def zip_entries(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip from (name, content, unix mode) with names written as given: Python's
    zipfile would normalise some of them."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for name, content, mode in entries:
            info = zipfile.ZipInfo("placeholder", date_time=(2020, 1, 1, 0, 0, 0))
            info.filename = name  # bypass ZipInfo's normalisation
            info.orig_filename = name
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, content)
    return buf.getvalue()


def app_and(*entries: tuple[str, bytes, int]) -> bytes:
    return zip_entries([("app.py", APP.encode(), 0o100644), *entries])


FILE = 0o100644
LINK = 0o120777

ODD_ARCHIVES = {
    "backslash-traversal": app_and(("..\\..\\escaped.py", b"x", FILE)),
    "dot-slash-traversal": app_and(("./../escaped.py", b"x", FILE)),
    "deep-traversal": app_and(("a/b/./../../../escaped.py", b"x", FILE)),
    "drive-letter": app_and(("C:/Windows/escaped.py", b"x", FILE)),
    "drive-letter-backslash": app_and(("C:\\escaped.py", b"x", FILE)),
    "nul-in-name": app_and(("ok.py\x00/../../escaped", b"x", FILE)),
    "overlong-component": app_and(("a" * 300 + ".py", b"x", FILE)),
    "same-name-twice": app_and(("app.py", b"second", FILE)),
    "file-then-dir-of-same-name": app_and(("lib", b"x", FILE), ("lib/mod.py", b"x", FILE)),
    "symlink-absolute": app_and(("shadow", b"/etc/shadow", LINK)),
    "symlink-parent": app_and(("up", b"../../../../etc", LINK)),
    "symlink-then-file-through-it": app_and(("d", b"/tmp", LINK), ("d/evil.py", b"x", FILE)),
    "symlink-loop": app_and(("a", b"b", LINK), ("b", b"a", LINK)),
    "device-node": app_and(("dev", b"", 0o020666)),
    "fifo": app_and(("fifo", b"", 0o010644)),
}


@pytest.mark.parametrize("case", sorted(ODD_ARCHIVES))
def test_escaping_and_odd_archives_are_refused(server, unchanged, case):
    code, status, message = create_refused(server, ODD_ARCHIVES[case])
    assert (code, status) == ("InvalidParameterValueException", 400), (code, status, message)


@pytest.mark.parametrize("case", ["symlink-absolute", "backslash-traversal", "same-name-twice"])
def test_a_refused_update_keeps_the_old_code(server, target, unchanged, case):
    name, code = target
    with pytest.raises(ClientError) as e:
        server.lambda_.update_function_code(FunctionName=name, ZipFile=ODD_ARCHIVES[case])
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    assert server.lambda_.get_function_configuration(
        FunctionName=name)["CodeSha256"] == sha256_b64(code)


def deflated(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buf.getvalue()


def one_big_file(size: int) -> bytes:
    """app.py and `size` zero bytes in one entry, streamed (zip64 sizes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("app.py", APP)
        with zf.open("zeros.bin", "w", force_zip64=True) as f:
            chunk = b"\0" * MB
            for _ in range(size // MB):
                f.write(chunk)
    return buf.getvalue()


def with_declared_size(zip_bytes: bytes, entry: str, declared: int) -> bytes:
    """Rewrites the uncompressed size an entry declares, in its local header and its
    central directory record, leaving the data as it is."""
    data = bytearray(zip_bytes)
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + name_len]) == entry.encode():
            struct.pack_into("<I", data, at + 24, declared)
            local = struct.unpack_from("<I", data, at + 42)[0]
            struct.pack_into("<I", data, local + 22, declared)
        at += 4
    return bytes(data)


def overlapping(copies: int, size: int) -> bytes:
    """A "better zip bomb": one compressed file that `copies` central directory
    records all point at, under different names."""
    base = deflated([("app.py", APP.encode()), ("k0", b"\0" * size)])
    data = bytearray(base)
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 4)
    end = data.rfind(b"PK\x05\x06")
    record = bytes(data[second:end])
    name_len = struct.unpack_from("<H", record, 28)[0]
    records = bytes(data[first:end])
    for i in range(1, copies):
        name = f"k{i}".encode()
        records += record[:28] + struct.pack("<H", len(name)) + record[30:46] + name \
            + record[46 + name_len:]
    eocd = bytearray(data[end:end + 22])
    struct.pack_into("<HHII", eocd, 8, copies + 1, copies + 1, len(records), first)
    return bytes(data[:first]) + records + bytes(eocd)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    many = [("app.py", APP.encode())] + [(f"f{i}", b"") for i in range(20_001)]
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        for name, content in many:
            zf.writestr(name, content)
    small = deflated([("app.py", APP.encode()), ("liar.bin", b"\0" * 1000)])
    return {
        "one-file-over-250mb": one_big_file(251 * MB),
        "files-summing-over-250mb": deflated(
            [("app.py", APP.encode())] + [(f"z{i}.bin", b"\0" * (10 * MB)) for i in range(26)]),
        "too-many-entries": stored.getvalue(),
        "declares-4gb": with_declared_size(small, "liar.bin", 0xFFFF_FFF0),
        "declares-little-holds-over-250mb": with_declared_size(
            one_big_file(251 * MB), "zeros.bin", 100),
        "overlapping-entries": overlapping(20, 20 * MB),
    }


BOMB_MESSAGES = {
    "one-file-over-250mb": "Unzipped size must be smaller than 262144000 bytes",
    "files-summing-over-250mb": "Unzipped size must be smaller than 262144000 bytes",
    "too-many-entries": "at most 20000",
    "declares-4gb": "Unzipped size must be smaller than 262144000 bytes",
    "declares-little-holds-over-250mb": "",
    "overlapping-entries": "",
}


@pytest.mark.parametrize("case", sorted(BOMB_MESSAGES))
def test_zip_bombs_are_refused(server, unchanged, bombs, case):
    assert len(bombs[case]) < 3 * MB, "a bomb should be small"
    assert_invalid_archive(create_refused(server, bombs[case]), BOMB_MESSAGES[case])


def test_a_refused_bomb_update_keeps_the_old_code(server, target, unchanged, bombs):
    name, code = target
    with pytest.raises(ClientError) as e:
        server.lambda_.update_function_code(FunctionName=name,
                                            ZipFile=bombs["one-file-over-250mb"])
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    assert server.lambda_.get_function_configuration(
        FunctionName=name)["CodeSha256"] == sha256_b64(code)


def too_long_for_the_host() -> dict[str, bytes]:
    long = "n" * 255
    return {
        "2100-nested-directories": deflated(
            [("app.py", APP.encode()), ("d/" * 2100 + "deep.py", b"x = 1\n")]),
        "4kb-chain-of-names": deflated(
            [("app.py", APP.encode()), ("/".join([long] * 16) + "/deep.py", b"x = 1\n")]),
        # Fits in /var/task (4,085 bytes), not below gust's data directory.
        "fits-var-task-not-the-host": deflated(
            [("app.py", APP.encode()), ("/".join([long] * 15) + "/" + "t" * 245, b"x = 1\n")]),
    }


@pytest.mark.parametrize("case", sorted(too_long_for_the_host()))
def test_paths_too_long_for_the_host_are_the_archive_s_fault_and_name_no_host_path(
        server, unchanged, case):
    code, status, message = create_refused(server, too_long_for_the_host()[case])
    assert (code, status) == ("InvalidParameterValueException", 400), (code, status, message)
    assert message.startswith(
        "Could not unzip uploaded file. Please check your file, then try to upload again."), message
    assert str(server.data_dir) not in message, message
    assert str(server.data_dir.resolve()) not in message, message
    assert len(message) < 600, message


def not_zips() -> dict[str, bytes]:
    app = support.make_zip({"app.py": APP})
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        info = tarfile.TarInfo("app.py")
        info.size = len(APP)
        tf.addfile(info, io.BytesIO(APP.encode()))
    return {
        "gzip": gzip.compress(APP.encode()),
        "tar": tar.getvalue(),
        "png-header": b"\x89PNG\r\n\x1a\n" + os.urandom(512),
        "zip-encoded-twice": base64.b64encode(app),
        "end-record-only-pointing-nowhere": b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 5, 5,
                                                                         100, 9999, 0),
        "local-header-without-directory": app[:app.find(b"PK\x01\x02")],
    }


@pytest.mark.parametrize("case", sorted(not_zips()))
def test_data_that_is_not_a_zip_is_refused(server, unchanged, case):
    assert_invalid_archive(create_refused(server, not_zips()[case]),
                           "Could not unzip uploaded file")


def test_zipfile_that_is_not_base64_is_refused(server, unchanged):
    body = create_body()
    body["Code"]["ZipFile"] = "this is *not* base64!"
    status, kind, message = raw(server, "POST", "/2015-03-31/functions", json.dumps(body).encode())
    assert (status, kind) == (400, "InvalidParameterValueException"), message


# ---------------------------------------------------------------- oversize bodies


@pytest.fixture(scope="module")
def oversize_zip() -> bytes:
    """A valid zip just over 50 MB (incompressible content, stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", APP)
        zf.writestr("noise.bin", os.urandom(ZIPPED_MAX))
    data = buf.getvalue()
    assert ZIPPED_MAX < len(data) < ZIPPED_MAX + 4096
    return data


def test_code_over_50_mb_is_request_entity_too_large(server, unchanged, oversize_zip):
    # AWS: 413 RequestEntityTooLargeException "Zipped size must be smaller than
    # 52428800 bytes" when the zip is too big, "Request must be smaller than N bytes
    # for the CreateFunction operation" when the whole body is.
    code, status, message = create_refused(server, oversize_zip)
    assert (code, status) == ("RequestEntityTooLargeException", 413), message
    assert message == "Zipped size must be smaller than 52428800 bytes", message

    body = json.dumps(create_body(zip_bytes=oversize_zip + os.urandom(20 * MB))).encode()
    status, kind, message = raw(server, "POST", "/2015-03-31/functions", body)
    assert (status, kind) == (413, "RequestEntityTooLargeException"), message
    assert message.startswith("Request must be smaller than") and "CreateFunction" in message


def test_code_over_50_mb_on_update_keeps_the_old_code(server, target, unchanged, oversize_zip):
    name, code = target
    with pytest.raises(ClientError) as e:
        server.lambda_.update_function_code(FunctionName=name, ZipFile=oversize_zip)
    assert client_error(e)[:2] == ("RequestEntityTooLargeException", 413)
    body = json.dumps({"ZipFile": base64.b64encode(oversize_zip + os.urandom(20 * MB)).decode()})
    status, kind, message = raw(server, "PUT", f"/2015-03-31/functions/{name}/code",
                                body.encode())
    assert (status, kind) == (413, "RequestEntityTooLargeException"), message
    assert "UpdateFunctionCode" in message, message
    assert server.lambda_.get_function_configuration(
        FunctionName=name)["CodeSha256"] == sha256_b64(code)


def test_an_oversize_invoke_without_a_length_is_413(server, control, unchanged):
    """A chunked body carries no Content-Length: the limit must hold while reading."""
    def chunks():
        for _ in range(7):
            yield b" " * MB
    resp = requests.post(f"{server.url}/2015-03-31/functions/{control}/invocations",
                         data=chunks(), timeout=60)
    assert resp.status_code == 413, resp.text
    assert resp.headers["x-amzn-errortype"] == "RequestTooLargeException"


# ---------------------------------------------------------------- nesting and encoding


def nested_arrays(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event", "DryRun"])
@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_deeply_nested_invoke_payloads_are_refused(server, control, unchanged, shape,
                                                   invocation_type):
    # Event payloads are limited to 1 MB: fewer levels, still far too deep.
    levels = 40_000 if invocation_type == "Event" else 100_000
    body = (nested_arrays if shape == "arrays" else nested_objects)(levels)
    status, kind, message = raw(server, "POST", f"/2015-03-31/functions/{control}/invocations",
                                body, {"X-Amz-Invocation-Type": invocation_type})
    assert (status, kind) == (400, "InvalidRequestContentException"), message
    assert message.startswith("Could not parse request body into json"), message


def test_nesting_at_the_limit_reaches_the_function(server, control, unchanged):
    # Python's json decoder handles a few hundred levels; the platform allows 1000.
    assert invoke(server.lambda_, control, raw=nested_arrays(300)).ok() is not None
    status, kind, _ = raw(server, "POST", f"/2015-03-31/functions/{control}/invocations",
                          nested_arrays(1001))
    assert (status, kind) == (400, "InvalidRequestContentException")


MANAGEMENT_BODIES = {
    "create": ("POST", "/2015-03-31/functions"),
    "update-configuration": ("PUT", "/2015-03-31/functions/{name}/configuration"),
    "update-code": ("PUT", "/2015-03-31/functions/{name}/code"),
    "publish-version": ("POST", "/2015-03-31/functions/{name}/versions"),
    "create-alias": ("POST", "/2015-03-31/functions/{name}/aliases"),
    "url-config": ("POST", "/2021-10-31/functions/{name}/url"),
    "reserved-concurrency": ("PUT", "/2017-10-31/functions/{name}/concurrency"),
    "event-invoke-config": ("PUT", "/2019-09-25/functions/{name}/event-invoke-config"),
}


@pytest.mark.parametrize("shape", ["arrays", "objects"])
@pytest.mark.parametrize("operation", sorted(MANAGEMENT_BODIES))
def test_deeply_nested_management_bodies_are_refused(server, target, unchanged, operation,
                                                     shape):
    method, path = MANAGEMENT_BODIES[operation]
    body = (nested_arrays if shape == "arrays" else nested_objects)(100_000)
    status, kind, message = raw(server, method, path.format(name=target[0]), body)
    assert (status, kind) == (400, "InvalidRequestContentException"), message


def test_invalid_utf8_is_refused_everywhere(server, control, target, unchanged):
    invoke_path = f"/2015-03-31/functions/{control}/invocations"
    for body in [b'"\xff\xfe"', b"\xc3\x28", b'{"key": "\xed\xa0\x80"}']:
        status, kind, message = raw(server, "POST", invoke_path, body)
        assert (status, kind) == (400, "InvalidRequestContentException"), (body, message)
    bad_context = base64.b64encode(b'{"custom": "\xff"}').decode()
    status, kind, _ = raw(server, "POST", invoke_path, b"{}",
                          {"X-Amz-Client-Context": bad_context})
    assert (status, kind) == (400, "InvalidRequestContentException")
    create = json.dumps(create_body()).encode().replace(b'"Handler"', b'"Handler\xff"')
    status, kind, _ = raw(server, "POST", "/2015-03-31/functions", create)
    assert (status, kind) == (400, "InvalidRequestContentException")
    status, kind, _ = raw(server, "PUT", f"/2015-03-31/functions/{target[0]}/configuration",
                          b'{"Description": "\xff"}')
    assert (status, kind) == (400, "InvalidRequestContentException")
    for method, path in [("GET", "/2015-03-31/functions/%FF"),
                         ("POST", "/2015-03-31/functions/%FF%FE/invocations"),
                         ("DELETE", "/2015-03-31/functions/%C3%28")]:
        status, kind, message = raw(server, method, path, b"{}")
        assert (status, kind) == (400, "InvalidParameterValueException"), (path, message)


def test_client_context_must_be_a_json_object(server, control, unchanged):
    for context in [b"[1, 2]", b'"text"', b"{" * 2000, b"not json"]:
        status, kind, message = raw(
            server, "POST", f"/2015-03-31/functions/{control}/invocations", b"{}",
            {"X-Amz-Client-Context": base64.b64encode(context).decode()})
        assert (status, kind) == (400, "InvalidRequestContentException"), (context, message)


# ---------------------------------------------------------------- names and values


BAD_NAMES = ["../etc", "..", "a/b", "a\\b", "", " ", "na\u00efve", "a" * 65, "name\x00",
             "line\nbreak", "arn:aws:lambda:us-east-1:000000000000:function:" + "a" * 65,
             "arn:aws:lambda:us-east-1:000000000000:function:ok:1:2", "%2e%2e"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=[repr(n)[:30] for n in BAD_NAMES])
def test_invalid_names_are_refused_on_create(server, unchanged, bad):
    status, kind, message = raw(server, "POST", "/2015-03-31/functions",
                                json.dumps(create_body(name=bad)).encode())
    assert (status, kind) == (400, "InvalidParameterValueException"), message


BAD_PATH_NAMES = ["..%2F..%2Fetc", "a" * 200, "%00", "a%0Ab", "%2e%2e", "na%C3%AFve",
                  "arn:aws:lambda:us-east-1:000000000000:function:" + "a" * 200]


@pytest.mark.parametrize("bad", BAD_PATH_NAMES, ids=[n[:30] for n in BAD_PATH_NAMES])
def test_invalid_names_in_paths_are_refused(server, unchanged, bad):
    for method, path in [("GET", f"/2015-03-31/functions/{bad}"),
                         ("POST", f"/2015-03-31/functions/{bad}/invocations"),
                         ("PUT", f"/2015-03-31/functions/{bad}/configuration"),
                         ("DELETE", f"/2015-03-31/functions/{bad}")]:
        status, kind, message = raw(server, method, path, b"{}")
        assert (status, kind) == (400, "InvalidParameterValueException"), (method, path, message)


# Values of the right JSON type but out of range are InvalidParameterValueException,
# as AWS words them; values of the wrong type or sign do not parse (u32 fields) and
# are InvalidRequestContentException. Either way: 400, a Lambda type, nothing made.
OUT_OF_RANGE = {
    "memory-127": ({"MemorySize": 127}, "InvalidParameterValueException"),
    "memory-10241": ({"MemorySize": 10241}, "InvalidParameterValueException"),
    "memory-negative": ({"MemorySize": -1}, "InvalidRequestContentException"),
    "memory-2^64": ({"MemorySize": 2**64}, "InvalidRequestContentException"),
    "memory-string": ({"MemorySize": "512"}, "InvalidRequestContentException"),
    "memory-fraction": ({"MemorySize": 128.5}, "InvalidRequestContentException"),
    "timeout-negative": ({"Timeout": -3}, "InvalidRequestContentException"),
    "timeout-2^32": ({"Timeout": 2**32}, "InvalidRequestContentException"),
    "timeout-huge": ({"Timeout": 10**6}, "InvalidParameterValueException"),
    "ephemeral-511": ({"EphemeralStorage": {"Size": 511}}, "InvalidParameterValueException"),
    "ephemeral-10241": ({"EphemeralStorage": {"Size": 10241}}, "InvalidParameterValueException"),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_values_out_of_range_are_refused_on_create(server, unchanged, case):
    extra, expected = OUT_OF_RANGE[case]
    status, kind, message = raw(server, "POST", "/2015-03-31/functions",
                                json.dumps(create_body(**extra)).encode())
    assert (status, kind) == (400, expected), message


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_values_out_of_range_change_nothing_on_update(server, target, unchanged, case):
    extra, expected = OUT_OF_RANGE[case]
    status, kind, message = raw(server, "PUT",
                                f"/2015-03-31/functions/{target[0]}/configuration",
                                json.dumps(extra).encode())
    assert (status, kind) == (400, expected), message


UNKNOWN_FIELDS = {
    "create-top-level": ("POST", "/2015-03-31/functions", lambda: create_body(Bogus=1)),
    "create-in-code": ("POST", "/2015-03-31/functions",
                       lambda: {**create_body(), "Code": {**create_body()["Code"], "Url": "x"}}),
    "create-in-environment": ("POST", "/2015-03-31/functions", lambda: create_body(
        Environment={"Variables": {}, "Secret": "x"})),
    "create-in-ephemeral-storage": ("POST", "/2015-03-31/functions", lambda: create_body(
        EphemeralStorage={"Size": 512, "Encrypted": True})),
    "update-configuration": ("PUT", "/2015-03-31/functions/{name}/configuration",
                             lambda: {"Timeout": 5, "Privileged": True}),
    "update-code": ("PUT", "/2015-03-31/functions/{name}/code",
                    lambda: {"ZipFile": create_body()["Code"]["ZipFile"], "Mount": "/"}),
    "create-alias": ("POST", "/2015-03-31/functions/{name}/aliases",
                     lambda: {"Name": "live", "FunctionVersion": "$LATEST", "Weight": 2}),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_FIELDS))
def test_unknown_fields_are_refused(server, target, unchanged, case):
    method, path, body = UNKNOWN_FIELDS[case]
    status, kind, message = raw(server, method, path.format(name=target[0]),
                                json.dumps(body()).encode())
    assert (status, kind) == (400, "InvalidRequestContentException"), message
    assert "unknown field" in message, message
    assert not server.lambda_.list_aliases(FunctionName=target[0])["Aliases"]


def test_an_unsupported_method_is_an_aws_error(server, control, unchanged):
    status, kind, message = raw(server, "PATCH", f"/2015-03-31/functions/{control}")
    assert (status, kind) == (404, "ResourceNotFoundException"), message
    assert "Unknown operation" in message


def test_a_query_string_that_does_not_parse_is_an_aws_error(server, unchanged):
    status, kind, message = raw(server, "GET", "/2015-03-31/functions/?MaxItems=lots")
    assert (status, kind) == (400, "InvalidParameterValueException"), message


def test_the_archive_store_holds_only_live_functions_code(server):
    """After everything above: every stored archive belongs to a function that
    exists, or was replaced so recently that its grace period has not run out."""
    live = {base64.b64decode(c).hex() for c, *_ in state(server)["functions"].values()}
    root = server.data_dir / "archives"
    stored = {Path(p).stem for p in os.listdir(root / "zips")}
    stray = stored - live
    # Deleted functions' archives stay for a grace period; none of this file's refused
    # uploads may be among them (their digests never reached the store).
    refused = {base64.b64decode(sha256_b64(z)).hex() for z in ODD_ARCHIVES.values()}
    assert not (stray & refused), f"refused archives were stored: {stray & refused}"
    assert not list((root / "tmp").iterdir()), "a put left its staging directory"
