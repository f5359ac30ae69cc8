"""S3 event notifications to Lambda functions: PutBucketNotificationConfiguration and
GetBucketNotificationConfiguration with LambdaFunctionConfigurations (events, prefix
and suffix filters, destinations validated), and the asynchronous invocations that
follow object writes and deletes, with the event message structure AWS documents
("Event message structure" in the S3 User Guide): eventSource aws:s3, a 2.x
eventVersion, eventName without the "s3:" prefix, the bucket, and the object's
URL-encoded key, size, eTag and sequencer.

The functions print the event they receive as one JSON log line; the tests read it
back from gust's logs endpoint, waiting a bounded time for it to arrive."""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Callable
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import support
from support import wait_until

REGION = support.REGION
MiB = 1024 * 1024
WAIT = 30

HANDLER = """
import json

def handler(event, context):
    print("S3EVENT " + json.dumps(event, sort_keys=True), flush=True)
    return {"records": len(event.get("Records", []))}
"""
ZIP = support.make_zip({"app.py": HANDLER})

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# ---------------------------------------------------------------- helpers


def s3_client(srv):
    return boto3.client(
        "s3", endpoint_url=srv.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0},
                      read_timeout=120))


def refused(call: Callable, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return support.client_error(e)


def lambda_config(function: str, events: list[str], *, prefix: str | None = None,
                  suffix: str | None = None, ident: str = "to-lambda") -> dict[str, Any]:
    config: dict[str, Any] = {"Id": ident, "LambdaFunctionArn": support.function_arn(function),
                              "Events": events}
    rules = []
    if prefix is not None:
        rules.append({"Name": "prefix", "Value": prefix})
    if suffix is not None:
        rules.append({"Name": "suffix", "Value": suffix})
    if rules:
        config["Filter"] = {"Key": {"FilterRules": rules}}
    return config


def notify(s3, bucket: str, *configs: dict[str, Any]) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": list(configs)})


def records(srv, function: str) -> list[dict[str, Any]]:
    """Every S3 event record the function has logged so far, oldest first."""
    out = []
    for e in srv.logs(function, limit=1000)["events"]:
        if e["message"].startswith("S3EVENT "):
            event = json.loads(e["message"][len("S3EVENT "):])
            assert len(event["Records"]) == 1, event
            out.extend(event["Records"])
    return out


def wait_for_records(srv, function: str, predicate: Callable[[dict], bool], count: int = 1,
                     what: str = "S3 event records") -> list[dict[str, Any]]:
    def enough():
        found = [r for r in records(srv, function) if predicate(r)]
        return found if len(found) >= count else None

    return wait_until(enough, WAIT, interval=0.3, message=f"{count} {what} in {function}'s logs")


def key_of(record: dict) -> str:
    """The object key of a record, decoded as AWS says to (form URL-encoding)."""
    return unquote_plus(record["s3"]["object"]["key"])


def for_key(key: str) -> Callable[[dict], bool]:
    return lambda r: key_of(r) == key


def settled(srv, function: str) -> None:
    """Waits until none of the function's asynchronous invocations is still pending."""
    def done():
        resp = srv.get(f"/gust/v1/functions/{function}/async", params={"limit": 1000})
        assert resp.status_code == 200, resp.text
        return all(e["status"] not in ("queued", "running") for e in resp.json()["invocations"])

    wait_until(done, WAIT, interval=0.3, message=f"{function}'s invocations to finish")


def sequencer_after(later: str, earlier: str) -> bool:
    """Whether one sequencer is greater than another. AWS's pages disagree on which
    side to pad the shorter one with zeros before comparing; equal lengths need no
    padding."""
    width = max(len(later), len(earlier))
    if len(later) == len(earlier):
        return later.upper() > earlier.upper()
    return (later.upper().ljust(width, "0") > earlier.upper().ljust(width, "0")
            or later.upper().rjust(width, "0") > earlier.upper().rjust(width, "0"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture
def bucket(s3) -> str:
    name = support.unique_name("events").lower()
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def target(make_function) -> str:
    """A function that logs every event it gets."""
    return make_function("s3-target", ZIP)


# ---------------------------------------------------------------- configuration


def test_the_notification_configuration_round_trips(s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"], prefix="in/",
                                     suffix=".txt", ident="created"),
           lambda_config(target, ["s3:ObjectRemoved:*"], prefix="in/", ident="removed"))
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    configs = {c["Id"]: c for c in got["LambdaFunctionConfigurations"]}
    assert set(configs) == {"created", "removed"}
    created = configs["created"]
    assert created["LambdaFunctionArn"] == support.function_arn(target)
    assert created["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in created["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "in/", "suffix": ".txt"}
    assert configs["removed"]["Events"] == ["s3:ObjectRemoved:*"]
    assert not got.get("TopicConfigurations") and not got.get("QueueConfigurations")


def test_a_bucket_without_notifications_has_an_empty_configuration(s3, bucket):
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not got.get("LambdaFunctionConfigurations"), got


def test_an_empty_configuration_removes_the_notifications(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"]))
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert not s3.get_bucket_notification_configuration(Bucket=bucket).get(
        "LambdaFunctionConfigurations")
    # With notifications gone, a put invokes nothing: a second bucket, still
    # notifying, shows when the dispatcher has caught up.
    marker_bucket = support.unique_name("events-marker").lower()
    s3.create_bucket(Bucket=marker_bucket)
    notify(s3, marker_bucket, lambda_config(target, ["s3:ObjectCreated:*"]))
    s3.put_object(Bucket=bucket, Key="silent.txt", Body=b"x")
    s3.put_object(Bucket=marker_bucket, Key="marker.txt", Body=b"x")
    wait_for_records(server, target, for_key("marker.txt"))
    settled(server, target)
    assert [r["s3"]["bucket"]["name"] for r in records(server, target)] == [marker_bucket]


def test_a_function_that_does_not_exist_is_refused(s3, bucket):
    missing = support.unique_name("no-such-function")
    code, status, message = refused(notify, s3, bucket,
                                    lambda_config(missing, ["s3:ObjectCreated:*"]))
    assert (code, status) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in message
    assert not s3.get_bucket_notification_configuration(Bucket=bucket).get(
        "LambdaFunctionConfigurations")


def test_a_notification_for_an_unknown_bucket_is_no_such_bucket(s3, target):
    code, status, _ = refused(notify, s3, support.unique_name("nobucket").lower(),
                              lambda_config(target, ["s3:ObjectCreated:*"]))
    assert (code, status) == ("NoSuchBucket", 404)


# ---------------------------------------------------------------- events


def test_a_put_invokes_the_function_with_an_s3_event_record(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"], prefix="in/",
                                     suffix=".txt", ident="new-text"))
    data = b"hello, events"
    put = s3.put_object(Bucket=bucket, Key="in/hello.txt", Body=data)
    (record,) = wait_for_records(server, target, for_key("in/hello.txt"))

    assert record["eventSource"] == "aws:s3"
    major, minor = (int(p) for p in record["eventVersion"].split("."))
    assert major == 2 and minor >= 1, record["eventVersion"]
    assert record["awsRegion"] == REGION
    assert record["eventName"] == "ObjectCreated:Put"
    assert ISO_TIME.match(record["eventTime"]), record["eventTime"]
    assert isinstance(record["userIdentity"]["principalId"], str)
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    # "These values are the same as those that Amazon S3 returned in the response
    # to your original PUT request."
    put_headers = put["ResponseMetadata"]["HTTPHeaders"]
    request_id = put_headers.get("x-amz-request-id")
    assert request_id, f"the PUT's response has no x-amz-request-id: {put_headers}"
    assert record["responseElements"]["x-amz-request-id"] == request_id

    s3rec = record["s3"]
    assert s3rec["s3SchemaVersion"] == "1.0"
    assert s3rec["configurationId"] == "new-text"
    assert s3rec["bucket"]["name"] == bucket
    assert s3rec["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert s3rec["object"]["key"] == "in/hello.txt"
    assert s3rec["object"]["size"] == len(data)
    assert s3rec["object"]["eTag"] == hashlib.md5(data).hexdigest()
    assert re.fullmatch(r"[0-9A-Fa-f]+", s3rec["object"]["sequencer"]), s3rec["object"]


def test_the_event_key_is_url_encoded(server, s3, bucket, target):
    # AWS: "The object key name value is URL encoded. For example, 'red flower.jpg'
    # becomes 'red+flower.jpg'."
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"]))
    key = "photos/red flower ü+1.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
    (record,) = wait_for_records(server, target, for_key(key))
    encoded = record["s3"]["object"]["key"]
    assert " " not in encoded and "ü" not in encoded, encoded
    assert "red+flower" in encoded, encoded
    assert "%2B1" in encoded.upper(), encoded
    assert unquote_plus(encoded) == key


def test_objects_outside_the_filter_invoke_nothing(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"], prefix="in/",
                                     suffix=".txt"))
    other_bucket = support.unique_name("events-other").lower()
    s3.create_bucket(Bucket=other_bucket)
    for key in ["out/a.txt", "in/a.csv", "a.txt", "IN/a.txt", "in/a.txt.bak"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"ignored")
    s3.put_object(Bucket=other_bucket, Key="in/a.txt", Body=b"other bucket")
    s3.put_object(Bucket=bucket, Key="in/match.txt", Body=b"matches")
    wait_for_records(server, target, for_key("in/match.txt"))
    settled(server, target)
    assert [(r["s3"]["bucket"]["name"], key_of(r)) for r in records(server, target)] == [
        (bucket, "in/match.txt")]


def test_a_delete_sends_object_removed_delete(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectRemoved:*"], prefix="in/",
                                     ident="removed"))
    for key in ["in/a.txt", "in/b.txt", "in/c.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"doomed")
    s3.delete_object(Bucket=bucket, Key="in/a.txt")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "in/b.txt"},
                                                         {"Key": "in/c.txt"}]})
    found = wait_for_records(server, target, lambda r: True, count=3, what="removal records")
    assert sorted(key_of(r) for r in found) == ["in/a.txt", "in/b.txt", "in/c.txt"]
    for record in found:
        assert record["eventName"] == "ObjectRemoved:Delete", record
        assert record["eventSource"] == "aws:s3"
        assert record["s3"]["configurationId"] == "removed"
        assert record["s3"]["bucket"]["name"] == bucket
        assert re.fullmatch(r"[0-9A-Fa-f]+", record["s3"]["object"]["sequencer"]), record
    # Creations were not subscribed to.
    settled(server, target)
    assert all(r["eventName"].startswith("ObjectRemoved:") for r in records(server, target))


def test_a_copy_sends_object_created_copy(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"], prefix="in/"))
    data = b"copied bytes"
    s3.put_object(Bucket=bucket, Key="src/original.txt", Body=data)
    s3.copy_object(Bucket=bucket, Key="in/copy.txt",
                   CopySource={"Bucket": bucket, "Key": "src/original.txt"})
    (record,) = wait_for_records(server, target, for_key("in/copy.txt"))
    assert record["eventName"] == "ObjectCreated:Copy"
    assert record["s3"]["object"]["size"] == len(data)
    assert record["s3"]["object"]["eTag"] == hashlib.md5(data).hexdigest()


def test_a_multipart_upload_sends_object_created_complete_multipart_upload(
        server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*"]))
    parts = [os.urandom(5 * MiB), b"the last part"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big/video.bin")["UploadId"]
    done = []
    for n, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="big/video.bin", UploadId=upload,
                              PartNumber=n, Body=data)["ETag"]
        done.append({"PartNumber": n, "ETag": etag})
    complete = s3.complete_multipart_upload(Bucket=bucket, Key="big/video.bin",
                                            UploadId=upload, MultipartUpload={"Parts": done})
    (record,) = wait_for_records(server, target, for_key("big/video.bin"))
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert record["s3"]["object"]["size"] == sum(map(len, parts))
    assert record["s3"]["object"]["eTag"] == complete["ETag"].strip('"')
    # Uploading the parts created no object, so it sent no other event.
    settled(server, target)
    assert len(records(server, target)) == 1


def test_put_only_notifications_ignore_copies(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:Put"]))
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"put")
    s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    s3.put_object(Bucket=bucket, Key="c.txt", Body=b"put again")
    wait_for_records(server, target, for_key("c.txt"))
    settled(server, target)
    found = records(server, target)
    assert sorted(key_of(r) for r in found) == ["a.txt", "c.txt"]
    assert {r["eventName"] for r in found} == {"ObjectCreated:Put"}


def test_sequencers_order_the_events_of_one_key(server, s3, bucket, target):
    notify(s3, bucket, lambda_config(target, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]))
    first, second = b"first version", b"second version"
    s3.put_object(Bucket=bucket, Key="same.txt", Body=first)
    s3.put_object(Bucket=bucket, Key="same.txt", Body=second)
    s3.delete_object(Bucket=bucket, Key="same.txt")
    found = wait_for_records(server, target, for_key("same.txt"), count=3)
    by_what = {}
    for r in found:
        what = r["s3"]["object"].get("eTag") if r["eventName"].startswith("ObjectCreated") \
            else "deleted"
        by_what[what] = r["s3"]["object"]["sequencer"]
    put1 = by_what[hashlib.md5(first).hexdigest()]
    put2 = by_what[hashlib.md5(second).hexdigest()]
    assert sequencer_after(put2, put1), (put1, put2)
    assert sequencer_after(by_what["deleted"], put2), (put2, by_what["deleted"])


def test_each_matching_configuration_gets_the_event(server, s3, bucket, make_function, target):
    other = make_function("s3-target-two", ZIP)
    notify(s3, bucket,
           lambda_config(target, ["s3:ObjectCreated:*"], prefix="logs/", ident="logs"),
           lambda_config(other, ["s3:ObjectCreated:*"], prefix="images/", ident="images"))
    s3.put_object(Bucket=bucket, Key="logs/today.log", Body=b"log")
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"png")
    (log_record,) = wait_for_records(server, target, for_key("logs/today.log"))
    (image_record,) = wait_for_records(server, other, for_key("images/cat.png"))
    assert log_record["s3"]["configurationId"] == "logs"
    assert image_record["s3"]["configurationId"] == "images"
    settled(server, target)
    settled(server, other)
    assert [key_of(r) for r in records(server, target)] == ["logs/today.log"]
    assert [key_of(r) for r in records(server, other)] == ["images/cat.png"]
