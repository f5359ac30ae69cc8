//! The scheduler's placement rules against the fake sandbox: an idle instance is
//! reused newest first (LIFO), the longest-idle one goes when memory runs out, idle
//! instances expire after the TTL, and a request that finds no capacity before its
//! deadline is shed. Time-based rules run on tokio's paused clock.

mod fake;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fake::{invocation, Fixture};
use gust_scheduler::{Pool, ScheduleError, Scheduler, SchedulerConfig};
use tokio::time::Instant;

fn scheduler(f: &Fixture, memory_capacity_mb: u64, idle_ttl: Duration) -> Arc<Scheduler> {
    Scheduler::new(
        f.worker.clone(),
        SchedulerConfig {
            memory_capacity_mb,
            idle_ttl,
            freeze_idle_after: None,
        },
    )
}

async fn invoke(s: &Scheduler, pool: &Arc<Pool>, payload: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let end = s.invoke(pool, invocation(payload), deadline).await.unwrap();
    assert!(!end.function_error);
    String::from_utf8(end.payload.to_vec()).unwrap()
}

/// Waits (bounded, on the wall clock) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..3000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Which fake instance received `payload` first.
fn served(f: &Fixture, payload: &str) -> usize {
    let instances = f.sandbox.instances.lock().unwrap();
    instances
        .iter()
        .position(|r| r.payloads.lock().unwrap().iter().any(|p| p == payload))
        .unwrap_or_else(|| panic!("no instance received {payload}"))
}

/// Two instances of `pool`, both idle, the one that served `hold:first` returned
/// first (so it is at the bottom of the stack). Returns (bottom, top).
async fn two_idle(f: &Fixture, s: &Arc<Scheduler>, pool: &Arc<Pool>) -> (usize, usize) {
    let spawn = |payload: &'static str| {
        let (s, pool) = (s.clone(), pool.clone());
        tokio::spawn(async move { invoke(&s, &pool, payload).await })
    };
    // Both held at once: the second cannot reuse the first's instance.
    let first = spawn("hold:first");
    let second = spawn("hold:second");
    until("both held events to arrive", || {
        let instances = f.sandbox.instances.lock().unwrap();
        instances.len() == 2
            && instances
                .iter()
                .all(|r| r.events.load(Ordering::SeqCst) == 1)
    })
    .await;
    f.sandbox.gate.release("first");
    assert_eq!(first.await.unwrap(), "hold:first");
    f.sandbox.gate.release("second");
    assert_eq!(second.await.unwrap(), "hold:second");
    assert_eq!(pool.idle(), 2);
    (served(f, "hold:first"), served(f, "hold:second"))
}

#[tokio::test]
async fn idle_instances_are_reused_newest_first() {
    let f = Fixture::new();
    let s = scheduler(&f, 1024, Duration::from_secs(600));
    let pool = s.pool(f.spec.clone());
    let (bottom, top) = two_idle(&f, &s, &pool).await;
    // Back-to-back calls keep landing on the instance used last: the other one
    // stays idle at the bottom, where expiry and eviction take from.
    for payload in ["a", "b", "c"] {
        assert_eq!(invoke(&s, &pool, payload).await, payload);
    }
    let r = |i: usize| f.sandbox.record(i).payloads.lock().unwrap().clone();
    assert_eq!(r(top), ["hold:second", "a", "b", "c"]);
    assert_eq!(r(bottom), ["hold:first"]);
    assert_eq!(
        f.sandbox.instances.lock().unwrap().len(),
        2,
        "no new instance"
    );
}

#[tokio::test]
async fn the_longest_idle_instance_makes_room_when_memory_runs_out() {
    let f = Fixture::new();
    // Room for two 128 MB instances.
    let s = scheduler(&f, 256, Duration::from_secs(600));
    let pool = s.pool(f.spec.clone());
    let (bottom, top) = two_idle(&f, &s, &pool).await;
    // Another function's invocation needs a third: the longest idle goes.
    let other = s.pool(f.spec.clone());
    assert_eq!(invoke(&s, &other, "other").await, "other");
    assert!(f.sandbox.record(bottom).killed.load(Ordering::SeqCst));
    assert!(!f.sandbox.record(top).killed.load(Ordering::SeqCst));
    assert_eq!(
        served(&f, "other"),
        2,
        "a new instance for the other function"
    );
    assert_eq!((pool.idle(), other.idle()), (1, 1));
}

#[tokio::test]
async fn idle_instances_expire_after_the_ttl_and_no_sooner() {
    let f = Fixture::new();
    let ttl = Duration::from_secs(60);
    let s = scheduler(&f, 1024, ttl);
    let pool = s.pool(f.spec.clone());
    assert_eq!(invoke(&s, &pool, "1").await, "1");
    // From here on nothing runs in the instance: time can be simulated.
    tokio::time::pause();
    let expiry = tokio::spawn(s.clone().run_expiry());
    tokio::time::sleep(ttl - Duration::from_secs(1)).await;
    assert_eq!(pool.idle(), 1, "expired before its TTL");
    assert!(!f.sandbox.record(0).killed.load(Ordering::SeqCst));
    // The expiry task looks every quarter of the TTL, at most every second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pool.idle(), 0, "still idle a TTL and two seconds later");
    expiry.abort();
    tokio::time::resume();
    until("the expired instance to be stopped", || {
        f.sandbox.record(0).killed.load(Ordering::SeqCst)
    })
    .await;
    // The next call starts a new instance.
    assert_eq!(invoke(&s, &pool, "2").await, "2");
    assert_eq!(served(&f, "2"), 1);
}

#[tokio::test]
async fn a_request_without_capacity_by_its_deadline_is_shed() {
    let f = Fixture::new();
    // Room for one instance, which a held invocation keeps busy.
    let s = scheduler(&f, 128, Duration::from_secs(600));
    let pool = s.pool(f.spec.clone());
    let busy = {
        let (s, pool) = (s.clone(), pool.clone());
        tokio::spawn(async move { invoke(&s, &pool, "hold:busy").await })
    };
    until("the held event to arrive", || {
        f.sandbox
            .instances
            .lock()
            .unwrap()
            .first()
            .is_some_and(|r| r.events.load(Ordering::SeqCst) == 1)
    })
    .await;
    // Nothing can free the memory until the gate opens: on the paused clock, the
    // request waits exactly until its deadline and is shed.
    tokio::time::pause();
    let start = Instant::now();
    let wait = Duration::from_secs(5);
    let shed = s.invoke(&pool, invocation("late"), start + wait).await;
    assert!(
        matches!(shed, Err(ScheduleError::Throttled(_))),
        "{:?}",
        shed.map(|_| ())
    );
    assert!(Instant::now() >= start + wait, "shed before its deadline");
    tokio::time::resume();
    f.sandbox.gate.release("busy");
    assert_eq!(busy.await.unwrap(), "hold:busy");
    // The shed request never reached an instance, and capacity is back.
    assert_eq!(f.sandbox.instances.lock().unwrap().len(), 1);
    assert!(f
        .sandbox
        .record(0)
        .payloads
        .lock()
        .unwrap()
        .iter()
        .all(|p| p != "late"));
    assert_eq!(invoke(&s, &pool, "after").await, "after");
}
