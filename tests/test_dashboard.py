"""The web dashboard at /gust/dashboard, driven in headless Chromium with Playwright:
the overview lists deployed functions and its counters and charts move after
invocations; a function's page shows its configuration, versions, aliases, URL,
charts and its log followed live; the async page shows retries and the records that
reach destinations and dead-letter queues; schedules, buckets and workflows (with
the execution's graph) have their pages; with an access key the dashboard asks for
an operator key with HTTP Basic. Screenshots are taken and their pixels checked.

Chromium is Debian's (`/usr/bin/chromium`, which ./scripts/test installs with
apt-get); Playwright is the PyPI package, told to use that binary, since it cannot
download a browser of its own here."""

from __future__ import annotations

import base64
import json
import shutil
from typing import Iterator

import boto3
import pytest
import requests
from botocore.config import Config

import support
from support import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_MS = 30_000  # the page refreshes every few seconds; this bounds every wait
ROLE = f"arn:aws:iam::{support.ACCOUNT}:role/lambda-role"

APP = """
import time

def handler(event, context):
    print("dashboard-probe says", event.get("say", "hi"))
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("failing on purpose: " + str(event.get("say")))
    return {"ok": True}
"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """open_page(url, **context options) -> a page at `url`, with the page's own
    script errors collected in `page.errors` (a test fails if there are any)."""
    contexts = []
    pages = []

    def open_(url: str, **options):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        pages.append(page)
        page.goto(url)
        return page

    yield open_
    errors = [e for p in pages for e in p.errors]
    for ctx in contexts:
        ctx.close()
    assert not errors, f"the dashboard's script failed: {errors}"


def dashboard(srv, view: str = "") -> str:
    return f"{srv.url}/gust/dashboard{'#/' + view if view else ''}"


def chart_total(page, chart: str) -> float:
    """What a chart's series add up to over its window (charts.js's data-total)."""
    value = page.get_attribute(f"[data-chart={chart}]", "data-total")
    return float(value) if value else 0.0


def wait_for_total(page, chart: str, want, message: str) -> None:
    """Waits until `want(total)` holds for the chart, as the page redraws it."""
    wait_until(lambda: want(chart_total(page, chart)), WAIT_MS / 1000, interval=0.3,
               message=message)


def checked_screenshot(page, path) -> tuple[int, int]:
    """A screenshot of the page saved at `path`, checked to be a real picture: the
    viewport's size, many colours, not one background with specks."""
    data = page.screenshot(path=str(path))
    width, height, rows = support.png_info(data)
    assert (width, height) == (1280, 900)
    colours: dict[bytes, int] = {}
    for row in rows[::5]:
        for i in range(0, len(row), 15):
            px = row[i:i + 3]
            colours[px] = colours.get(px, 0) + 1
    total = sum(colours.values())
    assert len(colours) > 20, f"the screenshot is nearly blank: {len(colours)} colours"
    assert max(colours.values()) < 0.9 * total, "one colour covers nine tenths of the screenshot"
    return width, height


def make_app(srv, prefix: str, **kwargs) -> str:
    name = support.unique_name(prefix)
    srv.create_function(name, support.make_zip({"app.py": APP}), **kwargs)
    return name


# ---------------------------------------------------------------- overview


def test_overview_lists_a_function_and_follows_its_invocations(server, open_page, tmp_path):
    name = make_app(server, "dash-overview", MemorySize=256)
    try:
        page = open_page(dashboard(server))
        row = page.wait_for_selector(f"tr[data-function='{name}']")
        assert "python3.11" in row.inner_text() and "256 MB" in row.inner_text()
        assert row.get_attribute("data-invocations") == "0"
        page.wait_for_selector("[data-chart=invocations] svg")
        before = chart_total(page, "invocations")
        for i in range(3):
            support.invoke(server.lambda_, name, {"say": f"overview {i}"}).ok()
        page.wait_for_selector(f"tr[data-function='{name}'][data-invocations='3']")
        # The rate chart is every function's: it rose by at least these three.
        wait_for_total(page, "invocations", lambda t: t >= before + 3,
                       "the overview's invocation chart to count the invocations")
        assert int(page.get_attribute("[data-chart=invocations]", "data-points")) > 0
        assert "Invocations / s" in page.inner_text("[data-chart=invocations]")
        # The instance just used is idle now, warm or already frozen, and the
        # Instances card says which.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.stat')].some((s) =>"
            " s.textContent.startsWith('Instances') && /\\d+ (warm|frozen)/.test(s.textContent))")
        assert page.inner_text("#status").startswith("live")
        checked_screenshot(page, tmp_path / "overview.png")
    finally:
        server.delete_quietly(name)


# ---------------------------------------------------------------- one function


def test_function_page_shows_its_configuration_charts_and_live_logs(server, open_page, tmp_path):
    lam = server.lambda_
    name = make_app(server, "dash-fn", MemorySize=192, Timeout=7, Description="for the dashboard")
    try:
        support.invoke(lam, name, {"say": "before publishing"}).ok()
        lam.publish_version(FunctionName=name, Description="first")
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]

        page = open_page(dashboard(server, f"functions/{name}"))
        page.wait_for_selector("dl.kv")
        details = page.inner_text("main")
        for text in ["192 MB", "7 s", "app.handler", support.function_arn(name), "live", url]:
            assert text in details, f"{text!r} not on the function's page:\n{details[:3000]}"
        versions = page.inner_text("section.panel:has(h2:text-is('Versions'))")
        assert "1" in versions and "first" in versions, versions

        # Charts: the invocation before the page opened, then three more, one failing.
        page.wait_for_selector("[data-chart=invocations][data-total='1']")
        assert chart_total(page, "cold-starts") == 1
        for say in ["one", "two"]:
            support.invoke(lam, name, {"say": say}).ok()
        support.invoke(lam, name, {"say": "three", "fail": True}).error()
        page.wait_for_selector("[data-chart=invocations][data-total='4']")
        page.wait_for_selector("[data-chart=errors][data-total='1']")
        assert int(page.get_attribute("[data-chart=latency]", "data-points")) > 0

        # The log, followed: a line printed after the page opened shows up.
        logs = f"pre[data-logs='{name}']"
        page.wait_for_selector(f"{logs} div:has-text('dashboard-probe says three')")
        assert "failing on purpose: three" in page.inner_text(logs)
        support.invoke(lam, name, {"say": "while watching"}).ok()
        page.wait_for_selector(f"{logs} div:has-text('dashboard-probe says while watching')")
        report = page.locator(f"{logs} div.sys", has_text="REPORT RequestId")
        assert report.count() >= 5

        checked_screenshot(page, tmp_path / "function.png")
    finally:
        server.delete_quietly(name)


# ---------------------------------------------------------------- async


def test_async_page_shows_retries_and_dead_letter_records(start_server, open_page):
    srv = start_server("--async-retry-base", "200ms")
    lam = srv.lambda_
    name = make_app(srv, "dash-async")
    failures = f"failures-{name}"
    dlq = f"dlq-{name}"
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {
            "Destination": f"arn:aws:sqs:{support.REGION}:{support.ACCOUNT}:{failures}"}})
    retried = lam.invoke(FunctionName=name, InvocationType="Event",
                         Payload=json.dumps({"say": "retried", "fail": True}))
    retried_id = retried["ResponseMetadata"]["RequestId"]

    page = open_page(dashboard(srv, "async"))
    # The on-failure destination's record: retries exhausted after two attempts.
    record = page.wait_for_selector(f"[data-queue='{failures}'] tr[data-request-id='{retried_id}']")
    text = record.inner_text()
    assert "RetriesExhausted, 2 attempts" in text and "failing on purpose: retried" in text, text
    row = page.wait_for_selector(f"tr[data-request-id='{retried_id}']:has-text('failed')")
    assert "2" in row.inner_text().split(), row.inner_text()

    # Without a destination, the dead-letter queue gets the event itself.
    lam.delete_function_event_invoke_config(FunctionName=name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={
        "TargetArn": f"arn:aws:sqs:{support.REGION}:{support.ACCOUNT}:{dlq}"})
    wait_until(lambda: lam.get_function_configuration(FunctionName=name)
               .get("LastUpdateStatus", "Successful") == "Successful", 30)
    dead = lam.invoke(FunctionName=name, InvocationType="Event",
                      Payload=json.dumps({"say": "dead", "fail": True}))
    dead_id = dead["ResponseMetadata"]["RequestId"]
    letter = page.wait_for_selector(f"[data-queue='{dlq}'] tr[data-request-id='{dead_id}']")
    text = letter.inner_text()
    assert "dead letter" in text and "failing on purpose: dead" in text, text
    assert '"say": "dead"' in text or '"say":"dead"' in text, text

    # The function's own page shows the policy and the dead-letter queue.
    page.goto(dashboard(srv, f"functions/{name}"))
    page.wait_for_selector(f"tr[data-request-id='{dead_id}']:has-text('failed')")
    settings = page.inner_text(".async-settings")
    assert dlq in settings and "0" in settings.split(), settings


# ---------------------------------------------------------------- other views


def test_schedules_buckets_and_workflows_pages(server, open_page):
    name = make_app(server, "dash-views")
    schedule = support.unique_name("dash-rule")
    bucket = support.unique_name("dash-bucket").lower()
    machine = support.unique_name("dash-flow")
    s3 = boto3.client("s3", endpoint_url=server.url, region_name=support.REGION,
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "path"}))
    sfn = boto3.client("stepfunctions", endpoint_url=server.url, region_name=support.REGION,
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(inject_host_prefix=False))
    try:
        made = requests.post(server.url + "/gust/v1/schedules", timeout=30, json={
            "name": schedule, "function": name, "expression": "rate(1 hour)",
            "description": "hourly, from the dashboard test"})
        assert made.status_code == 201, made.text
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="reports/today.txt", Body=b"hello")
        arn = sfn.create_state_machine(name=machine, roleArn=ROLE, definition=json.dumps({
            "StartAt": "Greet",
            "States": {
                "Greet": {"Type": "Task", "Resource": support.function_arn(name), "Next": "Done"},
                "Done": {"Type": "Succeed"},
            }}))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="first-run",
                                        input=json.dumps({"say": "from a workflow"}))
        wait_until(lambda: sfn.describe_execution(executionArn=execution["executionArn"])
                   ["status"] == "SUCCEEDED", 60, message="the execution to succeed")

        page = open_page(dashboard(server, "schedules"))
        row = page.wait_for_selector(f"tr[data-schedule='{schedule}']")
        assert "rate(1 hour)" in row.inner_text() and name in row.inner_text()

        page.click("nav a[data-path=buckets]")
        page.click(f"tr[data-bucket='{bucket}'] a")
        page.wait_for_selector("tr[data-key='reports/today.txt']")
        assert "5" in page.inner_text("tr[data-key='reports/today.txt']").split()

        page.click("nav a[data-path=workflows]")
        run = page.wait_for_selector("tr[data-execution='first-run']")
        assert "SUCCEEDED" in run.inner_text()
        graph = page.wait_for_selector("img.graph")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=graph)
    finally:
        requests.delete(f"{server.url}/gust/v1/schedules/{schedule}", timeout=30)
        server.delete_quietly(name)


# ---------------------------------------------------------------- access keys


KEY_ID, SECRET = "AKIDDASHBOARD", "dashboard-secret"


def test_with_an_access_key_the_dashboard_asks_for_an_operator_key(start_server, open_page):
    srv = start_server("--access-key", f"{KEY_ID}:{SECRET}")
    lam = boto3.client("lambda", endpoint_url=srv.url, region_name=support.REGION,
                       aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                       config=Config(retries={"max_attempts": 0}))
    name = support.unique_name("dash-auth")
    lam.create_function(FunctionName=name, Runtime=support.PYTHON, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": support.make_zip({"app.py": APP})},
                        Environment={"Variables": {"GUST_TEST_SERVER": srv.marker}})

    basic = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
    wrong = base64.b64encode(f"{KEY_ID}:not-the-secret".encode()).decode()
    for headers in [{}, {"Authorization": f"Basic {wrong}"}]:
        refused = requests.get(srv.url + "/gust/dashboard", headers=headers, timeout=30)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Basic "), refused.headers
    # The page's data requests too, but an API client's unsigned read is the API's 403.
    assert requests.get(srv.url + "/gust/v1/overview", headers={"x-gust-dashboard": "1"},
                        timeout=30).status_code == 401
    assert requests.get(srv.url + "/gust/v1/overview", timeout=30).status_code == 403
    # Basic credentials open the dashboard's reads, nothing else.
    ok = {"Authorization": f"Basic {basic}"}
    assert requests.get(srv.url + "/gust/dashboard", headers=ok, timeout=30).status_code == 200
    invoked = requests.post(f"{srv.url}/2015-03-31/functions/{name}/invocations",
                            headers=ok, data=b"{}", timeout=30)
    assert invoked.status_code == 403, invoked.text

    # A browser without credentials is refused the page (Playwright's Chromium
    # turns the unanswered challenge into a navigation error); with wrong ones it
    # gets the 401 and no data.
    from playwright.sync_api import Error as BrowserError
    with pytest.raises(BrowserError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        open_page(dashboard(srv))
    page = open_page(dashboard(srv), http_credentials={"username": KEY_ID,
                                                       "password": "not-the-secret"})
    assert "needs an operator key" in page.inner_text("body")
    assert page.locator("#view").count() == 0

    # With them, the browser answers the challenges and the dashboard works.
    page = open_page(dashboard(srv), http_credentials={"username": KEY_ID, "password": SECRET})
    page.wait_for_selector(f"tr[data-function='{name}'][data-invocations='0']")
    lam.invoke(FunctionName=name, Payload=b'{"say": "signed"}')
    page.wait_for_selector(f"tr[data-function='{name}'][data-invocations='1']")
    page.goto(dashboard(srv, f"functions/{name}"))
    page.wait_for_selector(f"pre[data-logs='{name}'] div:has-text('dashboard-probe says signed')")
