"""A function that tries to get out of its sandbox.

event["attack"] picks what it tries; the answer lists every attempt as JSON,
{"attempts": [{"what": ..., "ok": bool, "error": "EACCES", "got": ...}]}, so that a
test asserting "every attempt failed" shows exactly what leaked when one did not.
Each attack also makes one attempt that must succeed (writing /tmp, reaching the
Runtime API, forking...): it proves the probe itself works, so a failure elsewhere
means the sandbox refused, not that the probe was broken.

Host paths, ports and pids come in the event: the function knows nothing of the
host but what the test tells it.
"""

import ctypes
import errno
import json
import os
import platform
import signal
import socket
import stat
import subprocess
import time

LIBC = ctypes.CDLL(None, use_errno=True)

# Syscalls without a glibc wrapper, by architecture.
SYSCALLS = {
    "x86_64": {"pivot_root": 155, "init_module": 175, "keyctl": 250, "bpf": 321},
    "aarch64": {"pivot_root": 41, "init_module": 105, "keyctl": 219, "bpf": 280},
}[platform.machine()]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REMOUNT = 0x20
MS_REC = 0x4000
PTRACE_TRACEME = 0
PTRACE_ATTACH = 16
PTRACE_SEIZE = 0x4206


def errname(code):
    return errno.errorcode.get(code, str(code))


def attempt(what, action):
    """Runs `action`; an OSError is a refusal, anything returned is a success."""
    try:
        got = action()
    except OSError as e:
        return {"what": what, "ok": False, "error": errname(e.errno), "message": str(e)}
    return {"what": what, "ok": True, "got": repr(got)[:300]}


def libc_call(name, *args):
    """Calls a libc function; raises OSError with errno when it returns -1."""
    ctypes.set_errno(0)
    rc = getattr(LIBC, name)(*args)
    if rc == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return rc


def raw_syscall(name, *args):
    return libc_call("syscall", ctypes.c_long(SYSCALLS[name]),
                     *[ctypes.c_long(a) for a in args])


# ---------------------------------------------------------------- filesystem


def read_path(path):
    if os.path.isdir(path):
        return sorted(os.listdir(path))[:20]
    with open(path, "rb") as f:
        return f.read(200)


def read_files(event):
    paths = [
        "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.bash_history",
        "/proc/1/environ", "/proc/1/mem", "/proc/1/root/etc/shadow", "/proc/kcore",
        "/var/task/../../etc/shadow", "/sys/fs/cgroup", "/home", "/work",
    ] + list(event.get("paths", []))
    attempts = [attempt("read " + p, lambda p=p: read_path(p)) for p in paths]
    attempts.append(attempt("control: read /var/task/app.py",
                            lambda: read_path("/var/task/app.py")))
    return attempts


def write_path(path):
    with open(path, "ab") as f:
        f.write(b"pwned\n")
    return path


def write_files(event):
    targets = [
        "/var/task/pwned", "/var/task/app.py", "/var/runtime/pwned", "/pwned",
        "/etc/pwned", "/etc/passwd", "/usr/pwned", "/usr/lib/pwned", "/bin/pwned",
        "/root/pwned", "/opt/pwned", "/var/pwned", "/proc/pwned",
    ] + list(event.get("paths", []))
    attempts = [attempt("write " + p, lambda p=p: write_path(p)) for p in targets]
    attempts += [
        attempt("mkdir /var/task/d", lambda: os.mkdir("/var/task/d")),
        attempt("chmod /var/task/app.py", lambda: os.chmod("/var/task/app.py", 0o777)),
        attempt("rename /var/task/app.py", lambda: os.rename("/var/task/app.py",
                                                           "/var/task/moved.py")),
        attempt("unlink /var/task/app.py", lambda: os.unlink("/var/task/app.py")),
        attempt("symlink in /var/task", lambda: os.symlink("/tmp", "/var/task/link")),
        # Opening for writing is enough to prove access; nothing is ever written.
        attempt("open /proc/sysrq-trigger for writing",
                lambda: os.close(os.open("/proc/sysrq-trigger", os.O_WRONLY))),
        attempt("open /proc/sys/kernel/core_pattern for writing",
                lambda: os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))),
        attempt("open /proc/sys/vm/drop_caches for writing",
                lambda: os.close(os.open("/proc/sys/vm/drop_caches", os.O_WRONLY))),
        attempt("control: write /tmp/ok", lambda: write_path("/tmp/ok")),
    ]
    return attempts


def read_kernel_file(path):
    """Reads a /proc file; empty (what a masked file reads) counts as refused."""
    with open(path, "rb") as f:
        data = f.read(4096)
    if not data:
        raise OSError(errno.ENODATA, f"{path} reads empty")
    return data[:200]


def list_kernel_dir(path):
    """Lists a /proc directory; empty (a masked one) counts as refused."""
    entries = os.listdir(path)
    if not entries:
        raise OSError(errno.ENODATA, f"{path} is empty")
    return sorted(entries)[:20]


def writable_mount(path):
    """The mount `path` is on, per /proc/self/mountinfo; EROFS if it is read-only."""
    point, options = max(
        ((f[4], f[5]) for f in (line.split() for line in open("/proc/self/mountinfo"))
         if path == f[4] or path.startswith(f[4].rstrip("/") + "/")),
        key=lambda m: len(m[0]))
    if "ro" in options.split(","):
        raise OSError(errno.EROFS, f"{path} is on the read-only mount {point}")
    return f"{path} is on {point} ({options})"


def proc_files(event):
    """What /proc would tell about, or let change in, the host's kernel."""
    attempts = [attempt("read " + p, lambda p=p: read_kernel_file(p)) for p in [
        "/proc/kcore", "/proc/kallsyms", "/proc/keys", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/latency_stats"]]
    attempts += [attempt("list " + p, lambda p=p: list_kernel_dir(p))
                 for p in ["/proc/acpi", "/proc/scsi", "/proc/asound"]]
    attempts += [attempt("writable mount under " + p, lambda p=p: writable_mount(p))
                 for p in ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
                           "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"]
                 if os.path.exists(p)]
    attempts += [
        attempt("control: read /proc/self/status",
                lambda: read_kernel_file("/proc/self/status")),
        attempt("control: read /proc/meminfo", lambda: read_kernel_file("/proc/meminfo")),
        attempt("control: read /proc/sys/kernel/hostname",
                lambda: read_kernel_file("/proc/sys/kernel/hostname")),
        attempt("control: list /proc/self/fd", lambda: list_kernel_dir("/proc/self/fd")),
        attempt("control: /tmp is on a writable mount", lambda: writable_mount("/tmp/x")),
    ]
    return attempts


# ---------------------------------------------------------------- processes


def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError as e:
        return errname(e.errno)


def processes(event):
    host_pid = int(event["server_pid"])
    visible = {pid: comm(pid) for pid in pids()}
    attempts = [
        {"what": "see the server's pid in /proc", "ok": host_pid in visible,
         "got": visible},
        attempt("read /proc/<server pid>/cmdline",
                lambda: read_path(f"/proc/{host_pid}/cmdline")),
        attempt("signal 0 to the server", lambda: os.kill(host_pid, 0)),
        attempt("SIGKILL to the server", lambda: os.kill(host_pid, signal.SIGKILL)),
        attempt("SIGSTOP to the server", lambda: os.kill(host_pid, signal.SIGSTOP)),
        attempt("setpriority on the server",
                lambda: os.setpriority(os.PRIO_PROCESS, host_pid, 19)),
        attempt("pidfd_open the server", lambda: os.close(os.pidfd_open(host_pid))),
        attempt("SIGKILL to the server's process group",
                lambda: os.killpg(host_pid, signal.SIGKILL)),
        attempt("read the init's environment", lambda: read_path("/proc/1/environ")),
        attempt("control: signal 0 to myself", lambda: os.kill(os.getpid(), 0)),
    ]
    # Every pid the instance can see is its own: the init, the runtime, its children.
    attempts.append({"what": "more than a handful of processes visible",
                     "ok": len(visible) > 8, "got": visible})
    return attempts


# ---------------------------------------------------------------- network


def connect(host, port, timeout=2.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"GET /gust/v1/health HTTP/1.0\r\n\r\n")
        return s.recv(200)


def connect_unix_abstract(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect("\0" + name)
        return "connected"


def network(event):
    attempts = [attempt(f"connect {h}:{p}", lambda h=h, p=p: connect(h, int(p)))
                for h, p in event.get("targets", [])]
    # Sending succeeds (onto the instance's own loopback); the test checks that
    # nothing arrives on the host.
    attempts.append(attempt("control: send UDP datagrams to the host's services",
                            lambda: [socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
                                b"x", (h, int(p))) for h, p in event.get("udp", [])]))
    api_host, api_port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    attempts.append(attempt("control: connect to the Runtime API",
                            lambda: connect(api_host, int(api_port))))
    attempts.append({"what": "interfaces", "ok": len(socket.if_nameindex()) > 1,
                     "got": [n for _, n in socket.if_nameindex()]})
    return attempts


def listen(event):
    """The victim: listens on a TCP port and an abstract unix socket, keeps a secret
    in /tmp, says so on stdout, and counts connections for `hold_s` seconds."""
    port, name, secret = int(event["port"]), event["unix_name"], event["secret"]
    with open("/tmp/secret", "w") as f:
        f.write(secret)
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", port))
    tcp.listen(16)
    tcp.settimeout(0.1)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + name)
    unix.listen(16)
    unix.settimeout(0.1)
    print("LISTENING", port, name, flush=True)
    accepted = []
    deadline = time.monotonic() + float(event.get("hold_s", 5))
    while time.monotonic() < deadline:
        for s, kind in ((tcp, "tcp"), (unix, "unix")):
            try:
                conn, _ = s.accept()
                accepted.append(kind)
                conn.close()
            except (socket.timeout, BlockingIOError):
                pass
    return {"accepted": accepted}


def neighbour(event):
    port, name = int(event["port"]), event["unix_name"]
    return [
        attempt(f"connect 127.0.0.1:{port} (the neighbour's port)",
                lambda: connect("127.0.0.1", port)),
        attempt("connect the neighbour's abstract unix socket",
                lambda: connect_unix_abstract(name)),
        attempt("read the neighbour's /tmp/secret", lambda: read_path("/tmp/secret")),
    ]


# ---------------------------------------------------------------- privileges


def mount_calls():
    os.makedirs("/tmp/m", exist_ok=True)
    b = lambda s: s.encode()  # noqa: E731
    return [
        attempt("mount a tmpfs", lambda: libc_call("mount", b("none"), b("/tmp/m"), b("tmpfs"),
                                                    ctypes.c_ulong(0), None)),
        attempt("bind-mount / on /tmp/m", lambda: libc_call(
            "mount", b("/"), b("/tmp/m"), None, ctypes.c_ulong(MS_BIND | MS_REC), None)),
        attempt("remount /var/task read-write", lambda: libc_call(
            "mount", None, b("/var/task"), None, ctypes.c_ulong(MS_REMOUNT | MS_BIND), None)),
        attempt("umount /var/task", lambda: libc_call("umount2", b("/var/task"), 0)),
        attempt("umount /proc", lambda: libc_call("umount2", b("/proc"), 2)),  # MNT_DETACH
        attempt("mount proc", lambda: libc_call("mount", b("proc"), b("/tmp/m"), b("proc"),
                                                ctypes.c_ulong(0), None)),
        attempt("unshare a user namespace", lambda: libc_call("unshare", CLONE_NEWUSER)),
        attempt("unshare a mount namespace", lambda: libc_call("unshare", CLONE_NEWNS)),
        attempt("unshare a network namespace", lambda: libc_call("unshare", CLONE_NEWNET)),
        attempt("setns into pid 1's mount namespace", lambda: libc_call(
            "setns", os.open("/proc/1/ns/mnt", os.O_RDONLY), 0)),
        attempt("pivot_root", lambda: raw_syscall("pivot_root", 0, 0)),
        attempt("chroot /tmp", lambda: os.chroot("/tmp")),
        attempt("init_module", lambda: raw_syscall("init_module", 0, 0, 0)),
        attempt("keyctl", lambda: raw_syscall("keyctl", 0, 0, 0, 0, 0)),
        attempt("bpf", lambda: raw_syscall("bpf", 0, 0, 0)),
        attempt("setuid 0", lambda: os.setuid(0)),
        attempt("setgid 0", lambda: os.setgid(0)),
        attempt("sethostname", lambda: socket.sethostname("pwned")),
    ]


def ptrace_calls():
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        attempts = [
            attempt("ptrace attach the init (pid 1)",
                    lambda: libc_call("ptrace", ctypes.c_long(PTRACE_ATTACH), 1, None, None)),
            attempt("ptrace attach my own child",
                    lambda: libc_call("ptrace", ctypes.c_long(PTRACE_ATTACH), child, None, None)),
            attempt("ptrace seize my own child",
                    lambda: libc_call("ptrace", ctypes.c_long(PTRACE_SEIZE), child, None, None)),
            attempt("ptrace traceme",
                    lambda: libc_call("ptrace", ctypes.c_long(PTRACE_TRACEME), 0, None, None)),
            attempt("process_vm_readv the init", lambda: process_vm_readv(1)),
            attempt("read /proc/1/mem", lambda: read_path("/proc/1/mem")),
        ]
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    attempts.append(attempt("control: fork and wait", fork_and_wait))
    return attempts


def fork_and_wait():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def process_vm_readv(pid):
    buf = ctypes.create_string_buffer(64)
    local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 64)
    remote = IoVec(0x400000, 64)
    return libc_call("process_vm_readv", pid, ctypes.byref(local), ctypes.c_ulong(1),
                     ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))


def raw_sockets():
    kinds = [
        ("AF_INET SOCK_RAW ICMP", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        ("AF_INET SOCK_RAW TCP", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
        ("AF_INET6 SOCK_RAW", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
        ("AF_PACKET SOCK_RAW", socket.AF_PACKET, socket.SOCK_RAW, 0x0300),  # ETH_P_ALL
        ("AF_PACKET SOCK_DGRAM", socket.AF_PACKET, socket.SOCK_DGRAM, 0x0300),
        ("AF_NETLINK route, then add a link", socket.AF_NETLINK, socket.SOCK_RAW, 0),
    ]
    attempts = []
    for what, family, kind, proto in kinds:
        if family == socket.AF_NETLINK:
            attempts.append(attempt(what, add_dummy_link))
            continue
        attempts.append(attempt("open " + what,
                                lambda f=family, k=kind, p=proto: socket.socket(f, k, p).close()))
    attempts.append(attempt("control: open a TCP socket",
                            lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()))
    return attempts


def add_dummy_link():
    """RTM_NEWLINK for a dummy interface: needs CAP_NET_ADMIN."""
    import struct
    kind = b"dummy\0"
    name = b"pwned0\0"
    def rta(t, payload):
        length = 4 + len(payload)
        return struct.pack("HH", length, t) + payload + b"\0" * ((4 - length % 4) % 4)
    linkinfo = rta(1, kind)  # IFLA_INFO_KIND
    body = struct.pack("BxHiII", 0, 0, 0, 0, 0) + rta(3, name) + rta(18, linkinfo)
    header = struct.pack("IHHII", 16 + len(body), 16, 0x1 | 0x4 | 0x400 | 0x200, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as s:
        s.settimeout(2)
        s.sendto(header + body, (0, 0))
        reply = s.recv(4096)
    code = struct.unpack("i", reply[16:20])[0]
    if code < 0:
        raise OSError(-code, os.strerror(-code))
    return "created"


def device_nodes():
    attempts = []
    for what, mode, dev in [
        ("block device for /dev/sda", stat.S_IFBLK, os.makedev(8, 0)),
        ("char device for /dev/mem", stat.S_IFCHR, os.makedev(1, 1)),
        ("char device for /dev/kmsg", stat.S_IFCHR, os.makedev(1, 11)),
    ]:
        path = "/tmp/node-" + str(os.major(dev)) + "-" + str(os.minor(dev))
        attempts.append(attempt("mknod " + what, lambda p=path, m=mode, d=dev:
                                os.mknod(p, m | 0o666, d)))
        attempts.append(attempt("mknodat via libc " + what, lambda p=path, m=mode, d=dev:
                                libc_call("mknod", (p + "-libc").encode(),
                                          ctypes.c_uint(m | 0o666), ctypes.c_ulong(d))))
    for dev in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda", "/dev/vda",
                "/dev/nvme0n1", "/dev/loop0", "/dev/fuse", "/dev/net/tun"]:
        attempts.append(attempt("open " + dev, lambda d=dev: os.close(os.open(d, os.O_RDWR))))
    attempts.append(attempt("control: mkfifo in /tmp", lambda: os.mkfifo("/tmp/fifo")))
    return attempts


def status(pid):
    """Fields of /proc/PID/status, split into words."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def overflow_uid() -> int:
    try:
        with open("/proc/sys/kernel/overflowuid") as f:
            return int(f.read())
    except OSError:
        return 65534


def setuid_binaries(event):
    """Execs each setuid-root binary with LD_PRELOAD naming a FIFO and reads its
    credentials from /proc.

    An unprivileged exec (what no_new_privs makes of a setuid binary) honours
    LD_PRELOAD, so the dynamic loader blocks opening the FIFO and the process waits
    there, showing its uids. A privileged exec (the setuid bit took effect: AT_SECURE)
    ignores a preload given as a path and runs on: that is the escape. So a binary
    that does not stop in the loader with an effective uid other than 0 counts as a
    success of the attack.
    """
    fifo = "/tmp/preload-fifo"
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    results = []
    for path in event.get("binaries", ["/usr/bin/su", "/usr/bin/passwd", "/usr/bin/newgrp",
                                       "/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd",
                                       "/usr/bin/mount", "/usr/bin/umount", "/usr/bin/sudo"]):
        try:
            st = os.stat(path)
        except OSError:
            continue
        # Root's files show as the overflow uid where root is not mapped (gust
        # running rootless, in user namespaces): they are root's all the same.
        if not st.st_mode & stat.S_ISUID or st.st_uid not in (0, overflow_uid()):
            continue
        proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env={**os.environ, "LD_PRELOAD": fifo})
        seen = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                now = status(proc.pid)
            except OSError:
                break
            # Exec'd (its own name) and asleep: blocked in the loader on the FIFO.
            if now["Name"] == [os.path.basename(path)[:15]] and now["State"][0] == "S":
                seen = {k: now[k] for k in ("Uid", "Gid", "CapEff", "NoNewPrivs")}
                break
            time.sleep(0.005)
        proc.kill()
        out, _ = proc.communicate()
        results.append({
            "what": "exec setuid-root " + path,
            "ok": seen is None or seen["Uid"][1] == "0",
            "got": {"blocked in the loader with": seen, "exit": proc.returncode,
                    "output": out.decode("utf-8", "replace")[-300:]},
        })
    me = status(os.getpid())
    results.append({"what": "control: my own credentials", "ok": True,
                    "got": {k: me[k] for k in ("Uid", "Gid", "CapEff", "NoNewPrivs")}})
    return results


# ---------------------------------------------------------------- dispatch

ATTACKS = {
    "read_files": read_files,
    "write_files": write_files,
    "proc": proc_files,
    "processes": processes,
    "network": network,
    "neighbour": neighbour,
    "mount": lambda event: mount_calls(),
    "ptrace": lambda event: ptrace_calls(),
    "raw_sockets": lambda event: raw_sockets(),
    "device_nodes": lambda event: device_nodes(),
    "setuid": setuid_binaries,
}


def handler(event, context):
    attack = event["attack"]
    if attack == "listen":
        return listen(event)
    if attack == "noop":
        return {"ok": True}
    attempts = ATTACKS[attack](event)
    # Staying busy a little longer lets the test check its control function
    # answers while this instance is mid-attack.
    time.sleep(float(event.get("hold_s", 0)))
    print(json.dumps({"attack": attack, "attempts": attempts})[:3000])
    return {"attack": attack, "attempts": attempts}
