//! Starts function instances. This is the only crate of gust that makes process and
//! isolation syscalls; everything above it sees the [`Sandbox`] trait.
//!
//! # Layout
//! - [`Sandbox`]: launches one instance from a [`LaunchSpec`] and returns [`Launched`].
//! - [`InstanceProcess`]: a running instance: its exit notification, kill, memory peak,
//!   freeze and thaw.
//! - [`none`]: `--isolation none`, a plain process group on the host (development only).
//! - [`linux`]: `--isolation linux`: namespaces, read-only bind-mounted root, cgroups,
//!   seccomp, no privileges; with an optional pool of pre-forked sandboxes.
//!
//! # What a launch hands back
//! Every instance gets a TCP listener for its Runtime API, created by the sandbox so it
//! can live wherever the instance's network is (the host's loopback for `none`, the
//! instance's own network namespace otherwise). gust serves the Runtime API on that
//! listener; the instance finds it through `AWS_LAMBDA_RUNTIME_API`, which the sandbox
//! sets. The instance's stdout and stderr are merged into one pipe, so log lines keep
//! their order.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

#[cfg(target_os = "linux")]
pub mod linux;
pub mod none;
mod pipe;

pub use pipe::output_pipe;

/// Why an instance could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A syscall or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the sandbox was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The host cannot provide this isolation; the message says what is missing.
    #[error("{0}")]
    Unavailable(String),
    /// The host is short of something instances hold while they live (the disk
    /// their `/tmp` images are promised): ending an idle instance may free it.
    #[error("{0}")]
    Exhausted(String),
}

impl SandboxError {
    /// Wraps an OS error with what the sandbox was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What runs first inside the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entrypoint {
    /// A managed runtime: `interpreter args... <runtime_dir>/<script>`.
    Managed {
        /// Host path of the interpreter (visible at the same path inside).
        interpreter: PathBuf,
        /// Arguments before the script.
        args: Vec<String>,
        /// The bootstrap script's path relative to the runtime directory.
        script: String,
    },
    /// A custom runtime: the archive's own `bootstrap` executable.
    TaskBootstrap,
}

/// Everything needed to launch one instance.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// Unique id, used for cgroup names and logs.
    pub instance_id: String,
    /// What to run.
    pub entrypoint: Entrypoint,
    /// Environment, without `AWS_LAMBDA_RUNTIME_API`, `LAMBDA_TASK_ROOT` and
    /// `LAMBDA_RUNTIME_DIR`, which the sandbox sets because it knows the paths.
    pub env: Vec<(String, String)>,
    /// Host path of the extracted code (read-only at the task root).
    pub code_dir: PathBuf,
    /// Host path of the function's merged layers, read-only at `/opt` (an isolated
    /// instance without layers sees an empty `/opt`). `none` cannot mount: it
    /// points the runtime's search paths at this directory instead.
    pub opt_dir: Option<PathBuf>,
    /// Host path of gust's runtime bootstraps (read-only at the runtime dir).
    pub runtime_dir: PathBuf,
    /// Host directories the runtime needs beyond the system ones (e.g. the Python
    /// installation prefix), shown read-only at the same path inside.
    pub host_paths: Vec<PathBuf>,
    /// Memory limit in MB.
    pub memory_mb: u32,
    /// Size of `/tmp` in MB.
    pub tmp_mb: u32,
    /// Whether the instance may send traffic beyond its Runtime API (through NAT).
    /// Without it an isolated instance has only its loopback; `none` always has the
    /// host's network.
    pub outbound: bool,
}

/// A managed runtime a sandbox may start ahead of demand, before it knows the
/// function ([`Sandbox::prewarm`]): a launch whose spec matches then only attaches
/// the function's code and hands the waiting runtime its environment, skipping the
/// interpreter's start-up.
///
/// The runtime is started with the environment `startup_env` plus
/// `_GUST_PREWARM_FD=<fd>`: it must read its function's configuration from that
/// descriptor (a JSON object `{"env": {...}, "cwd": "..."}`, sent once, then end of
/// file; nothing at all if the sandbox is discarded) before it looks at its
/// environment, replace its environment with `env`, and enter `cwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrewarmTemplate {
    /// What runs: must equal the launch's.
    pub entrypoint: Entrypoint,
    /// Must equal the launch's.
    pub runtime_dir: PathBuf,
    /// Must equal the launch's.
    pub host_paths: Vec<PathBuf>,
    /// The variables the runtime reads while it starts (before it waits for its
    /// function), with the values every function gets unless it sets its own.
    pub startup_env: Vec<(String, String)>,
    /// Prefixes of variables that change how the runtime starts (`PYTHON`, `LD_`):
    /// a launch that sets any, or gives a `startup_env` variable another value, is
    /// started the ordinary way.
    pub startup_prefixes: Vec<String>,
    /// How many to keep ready.
    pub count: usize,
}

impl PrewarmTemplate {
    /// Whether a launch can take a runtime started from this template.
    pub fn matches(&self, spec: &LaunchSpec) -> bool {
        if spec.entrypoint != self.entrypoint
            || spec.runtime_dir != self.runtime_dir
            || spec.host_paths != self.host_paths
            || spec.outbound
        {
            return false;
        }
        let startup = |k: &str| {
            self.startup_env.iter().any(|(s, _)| s == k)
                || self
                    .startup_prefixes
                    .iter()
                    .any(|p| k.starts_with(p.as_str()))
        };
        let wanted: Vec<&(String, String)> = spec.env.iter().filter(|(k, _)| startup(k)).collect();
        wanted.len() == self.startup_env.len()
            && wanted.iter().all(|kv| self.startup_env.contains(kv))
    }
}

/// How an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReport {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal, if it was killed by one.
    pub signal: Option<i32>,
    /// Whether the kernel's OOM killer ended it.
    pub oom_killed: bool,
}

impl std::fmt::Display for ExitReport {
    /// Formats as Lambda does in `Runtime.ExitError` messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (_, Some(sig)) => write!(f, "signal: {}", signal_name(sig)),
            (Some(code), None) => write!(f, "exit status {code}"),
            (None, None) => f.write_str("unknown exit"),
        }
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "killed".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        libc::SIGTERM => "terminated".into(),
        other => format!("{other}"),
    }
}

/// A running instance.
pub trait InstanceProcess: Send + Sync {
    /// The instance's main process id (as seen from the host).
    fn pid(&self) -> u32;
    /// A file descriptor that becomes readable when the main process exits (a pidfd).
    fn exit_fd(&self) -> BorrowedFd<'_>;
    /// Reaps the main process if it has exited. Call after `exit_fd` is readable.
    fn try_wait(&self) -> Option<ExitReport>;
    /// Kills every process of the instance. Idempotent.
    fn kill(&self);
    /// Peak memory use of the whole instance in bytes, where the host can tell.
    fn memory_peak_bytes(&self) -> Option<u64>;
    /// Current memory use of the whole instance in bytes, where the host can tell.
    fn memory_current_bytes(&self) -> Option<u64>;
    /// Tells the sandbox the runtime finished initialising (it asked for its first
    /// invocation). A sandbox that lets initialisation use more CPU than the
    /// function's share (as Lambda does) lowers it to the share now. Default: nothing.
    fn finish_init(&self) {}
    /// Freezes every process of the instance, as Lambda freezes an idle execution
    /// environment: its threads and timers stop until [`thaw`](Self::thaw), and it
    /// cannot tell (no signal, no wake-up). The write takes microseconds; the kernel
    /// completes the freeze asynchronously. Returns whether the sandbox froze it;
    /// default: it cannot (`none`), and the instance keeps running.
    fn freeze(&self) -> bool {
        false
    }
    /// Lets a frozen instance run again; when it returns, its processes are
    /// runnable, so whatever is written to the runtime next finds it awake. Thawing
    /// an instance that is not frozen does nothing. An error means the instance may
    /// still be frozen: kill it. Default: nothing.
    fn thaw(&self) -> std::io::Result<()> {
        Ok(())
    }
    /// Whether the kernel reports every process of the instance frozen, where the
    /// sandbox can tell (for tests and measurements).
    fn frozen(&self) -> Option<bool> {
        None
    }
}

/// A launched instance.
pub struct Launched {
    /// The running instance.
    pub process: Box<dyn InstanceProcess>,
    /// Read end of the instance's merged stdout/stderr, non-blocking.
    pub output: OwnedFd,
    /// The instance's Runtime API listener, non-blocking.
    pub runtime_api: std::net::TcpListener,
    /// Where gust's own API answers inside the instance (see
    /// `LinuxSandboxConfig::gateway_port`), non-blocking; `None` where the
    /// instance reaches gust's listener directly or not at all.
    pub gateway: Option<std::net::TcpListener>,
}

/// Launches instances. Implementations: [`none::NoIsolation`] and
/// [`linux::LinuxSandbox`].
pub trait Sandbox: Send + Sync {
    /// `none`, `linux` or `linux-rootless`: reported in health and logs.
    fn name(&self) -> &'static str;
    /// Starts one instance.
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, SandboxError>;
    /// Why this sandbox cannot give instances outbound network
    /// ([`LaunchSpec::outbound`]), if it cannot. Default: it can.
    fn outbound_unavailable(&self) -> Option<&'static str> {
        None
    }
    /// Keeps runtimes of `template` started ahead of demand, if this sandbox can.
    /// Default: it cannot, and launches stay as they are.
    fn prewarm(&self, template: PrewarmTemplate) {
        let _ = template;
    }
    /// What the sandbox keeps ready ahead of demand now. Default: nothing.
    fn pool_levels(&self) -> PoolLevels {
        PoolLevels::default()
    }
}

/// What a sandbox keeps ready ahead of demand, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolLevels {
    /// Pre-forked sandboxes waiting for a function.
    pub sandboxes: usize,
    /// Of those kept for outbound networking, with their link made.
    pub linked: usize,
    /// Runtimes started in pooled sandboxes, waiting for a function.
    pub prewarmed: usize,
}

/// Resolves the entrypoint to an argv, given where the sandbox shows the runtime
/// directory and the task root to the instance.
pub fn resolve_argv(entrypoint: &Entrypoint, runtime_dir: &Path, task_root: &Path) -> Vec<String> {
    match entrypoint {
        Entrypoint::Managed {
            interpreter,
            args,
            script,
        } => {
            let mut argv = Vec::with_capacity(args.len() + 2);
            argv.push(interpreter.display().to_string());
            argv.extend(args.iter().cloned());
            argv.push(runtime_dir.join(script).display().to_string());
            argv
        }
        Entrypoint::TaskBootstrap => vec![task_root.join("bootstrap").display().to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &[(&str, &str)]) -> LaunchSpec {
        LaunchSpec {
            instance_id: "i".into(),
            entrypoint: Entrypoint::Managed {
                interpreter: "/usr/bin/python3".into(),
                args: vec!["-S".into()],
                script: "python/bootstrap.py".into(),
            },
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            code_dir: "/code".into(),
            opt_dir: None,
            runtime_dir: "/runtimes".into(),
            host_paths: vec![],
            memory_mb: 128,
            tmp_mb: 512,
            outbound: false,
        }
    }

    fn template() -> PrewarmTemplate {
        let s = spec(&[]);
        PrewarmTemplate {
            entrypoint: s.entrypoint,
            runtime_dir: s.runtime_dir,
            host_paths: s.host_paths,
            startup_env: vec![
                ("TZ".into(), ":UTC".into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            startup_prefixes: vec!["PYTHON".into(), "LD_".into()],
            count: 1,
        }
    }

    #[test]
    fn a_prewarmed_runtime_fits_launches_that_start_it_the_same_way() {
        let t = template();
        let base = [("TZ", ":UTC"), ("LANG", "C.UTF-8"), ("FOO", "bar")];
        assert!(t.matches(&spec(&base)));
        // Another value, a missing one, a variable that changes the start-up.
        assert!(!t.matches(&spec(&[("TZ", "Europe/Paris"), ("LANG", "C.UTF-8")])));
        assert!(!t.matches(&spec(&[("LANG", "C.UTF-8")])));
        assert!(!t.matches(&spec(&[
            ("TZ", ":UTC"),
            ("LANG", "C.UTF-8"),
            ("PYTHONPATH", "/x")
        ])));
        assert!(!t.matches(&spec(&[
            ("TZ", ":UTC"),
            ("LANG", "C.UTF-8"),
            ("LD_PRELOAD", "/x")
        ])));
        // Another runtime, or outbound network (its link is made at launch).
        let mut node = spec(&base);
        node.entrypoint = Entrypoint::TaskBootstrap;
        assert!(!t.matches(&node));
        let mut outbound = spec(&base);
        outbound.outbound = true;
        assert!(!t.matches(&outbound));
    }
}
