//! Dropping privileges: capabilities, user and groups, no_new_privs, dumpability,
//! and the seccomp filter.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};

use super::{cvt, cvt_long};

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

/// Effective gid of the calling process.
pub(crate) fn getegid() -> u32 {
    // SAFETY: getegid cannot fail.
    unsafe { libc::getegid() }
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

/// Moves the calling process into a new user namespace in which it is `uid`/`gid`,
/// both mapped to its current ids (which must be root of the current user
/// namespace). Used where gust has no root of its own: the sandbox's user namespace
/// maps only gust's own uid, as its root, so the runtime becomes an unprivileged user
/// by nesting one more namespace instead of switching users. The process holds every
/// capability of the new namespace afterwards; drop them as usual.
pub(crate) fn enter_nested_user_namespace(uid: u32, gid: u32) -> io::Result<()> {
    super::unshare(libc::CLONE_NEWUSER)?;
    std::fs::write("/proc/self/uid_map", format!("{uid} 0 1"))?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/gid_map", format!("{gid} 0 1"))
}

/// Makes the calling process the OOM killer's first choice on the host (raising the
/// score needs no privilege): a host out of memory loses a function, not gust.
pub(crate) fn prefer_for_oom_kill() -> io::Result<()> {
    std::fs::write("/proc/self/oom_score_adj", "1000")
}
