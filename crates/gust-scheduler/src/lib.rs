//! gust's scheduler (DESIGN.md §2, after the thesis §3.2): every function version has a
//! **warm stack** of idle instances, used last-in first-out so that after a burst the
//! instances at the bottom stay idle and expire; below it sits the host's **cold
//! capacity**, memory not yet reserved by any instance.
//!
//! An invocation takes the top of its warm stack; else it reserves its memory size from
//! the capacity and cold-starts an instance; else it evicts the longest-idle instance
//! of any function and tries again; else it waits, until its deadline, for an instance
//! to come back or capacity to be freed, and is then shed as throttled. Memory is
//! never over-committed: an instance holds its reservation until it is gone. The
//! disk promised to instances' `/tmp` is admitted the same way by the sandbox: a
//! start it refuses for want of disk ends the longest-idle instance, waits for its
//! teardown and tries again, until none is idle and the deadline has passed.
//!
//! An instance idle for longer than [`SchedulerConfig::freeze_idle_after`] is frozen
//! (its threads and timers stop, as Lambda freezes idle execution environments) and
//! thawed by the invocation that takes it, before the runtime sees the event.
//!
//! # Layout
//! - [`Scheduler`]: the entry point ([`Scheduler::invoke`], [`Scheduler::pool`]).
//! - [`Pool`]: one function version's warm stack.
//! - `capacity`: memory reservations.

#![forbid(unsafe_code)]

mod capacity;
mod pool;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use gust_worker::{Instance, InstanceSpec, Invocation, InvokeEnd, StartError, Worker};
use parking_lot::Mutex;
use tokio::time::Instant;

use capacity::{Capacity, Reservation};
pub use pool::{Pool, ProvisionedStatus};

/// The scheduler's settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Memory all instances together may reserve, in MB.
    pub memory_capacity_mb: u64,
    /// How long an idle instance stays warm before it is stopped.
    pub idle_ttl: Duration,
    /// How long an instance stays idle before it is frozen; `None` never freezes.
    /// Freezing stops what a function leaves running between invocations (timers,
    /// background threads), which otherwise burns host CPU for every warm instance;
    /// thawing costs the next invocation a cgroup write and the wake-up.
    pub freeze_idle_after: Option<Duration>,
}

/// Why an invocation could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// No instance or capacity became free before the request's deadline.
    #[error("{0}")]
    Throttled(String),
    /// The platform is stopping.
    #[error("gust is shutting down")]
    ShuttingDown,
    /// The platform could not start an instance (not the function's fault).
    #[error(transparent)]
    Start(StartError),
}

/// An instance together with the memory it reserved.
pub(crate) struct Held {
    pub instance: Instance,
    /// Set while the instance counts as provisioned concurrency.
    pub provisioned: Option<pool::ProvisionedMark>,
    _reservation: Reservation,
}

/// Runs invocations on warm or new instances.
pub struct Scheduler {
    worker: Arc<Worker>,
    capacity: Arc<Capacity>,
    config: SchedulerConfig,
    pools: Mutex<Vec<Weak<Pool>>>,
    shutting_down: AtomicBool,
    /// Set by [`Scheduler::kill_all`]: running invocations end at once.
    kill: tokio::sync::watch::Sender<bool>,
    /// Instances being started now (for invocations or provisioned concurrency).
    starting: Arc<AtomicUsize>,
}

/// Counts a start in [`Scheduler::starting`] while it lives.
struct Starting(Arc<AtomicUsize>);

impl Starting {
    fn new(count: &Arc<AtomicUsize>) -> Starting {
        count.fetch_add(1, Ordering::AcqRel);
        Starting(count.clone())
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What `/gust/v1/health` reports about the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerStats {
    /// Live instances, busy or idle.
    pub instances: usize,
    /// Of those, idle in their warm stacks (frozen ones included).
    pub idle: usize,
    /// Of the idle ones, frozen (or being frozen).
    pub frozen: usize,
    /// Of the live ones, still starting.
    pub starting: usize,
    /// Memory reserved by them, in MB.
    pub reserved_mb: u64,
    /// Total capacity, in MB.
    pub capacity_mb: u64,
}

impl Scheduler {
    /// A scheduler starting instances through `worker`. Call [`Scheduler::run_expiry`]
    /// in a task to stop idle instances.
    pub fn new(worker: Arc<Worker>, config: SchedulerConfig) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            worker,
            capacity: Arc::new(Capacity::new(config.memory_capacity_mb)),
            config,
            pools: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            kill: tokio::sync::watch::channel(false).0,
            starting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The worker, for callers that need its isolation name.
    pub fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }

    /// A new warm stack for one function version (one configuration revision).
    pub fn pool(&self, spec: Arc<InstanceSpec>) -> Arc<Pool> {
        let pool = Arc::new(Pool::new(spec));
        let mut pools = self.pools.lock();
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        pool
    }

    /// Runs one invocation on `pool`'s function, waiting for capacity until
    /// `deadline`. The invocation itself runs in its own task: if the caller goes
    /// away mid-invocation, the instance still finishes and returns to its stack.
    pub async fn invoke(
        &self,
        pool: &Arc<Pool>,
        inv: Invocation,
        deadline: Instant,
    ) -> Result<InvokeEnd, ScheduleError> {
        let mb = u64::from(pool.spec().config.memory_mb);
        if mb > self.capacity.total_mb() {
            return Err(ScheduleError::Throttled(format!(
                "Function {} needs {mb} MB but this gust host can reserve at most {} MB \
                 (see `gust serve --memory`)",
                pool.spec().config.name,
                self.capacity.total_mb()
            )));
        }
        loop {
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(ScheduleError::ShuttingDown);
            }
            let changed = self.capacity.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();

            if let Some(held) = pool.pop() {
                if held.instance.is_alive() {
                    return self.run(pool, held, inv).await;
                }
                continue;
            }
            if let Some(reservation) = Capacity::try_reserve(&self.capacity, mb) {
                let starting = Starting::new(&self.starting);
                let started = self.worker.start(pool.spec().clone(), Some(&inv)).await;
                drop(starting);
                let instance = match started {
                    Ok(i) => i,
                    Err(StartError::Init { payload, log_tail }) => {
                        return Ok(InvokeEnd {
                            payload,
                            function_error: true,
                            log_tail,
                            reusable: false,
                            report: Default::default(),
                        })
                    }
                    Err(e) if e.is_exhausted() => {
                        drop(reservation);
                        if self.make_room(deadline).await {
                            continue;
                        }
                        return Err(ScheduleError::Start(e));
                    }
                    Err(e) => return Err(ScheduleError::Start(e)),
                };
                let held = Held {
                    instance,
                    provisioned: None,
                    _reservation: reservation,
                };
                return self.run(pool, held, inv).await;
            }
            if self.evict_longest_idle() {
                continue;
            }
            if Instant::now() >= deadline {
                return Err(self.throttled(pool));
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => return Err(self.throttled(pool)),
            }
        }
    }

    fn throttled(&self, pool: &Pool) -> ScheduleError {
        ScheduleError::Throttled(format!(
            "Rate Exceeded. No capacity to run {} before the request's deadline: {} of {} MB \
             reserved by busy instances",
            pool.spec().config.name,
            self.capacity.reserved_mb(),
            self.capacity.total_mb()
        ))
    }

    async fn run(
        &self,
        pool: &Arc<Pool>,
        mut held: Held,
        inv: Invocation,
    ) -> Result<InvokeEnd, ScheduleError> {
        let pool = pool.clone();
        let capacity = self.capacity.clone();
        let mut kill = self.kill.subscribe();
        let task = tokio::spawn(async move {
            let provisioned = held.provisioned.is_some();
            let mut end = tokio::select! {
                end = held.instance.invoke(inv) => end,
                _ = kill.wait_for(|k| *k) => return None,
            };
            end.report.provisioned = provisioned;
            if end.reusable && pool.push(held) {
                capacity.changed.notify_waiters();
            }
            Some(end)
        });
        match task.await {
            Ok(Some(end)) => Ok(end),
            Ok(None) => Err(ScheduleError::ShuttingDown),
            Err(e) => Err(ScheduleError::Start(StartError::Sandbox(
                gust_worker::SandboxErrorKind::io(
                    "running the invocation",
                    std::io::Error::other(e.to_string()),
                ),
            ))),
        }
    }

    /// After a start failed for want of what instances hold besides memory (the
    /// disk promised to their `/tmp`): stops the longest-idle instance and waits
    /// until an instance's teardown has finished, or, with none idle, until one is
    /// torn down or comes back. `false` once `deadline` has passed.
    async fn make_room(&self, deadline: Instant) -> bool {
        let released = self.worker.released().notified();
        let changed = self.capacity.changed.notified();
        tokio::pin!(released, changed);
        released.as_mut().enable();
        changed.as_mut().enable();
        if self.evict_longest_idle() {
            return tokio::select! {
                _ = released => true,
                _ = tokio::time::sleep_until(deadline) => false,
            };
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::select! {
            _ = released => true,
            _ = changed => true,
            _ = tokio::time::sleep_until(deadline) => false,
        }
    }

    /// Stops the instance that has been idle longest, across all functions. Returns
    /// whether one was stopped.
    fn evict_longest_idle(&self) -> bool {
        let pools = self.live_pools();
        let oldest = pools
            .iter()
            .filter_map(|p| p.oldest_idle_since().map(|since| (since, p)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, pool)) => pool.pop_oldest().is_some(),
            None => false,
        }
    }

    fn live_pools(&self) -> Vec<Arc<Pool>> {
        let mut pools = self.pools.lock();
        pools.retain(|p| p.strong_count() > 0);
        pools.iter().filter_map(Weak::upgrade).collect()
    }

    /// Stops instances idle for longer than the idle TTL, forever. Run as a task.
    pub async fn run_expiry(self: Arc<Self>) {
        let period =
            (self.config.idle_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.expire_idle(Instant::now());
        }
    }

    /// Stops every instance idle since before `now - idle_ttl`.
    pub fn expire_idle(&self, now: Instant) {
        for pool in self.live_pools() {
            let expired =
                pool.take_idle_before(now.checked_sub(self.config.idle_ttl).unwrap_or(now));
            if !expired.is_empty() {
                tracing::debug!(function = %pool.spec().config.name, count = expired.len(), "idle instances expired");
            }
        }
    }

    /// Freezes instances idle for longer than `freeze_idle_after`, forever (returns
    /// at once when freezing is off). Run as a task. It wakes every quarter of the
    /// delay (10 ms to 1 s), so an instance is frozen within 1.25 times the delay.
    pub async fn run_freezing(self: Arc<Self>) {
        let Some(after) = self.config.freeze_idle_after else {
            return;
        };
        let period = (after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.freeze_idle(Instant::now());
        }
    }

    /// Freezes every instance idle since before `now - freeze_idle_after` (and asks
    /// again where the kernel has not finished an earlier freeze).
    pub fn freeze_idle(&self, now: Instant) {
        let Some(after) = self.config.freeze_idle_after else {
            return;
        };
        // Nothing can have been idle that long yet.
        let Some(cutoff) = now.checked_sub(after) else {
            return;
        };
        for pool in self.live_pools() {
            pool.freeze_idle_before(cutoff);
        }
    }

    /// Starts the provisioned instances pools ask for, forever. Run as a task; it
    /// wakes every `period` and whenever capacity changes.
    pub async fn run_provisioning(self: Arc<Self>, period: Duration) {
        loop {
            let changed = self.capacity.changed.notified();
            for pool in self.live_pools() {
                self.provision(&pool).await;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(period) => {}
            }
            if self.shutting_down.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// Starts the missing provisioned instances of one pool.
    async fn provision(&self, pool: &Arc<Pool>) {
        for _ in 0..pool.provisioned_missing() {
            let mb = u64::from(pool.spec().config.memory_mb);
            let reservation = match Capacity::try_reserve(&self.capacity, mb) {
                Some(r) => r,
                None if self.evict_longest_idle() => continue,
                None => {
                    pool.set_provision_error(Some(format!(
                        "not enough memory: {} of {} MB reserved",
                        self.capacity.reserved_mb(),
                        self.capacity.total_mb()
                    )));
                    return;
                }
            };
            let starting = Starting::new(&self.starting);
            let started = loop {
                match self.worker.start(pool.spec().clone(), None).await {
                    // Short of disk: end an idle instance, wait for its teardown.
                    Err(e) if e.is_exhausted() => {
                        let released = self.worker.released().notified();
                        tokio::pin!(released);
                        released.as_mut().enable();
                        if !self.evict_longest_idle() {
                            break Err(e);
                        }
                        let _ = tokio::time::timeout(Duration::from_secs(5), released).await;
                    }
                    other => break other,
                }
            };
            drop(starting);
            match started {
                Ok(instance) => {
                    let held = Held {
                        instance,
                        provisioned: Some(pool::ProvisionedMark::new(&pool.provisioned_live)),
                        _reservation: reservation,
                    };
                    pool.set_provision_error(None);
                    if pool.push(held) {
                        self.capacity.changed.notify_waiters();
                    }
                }
                Err(e) => {
                    let reason = match e {
                        StartError::Init { payload, .. } => {
                            String::from_utf8_lossy(&payload).into_owned()
                        }
                        other => other.to_string(),
                    };
                    tracing::warn!(function = %pool.spec().config.name, %reason, "provisioning failed");
                    pool.set_provision_error(Some(reason));
                    return;
                }
            }
        }
    }

    /// Stops accepting invocations and stops every idle instance. Busy instances are
    /// stopped when their invocation ends.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for pool in self.live_pools() {
            pool.retire();
        }
        self.capacity.changed.notify_waiters();
    }

    /// Stops every instance now, busy or not: running invocations end with
    /// [`ScheduleError::ShuttingDown`].
    pub fn kill_all(&self) {
        self.shutdown();
        self.kill.send_replace(true);
    }

    /// Live instances by state, and reserved memory.
    pub fn stats(&self) -> SchedulerStats {
        let pools = self.live_pools();
        SchedulerStats {
            idle: pools.iter().map(|p| p.idle()).sum(),
            frozen: pools.iter().map(|p| p.frozen()).sum(),
            starting: self.starting.load(Ordering::Acquire),
            instances: self.capacity.live(),
            reserved_mb: self.capacity.reserved_mb(),
            capacity_mb: self.capacity.total_mb(),
        }
    }
}
