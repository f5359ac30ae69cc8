//! cgroup v1: the memory, cpu and pids controllers each in their own hierarchy (or
//! co-mounted), plus the freezer where the host mounts it, an instance's cgroup being
//! one directory in each.
//!
//! The freezer is optional: without it instances are never frozen, which costs CPU
//! (an idle function's timers keep running) but nothing else.

use std::io;
use std::path::{Path, PathBuf};

use super::{
    check_name, kill_listed, read_keyed, read_u64, rmdir_retrying, write_value, CgroupManager,
    CpuQuota, Entry, Limits,
};

/// The controllers the sandbox uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Cpu,
    Pids,
    Freezer,
}

impl Controller {
    /// The controllers without which v1 is not usable.
    const REQUIRED: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];
    /// Every controller the sandbox uses where the host has it.
    const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Pids,
        Controller::Freezer,
    ];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }
}

/// `freezer.state` values.
const FROZEN: &str = "FROZEN";
const THAWED: &str = "THAWED";

/// The parent cgroup in each controller's hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V1Hierarchy {
    parents: Vec<(Controller, PathBuf)>,
    /// How many path components the parent adds below each hierarchy's root.
    depth: usize,
}

impl V1Hierarchy {
    /// Finds the controllers' mount points in a mountinfo text and creates the parent.
    pub(crate) fn open(mountinfo: &str, parent: &Path) -> Result<Self, String> {
        let mut roots = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut fields = right.split_whitespace();
            if fields.next() != Some("cgroup") {
                continue;
            }
            let options: Vec<&str> = fields.nth(1).unwrap_or("").split(',').collect();
            let Some(mount_point) = left.split_whitespace().nth(4) else {
                continue;
            };
            for c in Controller::ALL {
                if options.contains(&c.name()) {
                    roots.push((c, PathBuf::from(super::unescape(mount_point))));
                }
            }
        }
        let missing: Vec<&str> = Controller::REQUIRED
            .iter()
            .filter(|c| !roots.iter().any(|(r, _)| r == *c))
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no cgroup v1 hierarchy for the {} controller(s)",
                missing.join(", ")
            ));
        }
        if !roots.iter().any(|(c, _)| *c == Controller::Freezer) {
            tracing::info!("no cgroup v1 freezer: idle instances will not be frozen");
        }
        Self::with_roots(&roots, parent).map_err(|e| format!("cgroup v1: {e}"))
    }

    /// Uses the given hierarchy roots and creates the parent cgroup in each.
    pub(crate) fn with_roots(roots: &[(Controller, PathBuf)], parent: &Path) -> io::Result<Self> {
        let parents: Vec<(Controller, PathBuf)> = roots
            .iter()
            .map(|(c, root)| (*c, root.join(parent)))
            .collect();
        for (_, dir) in &parents {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
        Ok(V1Hierarchy {
            parents,
            depth: parent.components().count(),
        })
    }

    /// The parent cgroup's directory in each hierarchy (co-mounted ones once).
    pub(crate) fn parent_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (_, d) in &self.parents {
            if !dirs.contains(d) {
                dirs.push(d.clone());
            }
        }
        dirs
    }

    /// The existing cgroup `name` (one an earlier gust made).
    pub(crate) fn existing(&self, name: &str) -> io::Result<V1Cgroup> {
        check_name(name)?;
        Ok(V1Cgroup {
            parents: self.parents.clone(),
            depth: self.depth,
            name: name.to_string(),
        })
    }

    /// Creates the cgroup `name` in every hierarchy.
    pub(crate) fn create(&self, name: &str) -> io::Result<V1Cgroup> {
        check_name(name)?;
        let cg = V1Cgroup {
            parents: self.parents.clone(),
            depth: self.depth,
            name: name.to_string(),
        };
        let mut made = Vec::new();
        for dir in cg.dirs() {
            if let Err(e) = std::fs::create_dir(&dir) {
                for d in made {
                    let _ = std::fs::remove_dir(d);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("creating cgroup {}: {e}", dir.display()),
                ));
            }
            made.push(dir);
        }
        Ok(cg)
    }
}

/// One instance's cgroup in each v1 hierarchy.
#[derive(Debug)]
pub(crate) struct V1Cgroup {
    parents: Vec<(Controller, PathBuf)>,
    depth: usize,
    name: String,
}

impl V1Cgroup {
    /// The directory of a required controller.
    fn dir(&self, c: Controller) -> PathBuf {
        self.optional_dir(c)
            .expect("every required controller has a parent")
    }

    /// The directory of a controller, if the host mounts it.
    fn optional_dir(&self, c: Controller) -> Option<PathBuf> {
        let parent = &self.parents.iter().find(|(p, _)| *p == c)?.1;
        Some(parent.join(&self.name))
    }

    fn freezer_state(&self) -> Option<PathBuf> {
        Some(
            self.optional_dir(Controller::Freezer)?
                .join("freezer.state"),
        )
    }

    /// The distinct directories (co-mounted controllers share one).
    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (_, parent) in &self.parents {
            let d = parent.join(&self.name);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        dirs
    }

    fn set_memory(&self, bytes: u64) -> io::Result<()> {
        let dir = self.dir(Controller::Memory);
        let limit = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        let value = bytes.to_string();
        // memsw (memory + swap) must stay >= the memory limit, so the order depends
        // on whether the limit goes up or down.
        match write_value(&limit, &value) {
            Ok(()) => {
                if memsw.exists() {
                    write_value(&memsw, &value)?;
                }
                Ok(())
            }
            Err(e) if memsw.exists() => {
                write_value(&memsw, &value).map_err(|_| e)?;
                write_value(&limit, &value)
            }
            Err(e) => Err(e),
        }
    }
}

impl CgroupManager for V1Cgroup {
    fn name(&self) -> &str {
        &self.name
    }

    fn entry(&self) -> io::Result<Entry> {
        Ok(Entry::SelfAttach(
            self.dirs().into_iter().map(|d| d.join("tasks")).collect(),
        ))
    }

    fn release_plan(&self) -> Vec<(PathBuf, PathBuf)> {
        self.dirs()
            .into_iter()
            .filter_map(|dir| {
                let root = dir.ancestors().nth(self.depth + 1)?.join("tasks");
                Some((root, dir))
            })
            .collect()
    }

    fn add_task(&self, pid: u32) -> io::Result<()> {
        for dir in self.dirs() {
            write_value(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn apply_pids(&self, pids_max: u64) -> io::Result<()> {
        write_value(
            &self.dir(Controller::Pids).join("pids.max"),
            &pids_max.to_string(),
        )
    }

    fn apply(&self, limits: &Limits) -> io::Result<()> {
        self.set_memory(limits.memory_bytes)?;
        let cpu = self.dir(Controller::Cpu);
        write_value(&cpu.join("cpu.shares"), &limits.cpu_shares.to_string())?;
        self.set_cpu_quota(limits.cpu)?;
        self.apply_pids(limits.pids_max)
    }

    fn set_cpu_quota(&self, q: CpuQuota) -> io::Result<()> {
        let cpu = self.dir(Controller::Cpu);
        let period_file = cpu.join("cpu.cfs_period_us");
        let quota_file = cpu.join("cpu.cfs_quota_us");
        let burst_file = cpu.join("cpu.cfs_burst_us");
        // The kernel refuses a quota under the current burst: lower the burst
        // first when that is what stands in the way.
        let set_quota = || -> io::Result<()> {
            if read_u64(&period_file) != Some(q.period_us) {
                write_value(&period_file, &q.period_us.to_string())?;
            }
            write_value(&quota_file, &q.quota_us.to_string())
        };
        if let Err(e) = set_quota() {
            if !burst_file.exists() {
                return Err(e);
            }
            write_value(&burst_file, "0")?;
            set_quota()?;
        }
        if q.burst_us > 0 && burst_file.exists() {
            write_value(&burst_file, &q.burst_us.to_string())?;
        }
        Ok(())
    }

    fn rename(&mut self, new_name: &str) -> io::Result<()> {
        check_name(new_name)?;
        let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
        for dir in self.dirs() {
            let to = dir.with_file_name(new_name);
            if let Err(e) = std::fs::rename(&dir, &to) {
                for (from, to) in done.into_iter().rev() {
                    let _ = std::fs::rename(to, from);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("renaming cgroup {}: {e}", dir.display()),
                ));
            }
            done.push((dir, to));
        }
        self.name = new_name.to_string();
        Ok(())
    }

    fn memory_peak(&self) -> Option<u64> {
        read_u64(
            &self
                .dir(Controller::Memory)
                .join("memory.max_usage_in_bytes"),
        )
    }

    fn memory_peak_file(&self) -> Option<PathBuf> {
        Some(
            self.dir(Controller::Memory)
                .join("memory.max_usage_in_bytes"),
        )
    }

    fn memory_current(&self) -> Option<u64> {
        read_u64(&self.dir(Controller::Memory).join("memory.usage_in_bytes"))
    }

    fn oom_kills(&self) -> u64 {
        read_keyed(
            &self.dir(Controller::Memory).join("memory.oom_control"),
            "oom_kill",
        )
        .unwrap_or(0)
    }

    fn freeze(&self) -> io::Result<bool> {
        match self.freezer_state() {
            Some(state) => write_value(&state, FROZEN).map(|()| true),
            None => Ok(false),
        }
    }

    fn thaw(&self) -> io::Result<()> {
        match self.freezer_state() {
            Some(state) => write_value(&state, THAWED),
            None => Ok(()),
        }
    }

    fn frozen(&self) -> Option<bool> {
        // Reading the state is also what moves the kernel's FREEZING to FROZEN.
        let state = std::fs::read_to_string(self.freezer_state()?).ok()?;
        Some(state.trim() == FROZEN)
    }

    fn kill_all(&self) {
        // v1 has no cgroup.kill; the sandbox normally ends an instance by killing its
        // pid namespace's init, and this catches anything that raced with that.
        // A v1-frozen task takes a SIGKILL only once thawed: signal first, so that no
        // user code runs between the thaw and the kill, then thaw.
        let procs = self.dir(Controller::Pids).join("cgroup.procs");
        for pid in super::read_procs(&procs) {
            let _ = super::super::syscall::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        if let Err(e) = self.thaw() {
            tracing::warn!(error = %e, "could not thaw a cgroup to kill it");
        }
        kill_listed(&procs);
    }

    fn remove(&self) -> io::Result<()> {
        let mut first_err = None;
        for dir in self.dirs() {
            if let Err(e) = rmdir_retrying(&dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(root: &Path, comount_cpu: bool) -> V1Hierarchy {
        let cpu = if comount_cpu { "cpu,cpuacct" } else { "cpu" };
        V1Hierarchy::with_roots(
            &[
                (Controller::Memory, root.join("memory")),
                (Controller::Cpu, root.join(cpu)),
                (Controller::Pids, root.join("pids")),
            ],
            Path::new("gust"),
        )
        .unwrap()
    }

    fn read(p: PathBuf) -> String {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn writes_limits_into_each_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let h = fake(tmp.path(), true);
        let cg = h.create("fn-1").unwrap();
        let mem = tmp.path().join("memory/gust/fn-1");
        // The kernel creates memsw only where swap accounting is on.
        std::fs::write(mem.join("memory.memsw.limit_in_bytes"), "").unwrap();
        let limits = Limits {
            memory_bytes: 128 << 20,
            cpu_shares: 74,
            cpu: CpuQuota {
                quota_us: 1_000,
                period_us: 13_821,
                burst_us: 1_000,
            },
            pids_max: 1024,
        };
        cg.apply(&limits).unwrap();
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "134217728");
        let cpu = tmp.path().join("cpu,cpuacct/gust/fn-1");
        assert_eq!(read(cpu.join("cpu.shares")), "74");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "13821");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "1000");
        assert_eq!(read(tmp.path().join("pids/gust/fn-1/pids.max")), "1024");

        // Burst only where the kernel has it.
        assert!(!cpu.join("cpu.cfs_burst_us").exists());
        std::fs::write(cpu.join("cpu.cfs_burst_us"), "0").unwrap();
        cg.set_cpu_quota(CpuQuota {
            quota_us: 10_000,
            period_us: 10_000,
            burst_us: 10_000,
        })
        .unwrap();
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "10000");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "10000");
        assert_eq!(read(cpu.join("cpu.cfs_burst_us")), "10000");

        cg.add_task(42).unwrap();
        for c in ["memory", "cpu,cpuacct", "pids"] {
            assert_eq!(
                read(tmp.path().join(c).join("gust/fn-1/cgroup.procs")),
                "42"
            );
        }
    }

    #[test]
    fn a_process_releases_its_cgroup_through_each_hierarchy_root() {
        let tmp = tempfile::tempdir().unwrap();
        let h = V1Hierarchy::with_roots(
            &[
                (Controller::Memory, tmp.path().join("memory")),
                (Controller::Cpu, tmp.path().join("cpu")),
                (Controller::Pids, tmp.path().join("pids")),
            ],
            Path::new("a/gust"),
        )
        .unwrap();
        let plan = h.create("pool-1").unwrap().release_plan();
        let m = tmp.path().join("memory");
        assert_eq!(plan[0], (m.join("tasks"), m.join("a/gust/pool-1")));
        assert_eq!(plan.len(), 3);
    }

    #[test]
    fn no_memsw_file_means_no_swap_limit_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fake(tmp.path(), false).create("a").unwrap();
        cg.set_memory(1 << 20).unwrap();
        assert!(!tmp
            .path()
            .join("memory/gust/a/memory.memsw.limit_in_bytes")
            .exists());
    }

    #[test]
    fn reads_peak_current_and_oom_kills() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fake(tmp.path(), false).create("a").unwrap();
        let mem = tmp.path().join("memory/gust/a");
        std::fs::write(mem.join("memory.max_usage_in_bytes"), "1000\n").unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "600\n").unwrap();
        std::fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(cg.memory_peak(), Some(1000));
        assert_eq!(cg.memory_current(), Some(600));
        assert_eq!(cg.oom_kills(), 2);
    }

    #[test]
    fn rename_moves_every_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let h = fake(tmp.path(), false);
        let mut cg = h.create("pool-1").unwrap();
        cg.rename("fn-2").unwrap();
        assert_eq!(cg.name(), "fn-2");
        for c in ["memory", "cpu", "pids"] {
            assert!(tmp.path().join(c).join("gust/fn-2").is_dir());
            assert!(!tmp.path().join(c).join("gust/pool-1").exists());
        }
        // A name in use is refused and the old name stays.
        h.create("taken").unwrap();
        std::fs::write(tmp.path().join("pids/gust/taken/x"), "").unwrap();
        assert!(cg.rename("taken").is_err());
        assert!(tmp.path().join("memory/gust/fn-2").is_dir());
        cg.remove().unwrap();
        assert!(!tmp.path().join("memory/gust/fn-2").exists());
    }

    #[test]
    fn the_freezer_is_one_more_hierarchy_when_mounted() {
        let tmp = tempfile::tempdir().unwrap();
        let h = V1Hierarchy::with_roots(
            &[
                (Controller::Memory, tmp.path().join("memory")),
                (Controller::Cpu, tmp.path().join("cpu")),
                (Controller::Pids, tmp.path().join("pids")),
                (Controller::Freezer, tmp.path().join("freezer")),
            ],
            Path::new("gust"),
        )
        .unwrap();
        let mut cg = h.create("pool-1").unwrap();
        let Entry::SelfAttach(tasks) = cg.entry().unwrap() else {
            panic!("v1 cgroups are entered by the init itself");
        };
        assert!(tasks.contains(&tmp.path().join("freezer/gust/pool-1/tasks")));
        assert_eq!(cg.release_plan().len(), 4);
        cg.rename("fn-1").unwrap();
        let state = tmp.path().join("freezer/gust/fn-1/freezer.state");
        assert!(cg.freeze().unwrap());
        assert_eq!(read(state.clone()), "FROZEN");
        assert_eq!(cg.frozen(), Some(true));
        cg.thaw().unwrap();
        assert_eq!(read(state), "THAWED");
        assert_eq!(cg.frozen(), Some(false));
    }

    #[test]
    fn without_a_freezer_nothing_is_frozen() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fake(tmp.path(), false).create("a").unwrap();
        assert!(!cg.freeze().unwrap());
        cg.thaw().unwrap();
        assert_eq!(cg.frozen(), None);
        assert!(!tmp.path().join("freezer").exists());
    }

    #[test]
    fn finds_controllers_in_mountinfo_and_names_missing_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path().display();
        let text = format!(
            "35 31 0:32 / {m}/memory rw - cgroup cgroup rw,memory\n\
             32 31 0:29 / {m}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        );
        let err = V1Hierarchy::open(&text, Path::new("gust")).unwrap_err();
        assert!(err.contains("pids"), "{err}");
        let text = format!("{text}39 31 0:36 / {m}/pids rw - cgroup cgroup rw,pids\n");
        let h = V1Hierarchy::open(&text, Path::new("gust")).unwrap();
        assert!(tmp.path().join("cpu,cpuacct/gust").is_dir());
        let cg = h.create("x").unwrap();
        assert_eq!(cg.dirs().len(), 3);
        // The freezer is used where mounted, not required.
        let text = format!("{text}37 31 0:34 / {m}/freezer rw - cgroup cgroup rw,freezer\n");
        let h = V1Hierarchy::open(&text, Path::new("gust")).unwrap();
        assert_eq!(h.create("y").unwrap().dirs().len(), 4);
    }
}
