//! A running (or pre-forked) instance as gust holds it: the init's pidfd, the channel
//! to it, and its cgroup. Dropping it kills and reaps the init, which takes the pid
//! namespace (and so every process of the instance) down with it, then removes the
//! cgroup; the mount, network and other namespaces go with their last process. A
//! frozen instance dies the same way: the cgroup's `kill_all` thaws it where a kill
//! alone would not reach frozen tasks (v1).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::cgroup::{CgroupManager, CpuQuota};
use super::proto::{self, FromInit};
use super::syscall::{self as sys, WaitStatus};
use crate::{ExitReport, InstanceProcess};

/// An init and what belongs to it. Cleans up on drop.
pub(crate) struct Instance {
    pub pid: u32,
    pub pidfd: OwnedFd,
    pub channel: OwnedFd,
    pub cgroup: Arc<dyn CgroupManager>,
    /// Set once the init is reaped: its pid may then belong to someone else.
    pub reaped: AtomicBool,
}

impl Instance {
    /// SIGKILL to the init (through the pidfd, so never to a recycled pid), which
    /// makes the kernel kill every process of its pid namespace; then to whatever
    /// else the cgroup holds.
    pub(crate) fn kill(&self) {
        if !self.reaped.load(Ordering::SeqCst) {
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        }
        self.cgroup.kill_all();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        if !self.reaped.load(Ordering::SeqCst) {
            // Blocks only until the kernel has torn the namespace down.
            let _ = sys::waitid_pidfd(self.pidfd.as_fd(), true);
        }
        if let Err(e) = self.cgroup.remove() {
            tracing::warn!(error = %e, "could not remove an instance's cgroup");
        }
    }
}

/// A launched instance, as [`InstanceProcess`].
pub(crate) struct LinuxProcess {
    pub instance: Instance,
    /// The exit, once reaped (so `try_wait` can be asked again).
    pub exit: Mutex<Option<ExitReport>>,
    /// CPU limit after the init boost.
    pub steady_cpu: CpuQuota,
    /// The cgroup's memory-peak file, opened on first use and re-read with `pread`
    /// for every invocation's REPORT line.
    pub peak_file: std::sync::OnceLock<Option<std::fs::File>>,
    /// The outbound link's address slot, if the function has one. Declared after
    /// `instance`, so it is freed only once the namespace (and the link) is gone.
    pub _network: Option<super::net::Lease>,
    /// The instance's `/tmp` image, if on disk: its promise to the disk ends with
    /// the instance.
    pub _scratch: Option<super::scratch::Scratch>,
}

impl LinuxProcess {
    /// The runtime's exit status as the init reported it, if it did.
    fn reported_exit(&self) -> Option<(Option<i32>, Option<i32>)> {
        loop {
            match proto::recv::<FromInit>(self.instance.channel.as_fd(), true) {
                Ok(Some((FromInit::Exited { code, signal }, _))) => return Some((code, signal)),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }
}

impl InstanceProcess for LinuxProcess {
    fn pid(&self) -> u32 {
        self.instance.pid
    }

    fn exit_fd(&self) -> BorrowedFd<'_> {
        self.instance.pidfd.as_fd()
    }

    fn try_wait(&self) -> Option<ExitReport> {
        let mut exit = self.exit.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(report) = *exit {
            return Some(report);
        }
        let status = sys::waitid_pidfd(self.instance.pidfd.as_fd(), false).ok()??;
        self.instance.reaped.store(true, Ordering::SeqCst);
        // The init sends the runtime's own status before it exits; without it (the
        // init was killed: by `kill`, or by an OOM kill of the whole group) the
        // init's status is the instance's.
        let (code, signal) = self.reported_exit().unwrap_or(match status {
            WaitStatus::Exited(c) => (Some(c), None),
            WaitStatus::Signaled(s) => (None, Some(s)),
        });
        let report = ExitReport {
            code,
            signal,
            oom_killed: self.instance.cgroup.oom_kills() > 0,
        };
        *exit = Some(report);
        Some(report)
    }

    fn kill(&self) {
        self.instance.kill();
    }

    fn memory_peak_bytes(&self) -> Option<u64> {
        let file = self.peak_file.get_or_init(|| {
            self.instance
                .cgroup
                .memory_peak_file()
                .and_then(|p| std::fs::File::open(p).ok())
        });
        match file {
            Some(f) => super::cgroup::pread_u64(f),
            None => self
                .instance
                .cgroup
                .memory_peak()
                .or_else(|| runtime_status_bytes(self.instance.pid, "VmHWM:")),
        }
    }

    fn memory_current_bytes(&self) -> Option<u64> {
        self.instance
            .cgroup
            .memory_current()
            .or_else(|| runtime_status_bytes(self.instance.pid, "VmRSS:"))
    }

    fn freeze(&self) -> bool {
        match self.instance.cgroup.freeze() {
            Ok(froze) => froze,
            Err(e) => {
                tracing::warn!(error = %e, "could not freeze an idle instance");
                false
            }
        }
    }

    fn thaw(&self) -> std::io::Result<()> {
        self.instance.cgroup.thaw()
    }

    fn frozen(&self) -> Option<bool> {
        self.instance.cgroup.frozen()
    }

    fn finish_init(&self) {
        if let Err(e) = self.instance.cgroup.set_cpu_quota(self.steady_cpu) {
            tracing::warn!(error = %e, "could not end an instance's CPU init boost");
        }
    }
}

/// Without a memory cgroup (rootless, no delegation): a figure of the runtime process
/// itself, the init's first child, from its `/proc` status (its children are not
/// counted).
fn runtime_status_bytes(init_pid: u32, key: &str) -> Option<u64> {
    let children =
        std::fs::read_to_string(format!("/proc/{init_pid}/task/{init_pid}/children")).ok()?;
    let runtime = children.split_whitespace().next()?;
    crate::none::proc_status_kb(runtime, key).map(|kb| kb * 1024)
}
