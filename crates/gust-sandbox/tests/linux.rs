//! Real instances in the Linux sandbox. Each test fails if the isolation it names is
//! broken. They need root (namespaces, mounts, cgroups): as another user they print
//! why and pass without checking anything; CI runs them as root.

#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use gust_sandbox::linux::LinuxSandbox;
use gust_sandbox::{LaunchSpec, Sandbox, SandboxError};

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn runs_the_bootstrap_with_the_lambda_environment_and_merged_output() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap(
        "#!/bin/sh\n\
         echo \"api=$AWS_LAMBDA_RUNTIME_API\"\n\
         echo \"task=$LAMBDA_TASK_ROOT runtime=$LAMBDA_RUNTIME_DIR cwd=$(pwd)\"\n\
         echo \"user=$(id -un) host=$(hostname)\"\n\
         echo to-stderr >&2\n\
         exit 3\n",
    );
    let run = f.run(sb, f.spec("env"));
    assert_eq!(run.report.code, Some(3), "{}", run.output);
    assert_eq!(run.report.to_string(), "exit status 3");
    assert_eq!(field(&run.output, "api"), Some("127.0.0.1:9001"));
    assert!(
        run.output
            .contains("task=/var/task runtime=/var/runtime cwd=/var/task"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("user=sbx_user1051 host=localhost"),
        "{}",
        run.output
    );
    assert!(run.output.contains("to-stderr"), "{}", run.output);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_host_filesystem_outside_the_plan_is_invisible() {
    let sb = sandbox();
    // A world-readable host file the instance was not given.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(secret_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();

    let f = Fixture::new();
    let mut spec = f.python_spec(
        "fs",
        r#"
import os
def ls(p):
    try: return ",".join(sorted(os.listdir(p)))
    except OSError as e: return type(e).__name__
def exists(p): return os.path.lexists(p)
print("root=" + ls("/root"))
print("pyenv=" + ls("/root/.pyenv"))
print("versions=" + ls("/root/.pyenv/versions"))
print("top=" + ls("/"))
for p in ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/home", "/work", "/sys", "/run", os.environ["SECRET"], os.environ["SECRET_DIR"]]:
    print("exists " + p + "=" + str(exists(p)))
root_fs = [l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo") if l.split()[4] == "/"]
print("rootfs=" + ",".join(root_fs))
"#,
    );
    spec.env = vec![
        ("SECRET".into(), secret.display().to_string()),
        ("SECRET_DIR".into(), secret_dir.path().display().to_string()),
    ];
    let run = f.run(sb, spec);
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    assert_eq!(field(&run.output, "root"), Some(".pyenv"), "{}", run.output);
    assert_eq!(field(&run.output, "pyenv"), Some("versions"));
    assert_eq!(field(&run.output, "versions"), Some("3.11.7"));
    assert_eq!(
        field(&run.output, "top"),
        Some("bin,dev,etc,lib,lib64,opt,proc,root,sbin,tmp,usr,var"),
        "{}",
        run.output
    );
    let exists: Vec<&str> = run
        .output
        .lines()
        .filter(|l| l.starts_with("exists "))
        .collect();
    assert_eq!(exists.len(), 9, "{}", run.output);
    for line in exists {
        assert!(line.ends_with("=False"), "{line}");
    }
    // The root is the instance's tmpfs: the host's root filesystem is not mounted.
    assert_eq!(
        field(&run.output, "rootfs"),
        Some("tmpfs"),
        "{}",
        run.output
    );
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn only_tmp_and_dev_shm_are_writable() {
    let sb = sandbox();
    let f = Fixture::new(); // code and runtime dirs are 0777 on the host
    let spec = f.python_spec(
        "ro",
        r#"
import errno
for p in ["/var/task/x", "/var/runtime/x", "/x", "/etc/x", "/usr/x", "/dev/x", "/root/.pyenv/versions/3.11.7/x", "/tmp/x", "/dev/shm/x"]:
    try:
        open(p, "w").write("x")
        print(p + "=ok")
    except OSError as e:
        print(p + "=" + errno.errorcode[e.errno])
"#,
    );
    let run = f.run(sb, spec);
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    // World-writable on the host: only the read-only mounts stop these.
    assert_eq!(
        field(&run.output, "/var/task/x"),
        Some("EROFS"),
        "{}",
        run.output
    );
    assert_eq!(field(&run.output, "/var/runtime/x"), Some("EROFS"));
    for p in [
        "/x",
        "/etc/x",
        "/usr/x",
        "/dev/x",
        "/root/.pyenv/versions/3.11.7/x",
    ] {
        let v = field(&run.output, p).unwrap();
        assert!(v == "EROFS" || v == "EACCES", "{p}={v}");
    }
    assert_eq!(field(&run.output, "/tmp/x"), Some("ok"));
    assert_eq!(field(&run.output, "/dev/shm/x"), Some("ok"));
    assert!(!f.code.path().join("x").exists());
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn tmp_is_limited_to_its_size() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap(
        "#!/bin/sh\n\
         dd if=/dev/zero of=/tmp/big bs=1M count=16 2>&1\n\
         echo size=$(wc -c < /tmp/big)\n",
    );
    let mut spec = f.spec("tmp");
    spec.tmp_mb = 8;
    spec.memory_mb = 256;
    let run = f.run(sb, spec);
    assert!(
        run.output.contains("No space left on device"),
        "{}",
        run.output
    );
    let size: u64 = field(&run.output, "size").unwrap().trim().parse().unwrap();
    assert!(size <= 8 << 20, "{size}");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn runs_as_an_unprivileged_user_without_capabilities() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\ncat /proc/self/status\necho ---\ncat /proc/1/status\n");
    let run = f.run(sb, f.spec("caps"));
    let (runtime, init) = run.output.split_once("---").expect("both status files");
    // The runtime, and the init once it has set the sandbox up.
    for (who, status) in [("runtime", runtime), ("init", init)] {
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| panic!("{who}: {key} missing in {status}"))
        };
        assert_eq!(field("Uid"), "993 993 993 993", "{who}");
        assert_eq!(field("Gid"), "990 990 990 990", "{who}");
        assert_eq!(field("Groups"), "990", "{who}");
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(cap), "0000000000000000", "{who} {cap}");
        }
        assert_eq!(field("NoNewPrivs"), "1", "{who}");
    }
    let seccomp = runtime
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(str::trim);
    assert_eq!(seccomp, Some("2"));
}

/// The seccomp allow list: a thread, a fork and exec, clone3 falling back to clone
/// (posix_spawn), a loopback socket and mprotect work; what the list leaves out
/// fails with EPERM (clone3 itself and unknown numbers with ENOSYS), and the
/// process lives on.
#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_seccomp_allow_list_runs_ordinary_programs_and_refuses_the_rest() {
    let sb = sandbox();
    let f = Fixture::new();
    let run = f.run(
        sb,
        f.python_spec(
            "seccomp",
            r#"
import ctypes, mmap, os, platform, socket, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": {"personality": 135, "bpf": 321, "clone3": 435},
      "aarch64": {"personality": 92, "bpf": 280, "clone3": 435}}[platform.machine()]
def sys(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return str(rc) if rc != -1 else os.strerror(ctypes.get_errno())
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", "exit 5"])
print("fork=%d" % os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
spawned = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 6"], {})
print("spawn=%d" % os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1]))
a, b = socket.socketpair(); a.send(b"x"); print("pair=" + b.recv(1).decode())
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); s.listen(1)
    print("tcp=" + str(socket.create_connection(s.getsockname()).fileno() > 0))
m = mmap.mmap(-1, 4096); m.write(b"ok"); m.close()
print("personality_query=" + sys(NR["personality"], 0xffffffff))
print("personality_rie=" + sys(NR["personality"], 0x0400000))
print("bpf=" + sys(NR["bpf"], 0, 0, 0))
print("clone3=" + sys(NR["clone3"], 0, 0))
print("unknown=" + sys(1000))
print("mount=" + str(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)) + " " + os.strerror(ctypes.get_errno()))
"#,
        ),
    );
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    let expect = [
        ("fork", "5"),
        ("spawn", "6"),
        ("pair", "x"),
        ("tcp", "True"),
        ("personality_query", "0"),
        ("personality_rie", "Operation not permitted"),
        ("bpf", "Operation not permitted"),
        ("clone3", "Function not implemented"),
        ("unknown", "Function not implemented"),
        ("mount", "-1 Operation not permitted"),
    ];
    for (key, want) in expect {
        assert_eq!(field(&run.output, key), Some(want), "{key}: {}", run.output);
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn pid_one_is_the_init_and_host_processes_are_invisible() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap(
        "#!/bin/sh\n\
         echo self=$$\n\
         echo pids=$(ls /proc | grep -c '^[0-9]')\n\
         echo init=$(tr '\\0' ' ' < /proc/1/cmdline)\n\
         echo host_test_pid_visible=$(test -e /proc/$HOST_PID && echo yes || echo no)\n",
    );
    let mut spec = f.spec("pid");
    spec.env = vec![("HOST_PID".into(), std::process::id().to_string())];
    let launched = sb.launch(&spec).unwrap();
    assert_ne!(launched.process.pid(), 1);
    let run = finish(launched, Duration::from_secs(30));
    assert_eq!(field(&run.output, "self"), Some("2"), "{}", run.output);
    let pids: u32 = field(&run.output, "pids").unwrap().parse().unwrap();
    // init, sh, and the few commands of the script itself.
    assert!(pids <= 8, "{}", run.output);
    assert!(field(&run.output, "init")
        .unwrap()
        .contains("gust-sandbox-init"));
    assert_eq!(field(&run.output, "host_test_pid_visible"), Some("no"));
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn proc_hides_kernel_internals_and_cannot_change_the_kernel() {
    let sb = sandbox();
    let f = Fixture::new();
    let spec = f.python_spec(
        "proc",
        r#"
import errno, os
def read(p):
    try:
        return str(len(open(p, "rb").read()))
    except OSError as e:
        return errno.errorcode[e.errno]
# World-readable on the host: kernel symbols (addresses zeroed for non-root, names
# not), timers, keys.
for p in ["/proc/kallsyms", "/proc/timer_list", "/proc/keys", "/proc/kcore"]:
    if os.path.exists(p):
        print(p + "=" + read(p))
if os.path.isdir("/proc/acpi"):
    print("acpi=" + ",".join(os.listdir("/proc/acpi")))
mounts = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    mounts[fields[4]] = fields[5]
for p in ["/proc", "/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"]:
    if p in mounts:
        print("mount " + p + "=" + mounts[p].split(",")[0])
print("status=" + str(len(open("/proc/self/status").read()) > 0))
print("meminfo=" + str(open("/proc/meminfo").read().startswith("MemTotal")))
print("hostname=" + open("/proc/sys/kernel/hostname").read().strip())
"#,
    );
    let run = f.run(sb, spec);
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    for p in ["/proc/kallsyms", "/proc/timer_list", "/proc/keys"] {
        if std::path::Path::new(p).exists() {
            assert_eq!(field(&run.output, p), Some("0"), "{p}: {}", run.output);
        }
    }
    if std::path::Path::new("/proc/acpi").exists() {
        assert_eq!(field(&run.output, "acpi"), Some(""), "{}", run.output);
    }
    // The instance's own /proc stays writable where it is its own (/proc/self).
    assert_eq!(
        field(&run.output, "mount /proc"),
        Some("rw"),
        "{}",
        run.output
    );
    for p in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"] {
        if std::path::Path::new(p).exists() {
            let key = format!("mount {p}");
            assert_eq!(field(&run.output, &key), Some("ro"), "{}", run.output);
        }
    }
    // What a runtime legitimately reads still works.
    assert_eq!(field(&run.output, "status"), Some("True"), "{}", run.output);
    assert_eq!(
        field(&run.output, "meminfo"),
        Some("True"),
        "{}",
        run.output
    );
    assert_eq!(field(&run.output, "hostname"), Some("localhost"));
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_network_is_the_instances_own_loopback_with_the_runtime_api() {
    let sb = sandbox();
    // A service on the host's loopback that the instance must not reach.
    let host_service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_service.local_addr().unwrap().port();
    let f = Fixture::new();
    let mut spec = f.python_spec(
        "net",
        r#"
import os, socket
try:
    socket.create_connection(("127.0.0.1", int(os.environ["HOST_PORT"])), timeout=2)
    print("host=connected")
except OSError as e:
    print("host=" + type(e).__name__)
print("ifaces=" + ",".join(n for _, n in socket.if_nameindex()))
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"hello from inside")
s.close()
"#,
    );
    spec.env = vec![("HOST_PORT".into(), host_port.to_string())];
    let launched = sb.launch(&spec).unwrap();
    // gust's side: accept the instance's connection on the Runtime API listener.
    let mut conn = None;
    wait_for(Duration::from_secs(20), || {
        if let Ok((c, _)) = launched.runtime_api.accept() {
            conn = Some(c);
        }
        conn.is_some() || launched.process.try_wait().is_some()
    });
    let Some(mut conn) = conn else {
        let run = finish(launched, Duration::from_secs(5));
        panic!("the instance never reached its Runtime API: {}", run.output);
    };
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello from inside");
    let run = finish(launched, Duration::from_secs(30));
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    assert_eq!(
        field(&run.output, "host"),
        Some("ConnectionRefusedError"),
        "{}",
        run.output
    );
    assert_eq!(field(&run.output, "ifaces"), Some("lo"));
    host_service.set_nonblocking(true).unwrap();
    assert!(
        host_service.accept().is_err(),
        "the host service was reached"
    );
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn dangerous_syscalls_fail_with_eperm() {
    let sb = sandbox();
    let f = Fixture::new();
    let spec = f.python_spec(
        "seccomp",
        r#"
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def sc(name, nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    print(name + "=" + ("ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]))
sc("mount", 165, 0, 0, 0, 0, 0)
sc("umount2", 166, 0, 0)
sc("unshare_user", 272, 0x10000000)
sc("unshare_net", 272, 0x40000000)
sc("ptrace_traceme", 101, 0, 0, 0, 0)
sc("setns", 308, 0, 0)
sc("keyctl", 250, 0, 0, 0, 0, 0)
sc("bpf", 321, 0, 0, 0)
sc("clone3", 435, 0, 0)
sc("pivot_root", 155, 0, 0)
sc("x32_mount", 0x40000000 | 165, 0, 0, 0, 0, 0)
for name, args in [("packet", (socket.AF_PACKET, socket.SOCK_DGRAM)), ("raw", (socket.AF_INET, socket.SOCK_RAW))]:
    try:
        socket.socket(*args); print(name + "=ok")
    except OSError as e:
        print(name + "=" + errno.errorcode[e.errno])
pid = os.fork()
if pid == 0:
    os._exit(5)
print("fork=" + str(os.waitpid(pid, 0)[1] >> 8))
"#,
    );
    let run = f.run(sb, spec);
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    // unshare(CLONE_NEWUSER) and PTRACE_TRACEME are allowed to any user without the
    // filter; mount and the rest would fail for lack of capabilities anyway.
    for name in [
        "mount",
        "umount2",
        "unshare_user",
        "unshare_net",
        "ptrace_traceme",
        "setns",
        "keyctl",
        "bpf",
        "pivot_root",
        "packet",
        "raw",
    ] {
        assert_eq!(
            field(&run.output, name),
            Some("EPERM"),
            "{name}: {}",
            run.output
        );
    }
    assert_eq!(field(&run.output, "clone3"), Some("ENOSYS"));
    assert_eq!(field(&run.output, "x32_mount"), Some("ENOSYS"));
    assert_eq!(field(&run.output, "fork"), Some("5"), "{}", run.output);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_fork_bomb_is_stopped_by_the_pids_limit() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nbomb() { bomb | bomb & }\nbomb\nsleep 600\n");
    let mut spec = f.spec("bomb");
    spec.memory_mb = 1024;
    let id = spec.instance_id.clone();
    let launched = sb.launch(&spec).unwrap();
    let events = pids_dir(sb, &id).join("pids.events");
    assert!(
        wait_for(Duration::from_secs(20), || keyed(&events, "max")
            .unwrap_or(0)
            > 0),
        "the pids limit was never hit"
    );
    let current: u64 = std::fs::read_to_string(pids_dir(sb, &id).join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 1024, "{current}");
    // The host is fine: it can still start processes.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
    let pids = cgroup_pids(sb, &id);
    launched.process.kill();
    drop(launched);
    for dir in cgroup_dirs(sb, "gust", &id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(pids.iter().all(|p| !alive(*p)), "processes left behind");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_memory_hog_is_oom_killed_and_reported() {
    let sb = sandbox();
    let f = Fixture::new();
    let mut spec = f.python_spec(
        "oom",
        r#"
chunks = []
while True:
    chunks.append(b"\x01" * (1 << 20))
"#,
    );
    spec.memory_mb = 64;
    let run = f.run(sb, spec);
    assert_eq!(
        run.report.signal,
        Some(libc::SIGKILL),
        "{:?} {}",
        run.report,
        run.output
    );
    assert!(run.report.oom_killed, "{:?}", run.report);
    assert_eq!(run.report.to_string(), "signal: killed");
    let peak = run.peak.expect("memory peak");
    assert!((60 << 20..=64 << 20).contains(&peak), "peak {peak}");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn an_instance_that_exits_normally_is_not_reported_oom() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nkill -SEGV $$\n");
    let run = f.run(sb, f.spec("segv"));
    assert_eq!(run.report.signal, Some(libc::SIGSEGV), "{:?}", run.report);
    assert_eq!(run.report.code, None);
    assert!(!run.report.oom_killed);
    assert_eq!(run.report.to_string(), "signal: segmentation fault");
    assert!(run.peak.unwrap() > 0);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_init_reaps_orphans() {
    let sb = sandbox();
    let f = Fixture::new();
    // The subshell exits at once, so its `sleep` is orphaned to pid 1; when that
    // sleep ends, only pid 1 can reap it.
    f.bootstrap(
        "#!/bin/sh\n\
         (sleep 0.1 &)\n\
         sleep 1\n\
         zombies=0\n\
         for s in /proc/[0-9]*/stat; do\n\
           case \"$(cut -d' ' -f3 \"$s\" 2>/dev/null)\" in Z) zombies=$((zombies+1));; esac\n\
         done\n\
         echo zombies=$zombies\n",
    );
    let run = f.run(sb, f.spec("reap"));
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    assert_eq!(field(&run.output, "zombies"), Some("0"), "{}", run.output);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn termination_signals_are_forwarded_to_the_runtime() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap(
        "#!/bin/sh\n\
         trap 'echo got-term; exit 0' TERM\n\
         echo ready\n\
         while :; do sleep 0.05; done\n",
    );
    let spec = f.spec("term");
    let id = spec.instance_id.clone();
    let launched = sb.launch(&spec).unwrap();
    assert!(wait_for(Duration::from_secs(10), || cgroup_pids(sb, &id)
        .len()
        >= 3));
    // What gust does for a graceful stop: SIGTERM to the instance's init.
    let init = launched.process.pid() as libc::pid_t;
    // SAFETY: the init has not been reaped, so its pid is still ours.
    let rc = unsafe { libc::kill(init, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let run = finish(launched, Duration::from_secs(10));
    assert!(run.output.contains("got-term"), "{}", run.output);
    assert_eq!(run.report.code, Some(0), "{:?}", run.report);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn kill_leaves_no_process_and_no_cgroup() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nsleep 600 &\n(sleep 600 &)\nsleep 600\n");
    let spec = f.spec("kill");
    let id = spec.instance_id.clone();
    let launched = sb.launch(&spec).unwrap();
    // init, sh, and three sleeps (one orphaned to init).
    assert!(wait_for(Duration::from_secs(10), || cgroup_pids(sb, &id)
        .len()
        >= 5));
    let pids = cgroup_pids(sb, &id);
    assert!(launched.process.memory_current_bytes().unwrap() > 0);
    launched.process.kill();
    launched.process.kill(); // idempotent
    let run = finish(launched, Duration::from_secs(10));
    assert_eq!(run.report.signal, Some(libc::SIGKILL), "{:?}", run.report);
    assert!(!run.report.oom_killed);
    assert!(pids.iter().all(|p| !alive(*p)), "processes left behind");
    for dir in cgroup_dirs(sb, "gust", &id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn dropping_a_running_instance_cleans_up() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nsleep 600\n");
    let spec = f.spec("drop");
    let id = spec.instance_id.clone();
    let launched = sb.launch(&spec).unwrap();
    let init = launched.process.pid();
    assert!(wait_for(Duration::from_secs(10), || cgroup_pids(sb, &id)
        .len()
        >= 3));
    let pids = cgroup_pids(sb, &id);
    assert!(pids.contains(&init));
    drop(launched);
    assert!(pids.iter().all(|p| !alive(*p)), "processes left behind");
    for dir in cgroup_dirs(sb, "gust", &id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn finish_init_lowers_the_cpu_quota_to_the_memory_share() {
    let sb = sandbox();
    if sb.cgroup_version() != "v1" {
        eprintln!("SKIPPED: reads cgroup v1 files");
        return;
    }
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nsleep 600\n");
    let spec = f.spec("cpu");
    let dir = std::path::Path::new("/sys/fs/cgroup/cpu/gust").join(&spec.instance_id);
    let launched = sb.launch(&spec).unwrap();
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    // 128 MB of 1769 MB per vCPU is 7.2 %: 1 ms (the kernel's least quota) every
    // 13.8 ms, so an instance over its share waits under 13 ms, not 93.
    assert_eq!(read("cpu.cfs_period_us"), "13821");
    assert_eq!(read("cpu.cfs_quota_us"), "13821"); // one vCPU while initialising
    launched.process.finish_init();
    assert_eq!(read("cpu.cfs_quota_us"), "1000");
    assert_eq!(read("cpu.cfs_period_us"), "13821");
    if dir.join("cpu.cfs_burst_us").exists() {
        assert_eq!(read("cpu.cfs_burst_us"), "1000"); // a saved quota's worth
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_init_boost_ends_by_itself_when_nobody_calls_finish_init() {
    let mut config = config();
    config.cpu.init_boost_max = Duration::from_secs(2);
    let sb = LinuxSandbox::probe_with(config).unwrap();
    if sb.cgroup_version() != "v1" {
        eprintln!("SKIPPED: reads cgroup v1 files");
        return;
    }
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nsleep 600\n");
    let spec = f.spec("boost");
    let quota = std::path::Path::new("/sys/fs/cgroup/cpu/gust")
        .join(&spec.instance_id)
        .join("cpu.cfs_quota_us");
    let _launched = sb.launch(&spec).unwrap();
    let read = || std::fs::read_to_string(&quota).unwrap().trim().to_string();
    assert_eq!(read(), "13821");
    assert!(
        wait_for(Duration::from_secs(15), || read() == "1000"),
        "quota still {}",
        read()
    );
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_spinning_function_is_held_to_its_cpu_share() {
    let sb = sandbox();
    let f = Fixture::new();
    // Two spinners: together they could take both cores of a small host.
    f.bootstrap("#!/bin/sh\n(while :; do :; done) &\nwhile :; do :; done\n");
    let spec = f.spec("spin"); // 128 MB: 7% of a vCPU
    let stat = match sb.cgroup_version() {
        "v1" => PathBuf::from("/sys/fs/cgroup/cpu/gust"),
        _ => PathBuf::from("/sys/fs/cgroup/gust"),
    }
    .join(&spec.instance_id)
    .join("cpu.stat");
    let launched = sb.launch(&spec).unwrap();
    launched.process.finish_init();
    let start = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(600));
    // The instance's CPU time, from the host's view of its processes.
    let cpu_ms: u64 = cgroup_pids(sb, &spec.instance_id)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .map(|s| {
            let fields: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
            // utime and stime, in clock ticks (100 per second).
            (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) * 10
        })
        .sum();
    let wall_ms = start.elapsed().as_millis() as u64;
    let throttled = keyed(&stat, "nr_throttled").unwrap_or(0);
    drop(launched);
    assert!(throttled > 0, "never throttled");
    // 7% of the wall time, with room for the first period's full quota and ticks.
    assert!(
        cpu_ms < wall_ms / 4,
        "used {cpu_ms} ms of CPU in {wall_ms} ms"
    );
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn launch_errors_say_what_is_wrong_and_leave_nothing() {
    let sb = sandbox();
    let f = Fixture::new();
    // No bootstrap in the code directory.
    let spec = f.spec("noboot");
    let err = match sb.launch(&spec) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("launched without a bootstrap"),
    };
    assert!(err.contains("executing /var/task/bootstrap"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    for dir in cgroup_dirs(sb, "gust", &spec.instance_id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // A host path that does not exist.
    let mut spec = f.spec("nohost");
    spec.host_paths = vec![PathBuf::from("/nonexistent/prefix")];
    let err = sb.launch(&spec).err().expect("launched").to_string();
    assert!(err.contains("/nonexistent/prefix"), "{err}");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn probe_says_when_the_init_program_does_not_start() {
    let config = gust_sandbox::linux::LinuxSandboxConfig {
        init_program: "/bin/true".into(),
        ..config()
    };
    match LinuxSandbox::probe_with(config) {
        Err(SandboxError::Unavailable(msg)) => {
            assert!(msg.contains("init exited before it was ready"), "{msg}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_pool_hands_out_prepared_sandboxes_and_cleans_up_on_drop() {
    let parent = format!("gust-test-pool-{}", std::process::id());
    let sb = LinuxSandbox::probe_with(gust_sandbox::linux::LinuxSandboxConfig {
        cgroup_parent: parent.clone().into(),
        ..config()
    })
    .unwrap()
    .with_pool(2);
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready() == 2));
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\necho pooled $(id -u) nice=$(nice)\n");
    let spec = f.spec("pooled");
    let (launched, timings) = sb.launch_timed(&spec).unwrap();
    assert_eq!(timings[0].0, "take pooled sandbox", "{timings:?}");
    // The pooled cgroup now carries the instance's name.
    assert!(cgroup_dirs(&sb, &parent, &spec.instance_id)
        .iter()
        .all(|d| d.exists()));
    let run = finish(launched, Duration::from_secs(30));
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    // The pool starts inits at a low priority; the function runs at the normal one.
    assert!(run.output.contains("pooled 993 nice=0"), "{}", run.output);
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready() == 2));
    let version = sb.cgroup_version();
    drop(sb);
    // Nothing of the pool is left: every instance cgroup under the parent is gone.
    let roots: Vec<PathBuf> = match version {
        "v1" => v1_controllers()
            .iter()
            .map(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(&parent))
            .collect(),
        _ => vec![PathBuf::from("/sys/fs/cgroup").join(&parent)],
    };
    for root in roots {
        let children: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name())
            .collect();
        assert!(children.is_empty(), "{}: {children:?}", root.display());
        std::fs::remove_dir(&root).unwrap();
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn probe_removes_empty_cgroups_left_by_a_dead_gust() {
    let parent = format!("gust-test-stale-{}", std::process::id());
    let config = gust_sandbox::linux::LinuxSandboxConfig {
        cgroup_parent: parent.clone().into(),
        stale_cgroup_age: Duration::ZERO,
        ..config()
    };
    let sb = LinuxSandbox::probe_with(config.clone()).unwrap();
    let dead = cgroup_dirs(&sb, &parent, "left-behind");
    let busy = cgroup_dirs(&sb, &parent, "still-running");
    for d in dead.iter().chain(&busy) {
        std::fs::create_dir(d).unwrap();
    }
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    for d in &busy {
        std::fs::write(d.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    }
    drop(sb);
    let _sb = LinuxSandbox::probe_with(config).unwrap();
    let gone = dead.iter().all(|d| !d.exists());
    let kept = busy.iter().all(|d| d.exists());
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    // Leave the host as it was: the test's cgroups and parent go.
    for d in dead.iter().chain(&busy) {
        let _ = std::fs::remove_dir(d);
        let _ = std::fs::remove_dir(d.parent().unwrap());
    }
    assert!(gone, "the empty leftover was not removed");
    assert!(kept, "a cgroup with a process in it was removed");
}

/// Not a test: the process `a_dead_gusts_pool_leaves_no_cgroup` starts and kills.
#[test]
#[ignore = "a helper process of a_dead_gusts_pool_leaves_no_cgroup"]
fn helper_holding_a_pool() {
    let Ok(parent) = std::env::var("GUST_TEST_POOL_PARENT") else {
        return;
    };
    let sb = LinuxSandbox::probe_with(gust_sandbox::linux::LinuxSandboxConfig {
        cgroup_parent: parent.into(),
        ..config()
    })
    .unwrap()
    .with_pool(2);
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready() == 2));
    println!("POOL READY");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_dead_gusts_pool_leaves_no_cgroup() {
    use std::io::BufRead;
    let parent = format!("gust-test-dead-{}", std::process::id());
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_holding_a_pool",
            "--ignored",
            "--nocapture",
        ])
        .env("GUST_TEST_POOL_PARENT", &parent)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(helper.stdout.take().unwrap()).lines();
    let ready = lines.any(|l| l.is_ok_and(|l| l.contains("POOL READY")));
    let mut controllers = v1_controllers();
    controllers.push("");
    let roots: Vec<PathBuf> = controllers
        .iter()
        .map(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(&parent))
        .filter(|p| p.is_dir())
        .collect();
    let children = |root: &PathBuf| {
        std::fs::read_dir(root)
            .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
            .unwrap_or(0)
    };
    let pooled = roots.iter().map(children).sum::<usize>();
    // gust dies without cleaning up.
    helper.kill().unwrap();
    helper.wait().unwrap();
    let released = wait_for(Duration::from_secs(10), || {
        roots.iter().all(|r| children(r) == 0)
    });
    // Leave the host clean even when the check fails.
    for r in &roots {
        for e in std::fs::read_dir(r).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(e.path());
        }
        let _ = std::fs::remove_dir(r);
    }
    assert!(ready, "the helper never filled its pool");
    assert!(pooled >= 2, "no pooled cgroups under {parent}");
    assert!(released, "the pooled sandboxes left their cgroups behind");
}

/// Whether every one of `programs` is on the PATH.
fn installed(programs: &[&str]) -> bool {
    programs.iter().all(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    })
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn an_outbound_instance_reaches_neither_the_host_nor_its_loopback() {
    let sb = sandbox();
    if !installed(&["ip", "nsenter", "nft"]) {
        eprintln!("SKIPPED: outbound network needs ip, nsenter and nft on the host");
        return;
    }
    // A service on all the host's addresses: the instance reaches it neither
    // through the host end of its link nor through the host's loopback.
    let service = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = service.local_addr().unwrap().port();
    let f = Fixture::new();
    let mut spec = f.python_spec(
        "outbound",
        r#"
import os, socket
port = int(os.environ["HOST_PORT"])
print("ifaces=" + ",".join(sorted(n for _, n in socket.if_nameindex())))
gateway = None
for line in open("/proc/net/route").read().splitlines()[1:]:
    fields = line.split()
    if fields[1] == "00000000":
        gateway = socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
print("gateway=" + str(gateway))
for name, host in [("loopback", "127.0.0.1"), ("link", gateway)]:
    try:
        socket.create_connection((host, port), timeout=2)
        print(name + "=connected")
    except OSError as e:
        print(name + "=" + type(e).__name__)
"#,
    );
    spec.outbound = true;
    spec.env = vec![("HOST_PORT".into(), port.to_string())];
    let run = f.run(sb, spec);
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    assert_eq!(
        field(&run.output, "ifaces"),
        Some("eth0,lo"),
        "{}",
        run.output
    );
    assert_eq!(
        field(&run.output, "loopback"),
        Some("ConnectionRefusedError"),
        "{}",
        run.output
    );
    // Dropped by the host's input rules: no answer at all.
    assert_eq!(
        field(&run.output, "link"),
        Some("TimeoutError"),
        "{}",
        run.output
    );
    service.set_nonblocking(true).unwrap();
    assert!(service.accept().is_err(), "the host's service was reached");
    let gateway = field(&run.output, "gateway").unwrap().to_string();
    assert!(gateway.starts_with("10.213."), "{}", run.output);
    // The link went with the instance's namespace.
    let gone = wait_for(Duration::from_secs(10), || {
        let out = std::process::Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .unwrap();
        !String::from_utf8_lossy(&out.stdout).contains(&format!("inet {gateway}/"))
    });
    assert!(gone, "the host end {gateway} outlived the instance");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_pool_links_sandboxes_ahead_once_outbound_network_is_in_use() {
    if !installed(&["ip", "nsenter", "nft"]) {
        eprintln!("SKIPPED: needs ip, nsenter and nft");
        return;
    }
    // A subnet of its own, so that the links it leaves (none) can be told from other
    // gusts' on this host.
    let sb = LinuxSandbox::probe_with(gust_sandbox::linux::LinuxSandboxConfig {
        outbound_subnet: std::net::Ipv4Addr::new(10, 219, 0, 0),
        ..config()
    })
    .unwrap()
    .with_pool(2);
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready() == 2));
    // No function has asked for a link yet: no sandbox has one.
    assert_eq!(sb.pool_ready_linked(), 0);
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nls /sys/class/net 2>/dev/null || cat /proc/net/dev\n");
    let outbound = |id: &str| gust_sandbox::LaunchSpec {
        outbound: true,
        ..f.spec(id)
    };
    // The first outbound launch links a generic sandbox on its way...
    let (first, timings) = sb.launch_timed(&outbound("link-now")).unwrap();
    assert!(
        timings
            .iter()
            .any(|(s, _)| s.starts_with("outbound network")),
        "{timings:?}"
    );
    let run = finish(first, Duration::from_secs(30));
    assert!(run.output.contains("eth0"), "{}", run.output);
    // ...and from then on the pool keeps linked ones, which the next takes as is.
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready_linked() == 1));
    let (second, timings) = sb.launch_timed(&outbound("linked-ahead")).unwrap();
    assert_eq!(
        timings[0].0, "take pooled sandbox (outbound link made ahead)",
        "{timings:?}"
    );
    assert!(!timings
        .iter()
        .any(|(s, _)| s.starts_with("outbound network")));
    let run = finish(second, Duration::from_secs(30));
    assert!(run.output.contains("eth0"), "{}", run.output);
    // A function without outbound network still gets a sandbox without a link.
    let run = f.run(&sb, f.spec("no-link"));
    assert!(!run.output.contains("eth0"), "{}", run.output);
    // Dropping the pool takes its linked sandboxes' links with it.
    assert!(wait_for(Duration::from_secs(60), || sb.pool_ready_linked() == 1));
    drop(sb);
    let gone = wait_for(Duration::from_secs(10), || {
        let out = std::process::Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .unwrap();
        !String::from_utf8_lossy(&out.stdout).contains("inet 10.219.")
    });
    assert!(gone, "the pool's links outlived it");
}

/// A runtime that honours the prewarm protocol: waits for its function's
/// configuration on `_GUST_PREWARM_FD`, then reports what it sees.
const PREWARMED_PROGRAM: &str = r#"
import json, os, sys
before = sorted(os.environ)
fd = os.environ.pop("_GUST_PREWARM_FD", None)
if fd is not None:
    data = b""
    while True:
        chunk = os.read(int(fd), 4096)
        if not chunk:
            break
        data += chunk
    config = json.loads(data)
    os.environ.clear()
    os.environ.update(config["env"])
    os.chdir(config["cwd"])
print(json.dumps({
    "prewarmed": fd is not None,
    "started_with": before,
    "function": os.environ.get("FUNCTION"),
    "code": sorted(os.listdir(".")),
    "cwd": os.getcwd(),
    "uid": os.getuid(),
    "nice": os.nice(0),
    "tmp_size": os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize,
}))
"#;

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_prewarmed_runtime_gets_its_function_and_a_mismatch_starts_afresh() {
    let sb = LinuxSandbox::probe_with(config()).unwrap().with_pool(1);
    let f = Fixture::new();
    std::fs::write(f.code.path().join("handler.py"), "x = 1\n").unwrap();
    let template_spec = f.python_spec("template", PREWARMED_PROGRAM);
    sb.prewarm(gust_sandbox::PrewarmTemplate {
        entrypoint: template_spec.entrypoint.clone(),
        runtime_dir: template_spec.runtime_dir.clone(),
        host_paths: template_spec.host_paths.clone(),
        startup_env: vec![("TZ".into(), ":UTC".into())],
        startup_prefixes: vec!["PYTHON".into()],
        count: 1,
    });
    assert!(wait_for(Duration::from_secs(60), || sb
        .pool_ready_prewarmed()
        == 1));

    let spec = LaunchSpec {
        env: vec![
            ("FUNCTION".into(), "f1".into()),
            ("TZ".into(), ":UTC".into()),
        ],
        tmp_mb: 32,
        ..f.python_spec("prewarmed", PREWARMED_PROGRAM)
    };
    let (launched, timings) = sb.launch_timed(&spec).unwrap();
    assert_eq!(timings[0].0, "take prewarmed runtime", "{timings:?}");
    let run = finish(launched, Duration::from_secs(30));
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    let seen: serde_json::Value = serde_json::from_str(run.output.trim()).unwrap();
    assert_eq!(seen["prewarmed"], true, "{seen}");
    // It started before its function: only the startup environment then.
    let started_with: Vec<&str> = seen["started_with"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!started_with.contains(&"FUNCTION"), "{started_with:?}");
    assert_eq!(seen["function"], "f1");
    assert_eq!(seen["code"], serde_json::json!(["handler.py"]));
    assert_eq!(seen["cwd"], "/var/task");
    assert_eq!(seen["uid"], 993);
    assert_eq!(seen["nice"], 0, "the function runs at the normal priority");
    assert_eq!(seen["tmp_size"], 32 * 1024 * 1024);

    // A function that changes how Python starts is not given a prewarmed runtime.
    assert!(wait_for(Duration::from_secs(60), || sb
        .pool_ready_prewarmed()
        == 1));
    let mismatch = LaunchSpec {
        env: vec![
            ("TZ".into(), ":UTC".into()),
            ("PYTHONHASHSEED".into(), "0".into()),
        ],
        ..f.python_spec("afresh", PREWARMED_PROGRAM)
    };
    let (launched, timings) = sb.launch_timed(&mismatch).unwrap();
    assert_ne!(timings[0].0, "take prewarmed runtime", "{timings:?}");
    let run = finish(launched, Duration::from_secs(30));
    let seen: serde_json::Value = serde_json::from_str(run.output.trim()).unwrap();
    assert_eq!(seen["prewarmed"], false, "{seen}");
    assert_eq!(sb.pool_ready_prewarmed(), 1);
}

/// Whether the table outbound network sets up is there, and its forward policy.
fn outbound_table() -> Option<String> {
    let out = std::process::Command::new("nft")
        .args(["list", "chain", "ip", "gust_outbound", "forward"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| {
        let policy = text.split("policy ").nth(1).unwrap_or("");
        policy.split(';').next().unwrap_or("").to_string()
    })
}

fn ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .unwrap()
        .trim()
        .to_string()
}

/// Launches one instance with outbound network and checks it got its link.
fn run_outbound(sb: &LinuxSandbox, f: &Fixture) {
    let spec = gust_sandbox::LaunchSpec {
        outbound: true,
        ..f.spec("own-netns")
    };
    let run = f.run(sb, spec);
    assert!(run.output.contains("eth0"), "{}", run.output);
}

/// Not a test: run by `the_last_gust_to_leave_undoes_the_outbound_set_up`, in a
/// network namespace of its own, so that no other gust on the host shares its
/// forwarding setting, nftables table or registry.
#[test]
#[ignore = "a helper process of the_last_gust_to_leave_undoes_the_outbound_set_up"]
fn helper_outbound_in_its_own_network_namespace() {
    let Ok(role) = std::env::var("GUST_TEST_NETNS_ROLE") else {
        return;
    };
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\ncat /proc/net/dev\n");
    if role == "killed" {
        let sb = LinuxSandbox::probe_with(config()).unwrap();
        run_outbound(&sb, &f);
        println!("JOINED");
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    // Forwarding off, as on a host that forwards nothing: two sandboxes (two gusts)
    // use outbound network; it is restricted to their links, and stays until the
    // last one goes.
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
    assert_eq!(outbound_table(), None);
    let first = LinuxSandbox::probe_with(config()).unwrap();
    let second = LinuxSandbox::probe_with(config()).unwrap();
    run_outbound(&first, &f);
    run_outbound(&second, &f);
    assert_eq!(ip_forward(), "1");
    assert_eq!(outbound_table().as_deref(), Some("drop"));
    drop(first);
    assert_eq!(
        outbound_table().as_deref(),
        Some("drop"),
        "removed under a user"
    );
    assert_eq!(ip_forward(), "1");
    drop(second);
    assert_eq!(outbound_table(), None, "the last user left the table");
    assert_eq!(ip_forward(), "0", "forwarding was not turned back off");

    // Forwarding already on: someone else's, so it stays on and is not restricted.
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    let sb = LinuxSandbox::probe_with(config()).unwrap();
    run_outbound(&sb, &f);
    assert_eq!(outbound_table().as_deref(), Some("accept"));
    drop(sb);
    assert_eq!(outbound_table(), None);
    assert_eq!(ip_forward(), "1");

    // A gust killed while using it: the next one to start undoes its set-up.
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
    use std::io::BufRead;
    let mut killed = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_outbound_in_its_own_network_namespace",
            "--ignored",
            "--nocapture",
        ])
        .env("GUST_TEST_NETNS_ROLE", "killed")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(killed.stdout.take().unwrap()).lines();
    let joined = lines.any(|l| l.is_ok_and(|l| l.contains("JOINED")));
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(joined, "the helper never used outbound network");
    assert_eq!(outbound_table().as_deref(), Some("drop"));
    let _next = LinuxSandbox::probe_with(config()).unwrap();
    assert_eq!(outbound_table(), None, "a killed gust's table outlived it");
    assert_eq!(ip_forward(), "0");
    println!("OWN NETNS OK");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn the_last_gust_to_leave_undoes_the_outbound_set_up() {
    if !installed(&["ip", "nsenter", "nft", "unshare"]) {
        eprintln!("SKIPPED: needs ip, nsenter, nft and unshare");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args([
            "--exact",
            "helper_outbound_in_its_own_network_namespace",
            "--ignored",
            "--nocapture",
        ])
        .env("GUST_TEST_NETNS_ROLE", "main")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("OWN NETNS OK"),
        "{text}"
    );
}

/// Reads what the instance wrote so far, without blocking.
fn drain(out: &mut std::fs::File) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = out.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Waits until the kernel reports the instance frozen, asking again as gust does: a
/// v1 freeze that finds a task between states (a `vfork` parent waiting for its
/// child, say) stays FREEZING until FROZEN is written again.
fn frozen_soon(p: &dyn gust_sandbox::InstanceProcess) -> bool {
    wait_for(Duration::from_secs(10), || {
        p.frozen() == Some(true) || !p.freeze()
    }) && p.frozen() == Some(true)
}

/// An instance that prints a tick every 10 ms, its output, and its instance id.
fn ticking(
    sb: &LinuxSandbox,
    f: &Fixture,
    id: &str,
) -> (gust_sandbox::Launched, std::fs::File, String) {
    f.bootstrap("#!/bin/sh\nwhile :; do echo tick; sleep 0.01; done\n");
    let spec = f.spec(id);
    let mut launched = sb.launch(&spec).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let out = std::mem::replace(&mut launched.output, null.into());
    (launched, out.into(), spec.instance_id)
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_frozen_instance_does_not_run_until_thawed() {
    let sb = sandbox();
    let f = Fixture::new();
    let (launched, mut out, _) = ticking(sb, &f, "freeze");
    let p = &launched.process;
    let mut seen = String::new();
    assert!(wait_for(Duration::from_secs(10), || {
        seen.push_str(&drain(&mut out));
        seen.matches("tick").count() >= 3
    }));
    if !p.freeze() {
        eprintln!("SKIPPED: this host's cgroups have no freezer");
        return;
    }
    assert!(frozen_soon(&**p));
    // Once frozen, nothing more comes out: 30 ticks' worth of time, no tick.
    drain(&mut out);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        drain(&mut out).matches("tick").count(),
        0,
        "ticked while frozen"
    );
    // Its memory is still measured while frozen.
    assert!(p.memory_peak_bytes().unwrap() > 0);
    assert!(p.memory_current_bytes().unwrap() > 0);
    // Thawed when the write returns, and ticking again.
    p.thaw().unwrap();
    assert_eq!(p.frozen(), Some(false));
    let mut after = String::new();
    assert!(wait_for(Duration::from_secs(10), || {
        after.push_str(&drain(&mut out));
        after.matches("tick").count() >= 3
    }));
    // Thawing what is not frozen changes nothing.
    p.thaw().unwrap();
    assert_eq!(p.frozen(), Some(false));
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_frozen_instance_is_killed_and_leaves_nothing() {
    let sb = sandbox();
    let f = Fixture::new();
    let (launched, _out, id) = ticking(sb, &f, "freeze-kill");
    assert!(wait_for(Duration::from_secs(10), || cgroup_pids(sb, &id)
        .len()
        >= 2));
    let pids = cgroup_pids(sb, &id);
    if !launched.process.freeze() {
        eprintln!("SKIPPED: this host's cgroups have no freezer");
        return;
    }
    assert!(frozen_soon(&*launched.process));
    // A v1-frozen process ignores SIGKILL until thawed: kill must see to that.
    launched.process.kill();
    let run = finish(launched, Duration::from_secs(10));
    assert_eq!(run.report.signal, Some(libc::SIGKILL), "{:?}", run.report);
    assert!(!run.report.oom_killed);
    assert!(pids.iter().all(|p| !alive(*p)), "processes left behind");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn dropping_a_frozen_instance_cleans_up() {
    let sb = sandbox();
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\nsleep 600 &\nsleep 600\n");
    let spec = f.spec("freeze-drop");
    let id = spec.instance_id.clone();
    let launched = sb.launch(&spec).unwrap();
    assert!(wait_for(Duration::from_secs(10), || cgroup_pids(sb, &id)
        .len()
        >= 4));
    let pids = cgroup_pids(sb, &id);
    if !launched.process.freeze() {
        eprintln!("SKIPPED: this host's cgroups have no freezer");
        return;
    }
    assert!(frozen_soon(&*launched.process));
    // Dropping waits for the init to be reaped: it must not hang on frozen tasks.
    drop(launched);
    assert!(pids.iter().all(|p| !alive(*p)), "processes left behind");
    for dir in cgroup_dirs(sb, "gust", &id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_frozen_instance_stops_growing_and_is_still_oom_killed_after_a_thaw() {
    let sb = sandbox();
    let f = Fixture::new();
    let mut spec = f.python_spec(
        "freeze-oom",
        r#"
import time
chunks = []
while True:
    chunks.append(b"\x01" * (1 << 20))
    time.sleep(0.02)
"#,
    );
    spec.memory_mb = 64;
    let launched = sb.launch(&spec).unwrap();
    let p = &launched.process;
    assert!(wait_for(Duration::from_secs(10), || p
        .memory_current_bytes()
        .is_some_and(|b| b > 16 << 20)));
    if !p.freeze() {
        eprintln!("SKIPPED: this host's cgroups have no freezer");
        return;
    }
    assert!(frozen_soon(&**p));
    let frozen_at = p.memory_current_bytes().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // 15 allocations' worth of time, not one more MiB (the kernel's counter moves
    // by a few pages on its own: per-CPU charge batches, reclaim).
    let after = p.memory_current_bytes().unwrap();
    assert!(after < frozen_at + (512 << 10), "{frozen_at} -> {after}");
    assert!(p.memory_peak_bytes().unwrap() >= frozen_at);
    p.thaw().unwrap();
    let run = finish(launched, Duration::from_secs(30));
    assert_eq!(run.report.signal, Some(libc::SIGKILL), "{:?}", run.report);
    assert!(run.report.oom_killed, "{:?}", run.report);
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_disk_tmp_is_its_own_ext4_of_its_size_and_fresh_in_every_instance() {
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let sb = LinuxSandbox::probe_with(gust_sandbox::linux::LinuxSandboxConfig {
        scratch_dir: Some(scratch.path().to_path_buf()),
        ..config()
    })
    .unwrap();
    if !sb.tmp_on_disk() {
        eprintln!("SKIPPED: /tmp cannot be put on disk here (loop devices or mkfs.ext4 missing)");
        return;
    }
    let f = Fixture::new();
    f.bootstrap(
        "#!/bin/sh\n\
         echo before=$(ls -A /tmp | tr '\\n' ,)\n\
         grep ' /tmp ' /proc/self/mountinfo | sed 's/^/mount=/'\n\
         touch /tmp/left-behind\n\
         dd if=/dev/zero of=/tmp/big bs=1M count=32 2>&1\n\
         echo size=$(wc -c < /tmp/big)\n",
    );
    for round in 0..2 {
        let mut spec = f.spec(&format!("disk-tmp-{round}"));
        spec.tmp_mb = 16;
        let run = f.run(&sb, spec);
        // Empty at start, though the instance before left a file and filled it.
        assert_eq!(field(&run.output, "before"), Some(""), "{}", run.output);
        let mount = field(&run.output, "mount").unwrap_or("");
        assert!(mount.contains(" - ext4 "), "{}", run.output);
        assert!(
            mount.contains("nosuid") && mount.contains("nodev"),
            "{mount}"
        );
        assert!(
            run.output.contains("No space left on device"),
            "{}",
            run.output
        );
        let size: u64 = field(&run.output, "size").unwrap().trim().parse().unwrap();
        // A filesystem this small spends ~10% on its own metadata.
        assert!((13 << 20..=16 << 20).contains(&size), "{size}");
    }
    drop(sb);
    // Nothing left in the scratch directory: images are unlinked once mounted.
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
