"""Workflows: gust's Step Functions API (awsJson1_0, `AWSStepFunctions.<Operation>` on
the Lambda endpoint), driven with boto3's "stepfunctions" client and the AWS CLI,
unmodified, and checked against what AWS documents:

- state machines: create, describe (the definition byte for byte), list, update,
  delete, validate, tags;
- executions: start (Standard and Express, asynchronous and synchronous), describe,
  list, stop, redrive, the history (event types, ids, `...EventDetails` members,
  paging, reverse order) and DescribeStateMachineForExecution;
- the States Language: Task (a function ARN, `lambda:invoke`,
  `lambda:invoke.waitForTaskToken`, `aws-sdk:s3`), Retry and Catch, TimeoutSeconds,
  Pass, Choice, Parallel, Map, Wait, Succeed, Fail, the input and output fields,
  intrinsic functions and JSONata;
- durability: an execution in a Wait or in the middle of a Map survives `kill -9`;
- monitoring: the `gust:monitor` tag sends "Step Functions Execution Status Change"
  events to a function through the asynchronous path.

The core test is the seed's booking chain: confirm an order read from a bucket, take
the payment (which fails in three ways), and on failure record the state with a
recovery function that writes to a second bucket.

Functions that call gust's S3 with boto3 need the runtimes' SDKs (`GUST_SDK_DIR`,
which ./scripts/test sets); the tests that use them are skipped without it."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import support
from conftest import _still_running
from support import wait_until

REGION = support.REGION
ACCOUNT = support.ACCOUNT
ROLE = f"arn:aws:iam::{ACCOUNT}:role/StepFunctions-role"
WAIT = 60

needs_sdk = pytest.mark.skipif(
    not os.environ.get("GUST_SDK_DIR"),
    reason="the runtimes' AWS SDKs are not installed (scripts/test installs them with "
           "`gust sdk install` and sets GUST_SDK_DIR)")


# ---------------------------------------------------------------- functions

# The seed's booking chain.
CONFIRM_ORDER = r'''
import json
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    order = json.loads(s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read())
    return {"order_id": order["order_id"], "amount": order["amount"],
            "fail": order.get("fail"), "confirmed": True}
'''

PAYMENT = r'''
import boto3

s3 = boto3.client("s3")


class PaymentDeclined(Exception):
    pass


def handler(event, context):
    order = event["order"]
    if order["fail"] == "execution":
        raise PaymentDeclined(f"card declined for order {order['order_id']}")
    if order["fail"] == "resource":
        # The card on file is an object that does not exist: botocore's NoSuchKey.
        s3.get_object(Bucket=event["bucket"], Key=f"cards/{order['order_id']}.json")
    return {"paid": order["amount"], "order_id": order["order_id"]}
'''

RECOVERY = r'''
import json
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    record = {"order_id": event["order"]["order_id"], "error": event["error"]["Error"],
              "cause": event["error"]["Cause"]}
    s3.put_object(Bucket=event["state_bucket"], Key=f"failed/{record['order_id']}.json",
                  Body=json.dumps(record).encode())
    return {"recovered": record["order_id"], "error": record["error"]}
'''

# Fails (with a custom exception) while the attempt number is below `succeed_on`.
FLAKY = r'''
import time

class Flaky(Exception):
    pass


def handler(event, context):
    if event["attempt"] < event["succeed_on"]:
        raise Flaky(f"attempt {event['attempt']} failed")
    time.sleep(event.get("sleep", 0))
    return {"attempt": event["attempt"]}
'''

# A Map iteration's work.
SQUARE = r'''
import time

def handler(event, context):
    time.sleep(0.2)
    return {"index": event["index"], "square": event["value"] * event["value"]}
'''

ECHO = r'''
def handler(event, context):
    return {"echo": event}
'''

# Receives a task token and prints it for the test to read from the logs.
TOKEN_HOLDER = r'''
import json

def handler(event, context):
    print("TASKTOKEN " + json.dumps(event), flush=True)
    return {"holding": event["label"]}
'''

# Prints every status change it receives.
MONITOR = r'''
import json

def handler(event, context):
    print("SFNEVENT " + json.dumps(event, sort_keys=True), flush=True)
'''

# Payment for the redrive: if the input says so, declines while a flag object exists.
FLAGGED_PAYMENT = r'''
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")


class PaymentDeclined(Exception):
    pass


def handler(event, context):
    if not event.get("fail_while_flag"):
        return {"paid": True}
    try:
        s3.head_object(Bucket=event["bucket"], Key=event["flag"])
    except ClientError:
        return {"paid": True}
    raise PaymentDeclined("the payment provider is down")
'''


# ---------------------------------------------------------------- helpers


def sfn_client(srv):
    """A boto3 Step Functions client. StartSyncExecution's endpoint has a `sync-`
    host prefix on AWS: without prefix injection it goes to gust's endpoint as is."""
    return boto3.client(
        "stepfunctions", endpoint_url=srv.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120, connect_timeout=10,
                      inject_host_prefix=False))


def s3_client(srv):
    return boto3.client(
        "s3", endpoint_url=srv.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}))


def error_of(error: ClientError) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a Step Functions error as botocore parsed it.

    awsJson1_0 errors are `{"__type": CODE, "message": ...}`; botocore falls back to
    the HTTP status as the code when the body has no `__type`."""
    code, status, message = support.client_error(error)
    assert code != str(status), (
        f"gust bug: the Step Functions error reached botocore without an error code "
        f"(botocore's Code is the HTTP status {status}). gust's aws_shaped_rejections "
        f"middleware re-wraps the awsJson1_0 error body in Lambda's error shape "
        f"({{\"Type\":\"User\",\"message\":...}}, x-amzn-ErrorType "
        f"InvalidParameterValueException) because the Step Functions response has no "
        f"x-amzn-ErrorType header; AWS answers {{\"__type\": CODE, \"message\": ...}}. "
        f"Error message botocore got: {message}")
    return code, status, message


def refused(call: Callable, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return error_of(e.value)


def arn_of(name: str) -> str:
    return support.function_arn(name)


def machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def definition_text(definition: dict | str) -> str:
    return definition if isinstance(definition, str) else json.dumps(definition, indent=2)


def create_machine(sfn, definition: dict | str, *, prefix: str = "sm", kind: str = "STANDARD",
                   tags: dict[str, str] | None = None) -> str:
    params: dict[str, Any] = dict(name=support.unique_name(prefix),
                                  definition=definition_text(definition), roleArn=ROLE,
                                  type=kind)
    if tags:
        params["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return sfn.create_state_machine(**params)["stateMachineArn"]


def start(sfn, machine: str, payload: Any = None, **kwargs) -> str:
    return sfn.start_execution(stateMachineArn=machine,
                               input=json.dumps(payload if payload is not None else {}),
                               **kwargs)["executionArn"]


def finished(sfn, execution: str, timeout: float = WAIT) -> dict[str, Any]:
    """DescribeExecution once the execution is no longer RUNNING."""
    def done():
        d = sfn.describe_execution(executionArn=execution)
        return d if d["status"] != "RUNNING" else None

    return wait_until(done, timeout, interval=0.2, message=f"{execution} to finish")


def succeeded(sfn, execution: str, timeout: float = WAIT) -> Any:
    """The output of an execution that must succeed."""
    d = finished(sfn, execution, timeout)
    assert d["status"] == "SUCCEEDED", (
        f"{execution} ended {d['status']}: {d.get('error')}: {d.get('cause')}\n"
        + "\n".join(describe_events(history(sfn, execution))))
    return json.loads(d["output"])


def run(sfn, machine: str, payload: Any = None, timeout: float = WAIT, **kwargs) -> dict:
    return finished(sfn, start(sfn, machine, payload, **kwargs), timeout)


def history(sfn, execution: str, **params) -> list[dict[str, Any]]:
    """Every event of an execution, following nextToken."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=execution, maxResults=1000,
                                         **({"nextToken": token} if token else {}), **params)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def all_machines(sfn) -> list[dict[str, Any]]:
    """ListStateMachines, every page."""
    machines: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = sfn.list_state_machines(**kwargs)
        machines.extend(page["stateMachines"])
        if not page.get("nextToken"):
            return machines
        kwargs = {"nextToken": page["nextToken"]}


def types(events: Iterable[dict]) -> list[str]:
    return [e["type"] for e in events]


def details(event: dict) -> dict:
    """An event's `...EventDetails` member (there is at most one)."""
    found = {k: v for k, v in event.items() if k.endswith("EventDetails")}
    assert len(found) <= 1, event
    return next(iter(found.values()), {})


def entered(events: Iterable[dict]) -> list[str]:
    """The names of the states entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events
            if e["type"].endswith("StateEntered")]


def of_type(events: Iterable[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def describe_events(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        d = details(e)
        brief = d.get("name") or d.get("error") or d.get("resource") or ""
        out.append(f"{e['id']:>3} {e['type']} {brief}")
    return out


def check_ids(events: list[dict]) -> None:
    """AWS: "Events are numbered sequentially, starting at one", with timestamps."""
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), describe_events(events)
    assert all(isinstance(e["timestamp"], datetime.datetime) for e in events)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), "timestamps never go back"
    assert events[0]["previousEventId"] == 0
    for e in events[1:]:
        assert 0 < e["previousEventId"] < e["id"], e


def logged(srv, function: str, prefix: str) -> list[Any]:
    """The JSON documents a function printed after `prefix`, oldest first."""
    out = []
    for e in srv.logs(function, limit=1000)["events"]:
        message = e["message"]
        if message.startswith(prefix):
            out.append(json.loads(message[len(prefix):]))
    return out


def new_bucket(s3, prefix: str) -> str:
    name = support.unique_name(prefix).lower()[:50]
    s3.create_bucket(Bucket=name)
    return name


def kill_9(srv) -> None:
    """kill -9 the server, then reap it and the instances it leaves behind."""
    leftovers = srv.instance_processes()
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.stop(check=False)
    for pid in _still_running(leftovers):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sfn(server):
    return sfn_client(server)


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture(scope="module")
def functions(server):
    """Creates functions on the shared server for the whole module:
    functions(code, prefix) -> name (one function per code)."""
    made: dict[str, str] = {}

    def make(code: str, prefix: str, **kwargs) -> str:
        if code not in made:
            name = support.unique_name(prefix)
            server.create_function(name, support.make_zip({"app.py": code}), Timeout=30,
                                   MemorySize=256, **kwargs)
            made[code] = name
        return made[code]

    yield make
    for name in made.values():
        if server.proc is not None and server.proc.poll() is None:
            server.delete_quietly(name)


# ================================================================ the booking chain


def booking_definition(confirm: str, recovery: str) -> dict:
    return {
        "Comment": "confirm the order, take the payment, and record a failure",
        "StartAt": "ConfirmOrder",
        "States": {
            "ConfirmOrder": {"Type": "Task", "Resource": arn_of(confirm),
                             "ResultPath": "$.order", "Next": "Payment"},
            "Payment": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName.$": "$.payment_function", "Payload.$": "$"},
                "ResultSelector": {"receipt.$": "$.Payload", "status.$": "$.StatusCode"},
                "ResultPath": "$.payment",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                           "Next": "Recovery"}],
                "Next": "Booked",
            },
            "Booked": {"Type": "Succeed"},
            "Recovery": {"Type": "Task", "Resource": arn_of(recovery), "Next": "Recovered"},
            "Recovered": {"Type": "Succeed"},
        },
    }


@pytest.fixture(scope="module")
def booking(sfn, s3, functions):
    app_store = new_bucket(s3, "app-store")
    state_storage = new_bucket(s3, "state-storage")
    confirm = functions(CONFIRM_ORDER, "confirm-order")
    payment = functions(PAYMENT, "payment")
    recovery = functions(RECOVERY, "recovery")
    machine = create_machine(sfn, booking_definition(confirm, recovery), prefix="booking")
    return dict(app_store=app_store, state_storage=state_storage, confirm=confirm,
                payment=payment, recovery=recovery, machine=machine)


def book(sfn, s3, booking, fail: str | None) -> tuple[str, str, str]:
    """Puts an order as an object and starts the booking for it; returns the
    execution, the order id and the payment function the Task names."""
    order_id = support.unique_name(f"order-{fail or 'ok'}")
    key = f"orders/{order_id}.json"
    s3.put_object(Bucket=booking["app_store"], Key=key,
                  Body=json.dumps({"order_id": order_id, "amount": 42, "fail": fail}).encode())
    payment = booking["payment"]
    if fail == "invocation":
        payment = support.unique_name("no-such-payment")
    execution = start(sfn, booking["machine"], {
        "bucket": booking["app_store"], "key": key, "payment_function": payment,
        "state_bucket": booking["state_storage"]})
    return execution, order_id, payment


LAMBDA_TASK = ["LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]


@needs_sdk
def test_booking_happy_path_pays_and_never_recovers(sfn, s3, booking):
    execution, order_id, _ = book(sfn, s3, booking, None)
    output = succeeded(sfn, execution)
    assert output["order"] == {"order_id": order_id, "amount": 42, "fail": None,
                               "confirmed": True}
    assert output["payment"] == {"receipt": {"paid": 42, "order_id": order_id}, "status": 200}
    assert "error" not in output

    events = history(sfn, execution)
    check_ids(events)
    assert types(events) == [
        "ExecutionStarted",
        "TaskStateEntered", *LAMBDA_TASK, "TaskStateExited",
        "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
        "SucceedStateEntered", "SucceedStateExited",
        "ExecutionSucceeded",
    ], describe_events(events)
    assert entered(events) == ["ConfirmOrder", "Payment", "Booked"]
    # The lambda:invoke result as AWS returns it, before the ResultSelector.
    (task_ok,) = of_type(events, "TaskSucceeded")
    raw = json.loads(task_ok["taskSucceededEventDetails"]["output"])
    assert raw["Payload"] == {"paid": 42, "order_id": order_id}
    assert raw["StatusCode"] == 200
    assert raw["ExecutedVersion"] == "$LATEST"
    assert raw["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert raw["SdkResponseMetadata"]["RequestId"]
    assert task_ok["taskSucceededEventDetails"]["resourceType"] == "lambda"
    assert task_ok["taskSucceededEventDetails"]["resource"] == "invoke"
    (scheduled,) = of_type(events, "TaskScheduled")
    sd = scheduled["taskScheduledEventDetails"]
    assert (sd["resourceType"], sd["resource"], sd["region"]) == ("lambda", "invoke", REGION)
    assert json.loads(sd["parameters"])["FunctionName"] == booking["payment"]
    (fn_scheduled,) = of_type(events, "LambdaFunctionScheduled")
    assert fn_scheduled["lambdaFunctionScheduledEventDetails"]["resource"] == \
        arn_of(booking["confirm"])
    started = events[0]["executionStartedEventDetails"]
    assert json.loads(started["input"])["key"] == f"orders/{order_id}.json"
    assert started["roleArn"] == ROLE
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == output
    # Recovery never ran: nothing in the state storage.
    listed = s3.list_objects_v2(Bucket=booking["state_storage"], Prefix=f"failed/{order_id}")
    assert listed["KeyCount"] == 0


@needs_sdk
@pytest.mark.parametrize("fail", ["execution", "invocation", "resource"])
def test_booking_failure_is_caught_and_recorded_by_recovery(sfn, s3, booking, fail):
    execution, order_id, payment = book(sfn, s3, booking, fail)
    output = succeeded(sfn, execution)
    expected_error = {"execution": "PaymentDeclined",
                      "invocation": "Lambda.ResourceNotFoundException",
                      "resource": "NoSuchKey"}[fail]
    assert output == {"recovered": order_id, "error": expected_error}

    # What the recovery function stored, with boto3, in the state storage.
    stored = json.loads(s3.get_object(Bucket=booking["state_storage"],
                                      Key=f"failed/{order_id}.json")["Body"].read())
    assert stored["order_id"] == order_id
    assert stored["error"] == expected_error
    if fail == "invocation":
        assert payment in stored["cause"], stored
    else:
        # A function error: the error is its errorType, the cause its error JSON.
        cause = json.loads(stored["cause"])
        assert cause["errorType"] == expected_error, cause
        if fail == "execution":
            assert cause["errorMessage"] == f"card declined for order {order_id}"
        else:
            assert "NoSuchKey" in cause["errorMessage"], cause
            assert "GetObject" in cause["errorMessage"], cause

    events = history(sfn, execution)
    check_ids(events)
    assert types(events) == [
        "ExecutionStarted",
        "TaskStateEntered", *LAMBDA_TASK, "TaskStateExited",
        "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited",
        "TaskStateEntered", *LAMBDA_TASK, "TaskStateExited",
        "SucceedStateEntered", "SucceedStateExited",
        "ExecutionSucceeded",
    ], describe_events(events)
    assert entered(events) == ["ConfirmOrder", "Payment", "Recovery", "Recovered"]
    exited = [e["stateExitedEventDetails"]["name"] for e in of_type(events, "TaskStateExited")]
    assert exited == ["ConfirmOrder", "Payment", "Recovery"]
    (task_failed,) = of_type(events, "TaskFailed")
    fd = task_failed["taskFailedEventDetails"]
    assert (fd["error"], fd["resourceType"], fd["resource"]) == \
        (expected_error, "lambda", "invoke")
    assert fd["cause"] == stored["cause"]
    # The Catch put the error output at its ResultPath: the Recovery's input.
    recovery_in = json.loads(entered_details(events, "Recovery")["input"])
    assert recovery_in["error"] == {"Error": expected_error, "Cause": stored["cause"]}
    assert recovery_in["order"]["order_id"] == order_id
    assert "payment" not in recovery_in


def entered_details(events: list[dict], state: str) -> dict:
    (e,) = [e for e in events if e["type"].endswith("StateEntered")
            and e["stateEnteredEventDetails"]["name"] == state]
    return e["stateEnteredEventDetails"]


# ================================================================ kill -9


def test_kill_9_during_a_wait_resumes_and_succeeds(start_server):
    srv = start_server()
    sfn = sfn_client(srv)
    machine = create_machine(sfn, {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": "before", "ResultPath": "$.before",
                       "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 2, "Next": "After"},
            "After": {"Type": "Pass", "Result": "after", "ResultPath": "$.after", "End": True},
        },
    }, prefix="crash-wait")
    execution = start(sfn, machine, {"order": 7})
    wait_until(lambda: "WaitStateEntered" in types(history(sfn, execution)), 20,
               interval=0.05, message="the Wait state to be entered")
    kill_9(srv)

    again = start_server(data_dir=srv.data_dir)
    sfn = sfn_client(again)
    assert succeeded(sfn, execution, 30) == {"order": 7, "before": "before", "after": "after"}
    events = history(sfn, execution)
    check_ids(events)
    assert types(events) == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
        "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
    ], describe_events(events)
    assert entered(events) == ["Before", "Pause", "After"]
    waited = (of_type(events, "WaitStateExited")[0]["timestamp"]
              - of_type(events, "WaitStateEntered")[0]["timestamp"]).total_seconds()
    assert waited >= 1.9, f"the Wait lasted {waited:.2f} s across the restart, not 2 s"


def test_kill_9_during_a_map_resumes_every_iteration(start_server):
    srv = start_server("--memory", "4096")
    name = support.unique_name("square")
    srv.create_function(name, support.make_zip({"app.py": SQUARE}), Timeout=30)
    sfn = sfn_client(srv)
    machine = create_machine(sfn, {
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 5,
            "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Work",
                "States": {"Work": {"Type": "Task", "Resource": arn_of(name), "End": True}},
            },
            "End": True,
        }},
    }, prefix="crash-map")
    execution = start(sfn, machine, {"items": list(range(50))})

    def some_done():
        events = history(sfn, execution)
        assert events[-1]["type"] not in ("ExecutionFailed", "ExecutionTimedOut",
                                          "ExecutionAborted"), describe_events(events)
        n = len(of_type(events, "MapIterationSucceeded"))
        return n if n >= 3 else None

    done_before = wait_until(some_done, 60, interval=0.05,
                             message="a few Map iterations to succeed")
    kill_9(srv)
    assert done_before < 50, "the Map finished before the kill: nothing was tested"

    again = start_server("--memory", "4096", data_dir=srv.data_dir)
    sfn = sfn_client(again)
    output = succeeded(sfn, execution, 90)
    assert output == [{"index": i, "square": i * i} for i in range(50)]
    events = history(sfn, execution)
    check_ids(events)
    done = {e["mapIterationSucceededEventDetails"]["index"]
            for e in of_type(events, "MapIterationSucceeded")}
    assert done == set(range(50)), f"iterations never succeeded: {set(range(50)) - done}"
    assert all(e["mapIterationSucceededEventDetails"]["name"] == "Each"
               for e in of_type(events, "MapIterationSucceeded"))
    assert of_type(events, "MapStateStarted")[0]["mapStateStartedEventDetails"] == {"length": 50}
    assert types(events)[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert len(of_type(events, "MapStateEntered")) == 1
    assert len(of_type(events, "ExecutionSucceeded")) == 1


# ================================================================ Retry and Catch


def test_retry_then_succeed_and_retries_exhausted_then_catch(sfn, functions):
    flaky = functions(FLAKY, "flaky")
    retried = create_machine(sfn, {
        "StartAt": "Charge",
        "States": {"Charge": {
            "Type": "Task", "Resource": arn_of(flaky),
            "Parameters": {"attempt.$": "$$.State.RetryCount", "succeed_on": 2},
            "Retry": [{"ErrorEquals": ["SomethingElse"], "MaxAttempts": 5},
                      {"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3,
                       "BackoffRate": 1.0}],
            "End": True,
        }},
    }, prefix="retry")
    exhausted = create_machine(sfn, {
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task", "Resource": arn_of(flaky),
                "Parameters": {"attempt.$": "$$.State.RetryCount", "succeed_on": 99},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1,
                           "MaxAttempts": 2, "BackoffRate": 1.0}],
                "Catch": [{"ErrorEquals": ["Flaky"], "ResultPath": "$.error",
                           "Next": "GaveUp"}],
                "Next": "Charged",
            },
            "Charged": {"Type": "Succeed"},
            "GaveUp": {"Type": "Pass", "End": True},
        },
    }, prefix="retry-exhausted")
    # States.TaskFailed matches every error but States.Timeout (AWS: "Error names").
    timeout = create_machine(sfn, {
        "StartAt": "Slow",
        "States": {
            "Slow": {
                "Type": "Task", "Resource": arn_of(flaky), "TimeoutSeconds": 1,
                "Parameters": {"attempt": 0, "succeed_on": 0, "sleep": 3},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                          {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout",
                           "Next": "TimedOut"}],
                "End": True,
            },
            "Wrong": {"Type": "Fail", "Error": "CaughtByTaskFailed"},
            "TimedOut": {"Type": "Pass", "End": True},
        },
    }, prefix="task-timeout")
    runs = [start(sfn, m, {"order": "o-1"}) for m in (retried, exhausted, timeout)]

    # Two failures, then a success on the third attempt (RetryCount 2).
    assert succeeded(sfn, runs[0]) == {"attempt": 2}
    events = history(sfn, runs[0])
    check_ids(events)
    assert types(events) == [
        "ExecutionStarted", "TaskStateEntered",
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
        "TaskStateExited", "ExecutionSucceeded",
    ], describe_events(events)
    failures = of_type(events, "LambdaFunctionFailed")
    assert [f["lambdaFunctionFailedEventDetails"]["error"] for f in failures] == ["Flaky"] * 2
    assert [json.loads(f["lambdaFunctionFailedEventDetails"]["cause"])["errorMessage"]
            for f in failures] == ["attempt 0 failed", "attempt 1 failed"]
    inputs = [json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
              for e in of_type(events, "LambdaFunctionScheduled")]
    assert [i["attempt"] for i in inputs] == [0, 1, 2]
    gap = (of_type(events, "LambdaFunctionScheduled")[1]["timestamp"]
           - failures[0]["timestamp"]).total_seconds()
    assert gap >= 0.9, f"IntervalSeconds 1, but the retry came after {gap:.2f} s"

    # MaxAttempts 2: three attempts, then the Catch.
    output = succeeded(sfn, runs[1])
    assert output["order"] == "o-1"
    assert output["error"]["Error"] == "Flaky"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "attempt 2 failed"
    events = history(sfn, runs[1])
    assert len(of_type(events, "LambdaFunctionFailed")) == 3, describe_events(events)
    assert entered(events) == ["Charge", "GaveUp"]

    # TimeoutSeconds: States.Timeout, which States.TaskFailed does not catch.
    output = succeeded(sfn, runs[2])
    assert output["timeout"]["Error"] == "States.Timeout", output
    events = history(sfn, runs[2])
    assert entered(events) == ["Slow", "TimedOut"], describe_events(events)
    (timed_out,) = of_type(events, "LambdaFunctionTimedOut")
    assert timed_out["lambdaFunctionTimedOutEventDetails"]["error"] == "States.Timeout"


def test_an_uncaught_task_failure_fails_the_execution(sfn, functions):
    flaky = functions(FLAKY, "flaky")
    machine = create_machine(sfn, {
        "StartAt": "Charge",
        "States": {"Charge": {"Type": "Task", "Resource": arn_of(flaky),
                              "Parameters": {"attempt": 0, "succeed_on": 1}, "End": True}},
    }, prefix="uncaught")
    d = run(sfn, machine)
    assert d["status"] == "FAILED"
    assert d["error"] == "Flaky"
    assert json.loads(d["cause"])["errorMessage"] == "attempt 0 failed"
    assert "output" not in d
    events = history(sfn, d["executionArn"])
    assert types(events)[-2:] == ["LambdaFunctionFailed", "ExecutionFailed"], \
        describe_events(events)
    assert events[-1]["executionFailedEventDetails"]["error"] == "Flaky"
    assert events[-1]["executionFailedEventDetails"]["cause"] == d["cause"]


# ================================================================ the States Language


def test_resultpath_examples_of_the_developer_guide(sfn):
    # "Specifying state output using ResultPath": the same input and result with
    # ResultPath "$", null and "$.taskresult".
    doc_input = {"comment": "This is a test", "details": "Default example",
                 "who": "Step Functions"}

    def branch(result_path, name):
        # State names are unique in the whole machine, branches included.
        state = {"Type": "Pass", "Result": "Hello, Step Functions!", "End": True}
        if result_path != "absent":
            state["ResultPath"] = result_path
        return {"StartAt": name, "States": {name: state}}

    machine = create_machine(sfn, {
        "StartAt": "All",
        "States": {"All": {"Type": "Parallel", "End": True, "Branches": [
            branch("absent", "Absent"), branch("$", "Dollar"), branch(None, "Null"),
        branch("$.taskresult", "TaskResult")]}},
    }, prefix="resultpath")
    assert succeeded(sfn, start(sfn, machine, doc_input)) == [
        "Hello, Step Functions!",
        "Hello, Step Functions!",
        doc_input,
        {**doc_input, "taskresult": "Hello, Step Functions!"},
    ]


def test_pass_choice_parallel_map_wait_succeed_with_paths_and_intrinsics(sfn):
    machine = create_machine(sfn, {
        "StartAt": "Add",
        "States": {
            # The States Language's InputPath / ResultPath example: numbers to add.
            "Add": {"Type": "Pass", "InputPath": "$.numbers",
                    "Parameters": {
                        "total.$": "States.MathAdd($.val1, $.val2)",
                        "greeting.$": "States.Format('Hello, my name is {}.', "
                                      "$$.Execution.Input.name)"},
                    "ResultPath": "$.sum", "Next": "Classify"},
            "Classify": {"Type": "Choice",
                         "Choices": [{"Variable": "$.sum.total", "NumericGreaterThan": 5,
                                      "Next": "Fanout"}],
                         "Default": "TooSmall"},
            "TooSmall": {"Type": "Fail", "Error": "TooSmall"},
            "Fanout": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Title", "States": {"Title": {
                        "Type": "Pass", "Parameters": {"title.$": "$.title"}, "End": True}}},
                    {"StartAt": "Arr", "States": {"Arr": {
                        "Type": "Pass",
                        "Parameters": {"arr.$": "States.Array('Foo', 2020, $.numbers, null)"},
                        "End": True}}},
                ],
                "ResultSelector": {"title.$": "$[0].title", "array.$": "$[1].arr"},
                "ResultPath": "$.parallel",
                "Next": "Each",
            },
            "Each": {
                "Type": "Map", "ItemsPath": "$.items",
                "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Double",
                    "States": {"Double": {
                        "Type": "Pass",
                        "Parameters": {"doubled.$": "States.MathAdd($.value, $.value)",
                                       "index.$": "$.index"},
                        "End": True}},
                },
                "ResultPath": "$.doubled",
                "Next": "Pause",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Collect"},
            "Collect": {"Type": "Pass",
                        "Parameters": {"parsed.$": "States.StringToJson($.json)",
                                       "total.$": "$.sum.total", "greeting.$": "$.sum.greeting",
                                       "parallel.$": "$.parallel", "doubled.$": "$.doubled"},
                        "ResultPath": "$.result", "OutputPath": "$.result", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }, prefix="dataflow")
    execution = start(sfn, machine, {
        "title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "name": "Arnav",
        "items": [1, 2, 3], "json": "{\"number\": 20}"})
    assert succeeded(sfn, execution) == {
        "parsed": {"number": 20},
        "total": 7,
        "greeting": "Hello, my name is Arnav.",
        "parallel": {"title": "Numbers to add",
                     "array": ["Foo", 2020, {"val1": 3, "val2": 4}, None]},
        "doubled": [{"doubled": 2, "index": 0}, {"doubled": 4, "index": 1},
                    {"doubled": 6, "index": 2}],
    }
    events = history(sfn, execution)
    check_ids(events)
    top = ["Add", "Classify", "Fanout", "Each", "Pause", "Collect", "Done"]
    assert [n for n in entered(events) if n in top] == top
    assert entered(events).count("Double") == 3
    counts = {t: types(events).count(t) for t in set(types(events))}
    assert counts == {
        "ExecutionStarted": 1, "ExecutionSucceeded": 1,
        "PassStateEntered": 1 + 2 + 3 + 1, "PassStateExited": 1 + 2 + 3 + 1,
        "ChoiceStateEntered": 1, "ChoiceStateExited": 1,
        "ParallelStateEntered": 1, "ParallelStateStarted": 1, "ParallelStateSucceeded": 1,
        "ParallelStateExited": 1,
        "MapStateEntered": 1, "MapStateStarted": 1, "MapIterationStarted": 3,
        "MapIterationSucceeded": 3, "MapStateSucceeded": 1, "MapStateExited": 1,
        "WaitStateEntered": 1, "WaitStateExited": 1,
        "SucceedStateEntered": 1, "SucceedStateExited": 1,
    }, describe_events(events)
    order = types(events)
    assert order.index("ParallelStateStarted") < order.index("ParallelStateSucceeded") \
        < order.index("ParallelStateExited") < order.index("MapStateEntered")
    assert order.index("MapStateStarted") < order.index("MapIterationStarted")
    assert of_type(events, "MapStateStarted")[0]["mapStateStartedEventDetails"] == {"length": 3}
    assert sorted(e["mapIterationStartedEventDetails"]["index"]
                  for e in of_type(events, "MapIterationStarted")) == [0, 1, 2]
    # Entered and exited events carry the state's input and output as JSON text.
    add_out = json.loads([e for e in of_type(events, "PassStateExited")
                          if e["stateExitedEventDetails"]["name"] == "Add"][0]
                         ["stateExitedEventDetails"]["output"])
    assert add_out["sum"] == {"total": 7, "greeting": "Hello, my name is Arnav."}
    wait_in = of_type(events, "WaitStateEntered")[0]["timestamp"]
    wait_out = of_type(events, "WaitStateExited")[0]["timestamp"]
    assert (wait_out - wait_in).total_seconds() >= 0.9


def test_intrinsic_functions_examples(sfn):
    # The developer guide's examples of the intrinsic functions.
    machine = create_machine(sfn, {
        "StartAt": "Intrinsics",
        "States": {"Intrinsics": {"Type": "Pass", "End": True, "Parameters": {
            "format.$": "States.Format('Hello, my name is {}.', $.name)",
            "toJson.$": "States.StringToJson($.someString)",
            "toString.$": "States.JsonToString($.someJson)",
            "array.$": "States.Array('Foo', 2020, $.someJson, null)",
            "partition.$": "States.ArrayPartition($.inputArray, 4)",
            "contains.$": "States.ArrayContains($.inputArray, $.lookingFor)",
            "range.$": "States.ArrayRange(1, 9, 2)",
            "item.$": "States.ArrayGetItem($.inputArray, $.index)",
            "length.$": "States.ArrayLength($.inputArray)",
            "unique.$": "States.ArrayUnique($.duplicates)",
            "b64.$": "States.Base64Encode($.data)",
            "decoded.$": "States.Base64Decode($.base64)",
            "hash.$": "States.Hash($.Data, $.Algorithm)",
            "merged.$": "States.JsonMerge($.json1, $.json2, false)",
            "sum.$": "States.MathAdd($.value1, $.step)",
            "split.$": "States.StringSplit($.inputString, $.splitter)",
            "uuid.$": "States.UUID()",
        }}},
    }, prefix="intrinsics")
    out = succeeded(sfn, start(sfn, machine, {
        "name": "Arnav", "someString": "{\"number\": 20}",
        "someJson": {"name": "Foo", "year": 2020},
        "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "index": 5,
        "duplicates": [1, 2, 3, 3, 3, 3, 3, 3, 4],
        "data": "Data to encode", "base64": "RGF0YSB0byBlbmNvZGU=",
        "Data": "input data", "Algorithm": "SHA-1",
        "json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
        "value1": 111, "step": -1, "inputString": "1,2,3,4,5", "splitter": ",",
    }))
    uuid = out.pop("uuid")
    assert isinstance(uuid, str) and len(uuid) == 36 and uuid[14] == "4", uuid
    assert json.loads(out.pop("toString")) == {"name": "Foo", "year": 2020}
    assert out == {
        "format": "Hello, my name is Arnav.",
        "toJson": {"number": 20},
        "array": ["Foo", 2020, {"name": "Foo", "year": 2020}, None],
        "partition": [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
        "contains": True,
        "range": [1, 3, 5, 7, 9],
        "item": 6,
        "length": 9,
        "unique": [1, 2, 3, 4],
        "b64": "RGF0YSB0byBlbmNvZGU=",
        "decoded": "Data to encode",
        "hash": hashlib.sha1(b"input data").hexdigest(),
        "merged": {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3},
        "sum": 110,
        "split": ["1", "2", "3", "4", "5"],
    }


def test_fail_states_with_static_and_dynamic_error_and_cause(sfn):
    machine = create_machine(sfn, {
        "StartAt": "Which",
        "States": {
            "Which": {"Type": "Choice",
                      "Choices": [{"Variable": "$.static", "BooleanEquals": True,
                                   "Next": "Static"}],
                      "Default": "Dynamic"},
            "Static": {"Type": "Fail", "Error": "OrderRejected",
                       "Cause": "the order has no items"},
            "Dynamic": {"Type": "Fail", "ErrorPath": "$.code",
                        "CausePath": "States.Format('order {} has no items', $.id)"},
        },
    }, prefix="fail")
    static = run(sfn, machine, {"static": True})
    assert (static["status"], static["error"], static["cause"]) == \
        ("FAILED", "OrderRejected", "the order has no items")
    assert "output" not in static
    dynamic = run(sfn, machine, {"static": False, "code": "Rejected.Empty", "id": "o-9"})
    assert (dynamic["status"], dynamic["error"], dynamic["cause"]) == \
        ("FAILED", "Rejected.Empty", "order o-9 has no items")
    events = history(sfn, static["executionArn"])
    check_ids(events)
    # A Fail state has no exit event.
    assert types(events) == ["ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited",
                             "FailStateEntered", "ExecutionFailed"], describe_events(events)
    assert events[-1]["executionFailedEventDetails"] == {
        "error": "OrderRejected", "cause": "the order has no items"}


def test_jsonata_states(sfn):
    machine = create_machine(sfn, {
        "QueryLanguage": "JSONata",
        "StartAt": "Total",
        "States": {
            "Total": {"Type": "Pass",
                      "Assign": {"customer": "{% $states.input.customer %}"},
                      "Output": "{% {'total': $sum($states.input.prices), "
                                "'count': $count($states.input.prices)} %}",
                      "Next": "Check"},
            "Check": {"Type": "Choice",
                      "Choices": [{"Condition": "{% $states.input.total > 10 %}",
                                   "Next": "Big"}],
                      "Default": "Small"},
            "Big": {"Type": "Pass",
                    "Output": "{% {'customer': $customer, 'size': 'big', "
                              "'total': $states.input.total, 'count': $states.input.count} %}",
                    "End": True},
            "Small": {"Type": "Fail", "Error": "TooSmall",
                      "Cause": "{% 'total ' & $string($states.input.total) %}"},
        },
    }, prefix="jsonata")
    big = start(sfn, machine, {"customer": "ana", "prices": [5, 7.5]})
    small = start(sfn, machine, {"customer": "bo", "prices": [1, 2]})
    assert succeeded(sfn, big) == {"customer": "ana", "size": "big", "total": 12.5, "count": 2}
    d = finished(sfn, small)
    assert (d["status"], d["error"], d["cause"]) == ("FAILED", "TooSmall", "total 3")
    exited = of_type(history(sfn, big), "PassStateExited")[0]["stateExitedEventDetails"]
    assert json.loads(exited["assignedVariables"]["customer"]) == "ana", exited


@needs_sdk
def test_aws_sdk_s3_tasks_on_gusts_buckets(sfn, s3):
    bucket = new_bucket(s3, "sdk-tasks")
    machine = create_machine(sfn, {
        "StartAt": "Put",
        "States": {
            "Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                    "Parameters": {"Bucket.$": "$.bucket", "Key": "notes/hello.txt",
                                   "Body.$": "$.text"},
                    "ResultSelector": {"etag.$": "$.ETag"}, "ResultPath": "$.put",
                    "Next": "Get"},
            "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket.$": "$.bucket", "Key": "notes/hello.txt"},
                    "ResultSelector": {"body.$": "$.Body", "etag.$": "$.ETag"},
                    "ResultPath": "$.got", "Next": "Missing"},
            "Missing": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                        "Parameters": {"Bucket.$": "$.bucket", "Key": "notes/missing.txt"},
                        "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"],
                                   "ResultPath": "$.missing", "Next": "Done"}],
                        "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }, prefix="sdk-s3")
    text = "hello from a workflow"
    execution = start(sfn, machine, {"bucket": bucket, "text": text})
    output = succeeded(sfn, execution)
    etag = '"' + hashlib.md5(text.encode()).hexdigest() + '"'
    assert output["put"] == {"etag": etag}
    assert output["got"] == {"body": text, "etag": etag}
    assert output["missing"]["Error"] == "S3.NoSuchKeyException", output["missing"]
    assert s3.get_object(Bucket=bucket, Key="notes/hello.txt")["Body"].read() == text.encode()
    events = history(sfn, execution)
    scheduled = [e["taskScheduledEventDetails"] for e in of_type(events, "TaskScheduled")]
    assert [(s["resourceType"], s["resource"]) for s in scheduled] == [
        ("aws-sdk:s3", "putObject"), ("aws-sdk:s3", "getObject"), ("aws-sdk:s3", "getObject")]
    failed = of_type(events, "TaskFailed")[0]["taskFailedEventDetails"]
    assert failed["error"] == "S3.NoSuchKeyException"


def test_map_item_reader_reads_a_json_array_a_csv_and_a_listing_from_a_bucket(sfn, s3):
    bucket = new_bucket(s3, "items")
    s3.put_object(Bucket=bucket, Key="in/orders.json",
                  Body=json.dumps([{"id": 1}, {"id": 2}, {"id": 3}]).encode())
    s3.put_object(Bucket=bucket, Key="in/orders.csv", Body=b"id,item\n7,tea\n8,cake\n")

    def reader_machine(reader: dict) -> str:
        return create_machine(sfn, {"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemReader": reader,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True}}}, prefix="reader")

    json_reader = reader_machine({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "in/orders.json"}})
    assert succeeded(sfn, start(sfn, json_reader, {"bucket": bucket})) == [
        {"id": 1}, {"id": 2}, {"id": 3}]
    csv_reader = reader_machine({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "in/orders.csv"}})
    assert succeeded(sfn, start(sfn, csv_reader, {"bucket": bucket})) == [
        {"id": "7", "item": "tea"}, {"id": "8", "item": "cake"}]
    listing = reader_machine({
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket.$": "$.bucket", "Prefix": "in/"}})
    keys = [o["Key"] for o in succeeded(sfn, start(sfn, listing, {"bucket": bucket}))]
    assert keys == ["in/orders.csv", "in/orders.json"]
    missing = reader_machine({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "in/none.json"}})
    done = finished(sfn, start(sfn, missing, {"bucket": bucket}))
    assert (done["status"], done["error"]) == ("FAILED", "States.ItemReaderFailed"), done


# ================================================================ task tokens


def test_wait_for_task_token_success_failure_and_unknown_tokens(server, sfn, functions):
    holder = functions(TOKEN_HOLDER, "token-holder")
    machine = create_machine(sfn, {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": holder,
                               "Payload": {"token.$": "$$.Task.Token", "label.$": "$.label"}},
                "ResultPath": "$.approval",
                "Catch": [{"ErrorEquals": ["OrderCancelled"], "ResultPath": "$.error",
                           "Next": "Cancelled"}],
                "Next": "Approved",
            },
            "Approved": {"Type": "Succeed"},
            "Cancelled": {"Type": "Pass", "End": True},
        },
    }, prefix="tokens")
    labels = {kind: support.unique_name(kind) for kind in ("approve", "cancel")}
    runs = {kind: start(sfn, machine, {"label": label}) for kind, label in labels.items()}

    def token_for(label):
        def find():
            for event in logged(server, holder, "TASKTOKEN "):
                if event["label"] == label:
                    return event["token"]
            return None
        return wait_until(find, WAIT, interval=0.3, message=f"the task token of {label}")

    approve_token = token_for(labels["approve"])
    cancel_token = token_for(labels["cancel"])
    assert approve_token != cancel_token
    # Still waiting for the token, with the call's answer recorded.
    d = sfn.describe_execution(executionArn=runs["approve"])
    assert d["status"] == "RUNNING"
    assert sfn.send_task_heartbeat(taskToken=approve_token)["ResponseMetadata"][
        "HTTPStatusCode"] == 200

    sfn.send_task_success(taskToken=approve_token, output=json.dumps({"approved": True}))
    assert succeeded(sfn, runs["approve"]) == {"label": labels["approve"],
                                               "approval": {"approved": True}}
    events = history(sfn, runs["approve"])
    check_ids(events)
    assert types(events) == [
        "ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
        "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "SucceedStateEntered",
        "SucceedStateExited", "ExecutionSucceeded"], describe_events(events)
    scheduled = of_type(events, "TaskScheduled")[0]["taskScheduledEventDetails"]
    assert scheduled["resource"] == "invoke.waitForTaskToken"
    assert json.loads(scheduled["parameters"])["Payload"]["token"] == approve_token
    assert json.loads(of_type(events, "TaskSucceeded")[0]["taskSucceededEventDetails"]
                      ["output"]) == {"approved": True}

    sfn.send_task_failure(taskToken=cancel_token, error="OrderCancelled",
                          cause="the customer cancelled")
    assert succeeded(sfn, runs["cancel"]) == {
        "label": labels["cancel"],
        "error": {"Error": "OrderCancelled", "Cause": "the customer cancelled"}}
    failed = of_type(history(sfn, runs["cancel"]), "TaskFailed")[0]["taskFailedEventDetails"]
    assert (failed["error"], failed["cause"]) == ("OrderCancelled", "the customer cancelled")

    # Tokens nobody waits for.
    code, status, _ = refused(sfn.send_task_success, taskToken="AAAAKgAAAAIAAAAAAAAAAfake",
                              output="{}")
    assert code in ("TaskDoesNotExist", "InvalidToken") and status == 400, code
    code, _, _ = refused(sfn.send_task_failure, taskToken="not-a-token-at-all", error="E")
    assert code in ("TaskDoesNotExist", "InvalidToken"), code
    # SendTaskSuccess's output must be JSON.
    code, _, _ = refused(sfn.send_task_success, taskToken=approve_token, output="{not json")
    assert code in ("InvalidOutput", "TaskDoesNotExist", "TaskTimedOut"), code


# ================================================================ Express


def test_express_start_sync_execution_returns_the_result(sfn):
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice",
                      "Choices": [{"Variable": "$.fail", "BooleanEquals": True,
                                   "Next": "Refuse"}],
                      "Default": "Greet"},
            "Greet": {"Type": "Pass",
                      "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.who)"},
                      "End": True},
            "Refuse": {"Type": "Fail", "Error": "Refused", "Cause": "fail was true"},
        },
    }
    express = create_machine(sfn, definition, prefix="express", kind="EXPRESS")
    assert sfn.describe_state_machine(stateMachineArn=express)["type"] == "EXPRESS"
    name = express.rsplit(":", 1)[1]
    out = sfn.start_sync_execution(stateMachineArn=express, name="sync-1",
                                   input=json.dumps({"who": "gust", "fail": False}))
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"greeting": "Hello, gust!"}
    assert out["executionArn"].startswith(
        f"arn:aws:states:{REGION}:{ACCOUNT}:express:{name}:sync-1:"), out["executionArn"]
    assert out["stateMachineArn"] == express
    assert out["name"] == "sync-1"
    assert json.loads(out["input"]) == {"who": "gust", "fail": False}
    assert out["startDate"] <= out["stopDate"]

    failed = sfn.start_sync_execution(stateMachineArn=express, input=json.dumps({"fail": True}))
    assert (failed["status"], failed["error"], failed["cause"]) == \
        ("FAILED", "Refused", "fail was true")
    assert "output" not in failed

    standard = create_machine(sfn, definition, prefix="not-express")
    code, status, _ = refused(sfn.start_sync_execution, stateMachineArn=standard, input="{}")
    assert (code, status) == ("StateMachineTypeNotSupported", 400)


# ================================================================ validation


def test_a_next_to_a_missing_state_is_an_invalid_definition(sfn):
    bad = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "B": {"Type": "Succeed"}}})
    result = sfn.validate_state_machine_definition(definition=bad)
    assert result["result"] == "FAIL"
    targets = [d for d in result["diagnostics"] if d["code"] == "MISSING_TRANSITION_TARGET"]
    at_next = [d for d in targets if d.get("location") == "/States/A/Next"]
    assert len(at_next) == 1, result["diagnostics"]
    assert at_next[0]["severity"] == "ERROR"
    assert "Nowhere" in at_next[0]["message"], at_next[0]

    ok = sfn.validate_state_machine_definition(
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    assert ok["result"] == "OK"
    assert not [d for d in ok["diagnostics"] if d["severity"] == "ERROR"]
    garbled = sfn.validate_state_machine_definition(definition="{\"StartAt\": ")
    assert garbled["result"] == "FAIL"
    assert [d["code"] for d in garbled["diagnostics"]] == ["INVALID_JSON_DESCRIPTION"]

    name = support.unique_name("invalid")
    code, status, message = refused(sfn.create_state_machine, name=name, definition=bad,
                                    roleArn=ROLE)
    assert (code, status) == ("InvalidDefinition", 400)
    # AWS: "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next'
    # target: Nowhere at /States/A/Next'".
    assert message.startswith("Invalid State Machine Definition: "), message
    assert "MISSING_TRANSITION_TARGET" in message, message
    assert "Nowhere" in message and "/States/A/Next" in message, message
    code, _, _ = refused(sfn.describe_state_machine, stateMachineArn=machine_arn(name))
    assert code == "StateMachineDoesNotExist"
    code, _, _ = refused(sfn.create_state_machine, name=name, roleArn=ROLE,
                         definition=json.dumps({"StartAt": "A", "States": {
                             "A": {"Type": "Task", "Resource": "not-an-arn", "End": True}}}))
    assert code == "InvalidDefinition"


# ================================================================ the API


def test_errors_have_the_awsjson_shape(server):
    # awsJson1_0: an error is a 4xx whose JSON body names the error in `__type`.
    missing = machine_arn("no-such-machine")
    resp = requests.post(server.url + "/", timeout=30, headers={
        "X-Amz-Target": "AWSStepFunctions.DescribeStateMachine",
        "Content-Type": "application/x-amz-json-1.0"},
        data=json.dumps({"stateMachineArn": missing}))
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert "__type" in body, (
        "gust bug: a Step Functions error must be {\"__type\": CODE, \"message\": ...}; "
        "gust's aws_shaped_rejections middleware (crates/gust-api/src/error.rs) re-wraps it "
        "as Lambda's {\"Type\": \"User\", \"message\": <the original JSON as a string>} "
        f"with x-amzn-ErrorType {resp.headers.get('x-amzn-errortype')!r}, so botocore and "
        f"the AWS CLI see no error code. Got {resp.text}")
    assert body["__type"].rsplit("#", 1)[-1] == "StateMachineDoesNotExist", body
    assert missing in body["message"], body


def test_state_machine_crud_tags_and_errors(sfn):
    # Whitespace, key order and a trailing newline: kept byte for byte.
    text = ('{\n  "Comment": "kept as written",\n\t"StartAt":   "Only",\n'
            '  "States": { "Only": { "Type": "Pass", "End": true } }\n}\n')
    name = support.unique_name("crud")
    arn = machine_arn(name)
    created = sfn.create_state_machine(name=name, definition=text, roleArn=ROLE,
                                       tags=[{"key": "team", "value": "bookings"}])
    assert created["stateMachineArn"] == arn
    assert isinstance(created["creationDate"], datetime.datetime)
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["definition"] == text
    assert (d["name"], d["status"], d["type"], d["roleArn"]) == (name, "ACTIVE", "STANDARD", ROLE)
    assert d["creationDate"] == created["creationDate"]
    listed = [m for m in all_machines(sfn) if m["stateMachineArn"] == arn]
    assert len(listed) == 1 and listed[0]["name"] == name and listed[0]["type"] == "STANDARD"

    # Tags.
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "team", "value": "bookings"}]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "stage", "value": "test"},
                                            {"key": "team", "value": "payments"}])
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"team": "payments", "stage": "test"}
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "stage", "value": "test"}]

    # An execution keeps the definition it started with.
    first = start(sfn, arn, {"n": 1})
    assert succeeded(sfn, first) == {"n": 1}
    new_text = json.dumps({"StartAt": "Only", "States": {"Only": {
        "Type": "Pass", "Result": "updated", "End": True}}})
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=new_text)
    assert isinstance(updated["updateDate"], datetime.datetime)
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == new_text
    assert succeeded(sfn, start(sfn, arn, {"n": 2})) == "updated"
    for_first = sfn.describe_state_machine_for_execution(executionArn=first)
    assert for_first["definition"] == text
    assert for_first["stateMachineArn"] == arn and for_first["name"] == name
    assert for_first["roleArn"] == ROLE

    # Errors.
    code, _, _ = refused(sfn.list_tags_for_resource, resourceArn=machine_arn("nope-" + name))
    assert code == "ResourceNotFound"
    code, _, message = refused(sfn.update_state_machine, stateMachineArn=arn,
                               definition="{\"StartAt\": \"X\", \"States\": {}}")
    assert code == "InvalidDefinition", message
    code, status, _ = refused(sfn.describe_state_machine, stateMachineArn=machine_arn("nope-x"))
    assert (code, status) == ("StateMachineDoesNotExist", 400)
    code, _, _ = refused(sfn.describe_state_machine, stateMachineArn="not-an-arn")
    assert code == "InvalidArn"
    code, _, _ = refused(sfn.start_execution, stateMachineArn=machine_arn("nope-x"))
    assert code == "StateMachineDoesNotExist"
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:no-such-execution"
    code, _, _ = refused(sfn.describe_execution, executionArn=missing)
    assert code == "ExecutionDoesNotExist"
    code, _, _ = refused(sfn.get_execution_history, executionArn=missing)
    assert code == "ExecutionDoesNotExist"
    code, _, _ = refused(sfn.describe_execution, executionArn="arn:aws:states:bogus")
    assert code == "InvalidArn"
    code, _, _ = refused(sfn.start_execution, stateMachineArn=arn, input="{not json")
    assert code == "InvalidExecutionInput"
    code, _, _ = refused(sfn.create_state_machine, name=name, roleArn=ROLE,
                         definition=new_text + " ")
    assert code == "StateMachineAlreadyExists"

    sfn.delete_state_machine(stateMachineArn=arn)
    try:
        status = sfn.describe_state_machine(stateMachineArn=arn)["status"]
    except ClientError as e:
        status = error_of(e)[0]
    assert status in ("StateMachineDoesNotExist", "DELETING"), status
    assert arn not in [m["stateMachineArn"] for m in all_machines(sfn)] or status == "DELETING"


def test_list_executions_and_history_paging(sfn):
    machine = create_machine(sfn, {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice",
                      "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "A"}],
                      "Default": "No"},
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Pass", "End": True},
            "No": {"Type": "Fail", "Error": "NotOk"},
        },
    }, prefix="listing")
    good = [start(sfn, machine, {"ok": True}, name=f"good-{i}") for i in range(3)]
    bad = start(sfn, machine, {"ok": False}, name="bad-0")
    for e in good:
        succeeded(sfn, e)
    assert finished(sfn, bad)["status"] == "FAILED"

    everything = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert sorted(e["name"] for e in everything) == ["bad-0", "good-0", "good-1", "good-2"]
    assert all(e["stateMachineArn"] == machine for e in everything)
    assert all(isinstance(e["stopDate"], datetime.datetime) for e in everything)
    ok = sfn.list_executions(stateMachineArn=machine, statusFilter="SUCCEEDED")["executions"]
    assert sorted(e["executionArn"] for e in ok) == sorted(good)
    failed = sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"]
    assert [e["executionArn"] for e in failed] == [bad]
    assert sfn.list_executions(stateMachineArn=machine,
                               statusFilter="RUNNING")["executions"] == []
    page = sfn.list_executions(stateMachineArn=machine, maxResults=3)
    assert len(page["executions"]) == 3 and page["nextToken"]
    rest = sfn.list_executions(stateMachineArn=machine, maxResults=3, nextToken=page["nextToken"])
    assert len(rest["executions"]) == 1 and "nextToken" not in rest
    assert {e["executionArn"] for e in page["executions"] + rest["executions"]} == \
        set(good) | {bad}

    full = history(sfn, good[0])
    check_ids(full)
    assert len(full) == 10, describe_events(full)
    paged: list[dict] = []
    kwargs: dict[str, Any] = {}
    pages = 0
    while True:
        resp = sfn.get_execution_history(executionArn=good[0], maxResults=3, **kwargs)
        assert len(resp["events"]) <= 3
        paged.extend(resp["events"])
        pages += 1
        if "nextToken" not in resp:
            break
        kwargs = {"nextToken": resp["nextToken"]}
    assert pages == 4
    assert [e["id"] for e in paged] == [e["id"] for e in full]
    backwards = sfn.get_execution_history(executionArn=good[0], reverseOrder=True)["events"]
    assert [e["id"] for e in backwards] == list(range(10, 0, -1))
    assert backwards[0]["type"] == "ExecutionSucceeded"
    code, _, _ = refused(sfn.get_execution_history, executionArn=good[0], nextToken="garbage!")
    assert code == "InvalidToken"


# ================================================================ the AWS CLI


class AwsCli:
    """`python -m awscli --endpoint-url URL ...` with its own config and credentials."""

    def __init__(self, srv, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        config = home / "config"
        config.write_text("[default]\nregion = us-east-1\n")
        self.srv = srv
        self.env = support.env_for_subprocess()
        self.env.update(HOME=str(home), AWS_CONFIG_FILE=str(config),
                        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
                        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
                        AWS_PAGER="")

    def json(self, *args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.srv.url, *args,
             "--output", "json"],
            capture_output=True, timeout=120, env=self.env, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, (
            f"aws {' '.join(args)} exited {proc.returncode}\nstdout:\n"
            f"{proc.stdout.decode(errors='replace')}\nstderr:\n"
            f"{proc.stderr.decode(errors='replace')}")
        return json.loads(proc.stdout)


def test_the_aws_cli_creates_starts_and_describes(server, tmp_path):
    if importlib.util.find_spec("awscli") is None:
        pytest.skip("the AWS CLI (awscli, pinned in tests/requirements.txt) is not installed")
    cli = AwsCli(server, tmp_path / "aws-home")
    name = support.unique_name("cli")
    definition = json.dumps({"StartAt": "Hello", "States": {"Hello": {
        "Type": "Pass", "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.who)"},
        "End": True}}})
    created = cli.json("stepfunctions", "create-state-machine", "--name", name,
                       "--definition", definition, "--role-arn", ROLE)
    assert created["stateMachineArn"] == machine_arn(name)
    started = cli.json("stepfunctions", "start-execution", "--state-machine-arn",
                       created["stateMachineArn"], "--name", "from-the-cli",
                       "--input", json.dumps({"who": "cli"}))
    assert started["executionArn"] == \
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:from-the-cli"

    def done():
        d = cli.json("stepfunctions", "describe-execution", "--execution-arn",
                     started["executionArn"])
        return d if d["status"] != "RUNNING" else None

    d = wait_until(done, WAIT, interval=0.5, message="the CLI's execution to finish")
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"greeting": "Hello, cli!"}
    assert d["name"] == "from-the-cli"
    assert d["stateMachineArn"] == created["stateMachineArn"]
    described = cli.json("stepfunctions", "describe-state-machine", "--state-machine-arn",
                         created["stateMachineArn"])
    assert described["definition"] == definition


# ================================================================ stop and redrive


LONG_WAIT = {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 120,
                                                      "End": True}}}


def test_stop_execution_aborts_with_the_error_and_cause(sfn):
    machine = create_machine(sfn, LONG_WAIT, prefix="stop")
    payload = {"order": "o-stop"}
    execution = start(sfn, machine, payload, name="to-stop")
    wait_until(lambda: "WaitStateEntered" in types(history(sfn, execution)), 20,
               message="the Wait to be entered")
    stopped = sfn.stop_execution(executionArn=execution, error="Operator.Stop",
                                 cause="stopped by the test")
    assert isinstance(stopped["stopDate"], datetime.datetime)
    d = sfn.describe_execution(executionArn=execution)
    assert (d["status"], d["error"], d["cause"]) == \
        ("ABORTED", "Operator.Stop", "stopped by the test")
    assert d["stopDate"] == stopped["stopDate"]
    assert "output" not in d
    events = history(sfn, execution)
    check_ids(events)
    assert events[-1]["type"] == "ExecutionAborted", describe_events(events)
    assert events[-1]["executionAbortedEventDetails"] == {
        "error": "Operator.Stop", "cause": "stopped by the test"}
    assert [e["executionArn"] for e in sfn.list_executions(
        stateMachineArn=machine, statusFilter="ABORTED")["executions"]] == [execution]
    # A closed execution's name cannot be reused, whatever the input.
    code, _, _ = refused(sfn.start_execution, stateMachineArn=machine, name="to-stop",
                         input=json.dumps(payload))
    assert code == "ExecutionAlreadyExists"


def test_start_execution_with_a_running_executions_name(sfn):
    machine = create_machine(sfn, LONG_WAIT, prefix="idempotent")
    payload = {"order": "o-same"}
    execution = start(sfn, machine, payload, name="same-name")
    try:
        wait_until(lambda: "WaitStateEntered" in types(history(sfn, execution)), 20,
                   message="the Wait to be entered")
        # AWS (StartExecution, `name`): "When the original execution is open and the
        # execution input from the new call is different, the ExecutionAlreadyExists
        # message is returned. When the original execution is open and the execution
        # input from the new call is identical, the Success message is returned."
        code, _, _ = refused(sfn.start_execution, stateMachineArn=machine, name="same-name",
                             input=json.dumps({"order": "other"}))
        assert code == "ExecutionAlreadyExists"
        try:
            again = sfn.start_execution(stateMachineArn=machine, name="same-name",
                                        input=json.dumps(payload))
        except ClientError as e:
            pytest.fail(
                "gust bug: StartExecution with the name and the identical input of a RUNNING "
                "execution must succeed and return that execution (AWS documents it as "
                f"idempotent); gust answered {e}")
        assert again["executionArn"] == execution
    finally:
        sfn.stop_execution(executionArn=execution)


@needs_sdk
def test_redrive_restarts_from_the_failed_state(sfn, s3, functions):
    bucket = new_bucket(s3, "redrive")
    confirm = functions(ECHO, "confirm")
    payment = functions(FLAGGED_PAYMENT, "flagged-payment")
    machine = create_machine(sfn, {
        "StartAt": "ConfirmOrder",
        "States": {
            "ConfirmOrder": {"Type": "Task", "Resource": arn_of(confirm),
                             "ResultPath": "$.confirmed", "Next": "Payment"},
            "Payment": {"Type": "Task", "Resource": arn_of(payment),
                        "ResultPath": "$.payment", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }, prefix="redrive")
    s3.put_object(Bucket=bucket, Key="flags/provider-down", Body=b"1")
    payload = {"bucket": bucket, "flag": "flags/provider-down", "order": "o-r",
               "fail_while_flag": True}
    execution = start(sfn, machine, payload)
    d = finished(sfn, execution)
    assert (d["status"], d["error"]) == ("FAILED", "PaymentDeclined"), d
    assert d["redriveCount"] == 0
    assert d["redriveStatus"] == "REDRIVABLE"

    s3.delete_object(Bucket=bucket, Key="flags/provider-down")
    redriven = sfn.redrive_execution(executionArn=execution)
    assert isinstance(redriven["redriveDate"], datetime.datetime)
    output = succeeded(sfn, execution)
    assert output["payment"] == {"paid": True}
    assert output["confirmed"] == {"echo": payload}
    d = sfn.describe_execution(executionArn=execution)
    assert d["redriveCount"] == 1
    assert d["redriveDate"] == redriven["redriveDate"]

    events = history(sfn, execution)
    check_ids(events)
    kinds = types(events)
    assert kinds.count("ExecutionFailed") == 1 and kinds.count("ExecutionRedriven") == 1
    assert kinds.index("ExecutionFailed") < kinds.index("ExecutionRedriven") \
        < kinds.index("ExecutionSucceeded")
    assert of_type(events, "ExecutionRedriven")[0]["executionRedrivenEventDetails"] == \
        {"redriveCount": 1}
    # The confirm-order state ran once: the redrive reused its result.
    assert entered(events).count("ConfirmOrder") == 1, describe_events(events)
    scheduled = [e["lambdaFunctionScheduledEventDetails"]["resource"]
                 for e in of_type(events, "LambdaFunctionScheduled")]
    assert scheduled.count(arn_of(confirm)) == 1, describe_events(events)
    assert scheduled.count(arn_of(payment)) == 2, describe_events(events)

    # A SUCCEEDED execution cannot be redriven.
    code, _, _ = refused(sfn.redrive_execution, executionArn=execution)
    assert code == "ExecutionNotRedrivable"


# ================================================================ monitoring


def test_the_monitor_tag_delivers_status_changes(server, sfn, functions):
    monitor = functions(MONITOR, "monitor")
    machine = create_machine(sfn, {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice",
                      "Choices": [{"Variable": "$.fail", "BooleanEquals": True,
                                   "Next": "Broken"}],
                      "Default": "Fine"},
            "Fine": {"Type": "Pass", "Result": {"ok": True}, "End": True},
            "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "asked to fail"},
        },
    }, prefix="monitored", tags={"gust:monitor": arn_of(monitor)})
    ok = start(sfn, machine, {"fail": False})
    bad = start(sfn, machine, {"fail": True})
    assert succeeded(sfn, ok) == {"ok": True}
    assert finished(sfn, bad)["status"] == "FAILED"

    def statuses():
        seen: dict[str, dict[str, dict]] = {ok: {}, bad: {}}
        for event in logged(server, monitor, "SFNEVENT "):
            arn = event["detail"]["executionArn"]
            if arn in seen:
                seen[arn][event["detail"]["status"]] = event
        complete = set(seen[ok]) == {"RUNNING", "SUCCEEDED"} and \
            set(seen[bad]) == {"RUNNING", "FAILED"}
        return seen if complete else None

    seen = wait_until(statuses, WAIT, interval=0.3,
                      message="RUNNING, SUCCEEDED and FAILED status changes in the monitor")
    for arn, events in seen.items():
        for status, event in events.items():
            assert event["detail-type"] == "Step Functions Execution Status Change"
            assert event["source"] == "aws.states"
            assert event["account"] == ACCOUNT and event["region"] == REGION
            assert event["resources"] == [arn]
            detail = event["detail"]
            assert detail["stateMachineArn"] == machine
            assert detail["name"] == arn.rsplit(":", 1)[1]
            assert isinstance(detail["startDate"], int)
            if status == "RUNNING":
                assert detail["stopDate"] is None
            else:
                assert isinstance(detail["stopDate"], int)
                assert detail["stopDate"] >= detail["startDate"]
    assert json.loads(seen[ok]["SUCCEEDED"]["detail"]["output"]) == {"ok": True}
    assert json.loads(seen[ok]["RUNNING"]["detail"]["input"]) == {"fail": False}
    assert seen[bad]["FAILED"]["detail"]["error"] == "Broken"
    assert seen[bad]["FAILED"]["detail"]["cause"] == "asked to fail"
    # Through the asynchronous path: each a queued invocation of the monitor.
    resp = server.get(f"/gust/v1/functions/{monitor}/async", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["invocations"]) >= 4


def test_with_access_keys_step_functions_calls_must_be_signed_for_states(start_server):
    key_id, secret = "AKIDWORKFLOWS", "workflow-secret"
    srv = start_server("--access-key", f"{key_id}:{secret}")

    def client(key: str, secret_key: str):
        return boto3.client(
            "stepfunctions", endpoint_url=srv.url, region_name=REGION,
            aws_access_key_id=key, aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 0}, inject_host_prefix=False))

    signed = client(key_id, secret)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 7, "End": True}}}
    arn = signed.create_state_machine(
        name=support.unique_name("signed"), definition=json.dumps(definition),
        roleArn=ROLE)["stateMachineArn"]
    assert succeeded(signed, start(signed, arn)) == 7
    with pytest.raises(ClientError) as wrong:
        client(key_id, "not-the-secret").list_state_machines()
    assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # A signature scoped to another service is not a Step Functions signature.
    raw = AWSRequest(method="POST", url=srv.url + "/", data=b"{}",
                     headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                              "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials(key_id, secret), "lambda", REGION).add_auth(raw)
    answer = requests.post(srv.url + "/", data=b"{}", headers=dict(raw.headers), timeout=30)
    assert answer.status_code == 403, answer.text


BIG_RESULT = """
def handler(event, context):
    return {"blob": "x" * (300 * 1024)}
"""


def test_a_result_over_256_kib_fails_with_data_limit_exceeded_which_states_all_does_not_catch(
        sfn, functions):
    big = functions(BIG_RESULT, "wf-big")
    definition = {"StartAt": "Big", "States": {
        "Big": {"Type": "Task", "Resource": arn_of(big), "End": True,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "Caught": {"Type": "Succeed"}}}
    machine = create_machine(sfn, definition, prefix="big")
    done = finished(sfn, start(sfn, machine))
    assert done["status"] == "FAILED", done
    assert done["error"] == "States.DataLimitExceeded", done
    assert "262144" in done["cause"], done["cause"]
    # Nothing of the oversize result went into the history.
    events = history(sfn, done["executionArn"])
    assert "LambdaFunctionSucceeded" not in types(events)
    assert all(len(json.dumps(e, default=str)) < 64 * 1024 for e in events)


def test_a_definition_over_1_mib_is_refused(sfn):
    states = {f"S{i}": {"Type": "Pass", "Comment": "c" * 1000, "Next": f"S{i + 1}"}
              for i in range(1100)}
    states["S1100"] = {"Type": "Succeed"}
    definition = json.dumps({"StartAt": "S0", "States": states})
    assert len(definition) > 1024 * 1024
    code, status, message = refused(sfn.create_state_machine, name=support.unique_name("huge"),
                                    definition=definition, roleArn=ROLE)
    assert (code, status) == ("ValidationException", 400), message
    assert "1048576" in message


def test_the_gust_workflow_cli_creates_starts_follows_and_draws(server, tmp_path):
    name = support.unique_name("cli-flow")
    definition = tmp_path / "flow.asl.json"
    definition.write_text(json.dumps({"StartAt": "Hello", "States": {
        "Hello": {"Type": "Pass", "Result": {"greeting": "hi"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}}))
    created = server.cli("workflow", "create", name, str(definition))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == machine_arn(name)
    followed = server.cli("workflow", "start", name, "--input", '{"x": 1}',
                          "--execution", "first", "--follow")
    assert followed.returncode == 0, followed.stderr
    assert "PassStateEntered name=Hello" in followed.stdout, followed.stdout
    assert "ExecutionSucceeded" in followed.stdout, followed.stdout
    assert json.loads(followed.stdout.strip().splitlines()[-1]) == {"greeting": "hi"}
    history = server.cli("workflow", "history", f"{name}/first")
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[0].split()[2] == "ExecutionStarted", history.stdout
    picture = tmp_path / "run.svg"
    drawn = server.cli("workflow", "graph", f"{name}/first", "--out", str(picture))
    assert drawn.returncode == 0, drawn.stderr
    svg = picture.read_text()
    assert svg.startswith("<svg") and "Hello" in svg and "Done" in svg, svg[:200]
    # Updating keeps the name and the ARN; a bad file is refused with AWS's message.
    again = server.cli("workflow", "create", name, str(definition))
    assert again.returncode == 0 and "updated" in again.stderr, again.stderr
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "Nowhere", "States": {
        "Hello": {"Type": "Pass", "End": True}}}))
    refused = server.cli("workflow", "create", support.unique_name("cli-bad"), str(broken))
    assert refused.returncode != 0
    assert "InvalidDefinition" in refused.stderr and "Nowhere" in refused.stderr, refused.stderr
