//! Landlock: a ruleset, made by the runtime for itself just before it execs, that
//! lets it open files for writing everywhere but under `/proc`.
//!
//! Why: the runtime starts with `oom_score_adj` 1000, so that a host out of memory
//! kills a function before gust or anything else. The kernel lets an unprivileged
//! process lower its own score back down to the lowest value a process with
//! `CAP_SYS_RESOURCE` set for it; where gust itself lacks that capability (in some
//! containers, rootless), nothing pins it, and a function could write 0. Without
//! write access to `/proc` it cannot, whatever the host. Nothing a function
//! legitimately needs is written through `/proc` (its pipes and files under
//! `/proc/self/fd` are checked as what they are, not as `/proc`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{cstr, cvt_long};

const LANDLOCK_ACCESS_FS_WRITE_FILE: u64 = 1 << 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_ruleset_attr`, first field only (what ABI 1 knows).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

/// `struct landlock_path_beneath_attr` (packed in the kernel's header).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `landlock_create_ruleset`'s flag that asks for the ABI version instead.
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1 << 0;

/// Whether this kernel has Landlock enabled (any ABI version).
pub(crate) fn landlock_available() -> bool {
    // SAFETY: with the version flag the kernel reads no attribute and creates no
    // descriptor; it returns the ABI version or fails.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    version >= 1
}

/// A new ruleset that handles file writes; `None` where the kernel has no Landlock.
fn write_ruleset() -> io::Result<Option<OwnedFd>> {
    let attr = RulesetAttr {
        handled_access_fs: LANDLOCK_ACCESS_FS_WRITE_FILE,
    };
    // SAFETY: landlock_create_ruleset reads `attr` of the size given; returns a new
    // descriptor.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// Lets the calling thread (and what it execs) open files for writing only under
/// `allowed` (directories). Needs no_new_privs. `Ok(false)` where the kernel has no
/// Landlock (older than 5.13, or not enabled at boot).
pub(crate) fn restrict_file_writes_to(allowed: &[&Path]) -> io::Result<bool> {
    let Some(ruleset) = write_ruleset()? else {
        return Ok(false);
    };
    for dir in allowed {
        let path = cstr(dir.as_os_str())?;
        // SAFETY: open with a NUL-terminated path; returns a new descriptor.
        let parent = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if parent < 0 {
            continue; // gone, or not a directory: nothing to allow there
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let parent = unsafe { OwnedFd::from_raw_fd(parent) };
        let rule = PathBeneathAttr {
            allowed_access: LANDLOCK_ACCESS_FS_WRITE_FILE,
            parent_fd: parent.as_raw_fd(),
        };
        // SAFETY: landlock_add_rule reads `rule`, which outlives the call.
        cvt_long(unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                LANDLOCK_RULE_PATH_BENEATH,
                &rule as *const PathBeneathAttr,
                0u32,
            )
        })?;
    }
    // SAFETY: landlock_restrict_self on the ruleset's descriptor, no flags.
    cvt_long(unsafe {
        libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32)
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version probe gust warns with at start agrees with whether a ruleset can
    /// actually be made.
    #[test]
    fn the_version_probe_agrees_with_making_a_ruleset() {
        assert_eq!(landlock_available(), write_ruleset().unwrap().is_some());
    }
}
