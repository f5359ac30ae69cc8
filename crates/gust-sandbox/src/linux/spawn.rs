//! Starting an init: clone it into fresh namespaces, put it in its cgroup, and have it
//! prepare the function-independent sandbox (see [`super::proto`] for the exchange).
//! What comes back is a [`PreparedInit`]: ready for [`super::LinuxSandbox`] to hand a
//! function to, now or later from the pool.

use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cgroup::{CgroupManager, Entry};
use super::process::Instance;
use super::proto::{self, FromInit, Launch, Prepare, ToInit};
use super::syscall as sys;
use super::Shared;
use crate::SandboxError;

/// The namespaces every instance gets at clone time. The cgroup namespace comes
/// after, from the init itself, once gust has put it in its cgroup.
pub(crate) const NAMESPACES: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET;

/// How long an init may take to answer a step before gust gives up on it.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// An init waiting for its function in a prepared sandbox.
pub(crate) struct PreparedInit {
    pub instance: Instance,
    /// The Runtime API listener, bound on the instance's loopback.
    pub listener: TcpListener,
    /// The gateway listener (gust's own API), on the same loopback, if any.
    pub gateway: Option<TcpListener>,
    /// What each step cost, gust's and the init's, in microseconds.
    pub timings: Vec<(String, u64)>,
    /// An outbound link made ahead of demand by the pool (see `net`). Last, so it
    /// is freed after the instance.
    pub network: Option<super::net::Lease>,
    /// Its `/tmp` image, made ahead of demand by the pool (see `scratch`), or made
    /// at launch. After the instance, so it is released once unmounted.
    pub scratch: Option<super::scratch::Scratch>,
}

/// Starts and prepares one init in a new cgroup called `cgroup_name`.
pub(crate) fn start_init(shared: &Shared, cgroup_name: &str) -> Result<PreparedInit, SandboxError> {
    let mut timings = Vec::new();
    let mut last = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, u64)>| {
        let now = Instant::now();
        timings.push((
            name.to_string(),
            now.duration_since(last).as_micros() as u64,
        ));
        last = now;
    };

    let cgroup: Arc<dyn CgroupManager> = shared
        .cgroups
        .create(cgroup_name)
        .map(Arc::from)
        .map_err(|e| SandboxError::io("creating the instance's cgroup", e))?;
    if let Err(e) = cgroup.apply_pids(shared.config.pids_max) {
        let _ = cgroup.remove();
        return Err(SandboxError::io("limiting the instance's processes", e));
    }
    lap("cgroup create", &mut timings);

    let (ours, theirs) =
        sys::seqpacket_pair().map_err(|e| SandboxError::io("creating the init's channel", e))?;
    let (clone_into, self_attach) = match cgroup.entry() {
        Ok(Entry::CloneInto(dir)) => (Some(dir), Vec::new()),
        Ok(Entry::SelfAttach(files)) => (None, files),
        Ok(Entry::Nothing) => (None, Vec::new()),
        Err(e) => {
            let _ = cgroup.remove();
            return Err(SandboxError::io("opening the instance's cgroup", e));
        }
    };
    let image = &shared.init_image;
    let flags = NAMESPACES | shared.privilege.clone_flags();
    let id_maps = shared.id_maps.as_ref();
    let mut spawned = sys::spawn_in_namespaces(
        flags,
        image,
        theirs.as_fd(),
        clone_into.as_ref().map(|d| d.as_fd()),
        id_maps,
    );
    let mut attach_by_pid = false;
    if clone_into.is_some() && matches!(&spawned, Err(e) if e.raw_os_error() == Some(libc::ENOSYS))
    {
        // No clone3 here: start outside and move the init by pid.
        spawned = sys::spawn_in_namespaces(flags, image, theirs.as_fd(), None, id_maps);
        attach_by_pid = true;
    }
    drop(theirs);
    let (pid, pidfd) = match spawned {
        Ok(p) => p,
        Err(e) => {
            let _ = cgroup.remove();
            return Err(SandboxError::io(
                "starting the sandbox init in new namespaces",
                e,
            ));
        }
    };
    let instance = Instance {
        pid: pid as u32,
        pidfd,
        channel: ours,
        cgroup,
        reaped: AtomicBool::new(false),
    };
    lap("clone", &mut timings);
    // From here on, dropping `instance` kills the init and removes the cgroup.
    // (A function's outbound link is added at launch, not here: a pooled sandbox
    // does not know yet whether its function wants one.)
    if attach_by_pid {
        instance
            .cgroup
            .add_task(instance.pid)
            .map_err(|e| SandboxError::io("moving the init into its cgroup", e))?;
    }

    let ch = instance.channel.as_fd();
    sys::set_recv_timeout(ch, STEP_TIMEOUT)
        .map_err(|e| SandboxError::io("configuring the init's channel", e))?;
    let prepare = ToInit::Prepare(Prepare {
        cgroup_tasks: self_attach,
        cgroup_release: instance.cgroup.release_plan(),
        rootfs: shared.config.rootfs_dir.clone(),
        ops: shared.system_ops.clone(),
        api_port: shared.config.api_port,
        gateway_port: shared.config.gateway_port,
    });
    // An init that died at once (a binary that does not dispatch `__sandbox-init`)
    // shows as a closed channel, either here or at the receive.
    let (reply, fds) = match proto::send(ch, &prepare, &[]) {
        Ok(()) => receive(ch)?.ok_or_else(|| exited_early(shared))?,
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Err(exited_early(shared)),
        Err(e) => return Err(SandboxError::io("sending the sandbox plan to the init", e)),
    };
    lap("init exec and prepare", &mut timings);
    match reply {
        FromInit::Ready { timings: steps } => {
            let mut fds = fds.into_iter().map(TcpListener::from);
            let listener = fds.next().ok_or_else(|| {
                SandboxError::Unavailable("the sandbox init sent no listener".into())
            })?;
            let gateway = fds.next();
            timings.extend(
                steps
                    .into_iter()
                    .map(|(s, us)| (format!("  init: {s}"), us)),
            );
            Ok(PreparedInit {
                instance,
                listener,
                gateway,
                timings,
                network: None,
                scratch: None,
            })
        }
        other => Err(failure(other)),
    }
}

/// Waits for `Started` (or a failure) and returns the init's step timings, named
/// for the cold-start bench.
pub(crate) fn expect_started(ch: BorrowedFd<'_>) -> Result<Vec<(String, u64)>, SandboxError> {
    match reply_before_start(ch, "setting up the sandbox")? {
        FromInit::Started { timings } => Ok(timings
            .into_iter()
            .map(|(s, us)| (format!("  init: {s}"), us))
            .collect()),
        other => Err(failure(other)),
    }
}

/// Starts a runtime from `template` in a prepared sandbox, where it waits for its
/// function (see `PrewarmTemplate`). Returns the runtime's output pipe.
pub(crate) fn prewarm(
    ch: BorrowedFd<'_>,
    launch: Launch,
    tmp: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd, SandboxError> {
    let (out_read, out_write) =
        crate::output_pipe().map_err(|e| SandboxError::io("creating the output pipe", e))?;
    let mut fds = vec![out_write.as_fd()];
    fds.extend(tmp);
    proto::send(ch, &ToInit::Prewarm(launch), &fds)
        .map_err(|e| SandboxError::io("sending the runtime to prewarm", e))?;
    drop(fds);
    drop(out_write);
    match reply_before_start(ch, "prewarming a runtime")? {
        FromInit::Prewarmed { .. } => Ok(out_read),
        other => Err(failure(other)),
    }
}

/// The init's answer to a request that starts the runtime; its exit instead is an
/// error of `step`.
fn reply_before_start(ch: BorrowedFd<'_>, step: &str) -> Result<FromInit, SandboxError> {
    let (reply, _) = receive(ch)?.ok_or_else(|| {
        SandboxError::io(
            step,
            std::io::Error::other("the sandbox init exited before the runtime started"),
        )
    })?;
    Ok(reply)
}

/// Waits for the init's next message; `None` if it exited instead.
pub(crate) fn receive(
    ch: BorrowedFd<'_>,
) -> Result<Option<(FromInit, Vec<OwnedFd>)>, SandboxError> {
    match proto::recv::<FromInit>(ch, false) {
        Ok(reply) => Ok(reply),
        // The init exited without reading what gust had sent.
        Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Ok(None),
        Err(e) => Err(SandboxError::io("waiting for the sandbox init", e)),
    }
}

/// An init that died before `Ready`: most likely the binary does not dispatch
/// `__sandbox-init` to the init.
fn exited_early(shared: &Shared) -> SandboxError {
    SandboxError::Unavailable(format!(
        "the sandbox init exited before it was ready: does `{} {}` call \
         gust_sandbox::linux::init_main()?",
        shared.config.init_program.display(),
        shared.config.init_args.join(" ")
    ))
}

/// A `Failed` (or out-of-order) reply as an error.
pub(crate) fn failure(reply: FromInit) -> SandboxError {
    match reply {
        FromInit::Failed {
            step,
            errno,
            message,
        } => {
            let source = match errno {
                Some(n) if n != 0 => std::io::Error::from_raw_os_error(n),
                _ => std::io::Error::other(message),
            };
            SandboxError::io(format!("setting up the sandbox: {step}"), source)
        }
        other => SandboxError::io(
            "setting up the sandbox",
            std::io::Error::other(format!("unexpected message from the init: {other:?}")),
        ),
    }
}
