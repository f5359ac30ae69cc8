//! The init of an instance: gust's own binary re-executed as `gust __sandbox-init`,
//! started by [`super::spawn`] as pid 1 of fresh mount, pid, ipc, uts and network
//! namespaces, with its channel to gust at fd 3 (see [`super::proto`]).
//!
//! It is single-threaded and small: it replays the mount plan, brings up the loopback
//! interface and binds the Runtime API listener, `pivot_root`s, then forks the runtime,
//! which drops every privilege, installs the seccomp filter and execs. The init then
//! drops its own privileges too and stays as pid 1: it reaps orphans, forwards
//! termination signals to the runtime, and exits as soon as the runtime does, with the
//! runtime's exit code, or 128 + the signal that killed it (pid 1 cannot re-raise a
//! signal on itself). The exact status also goes to gust as `Exited`, which is what
//! [`crate::ExitReport`] shows.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::plan;
use super::proto::{self, FromInit, Launch, Prepare, ToInit};
use super::seccomp;
use super::syscall::{self as sys, ExecImage, LinuxSyscall, WaitStatus};

/// The descriptor on which the init finds its channel to gust.
pub(crate) const CHANNEL_FD: i32 = 3;

/// Where a prewarmed runtime finds the pipe its function's configuration comes on
/// (`_GUST_PREWARM_FD`).
pub(crate) const PREWARM_FD: i32 = 3;

/// Signals the init forwards to the runtime.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Entry point of `gust __sandbox-init`. Call it first thing in `main`, before any
/// thread or runtime starts, when `argv[1] == "__sandbox-init"`; it never returns.
pub fn init_main() -> ! {
    let code = match sys::inherited_fd(CHANNEL_FD) {
        Ok(channel) => run(&channel),
        Err(_) => {
            eprintln!(
                "__sandbox-init is started by gust to set up a function's sandbox; \
                 it is not a command"
            );
            2
        }
    };
    sys::exit_now(code)
}

/// Timings of the steps, in microseconds, for the cold-start bench.
struct Clock {
    last: Instant,
    steps: Vec<(String, u64)>,
}

impl Clock {
    fn new() -> Self {
        Clock {
            last: Instant::now(),
            steps: Vec::new(),
        }
    }
    fn lap(&mut self, step: &str) {
        let now = Instant::now();
        self.steps.push((
            step.into(),
            now.duration_since(self.last).as_micros() as u64,
        ));
        self.last = now;
    }
}

fn run(channel: &OwnedFd) -> i32 {
    let ch = channel.as_fd();
    let prepare = match proto::recv::<ToInit>(ch, false) {
        Ok(Some((ToInit::Prepare(p), _))) => p,
        _ => return 0, // gust went away: nothing to do
    };
    let mut clock = Clock::new();
    let (listener, gateway) = match prepare_sandbox(&prepare, &mut clock) {
        Ok(l) => l,
        Err(failure) => return report_failure(ch, failure),
    };
    // The same seccomp filter for every runtime: built now, off the cold start's
    // path (a failure is reported when the runtime starts).
    let _ = seccomp::runtime_filter();
    // A pool prepares its inits at the lowest priority, so that refilling does not
    // slow down the cold start that emptied it. Waiting, and whatever comes after,
    // happens at the normal priority (lowering nice needs the privileges it still
    // has): a task reniced just before it runs user code starts at a disadvantage.
    let _ = sys::set_nice(0, 0);
    let ready = FromInit::Ready {
        timings: clock.steps,
    };
    let mut listeners = vec![listener.as_fd()];
    listeners.extend(gateway.as_ref().map(|g| g.as_fd()));
    if proto::send(ch, &ready, &listeners).is_err() {
        return 1;
    }
    drop(listeners);
    drop(listener);
    drop(gateway);

    let (launch, prewarm, mut fds) = match proto::recv::<ToInit>(ch, false) {
        Ok(Some((ToInit::Launch(l), fds))) => (l, false, fds),
        Ok(Some((ToInit::Prewarm(l), fds))) => (l, true, fds),
        _ => {
            // A pooled init whose gust went away (a clean gust kills it first):
            // still privileged, it takes its cgroup with it.
            release_cgroup(&prepare);
            return 0;
        }
    };
    // [output pipe, /tmp mount if any]
    let scratch = match launch.scratch {
        true => fds.pop(),
        false => None,
    };
    let Some(output) = fds.pop() else {
        return report_failure(
            ch,
            FromInit::Failed {
                step: "receiving the output pipe".into(),
                errno: None,
                message: "no descriptor attached".into(),
            },
        );
    };
    let mut clock = Clock::new();
    // A prewarmed runtime waits for its function on a pipe, at the lowest priority
    // (it starts while a pool refills) until it gets it.
    let config_pipe = match prewarm.then(sys::pipe_cloexec).transpose() {
        Ok(p) => p,
        Err(e) => return report_failure(ch, FromInit::failed("creating a pipe", &e)),
    };
    if prewarm {
        let _ = sys::set_nice(0, 19);
    }
    let (config_read, config_write) = config_pipe.unzip();
    let started = start_runtime(&prepare, &launch, output, scratch, config_read, &mut clock);
    let (runtime, signals) = match started {
        Ok(r) => r,
        Err(failure) => return report_failure(ch, failure),
    };
    if let Some(config) = config_write {
        let prewarmed = FromInit::Prewarmed {
            timings: std::mem::take(&mut clock.steps),
        };
        if proto::send(ch, &prewarmed, &[]).is_err() {
            return 1;
        }
        clock = Clock::new();
        match attach(ch, runtime, config, &mut clock) {
            Ok(true) => {}
            Ok(false) => {
                // Discarded before it got a function.
                let _ = sys::kill(runtime, libc::SIGKILL);
                release_cgroup(&prepare);
                return 0;
            }
            Err(failure) => {
                let _ = sys::kill(runtime, libc::SIGKILL);
                return report_failure(ch, failure);
            }
        }
    }
    // Rootless, the init stays root of its user namespace (the only uid mapped
    // there), without capabilities; with the host's root it becomes the runtime's
    // unprivileged user.
    let switch_to = (!launch.nested_user_namespace).then_some((launch.uid, launch.gid));
    if let Err(e) = drop_privileges(switch_to).and_then(|()| sys::set_not_dumpable()) {
        // Still privileged: better no instance than a root pid 1 next to user code.
        let _ = sys::kill(runtime, libc::SIGKILL);
        return report_failure(ch, FromInit::failed("dropping the init's privileges", &e));
    }
    clock.lap("init drops privileges");
    let started = FromInit::Started {
        timings: clock.steps,
    };
    if proto::send(ch, &started, &[]).is_err() {
        return 1;
    }
    // From here on the init only waits: what setting up allocated is not needed.
    sys::trim_heap();
    supervise(ch, runtime, signals.as_fd())
}

/// Gives a prewarmed runtime its function: waits for `Attach`, mounts the code's
/// detached tree at the task root, sizes `/tmp` and `/dev/shm`, restores the
/// runtime's priority and writes its configuration. `Ok(false)` if gust closed the
/// channel instead (the sandbox was discarded).
fn attach(
    ch: BorrowedFd<'_>,
    runtime: libc::pid_t,
    config: OwnedFd,
    clock: &mut Clock,
) -> Result<bool, FromInit> {
    use super::syscall::Syscall;
    let (attach, fds) = match proto::recv::<ToInit>(ch, false) {
        Ok(Some((ToInit::Attach(a), fds))) => (a, fds),
        Ok(Some((other, _))) => {
            return Err(FromInit::Failed {
                step: "waiting for the function".into(),
                errno: None,
                message: format!("unexpected message {other:?}"),
            })
        }
        Ok(None) | Err(_) => return Ok(false),
    };
    clock.lap("receive the function");
    if let Some((pid, _)) = sys::reap_any() {
        if pid == runtime {
            return Err(FromInit::Failed {
                step: "attaching the function".into(),
                errno: None,
                message: "the prewarmed runtime had exited".into(),
            });
        }
    }
    let mut fds = fds.into_iter();
    let (Some(code), opt) = (fds.next(), fds.next()) else {
        return Err(FromInit::Failed {
            step: "attaching the function".into(),
            errno: None,
            message: "no code mount attached".into(),
        });
    };
    let task_root = Path::new(plan::TASK_ROOT);
    sys::move_mount_onto(code.as_fd(), task_root)
        .map_err(|e| FromInit::failed("mounting the code at /var/task", &e))?;
    match (attach.opt, opt) {
        (true, Some(opt)) => sys::move_mount_onto(opt.as_fd(), Path::new(plan::OPT_DIR))
            .map_err(|e| FromInit::failed("mounting the layers at /opt", &e))?,
        (false, None) => {}
        _ => {
            return Err(FromInit::Failed {
                step: "attaching the function".into(),
                errno: None,
                message: "the layers' mount does not match the function".into(),
            })
        }
    }
    const NOSUID_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;
    let tmp = (!attach.scratch).then_some(("/tmp", attach.tmp_mb, 0));
    let shm = ("/dev/shm", attach.shm_mb, libc::MS_NOEXEC);
    for (target, mb, extra) in tmp.into_iter().chain([shm]) {
        LinuxSyscall
            .mount(
                None,
                Path::new(target),
                None,
                libc::MS_REMOUNT | NOSUID_NODEV | extra,
                Some(&format!("size={}m", mb.max(1))),
            )
            .map_err(|e| FromInit::failed(format!("resizing {target}"), &e))?;
    }
    clock.lap("code mount and sizes");
    let _ = sys::set_nice(runtime, 0);
    let _ = sys::set_nice(0, 0);
    sys::write_all(config.as_fd(), attach.config.as_bytes())
        .map_err(|e| FromInit::failed("handing the runtime its function", &e))?;
    drop(config);
    clock.lap("hand over the configuration");
    Ok(true)
}

/// Attaches the instance's own `/tmp` filesystem (a detached mount from gust).
fn attach_tmp(mount: Option<OwnedFd>) -> Result<(), FromInit> {
    let Some(mount) = mount else {
        return Err(FromInit::Failed {
            step: "attaching /tmp".into(),
            errno: None,
            message: "no /tmp mount attached".into(),
        });
    };
    sys::move_mount_onto(mount.as_fd(), Path::new("/tmp"))
        .map_err(|e| FromInit::failed("mounting the instance's /tmp", &e))
}

/// Leaves the instance's cgroup for the hierarchy roots and removes it.
fn release_cgroup(p: &Prepare) {
    for (procs, _) in &p.cgroup_release {
        let _ = std::fs::write(procs, "0");
    }
    for (_, dir) in &p.cgroup_release {
        let _ = std::fs::remove_dir(dir);
    }
}

fn report_failure(ch: BorrowedFd<'_>, failure: FromInit) -> i32 {
    let _ = proto::send(ch, &failure, &[]);
    1
}

/// The function-independent setup: namespaces' contents, the generic root, loopback
/// and the Runtime API listener.
fn prepare_sandbox(
    p: &Prepare,
    clock: &mut Clock,
) -> Result<(TcpListener, Option<TcpListener>), FromInit> {
    // Into the instance's cgroup first (unless gust started it there), so that
    // everything from here on is accounted to it and the cgroup namespace is rooted
    // at it.
    for tasks in &p.cgroup_tasks {
        std::fs::write(tasks, "0")
            .map_err(|e| FromInit::failed(format!("entering cgroup {}", tasks.display()), &e))?;
    }
    clock.lap("enter cgroup");
    sys::unshare(libc::CLONE_NEWCGROUP)
        .map_err(|e| FromInit::failed("unsharing the cgroup namespace", &e))?;
    // Nothing mounted in here may propagate back to the host.
    use super::syscall::Syscall;
    LinuxSyscall
        .mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )
        .map_err(|e| FromInit::failed("making mounts private", &e))?;
    LinuxSyscall
        .mkdir_all(&p.rootfs, 0o700)
        .map_err(|e| FromInit::failed(format!("creating {}", p.rootfs.display()), &e))?;
    clock.lap("private mounts");
    plan::apply(&LinuxSyscall, &p.rootfs, &p.ops)
        .map_err(|(step, e)| FromInit::failed(step, &e))?;
    clock.lap("system mounts");
    sys::bring_up_loopback().map_err(|e| FromInit::failed("bringing up lo", &e))?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, p.api_port))
        .map_err(|e| FromInit::failed("binding the Runtime API listener", &e))?;
    let gateway = match p.gateway_port.filter(|port| *port != p.api_port) {
        Some(port) => Some(
            TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .map_err(|e| FromInit::failed("binding the gateway listener", &e))?,
        ),
        None => None,
    };
    sys::sethostname(plan::HOSTNAME).map_err(|e| FromInit::failed("setting the hostname", &e))?;
    clock.lap("loopback and listener");
    Ok((listener, gateway))
}

/// Mounts the function, pivots, and forks the runtime. Returns its pid and the
/// signalfd that reports its exit and the signals to forward.
fn start_runtime(
    p: &Prepare,
    l: &Launch,
    output: OwnedFd,
    scratch: Option<OwnedFd>,
    config: Option<OwnedFd>,
    clock: &mut Clock,
) -> Result<(libc::pid_t, OwnedFd), FromInit> {
    plan::apply(&LinuxSyscall, &p.rootfs, &l.ops)
        .map_err(|(step, e)| FromInit::failed(step, &e))?;
    clock.lap("instance mounts and pivot_root");
    if l.scratch {
        attach_tmp(scratch)?;
        clock.lap("attach /tmp");
    }

    let mut watched = vec![libc::SIGCHLD];
    watched.extend(FORWARDED);
    let set = sys::sigset(&watched);
    sys::set_sigmask(&set).map_err(|e| FromInit::failed("blocking signals", &e))?;
    let signals = sys::signalfd(&set).map_err(|e| FromInit::failed("creating a signalfd", &e))?;

    let argv: Vec<&str> = l.argv.iter().map(String::as_str).collect();
    let Some(program) = argv.first() else {
        return Err(FromInit::Failed {
            step: "starting the runtime".into(),
            errno: None,
            message: "empty command line".into(),
        });
    };
    let image = ExecImage::new(Path::new(program), &argv, &l.env)
        .map_err(|e| FromInit::failed("preparing the runtime's arguments", &e))?;
    let filter = seccomp::runtime_filter()
        .map_err(|e| FromInit::failed("building the seccomp filter", &io::Error::other(e)))?;
    let (err_read, err_write) =
        sys::pipe_cloexec().map_err(|e| FromInit::failed("creating a pipe", &e))?;

    let pid = match sys::fork().map_err(|e| FromInit::failed("forking the runtime", &e))? {
        sys::Fork::Child => {
            drop(err_read);
            let (step, err) = runtime_child(l, &output, config.as_ref(), &image, filter);
            let msg = format!("{step}\0{}", err.raw_os_error().unwrap_or(0));
            let _ = sys::write_all(err_write.as_fd(), msg.as_bytes());
            sys::exit_now(127);
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop(err_write);
    drop(output);
    drop(config);
    // The pipe closes without data when execve succeeds (it is close-on-exec).
    let mut report = Vec::new();
    let _ = io::Read::read_to_end(&mut std::fs::File::from(err_read), &mut report);
    if !report.is_empty() {
        let _ = sys::wait_child(pid);
        let text = String::from_utf8_lossy(&report);
        let (step, errno) = text.split_once('\0').unwrap_or((&text, "0"));
        let errno: i32 = errno.parse().unwrap_or(0);
        let err = io::Error::from_raw_os_error(errno);
        return Err(FromInit::failed(step.to_string(), &err));
    }
    clock.lap("fork and exec runtime");
    Ok((pid, signals))
}

/// In the forked child: becomes the runtime. Returns only on failure, with the step.
fn runtime_child(
    l: &Launch,
    output: &OwnedFd,
    config: Option<&OwnedFd>,
    image: &ExecImage,
    filter: &[libc::sock_filter],
) -> (String, io::Error) {
    let step = |name: &str| {
        let name = name.to_string();
        move |e| (name, e)
    };
    let result = (|| {
        sys::reset_signal_dispositions();
        sys::set_sigmask(&sys::sigset(&[])).map_err(step("unblocking signals"))?;
        sys::setsid().map_err(step("starting a session"))?;
        let devnull = std::fs::File::open("/dev/null").map_err(step("opening /dev/null"))?;
        sys::dup2(devnull.as_fd(), 0).map_err(step("redirecting stdin"))?;
        sys::dup2(output.as_fd(), 1).map_err(step("redirecting stdout"))?;
        sys::dup2(output.as_fd(), 2).map_err(step("redirecting stderr"))?;
        if let Some(config) = config {
            sys::dup2(config.as_fd(), PREWARM_FD).map_err(step("passing the prewarm pipe"))?;
        }
        sys::cloexec_from(PREWARM_FD as u32 + u32::from(config.is_some()));
        std::env::set_current_dir(&l.cwd)
            .map_err(step(&format!("entering {}", l.cwd.display())))?;
        sys::setrlimit(libc::RLIMIT_NOFILE, l.nofile).map_err(step("limiting open files"))?;
        sys::setrlimit(libc::RLIMIT_CORE, 0).map_err(step("disabling core dumps"))?;
        sys::prefer_for_oom_kill().map_err(step("raising the OOM score"))?;
        let switch_to = if l.nested_user_namespace {
            if let Some(nproc) = l.nproc {
                sys::setrlimit(libc::RLIMIT_NPROC, nproc).map_err(step("limiting processes"))?;
            }
            sys::enter_nested_user_namespace(l.uid, l.gid)
                .map_err(step("entering the runtime's user namespace"))?;
            None
        } else {
            Some((l.uid, l.gid))
        };
        drop_privileges(switch_to).map_err(step("dropping privileges"))?;
        // Pins the OOM score raised above (see `syscall::landlock`).
        let writable = writable_roots();
        let writable: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
        sys::restrict_file_writes_to(&writable).map_err(step("forbidding writes under /proc"))?;
        sys::install_seccomp(filter).map_err(step("installing the seccomp filter"))?;
        Err(sys::execve(image)).map_err(step(&format!("executing {}", l.argv[0])))
    })();
    match result {
        Ok(()) => unreachable!("execve returned success"),
        Err(failure) => failure,
    }
}

/// The top-level directories of the instance's root but `/proc`: where the runtime
/// may open files for writing (most are read-only mounts anyway).
fn writable_roots() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "proc")
        .map(|e| e.path())
        .collect()
}

/// Root to nothing: no capability in any set (bounding and ambient included), the
/// unprivileged uid and gid `switch_to` if given (else the current ones, already
/// unprivileged on the host), and no way to regain privileges through exec.
fn drop_privileges(switch_to: Option<(u32, u32)>) -> io::Result<()> {
    sys::drop_bounding_set()?;
    if let Some((uid, gid)) = switch_to {
        sys::switch_user(uid, gid)?;
    }
    sys::clear_caps()?;
    sys::clear_ambient_caps()?;
    sys::set_no_new_privs()
}

/// pid 1's loop: reap, forward, and end with the runtime. Returns the exit code.
fn supervise(ch: BorrowedFd<'_>, runtime: libc::pid_t, signals: BorrowedFd<'_>) -> i32 {
    loop {
        let ready = match sys::poll_many(&[signals, ch], -1) {
            Ok(r) => r,
            Err(_) => return 1,
        };
        if ready[0] {
            while let Some(sig) = sys::read_signal(signals) {
                if sig != libc::SIGCHLD {
                    let _ = sys::kill(runtime, sig);
                    continue;
                }
                while let Some((pid, status)) = sys::reap_any() {
                    if pid != runtime {
                        continue; // an orphan
                    }
                    let (code, signal, exit) = match status {
                        WaitStatus::Exited(c) => (Some(c), None, c),
                        WaitStatus::Signaled(s) => (None, Some(s), 128 + s),
                    };
                    let _ = proto::send(ch, &FromInit::Exited { code, signal }, &[]);
                    return exit;
                }
            }
        }
        if ready[1] {
            // gust sends nothing after Launch: readable means its end closed (the
            // instance was dropped, or gust died). Leaving takes the namespace down.
            match proto::recv::<ToInit>(ch, true) {
                Ok(Some(_)) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(None) | Err(_) => return 128 + libc::SIGKILL,
            }
        }
    }
}
