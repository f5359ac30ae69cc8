"""API authentication: with access keys configured, every request must carry a valid
AWS Signature Version 4 — boto3's and the gust CLI's are accepted, anything else is
refused with 403 and AWS's error types, and secrets never reach the logs."""

from __future__ import annotations

import subprocess

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import support

KEY_ID = "AKIAGUSTTEST"
SECRET = "gust-test-secret-do-not-log"
APP = "def handler(event, context):\n    return {'ok': True, 'event': event}\n"


def client(url: str, key_id: str, secret: str):
    return boto3.client(
        "lambda", endpoint_url=url, region_name=support.REGION,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, parameter_validation=False))


@pytest.fixture
def secured(start_server):
    return start_server("--access-key", f"{KEY_ID}:{SECRET}")


def test_signed_requests_work_and_others_are_refused(secured):
    good = client(secured.url, KEY_ID, SECRET)
    name = support.unique_name("auth")
    good.create_function(FunctionName=name, Runtime=support.PYTHON, Role="arn:aws:iam::000000000000:role/x",
                         Handler="app.handler", Code={"ZipFile": support.make_zip({"app.py": APP})})
    assert support.invoke(good, name, {"n": 1}).ok()["event"] == {"n": 1}

    with pytest.raises(ClientError) as e:
        client(secured.url, KEY_ID, "not-the-secret").list_functions()
    assert support.client_error(e)[:2] == ("InvalidSignatureException", 403)
    with pytest.raises(ClientError) as e:
        client(secured.url, "AKIAUNKNOWN", SECRET).invoke(FunctionName=name)
    assert support.client_error(e)[:2] == ("UnrecognizedClientException", 403)

    for method, path in [("GET", "/2015-03-31/functions/"),
                         ("POST", f"/2015-03-31/functions/{name}/invocations"),
                         ("GET", "/gust/v1/health"),
                         ("GET", f"/gust/v1/functions/{name}/logs")]:
        resp = requests.request(method, secured.url + path, data=b"{}", timeout=10)
        assert resp.status_code == 403, (path, resp.status_code, resp.text)
        assert resp.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    # A forged Authorization header with a wrong signature is refused too.
    forged = requests.get(secured.url + "/2015-03-31/functions/", timeout=10, headers={
        "x-amz-date": "20260101T000000Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/lambda/aws4_request, "
                         f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"})
    assert forged.status_code == 403

    assert SECRET not in secured.stderr_tail(10**7)


def test_cli_signs_its_requests(secured, tmp_path):
    src = tmp_path / "signed.py"
    src.write_text(APP)
    env = support.env_for_subprocess()

    def cli(*args, creds: bool):
        e = dict(env)
        if creds:
            e.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
        return subprocess.run([str(secured.binary), "--endpoint", secured.url, *args],
                              capture_output=True, text=True, timeout=60, env=e,
                              stdin=subprocess.DEVNULL)

    refused = cli("list", creds=False)
    assert refused.returncode != 0
    assert "MissingAuthenticationTokenException" in refused.stderr
    assert "AWS_ACCESS_KEY_ID" in refused.stderr  # the hint says what to do
    name = support.unique_name("signedcli")
    deployed = cli("deploy", str(src), "--name", name, creds=True)
    assert deployed.returncode == 0, deployed.stderr
    invoked = cli("invoke", name, '{"x": 2}', creds=True)
    assert invoked.returncode == 0, invoked.stderr
    assert '"x": 2' in invoked.stdout


def test_listening_beyond_loopback_requires_keys(gust_bin, tmp_path):
    proc = subprocess.run(
        [str(gust_bin), "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path / "d"),
         "--isolation", "none"],
        capture_output=True, text=True, timeout=60, env=support.env_for_subprocess(),
        stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "refusing to listen on 0.0.0.0" in proc.stderr
    assert "--access-key" in proc.stderr
