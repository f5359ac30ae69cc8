//! The dispatcher against the real SQLite store and a scripted executor. Time-based
//! behaviour runs on tokio's paused clock, advanced by hand: a spinning task keeps
//! the runtime busy so that the clock only moves when a test says so, while the
//! writer thread commits in real time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use gust_store::events::{EventStatus, EventStore};
use gust_store::SqliteStore;
use gust_types::{FunctionRef, Region};
use gust_wire::events::{EventInvokeConfigRequest, InvocationRecord};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::*;

const DLQ: &str = "arn:aws:sqs:us-east-1:000000000000:dead-letters";
const FAILURES: &str = "arn:aws:sqs:us-east-1:000000000000:failures";
const SUCCESSES: &str = "arn:aws:sqs:us-east-1:000000000000:successes";

#[derive(Default)]
struct Script {
    /// What each function's next attempts return; afterwards, success.
    plans: HashMap<String, VecDeque<Execution>>,
    /// (function, request id, payload, when) of every attempt.
    calls: Vec<(String, String, Vec<u8>, Instant)>,
}

#[derive(Clone, Default)]
struct Fake {
    script: Arc<Mutex<Script>>,
    dead_letters: Arc<Mutex<HashMap<String, String>>>,
    functions: Arc<Mutex<HashSet<String>>>,
    /// Attempts block until this many permits are added, when set.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

fn function_error(message: &str) -> Execution {
    Execution::Completed {
        payload: format!(r#"{{"errorType":"ValueError","errorMessage":"{message}"}}"#).into_bytes(),
        function_error: Some("Unhandled".into()),
        executed_version: "$LATEST".into(),
    }
}

impl Fake {
    fn plan(&self, function: &str, steps: impl IntoIterator<Item = Execution>) {
        self.script
            .lock()
            .plans
            .entry(function.into())
            .or_default()
            .extend(steps);
    }

    fn calls(&self, function: &str) -> Vec<(String, Vec<u8>, Instant)> {
        self.script
            .lock()
            .calls
            .iter()
            .filter(|c| c.0 == function)
            .map(|c| (c.1.clone(), c.2.clone(), c.3))
            .collect()
    }
}

impl Executor for Fake {
    async fn execute(&self, event: &gust_store::events::StoredEvent) -> Execution {
        if let Some(gate) = &self.gate {
            let _ = gate.acquire().await.map(|p| p.forget());
        }
        let mut script = self.script.lock();
        script.calls.push((
            event.function.clone(),
            event.request_id.clone(),
            event.payload.clone(),
            Instant::now(),
        ));
        let planned = script
            .plans
            .get_mut(&event.function)
            .and_then(VecDeque::pop_front);
        planned.unwrap_or_else(|| Execution::Completed {
            payload: br#"{"ok":true}"#.to_vec(),
            function_error: None,
            executed_version: "$LATEST".into(),
        })
    }

    fn dead_letter_target(&self, function: &str, _qualifier: Option<&str>) -> Option<String> {
        self.dead_letters.lock().get(function).cloned()
    }

    fn function_exists(&self, function: &FunctionRef) -> bool {
        self.functions.lock().contains(&function.name)
    }
}

struct Harness {
    events: AsyncEvents,
    store: Arc<SqliteStore>,
    fake: Fake,
    _dir: tempfile::TempDir,
}

fn open_with(dir: tempfile::TempDir, settings: EventsConfig, fake: Fake) -> Harness {
    let store = Arc::new(SqliteStore::open(&dir.path().join("gust.db")).unwrap());
    let events = AsyncEvents::open(store.clone(), settings, Region::default()).unwrap();
    Harness {
        events,
        store,
        fake,
        _dir: dir,
    }
}

fn harness(settings: EventsConfig) -> Harness {
    open_with(tempfile::tempdir().unwrap(), settings, Fake::default())
}

fn settings() -> EventsConfig {
    EventsConfig {
        workers: 4,
        ..EventsConfig::default()
    }
}

/// Keeps a paused runtime busy, so its clock moves only with `advance`.
fn spin() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::task::yield_now().await;
        }
    })
}

/// Lets tasks and the writer thread run until `cond` holds (real time, bounded).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting for {what}");
}

/// Lets everything that can run, run, without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn req(json: &str) -> EventInvokeConfigRequest {
    serde_json::from_str(json).unwrap()
}

impl Harness {
    fn start(&self) {
        self.events.start(self.fake.clone());
    }

    async fn send(&self, function: &str, n: usize) -> String {
        let id = format!("req-{function}-{n}");
        self.events
            .enqueue(
                &id,
                function,
                None,
                format!(r#"{{"n":{n}}}"#).into_bytes(),
                None,
            )
            .await
            .unwrap();
        id
    }

    fn messages(&self, queue: &str) -> Vec<gust_store::events::StoredMessage> {
        self.store.queue_messages(queue, 0, 100).unwrap()
    }

    fn status(&self, function: &str) -> Vec<gust_store::events::EventSummary> {
        self.store.list_events(function, 100).unwrap()
    }
}

fn record(body: &str) -> InvocationRecord {
    serde_json::from_str(body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn function_errors_retry_after_one_then_two_minutes_then_reach_the_failure_destination() {
    let _spin = spin();
    let h = harness(settings());
    h.events
        .put_config(
            "f",
            "$LATEST",
            &req(&format!(
                r#"{{"DestinationConfig":{{"OnFailure":{{"Destination":"{FAILURES}"}}}}}}"#
            )),
        )
        .await
        .unwrap();
    h.fake
        .plan("f", (0..3).map(|i| function_error(&format!("boom {i}"))));
    h.start();
    let rid = h.send("f", 1).await;

    eventually("the first attempt", || h.fake.calls("f").len() == 1).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    settle().await;
    assert_eq!(h.fake.calls("f").len(), 1, "no retry before a minute");
    let listed = &h.status("f")[0];
    assert_eq!((listed.status, listed.attempts), (EventStatus::Queued, 1));
    assert_eq!(listed.last_error.as_deref(), Some("ValueError: boom 0"));

    tokio::time::advance(Duration::from_secs(1)).await;
    eventually("the first retry", || h.fake.calls("f").len() == 2).await;
    tokio::time::advance(Duration::from_secs(119)).await;
    settle().await;
    assert_eq!(
        h.fake.calls("f").len(),
        2,
        "the second retry waits two minutes"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    eventually("the second retry", || h.fake.calls("f").len() == 3).await;

    eventually("the failure record", || h.messages("failures").len() == 1).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    settle().await;
    assert_eq!(
        h.fake.calls("f").len(),
        3,
        "MaximumRetryAttempts 2 means 3 attempts"
    );
    let calls = h.fake.calls("f");
    assert!(
        calls.iter().all(|c| c.0 == rid),
        "retries keep the request id"
    );
    assert_eq!(calls[1].2 - calls[0].2, Duration::from_secs(60));
    assert_eq!(calls[2].2 - calls[1].2, Duration::from_secs(120));

    let rec = record(&h.messages("failures")[0].message.body);
    assert_eq!(rec.request_context.request_id, rid);
    assert_eq!(rec.request_context.condition, "RetriesExhausted");
    assert_eq!(rec.request_context.approximate_invoke_count, 3);
    assert_eq!(rec.request_payload, serde_json::json!({"n": 1}));
    let resp = rec.response_context.unwrap();
    assert_eq!(resp.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(rec.response_payload.unwrap()["errorMessage"], "boom 2");
    let listed = &h.status("f")[0];
    assert_eq!((listed.status, listed.attempts), (EventStatus::Failed, 3));
    assert_eq!(listed.destination.as_deref(), Some(FAILURES));
}

#[tokio::test(start_paused = true)]
async fn with_no_retries_a_failure_goes_to_the_dead_letter_queue() {
    let _spin = spin();
    let h = harness(settings());
    h.events
        .put_config("f", "$LATEST", &req(r#"{"MaximumRetryAttempts":0}"#))
        .await
        .unwrap();
    h.fake.dead_letters.lock().insert("f".into(), DLQ.into());
    h.fake.plan("f", [function_error("no luck")]);
    h.start();
    let rid = h.send("f", 7).await;
    eventually("the dead letter", || h.messages("dead-letters").len() == 1).await;
    let msg = &h.messages("dead-letters")[0].message;
    assert_eq!(
        msg.body, r#"{"n":7}"#,
        "a dead letter is the original event"
    );
    let attrs: serde_json::Value = serde_json::from_str(&msg.attributes).unwrap();
    assert_eq!(attrs["RequestID"]["stringValue"], rid.as_str());
    assert_eq!(attrs["ErrorCode"]["stringValue"], "200");
    assert_eq!(attrs["ErrorMessage"]["stringValue"], "no luck");
    tokio::time::advance(Duration::from_secs(600)).await;
    settle().await;
    assert_eq!(h.fake.calls("f").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn throttles_back_off_without_using_attempts() {
    let _spin = spin();
    let h = harness(settings());
    h.events
        .put_config("f", "$LATEST", &req(&format!(
            r#"{{"MaximumRetryAttempts":0,"DestinationConfig":{{"OnSuccess":{{"Destination":"{SUCCESSES}"}}}}}}"#
        )))
        .await
        .unwrap();
    h.fake.plan(
        "f",
        (0..3).map(|_| Execution::Throttled("Rate Exceeded.".into())),
    );
    h.start();
    h.send("f", 1).await;
    eventually("the first attempt", || h.fake.calls("f").len() == 1).await;
    for (n, wait) in [(2, 1), (3, 2), (4, 4)] {
        tokio::time::advance(Duration::from_millis(wait * 1000 - 1)).await;
        settle().await;
        assert_eq!(h.fake.calls("f").len(), n - 1, "backoff before attempt {n}");
        tokio::time::advance(Duration::from_millis(1)).await;
        eventually("the next attempt", || h.fake.calls("f").len() == n).await;
    }
    eventually("the success record", || h.messages("successes").len() == 1).await;
    let listed = &h.status("f")[0];
    assert_eq!(listed.status, EventStatus::Succeeded);
    assert_eq!(
        (listed.attempts, listed.throttles),
        (1, 3),
        "throttles cost no attempt"
    );
    let rec = record(&h.messages("successes")[0].message.body);
    assert_eq!(rec.request_context.condition, "Success");
    assert_eq!(rec.request_context.approximate_invoke_count, 1);
    assert_eq!(rec.response_payload, Some(serde_json::json!({"ok": true})));
    assert_eq!(rec.response_context.unwrap().function_error, None);
}

#[tokio::test(start_paused = true)]
async fn an_event_that_cannot_run_expires_at_its_maximum_age() {
    let _spin = spin();
    let h = harness(settings());
    h.events
        .put_config("f", "$LATEST", &req(&format!(
            r#"{{"MaximumEventAgeInSeconds":60,"DestinationConfig":{{"OnFailure":{{"Destination":"{FAILURES}"}}}}}}"#
        )))
        .await
        .unwrap();
    h.fake
        .plan("f", (0..100).map(|_| Execution::Throttled("busy".into())));
    h.start();
    h.send("f", 1).await;
    eventually("the first attempt", || h.fake.calls("f").len() == 1).await;
    // Throttle backoff: attempts at 0, 1, 3, 7, 15, 31 s; the next would be at 63 s.
    for _ in 0..59 {
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
    }
    assert!(h.messages("failures").is_empty(), "not expired before 60 s");
    tokio::time::advance(Duration::from_secs(1)).await;
    eventually("the expiry record", || h.messages("failures").len() == 1).await;
    assert_eq!(h.fake.calls("f").len(), 6);
    let rec = record(&h.messages("failures")[0].message.body);
    assert_eq!(rec.request_context.condition, "EventAgeExceeded");
    assert_eq!(rec.request_context.approximate_invoke_count, 0);
    assert!(rec.response_context.is_none(), "the function never ran");
    let listed = &h.status("f")[0];
    assert_eq!(listed.status, EventStatus::Expired);
    assert_eq!(listed.throttles, 6);
}

#[tokio::test(start_paused = true)]
async fn records_can_go_to_functions_and_what_cannot_be_delivered_is_kept() {
    let _spin = spin();
    let h = harness(settings());
    h.fake.functions.lock().insert("audit".into());
    let audit = "arn:aws:lambda:us-east-1:000000000000:function:audit";
    let missing = "arn:aws:lambda:us-east-1:000000000000:function:missing";
    h.events
        .put_config("f", "$LATEST", &req(&format!(
            r#"{{"MaximumRetryAttempts":0,"DestinationConfig":{{"OnSuccess":{{"Destination":"{audit}"}},"OnFailure":{{"Destination":"{missing}"}}}}}}"#
        )))
        .await
        .unwrap();
    h.fake.plan(
        "f",
        [
            Execution::Completed {
                payload: b"42".to_vec(),
                function_error: None,
                executed_version: "$LATEST".into(),
            },
            function_error("bad"),
        ],
    );
    h.start();
    let ok = h.send("f", 1).await;
    eventually("the audit function's invocation", || {
        h.fake.calls("audit").len() == 1
    })
    .await;
    let rec = record(std::str::from_utf8(&h.fake.calls("audit")[0].1).unwrap());
    assert_eq!(rec.request_context.request_id, ok);
    assert_eq!(rec.response_payload, Some(serde_json::json!(42)));

    h.send("f", 2).await;
    eventually("the undeliverable record", || {
        h.messages(target::UNDELIVERABLE_QUEUE).len() == 1
    })
    .await;
    let kept = &h.messages(target::UNDELIVERABLE_QUEUE)[0].message;
    assert_eq!(
        record(&kept.body).request_context.condition,
        "RetriesExhausted"
    );
    assert!(kept.attributes.contains(missing), "{}", kept.attributes);
    let listed = &h.status("f")[0];
    assert!(listed
        .destination
        .as_deref()
        .unwrap()
        .contains("gust-undeliverable"));
    assert!(h.fake.calls("missing").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_short_by_shutdown_goes_back_to_the_queue() {
    let _spin = spin();
    let h = harness(settings());
    h.fake.plan("f", [Execution::ShuttingDown]);
    h.start();
    h.send("f", 1).await;
    eventually("the attempt", || h.fake.calls("f").len() == 1).await;
    h.events.shutdown().await;
    let listed = &h.status("f")[0];
    assert_eq!((listed.status, listed.attempts), (EventStatus::Queued, 0));
}

fn running(store: &SqliteStore, total: usize) -> usize {
    store
        .list_events("f", total + 10)
        .unwrap()
        .iter()
        .filter(|e| e.status == EventStatus::Running)
        .count()
}

#[test]
fn a_crash_loses_no_accepted_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let total = 300;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    // First life: accept everything, let a few attempts start and hang, then "crash"
    // by dropping the runtime with them in flight.
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let fake = Fake {
            gate: Some(gate.clone()),
            ..Fake::default()
        };
        let h = open_with(tempfile::TempDir::new_in(&path).unwrap(), settings(), fake);
        let db = h._dir.path().to_path_buf();
        rt.block_on(async {
            h.start();
            for n in 0..total {
                h.send("f", n).await;
            }
            // The four workers mark their events running before their attempts
            // block at the gate; the marks are committed in the background.
            for _ in 0..3000 {
                if running(&h.store, total) >= 4 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Nothing else may start: the workers are all held at the gate.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(
            running(&h.store, total),
            4,
            "the four workers' events were mid-attempt"
        );
        rt.shutdown_background();
        drop(h.events);
        // Second life on the same file.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let fake = Fake::default();
        let store = Arc::new(SqliteStore::open(&db.join("gust.db")).unwrap());
        let events = AsyncEvents::open(store.clone(), settings(), Region::default()).unwrap();
        assert_eq!(events.scheduled(), total);
        rt.block_on(async {
            events.start(fake.clone());
            for _ in 0..6000 {
                let done = store
                    .list_events("f", total + 10)
                    .unwrap()
                    .iter()
                    .filter(|e| e.status == EventStatus::Succeeded)
                    .count();
                if done == total {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            events.shutdown().await;
        });
        let ran: HashSet<String> = fake.calls("f").into_iter().map(|c| c.0).collect();
        assert_eq!(
            ran.len(),
            total,
            "every accepted event ran after the restart"
        );
        let stats = store.list_events("f", total + 10).unwrap();
        assert!(stats.iter().all(|e| e.status == EventStatus::Succeeded));
        let retried: Vec<_> = stats.iter().filter(|e| e.attempts == 2).collect();
        assert_eq!(retried.len(), 4, "the interrupted attempts count");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_share_commits() {
    let h = harness(settings());
    let events = Arc::new(h.events);
    let n = 400;
    let mut tasks = Vec::new();
    for i in 0..n {
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            events
                .enqueue(&format!("r{i}"), "f", None, b"{}".to_vec(), None)
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = events.writer_stats();
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(stats.writes.load(std::sync::atomic::Ordering::Relaxed), n);
    assert!(
        commits * 4 <= n,
        "{n} concurrent events took {commits} commits: no group commit"
    );
    assert_eq!(
        events.scheduled(),
        n as usize,
        "every committed event is scheduled"
    );
    assert_eq!(h.store.list_events("f", 1000).unwrap().len(), n as usize);
}

#[tokio::test]
async fn event_invoke_configs_persist_and_list_by_qualifier() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gust.db");
    {
        let store = Arc::new(SqliteStore::open(&db).unwrap());
        let events = AsyncEvents::open(store, settings(), Region::default()).unwrap();
        events
            .put_config("f", "$LATEST", &req(r#"{"MaximumRetryAttempts":1}"#))
            .await
            .unwrap();
        events
            .put_config("f", "prod", &req(r#"{"MaximumEventAgeInSeconds":300}"#))
            .await
            .unwrap();
        let e = events
            .update_config("f", "beta", &req(r#"{"MaximumRetryAttempts":1}"#))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("doesn't have an EventInvokeConfig"),
            "{e}"
        );
    }
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    let events = AsyncEvents::open(store, settings(), Region::default()).unwrap();
    let got = events.get_config("f", "prod").unwrap();
    assert_eq!(got.maximum_event_age_in_seconds, Some(300));
    assert!(got.function_arn.ends_with(":function:f:prod"));
    let page = events.list_configs("f", None, Some(1)).unwrap();
    assert_eq!(page.function_event_invoke_configs.len(), 1);
    let next = events
        .list_configs("f", page.next_marker.as_deref(), Some(1))
        .unwrap();
    assert_eq!(next.function_event_invoke_configs.len(), 1);
    assert!(next.next_marker.is_none());
    events.delete_config("f", "prod").await.unwrap();
    assert!(events.get_config("f", "prod").is_err());
    events.forget_function("f").await.unwrap();
    assert!(events
        .list_configs("f", None, None)
        .unwrap()
        .function_event_invoke_configs
        .is_empty());
}

#[tokio::test]
async fn oversize_events_are_refused() {
    let h = harness(settings());
    let big = vec![b' '; gust_types::limits::ASYNC_PAYLOAD_MAX + 1];
    let e = h
        .events
        .enqueue("r", "f", None, big, None)
        .await
        .unwrap_err();
    assert!(matches!(e, CoreError::RequestTooLarge(_)));
    assert_eq!(h.events.scheduled(), 0);
}

/// The SQLite store with a switch that makes every write fail as a full disk does.
struct FullDisk {
    inner: Arc<SqliteStore>,
    full: std::sync::atomic::AtomicBool,
}

impl FullDisk {
    fn set_full(&self, full: bool) {
        self.full.store(full, std::sync::atomic::Ordering::SeqCst);
    }
}

impl EventStore for FullDisk {
    fn apply_events(
        &self,
        writes: &[gust_store::events::EventWrite],
    ) -> Result<Vec<i64>, gust_store::StoreError> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(gust_store::StoreError::Database(
                "database or disk is full".into(),
            ));
        }
        self.inner.apply_events(writes)
    }
    fn recover_events(&self) -> Result<Vec<(i64, i64)>, gust_store::StoreError> {
        self.inner.recover_events()
    }
    fn load_event(
        &self,
        id: i64,
    ) -> Result<Option<gust_store::events::StoredEvent>, gust_store::StoreError> {
        self.inner.load_event(id)
    }
    fn list_events(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<gust_store::events::EventSummary>, gust_store::StoreError> {
        self.inner.list_events(function, limit)
    }
    fn event_invoke_configs(
        &self,
    ) -> Result<Vec<gust_store::events::StoredInvokeConfig>, gust_store::StoreError> {
        self.inner.event_invoke_configs()
    }
    fn put_event_invoke_config(
        &self,
        config: &gust_store::events::StoredInvokeConfig,
    ) -> Result<(), gust_store::StoreError> {
        self.inner.put_event_invoke_config(config)
    }
    fn delete_event_invoke_config(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<usize, gust_store::StoreError> {
        self.inner.delete_event_invoke_config(function, qualifier)
    }
    fn queue_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<gust_store::events::StoredMessage>, gust_store::StoreError> {
        self.inner.queue_messages(queue, after, limit)
    }
    fn queues(&self) -> Result<Vec<(String, u64)>, gust_store::StoreError> {
        self.inner.queues()
    }
    fn purge_queue(&self, queue: &str) -> Result<usize, gust_store::StoreError> {
        self.inner.purge_queue(queue)
    }
}

#[tokio::test(start_paused = true)]
async fn an_outcome_that_could_not_be_stored_is_stored_once_the_disk_has_room() {
    let _spin = spin();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(&dir.path().join("gust.db")).unwrap());
    let disk = Arc::new(FullDisk {
        inner: sqlite.clone(),
        full: false.into(),
    });
    let events = AsyncEvents::open(disk.clone(), settings(), Region::default()).unwrap();
    let fake = Fake {
        gate: Some(Arc::new(tokio::sync::Semaphore::new(0))),
        ..Fake::default()
    };
    fake.plan(
        "bad",
        [function_error("boom"), function_error("boom again")],
    );
    events.start(fake.clone());
    for f in ["ok", "bad"] {
        events
            .enqueue(&format!("req-{f}"), f, None, b"{}".to_vec(), None)
            .await
            .unwrap();
    }
    // Both attempts run while the disk is full: neither outcome can be stored.
    disk.set_full(true);
    fake.gate.as_ref().unwrap().add_permits(2);
    eventually("both attempts", || {
        fake.calls("ok").len() + fake.calls("bad").len() == 2
    })
    .await;
    for _ in 0..20 {
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
    }
    let listed = |f: &str| sqlite.list_events(f, 10).unwrap()[0].clone();
    assert_eq!(
        listed("ok").status,
        EventStatus::Running,
        "the end was not stored"
    );
    let failures_while_full = events
        .writer_stats()
        .failures
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(failures_while_full > 2, "the outcomes were tried again");

    // Room again: the outcomes are stored without a restart, and only once.
    disk.set_full(false);
    tokio::time::advance(Duration::from_secs(5)).await;
    eventually("the success is recorded", || {
        listed("ok").status == EventStatus::Succeeded
    })
    .await;
    eventually("the retry is recorded", || {
        let e = listed("bad");
        e.status == EventStatus::Queued && e.attempts == 1
    })
    .await;
    assert_eq!(
        fake.calls("ok").len(),
        1,
        "a known outcome does not run again"
    );
    assert_eq!(
        listed("bad").last_error.as_deref(),
        Some("ValueError: boom")
    );

    // A restart runs nothing that already ended.
    events.shutdown().await;
    drop(events);
    let again = AsyncEvents::open(sqlite.clone(), settings(), Region::default()).unwrap();
    assert_eq!(again.scheduled(), 1, "only the event waiting for its retry");
}
