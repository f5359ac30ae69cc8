//! The mount plan: the list of steps that builds an instance's root filesystem out of
//! read-only bind mounts of host directories, a few tmpfs and a fresh `/proc`.
//!
//! gust computes the plan (it inspects the host once, and the instance's paths per
//! launch); the init inside the new mount namespace only replays it through
//! [`Syscall`]. The plan has two halves so a pre-forked init can do the first before
//! it knows its function:
//! - [`system_plan`]: the root tmpfs, system directories, `/etc`, `/dev`, `/proc`
//!   with its sensitive entries masked or made read-only;
//! - [`instance_plan`]: `/tmp` (unless it is a disk image, see `scratch`), `/dev/shm`, `/var/task`, `/var/runtime`, the launch's
//!   host paths, then the root made read-only and `pivot_root` into it.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::syscall::Syscall;

/// One step of the plan. Target paths are as the instance sees them (absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MountOp {
    /// A directory.
    Dir { path: PathBuf, mode: u32 },
    /// A small regular file with fixed contents.
    File {
        path: PathBuf,
        contents: String,
        mode: u32,
    },
    /// A symbolic link.
    Symlink { target: PathBuf, link: PathBuf },
    /// A bind mount of the host's `source` at `target` (created as a directory or an
    /// empty file first), then remounted with `flags` (read-only, nosuid...).
    Bind {
        source: PathBuf,
        target: PathBuf,
        file: bool,
        flags: libc::c_ulong,
    },
    /// A tmpfs. `/` means the new root itself.
    Tmpfs {
        target: PathBuf,
        options: String,
        flags: libc::c_ulong,
    },
    /// A `/proc` for the instance's pid namespace.
    Proc { target: PathBuf },
    /// Hides what `target` shows: the null device bound over a file (it reads
    /// empty), an empty read-only tmpfs over a directory. Container runtimes mask
    /// the same entries of `/proc` the same way.
    Mask { target: PathBuf, dir: bool },
    /// Binds `target` (already inside the new root) onto itself and makes that
    /// mount read-only, so what lies under it can be read but not changed.
    ReadOnly { target: PathBuf },
    /// Changes the flags of the mount at `target` (e.g. read-only).
    Remount {
        target: PathBuf,
        flags: libc::c_ulong,
    },
    /// Makes the new root the root, detaching the host's. Later steps see `/`.
    PivotRoot,
}

const RO: libc::c_ulong = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
const NOSUID_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;
const DEVICE: libc::c_ulong = libc::MS_NOSUID | libc::MS_NOEXEC;
/// The null device over a masked file: it reads empty (and, a device, it takes
/// writes whatever the mount's flags, discarding them).
const MASKED_FILE: libc::c_ulong = DEVICE | libc::MS_RDONLY;

/// Where an instance finds its code, its runtime, and its scratch space.
pub(crate) const TASK_ROOT: &str = "/var/task";
/// Where the function's layers are, merged (an empty directory without layers).
pub(crate) const OPT_DIR: &str = "/opt";
pub(crate) const RUNTIME_DIR: &str = "/var/runtime";

/// The host's system directories shown to every instance, as they exist.
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin",
];

/// The selection of the host's `/etc` an instance needs: the dynamic linker's cache,
/// TLS roots, time zone, name resolution, alternatives, and a few tables libraries
/// read. Users, groups and hosts are synthesised instead.
const ETC_ENTRIES: [&str; 14] = [
    "/etc/ld.so.cache",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/mime.types",
];

/// Files of `/proc` that show kernel memory or addresses, the kernel's keyrings and
/// timers, or scheduler internals of the whole host: masked (they read empty).
const PROC_MASKED_FILES: [&str; 7] = [
    "/proc/kcore",
    "/proc/kallsyms",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/latency_stats",
];

/// Directories of `/proc` about the host's hardware: masked (they show empty).
const PROC_MASKED_DIRS: [&str; 3] = ["/proc/acpi", "/proc/scsi", "/proc/asound"];

/// Entries of `/proc` through which a privileged process changes the kernel, its
/// devices or the whole host: read-only.
const PROC_READ_ONLY: [&str; 5] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// Device nodes bound from the host's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// What the plan needs to know about a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostEntry {
    Dir,
    File,
    /// A symbolic link with its raw target and, if it resolves, the canonical path
    /// and whether that is a directory.
    Symlink {
        target: PathBuf,
        resolved: Option<(PathBuf, bool)>,
    },
}

/// The host's filesystem as the plan sees it (faked in tests).
pub(crate) trait HostFs {
    /// What `path` is, without following a final symlink; `None` if absent.
    fn entry(&self, path: &Path) -> Option<HostEntry>;
}

/// The real host.
pub(crate) struct RealHost;

impl HostFs for RealHost {
    fn entry(&self, path: &Path) -> Option<HostEntry> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).ok()?;
            let resolved = std::fs::canonicalize(path).ok().map(|c| {
                let is_dir = c.is_dir();
                (c, is_dir)
            });
            Some(HostEntry::Symlink { target, resolved })
        } else if meta.is_dir() {
            Some(HostEntry::Dir)
        } else {
            Some(HostEntry::File)
        }
    }
}

/// The identity the instance runs as, for the synthetic `/etc/passwd` and `group`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// The hostname inside every instance; it resolves through the synthetic hosts file.
pub(crate) const HOSTNAME: &str = "localhost";

/// The spec-independent half: everything a pre-forked init can build in advance.
/// Returns the steps and the instance paths that mirror the host (for
/// [`instance_plan`] to know what is already visible).
pub(crate) fn system_plan(host: &dyn HostFs, id: Identity) -> (Vec<MountOp>, Vec<PathBuf>) {
    let mut ops = vec![MountOp::Tmpfs {
        target: "/".into(),
        options: "mode=0755,size=4m,nr_inodes=4096".into(),
        flags: NOSUID_NODEV,
    }];
    let mut visible = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = PathBuf::from(dir);
        match host.entry(&path) {
            Some(HostEntry::Dir) => ops.push(bind(&path, &path, false, RO)),
            Some(HostEntry::Symlink { target, .. }) => ops.push(MountOp::Symlink {
                target,
                link: path.clone(),
            }),
            _ => continue,
        }
        visible.push(path);
    }

    ops.push(dir("/etc", 0o755));
    for entry in ETC_ENTRIES {
        let path = PathBuf::from(entry);
        match host.entry(&path) {
            Some(HostEntry::Dir) => ops.push(bind(&path, &path, false, RO)),
            Some(HostEntry::File) => ops.push(bind(&path, &path, true, RO)),
            // A link into a directory the instance sees stays a link (tools read
            // /etc/localtime's target to name the zone); others are bound resolved.
            Some(HostEntry::Symlink {
                target,
                resolved: Some((resolved, is_dir)),
            }) => {
                if visible.iter().any(|v| resolved.starts_with(v)) {
                    ops.push(MountOp::Symlink { target, link: path });
                } else {
                    ops.push(bind(&resolved, &path, !is_dir, RO));
                }
            }
            _ => {}
        }
    }
    ops.extend(synthetic_etc(id));

    for d in ["/var/task", "/var/runtime", "/tmp", "/opt", "/proc", "/dev"] {
        ops.push(dir(d, 0o755));
    }
    ops.push(MountOp::Proc {
        target: "/proc".into(),
    });
    ops.extend(proc_protection(host));
    ops.push(MountOp::Tmpfs {
        target: "/dev".into(),
        options: "mode=0755,size=64k,nr_inodes=64".into(),
        flags: DEVICE,
    });
    for dev in DEVICES {
        let path = Path::new("/dev").join(dev);
        if host.entry(&path).is_some() {
            ops.push(bind(&path, &path, true, DEVICE));
        }
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            target: target.into(),
            link: link.into(),
        });
    }
    ops.push(dir("/dev/shm", 0o1777));
    ops.push(MountOp::Remount {
        target: "/dev".into(),
        flags: DEVICE | libc::MS_RDONLY,
    });
    (ops, visible)
}

/// Masks and read-only mounts over the instance's fresh `/proc`, for the entries the
/// host's kernel has (the instance's `/proc` comes from the same kernel). The runtime
/// is unprivileged, so most of these are closed to it anyway; this also covers what
/// is readable by all (timers, keys) and anything that would regain privileges.
fn proc_protection(host: &dyn HostFs) -> Vec<MountOp> {
    let exists = |p: &&str| host.entry(Path::new(p)).is_some();
    let files = PROC_MASKED_FILES
        .into_iter()
        .filter(exists)
        .map(|p| MountOp::Mask {
            target: p.into(),
            dir: false,
        });
    let dirs = PROC_MASKED_DIRS
        .into_iter()
        .filter(exists)
        .map(|p| MountOp::Mask {
            target: p.into(),
            dir: true,
        });
    let read_only = PROC_READ_ONLY
        .into_iter()
        .filter(exists)
        .map(|p| MountOp::ReadOnly { target: p.into() });
    files.chain(dirs).chain(read_only).collect()
}

fn synthetic_etc(id: Identity) -> Vec<MountOp> {
    let Identity { uid, gid } = id;
    let file = |path: &str, contents: String| MountOp::File {
        path: path.into(),
        contents,
        mode: 0o644,
    };
    vec![
        file(
            "/etc/passwd",
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\n\
                 sbx_user1051:x:{uid}:{gid}::/tmp:/sbin/nologin\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
            ),
        ),
        file(
            "/etc/group",
            format!("root:x:0:\nsbx_user1051:x:{gid}:\nnogroup:x:65534:\n"),
        ),
        file(
            "/etc/hosts",
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
        ),
        file("/etc/hostname", format!("{HOSTNAME}\n")),
    ]
}

/// The per-launch inputs of [`instance_plan`], host paths already checked absolute.
#[derive(Debug, Clone)]
pub(crate) struct InstancePaths<'a> {
    /// `None` for a prewarmed runtime: the code is attached later (its mount point,
    /// `/var/task`, exists from the system half).
    pub code_dir: Option<&'a Path>,
    /// The function's merged layers, for `/opt`; `None`: no layers (or a
    /// prewarmed runtime, whose layers are attached with its code).
    pub opt_dir: Option<&'a Path>,
    pub runtime_dir: &'a Path,
    /// The AWS SDKs, shown read-only at `/var/runtime/sdk` (a directory of the
    /// runtime directory).
    pub sdk_dir: Option<&'a Path>,
    pub host_paths: &'a [PathBuf],
    /// A managed runtime's interpreter, shown at its own path if nothing else shows it.
    pub interpreter: Option<&'a Path>,
    pub tmp_mb: u32,
    /// `/tmp` is the instance's own disk image, attached by the init after the
    /// plan (see `scratch`): the plan mounts no tmpfs there.
    pub tmp_on_disk: bool,
    pub shm_mb: u32,
}

/// The per-launch half, ending in `pivot_root`. `visible` comes from [`system_plan`].
/// Errors name the host path that is missing or unusable.
pub(crate) fn instance_plan(
    host: &dyn HostFs,
    paths: &InstancePaths<'_>,
    visible: &[PathBuf],
) -> Result<Vec<MountOp>, String> {
    let tmp = (!paths.tmp_on_disk).then(|| MountOp::Tmpfs {
        target: "/tmp".into(),
        options: format!("mode=1777,size={}m", paths.tmp_mb.max(1)),
        flags: NOSUID_NODEV,
    });
    let mut ops: Vec<MountOp> = tmp.into_iter().collect();
    ops.push(MountOp::Tmpfs {
        target: "/dev/shm".into(),
        options: format!("mode=1777,size={}m", paths.shm_mb.max(1)),
        flags: NOSUID_NODEV | libc::MS_NOEXEC,
    });
    let code = paths.code_dir.map(|c| (c, TASK_ROOT));
    let opt = paths.opt_dir.map(|o| (o, OPT_DIR));
    let dirs = code
        .into_iter()
        .chain(opt)
        .chain([(paths.runtime_dir, RUNTIME_DIR)]);
    for (source, target) in dirs {
        let source = resolve_dir(host, source)?;
        ops.push(bind(&source, Path::new(target), false, RO));
    }
    if let Some(sdk) = paths.sdk_dir {
        let source = resolve_dir(host, sdk)?;
        ops.push(bind(
            &source,
            &Path::new(RUNTIME_DIR).join("sdk"),
            false,
            RO,
        ));
    }
    let mut visible: Vec<PathBuf> = visible.to_vec();
    let mut extra: Vec<&Path> = paths.host_paths.iter().map(PathBuf::as_path).collect();
    extra.sort_by_key(|p| p.components().count());
    let interpreter = paths
        .interpreter
        .filter(|i| !extra.iter().any(|p| i.starts_with(p)));
    for path in extra.into_iter().chain(interpreter) {
        check_absolute(path)?;
        if visible.iter().any(|v| path.starts_with(v)) {
            continue;
        }
        let (source, is_dir) = match host.entry(path) {
            Some(HostEntry::Dir) => (path.to_path_buf(), true),
            Some(HostEntry::File) => (path.to_path_buf(), false),
            Some(HostEntry::Symlink {
                resolved: Some((r, is_dir)),
                ..
            }) => (r, is_dir),
            _ => return Err(format!("host path {} does not exist", path.display())),
        };
        ops.push(bind(&source, path, !is_dir, RO));
        visible.push(path.to_path_buf());
    }
    ops.push(MountOp::Remount {
        target: "/".into(),
        flags: RO,
    });
    ops.push(MountOp::PivotRoot);
    Ok(ops)
}

fn resolve_dir(host: &dyn HostFs, path: &Path) -> Result<PathBuf, String> {
    check_absolute(path)?;
    match host.entry(path) {
        Some(HostEntry::Dir) => Ok(path.to_path_buf()),
        Some(HostEntry::Symlink {
            resolved: Some((r, true)),
            ..
        }) => Ok(r),
        Some(_) => Err(format!("{} is not a directory", path.display())),
        None => Err(format!("{} does not exist", path.display())),
    }
}

fn check_absolute(path: &Path) -> Result<(), String> {
    let normal = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !normal || path == Path::new("/") {
        return Err(format!(
            "host path {} must be absolute, without `..`, and not /",
            path.display()
        ));
    }
    Ok(())
}

fn dir(path: &str, mode: u32) -> MountOp {
    MountOp::Dir {
        path: path.into(),
        mode,
    }
}

fn bind(source: &Path, target: &Path, file: bool, flags: libc::c_ulong) -> MountOp {
    MountOp::Bind {
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        file,
        flags,
    }
}

/// Replays `ops` with `root` as the new root until [`MountOp::PivotRoot`], then `/`.
/// The error says which step failed.
pub(crate) fn apply(
    sys: &dyn Syscall,
    root: &Path,
    ops: &[MountOp],
) -> Result<(), (String, std::io::Error)> {
    let mut root = root.to_path_buf();
    for op in ops {
        apply_one(sys, &mut root, op).map_err(|e| (describe(op), e))?;
    }
    Ok(())
}

fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn apply_one(sys: &dyn Syscall, root: &mut PathBuf, op: &MountOp) -> std::io::Result<()> {
    const BIND: libc::c_ulong = libc::MS_BIND;
    const REMOUNT: libc::c_ulong = libc::MS_BIND | libc::MS_REMOUNT;
    match op {
        MountOp::Dir { path, mode } => sys.mkdir_all(&inside(root, path), *mode),
        MountOp::File {
            path,
            contents,
            mode,
        } => sys.create_file(&inside(root, path), contents.as_bytes(), *mode),
        MountOp::Symlink { target, link } => sys.symlink(target, &inside(root, link)),
        MountOp::Bind {
            source,
            target,
            file,
            flags,
        } => {
            let at = inside(root, target);
            if *file {
                if let Some(parent) = at.parent() {
                    sys.mkdir_all(parent, 0o755)?;
                }
                sys.touch(&at)?;
            } else {
                sys.mkdir_all(&at, 0o755)?;
            }
            sys.mount(Some(source), &at, None, BIND, None)?;
            if *flags != 0 {
                sys.mount(None, &at, None, REMOUNT | *flags, None)?;
            }
            Ok(())
        }
        MountOp::Tmpfs {
            target,
            options,
            flags,
        } => sys.mount(
            Some(Path::new("tmpfs")),
            &inside(root, target),
            Some("tmpfs"),
            *flags,
            Some(options),
        ),
        MountOp::Proc { target } => sys.mount(
            Some(Path::new("proc")),
            &inside(root, target),
            Some("proc"),
            (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong,
            None,
        ),
        MountOp::Mask { target, dir: false } => {
            let at = inside(root, target);
            sys.mount(Some(Path::new("/dev/null")), &at, None, BIND, None)?;
            sys.mount(None, &at, None, REMOUNT | MASKED_FILE, None)
        }
        MountOp::Mask { target, dir: true } => sys.mount(
            Some(Path::new("tmpfs")),
            &inside(root, target),
            Some("tmpfs"),
            RO | libc::MS_NOEXEC,
            Some("mode=0555,size=4k,nr_inodes=1"),
        ),
        MountOp::ReadOnly { target } => {
            let at = inside(root, target);
            sys.mount(Some(&at), &at, None, BIND, None)?;
            sys.mount(None, &at, None, REMOUNT | RO | libc::MS_NOEXEC, None)
        }
        MountOp::Remount { target, flags } => {
            sys.mount(None, &inside(root, target), None, REMOUNT | *flags, None)
        }
        MountOp::PivotRoot => {
            sys.pivot_root(root)?;
            *root = PathBuf::from("/");
            Ok(())
        }
    }
}

fn describe(op: &MountOp) -> String {
    match op {
        MountOp::Dir { path, .. } => format!("creating {}", path.display()),
        MountOp::File { path, .. } => format!("writing {}", path.display()),
        MountOp::Symlink { link, .. } => format!("linking {}", link.display()),
        MountOp::Bind { source, target, .. } => {
            format!("mounting {} at {}", source.display(), target.display())
        }
        MountOp::Tmpfs { target, .. } => format!("mounting a tmpfs at {}", target.display()),
        MountOp::Proc { target } => format!("mounting proc at {}", target.display()),
        MountOp::Mask { target, .. } => format!("masking {}", target.display()),
        MountOp::ReadOnly { target } => format!("making {} read-only", target.display()),
        MountOp::Remount { target, .. } => format!("remounting {}", target.display()),
        MountOp::PivotRoot => "pivoting into the new root".into(),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
