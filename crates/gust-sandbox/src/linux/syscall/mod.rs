//! Safe wrappers around the raw syscalls of the Linux sandbox. Every `unsafe` block of
//! the sandbox lives in this module, each one small and documented; the rest of the
//! sandbox calls these functions.
//!
//! The mount and filesystem steps that build an instance's root go through the
//! [`Syscall`] trait, so the plan can be replayed against a recording double in unit
//! tests without root.
//!
//! - `spawn`: starting the init from gust (a multi-threaded process), pidfds.
//! - `channel`: the `SOCK_SEQPACKET` pair between gust and the init, with
//!   `SCM_RIGHTS`.
//! - `inside`: what the init does inside the sandbox: namespaces, loopback, fork
//!   and exec, signals.
//! - `privileges`: capabilities, user switch, no_new_privs, seccomp.
//! - `mounts`: detached mount trees (`open_tree`, `move_mount`).
//! - `disk`: loop devices and detached ext4 mounts for disk-backed `/tmp`.
//! - `landlock`: no writes under `/proc` for the runtime.

mod channel;
mod disk;
mod inside;
mod landlock;
mod mounts;
mod privileges;
mod spawn;

pub(crate) use channel::*;
pub(crate) use disk::*;
pub(crate) use inside::*;
pub(crate) use landlock::*;
pub(crate) use mounts::*;
pub(crate) use privileges::*;
pub(crate) use spawn::*;

use std::ffi::{CString, OsStr};
use std::io;
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
        let call = |flags: libc::c_ulong| {
            // SAFETY: every pointer is either null or a NUL-terminated string that
            // outlives the call; mount reads them and keeps none.
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
        };
        const BIND_REMOUNT: libc::c_ulong = libc::MS_BIND | libc::MS_REMOUNT;
        match call(flags) {
            // In a user namespace, a bind mount keeps the flags of the host mount it
            // came from locked (noexec, say): a remount must repeat them.
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM)
                    && flags & BIND_REMOUNT == BIND_REMOUNT =>
            {
                let locked = locked_mount_flags(&target)?;
                if flags | locked == flags {
                    return Err(e);
                }
                call(flags | locked)
            }
            other => other,
        }
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

/// The flags of the mount at `target` that a remount from a user namespace may not
/// clear, as `MS_*` flags.
fn locked_mount_flags(target: &CString) -> io::Result<libc::c_ulong> {
    // SAFETY: an all-zero statvfs is valid; statvfs fills it in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid statvfs pointer.
    cvt(unsafe { libc::statvfs(target.as_ptr(), &mut st) })?;
    Ok(statvfs_to_mount_flags(st.f_flag))
}

/// `statvfs`'s `ST_*` flags as the `MS_*` flags a remount must keep.
fn statvfs_to_mount_flags(st: libc::c_ulong) -> libc::c_ulong {
    [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ]
    .iter()
    .filter(|(st_flag, _)| st & st_flag != 0)
    .fold(0, |acc, (_, ms_flag)| acc | ms_flag)
}

/// Takes an exclusive `flock(2)` on `file`, waiting for it; it is released when the
/// file is closed. Serialises gusts that share host-wide state.
pub(crate) fn lock_exclusive(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor `file` keeps open for the call.
        match cvt(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(drop),
        }
    }
}

/// A path or string as a C string; an interior NUL is an invalid-input error.
pub(crate) fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

pub(crate) fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

pub(crate) fn cvt_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_flags_become_the_mount_flags_a_remount_keeps() {
        assert_eq!(statvfs_to_mount_flags(0), 0);
        assert_eq!(
            statvfs_to_mount_flags(libc::ST_NOEXEC | libc::ST_NOSUID | libc::ST_RELATIME),
            libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_RELATIME
        );
    }
}
