//! What the init does inside the sandbox (it is single-threaded, so `fork` is
//! ordinary there): namespaces, loopback, fork and exec, descriptors, signals.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, WaitStatus};

/// Takes ownership of a descriptor inherited at a fixed number, checking it is open.
pub(crate) fn inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    set_cloexec(fd)?;
    // SAFETY: the descriptor is open and was handed to this process to own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// `sethostname(2)` in the current UTS namespace.
pub(crate) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length of a live byte slice.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `struct ifreq` reduced to the name and the flags member of its union.
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Sets the loopback interface of the current network namespace up.
pub(crate) fn bring_up_loopback() -> io::Result<()> {
    // SAFETY: socket takes integer arguments and returns a new descriptor.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is fresh and unowned.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[0] = b'l' as libc::c_char;
    req.name[1] = b'o' as libc::c_char;
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of a valid ifreq.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads a valid ifreq.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}

/// Result of [`fork`].
pub(crate) enum Fork {
    /// In the parent: the child's pid.
    Parent(libc::pid_t),
    /// In the child.
    Child,
}

/// `fork(2)`. Only for the single-threaded init: the child may then do anything.
pub(crate) fn fork() -> io::Result<Fork> {
    // SAFETY: the init is single-threaded, so the child inherits a consistent state.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// `_exit(2)`: ends the process without running destructors or atexit handlers.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user-space state.
    unsafe { libc::_exit(code) }
}

/// `dup2(2)`.
pub(crate) fn dup2(from: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on a valid descriptor; `to` is replaced atomically.
    cvt(unsafe { libc::dup2(from.as_raw_fd(), to) }).map(drop)
}

/// Marks every descriptor from `from` upwards close-on-exec.
pub(crate) fn cloexec_from(from: u32) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with flags only changes descriptor flags; on kernels without
    // it the call fails harmlessly and the descriptors opened by this crate are
    // close-on-exec anyway.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, CLOSE_RANGE_CLOEXEC) };
}

/// Sets the close-on-exec flag of `fd`.
pub(crate) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl F_SETFD with a flag value.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded; both descriptors are fresh and unowned.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `setsid(2)`.
pub(crate) fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// `setrlimit(2)` with equal soft and hard limits.
pub(crate) fn setrlimit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: a valid rlimit struct.
    cvt(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

/// Gives the heap's free pages back to the kernel (`malloc_trim(0)`): the init
/// allocates while it sets the sandbox up, then only waits, for as long as the
/// instance lives.
pub(crate) fn trim_heap() {
    // SAFETY: malloc_trim takes a size and only touches the allocator's own state;
    // the init is single-threaded.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises the soft `RLIMIT_NOFILE` of this process to its hard limit (at most
/// `cap`); returns the soft limit before and after.
pub(crate) fn raise_nofile(cap: u64) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit struct to fill.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let before = lim.rlim_cur;
    let want = lim.rlim_max.min(cap);
    if want > before {
        lim.rlim_cur = want;
        // SAFETY: a valid rlimit struct, soft limit within the hard one.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok((before, want.max(before)))
}

/// Sets the nice value of the thread `tid`, 0 for the calling one (Linux's
/// `setpriority(PRIO_PROCESS)` applies to one thread; children inherit it).
pub(crate) fn set_nice(tid: libc::pid_t, nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes integers.
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) }).map(drop)
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes integers; callers pass pids they own (their children or the
    // members of their own cgroup).
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `waitpid(-1, WNOHANG)`: one reaped child, or `None` if none is ready.
pub(crate) fn reap_any() -> Option<(libc::pid_t, WaitStatus)> {
    let mut status = 0;
    // SAFETY: waitpid with a valid status pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let ws = if libc::WIFEXITED(status) {
        WaitStatus::Exited(libc::WEXITSTATUS(status))
    } else {
        WaitStatus::Signaled(libc::WTERMSIG(status))
    };
    Some((pid, ws))
}

/// `waitpid(pid, 0)`: blocks until that child ends.
pub(crate) fn wait_child(pid: libc::pid_t) -> io::Result<()> {
    let mut status = 0;
    // SAFETY: waitpid with a valid status pointer.
    cvt(unsafe { libc::waitpid(pid, &mut status, 0) }).map(drop)
}

// Signals.

/// A set of signals.
pub(crate) fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset adds valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Replaces the signal mask of the calling thread.
pub(crate) fn set_sigmask(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: a valid set; the old mask is not needed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// A close-on-exec, non-blocking signalfd for `set` (which the caller has blocked).
pub(crate) fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: signalfd with -1 creates a new descriptor for a valid set.
    let fd = cvt(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: `fd` is fresh and unowned.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one signal number from a non-blocking signalfd; `None` when drained.
pub(crate) fn read_signal(fd: BorrowedFd<'_>) -> Option<libc::c_int> {
    // SAFETY: an all-zero signalfd_siginfo is valid.
    let mut info: libc::signalfd_siginfo = unsafe { zeroed() };
    // SAFETY: reads at most size_of::<signalfd_siginfo>() bytes into `info`.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size_of::<libc::signalfd_siginfo>(),
        )
    };
    (n == size_of::<libc::signalfd_siginfo>() as isize).then_some(info.ssi_signo as libc::c_int)
}

/// Resets every catchable signal to its default action (exec keeps ignored signals
/// ignored, and a runtime must not inherit the init's dispositions).
pub(crate) fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installs SIG_DFL; failures (invalid numbers) are harmless.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
