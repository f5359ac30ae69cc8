//! Safe wrappers around the raw syscalls of the Linux sandbox. Every `unsafe` block of
//! the sandbox lives in this file, each one small and documented; the rest of the
//! module calls these functions.
//!
//! The mount and filesystem steps that build an instance's root go through the
//! [`Syscall`] trait, so the plan can be replayed against a recording double in unit
//! tests without root.

use std::ffi::{CString, OsStr};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The filesystem operations that build an instance's root, in the order the init
/// makes them. [`LinuxSyscall`] makes them for real; the unit tests record them.
pub(crate) trait Syscall {
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// `mkdir -p` with `mode` for the directories it creates.
    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates (or truncates) a regular file with `contents`.
    fn create_file(&self, path: &Path, contents: &[u8], mode: u32) -> io::Result<()>;
    /// Creates a symbolic link at `link` pointing to `target`.
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    /// Creates an empty file at `path` unless something is there already (the mount
    /// point of a file bind).
    fn touch(&self, path: &Path) -> io::Result<()>;
    /// Makes `new_root` the root of the mount namespace and detaches the old root.
    fn pivot_root(&self, new_root: &Path) -> io::Result<()>;
}

/// The real syscalls.
pub(crate) struct LinuxSyscall;

impl Syscall for LinuxSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()> {
        let source = source.map(|s| cstr(s.as_os_str())).transpose()?;
        let target = cstr(target.as_os_str())?;
        let fstype = fstype.map(|s| cstr(OsStr::new(s))).transpose()?;
        let data = data.map(|s| cstr(OsStr::new(s))).transpose()?;
        let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: every pointer is either null or a NUL-terminated string that outlives
        // the call; mount reads them and keeps none.
        let rc = unsafe {
            libc::mount(
                ptr(&source),
                target.as_ptr(),
                ptr(&fstype),
                flags,
                ptr(&data).cast(),
            )
        };
        cvt(rc).map(drop)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn create_file(&self, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)?;
        f.write_all(contents)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn touch(&self, path: &Path) -> io::Result<()> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        self.create_file(path, b"", 0o644)
    }

    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        std::env::set_current_dir(new_root)?;
        let dot = cstr(OsStr::new("."))?;
        // SAFETY: pivot_root(".", ".") with two valid C strings: stacks the old root on
        // top of the new one, which the umount below then detaches.
        cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })?;
        // SAFETY: a valid C string and a flag; detaches the old root lazily.
        cvt(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) })?;
        std::env::set_current_dir("/")
    }
}

/// A path or string as a C string; an interior NUL is an invalid-input error.
pub(crate) fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn cvt_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

// ---------------------------------------------------------------------------------
// Starting the init (runs in gust, a multi-threaded process).
// ---------------------------------------------------------------------------------

/// A program image ready for `execve`: every string allocated up front, because the
/// child of a multi-threaded process may not allocate.
pub(crate) struct ExecImage {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecImage {
    pub(crate) fn new(path: &Path, argv: &[&str], envp: &[String]) -> io::Result<Self> {
        Ok(ExecImage {
            path: cstr(path.as_os_str())?,
            argv: argv
                .iter()
                .map(|a| cstr(OsStr::new(a)))
                .collect::<io::Result<_>>()?,
            envp: envp
                .iter()
                .map(|e| cstr(OsStr::new(e)))
                .collect::<io::Result<_>>()?,
        })
    }
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of `clone3(2)`, up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Starts `image` in a child created with the namespace `flags`, its stdin and stdout
/// on `/dev/null`, `channel` at fd 3, stderr inherited, and every other descriptor
/// closed. With `cgroup` (a cgroup v2 directory), the child starts inside it.
/// Returns the child's pid and a pidfd for it.
///
/// The child runs only async-signal-safe syscalls between `clone` and `execve`, so
/// this is safe to call from any thread of a multi-threaded process.
pub(crate) fn spawn_in_namespaces(
    flags: libc::c_int,
    image: &ExecImage,
    channel: BorrowedFd<'_>,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<(libc::pid_t, OwnedFd)> {
    // Everything the child touches is prepared here: the pointer arrays, and the two
    // descriptors moved to 10+ so the dup2 calls below cannot clobber them.
    let devnull = std::fs::File::open("/dev/null")?;
    let devnull = dup_above(devnull.as_raw_fd(), 10)?;
    let channel = dup_above(channel.as_raw_fd(), 10)?;
    let mut argv: Vec<*const libc::c_char> = image.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = image.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let (devnull_fd, channel_fd) = (devnull.as_raw_fd(), channel.as_raw_fd());

    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags as u64 | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: clone3 with a valid, fully initialised clone_args and no CLONE_VM: the
    // child gets a copy of this address space, like fork. The kernel writes the pidfd
    // into `pidfd`.
    let mut rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) && cgroup.is_none()
    {
        // Kernels before 5.3, or a seccomp profile that hides clone3: plain clone
        // returns the pidfd through its parent_tid argument.
        // SAFETY: clone with a null stack behaves like fork; `pidfd` is a valid int.
        rc = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                &mut pidfd as *mut libc::c_int,
                0usize,
                0usize,
            )
        };
    }
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if rc == 0 {
        // The child: async-signal-safe syscalls only, then exec or _exit.
        // SAFETY: dup2, close_range, execve and _exit are plain syscalls on descriptors
        // and pointers prepared before the clone; nothing here allocates or locks.
        unsafe {
            if libc::dup2(devnull_fd, 0) < 0
                || libc::dup2(devnull_fd, 1) < 0
                || libc::dup2(channel_fd, 3) < 0
            {
                libc::_exit(126);
            }
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            libc::execve(image.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((rc as libc::pid_t, pidfd))
}

/// `fcntl(F_DUPFD_CLOEXEC)`: a close-on-exec duplicate numbered `min` or above.
fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor the caller keeps open; returns a new descriptor.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Sends `sig` to the process behind `pidfd`. A process that is gone is not an error.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a valid pidfd, a null siginfo and no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match cvt_long(rc) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other.map(drop),
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Reaps the child behind `pidfd`: `None` if it is still running (with `block`
/// false), else how it ended. `ECHILD` (already reaped) is an error.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<WaitStatus>> {
    const P_PIDFD: libc::idtype_t = 3;
    let options = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
    // SAFETY: an all-zero siginfo_t is valid; waitid fills it in.
    let mut info: libc::siginfo_t = unsafe { zeroed() };
    loop {
        // SAFETY: waitid on a pidfd with a valid siginfo pointer.
        let rc =
            unsafe { libc::waitid(P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, options) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        break;
    }
    // SAFETY: waitid returned, so si_pid and si_status are initialised (zero if the
    // child has not exited yet under WNOHANG).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => WaitStatus::Exited(status),
        _ => WaitStatus::Signaled(status),
    }))
}

/// `poll(2)` on several descriptors for input; returns which ones are ready (readable,
/// hung up or in error).
pub(crate) fn poll_many(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

// ---------------------------------------------------------------------------------
// The channel between gust and the init: a SOCK_SEQPACKET pair carrying one JSON
// message per packet, with descriptors as SCM_RIGHTS.
// ---------------------------------------------------------------------------------

/// A connected pair of close-on-exec `SOCK_SEQPACKET` unix sockets.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array for socketpair to fill.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded; both descriptors are fresh and unowned.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The most descriptors one message carries.
const MAX_FDS: usize = 4;

/// Sends one packet with `fds` attached.
pub(crate) fn send_packet(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cmsg_buf = [0u64; 8]; // 64 bytes, aligned: room for MAX_FDS descriptors.
                                  // SAFETY: an all-zero msghdr is valid (no name, no control).
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let payload = (fds.len() * size_of::<RawFd>()) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points at `space` (<= 64) bytes of aligned storage, so
        // the first header and its data fit; we write exactly `payload` data bytes.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as usize;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: msg points at live iovec and control buffers.
        let rc = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(());
    }
}

/// Receives one packet into `buf`: its length (0 when the peer has closed) and any
/// descriptors attached, close-on-exec.
pub(crate) fn recv_packet(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    nonblocking: bool,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg_buf = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>();
    let flags = libc::MSG_CMSG_CLOEXEC | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    let n = loop {
        // SAFETY: msg points at live iovec and control buffers of the stated sizes.
        let rc = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        break rc as usize;
    };
    let mut fds = Vec::new();
    // SAFETY: walks the control messages the kernel wrote into `cmsg_buf`, within
    // msg_controllen; SCM_RIGHTS data holds (len - CMSG_LEN(0)) / 4 descriptors,
    // each fresh and now owned by us.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message truncated",
        ));
    }
    Ok((n, fds))
}

/// Sets a receive timeout on a socket.
pub(crate) fn set_recv_timeout(
    sock: BorrowedFd<'_>,
    timeout: std::time::Duration,
) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: setsockopt with a valid timeval of the stated size.
    cvt(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(drop)
}

// ---------------------------------------------------------------------------------
// Inside the sandbox (the init: single-threaded, so fork is ordinary there).
// ---------------------------------------------------------------------------------

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

/// `execve(2)`; returns only on failure.
pub(crate) fn execve(image: &ExecImage) -> io::Error {
    let mut argv: Vec<*const libc::c_char> = image.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = image.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated path and null-terminated arrays of NUL-terminated strings,
    // all alive for the call.
    unsafe { libc::execve(image.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
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

/// Sets the nice value of the calling thread (Linux's `setpriority(PRIO_PROCESS, 0)`
/// applies to the thread; children inherit it).
pub(crate) fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes integers.
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) }).map(drop)
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

// Privileges.

/// Drops every capability from the bounding set (needs CAP_SETPCAP).
pub(crate) fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                break; // past the last capability this kernel knows
            }
            return Err(err);
        }
    }
    Ok(())
}

/// Clears the ambient capability set.
pub(crate) fn clear_ambient_caps() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    cvt(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// Sets the effective, permitted and inheritable capability sets to empty.
pub(crate) fn clear_caps() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a version-3 header and the two data words it expects.
    cvt_long(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// Switches to `uid`/`gid` (real, effective and saved) with `gid` as the only group.
pub(crate) fn switch_user(uid: u32, gid: u32) -> io::Result<()> {
    let groups = [gid];
    // SAFETY: a one-element group list.
    cvt(unsafe { libc::setgroups(1, groups.as_ptr()) })?;
    // SAFETY: integer arguments.
    cvt(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: integer arguments.
    cvt(unsafe { libc::setresuid(uid, uid, uid) })?;
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`: exec can never grant privileges again.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// `PR_SET_DUMPABLE 0`: no ptrace, no /proc/<pid>/mem or fd access by the same uid.
pub(crate) fn set_not_dumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
}

/// Installs a seccomp BPF filter on the calling thread (needs no_new_privs).
pub(crate) fn install_seccomp(program: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(SET_MODE_FILTER) copies the program, which outlives the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}

/// Effective uid of the calling process.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Writes all of `data` to a raw descriptor (used on the exec-error pipe).
pub(crate) fn write_all(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::mem::ManuallyDrop::new(
        // SAFETY: the File is never dropped (ManuallyDrop), so it does not close the
        // borrowed descriptor.
        unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) },
    );
    f.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn spawns_into_a_cgroup_v2_directory_and_reaps_through_the_pidfd() {
        // Needs root and a cgroup v2 hierarchy (the unified one of a hybrid host
        // will do: entering a cgroup needs no controller).
        let Some(root) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists())
        else {
            eprintln!("SKIPPED: no cgroup v2 hierarchy");
            return;
        };
        if geteuid() != 0 {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let dir = root.join(format!("gust-clone-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let cgroup = std::fs::File::open(&dir).unwrap();
        let (_ours, theirs) = seqpacket_pair().unwrap();
        let image = ExecImage::new(Path::new("/bin/sleep"), &["sleep", "30"], &[]).unwrap();
        let (pid, pidfd) =
            spawn_in_namespaces(0, &image, theirs.as_fd(), Some(cgroup.as_fd())).unwrap();
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), pid.to_string(), "born inside the cgroup");
        assert_eq!(waitid_pidfd(pidfd.as_fd(), false).unwrap(), None);
        pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
        assert_eq!(
            waitid_pidfd(pidfd.as_fd(), true).unwrap(),
            Some(WaitStatus::Signaled(libc::SIGKILL))
        );
        std::fs::remove_dir(&dir).unwrap();
    }
}
