//! The runtime's seccomp filter: an allow list, built by Firecracker's `seccompiler`.
//!
//! A runtime may make the syscalls below and nothing else. Any other syscall fails
//! with `EPERM`, so a function gets a clean error instead of being killed (the
//! filter never kills a process). A few answer `ENOSYS` instead, because that is
//! the errno on which libc and language runtimes fall back to an older call:
//!
//! - `clone3`: its flags sit in memory a filter cannot read; glibc's `pthread_create`
//!   and `posix_spawn` then fall back to `clone`, whose flags the filter checks;
//! - syscall numbers past the last one this list knows about ([`FIRST_UNKNOWN`]),
//!   so that a newer glibc probing a syscall newer than the list falls back
//!   (`faccessat2`, `fchmodat2`, `statx` and `rseq`, the probes of today's glibc,
//!   Go and Node, are allowed); this also answers x32 numbers (`nr | 0x40000000`);
//! - a foreign ABI (i386 through `int 0x80`): seccompiler's own check would kill
//!   the process there.
//!
//! Those three answers are a fixed seven-instruction prefix ([`prefix`]) put before
//! seccompiler's program; everything else, per syscall and per argument, is
//! seccompiler's.
//!
//! Some syscalls are allowed only with some arguments: `clone` and `unshare`
//! without namespace flags, `socket` for Unix, netlink, and TCP/UDP/SCTP over
//! IPv4 and IPv6 (no raw or packet sockets, no other families), `mknod(at)` for
//! FIFOs, sockets and regular files (no device nodes), and `personality` with the
//! benign personas Docker's default profile allows (see [`PERSONAS`]).
//!
//! # Where the list comes from, and how to refresh it
//!
//! The list is the union of a recorded profile and a review of Docker's default
//! profile (moby/profiles/seccomp/default.json). The recorded profile,
//! `seccomp_profile/recorded.txt` next to this file, is what the runtimes made under
//! the filter while the e2e tests that run real workloads ran: the Python 3.11 and
//! Node.js 20 bootstraps (threads, subprocesses, asyncio, loopback sockets,
//! mmap/mprotect, signals, boto3; worker threads, child processes, files, crypto),
//! awslambdaric, a shell bootstrap using curl, and static C and Rust bootstraps.
//! `seccomp_profile/record.sh` reproduces it (root, strace, a built gust); a unit
//! test checks that every recorded syscall is allowed here or is one this file
//! refuses on purpose ([`REFUSED`]). Docker's list added what the recording cannot
//! be expected to hit (SysV IPC, AIO, xattrs, scheduling, timers...), minus what a
//! function has no business doing. [`REFUSED`] names what stays out and why.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    BackendError, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// A syscall: its name (the `SYS_` constant's, without the prefix) and number.
type Syscall = (&'static str, libc::c_long);

/// `(name, libc::SYS_name)` pairs; the names are what `strace` prints.
macro_rules! syscalls {
    ($($sys:ident),* $(,)?) => {
        &[$((strip_sys(stringify!($sys)), libc::$sys)),*]
    };
}

const fn strip_sys(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'S', b'Y', b'S', b'_', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(_) => name,
        },
        _ => name,
    }
}

// Since Linux 5.1 (424, pidfd_send_signal) every architecture numbers new syscalls
// alike; libc lacks constants for some of them.
const SYS_CACHESTAT: libc::c_long = 451;
const SYS_FCHMODAT2: libc::c_long = 452;
#[cfg(target_arch = "x86_64")]
const SYS_MAP_SHADOW_STACK: libc::c_long = 453;
const SYS_FUTEX_WAKE: libc::c_long = 454;
const SYS_FUTEX_WAIT: libc::c_long = 455;
const SYS_FUTEX_REQUEUE: libc::c_long = 456;
/// x86_64's own number (before the common numbering's range).
#[cfg(target_arch = "x86_64")]
const SYS_URETPROBE: libc::c_long = 335;

/// Syscall numbers from here up answer `ENOSYS`: 463 follows `mseal` (462), the last
/// syscall of Linux 6.12, whose table seccompiler 0.5 carries. Raise it with the
/// list when allowing a newer syscall.
pub(crate) const FIRST_UNKNOWN: u32 = 463;

/// Allowed whatever their arguments, on every architecture.
const ALWAYS: &[Syscall] = syscalls![
    // Files and descriptors.
    SYS_read,
    SYS_write,
    SYS_readv,
    SYS_writev,
    SYS_pread64,
    SYS_pwrite64,
    SYS_preadv,
    SYS_pwritev,
    SYS_preadv2,
    SYS_pwritev2,
    SYS_openat,
    SYS_openat2,
    SYS_close,
    SYS_close_range,
    SYS_lseek,
    SYS_dup,
    SYS_dup3,
    SYS_fcntl,
    SYS_flock,
    SYS_ioctl,
    SYS_fsync,
    SYS_fdatasync,
    SYS_sync,
    SYS_syncfs,
    SYS_truncate,
    SYS_ftruncate,
    SYS_fallocate,
    SYS_fadvise64,
    SYS_readahead,
    SYS_getdents64,
    SYS_getcwd,
    SYS_chdir,
    SYS_fchdir,
    SYS_mkdirat,
    SYS_unlinkat,
    SYS_renameat2,
    SYS_linkat,
    SYS_symlinkat,
    SYS_readlinkat,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_newfstatat,
    SYS_fstat,
    SYS_statx,
    SYS_statfs,
    SYS_fstatfs,
    SYS_utimensat,
    SYS_umask,
    SYS_copy_file_range,
    SYS_sendfile,
    SYS_splice,
    SYS_tee,
    SYS_vmsplice,
    SYS_getxattr,
    SYS_lgetxattr,
    SYS_fgetxattr,
    SYS_setxattr,
    SYS_lsetxattr,
    SYS_fsetxattr,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_flistxattr,
    SYS_removexattr,
    SYS_lremovexattr,
    SYS_fremovexattr,
    SYS_inotify_init1,
    SYS_inotify_add_watch,
    SYS_inotify_rm_watch,
    SYS_memfd_create,
    SYS_pipe2,
    // Asynchronous I/O (not io_uring).
    SYS_io_setup,
    SYS_io_destroy,
    SYS_io_submit,
    SYS_io_cancel,
    SYS_io_getevents,
    // Waiting for descriptors.
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_ppoll,
    SYS_pselect6,
    SYS_eventfd2,
    SYS_signalfd4,
    SYS_timerfd_create,
    SYS_timerfd_settime,
    SYS_timerfd_gettime,
    // Memory.
    SYS_brk,
    SYS_mmap,
    SYS_munmap,
    SYS_mremap,
    SYS_mprotect,
    SYS_madvise,
    SYS_msync,
    SYS_mincore,
    SYS_mlock,
    SYS_mlock2,
    SYS_munlock,
    SYS_mlockall,
    SYS_munlockall,
    SYS_membarrier,
    SYS_get_mempolicy,
    SYS_set_mempolicy,
    SYS_mbind,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_mseal,
    // Processes and threads (clone: see CONDITIONAL; clone3: ENOSYS).
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_wait4,
    SYS_waitid,
    SYS_set_tid_address,
    SYS_set_robust_list,
    SYS_get_robust_list,
    SYS_futex,
    SYS_futex_waitv,
    SYS_rseq,
    SYS_gettid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpgid,
    SYS_setpgid,
    SYS_getsid,
    SYS_setsid,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_prctl,
    SYS_seccomp,
    SYS_landlock_create_ruleset,
    SYS_landlock_add_rule,
    SYS_landlock_restrict_self,
    // Credentials (what the kernel lets an unprivileged process do with them).
    SYS_getuid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getegid,
    SYS_getresuid,
    SYS_getresgid,
    SYS_getgroups,
    SYS_setuid,
    SYS_setgid,
    SYS_setreuid,
    SYS_setregid,
    SYS_setresuid,
    SYS_setresgid,
    SYS_setgroups,
    SYS_setfsuid,
    SYS_setfsgid,
    SYS_capget,
    SYS_capset,
    // Limits, scheduling, the machine's description.
    SYS_getrlimit,
    SYS_setrlimit,
    SYS_prlimit64,
    SYS_getrusage,
    SYS_getpriority,
    SYS_setpriority,
    SYS_sched_yield,
    SYS_sched_getaffinity,
    SYS_sched_setaffinity,
    SYS_sched_getparam,
    SYS_sched_setparam,
    SYS_sched_getscheduler,
    SYS_sched_setscheduler,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_rr_get_interval,
    SYS_sched_getattr,
    SYS_sched_setattr,
    SYS_getcpu,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_uname,
    SYS_sysinfo,
    SYS_times,
    SYS_getrandom,
    SYS_restart_syscall,
    // Signals (to processes of the instance's own pid namespace).
    SYS_rt_sigaction,
    SYS_rt_sigprocmask,
    SYS_rt_sigreturn,
    SYS_rt_sigpending,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_sigqueueinfo,
    SYS_rt_tgsigqueueinfo,
    SYS_sigaltstack,
    SYS_kill,
    SYS_tkill,
    SYS_tgkill,
    // Time (reading it; setting clocks is refused).
    SYS_clock_gettime,
    SYS_clock_getres,
    SYS_clock_nanosleep,
    SYS_nanosleep,
    SYS_gettimeofday,
    SYS_getitimer,
    SYS_setitimer,
    SYS_timer_create,
    SYS_timer_settime,
    SYS_timer_gettime,
    SYS_timer_getoverrun,
    SYS_timer_delete,
    // Sockets (socket itself: see CONDITIONAL).
    SYS_socketpair,
    SYS_bind,
    SYS_listen,
    SYS_accept,
    SYS_accept4,
    SYS_connect,
    SYS_getsockname,
    SYS_getpeername,
    SYS_getsockopt,
    SYS_setsockopt,
    SYS_sendto,
    SYS_recvfrom,
    SYS_sendmsg,
    SYS_recvmsg,
    SYS_sendmmsg,
    SYS_recvmmsg,
    SYS_shutdown,
    // System V and POSIX IPC (the instance has its own IPC namespace).
    SYS_shmget,
    SYS_shmat,
    SYS_shmdt,
    SYS_shmctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_semctl,
    SYS_msgget,
    SYS_msgsnd,
    SYS_msgrcv,
    SYS_msgctl,
    SYS_mq_open,
    SYS_mq_unlink,
    SYS_mq_timedsend,
    SYS_mq_timedreceive,
    SYS_mq_notify,
    SYS_mq_getsetattr,
];

/// Allowed whatever their arguments: the numbers libc has no constant for.
const ALWAYS_NEW: &[Syscall] = &[
    ("cachestat", SYS_CACHESTAT),
    ("fchmodat2", SYS_FCHMODAT2),
    ("futex_wake", SYS_FUTEX_WAKE),
    ("futex_wait", SYS_FUTEX_WAIT),
    ("futex_requeue", SYS_FUTEX_REQUEUE),
];

/// x86_64's older calls, which aarch64 (asm-generic) never had.
#[cfg(target_arch = "x86_64")]
const ALWAYS_ARCH: &[Syscall] = syscalls![
    SYS_open,
    SYS_creat,
    SYS_stat,
    SYS_lstat,
    SYS_access,
    SYS_pipe,
    SYS_select,
    SYS_poll,
    SYS_dup2,
    SYS_pause,
    SYS_alarm,
    SYS_fork,
    SYS_vfork,
    SYS_getdents,
    SYS_rename,
    SYS_renameat,
    SYS_mkdir,
    SYS_rmdir,
    SYS_link,
    SYS_unlink,
    SYS_symlink,
    SYS_readlink,
    SYS_chmod,
    SYS_chown,
    SYS_lchown,
    SYS_utime,
    SYS_utimes,
    SYS_futimesat,
    SYS_epoll_create,
    SYS_epoll_wait,
    SYS_inotify_init,
    SYS_eventfd,
    SYS_signalfd,
    SYS_getpgrp,
    SYS_time,
    SYS_arch_prctl,
    SYS_sync_file_range,
];
#[cfg(target_arch = "aarch64")]
const ALWAYS_ARCH: &[Syscall] = syscalls![SYS_renameat, SYS_sync_file_range];

/// `uretprobe` is called only by the kernel's own return-probe trampoline (anyone
/// else gets SIGILL); refusing it would crash a runtime the host traces with eBPF
/// uretprobes, on kernels that do not yet let it bypass seccomp (a 2025 fix).
#[cfg(target_arch = "x86_64")]
const ALWAYS_ARCH_NEW: &[Syscall] = &[
    ("map_shadow_stack", SYS_MAP_SHADOW_STACK),
    ("uretprobe", SYS_URETPROBE),
];
#[cfg(target_arch = "aarch64")]
const ALWAYS_ARCH_NEW: &[Syscall] = &[];

/// Refused on purpose, though a recording may show a runtime trying them, with why.
/// (Everything else outside the list is refused too; these are the ones to think
/// twice about before adding.)
// Read by the tests (and by whoever extends the list).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const REFUSED: &[(&str, &str)] = &[
    ("mount", "mounts: the instance's filesystem is gust's"),
    ("umount2", "mounts"),
    ("pivot_root", "mounts"),
    ("chroot", "mounts"),
    ("fsopen", "mounts (the new mount API)"),
    ("fsconfig", "mounts"),
    ("fsmount", "mounts"),
    ("fspick", "mounts"),
    ("move_mount", "mounts"),
    ("open_tree", "mounts"),
    ("mount_setattr", "mounts"),
    ("setns", "namespaces"),
    ("ptrace", "other processes' memory and registers"),
    ("process_vm_readv", "other processes' memory"),
    ("process_vm_writev", "other processes' memory"),
    ("process_madvise", "other processes' memory"),
    ("pidfd_getfd", "other processes' descriptors"),
    ("kcmp", "other processes' kernel state"),
    ("bpf", "kernel code"),
    ("perf_event_open", "kernel tracing, a long CVE history"),
    ("kexec_load", "the kernel itself"),
    ("kexec_file_load", "the kernel itself"),
    ("init_module", "kernel modules"),
    ("finit_module", "kernel modules"),
    ("delete_module", "kernel modules"),
    ("syslog", "the kernel log"),
    ("keyctl", "kernel key rings, not namespaced"),
    ("add_key", "kernel key rings"),
    ("request_key", "kernel key rings"),
    (
        "userfaultfd",
        "stalls the kernel at will: a classic exploit aid",
    ),
    (
        "io_uring_setup",
        "large attack surface, bypasses this filter; libuv falls back",
    ),
    ("io_uring_enter", "io_uring"),
    ("io_uring_register", "io_uring"),
    ("reboot", "the machine"),
    ("settimeofday", "the machine's clock"),
    ("clock_settime", "the machine's clock"),
    ("clock_adjtime", "the machine's clock"),
    ("adjtimex", "the machine's clock"),
    ("sethostname", "the host name"),
    ("setdomainname", "the host name"),
    ("swapon", "the machine's swap"),
    ("swapoff", "the machine's swap"),
    ("acct", "process accounting"),
    ("quotactl", "disk quotas"),
    ("quotactl_fd", "disk quotas"),
    ("open_by_handle_at", "opens files by inode, around mounts"),
    ("name_to_handle_at", "the other half of open_by_handle_at"),
    ("vhangup", "terminals"),
    ("iopl", "I/O ports"),
    ("ioperm", "I/O ports"),
    (
        "modify_ldt",
        "segment descriptors, a CVE history; no runtime needs them",
    ),
    ("migrate_pages", "other processes' memory"),
    ("move_pages", "other processes' memory"),
    (
        "clone3",
        "answered ENOSYS: its flags are out of the filter's reach",
    ),
];

/// The personas `personality` may set (Docker's default profile): PER_LINUX,
/// PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff, which only queries.
/// Not READ_IMPLIES_EXEC (makes every readable mapping executable) nor
/// ADDR_NO_RANDOMIZE (turns off address-space randomisation for children).
pub(crate) const PERSONAS: [u32; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Every namespace flag of `clone`/`unshare` (CLONE_NEWTIME is 0x80).
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64
    | 0x80;

/// The socket types allowed over IPv4 and IPv6 (the type's low four bits; the rest
/// are SOCK_NONBLOCK and SOCK_CLOEXEC): no SOCK_RAW, no SOCK_PACKET.
const IP_SOCKET_TYPES: [i32; 3] = [libc::SOCK_STREAM, libc::SOCK_DGRAM, libc::SOCK_SEQPACKET];

/// The file types `mknod(at)` may make: FIFOs, sockets, regular files (0 is one).
const NODE_TYPES: [u32; 4] = [libc::S_IFIFO, libc::S_IFSOCK, libc::S_IFREG, 0];

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(conds)
}

/// The syscalls allowed only with some arguments, each with its rules (any one
/// matching allows the call).
fn conditional() -> Result<Vec<(libc::c_long, Vec<SeccompRule>)>, BackendError> {
    let no_namespace = || rule(vec![cond(0, SeccompCmpOp::MaskedEq(NAMESPACE_FLAGS), 0)?]);
    let mut socket = vec![rule(vec![cond(
        0,
        SeccompCmpOp::Eq,
        libc::AF_UNIX as u64,
    )?])?];
    socket.push(rule(vec![cond(
        0,
        SeccompCmpOp::Eq,
        libc::AF_NETLINK as u64,
    )?])?);
    for family in [libc::AF_INET, libc::AF_INET6] {
        for ty in IP_SOCKET_TYPES {
            socket.push(rule(vec![
                cond(0, SeccompCmpOp::Eq, family as u64)?,
                cond(1, SeccompCmpOp::MaskedEq(0xf), ty as u64)?,
            ])?);
        }
    }
    let node = |mode_arg: u8| -> Result<Vec<SeccompRule>, BackendError> {
        NODE_TYPES
            .iter()
            .map(|&t| {
                rule(vec![cond(
                    mode_arg,
                    SeccompCmpOp::MaskedEq(u64::from(libc::S_IFMT)),
                    u64::from(t),
                )?])
            })
            .collect()
    };
    let personas = PERSONAS
        .iter()
        .map(|&p| rule(vec![cond(0, SeccompCmpOp::Eq, u64::from(p))?]))
        .collect::<Result<Vec<_>, _>>()?;
    #[allow(unused_mut)] // Extended on x86_64 only.
    let mut rules = vec![
        (libc::SYS_clone, vec![no_namespace()?]),
        (libc::SYS_unshare, vec![no_namespace()?]),
        (libc::SYS_socket, socket),
        (libc::SYS_mknodat, node(2)?),
        (libc::SYS_personality, personas),
    ];
    #[cfg(target_arch = "x86_64")]
    rules.push((libc::SYS_mknod, node(1)?));
    Ok(rules)
}

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// Every syscall allowed whatever its arguments.
pub(crate) fn always_allowed() -> impl Iterator<Item = Syscall> {
    [ALWAYS, ALWAYS_NEW, ALWAYS_ARCH, ALWAYS_ARCH_NEW]
        .into_iter()
        .flatten()
        .copied()
}

/// The allow list as seccompiler compiles it: EPERM for what it does not allow.
fn allow_list() -> Result<SeccompFilter, BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        always_allowed().map(|(_, nr)| (nr, Vec::new())).collect();
    for (nr, chain) in conditional()? {
        rules.insert(nr, chain);
    }
    SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        ARCH,
    )
}

// Classic BPF (linux/bpf_common.h) for the prefix.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const OFF_NR: u32 = 0; // offsetof(struct seccomp_data, nr)
const OFF_ARCH: u32 = 4; // offsetof(struct seccomp_data, arch)

fn insn(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// What seccompiler cannot say (it kills on a foreign architecture, and has one
/// action for everything it does not allow): ENOSYS for a foreign ABI, for numbers
/// past [`FIRST_UNKNOWN`] (and x32's), and for `clone3`. The jumps are relative and
/// stay inside the prefix, which falls through to seccompiler's program.
fn prefix() -> [libc::sock_filter; 7] {
    [
        insn(BPF_LD_W_ABS, OFF_ARCH, 0, 0),
        insn(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        insn(BPF_RET_K, RET_ENOSYS, 0, 0),
        insn(BPF_LD_W_ABS, OFF_NR, 0, 0),
        insn(BPF_JGE_K, FIRST_UNKNOWN, 1, 0),
        insn(BPF_JEQ_K, libc::SYS_clone3 as u32, 0, 1),
        insn(BPF_RET_K, RET_ENOSYS, 0, 0),
    ]
}

/// Why the filter could not be built (a defect of the rules above: the unit tests
/// build it).
#[derive(Debug, thiserror::Error)]
#[error("seccompiler refused the allow list: {0}")]
pub(crate) struct FilterError(#[from] BackendError);

/// The compiled filter for the runtime process, built once per process: the init
/// builds it while it waits in the pool (compiling takes some 50-200 µs), so that a
/// cold start does not wait for it.
pub(crate) fn runtime_filter() -> Result<&'static [libc::sock_filter], FilterError> {
    static FILTER: OnceLock<Vec<libc::sock_filter>> = OnceLock::new();
    if let Some(prog) = FILTER.get() {
        return Ok(prog);
    }
    let built = build()?;
    Ok(FILTER.get_or_init(|| built))
}

fn build() -> Result<Vec<libc::sock_filter>, FilterError> {
    let compiled: seccompiler::BpfProgram = allow_list()?.try_into()?;
    let mut prog = prefix().to_vec();
    prog.extend(compiled.iter().map(|i| libc::sock_filter {
        code: i.code,
        jt: i.jt,
        jf: i.jf,
        k: i.k,
    }));
    Ok(prog)
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
