//! The new mount API: a detached copy of a host directory made by gust, and its
//! attachment inside a sandbox that has already pivoted (for prewarmed runtimes).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{cstr, cvt_long};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached, read-only, nosuid, nodev, private copy of the mount tree at `path`
/// (`open_tree(OPEN_TREE_CLONE)`), ready to be attached anywhere with
/// [`move_mount_onto`] by a process with the mount privileges there. Needs
/// `CAP_SYS_ADMIN` in the caller's mount namespace.
pub(crate) fn open_tree_read_only(path: &Path) -> io::Result<OwnedFd> {
    let path = cstr(path.as_os_str())?;
    // SAFETY: open_tree with a NUL-terminated path; returns a new descriptor.
    let fd = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
        )
    })?;
    // SAFETY: a fresh descriptor that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let empty = cstr(OsStr::new(""))?;
    // SAFETY: mount_setattr on the tree's descriptor with an empty path, a valid
    // mount_attr and its size.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(tree)
}

/// Attaches the detached tree `tree` at `target` (`move_mount(2)`).
pub(crate) fn move_mount_onto(tree: BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    let empty = cstr(OsStr::new(""))?;
    let target = cstr(target.as_os_str())?;
    // SAFETY: move_mount from a descriptor with an empty path to a NUL-terminated
    // absolute target.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}
