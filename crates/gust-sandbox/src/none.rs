//! `--isolation none`: each instance is a plain process group on the host, sharing the
//! host's filesystem, network and users. For development machines only: a function
//! can read and change anything gust can. gust warns on every start in this mode.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::{
    output_pipe, resolve_argv, ExitReport, InstanceProcess, LaunchSpec, Launched, Sandbox,
    SandboxError,
};

/// Where the runtime finds the function's layers. `none` cannot mount them at
/// `/opt`: `PATH`, `LD_LIBRARY_PATH` and `_GUST_OPT` (which gust's bootstraps read
/// for Python's and Node's search paths) name the merged layers' directory on the
/// host instead, and are empty of layers for a function without any (the host's
/// own `/opt` is never searched).
fn layer_env(spec: &LaunchSpec) -> Vec<(String, String)> {
    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
    let Some(opt) = spec.opt_dir.as_ref().and_then(|o| o.to_str()) else {
        return vec![
            ("PATH".into(), PATH.into()),
            (OPT_VAR.into(), String::new()),
        ];
    };
    let mut env = vec![
        ("PATH".into(), format!("{PATH}:{opt}/bin")),
        (OPT_VAR.into(), opt.to_string()),
    ];
    if !spec.env.iter().any(|(k, _)| k == "LD_LIBRARY_PATH") {
        env.push(("LD_LIBRARY_PATH".into(), format!("{opt}/lib")));
    }
    env
}

/// The variable naming the layers' root for gust's bootstraps (default `/opt`).
pub const OPT_VAR: &str = "_GUST_OPT";

/// Runs instances as plain host processes.
#[derive(Debug, Default)]
pub struct NoIsolation;

impl Sandbox for NoIsolation {
    fn name(&self) -> &'static str {
        "none"
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, SandboxError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| SandboxError::io("binding the Runtime API listener", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| SandboxError::io("configuring the Runtime API listener", e))?;
        let api_addr = listener
            .local_addr()
            .map_err(|e| SandboxError::io("reading the Runtime API address", e))?;

        let (out_read, out_write) =
            output_pipe().map_err(|e| SandboxError::io("creating the output pipe", e))?;
        let err_write = out_write
            .try_clone()
            .map_err(|e| SandboxError::io("duplicating the output pipe", e))?;

        let argv = resolve_argv(&spec.entrypoint, &spec.runtime_dir, &spec.code_dir);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(layer_env(spec))
            .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
            .env("LAMBDA_TASK_ROOT", &spec.code_dir)
            .env("LAMBDA_RUNTIME_DIR", &spec.runtime_dir)
            .current_dir(&spec.code_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_write))
            .stderr(Stdio::from(err_write));
        // No PR_SET_PDEATHSIG: it fires when the spawning *thread* exits, and launches
        // run on tokio's blocking threads, which exit when idle. An instance outlives a
        // killed gust only briefly: its Runtime API listener closes with gust, and the
        // bootstraps exit when the Runtime API goes away.
        // SAFETY: the closure runs between fork and exec and calls only setsid, which
        // is async-signal-safe, allocating nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| SandboxError::io(format!("starting {}", argv[0]), e))?;
        let pidfd = pidfd_open(child.id())
            .map_err(|e| SandboxError::io("opening a pidfd for the instance", e))?;
        Ok(Launched {
            process: Box::new(HostProcess {
                pid: child.id(),
                pidfd,
                child: Mutex::new(child),
                reaped: std::sync::atomic::AtomicBool::new(false),
            }),
            output: out_read,
            runtime_api: listener,
            gateway: None,
        })
    }
}

/// Opens a pidfd for `pid`: readable once the process exits.
pub fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

struct HostProcess {
    pid: u32,
    pidfd: OwnedFd,
    child: Mutex<Child>,
    /// Set once the main process is reaped: its pid may then name another process
    /// group, so the group must not be signalled any more.
    reaped: std::sync::atomic::AtomicBool,
}

impl InstanceProcess for HostProcess {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn exit_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    fn try_wait(&self) -> Option<ExitReport> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match child.try_wait() {
            Ok(Some(status)) => {
                self.reaped.store(true, std::sync::atomic::Ordering::SeqCst);
                Some(ExitReport {
                    code: status.code(),
                    signal: status.signal(),
                    oom_killed: false,
                })
            }
            _ => None,
        }
    }

    fn kill(&self) {
        if !self.reaped.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: signals the instance's process group (it called setsid, so its
            // pgid is its pid); the unreaped main process keeps that id from reuse.
            unsafe {
                libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
            }
        }
        // SAFETY: signals the main process through its pidfd, which cannot name a
        // recycled pid.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
    }

    fn memory_peak_bytes(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmHWM:").map(|kb| kb * 1024)
    }

    fn memory_current_bytes(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmRSS:").map(|kb| kb * 1024)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = self.try_wait();
    }
}

/// A `/proc/<pid>/status` figure in kB (`VmHWM:`, `VmRSS:`), where the process is
/// there to ask.
pub(crate) fn proc_status_kb(pid: impl std::fmt::Display, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entrypoint;
    use std::io::Read;

    #[test]
    fn launches_a_process_with_the_runtime_api_env_and_reports_its_exit() {
        let dir = tempfile::tempdir().unwrap();
        let bootstrap = dir.path().join("bootstrap");
        std::fs::write(
            &bootstrap,
            "#!/bin/sh\necho \"api=$AWS_LAMBDA_RUNTIME_API root=$LAMBDA_TASK_ROOT\"\nexit 7\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = LaunchSpec {
            instance_id: "t1".into(),
            entrypoint: Entrypoint::TaskBootstrap,
            env: vec![],
            code_dir: dir.path().to_path_buf(),
            opt_dir: None,
            runtime_dir: dir.path().to_path_buf(),
            host_paths: vec![],
            memory_mb: 128,
            tmp_mb: 512,
            outbound: false,
        };
        let launched = NoIsolation.launch(&spec).unwrap();
        let port = launched.runtime_api.local_addr().unwrap().port();
        // Wait for exit through the pidfd.
        let mut pfd = libc::pollfd {
            fd: launched.process.exit_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, 5 s timeout.
        let rc = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(rc, 1);
        let report = launched.process.try_wait().unwrap();
        assert_eq!(report.code, Some(7));
        assert_eq!(report.to_string(), "exit status 7");
        let mut out = String::new();
        let mut f = std::fs::File::from(launched.output);
        let _ = f.read_to_string(&mut out);
        assert!(out.contains(&format!("api=127.0.0.1:{port}")), "{out}");
        assert!(
            out.contains(&format!("root={}", dir.path().display())),
            "{out}"
        );
    }

    #[test]
    fn search_paths_name_the_layers_directory_or_nothing() {
        let mut spec = LaunchSpec {
            instance_id: "t2".into(),
            entrypoint: Entrypoint::TaskBootstrap,
            env: vec![],
            code_dir: "/c".into(),
            opt_dir: Some("/data/opt/k".into()),
            runtime_dir: "/r".into(),
            host_paths: vec![],
            memory_mb: 128,
            tmp_mb: 512,
            outbound: false,
        };
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        let env = layer_env(&spec);
        assert_eq!(
            get(&env, "PATH").as_deref(),
            Some("/usr/local/bin:/usr/bin:/bin:/data/opt/k/bin")
        );
        assert_eq!(get(&env, OPT_VAR).as_deref(), Some("/data/opt/k"));
        assert_eq!(
            get(&env, "LD_LIBRARY_PATH").as_deref(),
            Some("/data/opt/k/lib")
        );
        // The function's own LD_LIBRARY_PATH is left as it is.
        spec.env = vec![("LD_LIBRARY_PATH".into(), "/mine".into())];
        assert_eq!(get(&layer_env(&spec), "LD_LIBRARY_PATH"), None);
        // Without layers nothing points at the host's /opt.
        spec.opt_dir = None;
        let env = layer_env(&spec);
        assert_eq!(get(&env, OPT_VAR).as_deref(), Some(""));
        assert!(!get(&env, "PATH").unwrap().contains("opt"));
    }
}
