//! Freezing idle instances: after the configured delay, provisioned ones included,
//! never with freezing off, and always thawed before the runtime gets its next event.
//! The real scheduler and worker run on a fake sandbox that records freezes and thaws.

mod fake;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fake::{invocation, Fixture};
use gust_scheduler::{Pool, Scheduler, SchedulerConfig};
use tokio::time::Instant;

fn scheduler(f: &Fixture, freeze_idle_after: Option<Duration>) -> Arc<Scheduler> {
    Scheduler::new(
        f.worker.clone(),
        SchedulerConfig {
            memory_capacity_mb: 1024,
            idle_ttl: Duration::from_secs(600),
            freeze_idle_after,
        },
    )
}

async fn invoke(s: &Scheduler, pool: &Arc<Pool>, payload: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let end = s.invoke(pool, invocation(payload), deadline).await.unwrap();
    assert!(!end.function_error);
    String::from_utf8(end.payload.to_vec()).unwrap()
}

#[tokio::test]
async fn an_idle_instance_is_frozen_after_the_delay_and_thawed_before_its_next_event() {
    let f = Fixture::new();
    let s = scheduler(&f, Some(Duration::from_secs(1)));
    let pool = s.pool(f.spec.clone());
    assert_eq!(invoke(&s, &pool, r#"{"n":1}"#).await, r#"{"n":1}"#);
    let rec = f.sandbox.record(0);

    // Idle for less than the delay: left alone.
    s.freeze_idle(Instant::now());
    assert_eq!(rec.freezes.load(Ordering::SeqCst), 0);
    assert_eq!(pool.frozen(), 0);

    // Idle for longer: frozen, once.
    s.freeze_idle(Instant::now() + Duration::from_secs(2));
    s.freeze_idle(Instant::now() + Duration::from_secs(3));
    s.freeze_idle(Instant::now() + Duration::from_secs(4));
    assert_eq!(rec.freezes.load(Ordering::SeqCst), 1);
    assert!(rec.frozen.load(Ordering::SeqCst));
    assert_eq!(pool.frozen(), 1);

    // The next invocation takes the same instance, thawed before its event.
    assert_eq!(invoke(&s, &pool, r#"{"n":2}"#).await, r#"{"n":2}"#);
    assert_eq!(f.sandbox.instances.lock().unwrap().len(), 1);
    assert_eq!(rec.thaws.load(Ordering::SeqCst), 1);
    assert_eq!(rec.events.load(Ordering::SeqCst), 2);
    assert_eq!(rec.events_while_frozen.load(Ordering::SeqCst), 0);
    assert!(!rec.frozen.load(Ordering::SeqCst));
    assert_eq!(pool.frozen(), 0);

    // Invocations on an instance that was never frozen do not thaw it.
    assert_eq!(invoke(&s, &pool, "3").await, "3");
    assert_eq!(rec.thaws.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn with_freezing_off_nothing_is_frozen() {
    let f = Fixture::new();
    let s = scheduler(&f, None);
    let pool = s.pool(f.spec.clone());
    invoke(&s, &pool, "1").await;
    s.freeze_idle(Instant::now() + Duration::from_secs(3600));
    assert_eq!(f.sandbox.record(0).freezes.load(Ordering::SeqCst), 0);
    // The task that would freeze returns at once.
    tokio::time::timeout(Duration::from_secs(5), s.clone().run_freezing())
        .await
        .expect("run_freezing returns when freezing is off");
}

#[tokio::test]
async fn a_freeze_the_kernel_has_not_finished_is_asked_again() {
    let f = Fixture::new();
    let s = scheduler(&f, Some(Duration::from_secs(1)));
    let pool = s.pool(f.spec.clone());
    invoke(&s, &pool, "1").await;
    let rec = f.sandbox.record(0);
    rec.unconfirmed.store(2, Ordering::SeqCst);
    let later = Instant::now() + Duration::from_secs(2);
    for _ in 0..5 {
        s.freeze_idle(later);
    }
    // The first request, two more while unconfirmed, then nothing.
    assert_eq!(rec.freezes.load(Ordering::SeqCst), 3);
    assert_eq!(invoke(&s, &pool, "2").await, "2");
    assert_eq!(rec.events_while_frozen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn provisioned_instances_are_frozen_too() {
    let f = Fixture::new();
    let s = scheduler(&f, Some(Duration::from_secs(1)));
    let pool = s.pool(f.spec.clone());
    pool.set_provisioned(1);
    let provisioning = tokio::spawn(s.clone().run_provisioning(Duration::from_millis(20)));
    while pool.idle() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.freeze_idle(Instant::now() + Duration::from_secs(2));
    provisioning.abort();
    assert_eq!(pool.frozen(), 1);
    assert_eq!(f.sandbox.record(0).freezes.load(Ordering::SeqCst), 1);
    assert_eq!(invoke(&s, &pool, "1").await, "1");
    let rec = f.sandbox.record(0);
    assert_eq!(rec.thaws.load(Ordering::SeqCst), 1);
    assert_eq!(rec.events_while_frozen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_freezing_task_freezes_within_a_quarter_of_the_delay_after_it() {
    let f = Fixture::new();
    let delay = Duration::from_secs(4);
    let s = scheduler(&f, Some(delay));
    let pool = s.pool(f.spec.clone());
    invoke(&s, &pool, "1").await;
    // From here on nothing runs in the instance: time can be simulated.
    tokio::time::pause();
    let freezing = tokio::spawn(s.clone().run_freezing());
    tokio::time::sleep(delay - Duration::from_millis(100)).await;
    assert_eq!(pool.frozen(), 0, "frozen before the delay");
    tokio::time::sleep(delay / 4 + Duration::from_millis(200)).await;
    assert_eq!(pool.frozen(), 1, "not frozen within 1.25 times the delay");
    freezing.abort();
    tokio::time::resume();
    assert_eq!(invoke(&s, &pool, "2").await, "2");
}
