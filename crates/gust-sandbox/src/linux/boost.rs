//! The end of the init boost. An instance starts with up to a full vCPU so its runtime
//! initialises quickly, and drops to its memory-proportional share when the worker
//! says initialisation is over ([`crate::InstanceProcess::finish_init`]) or, at the
//! latest, after [`CpuPolicy::init_boost_max`](super::CpuPolicy::init_boost_max)
//! (Lambda's limit on the init phase): one timer thread for the whole process lowers
//! the quotas that come due, so a worker that never calls `finish_init` cannot leave
//! a function with more CPU than it pays for.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::cgroup::{CgroupManager, CpuQuota};

/// A quota to set at a given time, if the instance still exists then.
struct Due {
    at: Instant,
    cgroup: Weak<dyn CgroupManager>,
    quota: CpuQuota,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

/// Lowers `cgroup`'s CPU limit to `quota` after `after`.
pub(crate) fn end_after(after: Duration, cgroup: Weak<dyn CgroupManager>, quota: CpuQuota) {
    static TIMER: OnceLock<Mutex<Sender<Due>>> = OnceLock::new();
    let timer = TIMER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("gust-sandbox-boost".into())
            .spawn(move || run(rx))
            .expect("spawning the sandbox boost timer");
        Mutex::new(tx)
    });
    let due = Due {
        at: Instant::now() + after,
        cgroup,
        quota,
    };
    let _ = timer.lock().unwrap_or_else(|p| p.into_inner()).send(due);
}

fn run(rx: Receiver<Due>) {
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    loop {
        let next = match heap.peek() {
            Some(d) => rx.recv_timeout(d.at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(due) => heap.push(due),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|d| d.at <= now) {
            let due = heap.pop().expect("peeked");
            if let Some(cgroup) = due.cgroup.upgrade() {
                // An instance gone meanwhile shows as a missing file: nothing to do.
                let _ = cgroup.set_cpu_quota(due.quota);
            }
        }
    }
}
