"""What ordinary functions do, each step checked, for the seccomp allow list: threads,
subprocesses (fork and exec), asyncio, sockets on loopback, mmap/mprotect, signals,
the AWS SDK; and the dangerous calls the allow list leaves out, each of which must be
refused. The event names the steps ({"steps": [...]}, default: all of them);
the answer maps each step to {"ok": true, ...} or {"ok": false, "error": ...}.
"""

import asyncio
import ctypes
import errno
import mmap
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long

# Syscall numbers for the refused calls (no glibc wrappers), by architecture.
NR = {
    "x86_64": {"kexec_load": 246, "init_module": 175, "perf_event_open": 298,
               "userfaultfd": 323, "bpf": 321, "keyctl": 250, "io_uring_setup": 425,
               "personality": 135, "open_tree": 428, "fsopen": 430},
    "aarch64": {"kexec_load": 104, "init_module": 105, "perf_event_open": 241,
                "userfaultfd": 282, "bpf": 280, "keyctl": 219, "io_uring_setup": 425,
                "personality": 92, "open_tree": 428, "fsopen": 430},
}[platform.machine()]

READ_IMPLIES_EXEC = 0x0400000
ADDR_NO_RANDOMIZE = 0x0040000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000


def syscall(name, *args):
    """Raw syscall; returns its value or raises OSError with the errno."""
    ctypes.set_errno(0)
    rc = LIBC.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) for a in args])
    if rc == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return rc


# ---------------------------------------------------------------- allowed


def threads():
    results = []
    lock = threading.Lock()

    def work(n):
        total = sum(i * i for i in range(20000 + n))
        with lock:
            results.append(total)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as ex:
        squares = list(ex.map(lambda x: x * x, range(10)))
    assert len(results) == 8 and squares[-1] == 81
    return {"threads": len(results)}


def subprocesses():
    out = subprocess.run(["/bin/sh", "-c", "echo from-sh; ls / >/dev/null; exit 3"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3 and out.stdout == "from-sh\n", out
    py = subprocess.run([sys.executable, "-c", "import os; print(os.getpid() > 1)"],
                        capture_output=True, text=True, timeout=30, check=True)
    assert py.stdout == "True\n", py
    pid = os.fork()
    if pid == 0:
        os._exit(9)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    # posix_spawn is glibc's clone3 user (with its fallback to clone).
    spawned = os.posix_spawn("/bin/true", ["true"], dict(os.environ))
    _, status = os.waitpid(spawned, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pipe = subprocess.Popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    got, _ = pipe.communicate(b"through a pipe", timeout=30)
    assert got == b"through a pipe"
    return {"sh": out.returncode, "python": py.stdout.strip()}


async def _async_main():
    async def handle(reader, writer):
        data = await reader.readline()
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"hello {i}\n".encode())
        await writer.drain()
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    lines = await asyncio.gather(*(client(i) for i in range(5)))
    server.close()
    await server.wait_closed()
    proc = await asyncio.create_subprocess_exec(
        "/bin/echo", "async-child", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    in_thread = await loop.run_in_executor(None, lambda: "from-executor")
    return [line.decode() for line in lines], out.decode(), in_thread


def asyncio_step():
    lines, child, in_thread = asyncio.run(_async_main())
    assert lines == [f"HELLO {i}\n" for i in range(5)], lines
    assert child == "async-child\n" and in_thread == "from-executor"
    return {"lines": len(lines)}


def sockets():
    # TCP server and client on loopback, IPv4 and IPv6 when the instance has it.
    def echo_once(family, host):
        with socket.socket(family, socket.SOCK_STREAM) as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((host, 0))
            srv.listen(4)
            port = srv.getsockname()[1]

            def serve():
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(conn.recv(100)[::-1])

            t = threading.Thread(target=serve)
            t.start()
            with socket.create_connection((host, port), timeout=10) as c:
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                c.sendall(b"abc")
                got = c.recv(100)
            t.join()
            return got

    assert echo_once(socket.AF_INET, "127.0.0.1") == b"cba"
    ipv6 = None
    if socket.has_ipv6:
        try:
            ipv6 = echo_once(socket.AF_INET6, "::1") == b"cba"
        except OSError as e:
            ipv6 = errno.errorcode.get(e.errno, str(e.errno))
    # UDP on loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind(("127.0.0.1", 0))
        b.sendto(b"datagram", a.getsockname())
        a.settimeout(10)
        assert a.recvfrom(100)[0] == b"datagram"
    # Unix sockets: a pair, and a named one in /tmp.
    x, y = socket.socketpair()
    x.sendall(b"pair")
    assert y.recv(10) == b"pair"
    x.close()
    y.close()
    path = tempfile.mktemp(dir="/tmp")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.bind(path)
        u.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(path)
            conn, _ = u.accept()
            c.sendall(b"unix")
            assert conn.recv(10) == b"unix"
            conn.close()
    os.unlink(path)
    # Name resolution of localhost, and the interface list (netlink).
    addrs = socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP)
    interfaces = [name for _, name in socket.if_nameindex()]
    return {"ipv6": ipv6, "localhost": sorted({a[4][0] for a in addrs}),
            "interfaces": interfaces}


def memory():
    anon = mmap.mmap(-1, 1 << 20)
    anon[:5] = b"hello"
    anon.close()
    with tempfile.TemporaryFile(dir="/tmp") as f:
        f.write(b"x" * 8192)
        f.flush()
        with mmap.mmap(f.fileno(), 8192) as m:
            assert m[100:103] == b"xxx"
            m.madvise(mmap.MADV_DONTNEED)
    # mprotect a page read-only and back, through libc.
    size = mmap.PAGESIZE
    LIBC.mmap.restype = ctypes.c_void_p
    LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = LIBC.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    LIBC.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert LIBC.mprotect(addr, size, mmap.PROT_READ) == 0
    assert LIBC.mprotect(addr, size, mmap.PROT_READ | mmap.PROT_WRITE) == 0
    ctypes.memset(addr, 1, size)
    LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    assert LIBC.munmap(addr, size) == 0
    fd = os.memfd_create("workload")
    os.write(fd, b"memfd")
    os.close(fd)
    return {"page": size}


def signals():
    got = []
    signal.signal(signal.SIGUSR1, lambda s, f: got.append("usr1"))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.signal(signal.SIGALRM, lambda s, f: got.append("alarm"))
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    deadline = time.monotonic() + 10
    while "alarm" not in got and time.monotonic() < deadline:
        time.sleep(0.005)
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
    # A signal to a child, and waiting for it.
    child = subprocess.Popen(["/bin/sleep", "30"])
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert got.count("usr1") == 2 and "alarm" in got, got
    return {"got": got}


def sdk():
    import boto3
    import botocore
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE",
                                    aws_secret_access_key="secret", region_name="us-east-1")
    lam = session.client("lambda", endpoint_url="http://127.0.0.1:9")
    s3 = session.client("s3")
    url = s3.generate_presigned_url("get_object", {"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    # Signed for the endpoint the instance was given (AWS_ENDPOINT_URL: gust).
    assert "Signature=" in url, url
    return {"boto3": boto3.__version__, "botocore": botocore.__version__,
            "operations": len(lam.meta.service_model.operation_names)}


def personas():
    """The benign personas Docker's default profile allows."""
    current = syscall("personality", 0xFFFFFFFF)
    seen = [syscall("personality", p) for p in (0, PER_LINUX32, UNAME26,
                                                 UNAME26 | PER_LINUX32, current)]
    return {"query": current, "set": seen}


ALLOWED = {
    "threads": threads,
    "subprocesses": subprocesses,
    "asyncio": asyncio_step,
    "sockets": sockets,
    "memory": memory,
    "signals": signals,
    "sdk": sdk,
    "personas": personas,
}


# ---------------------------------------------------------------- refused


def _mount():
    os.makedirs("/tmp/m", exist_ok=True)
    return LIBC.mount(b"none", b"/tmp/m", b"tmpfs", ctypes.c_ulong(0), None)


REFUSED = {
    "mount": _mount,
    "unshare user namespace": lambda: LIBC.unshare(0x10000000),
    "unshare mount namespace": lambda: LIBC.unshare(0x00020000),
    "ptrace traceme": lambda: LIBC.ptrace(ctypes.c_long(0), 0, None, None),
    "bpf": lambda: syscall("bpf", 0, 0, 0),
    "keyctl": lambda: syscall("keyctl", 0, 0, 0, 0, 0),
    "kexec_load": lambda: syscall("kexec_load", 0, 0, 0, 0),
    "init_module": lambda: syscall("init_module", 0, 0, 0),
    "perf_event_open": lambda: syscall("perf_event_open", 0, 0, -1, -1, 0),
    "userfaultfd": lambda: syscall("userfaultfd", 0),
    "io_uring_setup": lambda: syscall("io_uring_setup", 1, 0),
    "fsopen": lambda: syscall("fsopen", 0, 0),
    "open_tree": lambda: syscall("open_tree", -100, 0, 0),
    "personality READ_IMPLIES_EXEC": lambda: syscall("personality", READ_IMPLIES_EXEC),
    "personality ADDR_NO_RANDOMIZE": lambda: syscall("personality", ADDR_NO_RANDOMIZE),
    "raw socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1).close(),
    "packet socket": lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close(),
}


def refused(name):
    ctypes.set_errno(0)
    try:
        rc = REFUSED[name]()
    except OSError as e:
        return {"ok": False, "error": errno.errorcode.get(e.errno, str(e.errno))}
    if rc == -1:
        code = ctypes.get_errno()
        return {"ok": False, "error": errno.errorcode.get(code, str(code))}
    return {"ok": True, "got": repr(rc)}


def handler(event, context):
    steps = event.get("steps") or list(ALLOWED)
    answer = {}
    for step in steps:
        try:
            answer[step] = {"ok": True, **ALLOWED[step]()}
        except Exception as e:  # noqa: BLE001 - the step's failure is the answer
            answer[step] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if event.get("refused"):
        answer["refused"] = {name: refused(name) for name in REFUSED}
    return answer
