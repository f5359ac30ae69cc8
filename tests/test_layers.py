"""Lambda layers: publishing, reading, listing, deleting and sharing layer versions
through boto3 and the AWS CLI, and functions that use them under /opt."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import support
from conftest import GustServer, isolation
from support import client_error, make_zip

PY_LAYER = {
    "python/layer_mod.py": "VALUE = 'python-dir'\n",
    "python/lib/python3.11/site-packages/sitepkg/__init__.py": "VALUE = 'site-packages'\n",
}

PY_APP = """
import os, subprocess
def handler(event, context):
    import layer_mod, sitepkg
    tool = subprocess.run(["layer-tool"], capture_output=True, text=True)
    return {"layer_mod": layer_mod.VALUE, "sitepkg": sitepkg.VALUE,
            "tool": tool.stdout.strip(), "path": os.environ["PATH"],
            "ld": os.environ.get("LD_LIBRARY_PATH", "")}
"""

SHARED_APP = """
def handler(event, context):
    import shared
    return shared.VALUE
"""


def layer_name(prefix: str) -> str:
    return support.unique_name(prefix)


def publish(lam, name: str, files: dict, **kwargs) -> dict:
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)},
                                     **kwargs)


@pytest.fixture
def layers(lam):
    """Publishes layer versions and deletes them after the test:
    layers(prefix, files, **PublishLayerVersion parameters) returns the response."""
    made: list[tuple[str, int]] = []

    def make(prefix: str, files: dict, **kwargs) -> dict:
        out = publish(lam, layer_name(prefix), files, **kwargs)
        made.append((out["LayerArn"].rsplit(":", 1)[1], out["Version"]))
        return out

    yield make
    for name, version in made:
        lam.delete_layer_version(LayerName=name, VersionNumber=version)


def symlink_zip(files: dict[str, str], links: dict[str, str]) -> bytes:
    """A zip with regular files and symlink entries, as `zip --symlinks` makes them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for entries, mode in ((files, 0o100644), (links, 0o120777)):
            for path, content in entries.items():
                info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = mode << 16
                zf.writestr(info, content)
    return buf.getvalue()


def aws_cli(server, home: Path, *args: str) -> dict:
    """`aws --endpoint-url URL ARGS... --output json`, with its own configuration."""
    if importlib.util.find_spec("awscli") is None:
        pytest.skip("the AWS CLI (awscli, pinned in tests/requirements.txt) is not installed")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text("[default]\nregion = us-east-1\n")
    env = support.env_for_subprocess()
    env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION=support.REGION, AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.url, *args,
         "--output", "json"],
        capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (
        f"aws {' '.join(args)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout.decode(errors='replace')}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def isolated(server) -> bool:
    return server.health()["isolation"] == "linux"


# ---------------------------------------------------------------- the API


def test_publish_get_list_and_delete(lam):
    name = layer_name("api")
    zip_bytes = make_zip(PY_LAYER)
    v1 = lam.publish_layer_version(
        LayerName=name, Description="first", Content={"ZipFile": zip_bytes},
        CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT")
    arn = f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:layer:{name}"
    assert v1["LayerArn"] == arn
    assert v1["LayerVersionArn"] == f"{arn}:1"
    assert v1["Version"] == 1
    assert v1["Description"] == "first"
    assert v1["CompatibleRuntimes"] == ["python3.11"]
    assert v1["CompatibleArchitectures"] == ["x86_64"]
    assert v1["LicenseInfo"] == "MIT"
    assert support.LAST_MODIFIED_RE.match(v1["CreatedDate"]), v1["CreatedDate"]
    assert v1["Content"]["CodeSha256"] == support.sha256_b64(zip_bytes)
    assert v1["Content"]["CodeSize"] == len(zip_bytes)
    # Content.Location serves the zip without credentials.
    assert requests.get(v1["Content"]["Location"], timeout=30).content == zip_bytes

    v2 = publish(lam, name, {"python/other.py": "X = 2\n"}, CompatibleRuntimes=["nodejs20.x"])
    assert v2["Version"] == 2

    got = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert got["LayerVersionArn"] == f"{arn}:1"
    assert got["Content"]["CodeSha256"] == v1["Content"]["CodeSha256"]
    # LayerName may be the layer's ARN.
    assert lam.get_layer_version(LayerName=arn, VersionNumber=2)["Version"] == 2
    by_arn = lam.get_layer_version_by_arn(Arn=f"{arn}:2")
    assert by_arn["Version"] == 2 and by_arn["LayerArn"] == arn

    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    assert versions[1]["LayerVersionArn"] == f"{arn}:1"
    page = lam.list_layer_versions(LayerName=name, MaxItems=1)
    assert [v["Version"] for v in page["LayerVersions"]] == [2]
    rest = lam.list_layer_versions(LayerName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest
    python_only = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.11")
    assert [v["Version"] for v in python_only["LayerVersions"]] == [1]

    listed = {x["LayerName"]: x for x in lam.list_layers()["Layers"]}
    assert listed[name]["LayerArn"] == arn
    assert listed[name]["LatestMatchingVersion"]["Version"] == 2
    listed = {x["LayerName"]: x for x in lam.list_layers(CompatibleRuntime="python3.11")["Layers"]}
    assert listed[name]["LatestMatchingVersion"]["Version"] == 1

    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    # Deleting again succeeds, as on AWS.
    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName=name, VersionNumber=2)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)
    # A version number is never reused.
    assert publish(lam, name, {"python/third.py": "X = 3\n"})["Version"] == 3
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=name)["LayerVersions"]] \
        == [3, 1]
    for v in (1, 3):
        lam.delete_layer_version(LayerName=name, VersionNumber=v)
    assert name not in {x["LayerName"] for x in lam.list_layers()["Layers"]}


def test_a_layer_is_published_from_an_object_of_gusts_buckets(server, lam, layers):
    s3 = boto3.client("s3", endpoint_url=server.url, region_name=support.REGION,
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "path"},
                                    retries={"max_attempts": 0}))
    bucket = f"layers-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    zip_bytes = make_zip(PY_LAYER)
    s3.put_object(Bucket=bucket, Key="dir/my layer.zip", Body=zip_bytes)
    name = layer_name("from-s3")
    v = lam.publish_layer_version(
        LayerName=name, Content={"S3Bucket": bucket, "S3Key": "dir/my layer.zip"})
    try:
        assert v["Content"]["CodeSha256"] == support.sha256_b64(zip_bytes)
        assert requests.get(v["Content"]["Location"], timeout=30).content == zip_bytes
    finally:
        lam.delete_layer_version(LayerName=name, VersionNumber=v["Version"])
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=name,
                                  Content={"S3Bucket": bucket, "S3Key": "missing.zip"})
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "NoSuchKey" in message, message
    s3.delete_object(Bucket=bucket, Key="dir/my layer.zip")
    s3.delete_bucket(Bucket=bucket)


def test_list_layers_pages_through_every_layer_once_by_name(lam, layers):
    ours = sorted(layers("page", {"python/p.py": ""})["LayerArn"].rsplit(":", 1)[1]
                  for _ in range(3))
    names, marker = [], None
    for _ in range(1000):
        page = lam.list_layers(MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["Layers"]) <= 2
        names += [x["LayerName"] for x in page["Layers"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert marker is None, "more than 1000 pages"
    assert names == sorted(set(names)), names
    assert set(ours) <= set(names)


def test_unknown_layers_and_bad_requests_answer_as_aws(lam, layers):
    missing = layer_name("missing")
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName=missing, VersionNumber=1)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_by_arn(
            Arn=f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:layer:{missing}:1")
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_by_arn(Arn="not-an-arn")
    assert client_error(e)[:2] == ("ValidationException", 400)
    assert lam.list_layer_versions(LayerName=missing)["LayerVersions"] == []

    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName="bad.name", Content={"ZipFile": make_zip(PY_LAYER)})
    assert client_error(e)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=layer_name("nozip"), Content={})
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=layer_name("notzip"),
                                  Content={"ZipFile": b"this is not a zip"})
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=layer_name("arch"),
                                  Content={"ZipFile": make_zip(PY_LAYER)},
                                  CompatibleArchitectures=["sparc"])
    assert client_error(e)[:2] == ("ValidationException", 400)


def test_permissions_are_added_read_and_removed(lam, layers):
    v = layers("perm", PY_LAYER)
    name = v["LayerArn"].rsplit(":", 1)[1]
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)

    added = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="everyone",
        Action="lambda:GetLayerVersion", Principal="*")
    statement = json.loads(added["Statement"])
    assert statement["Sid"] == "everyone"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "lambda:GetLayerVersion"
    assert statement["Resource"] == v["LayerVersionArn"]
    lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="one-account",
        Action="lambda:GetLayerVersion", Principal="123456789012",
        RevisionId=added["RevisionId"])

    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    doc = json.loads(policy["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["everyone", "one-account"]
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}

    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="everyone",
            Action="lambda:GetLayerVersion", Principal="*")
    assert client_error(e)[:2] == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="stale",
            Action="lambda:GetLayerVersion", Principal="*", RevisionId=added["RevisionId"])
    assert client_error(e)[:2] == ("PreconditionFailedException", 412)
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="invoke",
            Action="lambda:InvokeFunction", Principal="*")
    assert client_error(e)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=9, StatementId="nine",
            Action="lambda:GetLayerVersion", Principal="*")
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)

    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1,
                                        StatementId="everyone")
    doc = json.loads(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["one-account"]
    with pytest.raises(ClientError) as e:
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=1,
                                            StatementId="everyone")
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)


def test_a_hostile_layer_archive_is_rejected(lam):
    name = layer_name("hostile")
    for files, links in [({"python/a.py": "x"}, {"python/up": "../../../../etc"}),
                         ({"python/a.py": "x", "../escaped.py": "x"}, {}),
                         ({"lib/a": "x"}, {"lib/shadow": "/etc/shadow"})]:
        with pytest.raises(ClientError) as e:
            lam.publish_layer_version(LayerName=name,
                                      Content={"ZipFile": symlink_zip(files, links)})
        assert client_error(e)[:2] == ("InvalidParameterValueException", 400), files
    # A bomb: a few hundred KB that would unzip past 250 MB.
    with pytest.raises(ClientError) as e:
        publish(lam, name, {"python/zeros.bin": b"\0" * (251 * 1024 * 1024)})
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "Unzipped size must be smaller than 262144000 bytes" in message, message
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []


def test_a_layer_with_too_many_entries_is_rejected(lam):
    name = layer_name("entries")
    files = {f"python/f{i}.py": "" for i in range(20_001)}
    with pytest.raises(ClientError) as e:
        publish(lam, name, files)
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400), message
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []


def test_content_location_is_presigned_when_requests_must_be_signed(start_server):
    srv = start_server("--access-key", "AKIAGUSTLAYERS:layers-secret")
    lam = boto3.client(
        "lambda", endpoint_url=srv.url, region_name=support.REGION,
        aws_access_key_id="AKIAGUSTLAYERS", aws_secret_access_key="layers-secret",
        config=Config(retries={"max_attempts": 0}))
    zip_bytes = make_zip(PY_LAYER)
    name = layer_name("signed")
    lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes})
    location = lam.get_layer_version(LayerName=name, VersionNumber=1)["Content"]["Location"]
    assert "X-Gust-Signature=" in location
    assert requests.get(location, timeout=30).content == zip_bytes
    # Without its signature, or for another version, the download is refused.
    plain = location.split("&X-Gust-Expires=")[0]
    assert requests.get(plain, timeout=30).status_code == 403
    other = location.replace(f"/{name}/versions/1/", f"/{name}/versions/2/")
    assert requests.get(other, timeout=30).status_code == 403


# ---------------------------------------------------------------- functions with layers


def test_a_function_reports_and_checks_its_layers(lam, layers, make_function):
    a, b = layers("cfg-a", PY_LAYER), layers("cfg-b", {"python/shared.py": "VALUE = 'b'\n"})
    name = make_function("layered", make_zip({"app.py": PY_APP}),
                         Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    expected = [{"Arn": a["LayerVersionArn"], "CodeSize": a["Content"]["CodeSize"]},
                {"Arn": b["LayerVersionArn"], "CodeSize": b["Content"]["CodeSize"]}]
    assert lam.get_function_configuration(FunctionName=name)["Layers"] == expected
    assert lam.get_function(FunctionName=name)["Configuration"]["Layers"] == expected

    updated = lam.update_function_configuration(FunctionName=name,
                                                Layers=[b["LayerVersionArn"]])
    assert updated["Layers"] == expected[1:]
    updated = lam.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in updated
    plain = make_function("plain", make_zip({"app.py": PY_APP}))
    assert "Layers" not in lam.get_function_configuration(FunctionName=plain)

    six = [f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:layer:l{i}:1" for i in range(6)]
    missing = f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:layer:{layer_name('no')}:1"
    same_twice = [a["LayerVersionArn"], a["LayerVersionArn"][:-1] + "2"]
    for bad in (six, [missing], same_twice):
        with pytest.raises(ClientError) as e:
            lam.update_function_configuration(FunctionName=name, Layers=bad)
        assert client_error(e)[:2] == ("InvalidParameterValueException", 400), bad
        with pytest.raises(ClientError) as e:
            make_function("bad-layers", make_zip({"app.py": PY_APP}), Layers=bad)
        assert client_error(e)[:2] == ("InvalidParameterValueException", 400), bad
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Layers=["nope"])
    code, status, message = client_error(e)
    assert (code, status) == ("ValidationException", 400)
    assert "Value 'nope' at 'layers' failed to satisfy constraint" in message, message
    assert "Layers" not in lam.get_function_configuration(FunctionName=name)


def test_code_and_layers_together_must_fit_in_250_mb(lam, layers, make_function):
    """Each layer fits alone; the function's code with both does not."""
    big = b"\0" * (130 * 1024 * 1024)
    a = layers("big-a", {"a.bin": big})
    b = layers("big-b", {"b.bin": big})
    name = make_function("fits", make_zip({"app.py": SHARED_APP}),
                         Layers=[a["LayerVersionArn"]])
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(
            FunctionName=name, Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    code, status, message = client_error(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "262144000" in message, message
    with pytest.raises(ClientError) as e:
        make_function("too-big", make_zip({"app.py": SHARED_APP}),
                      Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)
    assert lam.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == \
        a["LayerVersionArn"]


def test_python_imports_from_layers_and_runs_their_binaries(server, lam, layers, make_function):
    py = layers("py", PY_LAYER)
    tools = layers("bin", {"bin/layer-tool": ("#!/bin/sh\necho from-opt-bin\n", 0o755)})
    name = make_function("py-layers", make_zip({"app.py": PY_APP}),
                         Layers=[py["LayerVersionArn"], tools["LayerVersionArn"]])
    out = support.invoke(lam, name).ok()
    assert out["layer_mod"] == "python-dir"
    assert out["sitepkg"] == "site-packages"
    assert out["tool"] == "from-opt-bin"
    if isolated(server):
        assert "/opt/bin" in out["path"].split(":")
        assert "/opt/lib" in out["ld"].split(":")


def test_libraries_in_a_layer_are_found_by_the_dynamic_loader(lam, layers, make_function):
    """A shared object in a layer's lib/ loads by name, as an extension's dependency
    would: LD_LIBRARY_PATH names /opt/lib from the runtime's start."""
    host_lib = next((p for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"),
                                 Path("/usr/lib/x86_64-linux-gnu/libz.so.1"),
                                 Path("/usr/lib64/libz.so.1")) if p.exists()), None)
    if host_lib is None:
        pytest.skip("no libz.so.1 on this host to ship in a layer")
    layer = layers("lib", {"lib/libgustlayerz.so": (host_lib.read_bytes(), 0o755)})
    app = """
import ctypes
def handler(event, context):
    lib = ctypes.CDLL("libgustlayerz.so")
    lib.zlibVersion.restype = ctypes.c_char_p
    return lib.zlibVersion().decode()
"""
    name = make_function("lib-layers", make_zip({"app.py": app}),
                         Layers=[layer["LayerVersionArn"]])
    assert support.invoke(lam, name).ok()[:2] == "1."
    plain = make_function("lib-none", make_zip({"app.py": app}))
    assert "libgustlayerz.so" in support.invoke(lam, plain).error()["errorMessage"]


def test_a_layers_package_wins_over_the_runtimes_sdk(lam, layers, make_function):
    """As on Lambda, /opt/python comes before the runtime's own AWS SDK."""
    layer = layers("sdk", {"python/boto3/__init__.py": "__version__ = 'from-layer'\n"})
    app = "import boto3\ndef handler(event, context):\n    return boto3.__version__\n"
    name = make_function("sdk-layers", make_zip({"app.py": app}),
                         Layers=[layer["LayerVersionArn"]])
    assert support.invoke(lam, name).ok() == "from-layer"


def test_node_requires_from_a_layer(lam, layers, make_function):
    layer = layers("node", {
        "nodejs/node_modules/layer-pkg/index.js": "module.exports = 'node-layer';\n"})
    app = "exports.handler = async () => require('layer-pkg');\n"
    name = make_function("node-layers", make_zip({"index.js": app}), runtime=support.NODE,
                         handler="index.handler", Layers=[layer["LayerVersionArn"]])
    assert support.invoke(lam, name).ok() == "node-layer"


def test_later_layers_win_over_earlier_ones(lam, layers, make_function):
    a = layers("order-a", {"python/shared.py": "VALUE = 'a'\n", "python/only_a.py": ""})
    b = layers("order-b", {"python/shared.py": "VALUE = 'b'\n"})
    name = make_function("order", make_zip({"app.py": SHARED_APP}),
                         Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    assert support.invoke(lam, name).ok() == "b"
    published = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name,
                                      Layers=[b["LayerVersionArn"], a["LayerVersionArn"]])
    assert support.invoke(lam, name).ok() == "a"
    # A published version keeps the layers it was published with.
    assert support.invoke(lam, name, Qualifier=published).ok() == "b"
    frozen = lam.get_function_configuration(FunctionName=name, Qualifier=published)
    assert [x["Arn"] for x in frozen["Layers"]] == [a["LayerVersionArn"], b["LayerVersionArn"]]
    # The function's own code wins over every layer: the task root comes first.
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(
        {"app.py": SHARED_APP, "shared.py": "VALUE = 'own'\n"}))
    assert support.invoke(lam, name).ok() == "own"


def test_opt_is_read_only_and_empty_without_layers(server, lam, layers, make_function):
    if not isolated(server):
        pytest.skip("/opt is a mount of the Linux sandbox")
    app = """
import errno, os
def handler(event, context):
    try:
        open("/opt/new.py", "w").close()
        wrote = "wrote"
    except OSError as e:
        wrote = errno.errorcode[e.errno]
    return {"wrote": wrote, "listing": sorted(os.listdir("/opt"))}
"""
    layer = layers("ro", PY_LAYER)
    name = make_function("ro", make_zip({"app.py": app}), Layers=[layer["LayerVersionArn"]])
    assert support.invoke(lam, name).ok() == {"wrote": "EROFS", "listing": ["python"]}
    plain = make_function("no-layers", make_zip({"app.py": app}))
    # Without layers /opt is empty: nothing of the host's /opt shows through.
    assert support.invoke(lam, plain).ok() == {"wrote": "EROFS", "listing": []}


def test_deleting_a_layer_version_breaks_no_function(lam, make_function):
    name = layer_name("deleted")
    v = publish(lam, name, {"python/shared.py": "VALUE = 'kept'\n"})
    fn = make_function("uses-deleted", make_zip({"app.py": SHARED_APP}),
                       Layers=[v["LayerVersionArn"]])
    assert support.invoke(lam, fn).ok() == "kept"
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    # A new configuration means new instances, built from the kept copy.
    lam.update_function_configuration(FunctionName=fn, Environment={"Variables": {"N": "2"}})
    assert support.invoke(lam, fn).ok() == "kept"
    assert lam.get_function_configuration(FunctionName=fn)["Layers"][0]["Arn"] == \
        v["LayerVersionArn"]
    # Naming it again is fine for the function that has it; new users cannot.
    lam.update_function_configuration(FunctionName=fn, Layers=[v["LayerVersionArn"]])
    with pytest.raises(ClientError) as e:
        make_function("late", make_zip({"app.py": SHARED_APP}), Layers=[v["LayerVersionArn"]])
    assert client_error(e)[:2] == ("InvalidParameterValueException", 400)


def test_layers_survive_a_restart(start_server):
    srv = start_server()
    lam = srv.lambda_
    name = layer_name("restart")
    v = publish(lam, name, {"python/shared.py": "VALUE = 'durable'\n"})
    fn = support.unique_name("restart")
    srv.create_function(fn, make_zip({"app.py": SHARED_APP}), Layers=[v["LayerVersionArn"]])
    assert support.invoke(lam, fn).ok() == "durable"
    kept = publish(lam, name, {"python/y.py": ""})
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    data_dir = srv.data_dir
    srv.stop()
    srv = start_server(data_dir=data_dir)
    lam = srv.lambda_
    # The function still has the deleted version's files, after the restart too.
    assert support.invoke(lam, fn).ok() == "durable"
    assert lam.get_layer_version(LayerName=name, VersionNumber=2)["Content"]["CodeSha256"] \
        == kept["Content"]["CodeSha256"]
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert client_error(e)[:2] == ("ResourceNotFoundException", 404)
    assert publish(lam, name, {"python/x.py": ""})["Version"] == 3
    srv.delete_quietly(fn)


def test_layers_work_in_the_rootless_sandbox(gust_bin, tmp_path_factory):
    if isolation() == "none" or os.geteuid() != 0:
        pytest.skip("starting gust as another user needs root and the Linux sandbox")
    srv = GustServer(gust_bin, tmp_path_factory.mktemp("gust-rootless-layers"),
                     ["--memory", "1024"], run_as=4243)
    srv.start()
    try:
        assert srv.health()["isolation"] == "linux-rootless"
        lam = srv.lambda_
        v = publish(lam, layer_name("rootless"), PY_LAYER)
        app = """
import errno
def handler(event, context):
    import layer_mod, sitepkg
    try:
        open("/opt/new.py", "w").close()
        wrote = "wrote"
    except OSError as e:
        wrote = errno.errorcode[e.errno]
    return [layer_mod.VALUE, sitepkg.VALUE, wrote]
"""
        name = support.unique_name("rootless-layers")
        srv.create_function(name, make_zip({"app.py": app}), Layers=[v["LayerVersionArn"]])
        assert support.invoke(lam, name).ok() == ["python-dir", "site-packages", "EROFS"]
        srv.delete_quietly(name)
    finally:
        srv.stop()


# ---------------------------------------------------------------- the AWS CLI


def test_the_aws_cli_publishes_and_lists_layer_versions(server, tmp_path):
    home = tmp_path / "aws-home"
    name = layer_name("cli")
    archive = tmp_path / "layer.zip"
    archive.write_bytes(make_zip(PY_LAYER))
    out = aws_cli(server, home, "lambda", "publish-layer-version", "--layer-name", name,
                  "--zip-file", f"fileb://{archive}", "--compatible-runtimes", "python3.11",
                  "--description", "from the cli")
    assert out["Version"] == 1
    assert out["Description"] == "from the cli"
    assert out["CompatibleRuntimes"] == ["python3.11"]
    assert out["Content"]["CodeSha256"] == support.sha256_b64(archive.read_bytes())
    listed = aws_cli(server, home, "lambda", "list-layer-versions", "--layer-name", name)
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    got = aws_cli(server, home, "lambda", "get-layer-version-by-arn", "--arn",
                  out["LayerVersionArn"])
    assert got["Content"]["CodeSize"] == archive.stat().st_size
    aws_cli(server, home, "lambda", "delete-layer-version", "--layer-name", name,
            "--version-number", "1")
    listed = aws_cli(server, home, "lambda", "list-layer-versions", "--layer-name", name)
    assert listed["LayerVersions"] == []


def test_gust_deploy_attaches_layers(server, lam, layers, tmp_path):
    first = layers("cli-a", {"python/shared.py": "VALUE = 'a'\n"})
    second = layers("cli-b", {"python/shared.py": "VALUE = 'b'\n"})
    stem = f"clilayer_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{stem}.py"
    source.write_text(SHARED_APP)
    try:
        out = server.cli("deploy", str(source), "--layer", first["LayerVersionArn"])
        assert out.returncode == 0, out.stderr
        assert support.invoke(lam, stem, {}).ok() == "a"
        conf = lam.get_function_configuration(FunctionName=stem)
        assert [l["Arn"] for l in conf["Layers"]] == [first["LayerVersionArn"]]
        # On update, --layer replaces the layers; the later one wins.
        out = server.cli("deploy", str(source), "--layer", first["LayerVersionArn"],
                         "--layer", second["LayerVersionArn"])
        assert out.returncode == 0, out.stderr
        assert support.invoke(lam, stem, {}).ok() == "b"
        # An unknown layer is the server's error, named.
        out = server.cli("deploy", str(source), "--layer", first["LayerVersionArn"] + "0")
        assert out.returncode != 0
        assert "does not exist" in out.stderr, out.stderr
    finally:
        server.delete_quietly(stem)
