"""`/tmp` as Lambda's ephemeral storage: on disk (not counted against the function's
memory), exactly `EphemeralStorage` in size, private to each instance, and empty in
every new instance, pooled sandboxes included.

The Linux sandbox puts `/tmp` on disk only as root (loop devices); elsewhere it is a
tmpfs, and these tests skip, saying so."""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

import pytest

import support
from support import invoke

HANDLER = r'''
import errno, os

AT_START = sorted(os.listdir("/tmp"))

def tmp_fstype():
    for line in open("/proc/self/mountinfo"):
        left, _, right = line.partition(" - ")
        if left.split()[4] == "/tmp":
            return right.split()[0]
    return None

def handler(event, context):
    op = event["op"]
    if op == "fstype":
        return {"fstype": tmp_fstype()}
    if op == "listing":
        return {"at_start": AT_START, "now": sorted(os.listdir("/tmp"))}
    if op == "put":
        with open("/tmp/" + event["name"], "w") as f:
            f.write("secret")
        return {"now": sorted(os.listdir("/tmp"))}
    if op == "exists":
        return {"exists": os.path.exists(event["path"])}
    if op == "write":
        chunk = b"x" * (1 << 20)
        written = 0
        try:
            with open("/tmp/big", "wb") as f:
                while written < event["mb"]:
                    f.write(chunk)
                    written += 1
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            return {"written_mb": written, "errno": errno.errorcode.get(e.errno)}
        finally:
            try:
                os.unlink("/tmp/big")
            except OSError:
                pass
        return {"written_mb": written, "errno": None}
    raise ValueError(op)
'''

ZIP = support.make_zip({"app.py": HANDLER})


@pytest.fixture(scope="module")
def disk_tmp(server):
    if server.health()["isolation"] != "linux":
        pytest.skip("/tmp is on disk only in the Linux sandbox")
    name = support.unique_name("tmp-probe")
    server.create_function(name, ZIP, MemorySize=128)
    fstype = invoke(server.lambda_, name, {"op": "fstype"}).ok()["fstype"]
    if fstype != "ext4":
        if os.geteuid() == 0 and Path("/dev/loop-control").exists() and any(
                Path(d, "mkfs.ext4").exists() for d in ("/usr/sbin", "/sbin")):
            pytest.fail(f"/tmp is a {fstype}, though this host has root, loop devices "
                        "and mkfs.ext4: see the server's warning")
        pytest.skip(f"/tmp is a {fstype} here (disk-backed /tmp needs root, loop devices "
                    "and e2fsprogs)")
    return server


def test_a_128_mb_function_writes_300_mb_to_tmp(disk_tmp):
    name = support.unique_name("tmp-big")
    disk_tmp.create_function(name, ZIP, MemorySize=128, Timeout=120)
    out = invoke(disk_tmp.lambda_, name, {"op": "write", "mb": 300}).ok()
    assert out == {"written_mb": 300, "errno": None}


def test_writing_past_ephemeral_storage_is_enospc(disk_tmp):
    name = support.unique_name("tmp-full")
    disk_tmp.create_function(name, ZIP, MemorySize=256, Timeout=120,
                             EphemeralStorage={"Size": 600})
    out = invoke(disk_tmp.lambda_, name, {"op": "write", "mb": 700}).ok()
    assert out["errno"] == "ENOSPC", out
    # The filesystem's own metadata takes a little of the 600 MB.
    assert 560 <= out["written_mb"] < 600, out


def test_an_instance_cannot_see_another_instances_tmp(disk_tmp):
    lam = disk_tmp.lambda_
    a, b = support.unique_name("tmp-a"), support.unique_name("tmp-b")
    disk_tmp.create_function(a, ZIP, MemorySize=128)
    disk_tmp.create_function(b, ZIP, MemorySize=128)
    assert invoke(lam, a, {"op": "put", "name": "a-secret"}).ok()["now"] == ["a-secret"]
    assert invoke(lam, b, {"op": "listing"}).ok()["now"] == []
    assert invoke(lam, b, {"op": "exists", "path": "/tmp/a-secret"}).ok() == {"exists": False}


def test_every_new_instance_starts_with_an_empty_tmp(disk_tmp):
    lam = disk_tmp.lambda_
    name = support.unique_name("tmp-fresh")
    disk_tmp.create_function(name, ZIP, MemorySize=128, Timeout=30)
    assert invoke(lam, name, {"op": "put", "name": "left-behind"}).ok()["now"] == ["left-behind"]
    for round_ in range(3):
        # A new configuration: new instances, from the sandbox pool.
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"ROUND": str(round_)}})
        support.wait_until(
            lambda: lam.get_function(FunctionName=name)["Configuration"].get(
                "LastUpdateStatus") in (None, "Successful"), 10)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            seen = list(pool.map(
                lambda _: invoke(lam, name, {"op": "listing"}).ok(), range(3)))
        for s in seen:
            assert s["at_start"] == [], s
        invoke(lam, name, {"op": "put", "name": f"round-{round_}"}).ok()
