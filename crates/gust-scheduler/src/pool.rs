//! One function version's warm stack.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gust_worker::InstanceSpec;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::Held;

struct Idle {
    held: Held,
    since: Instant,
}

/// The idle instances of one function version, newest on top. A retired pool (its
/// function was updated or deleted) takes no instance back: the next invocation gets
/// a fresh pool and runs the new code.
pub struct Pool {
    spec: Arc<InstanceSpec>,
    /// Index 0 is the bottom (longest idle); the top is the end.
    stack: Mutex<Vec<Idle>>,
    retired: AtomicBool,
}

impl Pool {
    pub(crate) fn new(spec: Arc<InstanceSpec>) -> Pool {
        Pool {
            spec,
            stack: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
        }
    }

    /// What the pool's instances run.
    pub fn spec(&self) -> &Arc<InstanceSpec> {
        &self.spec
    }

    /// Idle instances now.
    pub fn idle(&self) -> usize {
        self.stack.lock().len()
    }

    /// Takes the most recently used idle instance.
    pub(crate) fn pop(&self) -> Option<Held> {
        self.stack.lock().pop().map(|i| i.held)
    }

    /// Returns an instance to the top of the stack. Returns false (and drops, which
    /// stops, the instance) when the pool is retired.
    pub(crate) fn push(&self, held: Held) -> bool {
        if self.retired.load(Ordering::Acquire) {
            return false;
        }
        let mut stack = self.stack.lock();
        // Re-check under the lock so `retire` cannot miss this instance.
        if self.retired.load(Ordering::Acquire) {
            return false;
        }
        stack.push(Idle {
            held,
            since: Instant::now(),
        });
        true
    }

    pub(crate) fn oldest_idle_since(&self) -> Option<Instant> {
        self.stack.lock().first().map(|i| i.since)
    }

    pub(crate) fn pop_oldest(&self) -> Option<Held> {
        let mut stack = self.stack.lock();
        (!stack.is_empty()).then(|| stack.remove(0).held)
    }

    /// Removes (and so stops) the instances idle since before `cutoff`.
    pub(crate) fn take_idle_before(&self, cutoff: Instant) -> Vec<Held> {
        let mut stack = self.stack.lock();
        let n = stack.iter().take_while(|i| i.since <= cutoff).count();
        stack.drain(..n).map(|i| i.held).collect()
    }

    /// Stops every idle instance and refuses busy ones when they come back.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        let drained: Vec<Idle> = std::mem::take(&mut *self.stack.lock());
        drop(drained);
    }

    /// Whether the pool has been retired.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}
