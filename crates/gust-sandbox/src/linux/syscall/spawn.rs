//! Starting the init from gust, a multi-threaded process, and watching it through
//! its pidfd.

use std::ffi::{CString, OsStr};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{cstr, cvt, cvt_long};

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

/// What a child started in a new user namespace writes to its own `/proc/self`
/// files before it execs, so that it is root inside with every capability there:
/// an unprivileged process may map only its own uid and gid, once, and must deny
/// `setgroups` before it maps its gid. Everything is allocated here, before the
/// clone, because the child may not allocate.
pub(crate) struct IdMaps {
    /// `(file, contents)` in the order the kernel needs them written.
    writes: [(CString, Vec<u8>); 3],
}

impl IdMaps {
    /// Maps root inside to `outer_uid`/`outer_gid` (the caller's own ids).
    pub(crate) fn root_to(outer_uid: u32, outer_gid: u32) -> IdMaps {
        let file = |name: &str| CString::new(format!("/proc/self/{name}")).expect("no NUL");
        IdMaps {
            writes: [
                (file("uid_map"), format!("0 {outer_uid} 1").into_bytes()),
                (file("setgroups"), b"deny".to_vec()),
                (file("gid_map"), format!("0 {outer_gid} 1").into_bytes()),
            ],
        }
    }
}

/// Writes `data` to the file at `path` with raw syscalls only (async-signal-safe:
/// usable between `clone` and `execve` in the child of a multi-threaded process).
/// Returns false on any failure.
fn write_file_raw(path: &CString, data: &[u8]) -> bool {
    // SAFETY: open with a NUL-terminated path; write of a live buffer of `len`
    // bytes; close of the descriptor just opened. No allocation, no locks.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        written == data.len() as isize
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
/// Returns the child's pid and a pidfd for it. With `id_maps` (and `CLONE_NEWUSER`
/// in `flags`), the child writes its user namespace's maps before it execs.
///
/// The child runs only async-signal-safe syscalls between `clone` and `execve`, so
/// this is safe to call from any thread of a multi-threaded process.
pub(crate) fn spawn_in_namespaces(
    flags: libc::c_int,
    image: &ExecImage,
    channel: BorrowedFd<'_>,
    cgroup: Option<BorrowedFd<'_>>,
    id_maps: Option<&IdMaps>,
) -> io::Result<(libc::pid_t, OwnedFd)> {
    const MAP_FAILED: &[u8] = b"gust: the sandbox init could not write its user namespace's \
        uid/gid maps (are unprivileged user namespaces allowed?)\n";
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
        if let Some(maps) = id_maps {
            for (file, data) in &maps.writes {
                if !write_file_raw(file, data) {
                    // SAFETY: write to stderr of a static buffer, then _exit.
                    unsafe {
                        libc::write(2, MAP_FAILED.as_ptr().cast(), MAP_FAILED.len());
                        libc::_exit(125);
                    }
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::super::{geteuid, seqpacket_pair};
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_rootless_init_maps_root_to_gusts_ids_and_denies_setgroups_first() {
        let maps = IdMaps::root_to(1000, 100);
        let writes: Vec<(&str, &[u8])> = maps
            .writes
            .iter()
            .map(|(f, d)| (f.to_str().unwrap(), d.as_slice()))
            .collect();
        assert_eq!(
            writes,
            [
                ("/proc/self/uid_map", &b"0 1000 1"[..]),
                ("/proc/self/setgroups", &b"deny"[..]),
                ("/proc/self/gid_map", &b"0 100 1"[..]),
            ]
        );
    }

    #[test]
    #[cfg_attr(not(gust_root_tests), ignore = "needs root: cgroups")]
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
        assert_eq!(geteuid(), 0, "needs root");
        let dir = root.join(format!("gust-clone-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let cgroup = std::fs::File::open(&dir).unwrap();
        let (_ours, theirs) = seqpacket_pair().unwrap();
        let image = ExecImage::new(Path::new("/bin/sleep"), &["sleep", "30"], &[]).unwrap();
        let (pid, pidfd) =
            spawn_in_namespaces(0, &image, theirs.as_fd(), Some(cgroup.as_fd()), None).unwrap();
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
