//! A cgroup per instance: memory limit without swap, a CPU share and quota proportional
//! to memory, a pids limit, the instance's memory peak and OOM kills read back, and a
//! freezer that stops an idle instance's processes without their knowing.
//!
//! cgroup v1 (a hierarchy per controller, as on this project's development machines)
//! and v2 (one unified hierarchy, as on production hosts) are two implementations of
//! [`CgroupManager`]; [`Hierarchy::detect`] picks one at start. A stub manager, which
//! limits nothing, keeps the rest of the sandbox testable where no cgroup can be made.
//!
//! Every instance's cgroup sits under one parent (`gust/` by default) at the root of
//! each hierarchy, named after the instance.

mod v1;
mod v2;

use std::fmt::Debug;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub(crate) use v1::V1Hierarchy;
pub(crate) use v2::V2Hierarchy;

/// The resources of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Memory limit in bytes; swap is not allowed on top of it.
    pub memory_bytes: u64,
    /// Relative CPU weight in cgroup v1 `cpu.shares` units (1024 = one vCPU).
    pub cpu_shares: u64,
    /// The CPU bandwidth limit.
    pub cpu: CpuQuota,
    /// Most processes and threads the instance may have at once.
    pub pids_max: u64,
}

/// A CFS bandwidth limit: `quota_us` of CPU time per `period_us`, plus up to
/// `burst_us` saved from earlier periods the instance left unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuQuota {
    /// CPU time per period, in microseconds.
    pub quota_us: u64,
    /// The accounting period, in microseconds.
    pub period_us: u64,
    /// Unused quota that may be carried over, in microseconds (at most `quota_us`,
    /// as the kernel requires; 0 for none). Ignored where the kernel has no burst
    /// (before Linux 5.14).
    pub burst_us: u64,
}

/// How CPU follows memory. Lambda gives one vCPU at 1,769 MB and proportionally less
/// (or more) elsewhere; the quota enforces the share even when the host is idle.
///
/// An instance that wants more than its share runs for its quota and then waits for
/// the rest of the period: with a 100 ms period a 128 MB instance (7.2 % of a CPU)
/// that overruns waits up to 93 ms, a stall a caller sees in full. So each size gets
/// the shortest period, not under [`min_period_us`](Self::min_period_us), in which
/// its exact share is at least the kernel's smallest quota (1 ms): 13.8 ms at 128 MB,
/// `min_period_us` from 177 MB up. The share is unchanged; the stall is at most a
/// period less the quota. The burst lets an instance that was idle spend what it
/// saved at once, so a single short invoke over its slice is not cut at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuPolicy {
    /// Memory size that buys one vCPU.
    pub mb_per_vcpu: u32,
    /// The shortest quota period in microseconds (at least the kernel's 1 ms).
    pub min_period_us: u64,
    /// Whether unused quota carries over (one quota's worth, the kernel's maximum).
    pub burst: bool,
    /// vCPUs allowed while the runtime initialises (until
    /// [`crate::InstanceProcess::finish_init`]), if more than its steady share; `None`
    /// applies the steady share from the start.
    pub init_boost_vcpus: Option<f64>,
    /// The longest the init boost lasts without `finish_init` (Lambda ends the init
    /// phase after 10 seconds).
    pub init_boost_max: std::time::Duration,
}

impl Default for CpuPolicy {
    fn default() -> Self {
        CpuPolicy {
            mb_per_vcpu: 1769,
            min_period_us: 10_000,
            burst: true,
            init_boost_vcpus: Some(1.0),
            init_boost_max: std::time::Duration::from_secs(10),
        }
    }
}

/// Smallest quota the kernel accepts (and smallest period).
const MIN_QUOTA_US: u64 = 1000;
/// Longest period the kernel accepts.
const MAX_PERIOD_US: u64 = 1_000_000;

impl CpuPolicy {
    /// The quota period for an instance of `memory_mb`: the shortest, from
    /// `min_period_us`, whose share is at least [`MIN_QUOTA_US`].
    pub(crate) fn period_us(&self, memory_mb: u32) -> u64 {
        let exact =
            (MIN_QUOTA_US * self.mb_per_vcpu.max(1) as u64).div_ceil(memory_mb.max(1) as u64);
        exact.clamp(self.min_period_us.max(MIN_QUOTA_US), MAX_PERIOD_US)
    }

    /// The steady limit for an instance of `memory_mb`.
    pub(crate) fn steady(&self, memory_mb: u32) -> CpuQuota {
        let period_us = self.period_us(memory_mb);
        let quota_us =
            (period_us * memory_mb as u64 / self.mb_per_vcpu.max(1) as u64).max(MIN_QUOTA_US);
        CpuQuota {
            quota_us,
            period_us,
            burst_us: if self.burst { quota_us } else { 0 },
        }
    }

    /// The limit while the runtime initialises: the boost if it is larger, without
    /// burst (the boost is generous enough).
    pub(crate) fn init(&self, memory_mb: u32) -> CpuQuota {
        let steady = self.steady(memory_mb);
        match self.init_boost_vcpus {
            Some(v) => CpuQuota {
                quota_us: steady.quota_us.max((v * steady.period_us as f64) as u64),
                burst_us: 0,
                ..steady
            },
            None => steady,
        }
    }

    /// `cpu.shares` for an instance of `memory_mb` (v1 range 2..=262144).
    pub(crate) fn shares(&self, memory_mb: u32) -> u64 {
        (1024 * memory_mb as u64 / self.mb_per_vcpu.max(1) as u64).clamp(2, 262_144)
    }
}

impl Limits {
    /// The limits of an instance of `memory_mb` while it initialises.
    pub(crate) fn for_instance(memory_mb: u32, pids_max: u64, cpu: &CpuPolicy) -> Limits {
        Limits {
            memory_bytes: memory_mb as u64 * 1024 * 1024,
            cpu_shares: cpu.shares(memory_mb),
            cpu: cpu.init(memory_mb),
            pids_max,
        }
    }
}

/// v2 `cpu.weight` (1..=10000, 100 = default) for v1 shares (1024 = default), linear.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    ((shares * 100 + 512) / 1024).clamp(1, 10_000)
}

/// How an instance's first process enters its cgroup, cheapest way first.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Born inside: `clone3(CLONE_INTO_CGROUP)` with this directory (v2).
    CloneInto(OwnedFd),
    /// The (single-threaded) process moves itself by writing `0` to these files
    /// (v1 `tasks`). A thread moving itself skips the global lock that a move by
    /// pid takes, whose RCU grace period costs about a millisecond per hierarchy.
    SelfAttach(Vec<PathBuf>),
    /// Nothing to enter (the stub).
    Nothing,
}

/// One instance's cgroup. Call order: [`entry`](Self::entry) (or
/// [`add_task`](Self::add_task)) for the instance's first process,
/// [`apply`](Self::apply) before it runs user code, the readers at any time,
/// [`kill_all`](Self::kill_all) to end it, and [`remove`](Self::remove) once its
/// processes are gone.
pub(crate) trait CgroupManager: Send + Sync + Debug {
    /// The cgroup's name under the parent.
    fn name(&self) -> &str;
    /// How the first process should enter the cgroup.
    fn entry(&self) -> io::Result<Entry>;
    /// For a process of this cgroup about to exit on its own: the files to write
    /// `0` to (its hierarchies' roots) and the directories to remove after, so a
    /// pooled sandbox whose gust died leaves no cgroup behind.
    fn release_plan(&self) -> Vec<(PathBuf, PathBuf)>;
    /// Moves a process (and the children it will have) into the cgroup by pid.
    fn add_task(&self, pid: u32) -> io::Result<()>;
    /// Sets the pids limit alone (a pre-created cgroup gets it before its init
    /// starts; the rest waits for the function's memory size).
    fn apply_pids(&self, pids_max: u64) -> io::Result<()>;
    /// Sets every limit.
    fn apply(&self, limits: &Limits) -> io::Result<()>;
    /// Changes the CPU bandwidth limit only (end of the init boost).
    fn set_cpu_quota(&self, quota: CpuQuota) -> io::Result<()>;
    /// Renames the cgroup (a pre-created one taken from the pool gets its instance's
    /// name).
    fn rename(&mut self, new_name: &str) -> io::Result<()>;
    /// Peak memory use in bytes since creation.
    fn memory_peak(&self) -> Option<u64>;
    /// The file [`memory_peak`](Self::memory_peak) reads, for callers that keep it
    /// open and re-read it (once per invocation) instead of opening it each time.
    fn memory_peak_file(&self) -> Option<PathBuf> {
        None
    }
    /// Current memory use in bytes.
    fn memory_current(&self) -> Option<u64>;
    /// How many processes the kernel's OOM killer ended in this cgroup.
    fn oom_kills(&self) -> u64;
    /// Stops every process of the cgroup from running, without a signal they could
    /// see, until [`thaw`](Self::thaw). The kernel finishes freezing asynchronously
    /// (a task is caught on its way to or from the kernel); a thaw meanwhile simply
    /// cancels it. Returns false where the cgroup has no freezer (nothing happens).
    fn freeze(&self) -> io::Result<bool>;
    /// Lets the processes run again. When it returns every task is runnable (both
    /// versions wake the tasks in the write itself), so an event written to the
    /// runtime afterwards finds it awake. Thawing a cgroup that is not frozen is a
    /// cheap no-op.
    fn thaw(&self) -> io::Result<()>;
    /// Whether the kernel reports every process of the cgroup frozen; `None` without
    /// a freezer.
    fn frozen(&self) -> Option<bool>;
    /// Kills every process in the cgroup, frozen or not.
    fn kill_all(&self);
    /// Removes the cgroup; it must be empty. Retries while the kernel finishes
    /// releasing exited processes. A cgroup already gone is not an error.
    fn remove(&self) -> io::Result<()>;
}

/// The cgroup setup found on the host.
#[derive(Debug)]
pub(crate) enum Hierarchy {
    /// cgroup v1: a hierarchy per controller.
    V1(V1Hierarchy),
    /// cgroup v2: the unified hierarchy with the controllers enabled.
    V2(V2Hierarchy),
    /// No cgroups: nothing is limited or measured.
    Stub,
}

impl Hierarchy {
    /// Finds the host's cgroups from `/proc/self/mountinfo` and prepares the parent
    /// cgroup `parent` (relative to each hierarchy's root). Pure v2 wins when its
    /// controllers are usable; else v1. `Err` says what is missing.
    pub(crate) fn detect(parent: &Path) -> Result<Hierarchy, String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let mounts = cgroup_mounts(&mountinfo);
        let mut v2_problem = None;
        if let Some((_, root)) = mounts.iter().find(|(fs, _)| fs == "cgroup2") {
            match V2Hierarchy::open(root, parent) {
                Ok(h) => return Ok(Hierarchy::V2(h)),
                Err(e) => v2_problem = Some(e),
            }
        }
        match V1Hierarchy::open(&mountinfo, parent) {
            Ok(h) => Ok(Hierarchy::V1(h)),
            Err(v1_problem) => Err(match v2_problem {
                Some(v2) => format!("{v2}; {v1_problem}"),
                None => v1_problem,
            }),
        }
    }

    /// Without root: the cgroup v2 subtree gust was started in, if it is delegated to
    /// gust's user (as systemd's `Delegate=yes` does) and offers the controllers.
    /// `Err` says why not; the rootless sandbox then runs without cgroups.
    pub(crate) fn detect_delegated(parent: &Path) -> Result<Hierarchy, String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let Some((_, mount)) = cgroup_mounts(&mountinfo)
            .into_iter()
            .find(|(fs, _)| fs == "cgroup2")
        else {
            return Err("no cgroup v2 hierarchy to be delegated (cgroup v1 is root's only)".into());
        };
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let rel = own_v2_cgroup(&own).ok_or("gust's own cgroup v2 is unknown")?;
        let dir = mount.join(rel.trim_start_matches('/'));
        V2Hierarchy::open_delegated(&dir, parent).map(Hierarchy::V2)
    }

    /// `v1`, `v2` or `none`, for logs.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            Hierarchy::V1(_) => "v1",
            Hierarchy::V2(_) => "v2",
            Hierarchy::Stub => "none",
        }
    }

    /// The parent's directory in each hierarchy.
    fn parent_dirs(&self) -> Vec<PathBuf> {
        match self {
            Hierarchy::V1(h) => h.parent_dirs(),
            Hierarchy::V2(h) => vec![h.parent_dir().to_path_buf()],
            Hierarchy::Stub => Vec::new(),
        }
    }

    /// Removes the empty instance cgroups that a gust which died without cleaning
    /// up left behind. Only cgroups older than `min_age` go: a younger empty one may
    /// be another gust's, between its creation and its init's entry.
    pub(crate) fn remove_stale(&self, min_age: std::time::Duration) -> usize {
        let mut removed = 0;
        for parent in self.parent_dirs() {
            let Ok(entries) = std::fs::read_dir(&parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let dir = entry.path();
                let old_enough = entry
                    .metadata()
                    .ok()
                    .filter(|m| m.is_dir())
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= min_age);
                let empty = read_procs(&dir.join("cgroup.procs")).is_empty()
                    && dir.join("cgroup.procs").exists();
                if old_enough && empty && std::fs::remove_dir(&dir).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Ends what a gust that was killed left running: every instance cgroup under
    /// the parent whose processes `orphaned` says no live gust owns (frozen ones
    /// included) is thawed, its processes killed, and removed. Their mounts, loop
    /// devices and network links go with their namespaces. Returns how many.
    pub(crate) fn reap_orphans(&self, orphaned: &dyn Fn(&[u32]) -> bool) -> usize {
        let Some(parent) = self.parent_dirs().into_iter().next() else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(&parent) else {
            return 0;
        };
        let mut reaped = 0;
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let procs = read_procs(&entry.path().join("cgroup.procs"));
            if procs.is_empty() || !orphaned(&procs) {
                continue;
            }
            let cgroup = match self {
                Hierarchy::V1(h) => h
                    .existing(&name)
                    .map(|c| Box::new(c) as Box<dyn CgroupManager>),
                Hierarchy::V2(h) => h
                    .existing(&name)
                    .map(|c| Box::new(c) as Box<dyn CgroupManager>),
                Hierarchy::Stub => continue,
            };
            let Ok(cgroup) = cgroup else { continue };
            tracing::info!(
                cgroup = name,
                processes = procs.len(),
                frozen = cgroup.frozen(),
                "ending an instance left by a gust that was killed"
            );
            cgroup.kill_all();
            match cgroup.remove() {
                Ok(()) => reaped += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove a left-over instance's cgroup")
                }
            }
        }
        reaped
    }

    /// Creates an empty cgroup `name` under the parent.
    pub(crate) fn create(&self, name: &str) -> io::Result<Box<dyn CgroupManager>> {
        match self {
            Hierarchy::V1(h) => Ok(Box::new(h.create(name)?)),
            Hierarchy::V2(h) => Ok(Box::new(h.create(name)?)),
            Hierarchy::Stub => Ok(Box::new(StubCgroup {
                name: name.to_string(),
            })),
        }
    }
}

/// The process's cgroup v2 path from a `/proc/<pid>/cgroup` text (the `0::` line).
pub(crate) fn own_v2_cgroup(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| p.starts_with('/'))
}

/// `(fstype, mount point)` of every cgroup filesystem in a mountinfo text.
pub(crate) fn cgroup_mounts(mountinfo: &str) -> Vec<(String, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let mount_point = left.split_whitespace().nth(4)?;
            Some((fstype.to_string(), PathBuf::from(unescape(mount_point))))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes a cgroup control file; errors name the file and the value.
pub(crate) fn write_value(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value:?} to {}: {e}", path.display()),
        )
    })
}

/// Reads a control file holding one number.
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Re-reads a counter file that is kept open: one `pread`, no open or close.
pub(crate) fn pread_u64(file: &std::fs::File) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// Reads `key value` lines (memory.events, memory.oom_control) and returns `key`'s.
pub(crate) fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads a `cgroup.procs` file.
pub(crate) fn read_procs(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Removes a cgroup directory, retrying while the kernel still counts exiting tasks.
pub(crate) fn rmdir_retrying(dir: &Path) -> io::Result<()> {
    let mut delay = std::time::Duration::from_micros(200);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 40 => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing cgroup {}: {e}", dir.display()),
                ))
            }
        }
    }
    unreachable!()
}

/// Kills every pid listed in `procs_file`, a few rounds in case some forked meanwhile.
pub(crate) fn kill_listed(procs_file: &Path) {
    for _ in 0..8 {
        let pids = read_procs(procs_file);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = super::syscall::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Checks that a cgroup name is one path component.
pub(crate) fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a valid cgroup name"),
        ));
    }
    Ok(())
}

/// Limits nothing, measures nothing.
#[derive(Debug)]
pub(crate) struct StubCgroup {
    name: String,
}

impl CgroupManager for StubCgroup {
    fn name(&self) -> &str {
        &self.name
    }
    fn entry(&self) -> io::Result<Entry> {
        Ok(Entry::Nothing)
    }
    fn release_plan(&self) -> Vec<(PathBuf, PathBuf)> {
        Vec::new()
    }
    fn add_task(&self, _pid: u32) -> io::Result<()> {
        Ok(())
    }
    fn apply_pids(&self, _pids_max: u64) -> io::Result<()> {
        Ok(())
    }
    fn apply(&self, _limits: &Limits) -> io::Result<()> {
        Ok(())
    }
    fn set_cpu_quota(&self, _quota: CpuQuota) -> io::Result<()> {
        Ok(())
    }
    fn rename(&mut self, new_name: &str) -> io::Result<()> {
        self.name = new_name.to_string();
        Ok(())
    }
    fn memory_peak(&self) -> Option<u64> {
        None
    }
    fn memory_current(&self) -> Option<u64> {
        None
    }
    fn oom_kills(&self) -> u64 {
        0
    }
    fn freeze(&self) -> io::Result<bool> {
        Ok(false)
    }
    fn thaw(&self) -> io::Result<()> {
        Ok(())
    }
    fn frozen(&self) -> Option<bool> {
        None
    }
    fn kill_all(&self) {}
    fn remove(&self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_own_cgroup_v2_path() {
        let hybrid = "12:pids:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice/app.scope\n";
        assert_eq!(own_v2_cgroup(hybrid), Some("/user.slice/app.scope"));
        assert_eq!(own_v2_cgroup("0::/\n"), Some("/"));
        assert_eq!(own_v2_cgroup("4:memory:/x\n"), None);
    }

    /// The share a quota gives, in vCPUs.
    fn vcpus(q: CpuQuota) -> f64 {
        q.quota_us as f64 / q.period_us as f64
    }

    #[test]
    fn cpu_follows_memory_like_lambda() {
        let p = CpuPolicy::default();
        let q = |mb| p.steady(mb);
        assert_eq!((q(1769).quota_us, q(1769).period_us), (10_000, 10_000));
        assert_eq!((q(3538).quota_us, q(3538).period_us), (20_000, 10_000));
        // 128 MB: the shortest period whose 7.2 % is the kernel's 1 ms minimum.
        assert_eq!((q(128).quota_us, q(128).period_us), (1_000, 13_821));
        for mb in [128, 129, 176, 177, 256, 512, 1000, 1769, 3008, 10_240] {
            let share = vcpus(q(mb));
            let want = mb as f64 / 1769.0;
            assert!(
                (share - want).abs() / want < 0.01,
                "{mb} MB: {share} vs {want}"
            );
            assert!(q(mb).period_us >= 10_000 && q(mb).quota_us >= MIN_QUOTA_US);
            // The stall of an instance over its share is at most a period less
            // its quota: under 14 ms at every size.
            assert!(q(mb).period_us - q(mb).quota_us.min(q(mb).period_us) < 14_000);
            // Burst carries over one quota, the kernel's maximum.
            assert_eq!(q(mb).burst_us, q(mb).quota_us);
        }
        // Below what any period can give exactly, the minimum quota at the
        // longest period.
        assert_eq!(
            (q(1).quota_us, q(1).period_us),
            (MIN_QUOTA_US, MAX_PERIOD_US)
        );
        assert_eq!(p.shares(1769), 1024);
        assert_eq!(p.shares(128), 74);
        assert_eq!(p.shares(1), 2);
        // The init boost lifts small instances to one vCPU, never lowers big ones,
        // and needs no burst.
        assert_eq!(p.init(128).quota_us, p.init(128).period_us);
        assert_eq!(p.init(128).burst_us, 0);
        assert_eq!(
            p.init(3538),
            CpuQuota {
                burst_us: 0,
                ..q(3538)
            }
        );
        let no_boost = CpuPolicy {
            init_boost_vcpus: None,
            burst: false,
            ..p
        };
        assert_eq!(
            no_boost.init(128),
            CpuQuota {
                burst_us: 0,
                ..q(128)
            }
        );
        // A longer floor keeps the share and lengthens the period.
        let long = CpuPolicy {
            min_period_us: 100_000,
            ..p
        };
        assert_eq!(
            (long.steady(128).quota_us, long.steady(128).period_us),
            (7_235, 100_000)
        );
    }

    #[test]
    fn limits_for_an_instance() {
        let l = Limits::for_instance(256, 1024, &CpuPolicy::default());
        assert_eq!(l.memory_bytes, 256 << 20);
        assert_eq!(l.pids_max, 1024);
        assert_eq!(l.cpu.period_us, 10_000);
        assert_eq!(l.cpu_shares, 148);
    }

    #[test]
    fn v2_weight_maps_default_shares_to_default_weight() {
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(74), 7);
    }

    #[test]
    fn finds_cgroup_mounts_in_mountinfo() {
        let text = "\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
50 31 0:40 / /mnt/with\\040space rw - cgroup2 none rw
";
        assert_eq!(
            cgroup_mounts(text),
            vec![
                ("cgroup".into(), PathBuf::from("/sys/fs/cgroup/memory")),
                ("cgroup2".into(), PathBuf::from("/sys/fs/cgroup/unified")),
                ("cgroup2".into(), PathBuf::from("/mnt/with space")),
            ]
        );
    }

    #[test]
    fn cgroup_names_are_single_components() {
        assert!(check_name("fn-1.abc").is_ok());
        for bad in ["", ".", "..", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod pread_tests {
    use super::pread_u64;

    #[test]
    fn a_kept_open_counter_reads_its_current_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.peak");
        std::fs::write(&path, "4096\n").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(pread_u64(&file), Some(4096));
        // Rewritten in place (as the kernel updates the counter): same open file.
        std::fs::write(&path, "123456789\n").unwrap();
        assert_eq!(pread_u64(&file), Some(123456789));
    }
}
