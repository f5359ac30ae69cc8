"""Versions, aliases and concurrency controls through boto3."""

from __future__ import annotations

import math
import threading

import pytest
from botocore.exceptions import ClientError

import support

APP = """
import os, time
CODE = "__CODE__"
def handler(event, context):
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(float(event["sleep"]))
    return {"code": CODE, "version": context.function_version,
            "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"""


def code(tag: str) -> bytes:
    return support.make_zip({"app.py": APP.replace("__CODE__", tag)})


def test_publish_freezes_code_and_config(lam, make_function):
    name = make_function("ver", code("one"), Environment={"Variables": {"K": "a"}})
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert v1["Version"] == "1"
    assert v1["FunctionArn"] == support.function_arn(name) + ":1"
    assert v1["Description"] == "first"
    # Publishing an unchanged $LATEST returns the existing version.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"

    lam.update_function_code(FunctionName=name, ZipFile=code("two"))
    # Publish on update creates version 2 at once.
    v2 = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"K": "b"}})
    assert v2["Version"] == "$LATEST"
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2"

    assert support.invoke(lam, name, Qualifier="1").ok()["code"] == "one"
    inv = support.invoke(lam, name, Qualifier="2")
    assert inv.ok()["code"] == "two"
    assert inv.executed_version == "2"
    # Changing $LATEST never changes what a published version runs.
    lam.update_function_code(FunctionName=name, ZipFile=code("three"))
    assert support.invoke(lam, name, Qualifier="1").ok() == {"code": "one", "version": "1", "init": "on-demand"}
    assert support.invoke(lam, name).ok()["code"] == "three"
    assert lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Version"] == "1"

    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    page = lam.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert [v["Version"] for v in page["Versions"]] == ["$LATEST", "1"]
    rest = lam.list_versions_by_function(FunctionName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"]


def test_publish_preconditions_and_unknown_versions(lam, make_function):
    name = make_function("verpre", code("x"))
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName=name, CodeSha256="bm9wZQ==")
    assert support.client_error(e)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName=name, RevisionId="stale")
    assert support.client_error(e)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as e:
        support.invoke(lam, name, Qualifier="7")
    assert support.client_error(e)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert support.client_error(e)[0] == "InvalidParameterValueException"


def test_create_with_publish_and_delete_version(lam, make_function):
    name = make_function("verpub", code("p"), Publish=True)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1"]
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as e:
        support.invoke(lam, name, Qualifier="1")
    assert support.client_error(e)[0] == "ResourceNotFoundException"
    # Version numbers are never reused.
    lam.update_function_code(FunctionName=name, ZipFile=code("q"), Publish=True)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "2"]


def test_alias_routing_follows_weights(lam, make_function):
    name = make_function("alias", code("one"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=code("two"), Publish=True)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    assert alias["AliasArn"] == support.function_arn(name) + ":live"
    n = 400
    seen = {"1": 0, "2": 0}
    for _ in range(n):
        inv = support.invoke(lam, name, Qualifier="live")
        body = inv.ok()
        # The executed version header says which ran, and it is the code that ran.
        assert body["code"] == {"1": "one", "2": "two"}[inv.executed_version]
        seen[inv.executed_version] += 1
    # Binomial(400, 0.25): mean 100, sd ~8.7; 5 sd either side fails ~1 run in 3 million.
    sd = math.sqrt(n * 0.25 * 0.75)
    assert abs(seen["2"] - n * 0.25) < 5 * sd, seen

    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                     RoutingConfig={"AdditionalVersionWeights": {}})
    assert {support.invoke(lam, name, Qualifier="live").executed_version for _ in range(20)} == {"2"}
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["FunctionVersion"] == "2"
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    # A version an alias points to cannot be deleted.
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="2")
    assert support.client_error(e)[0] == "ResourceConflictException"
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName=name, Name="live")
    assert support.client_error(e)[0] == "ResourceNotFoundException"


def test_alias_validation(lam, make_function):
    name = make_function("aliasbad", code("one"), Publish=True)
    for kwargs in [
        dict(Name="1", FunctionVersion="1"),  # all digits: a version, not an alias
        dict(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}),
        dict(Name="y", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"9": 1.5}}),
    ]:
        with pytest.raises(ClientError) as e:
            lam.create_alias(FunctionName=name, **kwargs)
        assert support.client_error(e)[0] == "InvalidParameterValueException", kwargs
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName=name, Name="z", FunctionVersion="5")
    assert support.client_error(e)[0] == "ResourceNotFoundException"


def test_reserved_concurrency_zero_throttles(lam, make_function):
    name = make_function("res0", code("r"))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName=name)["Concurrency"]["ReservedConcurrentExecutions"] == 0
    with pytest.raises(ClientError) as e:
        support.invoke(lam, name)
    code_, status, _ = support.client_error(e)
    assert (code_, status) == ("TooManyRequestsException", 429)
    assert e.value.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert support.invoke(lam, name).ok()["code"] == "r"


def test_reserved_concurrency_n_caps_parallel_calls(server, make_function):
    name = make_function("resn", code("n"))
    lam = server.new_lambda_client()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    results: list[str] = []
    lock = threading.Lock()

    def call():
        client = server.new_lambda_client()
        try:
            support.invoke(client, name, {"sleep": 1.5}).ok()
            outcome = "ok"
        except ClientError as err:
            outcome = err.response.get("Reason") or support.client_error(err)[0]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["ReservedFunctionConcurrentInvocationLimitExceeded"] * 2 + ["ok"] * 2, results


def test_account_settings_report_reservations(lam, make_function):
    before = lam.get_account_settings()["AccountLimit"]
    assert before["ConcurrentExecutions"] >= 100
    name = make_function("acct", code("a"))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    after = lam.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 5
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=before["ConcurrentExecutions"])
    assert support.client_error(e)[0] == "InvalidParameterValueException"


def test_provisioned_instances_answer_without_cold_start(lam, make_function):
    name = make_function("prov", code("warm"), Publish=True)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert support.client_error(e)[0] == "InvalidParameterValueException"
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="prod",
                                                 ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    support.wait_until(
        lambda: lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")["Status"] == "READY",
        timeout=30, message="provisioned concurrency READY")
    cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [support.function_arn(name) + ":prod"]
    for _ in range(3):
        inv = support.invoke(lam, name, Qualifier="prod", tail=True)
        assert inv.ok()["init"] == "provisioned-concurrency"
        assert "REPORT RequestId" in inv.log
        assert "Init Duration" not in inv.log, inv.log
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    assert support.client_error(e)[0] == "ProvisionedConcurrencyConfigNotFoundException"


def test_versions_and_aliases_survive_restart(start_server, tmp_path):
    data = tmp_path / "data"
    srv = start_server(data_dir=data)
    name = support.unique_name("persist")
    srv.create_function(name, code("one"), Publish=True)
    srv.lambda_.update_function_code(FunctionName=name, ZipFile=code("two"), Publish=True)
    srv.lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    srv.lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    srv.stop()
    srv2 = start_server(data_dir=data)
    lam = srv2.lambda_
    assert support.invoke(lam, name, Qualifier="live").ok()["code"] == "one"
    assert support.invoke(lam, name, Qualifier="2").ok()["code"] == "two"
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 3
    # The counter survived too: the next version is 3.
    lam.update_function_code(FunctionName=name, ZipFile=code("three"))
    assert lam.publish_version(FunctionName=name)["Version"] == "3"
