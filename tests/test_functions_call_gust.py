"""Functions that call gust with AWS's SDKs, unmodified, as Lambda functions call AWS:
the instance's environment names the endpoint (AWS_ENDPOINT_URL, the address clients
outside use too) and credentials of the function's own; the runtimes provide boto3
and the AWS SDK for JavaScript v3 (`gust sdk install`; scripts/test installs them
and points GUST_SDK_DIR at them).

Then the applications of the seed documents run end to end: a presigned upload whose
PUT event invokes a function that reads the object with boto3 inside its sandbox and
writes a result object, and a fan-out of 100 worker invocations each writing an
object."""

from __future__ import annotations

import json
import os
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import support
from support import invoke, wait_until

pytestmark = pytest.mark.skipif(
    not os.environ.get("GUST_SDK_DIR"),
    reason="the runtimes' AWS SDKs are not installed (scripts/test installs them with "
           "`gust sdk install` and sets GUST_SDK_DIR)")

KEY_ID, SECRET = "AKIDCALLBACK", "callback-secret"

# A function that uses boto3 against gust, doing what the event says.
CALLER = r'''
import json, os
import boto3

s3 = boto3.client("s3")
lam = boto3.client("lambda")

def handler(event, context):
    op = event["op"]
    if op == "env":
        return {k: os.environ.get(k) for k in (
            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_REGION")}
    if op == "where":
        return {"boto3": boto3.__file__, "version": boto3.__version__}
    if op == "put":
        s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
        return {"ok": True}
    if op == "get":
        body = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
        return {"body": body.decode()}
    if op == "presign":
        return {"url": s3.generate_presigned_url(
            "put_object", Params={"Bucket": event["bucket"], "Key": event["key"]},
            ExpiresIn=300)}
    if op == "invoke":
        out = lam.invoke(FunctionName=event["target"], Payload=json.dumps(event["payload"]))
        return json.loads(out["Payload"].read())
    if op == "fanout":
        for i in range(event["count"]):
            lam.invoke(FunctionName=event["target"], InvocationType="Event",
                       Payload=json.dumps({"op": "put", "bucket": event["bucket"],
                                           "key": f"part-{i:03d}", "body": str(i)}))
        return {"queued": event["count"]}
    raise ValueError(op)
'''

# The media flow's processor: triggered by a PUT, reads the object, writes a result.
PROCESSOR = r'''
import boto3
from urllib.parse import unquote_plus

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket + "-out", Key=key + ".len", Body=str(len(data)).encode())
'''

NODE_CALLER = r'''
const { S3Client, PutObjectCommand, GetObjectCommand } = require("@aws-sdk/client-s3");
const s3 = new S3Client({ forcePathStyle: true });

exports.handler = async (event) => {
  await s3.send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: event.body }));
  const got = await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: event.key }));
  return { body: await got.Body.transformToString() };
};
'''


def s3_client(srv, key_id=KEY_ID, secret=SECRET):
    return boto3.client("s3", endpoint_url=srv.url, region_name=support.REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def srv(gust_bin, tmp_path_factory):
    """A gust that checks every signature: what functions send must be signed with
    their own credentials."""
    from conftest import GustServer
    server = GustServer(gust_bin, tmp_path_factory.mktemp("gust-callback"),
                        ["--access-key", f"{KEY_ID}:{SECRET}"])
    server.start()
    server._lambda = boto3.client(
        "lambda", endpoint_url=server.url, region_name=support.REGION,
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}, read_timeout=120))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(srv):
    return s3_client(srv)


def new_bucket(s3) -> str:
    name = support.unique_name("cb").lower()[:40]
    s3.create_bucket(Bucket=name)
    return name


def make(srv, prefix: str, zip_bytes: bytes, runtime: str = support.PYTHON, **kwargs) -> str:
    name = support.unique_name(prefix)
    srv.create_function(name, zip_bytes, runtime=runtime, Timeout=60, MemorySize=256,
                        **kwargs)
    return name


def test_instances_get_the_endpoint_and_credentials_of_their_own(srv):
    name = make(srv, "env", support.make_zip({"app.py": CALLER}))
    env = invoke(srv.lambda_, name, {"op": "env"}).ok()
    assert env["AWS_ENDPOINT_URL"] == srv.url
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_ACCESS_KEY_ID"] != KEY_ID
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_REGION"] == support.REGION
    # The runtime's boto3, behind the function's code (from the SDK directory).
    where = invoke(srv.lambda_, name, {"op": "where"}).ok()
    assert where["version"] == "1.44.5", where
    assert not where["boto3"].startswith("/var/task"), where


def test_a_function_reads_and_writes_objects_and_invokes_functions(srv, s3):
    bucket = new_bucket(s3)
    caller = make(srv, "caller", support.make_zip({"app.py": CALLER}))
    assert invoke(srv.lambda_, caller, {"op": "put", "bucket": bucket, "key": "k",
                                         "body": "from inside"}).ok() == {"ok": True}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from inside"
    s3.put_object(Bucket=bucket, Key="outside", Body=b"from outside")
    assert invoke(srv.lambda_, caller, {"op": "get", "bucket": bucket,
                                         "key": "outside"}).ok() == {"body": "from outside"}
    # One function invokes another, synchronously, with its own credentials.
    other = make(srv, "callee", support.make_zip({"app.py": CALLER}))
    out = invoke(srv.lambda_, caller, {"op": "invoke", "target": other,
                                        "payload": {"op": "get", "bucket": bucket,
                                                    "key": "k"}}).ok()
    assert out == {"body": "from inside"}


def test_credentials_stop_working_when_their_function_is_deleted(srv, s3):
    bucket = new_bucket(s3)
    name = make(srv, "revoked", support.make_zip({"app.py": CALLER}))
    env = invoke(srv.lambda_, name, {"op": "env"}).ok()
    theirs = s3_client(srv, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    assert theirs.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    srv.lambda_.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as refused:
        theirs.list_objects_v2(Bucket=bucket)
    code, status, _ = support.client_error(refused.value)
    assert (code, status) == ("InvalidAccessKeyId", 403), refused.value


def test_a_presigned_url_made_inside_works_for_a_client_outside(srv, s3):
    bucket = new_bucket(s3)
    name = make(srv, "presign", support.make_zip({"app.py": CALLER}))
    url = invoke(srv.lambda_, name, {"op": "presign", "bucket": bucket, "key": "up.bin"}).ok()["url"]
    assert url.startswith(srv.url + "/"), url
    resp = requests.put(url, data=b"uploaded by a client", timeout=30)
    assert resp.status_code == 200, resp.text
    assert s3.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == b"uploaded by a client"


def test_the_media_flow_presigned_upload_event_and_processing(srv, s3):
    bucket = new_bucket(s3)
    s3.create_bucket(Bucket=bucket + "-out")
    processor = make(srv, "media", support.make_zip({"app.py": PROCESSOR}))
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": support.function_arn(processor),
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}}]})
    # A client gets a presigned URL and uploads the image straight to the bucket.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket,
                                                          "Key": "photos/cat 1.jpg"})
    image = os.urandom(200_000)
    assert requests.put(url, data=image, timeout=30).status_code == 200

    def result():
        try:
            return s3.get_object(Bucket=bucket + "-out",
                                 Key="photos/cat 1.jpg.len")["Body"].read()
        except ClientError:
            return None

    assert wait_until(result, 60, interval=0.3) == str(len(image)).encode()


def test_a_fan_out_of_a_hundred_workers_each_writing_an_object(srv, s3):
    bucket = new_bucket(s3)
    caller = make(srv, "fanout", support.make_zip({"app.py": CALLER}))
    worker = make(srv, "worker", support.make_zip({"app.py": CALLER}))
    assert invoke(srv.lambda_, caller, {"op": "fanout", "target": worker, "count": 100,
                                         "bucket": bucket}).ok() == {"queued": 100}

    def written():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        return keys if len(keys) == 100 else None

    keys = wait_until(written, 120, interval=0.5)
    assert keys == [f"part-{i:03d}" for i in range(100)]
    for i in (0, 42, 99):
        assert s3.get_object(Bucket=bucket, Key=f"part-{i:03d}")["Body"].read() == str(i).encode()


def test_a_node_function_uses_the_javascript_sdk(srv, s3):
    bucket = new_bucket(s3)
    name = make(srv, "node-sdk", support.make_zip({"index.js": NODE_CALLER}),
                runtime=support.NODE, handler="index.handler")
    out = invoke(srv.lambda_, name, {"bucket": bucket, "key": "n", "body": "from node"}).ok()
    assert out == {"body": "from node"}
    assert s3.get_object(Bucket=bucket, Key="n")["Body"].read() == b"from node"


# Writes the next object of a chain into the bucket whose write invoked it: a loop
# through S3, as the seed's misconfigured pipelines make.
LOOPER = r'''
import boto3
from urllib.parse import unquote_plus

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        n = int(unquote_plus(record["s3"]["object"]["key"]).split("-")[1])
        print(f"LOOP {n}", flush=True)
        s3.put_object(Bucket=bucket, Key=f"obj-{n + 1:03d}", Body=b"again")
'''


def test_a_loop_through_a_bucket_is_stopped_after_sixteen_invocations(srv, s3):
    bucket = new_bucket(s3)
    looper = make(srv, "looper", support.make_zip({"app.py": LOOPER}))
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": support.function_arn(looper),
            "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="obj-000", Body=b"start")

    lam = srv.lambda_

    def stopped():
        # The 17th event of the chain fails, untried, as a recursive invocation.
        resp = requests.get(f"{srv.url}/gust/v1/functions/{looper}/async",
                            params={"limit": 100}, auth=_signer(srv), timeout=30)
        assert resp.status_code == 200, resp.text
        entries = resp.json()["invocations"]
        failed = [e for e in entries if e["status"] == "failed"]
        return entries if failed else None

    entries = wait_until(stopped, 120, interval=0.5)
    statuses = sorted(e["status"] for e in entries)
    assert statuses == ["failed"] + ["succeeded"] * 16, statuses
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"obj-{i:03d}" for i in range(17)], keys
    assert lam.get_function(FunctionName=looper)  # the function itself is fine


def _signer(srv):
    """requests auth that signs as gust's Lambda API with the test key."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def sign(r):
        req = AWSRequest(method=r.method, url=r.url, data=r.body or b"")
        SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", support.REGION).add_auth(req)
        r.headers.update(dict(req.headers.items()))
        return r

    return sign
