"""`GET /metrics` (Prometheus' text format) and `gust usage`: Lambda's metrics per
function and qualifier, the GB-seconds billed, the platform's gauges, how a scraper
authenticates when gust has access keys, and a real Prometheus server scraping gust.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

import support

APP = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""

KEY_ID, SECRET = "AKIDMETRICS", "metrics-secret"


def scrape(srv, **kwargs) -> str:
    answer = requests.get(srv.url + "/metrics", timeout=30, **kwargs)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    return answer.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample (`name{labels} value`), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def billed_ms(log: str) -> int:
    found = re.search(r"Billed Duration: (\d+) ms", log)
    assert found, log
    return int(found.group(1))


def test_invocations_errors_throttles_cold_starts_and_gb_seconds(start_server):
    srv = start_server()
    lam = srv.new_lambda_client()
    name = support.unique_name("metrics")
    srv.create_function(name, support.make_zip({"app.py": APP}), MemorySize=256)
    billed = 0
    for payload in [{}, {}, {"fail": True}]:
        billed += billed_ms(support.invoke(lam, name, payload, tail=True).log or "")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    labels = {"function_name": name, "resource": name}
    # The Event invocation runs too: wait until it is counted.
    support.wait_until(
        lambda: sample(scrape(srv), "gust_lambda_invocations_total", **labels) == 4, 60,
        message="the event's invocation to be counted")
    text = scrape(srv)
    assert sample(text, "gust_lambda_errors_total", **labels) == 1
    assert sample(text, "gust_lambda_async_events_received_total", **labels) == 1
    assert sample(text, "gust_lambda_cold_starts_total", **labels) >= 1
    assert sample(text, "gust_lambda_duration_seconds_count", **labels) == 4
    assert sample(text, "gust_lambda_init_duration_seconds_count", **labels) >= 1
    assert sample(text, "gust_lambda_concurrent_executions", **labels) == 0
    assert sample(text, "gust_functions") == 1
    assert sample(text, "gust_memory_capacity_bytes") > 0
    # An invocation through a qualifier is its own resource.
    lam.publish_version(FunctionName=name)
    assert support.invoke(lam, name, {}, Qualifier="1").ok() == {"ok": True}
    assert sample(scrape(srv), "gust_lambda_invocations_total", function_name=name,
                  resource=f"{name}:1") == 1

    # Throttles: no concurrency left for the function.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert sample(scrape(srv), "gust_lambda_throttles_total", **labels) == 1

    # GB-seconds: Billed Duration × memory, as the REPORT lines say.
    usage = requests.get(srv.url + "/gust/v1/usage", timeout=30).json()["functions"]
    mine = next(f for f in usage if f["name"] == name)
    assert mine["invocations"] == 5
    assert mine["billedMs"] >= billed
    assert mine["gbSeconds"] == pytest.approx(mine["billedMs"] / 1000 * 256 / 1024)
    gb = sample(scrape(srv), "gust_lambda_billed_gb_seconds_total", **labels)
    assert gb is not None and 0 < gb <= mine["gbSeconds"]
    table = srv.cli("usage")
    assert table.returncode == 0, table.stderr
    assert name in table.stdout and "GB-SECONDS" in table.stdout, table.stdout


def test_with_access_keys_a_scraper_sends_a_bearer_token_or_basic_auth(start_server):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    refused = requests.get(srv.url + "/metrics", timeout=30)
    assert refused.status_code == 403, refused.text
    assert requests.get(srv.url + "/metrics", timeout=30,
                        headers={"Authorization": "Bearer wrong"}).status_code == 403
    scrape(srv, headers={"Authorization": f"Bearer {SECRET}"})
    basic = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
    scrape(srv, headers={"Authorization": f"Basic {basic}"})
    wrong_id = base64.b64encode(f"OTHER:{SECRET}".encode()).decode()
    assert requests.get(srv.url + "/metrics", timeout=30,
                        headers={"Authorization": f"Basic {wrong_id}"}).status_code == 403
    # The token opens /metrics only.
    assert requests.get(srv.url + "/2015-03-31/functions", timeout=30,
                        headers={"Authorization": f"Bearer {SECRET}"}).status_code == 403


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="Debian's prometheus is not installed (./scripts/test installs it)")
def test_a_real_prometheus_scrapes_gust_with_a_bearer_token(start_server, tmp_path: Path):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    lam = boto3.client("lambda", endpoint_url=srv.url, region_name=support.REGION,
                       aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                       config=Config(retries={"max_attempts": 0}))
    name = support.unique_name("scraped")
    lam.create_function(FunctionName=name, Runtime=support.PYTHON, Handler="app.handler",
                        Role=f"arn:aws:iam::{support.ACCOUNT}:role/r",
                        Code={"ZipFile": support.make_zip({"app.py": APP})})
    for _ in range(3):
        assert support.invoke(lam, name, {}).ok() == {"ok": True}
    target = urllib.parse.urlsplit(srv.url).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{
            "job_name": "gust",
            "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": SECRET},
            "static_configs": [{"targets": [target]}],
        }],
    }))
    port = free_port()
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    try:
        api = f"http://127.0.0.1:{port}/api/v1"

        def scraped_value():
            try:
                r = requests.get(f"{api}/query", timeout=5, params={
                    "query": f'gust_lambda_invocations_total{{function_name="{name}"}}'})
            except requests.ConnectionError:
                return None
            result = r.json().get("data", {}).get("result", [])
            return float(result[0]["value"][1]) if result else None

        value = support.wait_until(scraped_value, 90,
                                   message="Prometheus to have scraped gust's invocations")
        assert value == 3
        targets = requests.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"], targets
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()


def test_async_metrics_count_age_drops_and_records_that_cannot_be_delivered(start_server):
    srv = start_server()
    lam = srv.new_lambda_client()
    name = support.unique_name("async-metrics")
    sink = support.unique_name("async-sink")
    srv.create_function(name, support.make_zip({"app.py": APP}))
    srv.create_function(sink, support.make_zip({"app.py": APP}))
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": support.function_arn(sink)}})
    # The destination goes away: the failure's record cannot reach it.
    lam.delete_function(FunctionName=sink)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    labels = {"function_name": name, "resource": name}
    support.wait_until(
        lambda: sample(scrape(srv), "gust_lambda_destination_delivery_failures_total",
                       **labels) == 1, 60,
        message="the undeliverable record to be counted")
    text = scrape(srv)
    assert sample(text, "gust_lambda_async_events_dropped_total", **labels) == 1
    assert sample(text, "gust_lambda_async_event_age_seconds_count", **labels) == 1
    assert sample(text, "gust_lambda_dead_letter_errors_total", **labels) is None
    assert sample(text, "gust_lambda_errors_total", **labels) == 1


GATED = """
import os, time, urllib.request

def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    if not event.get("key"):
        return {"ok": True}
    # Busy until the test writes the object: a bounded wait, 30 s at most.
    url = f"{os.environ['AWS_ENDPOINT_URL']}/{event['bucket']}/{event['key']}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url) as r:
                return {"released": r.read().decode()}
        except Exception:
            time.sleep(0.05)
    return {"released": None}
"""


def test_provisioned_concurrency_instance_states_pools_and_queue_depths(start_server):
    import threading
    srv = start_server()
    lam = srv.new_lambda_client()
    s3 = boto3.client("s3", endpoint_url=srv.url, region_name=support.REGION,
                      aws_access_key_id="x", aws_secret_access_key="x",
                      config=Config(s3={"addressing_style": "path"}))
    bucket = support.unique_name("gate")
    s3.create_bucket(Bucket=bucket)
    name = support.unique_name("provisioned")
    srv.create_function(name, support.make_zip({"app.py": GATED}), Timeout=60)
    lam.publish_version(FunctionName=name)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    support.wait_until(
        lambda: lam.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1")["Status"] == "READY", 60,
        message="the provisioned instance to start")
    labels = {"function_name": name, "resource": f"{name}:1"}
    text = scrape(srv)
    assert sample(text, "gust_lambda_provisioned_concurrency_allocated", **labels) == 1
    assert sample(text, "gust_lambda_provisioned_concurrent_executions", **labels) == 0
    assert sample(text, "gust_lambda_provisioned_concurrency_utilization", **labels) == 0

    # A holds the provisioned instance until the object exists...
    held: dict = {}
    a = threading.Thread(target=lambda: held.update(
        out=support.invoke(lam, name, {"bucket": bucket, "key": "go"}, Qualifier="1").ok()))
    a.start()
    try:
        support.wait_until(
            lambda: sample(scrape(srv), "gust_lambda_provisioned_concurrent_executions",
                           **labels) == 1, 30,
            message="the first invocation to run on the provisioned instance")
        text = scrape(srv)
        assert sample(text, "gust_lambda_provisioned_concurrency_utilization", **labels) == 1
        assert sample(text, "gust_instances_by_state", state="busy") == 1
        # ... so B, while A runs, spills over to an ordinary instance.
        assert support.invoke(lam, name, {}, Qualifier="1").ok() == {"ok": True}
        assert sample(scrape(srv), "gust_lambda_provisioned_concurrency_spillover_invocations_total",
                      **labels) == 1
    finally:
        s3.put_object(Bucket=bucket, Key="go", Body=b"now")
        a.join(60)
    assert held["out"] == {"released": "now"}
    text = scrape(srv)
    assert sample(text, "gust_lambda_provisioned_concurrency_invocations_total", **labels) == 1
    assert sample(text, "gust_lambda_provisioned_concurrency_spillover_invocations_total",
                  **labels) == 1
    # Both instances idle now, warm or already frozen; none busy or starting.
    states = {s: sample(text, "gust_instances_by_state", state=s)
              for s in ("busy", "warm", "frozen", "starting")}
    assert states["busy"] == 0 and states["starting"] == 0, states
    assert states["warm"] + states["frozen"] == sample(text, "gust_instances") == 2, states
    for kind in ("sandbox", "sandbox_linked", "prewarmed_runtime"):
        assert sample(text, "gust_pool_ready", state=kind) is not None, kind
    assert sample(text, "gust_async_events_queued") == 0

    # A dead letter shows in its queue's depth.
    dlq = support.unique_name("dlq")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.update_function_configuration(
        FunctionName=name,
        DeadLetterConfig={"TargetArn": f"arn:aws:sqs:{support.REGION}:000000000000:{dlq}"})
    support.wait_until(
        lambda: lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"]
        == "Successful", 30, message="the configuration update")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    support.wait_until(
        lambda: sample(scrape(srv), "gust_queue_messages", queue=dlq) == 1, 60,
        message="the dead letter to be counted in its queue")


def test_health_reports_instances_by_state(start_server):
    srv = start_server("--freeze-idle-after", "off")
    name = support.unique_name("states")
    srv.create_function(name, support.make_zip({"app.py": APP}))
    assert support.invoke(srv.lambda_, name, {}).ok() == {"ok": True}
    health = requests.get(srv.url + "/gust/v1/health", timeout=30).json()
    states = health["instanceStates"]
    assert states == {"busy": 0, "warm": 1, "frozen": 0, "starting": 0}, health
    assert sum(states.values()) == health["instances"] == 1
    text = scrape(srv)
    assert sample(text, "gust_instances_by_state", state="warm") == 1
    out = srv.cli("health")
    assert out.returncode == 0, out.stderr
    assert "1 (1 warm)" in out.stdout, out.stdout
