//! What a gust that was killed (SIGKILL, a crash, the OOM killer) leaves behind, and
//! how the next one finds it.
//!
//! An instance's init exits as soon as gust's end of its channel closes, which takes
//! its pid namespace, and so every process of the instance, down with it: a running
//! or pooled instance does not outlive gust. A frozen one does: its init is frozen
//! with it and cannot see the channel close, so it would stay, reparented to pid 1,
//! holding its memory, cgroup, mounts and `/tmp` image, forever. gust therefore
//! looks, when it starts, for instance cgroups whose processes no live gust owns
//! (see [`orphaned`]), and thaws, kills and removes them
//! ([`super::cgroup::Hierarchy::reap_orphans`]).
//!
//! `PR_SET_PDEATHSIG` in the init would not do this job: it fires when the *thread*
//! that cloned the init exits, and inits are cloned by the pool's thread or by
//! tokio's blocking threads, which end after idling, killing healthy instances; and
//! an init frozen by a cgroup v1 freezer cannot act on the signal until thawed.

/// Whether the processes `pids` of one instance cgroup were left by a gust that
/// died: the ones whose parent is outside the cgroup (the instance's init) were
/// all adopted by pid 1. `me` is this process's pid: a gust that is itself pid 1
/// (a container's entrypoint) is every init's parent, and decides nothing.
pub(crate) fn orphaned(pids: &[u32], me: u32, parent_of: &dyn Fn(u32) -> Option<u32>) -> bool {
    if me == 1 {
        return false;
    }
    let parents: Vec<u32> = pids
        .iter()
        .filter_map(|&p| parent_of(p))
        .filter(|pp| !pids.contains(pp))
        .collect();
    !parents.is_empty() && parents.iter().all(|&pp| pp == 1)
}

/// [`orphaned`] for this process, reading parents from `/proc`.
pub(crate) fn left_by_a_dead_gust(pids: &[u32]) -> bool {
    orphaned(pids, std::process::id(), &parent_pid)
}

/// The parent of `pid`, from `/proc/<pid>/status`.
fn parent_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(edges: &'static [(u32, u32)]) -> impl Fn(u32) -> Option<u32> {
        move |pid| edges.iter().find(|(c, _)| *c == pid).map(|(_, p)| *p)
    }

    #[test]
    fn an_instance_whose_init_was_adopted_by_pid_1_is_orphaned() {
        // init 100 (parent: gone gust, now 1), runtime 101, a child 102.
        let parents = tree(&[(100, 1), (101, 100), (102, 101)]);
        assert!(orphaned(&[100, 101, 102], 4242, &parents));
    }

    #[test]
    fn an_instance_of_a_live_gust_is_not() {
        let parents = tree(&[(100, 777), (101, 100)]);
        assert!(!orphaned(&[100, 101], 4242, &parents));
        // Nor one whose processes are gone meanwhile, nor any when gust is pid 1.
        assert!(!orphaned(&[100, 101], 4242, &|_| None));
        let adopted = tree(&[(100, 1), (101, 100)]);
        assert!(!orphaned(&[100, 101], 1, &adopted));
    }

    #[test]
    fn this_process_has_a_parent() {
        assert!(parent_pid(std::process::id()).is_some());
        assert!(!left_by_a_dead_gust(&[std::process::id()]));
    }
}
