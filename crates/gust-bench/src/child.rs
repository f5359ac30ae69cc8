//! Servers the bench starts (gust, the direct baselines, a peer): each in its own
//! process group, its stdout read line by line until it says where it listens, its
//! stderr kept in a log file, and the whole group stopped when the handle drops.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustix::process::{kill_process_group, Pid, Signal};

/// How long a stopped server gets to exit on SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A started server process; stops its process group on drop.
#[derive(Debug)]
pub struct Managed {
    /// For messages.
    pub name: String,
    child: Child,
    lines: Receiver<String>,
    /// Where its stderr (and stdout after startup) goes.
    pub log: PathBuf,
}

impl Managed {
    /// Spawns `cmd` in a new process group with stderr to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Managed> {
        let log_file =
            File::create(log).with_context(|| format!("creating log file {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{name}-stdout"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // The receiver is gone once startup is over: keep draining the pipe.
                    let _ = tx.send(line);
                }
            })
            .context("spawning a stdout reader thread")?;
        Ok(Managed {
            name: name.to_string(),
            child,
            lines: rx,
            log: log.to_path_buf(),
        })
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads stdout lines until `pick` returns a value, for at most `timeout`.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        return Ok(v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "{} did not report its address within {timeout:?}; see {}{}",
                        self.name,
                        self.log.display(),
                        self.log_tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    bail!(
                        "{} exited during startup ({}); see {}{}",
                        self.name,
                        status.map_or("unknown status".into(), |s| s.to_string()),
                        self.log.display(),
                        self.log_tail()
                    )
                }
            }
        }
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n  ");
        if tail.is_empty() {
            String::new()
        } else {
            format!(":\n  {tail}")
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM to the group, a grace period, then SIGKILL to whatever is left.
    pub fn stop(&mut self) {
        let Some(pgid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) else {
            return;
        };
        if self.alive() {
            let _ = kill_process_group(pgid, Signal::TERM);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && self.alive() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Instances or helpers left in the group.
        let _ = kill_process_group(pgid, Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port (bound then released: another process could take it in
/// between, which on a benchmark machine is unlikely).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: std::net::SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(anyhow!("nothing listens on {addr} after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
