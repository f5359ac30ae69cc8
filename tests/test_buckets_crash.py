"""The object store across `kill -9`: an upload under way leaves nothing visible and
no file behind once gust is back; every committed object keeps its notification
event, which runs after the restart; and the gust CLI's bucket commands.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import boto3
import pytest
from botocore.config import Config

import support
from conftest import _still_running
from support import wait_until

HANDLER = """
import json

def handler(event, context):
    for r in event["Records"]:
        print("S3EVENT " + r["s3"]["object"]["key"], flush=True)
"""


def s3_client(srv):
    return boto3.client("s3", endpoint_url=srv.url, region_name=support.REGION,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 0}))


def kill_9(srv) -> None:
    leftovers = srv.instance_processes()
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.stop(check=False)
    for pid in _still_running(leftovers):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def object_files(srv) -> set[str]:
    d = srv.data_dir / "buckets"
    return {p.name for p in d.iterdir()} if d.exists() else set()


def test_kill_9_mid_upload_leaves_nothing_and_committed_events_still_run(start_server):
    srv = start_server()
    s3 = s3_client(srv)
    bucket = support.unique_name("crash").lower()[:40]
    s3.create_bucket(Bucket=bucket)
    name = support.unique_name("on-put")
    srv.create_function(name, support.make_zip({"app.py": HANDLER}))
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": support.function_arn(name),
            "Events": ["s3:ObjectCreated:*"]}]})
    # Committed objects whose events may not have run yet at the kill.
    keys = [f"done-{i:02d}" for i in range(20)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    files_before = object_files(srv)
    # An upload under way: half its body sent, then gust dies.
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"PUT /{bucket}/half.bin HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Content-Length: {8 << 20}\r\n\r\n".encode() + b"x" * (4 << 20))
    wait_until(lambda: len(object_files(srv)) > len(files_before), 30,
               message="the upload's file to appear")
    kill_9(srv)
    sock.close()

    again = start_server(data_dir=srv.data_dir)
    s3 = s3_client(again)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == keys, listed
    # The half-written file went at start; only committed objects' files remain.
    assert object_files(again) == files_before
    for k in keys[:3]:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()

    # Every committed object's event is in the durable queue and runs, before or
    # after the kill: one succeeded invocation per object, none lost.
    def succeeded():
        resp = again.get(f"/gust/v1/functions/{name}/async", params={"limit": 1000})
        assert resp.status_code == 200, resp.text
        entries = resp.json()["invocations"]
        done = [e for e in entries if e["status"] == "succeeded"]
        return entries if len(done) == len(keys) else None

    entries = wait_until(succeeded, 60, interval=0.5)
    assert len(entries) == len(keys), entries


def test_the_cli_lists_buckets_and_objects_and_connects_functions(server):
    s3 = s3_client(server)
    bucket = support.unique_name("cli").lower()[:40]
    name = support.unique_name("cli-target")
    server.create_function(name, support.make_zip({"app.py": HANDLER}))
    try:
        out = server.cli("bucket", "connect", bucket, name, "--suffix", ".jpg")
        assert out.returncode == 0, out.stderr
        assert f"created bucket {bucket}" in out.stdout, out.stdout
        assert f"{bucket} invokes {name}" in out.stdout, out.stdout
        config = s3.get_bucket_notification_configuration(Bucket=bucket)
        [c] = config["LambdaFunctionConfigurations"]
        assert c["LambdaFunctionArn"] == support.function_arn(name)
        assert c["Filter"]["Key"]["FilterRules"] == [{"Name": "suffix", "Value": ".jpg"}]

        s3.put_object(Bucket=bucket, Key="a/cat.jpg", Body=b"meow")
        s3.put_object(Bucket=bucket, Key="b.txt", Body=b"text")
        listed = server.cli("bucket", "ls", bucket)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split() == ["LAST", "MODIFIED", "SIZE", "KEY"], lines
        assert [l.split()[-1] for l in lines[1:]] == ["a/cat.jpg", "b.txt"], lines
        only = server.cli("--output", "json", "bucket", "ls", bucket, "--prefix", "a/")
        assert [o["Key"] for o in json.loads(only.stdout)["Objects"]] == ["a/cat.jpg"]

        buckets = server.cli("bucket", "list")
        row = [l for l in buckets.stdout.splitlines() if l.startswith(bucket)]
        assert row and f"{name} (s3:ObjectCreated:*) on *.jpg" in row[0], buckets.stdout

        def invoked():
            return any(e["message"] == "S3EVENT a/cat.jpg"
                       for e in server.logs(name, limit=100)["events"])

        wait_until(invoked, 30)
        gone = server.cli("bucket", "disconnect", bucket, name)
        assert gone.returncode == 0, gone.stderr
        assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
            Bucket=bucket)
        unknown = server.cli("bucket", "connect", bucket, "no-such-function")
        assert unknown.returncode != 0
        assert "no-such-function" in unknown.stderr, unknown.stderr
    finally:
        server.delete_quietly(name)
