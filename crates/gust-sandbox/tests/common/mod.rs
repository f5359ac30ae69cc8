//! Helpers for the Linux sandbox integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gust_sandbox::linux::{LinuxSandbox, LinuxSandboxConfig};
use gust_sandbox::{Entrypoint, ExitReport, LaunchSpec, Launched, Sandbox};

/// The Python the tests run inside the sandbox: an interpreter prefix under /root,
/// shown through `host_paths` only.
pub const PY_PREFIX: &str = "/root/.pyenv/versions/3.11.7";

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn config() -> LinuxSandboxConfig {
    LinuxSandboxConfig {
        init_program: PathBuf::from(env!("CARGO_BIN_EXE_gust-sandbox-init")),
        init_args: vec![],
        ..LinuxSandboxConfig::default()
    }
}

/// The shared sandbox (no pool), or `None` with a message when not root.
/// The Linux sandbox the tests share. The tests that call it are ignored unless the
/// crate was built as root (see build.rs), so the runner shows them as skipped where
/// they cannot run; run anyway (`--run-ignored`), they fail with the reason.
pub fn sandbox() -> &'static LinuxSandbox {
    assert!(
        is_root(),
        "the Linux sandbox tests need root (namespaces, mounts, cgroups)"
    );
    static SANDBOX: OnceLock<LinuxSandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| LinuxSandbox::probe_with(config()).expect("probing the Linux sandbox"))
}

pub fn python() -> PathBuf {
    let p = Path::new(PY_PREFIX).join("bin/python3");
    assert!(p.exists(), "the tests need Python at {PY_PREFIX}");
    p
}

/// A function's code and runtime directories, world-writable on the host so that
/// only the sandbox's read-only mounts can stop writes.
pub struct Fixture {
    pub code: tempfile::TempDir,
    pub runtime: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let code = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        for d in [code.path(), runtime.path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        Fixture { code, runtime }
    }

    pub fn bootstrap(&self, script: &str) {
        let path = self.code.path().join("bootstrap");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A Python program as the runtime (a managed entrypoint).
    pub fn python_spec(&self, id: &str, program: &str) -> LaunchSpec {
        let script = self.runtime.path().join("main.py");
        std::fs::write(&script, program).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        LaunchSpec {
            entrypoint: Entrypoint::Managed {
                interpreter: python(),
                args: vec!["-S".into()],
                script: "main.py".into(),
            },
            host_paths: vec![PathBuf::from(PY_PREFIX)],
            ..self.spec(id)
        }
    }

    pub fn spec(&self, id: &str) -> LaunchSpec {
        LaunchSpec {
            instance_id: unique(id),
            entrypoint: Entrypoint::TaskBootstrap,
            env: vec![],
            code_dir: self.code.path().to_path_buf(),
            opt_dir: None,
            runtime_dir: self.runtime.path().to_path_buf(),
            host_paths: vec![],
            memory_mb: 128,
            tmp_mb: 16,
            outbound: false,
        }
    }

    pub fn run(&self, sb: &LinuxSandbox, spec: LaunchSpec) -> Run {
        let launched = sb.launch(&spec).expect("launching");
        finish(launched, Duration::from_secs(30))
    }
}

/// An instance id unique across concurrent test processes.
pub fn unique(id: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-{id}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Run {
    pub report: ExitReport,
    pub output: String,
    pub peak: Option<u64>,
}

/// Waits for the instance to exit (killing it after `timeout`), collecting output.
pub fn finish(launched: Launched, timeout: Duration) -> Run {
    let mut out = std::fs::File::from(launched.output);
    let mut output = Vec::new();
    let deadline = Instant::now() + timeout;
    let report = loop {
        let mut fds = [
            libc::pollfd {
                fd: launched.process.exit_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: out.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        let mut buf = [0u8; 65536];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            output.extend_from_slice(&buf[..n]);
        }
        if let Some(r) = launched.process.try_wait() {
            break r;
        }
        if Instant::now() > deadline {
            launched.process.kill();
        }
    };
    let mut buf = [0u8; 65536];
    while let Ok(n) = out.read(&mut buf) {
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
    }
    Run {
        report,
        output: String::from_utf8_lossy(&output).into_owned(),
        peak: launched.process.memory_peak_bytes(),
    }
}

/// The cgroup v1 hierarchies the sandbox uses on this host: memory, cpu, pids, and
/// the freezer where it is mounted.
pub fn v1_controllers() -> Vec<&'static str> {
    let mut controllers = vec!["memory", "cpu", "pids"];
    if Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists() {
        controllers.push("freezer");
    }
    controllers
}

/// The directories of an instance's cgroup on this host.
pub fn cgroup_dirs(sb: &LinuxSandbox, parent: &str, instance_id: &str) -> Vec<PathBuf> {
    match sb.cgroup_version() {
        "v1" => v1_controllers()
            .iter()
            .map(|c| {
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(parent)
                    .join(instance_id)
            })
            .collect(),
        "v2" => vec![Path::new("/sys/fs/cgroup").join(parent).join(instance_id)],
        _ => vec![],
    }
}

/// The pids cgroup directory of an instance (v1 pids hierarchy, or the v2 cgroup).
pub fn pids_dir(sb: &LinuxSandbox, instance_id: &str) -> PathBuf {
    match sb.cgroup_version() {
        "v1" => Path::new("/sys/fs/cgroup/pids/gust").join(instance_id),
        _ => Path::new("/sys/fs/cgroup/gust").join(instance_id),
    }
}

/// Reads `key N` from a cgroup file such as pids.events.
pub fn keyed(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Host pids in an instance's cgroup.
pub fn cgroup_pids(sb: &LinuxSandbox, instance_id: &str) -> Vec<u32> {
    std::fs::read_to_string(pids_dir(sb, instance_id).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Whether a host process is still alive (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// Output lines of the form `key=value`.
pub fn field<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}
