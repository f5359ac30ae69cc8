"""`/tmp` as Lambda's ephemeral storage: on disk (not counted against the function's
memory), exactly `EphemeralStorage` in size, private to each instance, and empty in
every new instance, pooled sandboxes included.

The Linux sandbox puts `/tmp` on disk only as root (loop devices); elsewhere it is a
tmpfs, and these tests skip, saying so."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

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
    if op == "hold":
        print("holding", flush=True)
        import time
        time.sleep(event["seconds"])
        return {"held": True}
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


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A data directory on a filesystem of its own of 1,200 MB (a loop-mounted
    image), unmounted at the end."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small filesystem for the data directory needs root")
    image, mount_point = tmp_path / "disk.img", tmp_path / "disk"
    mount_point.mkdir()
    with open(image, "wb") as f:
        f.truncate(1200 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True,
                   capture_output=True, timeout=60)
    try:
        yield mount_point / "data"
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=60)


def test_the_disk_is_never_promised_beyond_its_free_space(small_disk, start_server):
    srv = start_server("--queue-timeout", "2s", data_dir=small_disk)
    if srv.health()["isolation"] != "linux":
        pytest.skip("/tmp is on disk only in the Linux sandbox")
    lam = srv.lambda_
    big, second = support.unique_name("tmp-1g"), support.unique_name("tmp-1g")
    for name in (big, second):
        srv.create_function(name, ZIP, MemorySize=128, Timeout=120,
                            EphemeralStorage={"Size": 1024})
    if invoke(lam, big, {"op": "fstype"}).ok()["fstype"] != "ext4":
        pytest.skip("/tmp is not on disk here")
    # The first instance's 1,024 MB fit (the images the pool made ahead yield to
    # it). While it is busy, a second one's would not: the second waits its queue
    # timeout (2 s here) for room and is refused, saying why.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(invoke, lam, big, {"op": "hold", "seconds": 12})
        support.wait_until(lambda: any(
            e["message"].strip() == "holding"
            for e in srv.logs(big, limit=100)["events"]), 10)
        with pytest.raises(ClientError) as refused:
            invoke(lam, second, {"op": "fstype"})
        assert held.result().ok() == {"held": True}
    code, status, message = support.client_error(refused.value)
    assert (code, status) == ("ServiceException", 500), refused.value
    assert "not enough disk for this function's /tmp" in message, message
    assert "ephemeral storage is 1024 MB" in message, message
    assert str(small_disk) not in message, message
    # Idle, the first instance yields its disk as it would its memory: it is
    # stopped, and the second starts.
    assert invoke(lam, second, {"op": "fstype"}).ok() == {"fstype": "ext4"}
    # A new instance of the first (the second, idle, yields in turn) can fill what
    # it was promised.
    out = invoke(lam, big, {"op": "write", "mb": 900}).ok()
    assert out == {"written_mb": 900, "errno": None}, out
