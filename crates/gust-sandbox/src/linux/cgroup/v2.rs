//! cgroup v2: one unified hierarchy; the parent delegates the memory, cpu and pids
//! controllers to its children through `cgroup.subtree_control`. The freezer is a
//! core file (`cgroup.freeze`), present in every non-root cgroup.

use std::io;
use std::path::{Path, PathBuf};

use super::{
    check_name, kill_listed, read_keyed, read_u64, rmdir_retrying, shares_to_weight, write_value,
    CgroupManager, CpuQuota, Entry, Limits,
};

const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// The parent cgroup in the unified hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V2Hierarchy {
    parent: PathBuf,
    /// How many path components the parent adds below the hierarchy's root.
    depth: usize,
}

impl V2Hierarchy {
    /// Checks that the hierarchy mounted at `root` offers the controllers, creates
    /// `parent` under it and enables the controllers on the way down.
    pub(crate) fn open(root: &Path, parent: &Path) -> Result<Self, String> {
        check_controllers(root)?;
        Self::prepare(root, parent).map_err(|e| {
            format!(
                "cgroup v2: {e} (a cgroup that holds processes cannot delegate \
                 controllers: start gust in a delegated cgroup or choose another parent)"
            )
        })
    }

    /// Without root: opens the subtree `dir` that gust runs in and that is delegated
    /// to its user. A cgroup holding processes cannot enable controllers for its
    /// children, so gust first moves itself into `dir/gust-supervisor`; instances go
    /// under `dir/parent`.
    pub(crate) fn open_delegated(dir: &Path, parent: &Path) -> Result<Self, String> {
        check_controllers(dir)?;
        let not_delegated = |e: io::Error| {
            format!(
                "cgroup v2 {} is not delegated to gust's user ({e}); start gust with \
                 `systemd-run --user -p Delegate=yes` or in a cgroup it may write",
                dir.display()
            )
        };
        if !super::read_procs(&dir.join("cgroup.procs")).is_empty() {
            let supervisor = dir.join("gust-supervisor");
            match std::fs::create_dir(&supervisor) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(not_delegated(e)),
            }
            write_value(&supervisor.join("cgroup.procs"), "0").map_err(not_delegated)?;
        }
        Self::prepare(dir, parent).map_err(not_delegated)
    }

    /// Creates `parent` under `root`, enabling the controllers in every cgroup from
    /// the root down to the parent itself.
    pub(crate) fn prepare(root: &Path, parent: &Path) -> io::Result<Self> {
        let mut dir = root.to_path_buf();
        enable_controllers(&dir)?;
        for part in parent.components() {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("creating {}: {e}", dir.display()),
                    ))
                }
            }
            enable_controllers(&dir)?;
        }
        Ok(V2Hierarchy {
            parent: dir,
            depth: parent.components().count(),
        })
    }

    /// The parent cgroup's directory.
    pub(crate) fn parent_dir(&self) -> &Path {
        &self.parent
    }

    /// The existing cgroup `name` (one an earlier gust made).
    pub(crate) fn existing(&self, name: &str) -> io::Result<V2Cgroup> {
        check_name(name)?;
        Ok(V2Cgroup {
            dir: self.parent.join(name),
            depth: self.depth,
        })
    }

    /// Creates the cgroup `name` under the parent.
    pub(crate) fn create(&self, name: &str) -> io::Result<V2Cgroup> {
        check_name(name)?;
        let dir = self.parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| {
            io::Error::new(e.kind(), format!("creating cgroup {}: {e}", dir.display()))
        })?;
        Ok(V2Cgroup {
            dir,
            depth: self.depth,
        })
    }
}

/// Checks that the cgroup `dir` offers the controllers to its children.
fn check_controllers(dir: &Path) -> Result<(), String> {
    let available = std::fs::read_to_string(dir.join("cgroup.controllers"))
        .map_err(|e| format!("cgroup v2 at {}: {e}", dir.display()))?;
    let missing: Vec<&str> = CONTROLLERS
        .iter()
        .copied()
        .filter(|c| !available.split_whitespace().any(|a| a == *c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "cgroup v2 at {} does not offer the {} controller(s)",
            dir.display(),
            missing.join(", ")
        ));
    }
    Ok(())
}

fn enable_controllers(dir: &Path) -> io::Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&file).unwrap_or_default();
    let wanted: Vec<String> = CONTROLLERS
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write_value(&file, &wanted.join(" "))
}

/// One instance's cgroup.
#[derive(Debug)]
pub(crate) struct V2Cgroup {
    dir: PathBuf,
    depth: usize,
}

impl V2Cgroup {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes an optional control file: absent (older kernel, no swap) is fine.
    fn write_if_present(&self, name: &str, value: &str) -> io::Result<()> {
        let path = self.file(name);
        if path.exists() {
            write_value(&path, value)?;
        }
        Ok(())
    }
}

impl CgroupManager for V2Cgroup {
    fn name(&self) -> &str {
        self.dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    fn entry(&self) -> io::Result<Entry> {
        let dir = std::fs::File::open(&self.dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("opening cgroup {}: {e}", self.dir.display()),
            )
        })?;
        Ok(Entry::CloneInto(dir.into()))
    }

    fn release_plan(&self) -> Vec<(PathBuf, PathBuf)> {
        // The root is the only cgroup with controllers enabled below it that may
        // hold a process.
        match self.dir.ancestors().nth(self.depth + 1) {
            Some(root) => vec![(root.join("cgroup.procs"), self.dir.clone())],
            None => Vec::new(),
        }
    }

    fn add_task(&self, pid: u32) -> io::Result<()> {
        write_value(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, limits: &Limits) -> io::Result<()> {
        write_value(&self.file("memory.max"), &limits.memory_bytes.to_string())?;
        self.write_if_present("memory.swap.max", "0")?;
        // An OOM kill takes the whole instance down at once, init included, as the
        // runtime's death would anyway.
        self.write_if_present("memory.oom.group", "1")?;
        write_value(
            &self.file("cpu.weight"),
            &shares_to_weight(limits.cpu_shares).to_string(),
        )?;
        self.set_cpu_quota(limits.cpu)?;
        self.apply_pids(limits.pids_max)
    }

    fn apply_pids(&self, pids_max: u64) -> io::Result<()> {
        write_value(&self.file("pids.max"), &pids_max.to_string())
    }

    fn set_cpu_quota(&self, q: CpuQuota) -> io::Result<()> {
        let max = self.file("cpu.max");
        let limit = format!("{} {}", q.quota_us, q.period_us);
        // The kernel refuses a quota under the current burst: lower the burst
        // first when that is what stands in the way.
        if let Err(e) = write_value(&max, &limit) {
            let burst = self.file("cpu.max.burst");
            if !burst.exists() {
                return Err(e);
            }
            write_value(&burst, "0")?;
            write_value(&max, &limit)?;
        }
        if q.burst_us > 0 {
            self.write_if_present("cpu.max.burst", &q.burst_us.to_string())?;
        }
        Ok(())
    }

    fn rename(&mut self, new_name: &str) -> io::Result<()> {
        check_name(new_name)?;
        let to = self.dir.with_file_name(new_name);
        std::fs::rename(&self.dir, &to).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("renaming cgroup {}: {e}", self.dir.display()),
            )
        })?;
        self.dir = to;
        Ok(())
    }

    fn memory_peak(&self) -> Option<u64> {
        read_u64(&self.file("memory.peak"))
    }

    fn memory_peak_file(&self) -> Option<PathBuf> {
        Some(self.file("memory.peak"))
    }

    fn memory_current(&self) -> Option<u64> {
        read_u64(&self.file("memory.current"))
    }

    fn oom_kills(&self) -> u64 {
        read_keyed(&self.file("memory.events"), "oom_kill").unwrap_or(0)
    }

    fn freeze(&self) -> io::Result<bool> {
        write_value(&self.file("cgroup.freeze"), "1").map(|()| true)
    }

    fn thaw(&self) -> io::Result<()> {
        write_value(&self.file("cgroup.freeze"), "0")
    }

    fn frozen(&self) -> Option<bool> {
        read_keyed(&self.file("cgroup.events"), "frozen").map(|f| f == 1)
    }

    fn kill_all(&self) {
        // A fatal signal reaches v2-frozen tasks: no thaw needed.
        let kill = self.file("cgroup.kill");
        if !(kill.exists() && write_value(&kill, "1").is_ok()) {
            kill_listed(&self.file("cgroup.procs"));
        }
    }

    fn remove(&self) -> io::Result<()> {
        rmdir_retrying(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: PathBuf) -> String {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn enables_controllers_down_to_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.subtree_control"), "cpu").unwrap();
        V2Hierarchy::prepare(tmp.path(), Path::new("gust")).unwrap();
        // Already-enabled controllers are not written again.
        assert_eq!(
            read(tmp.path().join("cgroup.subtree_control")),
            "+memory +pids"
        );
        assert_eq!(
            read(tmp.path().join("gust/cgroup.subtree_control")),
            "+memory +cpu +pids"
        );
    }

    #[test]
    fn refuses_a_hierarchy_without_the_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
        let err = V2Hierarchy::open(tmp.path(), Path::new("gust")).unwrap_err();
        assert!(err.contains("memory, cpu, pids"), "{err}");
    }

    #[test]
    fn writes_limits_and_reads_usage() {
        let tmp = tempfile::tempdir().unwrap();
        let h = V2Hierarchy::prepare(tmp.path(), Path::new("gust")).unwrap();
        let cg = h.create("fn-1").unwrap();
        let dir = tmp.path().join("gust/fn-1");
        for f in ["memory.swap.max", "memory.oom.group"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        cg.apply(&Limits {
            memory_bytes: 256 << 20,
            cpu_shares: 148,
            cpu: CpuQuota {
                quota_us: 1_447,
                period_us: 10_000,
                burst_us: 1_447,
            },
            pids_max: 1024,
        })
        .unwrap();
        assert_eq!(read(dir.join("memory.max")), "268435456");
        assert_eq!(read(dir.join("memory.swap.max")), "0");
        assert_eq!(read(dir.join("memory.oom.group")), "1");
        assert_eq!(read(dir.join("cpu.weight")), "14");
        assert_eq!(read(dir.join("cpu.max")), "1447 10000");
        // No burst file (a kernel before 5.14): the limit alone.
        assert!(!dir.join("cpu.max.burst").exists());
        assert_eq!(read(dir.join("pids.max")), "1024");

        std::fs::write(dir.join("memory.peak"), "5000\n").unwrap();
        std::fs::write(dir.join("memory.current"), "4000\n").unwrap();
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n",
        )
        .unwrap();
        assert_eq!(cg.memory_peak(), Some(5000));
        assert_eq!(cg.memory_current(), Some(4000));
        assert_eq!(cg.oom_kills(), 1);
    }

    #[test]
    fn rename_and_kill_use_the_v2_files() {
        let tmp = tempfile::tempdir().unwrap();
        let h = V2Hierarchy::prepare(tmp.path(), Path::new("gust")).unwrap();
        let mut cg = h.create("pool-3").unwrap();
        cg.rename("fn-9").unwrap();
        assert_eq!(cg.name(), "fn-9");
        let dir = tmp.path().join("gust/fn-9");
        std::fs::write(dir.join("cgroup.kill"), "").unwrap();
        cg.kill_all();
        assert_eq!(read(dir.join("cgroup.kill")), "1");
    }

    #[test]
    fn freeze_and_thaw_write_cgroup_freeze_and_read_cgroup_events() {
        let tmp = tempfile::tempdir().unwrap();
        let h = V2Hierarchy::prepare(tmp.path(), Path::new("gust")).unwrap();
        let cg = h.create("fn-1").unwrap();
        let dir = tmp.path().join("gust/fn-1");
        assert!(cg.freeze().unwrap());
        assert_eq!(read(dir.join("cgroup.freeze")), "1");
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(cg.frozen(), Some(true));
        cg.thaw().unwrap();
        assert_eq!(read(dir.join("cgroup.freeze")), "0");
    }

    /// CPU clock ticks a process has used.
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
    }

    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        cond()
    }

    /// The real v2 freezer, on whatever cgroup2 the host mounts (a hybrid host's
    /// `unified` hierarchy has no controllers, but `cgroup.freeze` works there).
    #[test]
    #[cfg_attr(not(gust_root_tests), ignore = "needs root: cgroups")]
    fn freezes_thaws_and_kills_a_real_process_on_cgroup2() {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let Some((_, root)) = super::super::cgroup_mounts(&mountinfo)
            .into_iter()
            .find(|(fs, _)| fs == "cgroup2")
        else {
            eprintln!("SKIPPED: no cgroup2 on this host");
            return;
        };
        let dir = root.join(format!("gust-test-freeze-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        if !dir.join("cgroup.freeze").exists() {
            std::fs::remove_dir(&dir).unwrap();
            eprintln!("SKIPPED: this kernel's cgroup2 has no freezer");
            return;
        }
        let cg = V2Cgroup { dir, depth: 0 };
        let mut spinner = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let pid = spinner.id();
        cg.add_task(pid).unwrap();

        assert!(cg.freeze().unwrap());
        assert!(wait_for(|| cg.frozen() == Some(true)), "never frozen");
        let ticks = cpu_ticks(pid);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let frozen_ticks = cpu_ticks(pid);

        cg.thaw().unwrap();
        // The thaw is complete when the write returns.
        let thawed_at_once = cg.frozen() == Some(false);
        let ran_again = wait_for(|| cpu_ticks(pid) > frozen_ticks);

        // Frozen again, a kill still gets through (v2 delivers fatal signals to
        // frozen tasks).
        assert!(cg.freeze().unwrap());
        let refrozen = wait_for(|| cg.frozen() == Some(true));
        cg.kill_all();
        let killed = wait_for(|| spinner.try_wait().unwrap().is_some());
        if !killed {
            let _ = spinner.kill();
            cg.thaw().unwrap();
            let _ = spinner.wait();
        }
        cg.remove().unwrap();

        assert_eq!(frozen_ticks, ticks, "ran while frozen");
        assert!(
            thawed_at_once,
            "cgroup.events still said frozen after the thaw"
        );
        assert!(ran_again, "did not run after the thaw");
        assert!(refrozen, "never frozen the second time");
        assert!(killed, "a frozen process survived kill_all");
    }
}
