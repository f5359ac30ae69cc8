//! The messages between gust and an instance's init, one JSON document per packet on
//! a `SOCK_SEQPACKET` socket pair (fd 3 in the init), descriptors as `SCM_RIGHTS`.
//!
//! ```text
//! gust                                   init (pid 1 of the new namespaces)
//!  ── Prepare {cgroup, rootfs, ops} ──▶  enters its cgroup, builds the generic
//!                                         root, brings up lo,
//!  ◀── Ready {timings} + [listener] ──   binds the Runtime API listener
//!        (a pooled init waits here)
//!  ── Launch {instance ops, argv, env} + [output pipe, /tmp mount] ──▶
//!                                         mounts the function, pivot_root, forks the
//!  ◀── Started {timings} ─────────────   runtime, which drops privileges and execs
//!  ◀── Exited {code, signal} ─────────   when the runtime ends (then the init exits)
//! ```
//!
//! A prewarmed sandbox (see `PrewarmTemplate`) starts its runtime before it knows
//! the function, then attaches it:
//! ```text
//!  ── Prewarm {instance ops without the code, argv, env} + [output pipe, /tmp mount] ──▶
//!                                         pivot_root, forks the runtime, which
//!  ◀── Prewarmed {timings} ───────────    drops privileges, execs and waits
//!  ── Attach {sizes, config} + [code mount] ──▶
//!                                         mounts the code at /var/task, resizes
//!  ◀── Started {timings} ─────────────    /tmp, hands the runtime its config
//! ```
//! Any step can answer `Failed` instead. The init exits when gust's end closes, which
//! is how a dropped instance or a crashed gust takes the namespace down.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::plan::MountOp;
use super::syscall::{recv_packet, send_packet};

/// gust → init.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToInit {
    /// Build the function-independent part of the sandbox.
    Prepare(Prepare),
    /// Run this function; the output pipe's write end is attached.
    Launch(Launch),
    /// Start this runtime before its function is known (the launch's ops do not
    /// mount the code); the output pipe's write end is attached.
    Prewarm(Launch),
    /// Give the prewarmed runtime its function; the code's detached mount is
    /// attached.
    Attach(Attach),
}

/// A prewarmed runtime's function.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Attach {
    /// `/tmp`'s size in MB.
    pub tmp_mb: u32,
    /// `/dev/shm`'s size in MB.
    pub shm_mb: u32,
    /// What the runtime reads from its prewarm descriptor.
    pub config: String,
    /// Whether `/tmp` is the instance's own filesystem, attached when the runtime
    /// was prewarmed (see `scratch`); without it the `/tmp` tmpfs is resized.
    pub scratch: bool,
    /// Whether the function has layers: a second detached mount, of its merged
    /// layers, follows the code's, for `/opt`.
    pub opt: bool,
}

/// The function-independent setup.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Prepare {
    /// Cgroup v1 `tasks` files the init writes `0` to, entering its cgroup itself
    /// before it does anything else (empty where gust placed it already).
    pub cgroup_tasks: Vec<PathBuf>,
    /// If gust goes away before a function arrives: the files to write `0` to
    /// (leaving the instance's cgroup) and the cgroup directories to remove then.
    pub cgroup_release: Vec<(PathBuf, PathBuf)>,
    /// Host directory where the new root is assembled before `pivot_root`.
    pub rootfs: PathBuf,
    /// The system half of the mount plan.
    pub ops: Vec<MountOp>,
    /// Port of the Runtime API listener on the instance's loopback.
    pub api_port: u16,
    /// Port of the gateway listener (gust's API) on the same loopback, if any.
    pub gateway_port: Option<u16>,
}

/// The function-specific setup and the runtime to start.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Launch {
    /// The instance half of the mount plan (ends with `PivotRoot`).
    pub ops: Vec<MountOp>,
    /// The runtime's argv; `argv[0]` is an absolute path inside the sandbox.
    pub argv: Vec<String>,
    /// The runtime's environment as `KEY=value`.
    pub env: Vec<String>,
    /// Working directory of the runtime.
    pub cwd: PathBuf,
    /// The unprivileged user and group everything inside runs as after setup.
    pub uid: u32,
    pub gid: u32,
    /// `RLIMIT_NOFILE` of the runtime.
    pub nofile: u64,
    /// Rootless: the init is root of a user namespace that maps only gust's uid, so
    /// the runtime becomes `uid`/`gid` by entering a nested user namespace instead of
    /// switching users (see `rootless`), and the init keeps its uid.
    pub nested_user_namespace: bool,
    /// `RLIMIT_NPROC` of the runtime, where it bounds one instance (its own user
    /// namespace) and no cgroup does.
    pub nproc: Option<u64>,
    /// Whether a detached mount of the instance's own `/tmp` filesystem comes after
    /// the output pipe, to be attached at `/tmp` after `pivot_root` (see `scratch`);
    /// without it the plan mounts a tmpfs there.
    pub scratch: bool,
}

/// init → gust.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum FromInit {
    /// Prepared; the Runtime API listener is attached.
    Ready { timings: Vec<(String, u64)> },
    /// The runtime has been exec'd (or, prewarmed, handed its function).
    Started { timings: Vec<(String, u64)> },
    /// The prewarmed runtime has been exec'd and waits for its function.
    Prewarmed { timings: Vec<(String, u64)> },
    /// A step failed; nothing runs.
    Failed {
        step: String,
        errno: Option<i32>,
        message: String,
    },
    /// The runtime ended: exit code or signal.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

impl FromInit {
    /// A failure message for `step` from an I/O error.
    pub(crate) fn failed(step: impl Into<String>, err: &io::Error) -> Self {
        FromInit::Failed {
            step: step.into(),
            errno: err.raw_os_error(),
            message: err.to_string(),
        }
    }
}

/// Largest message: the plan and environment are a few KiB; Lambda caps the
/// environment at 4 KiB.
const MAX_MESSAGE: usize = 256 * 1024;

/// Sends one message with descriptors attached.
pub(crate) fn send<T: Serialize>(
    sock: BorrowedFd<'_>,
    msg: &T,
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sandbox message of {} bytes is too large", bytes.len()),
        ));
    }
    send_packet(sock, &bytes, fds)
}

/// Receives one message; `None` when the peer has closed its end.
pub(crate) fn recv<T: DeserializeOwned>(
    sock: BorrowedFd<'_>,
    nonblocking: bool,
) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let (n, fds) = recv_packet(sock, &mut buf, nonblocking)?;
    if n == 0 {
        return Ok(None);
    }
    let msg = serde_json::from_slice(&buf[..n])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some((msg, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn messages_and_descriptors_cross_the_socket_pair() {
        let (a, b) = super::super::syscall::seqpacket_pair().unwrap();
        let (r, w) = super::super::syscall::pipe_cloexec().unwrap();
        send(
            a.as_fd(),
            &FromInit::Ready {
                timings: vec![("mounts".into(), 120)],
            },
            &[w.as_fd()],
        )
        .unwrap();
        drop(w);
        let (msg, fds): (FromInit, _) = recv(b.as_fd(), false).unwrap().unwrap();
        assert_eq!(
            msg,
            FromInit::Ready {
                timings: vec![("mounts".into(), 120)]
            }
        );
        assert_eq!(fds.len(), 1);
        // The received descriptor is the pipe's write end.
        let mut f = std::fs::File::from(fds.into_iter().next().unwrap());
        std::io::Write::write_all(&mut f, b"x").unwrap();
        drop(f);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
        assert_eq!(out, "x");
        drop(a);
        assert!(recv::<FromInit>(b.as_fd(), false).unwrap().is_none());
    }
}
