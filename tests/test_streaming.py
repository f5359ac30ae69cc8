"""Response streaming: InvokeWithResponseStream read by boto3's event-stream parser,
Node.js handlers wrapped in `awslambda.streamifyResponse`, a custom (`provided`)
runtime posting a chunked response with `Lambda-Runtime-Function-Response-Mode:
streaming`, and function URLs in `RESPONSE_STREAM` mode.

That bytes reach the client before the handler returns is shown causally, not by
the clock: after its first chunk the handler waits for an object that the test
writes only once it has received that chunk. A gust that buffered the response
would leave the handler waiting until its timeout, and the test would fail."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import requests
from botocore.config import Config

import support

# Waits, after its first chunk, until the object named by the event exists.
NODE_WAITER = r'''
async function waitForObject(bucket, key) {
  const url = `${process.env.AWS_ENDPOINT_URL}/${bucket}/${key}`;
  for (;;) {
    const res = await fetch(url);
    if (res.status === 200) return await res.text();
    await new Promise((r) => setTimeout(r, 50));
  }
}

exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType("text/plain");
  responseStream.write(`first ${context.awsRequestId}\n`);
  if (event.fail === "before") throw new Error("failed before any byte");
  const word = await waitForObject(event.bucket, event.key);
  responseStream.write(`second ${word}\n`);
  if (event.fail === "midway") throw new TypeError("failed midway");
  if (event.hang) await new Promise(() => setInterval(() => {}, 1000));
  responseStream.end();
});
'''

NODE_URL = r'''
async function waitForObject(bucket, key) {
  const url = `${process.env.AWS_ENDPOINT_URL}/${bucket}/${key}`;
  for (;;) {
    const res = await fetch(url);
    if (res.status === 200) return await res.text();
    await new Promise((r) => setTimeout(r, 50));
  }
}

exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const q = event.queryStringParameters || {};
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { "content-type": "text/csv", "x-streamed": "yes" },
    cookies: ["flavour=ginger"],
  });
  stream.write("a,b\n");
  const word = await waitForObject(q.bucket, q.key);
  stream.write(`1,${word}\n`);
  stream.end();
});
'''

NODE_PLAIN_STREAM = r'''
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  for (let i = 0; i < 3; i++) responseStream.write(`part ${i};`);
  responseStream.end();
});
'''

# A custom runtime that streams its answer: http.client sends each piece the
# generator yields as one chunk. With {"trailer": true} it writes the request by
# hand to report an error in the trailers after some bytes.
PROVIDED_STREAMER = r'''#!/usr/bin/env python3
import base64, http.client, json, os, socket, time, urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, _, PORT = API.partition(":")

def wait_for(bucket, key):
    url = f"{os.environ['AWS_ENDPOINT_URL']}/{bucket}/{key}"
    while True:
        try:
            with urllib.request.urlopen(url) as r:
                return r.read().decode()
        except Exception:
            time.sleep(0.05)

def pieces(event):
    yield b"one "
    yield ("two " + wait_for(event["bucket"], event["key"])).encode()

def with_trailers(rid):
    s = socket.create_connection((HOST, int(PORT)))
    error = base64.b64encode(json.dumps(
        {"errorType": "Custom.Midway", "errorMessage": "lost the thread"}).encode()).decode()
    s.sendall((
        f"POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\n"
        f"Host: {API}\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
        "\r\n"
        "5\r\nhalf \r\n"
        "0\r\n"
        "Lambda-Runtime-Function-Error-Type: Custom.Midway\r\n"
        f"Lambda-Runtime-Function-Error-Body: {error}\r\n"
        "\r\n").encode())
    s.recv(4096)
    s.close()

while True:
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    resp = conn.getresponse()
    rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(resp.read())
    conn.close()
    if event.get("trailer"):
        with_trailers(rid)
        continue
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response",
                 body=pieces(event), encode_chunked=True,
                 headers={"Lambda-Runtime-Function-Response-Mode": "streaming",
                          "Content-Type": "text/plain"})
    conn.getresponse().read()
    conn.close()
'''


@pytest.fixture(scope="module")
def s3(server):
    return boto3.client("s3", endpoint_url=server.url, region_name=support.REGION,
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(s3):
    name = support.unique_name("stream").lower()[:40]
    s3.create_bucket(Bucket=name)
    return name


def events(response):
    """The stream's events as (kind, value) pairs, in order."""
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            yield "chunk", event["PayloadChunk"]["Payload"]
        elif "InvokeComplete" in event:
            yield "complete", event["InvokeComplete"]


def read_with_go(lam, s3, name, bucket, word, **event):
    """Invokes with a stream; writes the object the handler waits for once the first
    chunk has arrived; returns the chunks and the completion."""
    key = f"go-{uuid.uuid4().hex[:8]}"
    resp = lam.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"bucket": bucket, "key": key, **event}))
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    chunks, complete = [], None
    for kind, value in events(resp):
        if kind == "chunk":
            chunks.append(value)
            if len(chunks) == 1:
                # Only now may the handler go on.
                s3.put_object(Bucket=bucket, Key=key, Body=word.encode())
        else:
            complete = value
    return chunks, complete


def test_a_node_handler_s_first_bytes_arrive_before_it_returns(lam, make_function, s3, bucket):
    name = make_function("stream-node", support.make_zip({"index.js": NODE_WAITER}),
                         runtime=support.NODE, handler="index.handler", Timeout=30)
    chunks, complete = read_with_go(lam, s3, name, bucket, "ginger")
    text = b"".join(chunks).decode()
    assert text.startswith("first "), text
    assert text.endswith("second ginger\n"), text
    assert complete == {} or not complete.get("ErrorCode"), complete


def test_a_custom_runtime_streams_chunk_by_chunk(lam, make_function, s3, bucket):
    name = make_function("stream-provided",
                         support.make_zip({"bootstrap": (PROVIDED_STREAMER, 0o755)}),
                         runtime="provided.al2023", handler=None, Timeout=30)
    chunks, complete = read_with_go(lam, s3, name, bucket, "three")
    assert b"".join(chunks) == b"one two three"
    assert not complete.get("ErrorCode"), complete


def test_an_error_midway_ends_the_stream_with_its_type(lam, make_function, s3, bucket):
    name = make_function("stream-fail", support.make_zip({"index.js": NODE_WAITER}),
                         runtime=support.NODE, handler="index.handler", Timeout=30)
    chunks, complete = read_with_go(lam, s3, name, bucket, "x", fail="midway")
    assert b"".join(chunks).decode().endswith("second x\n")
    assert complete["ErrorCode"] == "TypeError", complete
    assert complete["ErrorDetails"] == "failed midway"

    # Through the trailers of a hand-written chunked post.
    custom = make_function("stream-trailer",
                           support.make_zip({"bootstrap": (PROVIDED_STREAMER, 0o755)}),
                           runtime="provided.al2023", handler=None, Timeout=30)
    resp = lam.invoke_with_response_stream(FunctionName=custom,
                                           Payload=json.dumps({"trailer": True}))
    got = list(events(resp))
    assert got[0] == ("chunk", b"half ")
    assert got[-1][0] == "complete"
    assert got[-1][1]["ErrorCode"] == "Custom.Midway"
    assert got[-1][1]["ErrorDetails"] == "lost the thread"
    # The instance serves on.
    chunks, complete = read_with_go(lam, s3, custom, bucket, "again")
    assert b"".join(chunks) == b"one two again"


def test_a_timeout_midway_is_reported_in_the_completion(lam, make_function, s3, bucket):
    name = make_function("stream-hang", support.make_zip({"index.js": NODE_WAITER}),
                         runtime=support.NODE, handler="index.handler", Timeout=2)
    chunks, complete = read_with_go(lam, s3, name, bucket, "y", hang=True)
    assert b"".join(chunks).decode().endswith("second y\n")
    assert complete["ErrorCode"] == "Sandbox.Timedout", complete


def test_whole_answers_and_plain_invokes(lam, make_function):
    # A function that does not stream answers in one chunk, with its log tail.
    py = make_function("stream-whole", support.make_zip({"app.py": (
        "def handler(event, context):\n"
        "    print('whole answer')\n"
        "    return {'n': event['n'] * 2}\n")}))
    resp = lam.invoke_with_response_stream(FunctionName=py, Payload=b'{"n": 21}',
                                           LogType="Tail")
    got = list(events(resp))
    assert [k for k, _ in got] == ["chunk", "complete"]
    assert json.loads(got[0][1]) == {"n": 42}
    import base64
    assert "whole answer" in base64.b64decode(got[1][1]["LogResult"]).decode()

    # A streaming function invoked the ordinary way answers whole.
    node = make_function("stream-plain", support.make_zip({"index.js": NODE_PLAIN_STREAM}),
                         runtime=support.NODE, handler="index.handler")
    out = lam.invoke(FunctionName=node, Payload=b"{}")
    assert out["Payload"].read() == b"part 0;part 1;part 2;"
    assert "FunctionError" not in out

    # Errors before the function runs are ordinary Lambda errors.
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke_with_response_stream(FunctionName="no-such-function-here")
    code, status, message = support.client_error(pytest.raises(
        Exception, lam.invoke_with_response_stream, FunctionName=node,
        InvocationType="Event"))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "RequestResponse, DryRun" in message
    dry = lam.invoke_with_response_stream(FunctionName=node, InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_an_error_before_any_byte_is_a_function_error(lam, make_function, s3, bucket):
    name = make_function("stream-early", support.make_zip({"index.js": NODE_WAITER}),
                         runtime=support.NODE, handler="index.handler", Timeout=30)
    resp = lam.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"bucket": bucket, "key": "k", "fail": "before"}))
    got = list(events(resp))
    assert got[-1][0] == "complete"
    assert got[-1][1]["ErrorCode"] == "Error", got
    assert got[-1][1]["ErrorDetails"] == "failed before any byte"


def test_a_streaming_function_url_sends_its_prelude_then_the_body(
        lam, make_function, s3, bucket):
    name = make_function("stream-url", support.make_zip({"index.js": NODE_URL}),
                         runtime=support.NODE, handler="index.handler", Timeout=30)
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         InvokeMode="RESPONSE_STREAM")
    assert cfg["InvokeMode"] == "RESPONSE_STREAM"
    assert lam.get_function_url_config(FunctionName=name)["InvokeMode"] == "RESPONSE_STREAM"
    key = f"go-{uuid.uuid4().hex[:8]}"
    with requests.get(cfg["FunctionUrl"].rstrip("/") + "/rows",
                      params={"bucket": bucket, "key": key}, stream=True, timeout=60) as r:
        assert r.status_code == 201
        assert r.headers["content-type"] == "text/csv"
        assert r.headers["x-streamed"] == "yes"
        assert "flavour=ginger" in r.headers.get("set-cookie", "")
        assert r.headers.get("transfer-encoding") == "chunked"
        parts = r.iter_content(chunk_size=None)
        first = next(parts)
        assert first == b"a,b\n"
        s3.put_object(Bucket=bucket, Key=key, Body=b"42")
        rest = b"".join(parts)
    assert rest == b"1,42\n"

    # Without a prelude the stream is the body, with the runtime's content type.
    plain = make_function("stream-url-plain", support.make_zip({"index.js": NODE_PLAIN_STREAM}),
                          runtime=support.NODE, handler="index.handler")
    cfg = lam.create_function_url_config(FunctionName=plain, AuthType="NONE",
                                         InvokeMode="RESPONSE_STREAM")
    r = requests.get(cfg["FunctionUrl"], timeout=60)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == b"part 0;part 1;part 2;"

    # Back to BUFFERED.
    lam.update_function_url_config(FunctionName=name, InvokeMode="BUFFERED")
    assert lam.get_function_url_config(FunctionName=name)["InvokeMode"] == "BUFFERED"
