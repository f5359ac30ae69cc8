//! One function version's warm stack.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// Provisioned instances wanted: started ahead of demand, never expired.
    provisioned_target: AtomicUsize,
    /// Provisioned instances alive now (busy or idle). Shared with each instance's
    /// [`ProvisionedMark`], which decrements it when the instance goes.
    pub(crate) provisioned_live: Arc<AtomicUsize>,
    /// Why the last provisioning attempt failed, if it did.
    provision_error: Mutex<Option<String>>,
}

/// Marks an instance as provisioned; counts it in its pool while it lives.
pub(crate) struct ProvisionedMark(Arc<AtomicUsize>);

impl ProvisionedMark {
    pub(crate) fn new(live: &Arc<AtomicUsize>) -> ProvisionedMark {
        live.fetch_add(1, Ordering::AcqRel);
        ProvisionedMark(live.clone())
    }
}

impl Drop for ProvisionedMark {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Provisioned-concurrency figures of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedStatus {
    /// Instances asked for.
    pub requested: usize,
    /// Provisioned instances alive.
    pub allocated: usize,
    /// Of those, idle now.
    pub available: usize,
    /// Why provisioning failed, if it did.
    pub error: Option<String>,
}

impl Pool {
    pub(crate) fn new(spec: Arc<InstanceSpec>) -> Pool {
        Pool {
            spec,
            stack: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
            provisioned_target: AtomicUsize::new(0),
            provisioned_live: Arc::new(AtomicUsize::new(0)),
            provision_error: Mutex::new(None),
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

    /// When the longest-idle instance that may be evicted went idle. Provisioned
    /// instances are never evicted.
    pub(crate) fn oldest_idle_since(&self) -> Option<Instant> {
        self.stack
            .lock()
            .iter()
            .find(|i| i.held.provisioned.is_none())
            .map(|i| i.since)
    }

    pub(crate) fn pop_oldest(&self) -> Option<Held> {
        let mut stack = self.stack.lock();
        let pos = stack.iter().position(|i| i.held.provisioned.is_none())?;
        Some(stack.remove(pos).held)
    }

    /// Removes (and so stops) the instances idle since before `cutoff`, except
    /// provisioned ones.
    pub(crate) fn take_idle_before(&self, cutoff: Instant) -> Vec<Held> {
        let mut stack = self.stack.lock();
        let mut expired = Vec::new();
        let mut i = 0;
        while i < stack.len() {
            if stack[i].since <= cutoff && stack[i].held.provisioned.is_none() {
                expired.push(stack.remove(i).held);
            } else {
                i += 1;
            }
        }
        expired
    }

    /// Freezes the instances idle since `cutoff` or before, provisioned ones
    /// included, and asks again for those whose freeze the kernel has not finished.
    /// Each costs a cgroup file write or read, microseconds, under the stack's lock.
    pub(crate) fn freeze_idle_before(&self, cutoff: Instant) {
        let mut stack = self.stack.lock();
        for idle in stack.iter_mut().filter(|i| i.since <= cutoff) {
            if idle.held.instance.wants_freezing() {
                idle.held.instance.freeze();
            }
        }
    }

    /// How many idle instances are frozen (or being frozen).
    pub fn frozen(&self) -> usize {
        self.stack
            .lock()
            .iter()
            .filter(|i| i.held.instance.is_frozen())
            .count()
    }

    /// Sets how many provisioned instances the pool keeps. Lowering it turns the
    /// surplus idle ones into ordinary instances, which then expire as usual.
    pub fn set_provisioned(&self, target: usize) {
        self.provisioned_target.store(target, Ordering::Release);
        *self.provision_error.lock() = None;
        let mut stack = self.stack.lock();
        let mut surplus = self
            .provisioned_live
            .load(Ordering::Acquire)
            .saturating_sub(target);
        for idle in stack.iter_mut() {
            if surplus == 0 {
                break;
            }
            if idle.held.provisioned.take().is_some() {
                surplus -= 1;
            }
        }
    }

    /// Provisioned instances asked for.
    pub fn provisioned_target(&self) -> usize {
        self.provisioned_target.load(Ordering::Acquire)
    }

    /// Provisioned instances still to start.
    pub(crate) fn provisioned_missing(&self) -> usize {
        if self.is_retired() {
            return 0;
        }
        self.provisioned_target
            .load(Ordering::Acquire)
            .saturating_sub(self.provisioned_live.load(Ordering::Acquire))
    }

    pub(crate) fn set_provision_error(&self, e: Option<String>) {
        *self.provision_error.lock() = e;
    }

    /// Provisioned-concurrency figures.
    pub fn provisioned_status(&self) -> ProvisionedStatus {
        let available = self
            .stack
            .lock()
            .iter()
            .filter(|i| i.held.provisioned.is_some())
            .count();
        ProvisionedStatus {
            requested: self.provisioned_target.load(Ordering::Acquire),
            allocated: self.provisioned_live.load(Ordering::Acquire),
            available,
            error: self.provision_error.lock().clone(),
        }
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
