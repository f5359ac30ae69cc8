//! Rootless operation: the Linux sandbox when gust is not root.
//!
//! Without root, gust cannot create namespaces, mount or manage the host's cgroups
//! directly; an unprivileged user namespace gives it all of that over namespaces it
//! owns. Each instance's init is cloned into a new user namespace (with the other
//! namespaces, owned by it) in which gust's own uid and gid are root; the init builds
//! the same root filesystem as with real root. The runtime then enters one more,
//! nested user namespace in which it is `sbx_user1051` (993), mapped onto the init's
//! root, drops every capability there, sets `no_new_privs`, installs the same seccomp
//! filter (which forbids creating further namespaces) and execs.
//!
//! # What is enforced, and what is not
//! Enforced as with root: the mount, pid, ipc, uts, network and cgroup namespaces,
//! the read-only root of bind mounts and `pivot_root`, a `/tmp` of the function's
//! ephemeral storage size, the unprivileged user without capabilities,
//! `no_new_privs`, seccomp, no writes under `/proc` (Landlock, which pins the OOM
//! score), the Runtime API as the only network peer. Processes per instance are
//! bounded by `RLIMIT_NPROC`, which Linux counts per user *and user namespace*, so
//! per instance here.
//!
//! Not enforced, and said at start (see [`not_enforced`]):
//! - memory and CPU limits, and the cgroup's memory peak, unless gust runs in a
//!   delegated cgroup v2 subtree that offers the memory, cpu and pids controllers
//!   (as `systemd-run --user -p Delegate=yes` gives); otherwise `Max Memory Used`
//!   is the runtime process's own peak (children not counted), and a function may
//!   use the host's memory until the kernel's OOM killer, told to prefer it, ends it;
//! - outbound network: veths and NAT need root, so functions that ask for it fail to
//!   start with a message saying so;
//! - `/tmp` on disk: loop devices and mounting ext4 need the host's root (ext4 cannot
//!   be mounted in a user namespace), and a plain directory on disk would have no
//!   size limit (user namespaces cannot set quotas). So `/tmp` stays a tmpfs of the
//!   function's ephemeral storage size, whose pages count against its memory: a
//!   function that fills it needs the memory too, or is killed as out of memory;
//! - the runtime keeps the supplementary groups of gust's user on host files (an
//!   unprivileged user namespace cannot drop them), though it sees only the read-only
//!   system directories, its code and its runtime;
//! - on the host, instances' processes belong to gust's own uid.

use std::path::{Path, PathBuf};

use super::syscall::IdMaps;
use crate::SandboxError;

/// Where the sandbox's privileges come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// gust is root: namespaces are made with the host's root, the runtime switches
    /// to the unprivileged user.
    Root,
    /// gust is an ordinary user: each instance gets user namespaces (see the module
    /// docs). `outer_uid`/`outer_gid` are gust's own ids, root inside.
    UserNamespace { outer_uid: u32, outer_gid: u32 },
}

impl Privilege {
    /// The user namespace maps a freshly cloned init writes before it execs.
    pub(crate) fn id_maps(&self) -> Option<IdMaps> {
        match *self {
            Privilege::Root => None,
            Privilege::UserNamespace {
                outer_uid,
                outer_gid,
            } => Some(IdMaps::root_to(outer_uid, outer_gid)),
        }
    }

    /// The extra clone flag.
    pub(crate) fn clone_flags(&self) -> libc::c_int {
        match self {
            Privilege::Root => 0,
            Privilege::UserNamespace { .. } => libc::CLONE_NEWUSER,
        }
    }

    pub(crate) fn is_rootless(&self) -> bool {
        matches!(self, Privilege::UserNamespace { .. })
    }
}

/// Checks the host's knobs that forbid unprivileged user namespaces, naming the one
/// that does. (The test sandbox the probe starts is the real check; this gives the
/// reason when it would fail.)
pub(crate) fn check_user_namespaces() -> Result<(), SandboxError> {
    let read =
        |path: &str| -> Option<i64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    if read("/proc/sys/user/max_user_namespaces") == Some(0) {
        return Err(SandboxError::Unavailable(
            "gust is not root and user namespaces are disabled \
             (/proc/sys/user/max_user_namespaces is 0)"
                .into(),
        ));
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return Err(SandboxError::Unavailable(
            "gust is not root and unprivileged user namespaces are disabled \
             (sysctl kernel.unprivileged_userns_clone=0)"
                .into(),
        ));
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        return Err(SandboxError::Unavailable(
            "gust is not root and AppArmor restricts unprivileged user namespaces \
             (sysctl kernel.apparmor_restrict_unprivileged_userns=1; give gust's binary \
             an AppArmor profile with `userns,` or run gust as root)"
                .into(),
        ));
    }
    Ok(())
}

/// The directory on which a rootless instance assembles its root: it only has to
/// exist and be gust's (the mounts on it stay inside the instance's namespace).
/// `$XDG_RUNTIME_DIR/gust-sandbox/root` if there is one, else under the temp dir.
pub(crate) fn rootfs_dir(uid: u32) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()) {
        Some(dir) => Path::new(&dir).join("gust-sandbox/root"),
        None => std::env::temp_dir().join(format!("gust-sandbox-{uid}/root")),
    }
}

/// Checks that `dir` and its parent belong to `uid` (a directory another user made
/// in a shared temp dir could be swapped for a link).
pub(crate) fn check_owned(dir: &Path, uid: u32) -> Result<(), SandboxError> {
    use std::os::unix::fs::MetadataExt;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let meta = std::fs::symlink_metadata(d)
            .map_err(|e| SandboxError::io(format!("checking {}", d.display()), e))?;
        if meta.uid() != uid || !meta.is_dir() {
            return Err(SandboxError::Unavailable(format!(
                "{} must be a directory owned by gust's user (uid {uid})",
                d.display()
            )));
        }
    }
    Ok(())
}

/// What the rootless sandbox does not enforce on this host, one sentence each, for
/// gust's start-up message. `limited` says whether instances have cgroup limits.
pub fn not_enforced(limited: bool) -> Vec<&'static str> {
    let mut gaps = Vec::new();
    if !limited {
        gaps.push(
            "memory and CPU limits (no delegated cgroup v2 with the memory, cpu and pids \
             controllers: a function can use the host's memory until the OOM killer, \
             which prefers functions, ends it; processes are still bounded per instance)",
        );
    }
    gaps.push("outbound network for functions (needs root for veths and NAT)");
    gaps.push(
        "/tmp on disk (needs root for loop devices): /tmp is a tmpfs of the ephemeral \
         storage size, counted against the function's memory",
    );
    gaps.push(
        "dropping the supplementary groups of gust's user (the runtime keeps them on the \
         host files it can see)",
    );
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_needs_no_user_namespace() {
        assert_eq!(Privilege::Root.clone_flags(), 0);
        assert!(Privilege::Root.id_maps().is_none());
        assert!(!Privilege::Root.is_rootless());
        let rootless = Privilege::UserNamespace {
            outer_uid: 1000,
            outer_gid: 100,
        };
        assert_eq!(rootless.clone_flags(), libc::CLONE_NEWUSER);
        assert!(rootless.is_rootless());
        assert!(rootless.id_maps().is_some());
    }

    #[test]
    fn the_gaps_name_memory_only_without_cgroups() {
        assert!(not_enforced(false)[0].starts_with("memory and CPU"));
        assert!(!not_enforced(true)
            .iter()
            .any(|g| g.contains("memory and CPU limits")));
        assert!(not_enforced(true)
            .iter()
            .any(|g| g.starts_with("/tmp on disk")));
    }

    #[test]
    fn a_directory_of_someone_else_is_refused() {
        // /proc's directories belong to root; as another user they are refused, as
        // root a uid that is not 0 is.
        let err = check_owned(Path::new("/proc/sys"), 4242).unwrap_err();
        assert!(err.to_string().contains("owned by gust's user"), "{err}");
    }
}
