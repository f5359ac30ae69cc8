//! The mount plan against a fake host, and its replay against a recording
//! [`Syscall`], without root.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::*;

/// A Debian-like host: merged /usr, /etc/localtime into /usr, resolv.conf into /run.
struct FakeHost(HashMap<PathBuf, HostEntry>);

impl FakeHost {
    fn debian() -> FakeHost {
        let mut m = HashMap::new();
        let link = |target: &str, resolved: &str, is_dir: bool| HostEntry::Symlink {
            target: target.into(),
            resolved: Some((resolved.into(), is_dir)),
        };
        m.insert("/usr".into(), HostEntry::Dir);
        m.insert("/lib".into(), link("usr/lib", "/usr/lib", true));
        m.insert("/lib64".into(), link("usr/lib64", "/usr/lib64", true));
        m.insert("/bin".into(), link("usr/bin", "/usr/bin", true));
        m.insert("/sbin".into(), link("usr/sbin", "/usr/sbin", true));
        m.insert("/etc/ld.so.cache".into(), HostEntry::File);
        m.insert("/etc/ssl".into(), HostEntry::Dir);
        m.insert("/etc/shadow".into(), HostEntry::File);
        m.insert(
            "/etc/localtime".into(),
            link(
                "/usr/share/zoneinfo/Etc/UTC",
                "/usr/share/zoneinfo/Etc/UTC",
                false,
            ),
        );
        m.insert(
            "/etc/resolv.conf".into(),
            link(
                "../run/systemd/resolve/stub-resolv.conf",
                "/run/systemd/resolve/stub-resolv.conf",
                false,
            ),
        );
        for d in ["null", "zero", "full", "random", "urandom", "tty"] {
            m.insert(Path::new("/dev").join(d), HostEntry::File);
        }
        // A kernel without SCSI, sound, timer_stats, latency_stats, /proc/irq or
        // /proc/fs.
        for f in [
            "/proc/kcore",
            "/proc/kallsyms",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/sched_debug",
            "/proc/sysrq-trigger",
        ] {
            m.insert(f.into(), HostEntry::File);
        }
        for d in ["/proc/sys", "/proc/acpi", "/proc/bus"] {
            m.insert(d.into(), HostEntry::Dir);
        }
        m.insert("/root/.pyenv/versions/3.11.7".into(), HostEntry::Dir);
        m.insert("/opt/node/bin/node".into(), HostEntry::File);
        m.insert("/srv/code".into(), HostEntry::Dir);
        m.insert("/srv/runtimes".into(), HostEntry::Dir);
        m.insert("/srv/opt".into(), HostEntry::Dir);
        FakeHost(m)
    }
}

impl HostFs for FakeHost {
    fn entry(&self, path: &Path) -> Option<HostEntry> {
        self.0.get(path).cloned()
    }
}

const ID: Identity = Identity { uid: 993, gid: 990 };

fn binds(ops: &[MountOp]) -> Vec<(String, String, libc::c_ulong)> {
    ops.iter()
        .filter_map(|op| match op {
            MountOp::Bind {
                source,
                target,
                flags,
                ..
            } => Some((
                source.display().to_string(),
                target.display().to_string(),
                *flags,
            )),
            _ => None,
        })
        .collect()
}

fn symlinks(ops: &[MountOp]) -> Vec<(String, String)> {
    ops.iter()
        .filter_map(|op| match op {
            MountOp::Symlink { target, link } => {
                Some((link.display().to_string(), target.display().to_string()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_system_half_binds_only_the_runtime_directories_read_only() {
    let (ops, visible) = system_plan(&FakeHost::debian(), ID);
    assert!(matches!(&ops[0], MountOp::Tmpfs { target, .. } if target == Path::new("/")));
    let sources: Vec<String> = binds(&ops).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(
        sources,
        [
            "/usr",
            "/etc/ld.so.cache",
            "/etc/ssl",
            "/run/systemd/resolve/stub-resolv.conf",
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty",
        ]
    );
    for (source, target, flags) in binds(&ops) {
        if source.starts_with("/dev/") {
            // Devices must stay writable (/dev/null) but never carry exec or suid.
            assert_eq!(flags, libc::MS_NOSUID | libc::MS_NOEXEC, "{source}");
        } else {
            assert_eq!(flags, RO, "{source}");
            assert!(target == source || source.starts_with("/run/"), "{source}");
        }
    }
    assert_eq!(
        visible,
        [
            Path::new("/usr"),
            Path::new("/lib"),
            Path::new("/lib64"),
            Path::new("/bin"),
            Path::new("/sbin")
        ]
    );
    let links = symlinks(&ops);
    assert!(links.contains(&("/lib".into(), "usr/lib".into())));
    // /etc/localtime points into /usr, which the instance sees: it stays a link.
    assert!(links.contains(&(
        "/etc/localtime".into(),
        "/usr/share/zoneinfo/Etc/UTC".into()
    )));
    assert!(links.contains(&("/dev/fd".into(), "/proc/self/fd".into())));
}

#[test]
fn users_and_hosts_are_synthetic() {
    let (ops, _) = system_plan(&FakeHost::debian(), ID);
    let file = |name: &str| {
        ops.iter()
            .find_map(|op| match op {
                MountOp::File { path, contents, .. } if path == Path::new(name) => {
                    Some(contents.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(file("/etc/passwd").contains("sbx_user1051:x:993:990:"));
    assert!(file("/etc/group").contains("sbx_user1051:x:990:"));
    assert!(file("/etc/hosts").contains("127.0.0.1\tlocalhost"));
    // The host's shadow file is never part of the plan.
    assert!(!format!("{ops:?}").contains("shadow"));
}

#[test]
fn dev_is_read_only_after_it_is_populated() {
    let (ops, _) = system_plan(&FakeHost::debian(), ID);
    let last_dev = ops
        .iter()
        .rposition(|op| format!("{op:?}").contains("\"/dev"))
        .unwrap();
    assert_eq!(
        ops[last_dev],
        MountOp::Remount {
            target: "/dev".into(),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY,
        }
    );
}

#[test]
fn proc_hides_kernel_internals_and_is_read_only_where_it_changes_the_host() {
    let (ops, _) = system_plan(&FakeHost::debian(), ID);
    let proc_at = ops
        .iter()
        .position(|op| matches!(op, MountOp::Proc { .. }))
        .unwrap();
    let mut masked_files = vec![];
    let mut masked_dirs = vec![];
    let mut read_only = vec![];
    for (i, op) in ops.iter().enumerate() {
        let (list, target) = match op {
            MountOp::Mask { target, dir: false } => (&mut masked_files, target),
            MountOp::Mask { target, dir: true } => (&mut masked_dirs, target),
            MountOp::ReadOnly { target } => (&mut read_only, target),
            _ => continue,
        };
        assert!(i > proc_at, "{op:?} comes before /proc is mounted");
        list.push(target.display().to_string());
    }
    // Only what the host's kernel has: no mount may fail on a missing target.
    assert_eq!(
        masked_files,
        [
            "/proc/kcore",
            "/proc/kallsyms",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/sched_debug"
        ]
    );
    assert_eq!(masked_dirs, ["/proc/acpi"]);
    assert_eq!(read_only, ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus"]);
}

fn paths<'a>(host_paths: &'a [PathBuf], interpreter: Option<&'a Path>) -> InstancePaths<'a> {
    InstancePaths {
        code_dir: Some(Path::new("/srv/code")),
        opt_dir: None,
        runtime_dir: Path::new("/srv/runtimes"),
        sdk_dir: None,
        host_paths,
        interpreter,
        tmp_mb: 512,
        tmp_on_disk: false,
        shm_mb: 128,
    }
}

#[test]
fn a_disk_backed_tmp_is_left_to_the_init() {
    let host = FakeHost::debian();
    let (_, visible) = system_plan(&host, ID);
    let on_disk = InstancePaths {
        tmp_on_disk: true,
        ..paths(&[], None)
    };
    let ops = instance_plan(&host, &on_disk, &visible).unwrap();
    let tmpfs: Vec<&Path> = ops
        .iter()
        .filter_map(|op| match op {
            MountOp::Tmpfs { target, .. } => Some(target.as_path()),
            _ => None,
        })
        .collect();
    // Only /dev/shm: no tmpfs (memory) under /tmp.
    assert_eq!(tmpfs, [Path::new("/dev/shm")]);
}

#[test]
fn the_instance_half_shows_code_runtime_and_host_paths_then_pivots() {
    let host = FakeHost::debian();
    let (_, visible) = system_plan(&host, ID);
    let host_paths = [
        PathBuf::from("/root/.pyenv/versions/3.11.7"),
        PathBuf::from("/usr/local/lib/python3"), // already visible through /usr
    ];
    let interp = Path::new("/root/.pyenv/versions/3.11.7/bin/python3");
    let ops = instance_plan(&host, &paths(&host_paths, Some(interp)), &visible).unwrap();
    assert_eq!(
        binds(&ops),
        [
            ("/srv/code".into(), "/var/task".into(), RO),
            ("/srv/runtimes".into(), "/var/runtime".into(), RO),
            (
                "/root/.pyenv/versions/3.11.7".into(),
                "/root/.pyenv/versions/3.11.7".into(),
                RO
            ),
        ]
    );
    assert!(matches!(&ops[0], MountOp::Tmpfs { target, options, .. }
        if target == Path::new("/tmp") && options == "mode=1777,size=512m"));
    assert_eq!(
        ops[ops.len() - 2],
        MountOp::Remount {
            target: "/".into(),
            flags: RO
        }
    );
    assert_eq!(ops[ops.len() - 1], MountOp::PivotRoot);
}

#[test]
fn an_interpreter_outside_every_shown_path_is_bound_alone() {
    let host = FakeHost::debian();
    let (_, visible) = system_plan(&host, ID);
    let ops = instance_plan(
        &host,
        &paths(&[], Some(Path::new("/opt/node/bin/node"))),
        &visible,
    )
    .unwrap();
    let bound = binds(&ops);
    assert_eq!(bound.len(), 3);
    assert_eq!(bound[2].0, "/opt/node/bin/node");
    assert!(ops
        .iter()
        .any(|op| matches!(op, MountOp::Bind { file: true, target, .. }
        if target == Path::new("/opt/node/bin/node"))));
}

#[test]
fn bad_host_paths_are_refused_with_their_name() {
    let host = FakeHost::debian();
    let (_, visible) = system_plan(&host, ID);
    for (bad, expect) in [
        ("/does/not/exist", "does not exist"),
        ("relative/path", "must be absolute"),
        ("/root/../etc", "must be absolute"),
        ("/", "must be absolute"),
    ] {
        let hp = [PathBuf::from(bad)];
        let err = instance_plan(&host, &paths(&hp, None), &visible).unwrap_err();
        assert!(err.contains(bad) && err.contains(expect), "{bad}: {err}");
    }
    let mut missing_code = paths(&[], None);
    missing_code.code_dir = Some(Path::new("/srv/nothing"));
    let err = instance_plan(&host, &missing_code, &visible).unwrap_err();
    assert!(err.contains("/srv/nothing does not exist"), "{err}");
}

/// Records every call, succeeding.
#[derive(Default)]
struct Recorder(RefCell<Vec<String>>);

impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.0.borrow_mut().push(format!(
            "mount {:?} {} {:?} {flags:#x} {:?}",
            source,
            target.display(),
            fstype,
            data
        ));
        Ok(())
    }
    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.0
            .borrow_mut()
            .push(format!("mkdir {} {mode:o}", path.display()));
        Ok(())
    }
    fn create_file(&self, path: &Path, contents: &[u8], _mode: u32) -> io::Result<()> {
        self.0
            .borrow_mut()
            .push(format!("write {} {}", path.display(), contents.len()));
        Ok(())
    }
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.0.borrow_mut().push(format!(
            "symlink {} -> {}",
            link.display(),
            target.display()
        ));
        Ok(())
    }
    fn touch(&self, path: &Path) -> io::Result<()> {
        self.0
            .borrow_mut()
            .push(format!("touch {}", path.display()));
        Ok(())
    }
    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        self.0
            .borrow_mut()
            .push(format!("pivot_root {}", new_root.display()));
        Ok(())
    }
}

#[test]
fn replaying_binds_read_only_under_the_new_root_then_pivots() {
    let rec = Recorder::default();
    let ops = [
        bind(Path::new("/srv/code"), Path::new("/var/task"), false, RO),
        bind(Path::new("/dev/null"), Path::new("/dev/null"), true, DEVICE),
        MountOp::PivotRoot,
        dir("/after", 0o700),
    ];
    apply(&rec, Path::new("/run/r"), &ops).unwrap();
    let bind = libc::MS_BIND;
    let remount = libc::MS_BIND | libc::MS_REMOUNT;
    assert_eq!(
        rec.0.into_inner(),
        [
            "mkdir /run/r/var/task 755".to_string(),
            format!("mount Some(\"/srv/code\") /run/r/var/task None {bind:#x} None"),
            format!(
                "mount None /run/r/var/task None {:#x} None",
                remount | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV
            ),
            "mkdir /run/r/dev 755".to_string(),
            "touch /run/r/dev/null".to_string(),
            format!("mount Some(\"/dev/null\") /run/r/dev/null None {bind:#x} None"),
            format!(
                "mount None /run/r/dev/null None {:#x} None",
                remount | libc::MS_NOSUID | libc::MS_NOEXEC
            ),
            "pivot_root /run/r".to_string(),
            // After the pivot, paths are the new root's own.
            "mkdir /after 700".to_string(),
        ]
    );
}

#[test]
fn replaying_masks_binds_the_null_device_or_an_empty_tmpfs_read_only() {
    let rec = Recorder::default();
    let ops = [
        MountOp::Mask {
            target: "/proc/kcore".into(),
            dir: false,
        },
        MountOp::Mask {
            target: "/proc/acpi".into(),
            dir: true,
        },
        MountOp::ReadOnly {
            target: "/proc/sys".into(),
        },
    ];
    apply(&rec, Path::new("/run/r"), &ops).unwrap();
    let bind = libc::MS_BIND;
    let remount = libc::MS_BIND | libc::MS_REMOUNT;
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    assert_eq!(
        rec.0.into_inner(),
        [
            format!("mount Some(\"/dev/null\") /run/r/proc/kcore None {bind:#x} None"),
            format!(
                "mount None /run/r/proc/kcore None {:#x} None",
                // Not nodev: the null device must still open, to read empty.
                remount | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC
            ),
            format!(
                "mount Some(\"tmpfs\") /run/r/proc/acpi Some(\"tmpfs\") {ro:#x} \
                 Some(\"mode=0555,size=4k,nr_inodes=1\")"
            ),
            format!("mount Some(\"/run/r/proc/sys\") /run/r/proc/sys None {bind:#x} None"),
            format!("mount None /run/r/proc/sys None {:#x} None", remount | ro),
        ]
    );
}

#[test]
fn a_failing_step_is_named() {
    struct Failing;
    impl Syscall for Failing {
        fn mount(
            &self,
            _: Option<&Path>,
            _: &Path,
            _: Option<&str>,
            _: libc::c_ulong,
            _: Option<&str>,
        ) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(libc::EPERM))
        }
        fn mkdir_all(&self, _: &Path, _: u32) -> io::Result<()> {
            Ok(())
        }
        fn create_file(&self, _: &Path, _: &[u8], _: u32) -> io::Result<()> {
            Ok(())
        }
        fn symlink(&self, _: &Path, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn touch(&self, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn pivot_root(&self, _: &Path) -> io::Result<()> {
            Ok(())
        }
    }
    let ops = [bind(
        Path::new("/srv/code"),
        Path::new("/var/task"),
        false,
        RO,
    )];
    let (step, err) = apply(&Failing, Path::new("/r"), &ops).unwrap_err();
    assert_eq!(step, "mounting /srv/code at /var/task");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
}

#[test]
fn a_prewarmed_instance_half_leaves_the_task_root_for_later() {
    let host = FakeHost::debian();
    let (_, visible) = system_plan(&host, ID);
    let mut prewarm = paths(&[], None);
    prewarm.code_dir = None;
    let ops = instance_plan(&host, &prewarm, &visible).unwrap();
    assert!(
        !binds(&ops)
            .iter()
            .any(|(_, target, _)| target == "/var/task"),
        "{ops:?}"
    );
    assert!(binds(&ops)
        .iter()
        .any(|(_, target, _)| target == "/var/runtime"));
    assert_eq!(ops.last(), Some(&MountOp::PivotRoot));
}

#[test]
fn layers_are_shown_read_only_at_opt_and_the_host_opt_never() {
    let host = FakeHost::debian();
    let (system, visible) = system_plan(&host, ID);
    // The system half makes an empty /opt (the mount point) and shows nothing of
    // the host's own /opt.
    assert!(system.contains(&MountOp::Dir {
        path: "/opt".into(),
        mode: 0o755
    }));
    assert!(!binds(&system).iter().any(|(s, _, _)| s.starts_with("/opt")));
    let with_layers = InstancePaths {
        opt_dir: Some(Path::new("/srv/opt")),
        ..paths(&[], None)
    };
    let ops = instance_plan(&host, &with_layers, &visible).unwrap();
    assert_eq!(
        binds(&ops),
        [
            ("/srv/code".into(), "/var/task".into(), RO),
            ("/srv/opt".into(), "/opt".into(), RO),
            ("/srv/runtimes".into(), "/var/runtime".into(), RO),
        ]
    );
    let without = instance_plan(&host, &paths(&[], None), &visible).unwrap();
    assert!(!binds(&without).iter().any(|(_, t, _)| t == "/opt"));
    let missing = InstancePaths {
        opt_dir: Some(Path::new("/srv/gone")),
        ..paths(&[], None)
    };
    let err = instance_plan(&host, &missing, &visible).unwrap_err();
    assert!(err.contains("/srv/gone"), "{err}");
}
