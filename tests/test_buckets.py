"""The S3-compatible object store in `gust serve`, on the same port as the Lambda API,
driven with boto3's S3 client, raw HTTP where a client would hide the wire, and the
AWS CLI, against what AWS documents for S3:

- buckets: CreateBucket (with and without a LocationConstraint, per region), HeadBucket,
  ListBuckets, GetBucketLocation, DeleteBucket, and their errors;
- objects: PutObject (metadata, content headers, Content-MD5, conditional writes),
  GetObject (ETag, ranges, conditional reads, response header overrides), HeadObject,
  DeleteObject, DeleteObjects, CopyObject;
- the checksums boto3 sends by default and the aws-chunked bodies other SDKs send
  (unsigned with a trailer, and SigV4-signed chunks);
- ListObjects and ListObjectsV2: prefixes, delimiters, paging, URL encoding, order;
- keys: any UTF-8, up to 1,024 bytes;
- multipart uploads and boto3's transfer manager;
- presigned URLs and signature checks with --access-key;
- path-style and virtual-host addressing, next to the Lambda API;
- hostile input: malformed XML, bodies cut short, traversal-looking keys.

Every S3 client here is boto3's with path-style addressing (botocore would pick it
for an IP endpoint anyway), unless a test says otherwise. `*.localhost` does not
resolve everywhere: virtual-host requests are sent to 127.0.0.1 with the bucket's
Host header, as a resolver would have them."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit, urlunsplit

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

import support
from conftest import GustServer

REGION = support.REGION
OTHER_REGION = "eu-west-1"
KEY_ID = "AKIDEXAMPLE"
SECRET = "secretsecret"
MiB = 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# ---------------------------------------------------------------- clients


def s3_client(srv: GustServer, *, key_id: str = "test", secret: str = "test",
              region: str = REGION, style: str = "path", endpoint: str | None = None,
              **config: Any):
    """A boto3 S3 client for `srv`, like the server's Lambda client: no retries, so
    every error the server answers is the one the test sees."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint or srv.url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            s3={"addressing_style": style},
            retries={"max_attempts": 0},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=16,
            **config,
        ),
    )


def lambda_client(srv: GustServer, key_id: str, secret: str):
    return boto3.client("lambda", endpoint_url=srv.url, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0}))


def bucket_name(prefix: str = "bkt") -> str:
    """A bucket name no other test uses: lowercase, well within 3-63 characters."""
    return support.unique_name(prefix).lower()


def new_bucket(s3, prefix: str = "bkt") -> str:
    name = bucket_name(prefix)
    s3.create_bucket(Bucket=name)
    return name


def refused(call: Callable, *args, **kwargs) -> tuple[str, int, str]:
    """(code, status, message) of the ClientError that `call` must raise."""
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return support.client_error(e)


def put_many(s3, bucket: str, keys: Iterable[str], body: Callable[[str], bytes] | None = None):
    """Puts every key, 8 at a time; the body is `body(key)`, else the key's bytes."""
    def put(key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body(key) if body else key.encode())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))


def listed_keys(s3, bucket: str, **params) -> list[str]:
    """Every key of a ListObjectsV2 listing, through boto3's paginator."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **params):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def headers_of(resp: dict) -> dict[str, str]:
    return resp["ResponseMetadata"]["HTTPHeaders"]


# ---------------------------------------------------------------- digests


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def etag_of(data: bytes) -> str:
    """The ETag S3 gives an object stored by a single PUT: its quoted hex MD5."""
    return f'"{md5_hex(data)}"'


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c_b64(data: bytes) -> str:
    """CRC32C (Castagnoli), which botocore computes only with awscrt installed."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_crc32c_helper_matches_the_published_check_value():
    # The CRC-32C check value of "123456789" is 0xE3069283.
    assert crc32c_b64(b"123456789") == base64.b64encode(bytes.fromhex("e3069283")).decode()


# ---------------------------------------------------------------- raw HTTP and SigV4


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str = REGION, service: str = "s3") -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


class Signed:
    """The headers of a request signed with SigV4 as AWS documents it for S3 (the
    path is signed exactly as sent), and what signing chunks of its body needs."""

    def __init__(self, method: str, host: str, path: str, *, payload_hash: str,
                 headers: dict[str, str] | None = None, key_id: str = "test",
                 secret: str = "test", region: str = REGION, service: str = "s3"):
        path_only, _, query = path.partition("?")
        self.amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.scope = f"{self.amz_date[:8]}/{region}/{service}/aws4_request"
        self.key = signing_key(secret, self.amz_date[:8], region, service)
        hdrs = {k.lower(): str(v).strip() for k, v in (headers or {}).items()}
        hdrs.update({"host": host, "x-amz-date": self.amz_date,
                     "x-amz-content-sha256": payload_hash})
        names = sorted(hdrs)
        pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                       for k, v in parse_qsl(query, keep_blank_values=True))
        canonical = "\n".join([
            method,
            path_only,
            "&".join(f"{k}={v}" for k, v in pairs),
            "".join(f"{n}:{hdrs[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        self.signature = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{self.scope}, "
                                 f"SignedHeaders={';'.join(names)}, Signature={self.signature}")
        self.headers = hdrs

    def chunk_signature(self, previous: str, chunk: bytes) -> str:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous,
                             EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()])
        return hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()


def netloc(srv: GustServer) -> str:
    return urlsplit(srv.url).netloc


def port_of(srv: GustServer) -> int:
    return urlsplit(srv.url).port


def raw_request(srv: GustServer, method: str, path: str, body: bytes = b"", *,
                headers: dict[str, str] | None = None, sign: bool = True,
                key_id: str = "test", secret: str = "test", host: str | None = None,
                payload_hash: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Sends one request exactly as given (no path normalisation) to `srv`, signed
    with SigV4 for s3 unless `sign` is false: (status, lowercase headers, body)."""
    host = host or netloc(srv)
    hdrs = dict(headers or {})
    if sign:
        hdrs = Signed(method, host, path, headers=hdrs, key_id=key_id, secret=secret,
                      payload_hash=payload_hash or hashlib.sha256(body).hexdigest()).headers
    else:
        hdrs["Host"] = host
    conn = http.client.HTTPConnection("127.0.0.1", port_of(srv), timeout=60)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def xml_code(body: bytes | str) -> str | None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return m.group(1) if m else None


def path_of(bucket: str, key: str = "") -> str:
    return f"/{bucket}/{quote(key, safe='/~')}" if key else f"/{bucket}"


def aws_chunked(data: bytes, chunk: int, trailer: tuple[str, str] | None = None) -> bytes:
    """`data` in aws-chunked framing without chunk signatures (as botocore sends over
    TLS with STREAMING-UNSIGNED-PAYLOAD-TRAILER), with an optional trailing header."""
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n"
    if trailer:
        out += f"{trailer[0]}:{trailer[1]}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture
def bucket(s3) -> str:
    return new_bucket(s3)


@pytest.fixture(scope="module")
def secured(gust_bin, tmp_path_factory):
    """A server that requires SigV4 with KEY_ID:SECRET, shared by this module."""
    srv = GustServer(gust_bin, tmp_path_factory.mktemp("gust-s3-secured"),
                     ["--access-key", f"{KEY_ID}:{SECRET}"])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def secured_s3(secured):
    return s3_client(secured, key_id=KEY_ID, secret=SECRET)


@pytest.fixture(scope="module")
def secured_bucket(secured_s3) -> str:
    name = new_bucket(secured_s3, "secured")
    secured_s3.put_object(Bucket=name, Key="hello.txt", Body=b"hello, presigned")
    secured_s3.put_object(Bucket=name, Key="other.txt", Body=b"another object")
    return name


@pytest.fixture
def regional(start_server):
    """A server whose region is OTHER_REGION, and an S3 client for it."""
    srv = start_server("--region", OTHER_REGION)
    return srv, s3_client(srv, region=OTHER_REGION)


# ================================================================ buckets


def test_create_head_and_list_a_bucket(s3):
    name = bucket_name("create")
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert headers_of(head)["x-amz-bucket-region"] == REGION

    buckets = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert name in buckets, sorted(buckets)
    assert isinstance(buckets[name]["CreationDate"], datetime)


def test_head_bucket_of_an_unknown_bucket_is_404(s3):
    assert refused(s3.head_bucket, Bucket=bucket_name("missing"))[:2] == ("404", 404)


def test_get_bucket_location_of_a_us_east_1_bucket_is_null(s3, bucket):
    # AWS: "Buckets in Region us-east-1 have a LocationConstraint of null."
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_recreating_your_own_bucket_in_us_east_1_succeeds_and_keeps_its_objects(s3, bucket):
    # AWS: BucketAlreadyOwnedByYou is returned "in all Regions except North Virginia";
    # there, for legacy compatibility, re-creating your own bucket answers 200 OK.
    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"still here")
    resp = s3.create_bucket(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"still here"


def test_location_constraint_us_east_1_is_invalid_in_us_east_1(s3):
    # us-east-1 is the default location: naming it is refused.
    name = bucket_name("useast")
    code, status, _ = refused(s3.create_bucket, Bucket=name,
                              CreateBucketConfiguration={"LocationConstraint": REGION})
    assert (code, status) == ("InvalidLocationConstraint", 400)
    assert refused(s3.head_bucket, Bucket=name)[:2] == ("404", 404)


def test_create_bucket_with_the_servers_location_constraint(regional):
    _, s3 = regional
    name = bucket_name("regional")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == OTHER_REGION
    assert headers_of(s3.head_bucket(Bucket=name))["x-amz-bucket-region"] == OTHER_REGION


def test_creating_an_existing_bucket_outside_us_east_1_is_bucket_already_owned_by_you(regional):
    _, s3 = regional
    name = bucket_name("owned")
    config = {"LocationConstraint": OTHER_REGION}
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=config)
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    code, status, _ = refused(s3.create_bucket, Bucket=name, CreateBucketConfiguration=config)
    assert (code, status) == ("BucketAlreadyOwnedByYou", 409)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"


@pytest.mark.parametrize("config", [{"LocationConstraint": "ap-south-1"}, None],
                         ids=["another-region", "unspecified"])
def test_a_location_constraint_not_matching_the_regional_endpoint_is_refused(regional, config):
    # AWS's regional endpoints answer IllegalLocationConstraintException ("The ...
    # location constraint is incompatible for the region specific endpoint this
    # request was sent to"); only us-east-1 takes an unspecified constraint.
    _, s3 = regional
    name = bucket_name("illegal")
    kwargs = {"CreateBucketConfiguration": config} if config else {}
    code, status, _ = refused(s3.create_bucket, Bucket=name, **kwargs)
    assert (code, status) == ("IllegalLocationConstraintException", 400)
    assert refused(s3.head_bucket, Bucket=name)[:2] == ("404", 404)


@pytest.mark.parametrize("name", [
    "ab",                       # shorter than 3
    "a" * 64,                   # longer than 63
    "UpperCase-bucket",         # uppercase letters
    "under_score-bucket",       # underscore
    "-leading-hyphen",          # must begin with a letter or digit
    "trailing-hyphen-",         # must end with a letter or digit
    "two..adjacent.periods",
    "192.168.5.4",              # formatted as an IP address
    "xn--reserved-prefix",
    "reserved-suffix-s3alias",
])
def test_invalid_bucket_names_are_refused(s3, name):
    code, status, _ = refused(s3.create_bucket, Bucket=name)
    assert (code, status) == ("InvalidBucketName", 400)


def test_delete_an_empty_bucket(s3):
    name = new_bucket(s3, "delete")
    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert refused(s3.head_bucket, Bucket=name)[:2] == ("404", 404)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_deleting_a_bucket_with_objects_is_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    code, status, _ = refused(s3.delete_bucket, Bucket=bucket)
    assert (code, status) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="x")
    s3.delete_bucket(Bucket=bucket)
    assert refused(s3.head_bucket, Bucket=bucket)[:2] == ("404", 404)


def test_deleting_an_unknown_bucket_is_no_such_bucket(s3):
    assert refused(s3.delete_bucket, Bucket=bucket_name("nobucket"))[:2] == ("NoSuchBucket", 404)


@pytest.mark.parametrize("call", [
    lambda s3, b: s3.put_object(Bucket=b, Key="k", Body=b"x"),
    lambda s3, b: s3.get_object(Bucket=b, Key="k"),
    lambda s3, b: s3.list_objects_v2(Bucket=b),
    lambda s3, b: s3.list_objects(Bucket=b),
    lambda s3, b: s3.delete_object(Bucket=b, Key="k"),
    lambda s3, b: s3.create_multipart_upload(Bucket=b, Key="k"),
], ids=["put", "get", "list-v2", "list-v1", "delete", "multipart"])
def test_object_calls_on_an_unknown_bucket_are_no_such_bucket(s3, call):
    assert refused(call, s3, bucket_name("nobucket"))[:2] == ("NoSuchBucket", 404)


# ================================================================ objects


def test_put_and_get_an_object(s3, bucket):
    data = os.urandom(4096)
    put = s3.put_object(Bucket=bucket, Key="blob.bin", Body=data)
    assert put["ETag"] == etag_of(data)
    assert headers_of(put).get("x-amz-request-id")

    got = s3.get_object(Bucket=bucket, Key="blob.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == etag_of(data)
    assert got["ContentLength"] == len(data)
    assert got["AcceptRanges"] == "bytes"
    assert isinstance(got["LastModified"], datetime)
    assert headers_of(got).get("x-amz-request-id")
    # AWS stores objects put without a Content-Type as binary/octet-stream.
    assert got["ContentType"] == "binary/octet-stream"


def test_an_overwrite_replaces_the_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"v": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["ETag"] == etag_of(b"second")
    assert got["Metadata"] == {}


def test_an_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0


def test_metadata_and_content_headers_round_trip(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="doc.txt", Body=b"hello",
        Metadata={"color": "blue", "owner-id": "42"},
        ContentType="text/plain; charset=utf-8",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="doc.txt"',
        ContentLanguage="en",
    )
    for resp in (s3.get_object(Bucket=bucket, Key="doc.txt"),
                 s3.head_object(Bucket=bucket, Key="doc.txt")):
        assert resp["Metadata"] == {"color": "blue", "owner-id": "42"}
        assert resp["ContentType"] == "text/plain; charset=utf-8"
        assert resp["CacheControl"] == "max-age=60"
        assert resp["ContentDisposition"] == 'attachment; filename="doc.txt"'
        assert resp["ContentLanguage"] == "en"
        assert headers_of(resp)["x-amz-meta-color"] == "blue"


def test_metadata_keys_come_back_lowercase(s3, bucket):
    # AWS stores user-defined metadata keys in lowercase.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"Mixed-Case": "Value"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"mixed-case": "Value"}


def test_a_correct_content_md5_is_accepted(s3, bucket):
    data = b"checked with md5"
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ContentMD5=md5_b64(data))
    assert put["ETag"] == etag_of(data)


def test_a_wrong_content_md5_is_bad_digest(s3, bucket):
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key="k", Body=b"the data",
                              ContentMD5=md5_b64(b"other data"))
    assert (code, status) == ("BadDigest", 400)
    assert refused(s3.head_object, Bucket=bucket, Key="k")[:2] == ("404", 404)


def test_a_malformed_content_md5_is_invalid_digest(s3, bucket):
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key="k", Body=b"the data",
                              ContentMD5="not-an-md5")
    assert (code, status) == ("InvalidDigest", 400)
    assert refused(s3.head_object, Bucket=bucket, Key="k")[:2] == ("404", 404)


def test_if_none_match_star_refuses_to_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key="once", Body=b"second",
                              IfNoneMatch="*")
    assert (code, status) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_if_match_on_put_overwrites_only_the_expected_version(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")["ETag"]
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key="cas", Body=b"v2",
                              IfMatch=etag_of(b"something else"))
    assert (code, status) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v3", IfMatch=first)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v3"


DIGITS = b"0123456789"


@pytest.mark.parametrize("rng,body,content_range", [
    ("bytes=0-4", b"01234", "bytes 0-4/10"),
    ("bytes=5-", b"56789", "bytes 5-9/10"),
    ("bytes=-3", b"789", "bytes 7-9/10"),
    ("bytes=7-1000", b"789", "bytes 7-9/10"),
    ("bytes=3-3", b"3", "bytes 3-3/10"),
])
def test_range_requests_are_206_with_content_range(s3, bucket, rng, body, content_range):
    s3.put_object(Bucket=bucket, Key="digits", Body=DIGITS)
    got = s3.get_object(Bucket=bucket, Key="digits", Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == content_range
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body


@pytest.mark.parametrize("rng", ["bytes=10-20", "bytes=100-"])
def test_an_unsatisfiable_range_is_invalid_range(s3, bucket, rng):
    s3.put_object(Bucket=bucket, Key="digits", Body=DIGITS)
    code, status, _ = refused(s3.get_object, Bucket=bucket, Key="digits", Range=rng)
    assert (code, status) == ("InvalidRange", 416)


def test_a_malformed_range_is_ignored(s3, bucket):
    # RFC 9110: a recipient ignores a Range header it cannot parse.
    s3.put_object(Bucket=bucket, Key="digits", Body=DIGITS)
    got = s3.get_object(Bucket=bucket, Key="digits", Range="bytes=abc")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == DIGITS


def test_a_304_carries_the_validators_a_cache_revalidates_with(server, s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"cached")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
        "last-modified"]
    for method in ("GET", "HEAD"):
        status, headers, body = raw_request(server, method, f"/{bucket}/k",
                                            headers={"If-None-Match": etag})
        assert status == 304, body
        assert headers.get("etag") == etag, headers
        assert headers.get("last-modified") == modified, headers


def test_if_match_and_if_none_match_on_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"tagged")["ETag"]
    other = etag_of(b"not this")
    assert refused(s3.get_object, Bucket=bucket, Key="k", IfMatch=other)[:2] == (
        "PreconditionFailed", 412)
    assert refused(s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=etag)[:2] == ("304", 304)
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"tagged"
    assert s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=other)["Body"].read() == b"tagged"


def test_if_modified_since_and_if_unmodified_since_on_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"dated")
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    day = timedelta(days=1)
    # Last-Modified has one-second resolution: the object is not modified since the
    # very time the server reported.
    assert refused(s3.get_object, Bucket=bucket, Key="k", IfModifiedSince=modified)[:2] == (
        "304", 304)
    assert s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=modified - day)["Body"].read() \
        == b"dated"
    assert refused(s3.get_object, Bucket=bucket, Key="k",
                   IfUnmodifiedSince=modified - day)[:2] == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=modified)["Body"].read() \
        == b"dated"


def test_conditional_precedence_follows_aws(s3, bucket):
    # GetObject's reference: If-Match true with If-Unmodified-Since false is 200;
    # If-None-Match false with If-Modified-Since true is 304.
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"both")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    day = timedelta(days=1)
    got = s3.get_object(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=modified - day)
    assert got["Body"].read() == b"both"
    assert refused(s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=etag,
                   IfModifiedSince=modified - day)[:2] == ("304", 304)


def test_conditional_head_object(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"head")["ETag"]
    assert refused(s3.head_object, Bucket=bucket, Key="k", IfNoneMatch=etag)[:2] == ("304", 304)
    assert refused(s3.head_object, Bucket=bucket, Key="k",
                   IfMatch=etag_of(b"x"))[:2] == ("412", 412)
    assert s3.head_object(Bucket=bucket, Key="k", IfMatch=etag)["ETag"] == etag


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="data.bin", Body=b"a,b\n1,2\n", ContentType="binary/x")
    got = s3.get_object(
        Bucket=bucket, Key="data.bin",
        ResponseContentType="text/csv",
        ResponseContentDisposition='attachment; filename="data.csv"',
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr",
    )
    assert got["ContentType"] == "text/csv"
    assert got["ContentDisposition"] == 'attachment; filename="data.csv"'
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "fr"
    assert got["Body"].read() == b"a,b\n1,2\n"
    # Overrides change only that response.
    assert s3.head_object(Bucket=bucket, Key="data.bin")["ContentType"] == "binary/x"


def test_head_object(s3, bucket):
    data = b"x" * 1234
    s3.put_object(Bucket=bucket, Key="k", Body=data, Metadata={"a": "b"}, ContentType="text/x")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentLength"] == 1234
    assert head["ETag"] == etag_of(data)
    assert head["Metadata"] == {"a": "b"}
    assert head["ContentType"] == "text/x"


def test_head_object_sends_no_body(server, s3, bucket):
    # A body written after a HEAD's headers would be read as the start of the next
    # response on the same connection.
    s3.put_object(Bucket=bucket, Key="present", Body=b"x" * 100)
    s3.put_object(Bucket=bucket, Key="next", Body=b"the next response")
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=30)
    try:
        for key, status in [("missing", 404), ("present", 200)]:
            path = path_of(bucket, key)
            conn.request("HEAD", path, headers=Signed(
                "HEAD", netloc(server), path, payload_hash=EMPTY_SHA256).headers)
            resp = conn.getresponse()
            assert resp.status == status
            assert resp.read() == b""
            if status == 200:
                assert resp.getheader("Content-Length") == "100"
        path = path_of(bucket, "next")
        conn.request("GET", path, headers=Signed(
            "GET", netloc(server), path, payload_hash=EMPTY_SHA256).headers)
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == b"the next response"
    finally:
        conn.close()


def test_head_of_a_missing_key_is_404(s3, bucket):
    assert refused(s3.head_object, Bucket=bucket, Key="missing")[:2] == ("404", 404)


def test_get_of_a_missing_key_is_no_such_key(s3, bucket):
    assert refused(s3.get_object, Bucket=bucket, Key="missing")[:2] == ("NoSuchKey", 404)


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert refused(s3.get_object, Bucket=bucket, Key="k")[:2] == ("NoSuchKey", 404)


def test_deleting_a_missing_key_is_204(s3, bucket):
    resp = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3, bucket):
    put_many(s3, bucket, ["a", "b", "c", "keep"])
    # boto3 >= 1.36 sends a CRC32 checksum and no Content-MD5 with this request.
    resp = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}, {"Key": "never-existed"}]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["a", "b", "c", "never-existed"]
    assert resp.get("Errors", []) == []
    assert listed_keys(s3, bucket) == ["keep"]


def test_delete_objects_quiet_reports_only_errors(s3, bucket):
    put_many(s3, bucket, ["a", "b"])
    resp = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True})
    assert resp.get("Deleted", []) == []
    assert resp.get("Errors", []) == []
    assert listed_keys(s3, bucket) == []


def test_delete_objects_with_unicode_keys(s3, bucket):
    keys = ["über/straße", "with space", "日本/語"]
    put_many(s3, bucket, keys)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert listed_keys(s3, bucket) == []


def test_copy_object_within_a_bucket_keeps_metadata(s3, bucket):
    data = b"copy me"
    s3.put_object(Bucket=bucket, Key="src", Body=data, Metadata={"color": "red"},
                  ContentType="text/plain")
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert resp["CopyObjectResult"]["ETag"] == etag_of(data)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"color": "red"}
    assert got["ContentType"] == "text/plain"
    # The source is untouched.
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == data


def test_copy_object_with_metadata_directive_copy_ignores_new_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Metadata={"color": "red"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="COPY", Metadata={"color": "green"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"color": "red"}


def test_copy_object_to_another_bucket(s3, bucket):
    other = new_bucket(s3, "copy-dst")
    data = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="dir/src.bin", Body=data, Metadata={"k": "v"})
    s3.copy_object(Bucket=other, Key="copied/dst.bin",
                   CopySource={"Bucket": bucket, "Key": "dir/src.bin"})
    got = s3.get_object(Bucket=other, Key="copied/dst.bin")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"k": "v"}
    assert listed_keys(s3, other) == ["copied/dst.bin"]


def test_copy_object_with_metadata_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"body", Metadata={"old": "1"},
                  ContentType="text/plain")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"new": "2"},
                   ContentType="application/json")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"new": "2"}
    assert head["ContentType"] == "application/json"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"body"


def test_copying_an_object_onto_itself_with_replace_updates_its_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"} and got["Body"].read() == b"same"


def test_copying_an_object_onto_itself_unchanged_is_invalid_request(s3, bucket):
    # "This copy request is illegal because it is trying to copy an object to itself
    # without changing the object's metadata, storage class, website redirect
    # location or encryption attributes."
    s3.put_object(Bucket=bucket, Key="self", Body=b"same")
    code, status, _ = refused(s3.copy_object, Bucket=bucket, Key="self",
                              CopySource={"Bucket": bucket, "Key": "self"})
    assert (code, status) == ("InvalidRequest", 400)


def test_copy_of_a_missing_source_is_no_such_key(s3, bucket):
    code, status, _ = refused(s3.copy_object, Bucket=bucket, Key="dst",
                              CopySource={"Bucket": bucket, "Key": "missing"})
    assert (code, status) == ("NoSuchKey", 404)


def test_copy_source_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x")["ETag"]
    code, status, _ = refused(s3.copy_object, Bucket=bucket, Key="dst",
                              CopySource={"Bucket": bucket, "Key": "src"},
                              CopySourceIfMatch=etag_of(b"other"))
    assert (code, status) == ("PreconditionFailed", 412)
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   CopySourceIfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"x"


def test_copy_with_a_unicode_source_key(s3, bucket):
    src = "quellen/schöne grüße+1.txt"
    s3.put_object(Bucket=bucket, Key=src, Body=b"gruss")
    s3.copy_object(Bucket=bucket, Key="ziel/kopie.txt", CopySource={"Bucket": bucket, "Key": src})
    assert s3.get_object(Bucket=bucket, Key="ziel/kopie.txt")["Body"].read() == b"gruss"


# ================================================================ checksums


def test_boto3s_default_crc32_checksum_is_accepted(s3, bucket):
    data = os.urandom(10_000)
    put = s3.put_object(Bucket=bucket, Key="crc.bin", Body=data)
    assert put["ChecksumCRC32"] == crc32_b64(data)
    assert s3.get_object(Bucket=bucket, Key="crc.bin")["Body"].read() == data


def test_sha256_checksum(s3, bucket):
    data = os.urandom(10_000)
    put = s3.put_object(Bucket=bucket, Key="sha.bin", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == sha256_b64(data)
    head = s3.head_object(Bucket=bucket, Key="sha.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(data)
    assert s3.get_object(Bucket=bucket, Key="sha.bin")["Body"].read() == data


def test_crc32c_checksum(s3, bucket):
    data = os.urandom(4000)
    # botocore computes CRC32C only with awscrt: the header is given here.
    put = s3.put_object(Bucket=bucket, Key="crc32c.bin", Body=data, ChecksumCRC32C=crc32c_b64(data))
    assert put["ChecksumCRC32C"] == crc32c_b64(data)
    head = s3.head_object(Bucket=bucket, Key="crc32c.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == crc32c_b64(data)
    assert s3.get_object(Bucket=bucket, Key="crc32c.bin")["Body"].read() == data


@pytest.mark.parametrize("param,wrong", [
    ("ChecksumCRC32", crc32_b64(b"something else")),
    ("ChecksumCRC32C", crc32c_b64(b"something else")),
    ("ChecksumSHA1", sha1_b64(b"something else")),
    ("ChecksumSHA256", sha256_b64(b"something else")),
])
def test_a_wrong_checksum_header_is_refused(s3, bucket, param, wrong):
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key="k", Body=b"the real data",
                              **{param: wrong})
    assert status == 400 and code in ("BadDigest", "InvalidRequest"), (code, status)
    assert refused(s3.head_object, Bucket=bucket, Key="k")[:2] == ("404", 404)


def test_an_aws_chunked_body_with_a_crc32_trailer_is_stored_without_framing(server, s3, bucket):
    data = os.urandom(200_000)
    body = aws_chunked(data, 64 * 1024, ("x-amz-checksum-crc32", crc32_b64(data)))
    status, _, resp = raw_request(
        server, "PUT", path_of(bucket, "chunked.bin"), body,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={"Content-Encoding": "aws-chunked",
                 "X-Amz-Decoded-Content-Length": str(len(data)),
                 "X-Amz-Trailer": "x-amz-checksum-crc32",
                 "X-Amz-Sdk-Checksum-Algorithm": "CRC32",
                 "Content-Length": str(len(body))})
    assert status == 200, resp
    got = s3.get_object(Bucket=bucket, Key="chunked.bin")
    assert got["ContentLength"] == len(data)
    assert got["Body"].read() == data
    assert got["ETag"] == etag_of(data)
    # aws-chunked is the transfer's framing, not the object's encoding.
    assert "aws-chunked" not in (got.get("ContentEncoding") or "")


def test_an_aws_chunked_body_with_a_wrong_trailer_checksum_is_refused(server, s3, bucket):
    data = os.urandom(100_000)
    body = aws_chunked(data, 64 * 1024, ("x-amz-checksum-crc32", crc32_b64(b"other")))
    status, _, resp = raw_request(
        server, "PUT", path_of(bucket, "bad-trailer.bin"), body,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={"Content-Encoding": "aws-chunked",
                 "X-Amz-Decoded-Content-Length": str(len(data)),
                 "X-Amz-Trailer": "x-amz-checksum-crc32",
                 "Content-Length": str(len(body))})
    assert status == 400 and xml_code(resp) in ("BadDigest", "InvalidRequest"), (status, resp)
    assert refused(s3.head_object, Bucket=bucket, Key="bad-trailer.bin")[:2] == ("404", 404)


def signed_chunked_put(srv: GustServer, bucket: str, key: str, data: bytes, *, chunk: int,
                       tamper: bool = False) -> tuple[int, bytes]:
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD (the SigV4-signed chunks the AWS
    SDKs for Java and others send over plain HTTP). With `tamper`, one byte of the
    second chunk is changed after signing."""
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    # Each chunk: hex size, ";chunk-signature=", 64 hex digits, CRLF, data, CRLF.
    length = sum(len(f"{len(p):x}") + 17 + 64 + 2 + len(p) + 2 for p in pieces)
    path = path_of(bucket, key)
    signed = Signed("PUT", netloc(srv), path, key_id=KEY_ID, secret=SECRET,
                    payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    headers={"Content-Encoding": "aws-chunked",
                             "X-Amz-Decoded-Content-Length": str(len(data)),
                             "Content-Length": str(length)})
    body = bytearray()
    previous = signed.signature
    for n, piece in enumerate(pieces):
        previous = signed.chunk_signature(previous, piece)
        if tamper and n == 1:
            piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
        body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    assert len(body) == length
    conn = http.client.HTTPConnection("127.0.0.1", port_of(srv), timeout=60)
    try:
        conn.request("PUT", path, body=bytes(body), headers=signed.headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_signed_aws_chunked_uploads_are_verified_and_stored_without_framing(
        secured, secured_s3, secured_bucket):
    data = os.urandom(150_000)
    status, resp = signed_chunked_put(secured, secured_bucket, "signed-chunks.bin", data,
                                      chunk=64 * 1024)
    assert status == 200, resp
    got = secured_s3.get_object(Bucket=secured_bucket, Key="signed-chunks.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == etag_of(data)


def test_a_tampered_signed_chunk_is_signature_does_not_match(secured, secured_s3, secured_bucket):
    data = os.urandom(150_000)
    status, resp = signed_chunked_put(secured, secured_bucket, "tampered.bin", data,
                                      chunk=64 * 1024, tamper=True)
    assert (status, xml_code(resp)) == (403, "SignatureDoesNotMatch"), resp
    assert refused(secured_s3.head_object, Bucket=secured_bucket,
                   Key="tampered.bin")[:2] == ("404", 404)


# ================================================================ listing

TREE = ["a/1", "a/2", "a/b/3", "b", "c/4", "d"]


@pytest.fixture
def tree(s3, bucket) -> str:
    put_many(s3, bucket, TREE)
    return bucket


def test_list_objects_v2_with_a_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["b", "d"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/", "c/"]
    assert resp["KeyCount"] == 4
    assert resp["IsTruncated"] is False
    assert resp["Name"] == tree
    assert resp["Delimiter"] == "/"


def test_list_objects_v2_with_a_prefix_and_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/b/"]
    assert resp["Prefix"] == "a/"
    assert resp["KeyCount"] == 3


def test_list_objects_v2_with_a_prefix(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Prefix="a/")
    assert [o["Key"] for o in resp["Contents"]] == ["a/1", "a/2", "a/b/3"]
    assert "CommonPrefixes" not in resp
    assert resp["KeyCount"] == 3


def test_list_objects_v1_with_a_prefix_and_delimiter(s3, tree):
    resp = s3.list_objects(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["b", "d"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/", "c/"]
    resp = s3.list_objects(Bucket=tree, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/b/"]


def test_listing_a_prefix_with_no_keys(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Prefix="nothing/")
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp and resp["IsTruncated"] is False


def test_list_objects_v2_pages_with_continuation_tokens(s3, tree):
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a/1", "a/2"]
    assert first["IsTruncated"] is True and first["KeyCount"] == 2 and first["MaxKeys"] == 2
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=tree, MaxKeys=2, ContinuationToken=token)
    assert second["ContinuationToken"] == token
    assert [o["Key"] for o in second["Contents"]] == ["a/b/3", "b"]
    third = s3.list_objects_v2(Bucket=tree, MaxKeys=2,
                               ContinuationToken=second["NextContinuationToken"])
    assert [o["Key"] for o in third["Contents"]] == ["c/4", "d"]
    assert third["IsTruncated"] is False and "NextContinuationToken" not in third


def test_list_objects_v1_pages_with_markers(s3, tree):
    first = s3.list_objects(Bucket=tree, MaxKeys=4)
    assert [o["Key"] for o in first["Contents"]] == ["a/1", "a/2", "a/b/3", "b"]
    assert first["IsTruncated"] is True
    # Without a delimiter, the next marker is the last key returned.
    second = s3.list_objects(Bucket=tree, MaxKeys=4, Marker=first["Contents"][-1]["Key"])
    assert second["Marker"] == "b"
    assert [o["Key"] for o in second["Contents"]] == ["c/4", "d"]
    assert second["IsTruncated"] is False


def test_list_objects_v1_returns_next_marker_with_a_delimiter(s3, tree):
    first = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=1)
    assert first["IsTruncated"] is True
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/"]
    assert first["NextMarker"] == "a/"
    second = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=1, Marker=first["NextMarker"])
    assert [o["Key"] for o in second.get("Contents", [])] == ["b"]
    assert "CommonPrefixes" not in second


def test_start_after(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, StartAfter="a/b/3")
    assert [o["Key"] for o in resp["Contents"]] == ["b", "c/4", "d"]
    assert resp["StartAfter"] == "a/b/3"
    between = s3.list_objects_v2(Bucket=tree, StartAfter="a/1x")
    assert [o["Key"] for o in between["Contents"]][0] == "a/2"


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_paging_with_a_delimiter_returns_each_entry_once(s3, tree, operation):
    entries: list[str] = []
    pages = s3.get_paginator(operation).paginate(Bucket=tree, Delimiter="/",
                                                 PaginationConfig={"PageSize": 1})
    for page in pages:
        entries.extend(o["Key"] for o in page.get("Contents", []))
        entries.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    assert entries == ["a/", "b", "c/", "d"]


def test_contents_carry_size_etag_and_last_modified(s3, bucket):
    data = b"listed object"
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    head = s3.head_object(Bucket=bucket, Key="obj")
    (entry,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert entry["Key"] == "obj"
    assert entry["Size"] == len(data)
    assert entry["ETag"] == etag_of(data)
    assert entry["StorageClass"] == "STANDARD"
    assert entry["LastModified"].replace(microsecond=0) == head["LastModified"]


ODD_LISTING_KEYS = ["sp ace", "plus+sign", "uni/ключ", "pct%41", "amp&lt;", "tab\there",
                    "dir with space/file"]


def test_listed_keys_come_back_decoded_through_boto3(s3, bucket):
    # boto3 asks for EncodingType=url by itself and decodes the listing, provided the
    # server says it encoded it.
    put_many(s3, bucket, ODD_LISTING_KEYS)
    assert listed_keys(s3, bucket) == sorted(ODD_LISTING_KEYS)
    v1 = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in v1["Contents"]] == sorted(ODD_LISTING_KEYS)
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="dir with space/")
    assert [o["Key"] for o in grouped["Contents"]] == ["dir with space/file"]
    assert grouped["Prefix"] == "dir with space/"
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir with space/", "uni/"]


def test_listing_edge_cases_answer_as_s3_does(s3, bucket):
    put_many(s3, bucket, ["dir with space/file", "top"])
    # MaxKeys=0: an empty page that is not truncated.
    for listing in (s3.list_objects(Bucket=bucket, MaxKeys=0),
                    s3.list_objects_v2(Bucket=bucket, MaxKeys=0)):
        assert listing["IsTruncated"] is False, listing
        assert "Contents" not in listing or listing["Contents"] == [], listing
    # An empty Delimiter is no delimiter, and it is not echoed.
    for listing in (s3.list_objects(Bucket=bucket, Delimiter=""),
                    s3.list_objects_v2(Bucket=bucket, Delimiter="")):
        assert "Delimiter" not in listing, listing
        assert [o["Key"] for o in listing["Contents"]] == ["dir with space/file", "top"]
    # ListObjects (v1) gives its Prefix back as sent: botocore does not decode it.
    v1 = s3.list_objects(Bucket=bucket, Prefix="dir with space/")
    assert v1["Prefix"] == "dir with space/", v1["Prefix"]
    assert [o["Key"] for o in v1["Contents"]] == ["dir with space/file"]


def test_bucket_names_with_a_hyphen_next_to_a_period_are_invalid(s3):
    for name in ["foo.-bar", "foo-.bar", "foo..bar"]:
        with pytest.raises(ClientError) as refused:
            s3.create_bucket(Bucket=name)
        assert refused.value.response["Error"]["Code"] == "InvalidBucketName", name


def test_encoding_type_url_returns_url_encoded_keys(s3, bucket):
    put_many(s3, bucket, ODD_LISTING_KEYS)
    # Asked for explicitly, boto3 leaves the decoding to the caller.
    resp = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert resp["EncodingType"] == "url"
    raw = [o["Key"] for o in resp["Contents"]]
    assert [unquote_plus(k) for k in raw] == sorted(ODD_LISTING_KEYS)
    assert not any(" " in k or "\t" in k for k in raw), raw
    assert "plus%2Bsign" in raw, raw


def test_raw_listing_with_encoding_type_url(server, s3, bucket):
    put_many(s3, bucket, ["a b/c+d", "é"])
    status, _, body = raw_request(server, "GET", f"/{bucket}?list-type=2&encoding-type=url")
    assert status == 200, body
    text = body.decode()
    assert "<EncodingType>url</EncodingType>" in text
    keys = re.findall(r"<Key>([^<]*)</Key>", text)
    assert [unquote_plus(k) for k in keys] == ["a b/c+d", "é"], keys


def test_a_listing_of_1200_objects_pages_every_key_once_in_utf8_order(s3, bucket):
    # Code point order is UTF-8 byte order; UTF-16 order would put the emoji (a
    # surrogate pair) before U+FF5E.
    special = ["A", "Z", "a", "z", "é", "\u00ff", "\u0100", "日本", "\uff5e", "😀",
               "a/b", "a0", "a-", "~"]
    keys = special + [f"k/{i:04d}" for i in range(1200 - len(special))]
    put_many(s3, bucket, keys, body=lambda k: b"")
    want = sorted(keys, key=lambda k: k.encode("utf-8"))
    assert want == sorted(keys)

    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert len(pages) == 2, [p["KeyCount"] for p in pages]
    assert [p["KeyCount"] for p in pages] == [1000, 200]
    got = [o["Key"] for p in pages for o in p["Contents"]]
    assert got == want

    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket,
                                                   PaginationConfig={"PageSize": 250})
    assert [o["Key"] for p in v1 for o in p["Contents"]] == want


# ================================================================ keys

ODD_KEYS = [
    "unicode/日本語/ключ/ü",
    "with space/and+plus",
    "a/../b",
    "./dot-slash",
    "%2F",
    "%",
    "/leading-slash",
    "a//double//slashes",
    "trailing/",
    "q?x=1&y=2#frag",
    "emoji-😀",
    "back\\slash",
    "semi;colon:equals=comma,",
    "quote\"and'apostrophe",
    "<angle>&amp;",
    "tab\tand newline\n",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_an_odd_key_round_trips(s3, bucket, key):
    body = f"body of {key!r}".encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    assert listed_keys(s3, bucket) == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert listed_keys(s3, bucket) == []


def test_odd_keys_list_exactly_as_put(s3, bucket):
    put_many(s3, bucket, ODD_KEYS)
    assert listed_keys(s3, bucket) == sorted(ODD_KEYS)
    for key in ODD_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()


@pytest.mark.parametrize("key", ["k" * 1024, "é" * 512], ids=["ascii", "two-byte"])
def test_a_1024_byte_key_works(s3, bucket, key):
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"
    assert listed_keys(s3, bucket) == [key]


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 512 + "x"], ids=["ascii", "two-byte"])
def test_a_1025_byte_key_is_key_too_long(s3, bucket, key):
    assert len(key.encode()) == 1025
    code, status, _ = refused(s3.put_object, Bucket=bucket, Key=key, Body=b"long")
    assert (code, status) == ("KeyTooLongError", 400)
    assert listed_keys(s3, bucket) == []


# ================================================================ multipart uploads


def upload_parts(s3, bucket: str, key: str, parts: list[bytes]) -> tuple[str, list[dict]]:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for n, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n,
                              Body=data)["ETag"]
        assert etag == etag_of(data)
        done.append({"PartNumber": n, "ETag": etag})
    return upload, done


def test_multipart_upload_completes_to_the_concatenation(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1000)]
    upload, done = upload_parts(s3, bucket, "big.bin", parts)
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload,
                                        MultipartUpload={"Parts": done})
    assert resp["Bucket"] == bucket and resp["Key"] == "big.bin"
    assert re.fullmatch(r'"[0-9a-f]{32}-3"', resp["ETag"]), resp["ETag"]
    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ETag"] == resp["ETag"]
    assert got["Body"].read() == b"".join(parts)
    assert listed_keys(s3, bucket) == ["big.bin"]


def test_create_multipart_upload_keeps_metadata_and_content_type(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", Metadata={"color": "teal"},
                                        ContentType="video/mp4")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload, PartNumber=1,
                          Body=b"tiny")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["Metadata"] == {"color": "teal"}
    assert head["ContentType"] == "video/mp4"


def test_a_single_small_part_completes(s3, bucket):
    # Only parts other than the last must be 5 MiB or more.
    upload, done = upload_parts(s3, bucket, "small", [b"just ten b"])
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload,
                                        MultipartUpload={"Parts": done})
    assert resp["ETag"].endswith('-1"'), resp["ETag"]
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"just ten b"


def test_a_too_small_part_that_is_not_the_last_is_entity_too_small(s3, bucket):
    upload, done = upload_parts(s3, bucket, "k", [b"a" * 1024, b"b" * 1024])
    code, status, _ = refused(s3.complete_multipart_upload, Bucket=bucket, Key="k",
                              UploadId=upload, MultipartUpload={"Parts": done})
    assert (code, status) == ("EntityTooSmall", 400)
    assert refused(s3.head_object, Bucket=bucket, Key="k")[:2] == ("404", 404)


def test_list_parts(s3, bucket):
    parts = [os.urandom(5 * MiB), b"tail"]
    upload, done = upload_parts(s3, bucket, "parts", parts)
    listed = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload)
    assert listed["UploadId"] == upload and listed["Key"] == "parts"
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (1, etag_of(parts[0]), 5 * MiB), (2, etag_of(b"tail"), 4)]
    # Uploading a part number again replaces that part.
    s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=2, Body=b"new tail")
    listed = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, 8)]
    assert listed["Parts"][1]["ETag"] == etag_of(b"new tail")


def test_list_multipart_uploads(s3, bucket):
    one = s3.create_multipart_upload(Bucket=bucket, Key="dir/one")["UploadId"]
    two = s3.create_multipart_upload(Bucket=bucket, Key="other/two")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in uploads) == [("dir/one", one),
                                                                 ("other/two", two)]
    assert all(isinstance(u["Initiated"], datetime) for u in uploads)
    only = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in only] == [("dir/one", one)]
    # In-progress uploads are not objects.
    assert listed_keys(s3, bucket) == []


def test_a_completed_upload_is_gone_from_the_upload_list(s3, bucket):
    upload, done = upload_parts(s3, bucket, "k", [b"x"])
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                 MultipartUpload={"Parts": done})
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert refused(s3.list_parts, Bucket=bucket, Key="k", UploadId=upload)[:2] == (
        "NoSuchUpload", 404)


def test_abort_multipart_upload(s3, bucket):
    upload, _ = upload_parts(s3, bucket, "aborted", [b"part one"])
    resp = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert refused(s3.list_parts, Bucket=bucket, Key="aborted", UploadId=upload)[:2] == (
        "NoSuchUpload", 404)
    assert refused(s3.upload_part, Bucket=bucket, Key="aborted", UploadId=upload,
                   PartNumber=2, Body=b"late")[:2] == ("NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert refused(s3.head_object, Bucket=bucket, Key="aborted")[:2] == ("404", 404)


def test_completing_an_unknown_upload_is_no_such_upload(s3, bucket):
    code, status, _ = refused(
        s3.complete_multipart_upload, Bucket=bucket, Key="k", UploadId="no-such-upload-id",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag_of(b"x")}]})
    assert (code, status) == ("NoSuchUpload", 404)


def test_completing_with_a_wrong_part_etag_is_invalid_part(s3, bucket):
    upload, done = upload_parts(s3, bucket, "k", [b"x"])
    done[0]["ETag"] = etag_of(b"not the part")
    code, status, _ = refused(s3.complete_multipart_upload, Bucket=bucket, Key="k",
                              UploadId=upload, MultipartUpload={"Parts": done})
    assert (code, status) == ("InvalidPart", 400)


def test_completing_with_a_part_never_uploaded_is_invalid_part(s3, bucket):
    # Part 1 is large enough not to be last: only the missing part is wrong.
    upload, done = upload_parts(s3, bucket, "k", [os.urandom(5 * MiB)])
    done.append({"PartNumber": 7, "ETag": etag_of(b"y")})
    code, status, _ = refused(s3.complete_multipart_upload, Bucket=bucket, Key="k",
                              UploadId=upload, MultipartUpload={"Parts": done})
    assert (code, status) == ("InvalidPart", 400)


def test_completing_with_parts_out_of_order_is_invalid_part_order(s3, bucket):
    # Both parts are large enough to be in any place: only their order is wrong.
    upload, done = upload_parts(s3, bucket, "k", [os.urandom(5 * MiB), os.urandom(5 * MiB)])
    code, status, _ = refused(s3.complete_multipart_upload, Bucket=bucket, Key="k",
                              UploadId=upload, MultipartUpload={"Parts": done[::-1]})
    assert (code, status) == ("InvalidPartOrder", 400)


def test_upload_file_and_download_file_round_trip_20_mb(s3, bucket, tmp_path):
    src, dst = tmp_path / "upload.bin", tmp_path / "download.bin"
    data = os.urandom(20 * MiB + 12345)
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=4)
    s3.upload_file(str(src), bucket, "transfer/big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="transfer/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-5"'), head["ETag"]
    s3.download_file(bucket, "transfer/big.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


# ================================================================ presigned URLs, auth


def presigner(srv: GustServer, **config):
    """A client presigning with SigV4 (boto3's default for presigned URLs against a
    custom us-east-1 endpoint is still Signature Version 2)."""
    return s3_client(srv, key_id=KEY_ID, secret=SECRET, signature_version="s3v4", **config)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query="&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())))


def test_a_presigned_get_works_without_credentials(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"hello, presigned"
    assert resp.headers["ETag"] == etag_of(b"hello, presigned")


def test_a_presigned_put_works_without_credentials(secured, secured_s3, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "put_object", Params={"Bucket": secured_bucket, "Key": "uploaded via url.txt"},
        ExpiresIn=300)
    resp = requests.put(url, data=b"put through a presigned URL", timeout=30)
    assert resp.status_code == 200, resp.text
    got = secured_s3.get_object(Bucket=secured_bucket, Key="uploaded via url.txt")
    assert got["Body"].read() == b"put through a presigned URL"


def test_a_presigned_get_with_response_overrides(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt",
                              "ResponseContentDisposition": 'attachment; filename="h.txt"',
                              "ResponseContentType": "text/plain"}, ExpiresIn=300)
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Disposition"] == 'attachment; filename="h.txt"'
    assert resp.headers["Content-Type"] == "text/plain"


def test_boto3s_default_presigned_url_works(secured, secured_bucket):
    # What generate_presigned_url gives with boto3's default configuration here:
    # Signature Version 2 query parameters (AWSAccessKeyId, Expires, Signature).
    url = s3_client(secured, key_id=KEY_ID, secret=SECRET).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=300)
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, (url, resp.text)
    assert resp.content == b"hello, presigned"


def test_a_presigned_url_with_an_altered_signature_is_refused(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=300)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    forged = with_query(url, **{"X-Amz-Signature": signature[:-1] + ("0" if signature[-1] != "0"
                                                                      else "1")})
    resp = requests.get(forged, timeout=30)
    assert resp.status_code == 403
    assert xml_code(resp.content) == "SignatureDoesNotMatch", resp.text
    assert b"hello, presigned" not in resp.content


def test_a_presigned_url_used_for_another_key_is_refused(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=300)
    other = url.replace("/hello.txt?", "/other.txt?")
    assert other != url
    resp = requests.get(other, timeout=30)
    assert resp.status_code == 403
    assert xml_code(resp.content) == "SignatureDoesNotMatch", resp.text


def test_a_presigned_put_url_does_not_allow_a_get(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "put_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=300)
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 403, resp.text


def test_an_expired_presigned_url_is_refused(secured, secured_bucket):
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=1)
    signed_at = time.time()
    support.wait_until(lambda: time.time() > signed_at + 2.5, 10, interval=0.5,
                       message="the presigned URL's second to pass")
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 403
    assert xml_code(resp.content) == "AccessDenied", resp.text
    assert b"hello, presigned" not in resp.content


def test_a_presigned_url_valid_for_more_than_a_week_is_refused(secured, secured_bucket):
    # "X-Amz-Expires must be less than a week (in seconds) that is 604800".
    url = presigner(secured).generate_presigned_url(
        "get_object", Params={"Bucket": secured_bucket, "Key": "hello.txt"}, ExpiresIn=604801)
    resp = requests.get(url, timeout=30)
    assert (resp.status_code, xml_code(resp.content)) == (
        400, "AuthorizationQueryParametersError"), resp.text


def test_an_unsigned_request_is_refused_when_an_access_key_is_set(secured, secured_bucket):
    resp = requests.get(f"{secured.url}/{secured_bucket}/hello.txt", timeout=30)
    assert resp.status_code == 403
    assert xml_code(resp.content) == "AccessDenied", resp.text
    put = requests.put(f"{secured.url}/{secured_bucket}/anonymous.txt", data=b"x", timeout=30)
    assert put.status_code == 403
    listing = requests.get(f"{secured.url}/{secured_bucket}?list-type=2", timeout=30)
    assert listing.status_code == 403
    assert b"hello.txt" not in listing.content


def test_a_wrong_secret_is_signature_does_not_match(secured, secured_bucket):
    bad = s3_client(secured, key_id=KEY_ID, secret="not-the-secret")
    assert refused(bad.get_object, Bucket=secured_bucket, Key="hello.txt")[:2] == (
        "SignatureDoesNotMatch", 403)
    assert refused(bad.put_object, Bucket=secured_bucket, Key="x", Body=b"x")[:2] == (
        "SignatureDoesNotMatch", 403)
    assert refused(bad.list_buckets)[:2] == ("SignatureDoesNotMatch", 403)


def test_an_unknown_access_key_is_invalid_access_key_id(secured, secured_bucket):
    bad = s3_client(secured, key_id="AKIDUNKNOWN", secret=SECRET)
    assert refused(bad.get_object, Bucket=secured_bucket, Key="hello.txt")[:2] == (
        "InvalidAccessKeyId", 403)


def test_a_forged_signature_on_a_raw_request_is_refused(secured, secured_bucket):
    status, _, body = raw_request(secured, "GET", f"/{secured_bucket}/hello.txt",
                                  key_id=KEY_ID, secret="forged")
    assert (status, xml_code(body)) == (403, "SignatureDoesNotMatch")
    status, _, body = raw_request(secured, "GET", f"/{secured_bucket}/hello.txt",
                                  key_id=KEY_ID, secret=SECRET)
    assert (status, body) == (200, b"hello, presigned")


def test_a_signed_body_that_does_not_match_its_hash_is_refused(secured, secured_s3, secured_bucket):
    # x-amz-content-sha256 is signed: a body with another hash is not the one signed.
    status, _, body = raw_request(secured, "PUT", f"/{secured_bucket}/swapped.txt",
                                  b"the body sent", key_id=KEY_ID, secret=SECRET,
                                  payload_hash=hashlib.sha256(b"the body signed").hexdigest())
    assert status in (400, 403), body
    assert xml_code(body) in ("XAmzContentSHA256Mismatch", "SignatureDoesNotMatch", "BadDigest")
    assert refused(secured_s3.head_object, Bucket=secured_bucket,
                   Key="swapped.txt")[:2] == ("404", 404)


def test_lambda_and_s3_share_the_secured_endpoint(secured, secured_s3, secured_bucket):
    lam = lambda_client(secured, KEY_ID, SECRET)
    assert "Functions" in lam.list_functions()
    assert secured_s3.get_object(Bucket=secured_bucket, Key="hello.txt")["Body"].read() \
        == b"hello, presigned"
    assert "Functions" in lam.list_functions()


# ================================================================ one endpoint, two APIs


def test_the_lambda_api_keeps_working_next_to_s3(server, s3, bucket):
    lam = server.lambda_
    assert "Functions" in lam.list_functions()
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert "Functions" in lam.list_functions()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert "Functions" in lam.list_functions()


def test_s3_requests_on_the_lambda_apis_paths_stay_s3(server, s3):
    # A bucket may be named like Lambda's API version: a request signed for s3 is an
    # S3 request whatever its path.
    name = "2015-03-31"
    code, status, _ = refused(s3.get_object, Bucket=name, Key="functions/")
    assert (code, status) == ("NoSuchBucket", 404)
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="functions/", Body=b"an object, not a function list")
        got = s3.get_object(Bucket=name, Key="functions/")
        assert got["Body"].read() == b"an object, not a function list"
        assert listed_keys(s3, name) == ["functions/"]
        assert "Functions" in server.lambda_.list_functions()
    finally:
        s3.delete_object(Bucket=name, Key="functions/")
        s3.delete_bucket(Bucket=name)


def test_the_bucket_name_gust_is_reserved_for_gusts_own_api(server, s3):
    code, status, message = refused(s3.create_bucket, Bucket="gust")
    assert (code, status) == ("InvalidBucketName", 400), message
    assert "reserved" in message, message
    server.health()  # gust's own API, unsigned, is still answered


# ================================================================ virtual-host addressing


def resolves_to_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, 0)
    except socket.gaierror:
        return False
    return all(info[4][0].startswith("127.") or info[4][0] == "::1" for info in infos)


def test_virtual_host_requests_through_the_host_header(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"virtual hosted")
    port = port_of(server)
    host = {"Host": f"{bucket}.localhost:{port}"}
    base = f"http://127.0.0.1:{port}"

    got = requests.get(f"{base}/dir/hello.txt", headers=host, timeout=30)
    assert got.status_code == 200, got.text
    assert got.content == b"virtual hosted"

    listing = requests.get(f"{base}/", params={"list-type": "2"}, headers=host, timeout=30)
    assert listing.status_code == 200, listing.text
    assert f"<Name>{bucket}</Name>" in listing.text
    assert "<Key>dir/hello.txt</Key>" in listing.text

    missing = requests.get(f"{base}/dir/missing.txt", headers=host, timeout=30)
    assert (missing.status_code, xml_code(missing.content)) == (404, "NoSuchKey")

    put = requests.put(f"{base}/from-vhost.txt", data=b"put by host", headers=host, timeout=30)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bucket, Key="from-vhost.txt")["Body"].read() == b"put by host"


def test_path_style_through_the_localhost_name(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"path style")
    port = port_of(server)
    got = requests.get(f"http://127.0.0.1:{port}/{bucket}/k",
                       headers={"Host": f"localhost:{port}"}, timeout=30)
    assert got.status_code == 200 and got.content == b"path style"


def test_a_virtual_host_client(server, s3, bucket):
    port = port_of(server)
    if not resolves_to_loopback(f"{bucket}.localhost"):
        pytest.skip(f"{bucket}.localhost does not resolve to the loopback address here; "
                    "test_virtual_host_requests_through_the_host_header covers the Host form")
    vhost = s3_client(server, style="virtual", endpoint=f"http://localhost:{port}")
    vhost.put_object(Bucket=bucket, Key="v/k", Body=b"virtual client")
    assert vhost.get_object(Bucket=bucket, Key="v/k")["Body"].read() == b"virtual client"
    assert listed_keys(vhost, bucket) == ["v/k"]


def test_signed_virtual_host_requests(secured, secured_bucket):
    port = port_of(secured)
    host = f"{secured_bucket}.localhost:{port}"
    status, _, body = raw_request(secured, "GET", "/hello.txt", host=host,
                                  key_id=KEY_ID, secret=SECRET)
    assert (status, body) == (200, b"hello, presigned")
    status, _, body = raw_request(secured, "GET", "/hello.txt", host=host, sign=False)
    assert status == 403 and b"hello, presigned" not in body


# ================================================================ hostile input


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b"<Delete><Object><Key>a</Key></Object>",
    b"<Delete><Object><Key>a</Key></Objekt></Delete>",
])
def test_malformed_delete_objects_xml_is_malformed_xml(server, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="a", Body=b"survives")
    status, _, resp = raw_request(server, "POST", f"/{bucket}?delete", body,
                                  headers={"Content-MD5": md5_b64(body),
                                           "Content-Type": "application/xml"})
    assert (status, xml_code(resp)) == (400, "MalformedXML"), resp
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"survives"


def test_malformed_complete_multipart_xml_is_malformed_xml(server, s3, bucket):
    upload, _ = upload_parts(s3, bucket, "k", [b"part"])
    body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
    status, _, resp = raw_request(server, "POST", f"/{bucket}/k?uploadId={quote(upload, safe='')}",
                                  body)
    assert (status, xml_code(resp)) == (400, "MalformedXML"), resp
    # The upload is still there to complete properly.
    assert [p["PartNumber"] for p in
            s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["Parts"]] == [1]


def test_malformed_create_bucket_xml_is_malformed_xml(server, s3):
    name = bucket_name("malformed")
    body = b"<CreateBucketConfiguration><LocationConstraint>eu-west-1"
    status, _, resp = raw_request(server, "PUT", f"/{name}", body)
    assert (status, xml_code(resp)) == (400, "MalformedXML"), resp
    assert refused(s3.head_bucket, Bucket=name)[:2] == ("404", 404)


@contextlib.contextmanager
def put_cut_short(srv: GustServer, bucket: str, key: str, declared: int, sent: bytes):
    """A PUT whose headers declare `declared` bytes of body, of which only `sent` go
    out; the connection closes, mid-body, when the block ends."""
    path = path_of(bucket, key)
    signed = Signed("PUT", netloc(srv), path, payload_hash="UNSIGNED-PAYLOAD",
                    headers={"Content-Length": str(declared)})
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in signed.headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port_of(srv)), timeout=30) as sock:
        sock.sendall(head.encode() + sent)
        yield


def test_a_body_cut_short_leaves_no_object(server, s3, bucket):
    with put_cut_short(server, bucket, "cut.bin", 1000, b"0123456789"):
        # A PUT is atomic: nothing is visible while its body is still coming.
        assert refused(s3.head_object, Bucket=bucket, Key="cut.bin")[:2] == ("404", 404)
    for _ in range(10):
        assert refused(s3.head_object, Bucket=bucket, Key="cut.bin")[:2] == ("404", 404)
        assert listed_keys(s3, bucket) == []
        time.sleep(0.1)
    # The server is fine afterwards.
    s3.put_object(Bucket=bucket, Key="after", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"ok"


def test_a_body_cut_short_leaves_the_previous_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="kept.bin", Body=b"the original")
    with put_cut_short(server, bucket, "kept.bin", 1000, b"0123456789"):
        assert s3.get_object(Bucket=bucket, Key="kept.bin")["Body"].read() == b"the original"
    for _ in range(10):
        got = s3.get_object(Bucket=bucket, Key="kept.bin")
        assert got["Body"].read() == b"the original"
        assert got["ETag"] == etag_of(b"the original")
        time.sleep(0.1)


def test_traversal_looking_keys_stay_inside_the_store(server, s3, bucket):
    marker = f"gust-escape-{uuid.uuid4().hex[:12]}"
    keys = ["../../etc/x", f"../../../../../../../../tmp/{marker}/x", "..\\..\\windows\\x",
            "%2e%2e/%2e%2e/etc/y", "a/../../../b"]
    parent = server.data_dir.parent
    before = {p.name for p in parent.iterdir()}
    before_up = {p.name for p in parent.parent.iterdir()}
    put_many(s3, bucket, keys)
    assert listed_keys(s3, bucket) == sorted(keys)
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    new = {p.name for p in parent.iterdir()} - before
    new_up = {p.name for p in parent.parent.iterdir()} - before_up
    assert "etc" not in new and "etc" not in new_up, (new, new_up)
    assert not Path("/tmp", marker).exists()
    escaped = [p for p in parent.rglob(f"*{marker}*") if server.data_dir not in p.parents]
    assert escaped == []


def test_a_raw_dot_dot_path_does_not_reach_host_files(server, s3, bucket):
    status, _, body = raw_request(server, "GET", f"/{bucket}/../../../../../../etc/passwd")
    assert status in (400, 403, 404), (status, body[:200])
    assert b"root:" not in body


# ================================================================ the AWS CLI


@pytest.fixture(scope="module")
def aws_cli():
    if importlib.util.find_spec("awscli") is None:
        pytest.skip("the AWS CLI (awscli, pinned in tests/requirements.txt) is not installed "
                    "in this Python; ./scripts/test installs it")
    return True


class AwsCli:
    """`python -m awscli --endpoint-url URL ...` with its own config and credentials."""

    def __init__(self, srv: GustServer, home: Path, key_id: str = "test", secret: str = "test"):
        self.srv = srv
        home.mkdir(parents=True, exist_ok=True)
        config = home / "config"
        config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
        self.env = support.env_for_subprocess()
        self.env.update(
            HOME=str(home),
            AWS_CONFIG_FILE=str(config),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_ACCESS_KEY_ID=key_id,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.srv.url, *args],
            input=input, capture_output=True, timeout=180, env=self.env, cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL)
        if check:
            assert proc.returncode == 0, (
                f"aws {' '.join(args)} exited {proc.returncode}\nstdout:\n"
                f"{proc.stdout.decode(errors='replace')}\nstderr:\n"
                f"{proc.stderr.decode(errors='replace')}")
        return proc

    def text(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout.decode()

    def json(self, *args: str) -> Any:
        return json.loads(self.text(*args, "--output", "json"))


@pytest.fixture
def cli(aws_cli, server, tmp_path) -> AwsCli:
    return AwsCli(server, tmp_path / "aws-home")


def test_cli_make_bucket_copy_list_and_download(cli, s3, tmp_path):
    name = bucket_name("cli")
    assert f"make_bucket: {name}" in cli.text("s3", "mb", f"s3://{name}")
    assert name in cli.text("s3", "ls").split()

    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello from the aws cli\n")
    cli.run("s3", "cp", str(src), f"s3://{name}/docs/hello.txt")
    listing = cli.text("s3", "ls", f"s3://{name}/docs/")
    assert re.search(r"\b23 hello\.txt$", listing.strip()), listing
    assert "PRE docs/" in cli.text("s3", "ls", f"s3://{name}/")

    out = tmp_path / "back.txt"
    cli.run("s3", "cp", f"s3://{name}/docs/hello.txt", str(out))
    assert out.read_bytes() == b"hello from the aws cli\n"
    head = cli.json("s3api", "head-object", "--bucket", name, "--key", "docs/hello.txt")
    assert head["ContentLength"] == 23
    assert head["ETag"] == etag_of(b"hello from the aws cli\n")
    assert s3.get_object(Bucket=name, Key="docs/hello.txt")["Body"].read() == src.read_bytes()


def test_cli_multipart_copy_round_trips(cli, s3, tmp_path):
    name = new_bucket(s3, "cli-mp")
    data = os.urandom(12 * MiB + 7)
    src, out = tmp_path / "big.bin", tmp_path / "big.out"
    src.write_bytes(data)
    # The CLI's multipart threshold and part size are 8 MiB: two parts.
    cli.run("s3", "cp", str(src), f"s3://{name}/big.bin")
    head = cli.json("s3api", "head-object", "--bucket", name, "--key", "big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-2"'), head["ETag"]
    cli.run("s3", "cp", f"s3://{name}/big.bin", str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_cli_sync_both_ways_and_again_is_a_no_op(cli, s3, tmp_path):
    name = new_bucket(s3, "cli-sync")
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    files = {"index.html": b"<h1>hi</h1>", "sub/page two.html": b"two", "sub/ü.txt": b"umlaut"}
    for rel, data in files.items():
        (site / rel).write_bytes(data)
    up = cli.text("s3", "sync", str(site), f"s3://{name}/site/")
    assert up.count("upload:") == 3, up
    assert listed_keys(s3, name) == sorted(f"site/{k}" for k in files)

    again = cli.text("s3", "sync", str(site), f"s3://{name}/site/")
    assert "upload:" not in again, again

    back = tmp_path / "back"
    cli.run("s3", "sync", f"s3://{name}/site/", str(back))
    assert {p.relative_to(back).as_posix(): p.read_bytes()
            for p in back.rglob("*") if p.is_file()} == files


def test_cli_remove_bucket(cli, s3, tmp_path):
    name = new_bucket(s3, "cli-rb")
    put_many(s3, name, ["a", "b/c", "b/d"])
    refused_rb = cli.run("s3", "rb", f"s3://{name}", check=False)
    assert refused_rb.returncode != 0
    assert b"BucketNotEmpty" in refused_rb.stderr, refused_rb.stderr
    removed = cli.text("s3", "rm", f"s3://{name}", "--recursive")
    assert removed.count("delete:") == 3, removed
    cli.run("s3", "rb", f"s3://{name}")
    assert refused(s3.head_bucket, Bucket=name)[:2] == ("404", 404)


def test_cli_s3api_put_object_with_metadata(cli, s3, tmp_path):
    name = new_bucket(s3, "cli-api")
    body = tmp_path / "body.txt"
    body.write_bytes(b"metadata body")
    put = cli.json("s3api", "put-object", "--bucket", name, "--key", "m.txt",
                   "--body", str(body), "--content-type", "text/plain",
                   "--metadata", "color=blue,size=large")
    assert put["ETag"] == etag_of(b"metadata body")
    head = cli.json("s3api", "head-object", "--bucket", name, "--key", "m.txt")
    assert head["Metadata"] == {"color": "blue", "size": "large"}
    assert head["ContentType"] == "text/plain"
    listing = cli.json("s3api", "list-objects-v2", "--bucket", name)
    assert [o["Key"] for o in listing["Contents"]] == ["m.txt"]


def test_cli_streams_from_stdin_and_to_stdout(cli, s3):
    name = new_bucket(s3, "cli-stream")
    cli.run("s3", "cp", "-", f"s3://{name}/streamed.txt", input=b"streamed through stdin")
    assert s3.get_object(Bucket=name, Key="streamed.txt")["Body"].read() == \
        b"streamed through stdin"
    assert cli.run("s3", "cp", f"s3://{name}/streamed.txt", "-").stdout == \
        b"streamed through stdin"


def test_cli_presign(aws_cli, secured, secured_bucket, tmp_path):
    cli = AwsCli(secured, tmp_path / "aws-home", key_id=KEY_ID, secret=SECRET)
    url = cli.text("s3", "presign", f"s3://{secured_bucket}/hello.txt",
                   "--expires-in", "300").strip()
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, (url, resp.text)
    assert resp.content == b"hello, presigned"


def test_cli_with_a_wrong_secret_is_refused(aws_cli, secured, secured_bucket, tmp_path):
    cli = AwsCli(secured, tmp_path / "aws-home", key_id=KEY_ID, secret="wrong")
    proc = cli.run("s3", "ls", f"s3://{secured_bucket}/", check=False)
    assert proc.returncode != 0
    assert b"SignatureDoesNotMatch" in proc.stderr, proc.stderr


def test_error_documents_name_the_request_as_their_header_does(server, s3, bucket):
    status, headers, body = raw_request(server, "GET", f"/{bucket}/no-such-key")
    assert status == 404, body
    text = body.decode()
    assert "<Code>NoSuchKey</Code>" in text, text
    assert f"<RequestId>{headers['x-amz-request-id']}</RequestId>" in text, (headers, text)
    try:
        s3.get_object(Bucket=bucket, Key="no-such-key")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey"
        assert e.response["ResponseMetadata"]["RequestId"], e.response
    else:
        raise AssertionError("a missing key was found")


def test_upload_part_copy_assembles_ranges_of_a_source_and_refuses_ranges_outside_it(s3, bucket):
    mib = 1024 * 1024
    source = bytes(range(256)) * (6 * mib // 256)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    parts = []
    for number, (first, last) in enumerate([(0, 5 * mib - 1), (5 * mib, len(source) - 1)], 1):
        out = s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=upload, PartNumber=number,
                                  CopySource={"Bucket": bucket, "Key": "source"},
                                  CopySourceRange=f"bytes={first}-{last}")
        parts.append({"PartNumber": number, "ETag": out["CopyPartResult"]["ETag"]})
    for bad in [f"bytes=0-{len(source)}", f"bytes={len(source)}-{len(source) + 10}", "bytes=10-5"]:
        with pytest.raises(ClientError) as refused:
            s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=upload, PartNumber=3,
                                CopySource={"Bucket": bucket, "Key": "source"},
                                CopySourceRange=bad)
        assert refused.value.response["Error"]["Code"] == "InvalidArgument", bad
        if bad != "bytes=10-5":  # not a range at all: the message says the form
            assert str(len(source)) in refused.value.response["Error"]["Message"], bad
    s3.complete_multipart_upload(Bucket=bucket, Key="copy", UploadId=upload,
                                 MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == source
