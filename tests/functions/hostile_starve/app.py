"""A function that tries to starve the host: processes, memory, CPU, disk.

event["attack"] picks the attempt. The unbounded ones never return on their own
(the platform must stop them); they print what they manage on the way, so the
invocation's log tail shows how far they got. Every attack first prints the
instance's id (the end of its log stream name) so the test can look for its
processes and cgroups afterwards.
"""

import errno
import os
import subprocess
import time

MB = 1 << 20


def fork_bomb():
    """A shell fork bomb in the background; meanwhile this process forks children
    that stay (so that it, too, would grow without end if nothing stopped it) and
    says when the kernel first refuses, then keeps trying until it is stopped.

    Its own children never exit, so the refusal comes after at most the limit's
    number of forks, however the shell bomb's processes come and go meanwhile."""
    subprocess.Popen(["/bin/sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 600"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    forked = 0
    refused = None
    while True:
        try:
            pid = os.fork()
        except OSError as e:
            if refused is None:
                refused = errno.errorcode.get(e.errno, str(e.errno))
                print(f"fork refused with {refused} after {forked} forks", flush=True)
            time.sleep(0.01)
            continue
        if pid == 0:
            while True:
                time.sleep(600)
        forked += 1
        time.sleep(0.001)


def allocate():
    """Allocates and touches memory, one MB at a time, without end."""
    chunks = []
    while True:
        chunks.append(b"\x01" * MB)
        if len(chunks) % 32 == 0:
            print(f"allocated {len(chunks)} MB", flush=True)


def spin():
    """Busy loops on every core, twice over, until stopped."""
    workers = 2 * (os.cpu_count() or 1)
    for _ in range(workers - 1):
        if os.fork() == 0:
            while True:
                pass
    print(f"spinning in {workers} processes", flush=True)
    while True:
        pass


def fill_tmp():
    """Writes /tmp full. Returns how much fit and how the last write failed."""
    written = 0
    chunk = b"\x02" * MB
    failure = None
    with open("/tmp/fill", "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                failure = errno.errorcode.get(e.errno, str(e.errno))
                break
    st = os.statvfs("/tmp")
    os.unlink("/tmp/fill")
    return {"written": written, "error": failure, "tmp_size": st.f_blocks * st.f_frsize}


ATTACKS = {"fork_bomb": fork_bomb, "allocate": allocate, "spin": spin,
           "fill_tmp": fill_tmp}


def handler(event, context):
    print("instance " + context.log_stream_name.rsplit("]", 1)[-1], flush=True)
    attack = event.get("attack", "noop")
    if attack == "noop":
        return {"ok": True}
    return ATTACKS[attack]()
