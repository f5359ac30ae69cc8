//! `--isolation linux`: each instance in its own mount, pid, ipc, uts, network and
//! cgroup namespaces, on a root built from read-only bind mounts of the host's
//! runtime directories, as an unprivileged user with no capabilities, no new
//! privileges and a seccomp filter, limited by a cgroup.
//!
//! # What an instance sees
//! - `/usr`, `/lib*`, `/bin`, `/sbin` of the host (read-only; symlinks kept), a
//!   selection of `/etc` (dynamic linker cache, TLS roots, time zone, resolver,
//!   alternatives) plus synthetic `passwd`, `group`, `hosts`, `hostname`;
//! - the launch's host paths at their own paths (an interpreter prefix under `/root`
//!   shows only that prefix), the function's code at `/var/task` and gust's runtime
//!   bootstraps at `/var/runtime`, all read-only;
//! - `/tmp` as a filesystem of its own on disk, of the function's ephemeral storage
//!   size (see `scratch`; with [`LinuxSandboxConfig::scratch_dir`] and root, else a
//!   size-limited tmpfs that counts against the function's memory), `/dev/shm` as a
//!   tmpfs of the function's memory size, a minimal `/dev`, and a fresh `/proc` masked as
//!   container runtimes mask it: kernel symbols, memory, keys, timers and scheduler
//!   internals read empty, hardware directories (`acpi`, `scsi`, `asound`) are
//!   empty, and `sys`, `sysrq-trigger`, `irq`, `bus` and `fs` are read-only (each
//!   where the kernel has it);
//! - a network with only `lo`, on which the Runtime API listens at `127.0.0.1:9001`
//!   (gust accepts on the listener from outside the namespace). Nothing else is
//!   reachable: not the host's loopback, not other instances. A launch with
//!   [`crate::LaunchSpec::outbound`] also gets `eth0`, a veth to the host with NAT
//!   beyond it (see `net`), made at launch, or ahead of demand by the pool once such
//!   a function has been launched: functions without it never pay for it.
//!
//! # Using it
//! - gust's `main` must start with
//!   `if argv[1] == INIT_ARG { gust_sandbox::linux::init_main() }`: each instance's
//!   init is gust's own binary re-executed (`/proc/self/exe __sandbox-init`).
//! - [`LinuxSandbox::probe`] once at start; on [`SandboxError::Unavailable`] fall
//!   back to `none` loudly. [`LinuxSandbox::with_pool`] keeps pre-forked sandboxes.
//! - `launch` blocks until the runtime is exec'd (about a millisecond from the pool,
//!   several without) and dropping an instance blocks until the kernel has torn its
//!   namespaces down (a few milliseconds): call both off the async executor
//!   (`spawn_blocking`).
//! - Call [`crate::InstanceProcess::finish_init`] when the runtime asks for its first
//!   invocation: until then the instance may use one full vCPU (the init boost), then
//!   its share, memory / 1769 MB of a vCPU, enforced by a CFS quota.
//! - The exit status is the runtime's: the init relays it, and exits itself with the
//!   runtime's code or 128 + its signal. An instance killed through
//!   [`crate::InstanceProcess::kill`] reports SIGKILL; `oom_killed` is set when the
//!   kernel's OOM killer ended a process of the instance.
//!
//! # Not enforced
//! No `/sys`; the rest of `/proc` is the kernel's (the runtime is unprivileged, so
//! its root-only files stay closed). `/proc/self/mountinfo` describes every mount
//! as the kernel knows it: for a bind mount, its root field is the source's path
//! within the host filesystem it lives on, so an instance learns the host paths of
//! its code (`<data dir>/archives/code/<sha256 of its own archive>`, which gives
//! away where gust keeps its data) and of the runtime bootstraps
//! (`<data dir>/runtimes`), where each `/etc` entry really lives (e.g.
//! `/run/systemd/resolve/stub-resolv.conf`), and for each host filesystem its
//! device, type and superblock options. No other function's path shows, nor any
//! file outside the plan. Binding from a staging directory would not change it
//! (the root field names the directory's own place on its filesystem); putting
//! gust's data directory on a filesystem of its own shortens the code's path to
//! `/archives/code/<sha256>`. With root, `RLIMIT_NPROC` is left alone (it counts
//! per uid across instances; the pids cgroup limits each instance instead). Without
//! root the sandbox runs in user namespaces, with the gaps listed in `rootless`.
//!
//! # Layout
//! - [`LinuxSandbox`]: probe, pool, launch; [`LinuxSandboxConfig`] its knobs.
//! - `spawn`: clones an init into new namespaces and has it prepare the sandbox.
//! - `init`: [`init_main`], the code that runs as pid 1 inside.
//! - `proto`: the messages between gust and an init.
//! - `plan`: the mount plan, computed in gust, replayed by the init.
//! - `seccomp`: the runtime's syscall filter, compiled to BPF.
//! - `cgroup`: the `CgroupManager` trait with v1, v2 and stub managers.
//! - `pool`: pre-forked inits waiting for a function.
//! - `leftovers`: finding what a gust that was killed left running.
//! - `scratch`: each instance's disk-backed `/tmp`, and the disk's admission.
//! - `net`: outbound network (veth, NAT) for the instances that opt in.
//! - `process`: the running instance as [`crate::InstanceProcess`].
//! - `rootless`: user namespaces when gust is not root, and what they do not enforce.
//! - `syscall`: every `unsafe` block, in small safe wrappers.

mod boost;
mod cgroup;
mod init;
mod leftovers;
mod net;
mod plan;
mod pool;
mod process;
mod proto;
mod rootless;
mod scratch;
mod seccomp;
mod spawn;
mod syscall;

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use cgroup::CpuPolicy;

/// Lets this process open as many files as its hard limit allows (up to a million).
/// The server holds about ten descriptors per warm instance (its Runtime API and
/// gateway sockets, output pipes, process and cgroup handles), so the usual soft
/// limit of 1,024 would stop it near a hundred instances; the instances themselves
/// get their own limit ([`LinuxSandboxConfig::nofile`]). Returns the soft limit
/// before and after.
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    syscall::raise_nofile(1 << 20)
}
pub use init::init_main;
pub use rootless::{not_enforced, Privilege};

use crate::{
    output_pipe, resolve_argv, Entrypoint, LaunchSpec, Launched, PrewarmTemplate, Sandbox,
    SandboxError,
};
use cgroup::{Hierarchy, Limits};
use plan::{InstancePaths, MountOp, RealHost};
use process::LinuxProcess;
use proto::{Launch, ToInit};

/// `PATH` of a runtime whose function sets none: Lambda's, with the layers' `bin`.
const DEFAULT_PATH: &str = "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin";
/// `LD_LIBRARY_PATH` of a runtime whose function sets none: the layers' `lib`, as
/// Lambda's ends.
const DEFAULT_LIBRARY_PATH: &str = "LD_LIBRARY_PATH=/opt/lib";

/// Whether the function's layers hold a `lib` directory. The dynamic loader reads
/// `LD_LIBRARY_PATH` once, when a process starts, and forgets a directory that did
/// not exist then: a runtime prewarmed before it had layers would never find
/// their libraries (a Python extension's shared objects), so such a function
/// gets a runtime started with its layers already at `/opt`.
fn layers_have_libraries(spec: &LaunchSpec) -> bool {
    spec.opt_dir
        .as_ref()
        .is_some_and(|opt| opt.join("lib").is_dir())
}

/// The variable that tells a prewarmed runtime where its function will come from
/// (see [`crate::PrewarmTemplate`]).
pub const PREWARM_FD_VAR: &str = "_GUST_PREWARM_FD";

/// The argument that makes gust's binary run as a sandbox init:
/// `if argv[1] == INIT_ARG { gust_sandbox::linux::init_main() }`.
pub const INIT_ARG: &str = "__sandbox-init";

/// What the Linux sandbox does, with defaults matching Lambda.
#[derive(Debug, Clone)]
pub struct LinuxSandboxConfig {
    /// The program that runs as each instance's init: gust itself by default.
    pub init_program: PathBuf,
    /// Its arguments (after `argv[0]`).
    pub init_args: Vec<String>,
    /// The parent of every instance's cgroup, relative to each hierarchy's root.
    pub cgroup_parent: PathBuf,
    /// Refuse to run without cgroups (no memory, CPU or pids limits) if true.
    pub require_cgroups: bool,
    /// Empty host directory on which each instance assembles its root (inside its
    /// own mount namespace, so nothing shows on the host).
    pub rootfs_dir: PathBuf,
    /// The unprivileged user and group inside (Lambda's `sbx_user1051` is 993).
    pub uid: u32,
    pub gid: u32,
    /// Most processes and threads per instance.
    pub pids_max: u64,
    /// `RLIMIT_NOFILE` of the runtime.
    pub nofile: u64,
    /// How CPU follows memory.
    pub cpu: CpuPolicy,
    /// Port of the Runtime API on the instance's loopback.
    pub api_port: u16,
    /// Port on the instance's loopback where gust's own API answers too (the
    /// port gust listens on, so that `http://127.0.0.1:PORT` means gust inside an
    /// instance as outside, and URLs a function makes work for its clients). `None`:
    /// no such listener.
    pub gateway_port: Option<u16>,
    /// The AWS SDKs the managed runtimes provide (`gust sdk install`), shown
    /// read-only at `/var/runtime/sdk`; the runtime directory must have an `sdk`
    /// directory to mount it on.
    pub sdk_dir: Option<PathBuf>,
    /// At start, empty instance cgroups under the parent at least this old are
    /// removed: leftovers of a gust that died without cleaning up. (Younger ones
    /// may belong to another gust starting an instance right now.)
    pub stale_cgroup_age: std::time::Duration,
    /// The private /16 from which each instance of a function allowed outbound
    /// traffic gets a /30 (see `net`).
    pub outbound_subnet: std::net::Ipv4Addr,
    /// A directory of gust's (under its data directory) where each instance's `/tmp`
    /// gets a filesystem image of its own, on disk (see `scratch`). `None`, without
    /// root, or where loop devices or `mkfs.ext4` are missing, `/tmp` is a tmpfs,
    /// counted against the function's memory.
    pub scratch_dir: Option<PathBuf>,
    /// What all instances' `/tmp` images together may be promised, in MB; `None`:
    /// the free space of `scratch_dir`'s filesystem. More than is free overcommits
    /// (the images are sparse).
    pub scratch_capacity_mb: Option<u64>,
}

impl Default for LinuxSandboxConfig {
    fn default() -> Self {
        LinuxSandboxConfig {
            init_program: PathBuf::from("/proc/self/exe"),
            init_args: vec![INIT_ARG.to_string()],
            cgroup_parent: PathBuf::from("gust"),
            require_cgroups: true,
            rootfs_dir: PathBuf::from("/run/gust-sandbox/root"),
            uid: 993,
            gid: 990,
            pids_max: 1024,
            nofile: 1024,
            cpu: CpuPolicy::default(),
            api_port: 9001,
            gateway_port: None,
            sdk_dir: None,
            stale_cgroup_age: std::time::Duration::from_secs(60),
            outbound_subnet: std::net::Ipv4Addr::new(10, 213, 0, 0),
            scratch_dir: None,
            scratch_capacity_mb: None,
        }
    }
}

/// What launches share with the pool's thread.
pub(crate) struct Shared {
    config: LinuxSandboxConfig,
    cgroups: Hierarchy,
    /// The system half of the mount plan, computed once.
    system_ops: Vec<MountOp>,
    /// Instance paths that mirror the host after the system half.
    visible: Vec<PathBuf>,
    init_image: syscall::ExecImage,
    /// Links to the host for the launches that ask for outbound traffic.
    outbound: net::Outbound,
    /// Root, or user namespaces.
    privilege: Privilege,
    /// What a rootless init writes to its user namespace's maps.
    id_maps: Option<syscall::IdMaps>,
    /// Disk-backed `/tmp`, where it works here.
    scratch: Option<scratch::ScratchDisk>,
}

/// Makes cgroup names unique within this process (the pid makes them unique
/// across processes), whatever the number of sandboxes in it.
static CGROUP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Shared {
    /// The message that starts a runtime (now, or prewarmed) with `ops` and `env`.
    fn launch_message(
        &self,
        ops: Vec<MountOp>,
        entrypoint: &Entrypoint,
        env: Vec<String>,
    ) -> Launch {
        Launch {
            ops,
            argv: resolve_argv(
                entrypoint,
                Path::new(plan::RUNTIME_DIR),
                Path::new(plan::TASK_ROOT),
            ),
            env,
            cwd: PathBuf::from(plan::TASK_ROOT),
            uid: self.config.uid,
            gid: self.config.gid,
            nofile: self.config.nofile,
            nested_user_namespace: self.privilege.is_rootless(),
            nproc: self.privilege.is_rootless().then_some(self.config.pids_max),
            scratch: false,
        }
    }

    /// A `/tmp` image made ahead of demand, of the size most functions have, if
    /// `/tmp` is on disk and the disk can promise it now (a launch that needs it
    /// and cannot have it says why).
    fn scratch_ahead(&self) -> Option<scratch::Scratch> {
        let disk = self.scratch.as_ref()?;
        match disk.make_ahead() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(error = %e, "no /tmp image made ahead of demand");
                None
            }
        }
    }

    /// The `/tmp` of a launch of `tmp_mb`: the one made ahead if it has that size,
    /// else a new one; `None` where `/tmp` is a tmpfs.
    fn scratch_for(
        &self,
        ahead: Option<scratch::Scratch>,
        tmp_mb: u32,
    ) -> Result<Option<scratch::Scratch>, SandboxError> {
        let Some(disk) = &self.scratch else {
            return Ok(None);
        };
        match ahead {
            Some(s) if s.mb == tmp_mb => disk.claim(&s).map(|()| Some(s)),
            other => {
                drop(other); // its promise is released before the new one is made
                disk.make(tmp_mb).map(Some)
            }
        }
    }

    /// Starts a runtime of `template` in a fresh sandbox, waiting for its function.
    fn prewarm(&self, template: &PrewarmTemplate) -> Result<pool::Prewarmed, SandboxError> {
        let interpreter = match &template.entrypoint {
            Entrypoint::Managed { interpreter, .. } => Some(interpreter.as_path()),
            Entrypoint::TaskBootstrap => None,
        };
        let paths = InstancePaths {
            code_dir: None,
            opt_dir: None,
            runtime_dir: &template.runtime_dir,
            sdk_dir: self.config.sdk_dir.as_deref(),
            host_paths: &template.host_paths,
            interpreter,
            tmp_mb: 1,
            tmp_on_disk: self.scratch.is_some(),
            shm_mb: 1,
        };
        let ops = plan::instance_plan(&RealHost, &paths, &self.visible).map_err(|m| {
            SandboxError::io(
                "planning a prewarmed runtime's mounts",
                io::Error::new(io::ErrorKind::NotFound, m),
            )
        })?;
        let mut env: Vec<String> = template
            .startup_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !template.startup_env.iter().any(|(k, _)| k == "PATH") {
            env.push(DEFAULT_PATH.into());
        }
        env.push(format!("{PREWARM_FD_VAR}={}", init::PREWARM_FD));
        let mut init = spawn::start_init(self, &self.pool_cgroup_name())?;
        // A disk-backed /tmp is there before the runtime starts (the runtime's
        // Landlock rules name the directories it may write in as they are then),
        // so only launches of the default size take a prewarmed runtime.
        if let Some(disk) = &self.scratch {
            init.scratch = Some(disk.make_ahead()?);
        }
        let mut launch = self.launch_message(ops, &template.entrypoint, env);
        launch.scratch = init.scratch.is_some();
        let output = spawn::prewarm(
            init.instance.channel.as_fd(),
            launch,
            init.scratch.as_ref().map(|s| s.mount.as_fd()),
        )?;
        Ok(pool::Prewarmed { init, output })
    }

    /// A fresh name for a cgroup before it is known whose it will be.
    fn pool_cgroup_name(&self) -> String {
        let n = CGROUP_SEQ.fetch_add(1, Ordering::Relaxed);
        format!("pool-{}-{n}", std::process::id())
    }
}

/// The Linux sandbox. See the module docs.
pub struct LinuxSandbox {
    shared: Arc<Shared>,
    pool: Option<pool::Pool>,
}

impl std::fmt::Debug for LinuxSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxSandbox")
            .field("cgroups", &self.shared.cgroups.version())
            .field("pool", &self.pool.as_ref().map(pool::Pool::ready))
            .finish()
    }
}

impl LinuxSandbox {
    /// Checks that this host can run the sandbox, with the default configuration.
    /// See [`probe_with`](Self::probe_with).
    pub fn probe() -> Result<LinuxSandbox, SandboxError> {
        Self::probe_with(LinuxSandboxConfig::default())
    }

    /// Checks that this host can run the sandbox: root, or unprivileged user
    /// namespaces (rootless, see [`Privilege`]); usable cgroups (v1 or v2; without
    /// root, a delegated v2 subtree if there is one, else none, which
    /// [`not_enforced`] then says); and a test instance that starts in new
    /// namespaces and builds its root. Returns [`SandboxError::Unavailable`] saying
    /// what is missing otherwise, so gust can fall back to `--isolation none` with a
    /// warning.
    pub fn probe_with(mut config: LinuxSandboxConfig) -> Result<LinuxSandbox, SandboxError> {
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return Err(SandboxError::Unavailable(
                "the Linux sandbox supports x86_64 and aarch64 only".into(),
            ));
        }
        let euid = syscall::geteuid();
        let privilege = match euid {
            0 => Privilege::Root,
            _ => {
                rootless::check_user_namespaces()?;
                if config.rootfs_dir == LinuxSandboxConfig::default().rootfs_dir {
                    config.rootfs_dir = rootless::rootfs_dir(euid);
                }
                Privilege::UserNamespace {
                    outer_uid: euid,
                    outer_gid: syscall::getegid(),
                }
            }
        };
        let detected = match privilege {
            Privilege::Root => Hierarchy::detect(&config.cgroup_parent),
            Privilege::UserNamespace { .. } => Hierarchy::detect_delegated(&config.cgroup_parent),
        };
        let cgroups = match detected {
            Ok(h) => h,
            Err(missing) if privilege.is_rootless() => {
                tracing::info!("rootless sandbox without cgroups: {missing}");
                Hierarchy::Stub
            }
            Err(missing) if config.require_cgroups => {
                return Err(SandboxError::Unavailable(format!(
                    "no usable cgroups: {missing}"
                )))
            }
            Err(missing) => {
                tracing::warn!("no usable cgroups ({missing}): instances will not be limited");
                Hierarchy::Stub
            }
        };
        if !syscall::landlock_available() {
            tracing::warn!(
                "this kernel has no Landlock (Linux 5.13+, enabled at boot): a function can \
                 lower its own OOM score, so under memory pressure the kernel may kill \
                 other processes before it"
            );
        }
        let reaped = cgroups.reap_orphans(&leftovers::left_by_a_dead_gust);
        if reaped > 0 {
            tracing::info!("ended the instances a gust that was killed left running: {reaped}");
        }
        let stale = cgroups.remove_stale(config.stale_cgroup_age);
        if stale > 0 {
            tracing::info!("removed {stale} empty cgroups left by an earlier gust");
        }
        match net::clean_up_after_dead_users() {
            Ok(true) => {
                tracing::info!("removed the outbound network set-up left by gusts that were killed")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(
                "could not undo the outbound network set-up left by gusts that were killed: {e}"
            ),
        }
        if config.init_program != Path::new("/proc/self/exe") && !config.init_program.is_file() {
            return Err(SandboxError::Unavailable(format!(
                "the sandbox init program {} does not exist",
                config.init_program.display()
            )));
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&config.rootfs_dir)
                .map_err(|e| {
                    SandboxError::io(format!("creating {}", config.rootfs_dir.display()), e)
                })?;
        }
        if privilege.is_rootless() {
            rootless::check_owned(&config.rootfs_dir, euid)?;
        }
        let identity = plan::Identity {
            uid: config.uid,
            gid: config.gid,
        };
        let (system_ops, visible) = plan::system_plan(&RealHost, identity);
        let mut argv: Vec<&str> = vec![config.init_program.to_str().unwrap_or("gust")];
        argv.extend(config.init_args.iter().map(String::as_str));
        let init_image = syscall::ExecImage::new(&config.init_program, &argv, &[])
            .map_err(|e| SandboxError::io("preparing the init's command line", e))?;
        let outbound = net::Outbound::new(config.outbound_subnet);
        let scratch = match (&config.scratch_dir, privilege) {
            (None, _) => None,
            (Some(_), Privilege::UserNamespace { .. }) => {
                tracing::info!(
                    "rootless: /tmp is a size-limited tmpfs, counted against the function's memory"
                );
                None
            }
            (Some(dir), Privilege::Root) => {
                match scratch::ScratchDisk::open(dir, config.scratch_capacity_mb) {
                    Ok(disk) => Some(disk),
                    Err(why) => {
                        tracing::warn!(
                            "/tmp cannot be put on disk here ({why}): it is a tmpfs, counted \
                         against each function's memory"
                        );
                        None
                    }
                }
            }
        };
        let shared = Shared {
            config,
            cgroups,
            system_ops,
            visible,
            init_image,
            outbound,
            id_maps: privilege.id_maps(),
            privilege,
            scratch,
        };
        // The real test: one sandbox, prepared and thrown away.
        let test = spawn::start_init(&shared, &shared.pool_cgroup_name())
            .map_err(|e| SandboxError::Unavailable(format!("a test sandbox did not start: {e}")))?;
        drop(test);
        Ok(LinuxSandbox {
            shared: Arc::new(shared),
            pool: None,
        })
    }

    /// Keeps `size` pre-forked sandboxes ready, so a launch only has to hand one its
    /// function (see the `pool` module). Each idle one holds a small process, its
    /// namespaces and a cgroup.
    pub fn with_pool(mut self, size: usize) -> LinuxSandbox {
        self.pool = (size > 0).then(|| pool::Pool::start(Arc::clone(&self.shared), size));
        self
    }

    /// How many pre-forked generic sandboxes are ready now.
    pub fn pool_ready(&self) -> usize {
        self.pool.as_ref().map_or(0, pool::Pool::ready)
    }

    /// How many pre-forked sandboxes with an outbound link are ready now (the pool
    /// keeps some once a function with outbound network has been launched).
    pub fn pool_ready_linked(&self) -> usize {
        self.pool.as_ref().map_or(0, pool::Pool::ready_linked)
    }

    /// Root, or user namespaces (rootless).
    pub fn privilege(&self) -> Privilege {
        self.shared.privilege
    }

    /// What this sandbox does not enforce that it would with root (empty with root).
    pub fn not_enforced(&self) -> Vec<&'static str> {
        match self.shared.privilege {
            Privilege::Root => Vec::new(),
            Privilege::UserNamespace { .. } => {
                not_enforced(!matches!(self.shared.cgroups, Hierarchy::Stub))
            }
        }
    }

    /// How many prewarmed runtimes are ready now (see [`Sandbox::prewarm`]).
    pub fn pool_ready_prewarmed(&self) -> usize {
        self.pool.as_ref().map_or(0, pool::Pool::ready_prewarmed)
    }

    /// Whether each instance's `/tmp` is a filesystem of its own on disk (else a
    /// tmpfs counted against its memory).
    pub fn tmp_on_disk(&self) -> bool {
        self.shared.scratch.is_some()
    }

    /// `v1`, `v2` or `none`: the cgroup hierarchy in use.
    pub fn cgroup_version(&self) -> &'static str {
        self.shared.cgroups.version()
    }

    /// [`Sandbox::launch`], also returning what each step cost in microseconds (for
    /// the cold-start bench; steps of the init are prefixed `init:`).
    pub fn launch_timed(
        &self,
        spec: &LaunchSpec,
    ) -> Result<(Launched, Vec<(String, u64)>), SandboxError> {
        let result = self.launch_inner(spec);
        if let Some(pool) = &self.pool {
            pool.refill();
        }
        result
    }

    fn launch_inner(
        &self,
        spec: &LaunchSpec,
    ) -> Result<(Launched, Vec<(String, u64)>), SandboxError> {
        let shared = &*self.shared;
        let start = Instant::now();
        if let Some(why) = spec.outbound.then(|| self.outbound_unavailable()).flatten() {
            return Err(SandboxError::Unavailable(format!(
                "this function asks for outbound network: {why}"
            )));
        }
        let prewarmed_fits = (shared.scratch.is_none() || spec.tmp_mb == scratch::DEFAULT_MB)
            && !layers_have_libraries(spec);
        let prewarmed = prewarmed_fits
            .then(|| self.pool.as_ref().and_then(|p| p.take_prewarmed(spec)))
            .flatten();
        if let Some(prewarmed) = prewarmed {
            match self.attach_prewarmed(spec, prewarmed, start) {
                Ok(launched) => return Ok(launched),
                Err(e) => tracing::warn!(
                    error = %e,
                    "a prewarmed runtime could not take its function; starting one afresh"
                ),
            }
        }
        let interpreter = match &spec.entrypoint {
            Entrypoint::Managed { interpreter, .. } => Some(interpreter.as_path()),
            Entrypoint::TaskBootstrap => None,
        };
        let paths = InstancePaths {
            code_dir: Some(&spec.code_dir),
            opt_dir: spec.opt_dir.as_deref(),
            runtime_dir: &spec.runtime_dir,
            sdk_dir: shared.config.sdk_dir.as_deref(),
            host_paths: &spec.host_paths,
            interpreter,
            tmp_mb: spec.tmp_mb,
            tmp_on_disk: shared.scratch.is_some(),
            shm_mb: spec.memory_mb,
        };
        let ops = plan::instance_plan(&RealHost, &paths, &shared.visible).map_err(|m| {
            SandboxError::io(
                "planning the instance's mounts",
                io::Error::new(io::ErrorKind::NotFound, m),
            )
        })?;

        // A function with outbound network takes a sandbox already linked if there is
        // one, else a generic one, linked below.
        let pooled = self.pool.as_ref().and_then(|p| match spec.outbound {
            true => p.take_linked().or_else(|| p.take()),
            false => p.take(),
        });
        let mut timings = Vec::new();
        let mut prepared = match pooled {
            Some(p) => {
                let step = match p.network {
                    Some(_) => "take pooled sandbox (outbound link made ahead)",
                    None => "take pooled sandbox",
                };
                timings.push((step.to_string(), start.elapsed().as_micros() as u64));
                p
            }
            None => {
                let p = spawn::start_init(shared, &shared.pool_cgroup_name())?;
                timings.extend(p.timings.iter().cloned());
                p
            }
        };
        let mut lap = Instant::now();
        let mut record = |name: &str, timings: &mut Vec<(String, u64)>| {
            timings.push((name.to_string(), lap.elapsed().as_micros() as u64));
            lap = Instant::now();
        };

        let ahead = prepared.scratch.take();
        let made_ahead = ahead.as_ref().is_some_and(|s| s.mb == spec.tmp_mb);
        prepared.scratch = shared.scratch_for(ahead, spec.tmp_mb)?;
        if prepared.scratch.is_some() {
            let step = match made_ahead {
                true => "/tmp image (made ahead)",
                false => "/tmp image (copy, loop device, mount)",
            };
            record(step, &mut timings);
        }
        let limits = self.limit(&mut prepared, spec)?;
        record("cgroup name and limits", &mut timings);

        let (out_read, out_write) =
            output_pipe().map_err(|e| SandboxError::io("creating the output pipe", e))?;
        let env = runtime_env(spec, shared.config.api_port);
        let mut message = shared.launch_message(ops, &spec.entrypoint, env);
        message.scratch = prepared.scratch.is_some();
        let launch = ToInit::Launch(message);
        // Before the runtime starts, so that its network is complete when it runs.
        let network = match prepared.network.take() {
            Some(made_ahead) => Some(made_ahead),
            None if spec.outbound => {
                let lease = shared.outbound.attach(prepared.instance.pid)?;
                record("outbound network (veth, addresses, route)", &mut timings);
                Some(lease)
            }
            None => None,
        };
        let ch = prepared.instance.channel.as_fd();
        let mut fds = vec![out_write.as_fd()];
        fds.extend(prepared.scratch.as_ref().map(|s| s.mount.as_fd()));
        proto::send(ch, &launch, &fds)
            .map_err(|e| SandboxError::io("sending the function to the sandbox init", e))?;
        drop(fds);
        drop(out_write);
        let steps = spawn::expect_started(ch)?;
        record("launch (init mounts, pivot, fork, exec)", &mut timings);
        timings.extend(steps);
        self.finish(prepared, spec, limits, network, out_read, timings, start)
    }

    /// Hands a prewarmed runtime its function: the code's mount, the sizes of its
    /// scratch space, its environment.
    fn attach_prewarmed(
        &self,
        spec: &LaunchSpec,
        prewarmed: pool::Prewarmed,
        start: Instant,
    ) -> Result<(Launched, Vec<(String, u64)>), SandboxError> {
        let pool::Prewarmed {
            init: mut prepared,
            output,
        } = prewarmed;
        let mut timings = vec![(
            "take prewarmed runtime".to_string(),
            start.elapsed().as_micros() as u64,
        )];
        let mut lap = Instant::now();
        if let (Some(disk), Some(tmp)) = (&self.shared.scratch, &prepared.scratch) {
            disk.claim(tmp)?;
        }
        let limits = self.limit(&mut prepared, spec)?;
        let code_dir = std::fs::canonicalize(&spec.code_dir)
            .map_err(|e| SandboxError::io(format!("resolving {}", spec.code_dir.display()), e))?;
        let code = syscall::open_tree_read_only(&code_dir).map_err(|e| {
            SandboxError::io(format!("making a mount of {}", code_dir.display()), e)
        })?;
        let opt = match &spec.opt_dir {
            Some(dir) => {
                let dir = std::fs::canonicalize(dir)
                    .map_err(|e| SandboxError::io(format!("resolving {}", dir.display()), e))?;
                Some(syscall::open_tree_read_only(&dir).map_err(|e| {
                    SandboxError::io(format!("making a mount of {}", dir.display()), e)
                })?)
            }
            None => None,
        };
        timings.push((
            "cgroup limits and code mount".into(),
            lap.elapsed().as_micros() as u64,
        ));
        lap = Instant::now();
        let env: serde_json::Map<String, serde_json::Value> =
            runtime_env(spec, self.shared.config.api_port)
                .into_iter()
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), serde_json::Value::String(v.to_string())))
                })
                .collect();
        let config = serde_json::json!({"env": env, "cwd": plan::TASK_ROOT}).to_string();
        let attach = ToInit::Attach(proto::Attach {
            tmp_mb: spec.tmp_mb,
            shm_mb: spec.memory_mb,
            config,
            scratch: prepared.scratch.is_some(),
            opt: opt.is_some(),
        });
        let ch = prepared.instance.channel.as_fd();
        let mut fds = vec![code.as_fd()];
        fds.extend(opt.as_ref().map(|o| o.as_fd()));
        proto::send(ch, &attach, &fds)
            .map_err(|e| SandboxError::io("sending the function to the sandbox init", e))?;
        drop(fds);
        drop(code);
        drop(opt);
        let steps = spawn::expect_started(ch)?;
        timings.push((
            "attach (code mount, sizes, configuration)".into(),
            lap.elapsed().as_micros() as u64,
        ));
        timings.extend(steps);
        self.finish(prepared, spec, limits, None, output, timings, start)
    }

    /// Names the instance's cgroup after it and applies its limits.
    fn limit(
        &self,
        prepared: &mut spawn::PreparedInit,
        spec: &LaunchSpec,
    ) -> Result<Limits, SandboxError> {
        rename_cgroup(prepared, &spec.instance_id);
        let cpu = &self.shared.config.cpu;
        let limits = Limits::for_instance(spec.memory_mb, self.shared.config.pids_max, cpu);
        prepared
            .instance
            .cgroup
            .apply(&limits)
            .map_err(|e| SandboxError::io("limiting the instance's resources", e))?;
        Ok(limits)
    }

    /// The running instance, once its runtime has started.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        prepared: spawn::PreparedInit,
        spec: &LaunchSpec,
        limits: Limits,
        network: Option<net::Lease>,
        output: std::os::fd::OwnedFd,
        mut timings: Vec<(String, u64)>,
        start: Instant,
    ) -> Result<(Launched, Vec<(String, u64)>), SandboxError> {
        prepared
            .listener
            .set_nonblocking(true)
            .map_err(|e| SandboxError::io("configuring the Runtime API listener", e))?;
        if let Some(g) = &prepared.gateway {
            g.set_nonblocking(true)
                .map_err(|e| SandboxError::io("configuring the gateway listener", e))?;
        }
        timings.push(("total".to_string(), start.elapsed().as_micros() as u64));
        let cpu = &self.shared.config.cpu;
        let steady_cpu = cpu.steady(spec.memory_mb);
        if limits.cpu != steady_cpu {
            boost::end_after(
                cpu.init_boost_max,
                Arc::downgrade(&prepared.instance.cgroup),
                steady_cpu,
            );
        }
        let process = LinuxProcess {
            instance: prepared.instance,
            exit: Mutex::new(None),
            steady_cpu,
            peak_file: std::sync::OnceLock::new(),
            _network: network,
            _scratch: prepared.scratch,
        };
        Ok((
            Launched {
                process: Box::new(process),
                output,
                runtime_api: prepared.listener,
                gateway: prepared.gateway,
            },
            timings,
        ))
    }
}

impl Sandbox for LinuxSandbox {
    fn name(&self) -> &'static str {
        match self.shared.privilege {
            Privilege::Root => "linux",
            Privilege::UserNamespace { .. } => "linux-rootless",
        }
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, SandboxError> {
        self.launch_timed(spec).map(|(launched, _)| launched)
    }

    fn pool_levels(&self) -> crate::PoolLevels {
        crate::PoolLevels {
            sandboxes: self.pool_ready(),
            linked: self.pool_ready_linked(),
            prewarmed: self.pool_ready_prewarmed(),
        }
    }

    fn prewarm(&self, template: PrewarmTemplate) {
        match &self.pool {
            // Attaching the code needs a mount made in gust's own mount namespace.
            _ if self.shared.privilege.is_rootless() => {
                tracing::info!("rootless: runtimes are not prewarmed");
            }
            Some(pool) => pool.set_prewarm(template),
            None => {}
        }
    }

    fn outbound_unavailable(&self) -> Option<&'static str> {
        self.shared.privilege.is_rootless().then_some(
            "gust gives outbound network only when it runs as root (veths and NAT); it \
             runs rootless here",
        )
    }
}

/// Names the cgroup after the instance (made unique if the name is taken); a
/// failure leaves the generic name, which is only cosmetic.
fn rename_cgroup(prepared: &mut spawn::PreparedInit, instance_id: &str) {
    let base = cgroup_name_for(instance_id);
    // Nothing else holds the cgroup before the launch hands the instance out.
    let Some(cg) = Arc::get_mut(&mut prepared.instance.cgroup) else {
        return;
    };
    if cg.rename(&base).is_ok() {
        return;
    }
    let unique = format!(
        "{base}-{}-{}",
        std::process::id(),
        CGROUP_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(e) = cg.rename(&unique) {
        tracing::debug!(error = %e, "keeping the generic cgroup name {}", cg.name());
    }
}

/// A cgroup name from an instance id: safe characters only, bounded length.
fn cgroup_name_for(instance_id: &str) -> String {
    let name: String = instance_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    match name.as_str() {
        "" | "." | ".." => "instance".to_string(),
        _ => name,
    }
}

/// The runtime's environment: the launch's, minus what the sandbox sets, plus the
/// Runtime API address and the sandbox's paths.
fn runtime_env(spec: &LaunchSpec, api_port: u16) -> Vec<String> {
    const SET_HERE: [&str; 4] = [
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        PREWARM_FD_VAR,
    ];
    let mut env: Vec<String> = spec
        .env
        .iter()
        .filter(|(k, _)| !SET_HERE.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !spec.env.iter().any(|(k, _)| k == "PATH") {
        env.push(DEFAULT_PATH.into());
    }
    if !spec.env.iter().any(|(k, _)| k == "LD_LIBRARY_PATH") {
        env.push(DEFAULT_LIBRARY_PATH.into());
    }
    env.push(format!("AWS_LAMBDA_RUNTIME_API=127.0.0.1:{api_port}"));
    env.push(format!("LAMBDA_TASK_ROOT={}", plan::TASK_ROOT));
    env.push(format!("LAMBDA_RUNTIME_DIR={}", plan::RUNTIME_DIR));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_names_are_sanitised() {
        assert_eq!(cgroup_name_for("fn-1.abc_2"), "fn-1.abc_2");
        assert_eq!(cgroup_name_for("a/b c"), "a_b_c");
        assert_eq!(cgroup_name_for(".."), "instance");
        assert_eq!(cgroup_name_for(""), "instance");
        assert_eq!(cgroup_name_for(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn the_sandbox_sets_the_runtime_api_and_paths() {
        let spec = LaunchSpec {
            instance_id: "i".into(),
            entrypoint: Entrypoint::TaskBootstrap,
            env: vec![
                ("AWS_LAMBDA_RUNTIME_API".into(), "evil:1".into()),
                ("FOO".into(), "bar".into()),
            ],
            code_dir: "/c".into(),
            opt_dir: None,
            runtime_dir: "/r".into(),
            host_paths: vec![],
            memory_mb: 128,
            tmp_mb: 16,
            outbound: false,
        };
        let env = runtime_env(&spec, 9001);
        assert_eq!(
            env,
            vec![
                "FOO=bar",
                "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
                "LD_LIBRARY_PATH=/opt/lib",
                "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001",
                "LAMBDA_TASK_ROOT=/var/task",
                "LAMBDA_RUNTIME_DIR=/var/runtime",
            ]
        );
    }
}
