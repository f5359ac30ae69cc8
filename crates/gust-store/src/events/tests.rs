use super::*;

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("gust.db")).unwrap()
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        request_id: format!("req-{n}"),
        function: "f".into(),
        qualifier: None,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
        accepted_ms: 1_000 + n,
        due_ms: 1_000 + n,
        trace: None,
    }
}

#[test]
fn a_batch_returns_ids_in_insert_order_and_is_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = store
        .apply_events(&[
            EventWrite::Insert(event(1)),
            EventWrite::Insert(event(2)),
            EventWrite::Insert(event(3)),
        ])
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);
    let loaded = store.load_event(ids[1]).unwrap().unwrap();
    assert_eq!(loaded.request_id, "req-2");
    assert_eq!(loaded.payload, b"{\"n\":2}");
    assert_eq!(loaded.status, EventStatus::Queued);
    assert_eq!(loaded.attempts, 0);
    assert!(store.load_event(ids[2] + 100).unwrap().is_none());
}

#[test]
fn a_failed_batch_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .conn()
        .execute_batch(
            "CREATE TRIGGER no_dlq BEFORE INSERT ON queue_messages \
        WHEN NEW.queue = 'broken' BEGIN SELECT RAISE(ABORT, 'broken queue'); END;",
        )
        .unwrap();
    let err = store.apply_events(&[
        EventWrite::Insert(event(1)),
        EventWrite::Message(NewMessage {
            queue: "broken".into(),
            message_id: "m".into(),
            sent_ms: 1,
            body: "{}".into(),
            attributes: "{}".into(),
        }),
    ]);
    assert!(err.is_err());
    assert!(
        store.recover_events().unwrap().is_empty(),
        "the insert rolled back too"
    );
}

#[test]
fn events_left_running_by_a_crash_are_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let store = open(&dir);
        let ids = store
            .apply_events(&[EventWrite::Insert(event(2)), EventWrite::Insert(event(1))])
            .unwrap();
        store
            .apply_events(&[EventWrite::Start {
                id: ids[0],
                attempts: 1,
            }])
            .unwrap();
        ids
    };
    // "Restart": a new store on the same file.
    let store = open(&dir);
    let pending = store.recover_events().unwrap();
    // Earliest due first: event(1) is due at 1001, event(2) at 1002.
    assert_eq!(pending, vec![(ids[1], 1001), (ids[0], 1002)]);
    let e = store.load_event(ids[0]).unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Queued);
    assert_eq!(e.attempts, 1, "the interrupted attempt still counts");
}

#[test]
fn requeue_finish_list_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = store
        .apply_events(&[EventWrite::Insert(event(1)), EventWrite::Insert(event(2))])
        .unwrap();
    let progress = EventProgress {
        attempts: 1,
        throttles: 2,
        last_error: Some("ValueError: boom".into()),
        last_response: Some(b"{\"errorMessage\":\"boom\"}".to_vec()),
        executed_version: Some("$LATEST".into()),
    };
    store
        .apply_events(&[
            EventWrite::Requeue {
                id: ids[0],
                due_ms: 5_000,
                progress: progress.clone(),
            },
            EventWrite::Finish {
                id: ids[1],
                status: EventStatus::Succeeded,
                progress: EventProgress {
                    attempts: 1,
                    ..Default::default()
                },
                destination: Some("arn:aws:sqs:us-east-1:000000000000:ok".into()),
                finished_ms: 9_000,
            },
        ])
        .unwrap();
    let e = store.load_event(ids[0]).unwrap().unwrap();
    assert_eq!((e.due_ms, e.attempts, e.throttles), (5_000, 1, 2));
    assert_eq!(e.last_response, progress.last_response);

    let listed = store.list_events("f", 10).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].request_id, "req-2", "newest first");
    assert_eq!(listed[0].status, EventStatus::Succeeded);
    assert_eq!(listed[0].finished_ms, Some(9_000));
    assert_eq!(listed[1].status, EventStatus::Queued);
    assert_eq!(listed[1].last_error.as_deref(), Some("ValueError: boom"));
    assert_eq!(store.list_events("f", 1).unwrap().len(), 1);
    assert!(store.list_events("other", 10).unwrap().is_empty());

    store
        .apply_events(&[EventWrite::Prune { before_ms: 10_000 }])
        .unwrap();
    let listed = store.list_events("f", 10).unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the finished event went, the queued one stayed"
    );
    assert_eq!(listed[0].request_id, "req-1");
}

#[test]
fn queues_keep_messages_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let msg = |q: &str, n: i64| {
        EventWrite::Message(NewMessage {
            queue: q.into(),
            message_id: format!("m{n}"),
            sent_ms: n,
            body: format!("body {n}"),
            attributes: "{}".into(),
        })
    };
    store
        .apply_events(&[msg("a", 1), msg("b", 2), msg("a", 3)])
        .unwrap();
    let a = store.queue_messages("a", 0, 10).unwrap();
    assert_eq!(
        a.iter()
            .map(|m| m.message.body.as_str())
            .collect::<Vec<_>>(),
        ["body 1", "body 3"]
    );
    let after = store.queue_messages("a", a[0].seq, 10).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(
        store.queues().unwrap(),
        vec![("a".to_string(), 2), ("b".to_string(), 1)]
    );
    assert_eq!(store.purge_queue("a").unwrap(), 2);
    assert_eq!(store.queues().unwrap(), vec![("b".to_string(), 1)]);
}

#[test]
fn invoke_configs_are_keyed_by_function_and_qualifier() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let cfg = |f: &str, q: &str, c: &str| StoredInvokeConfig {
        function: f.into(),
        qualifier: q.into(),
        config: c.into(),
    };
    store
        .put_event_invoke_config(&cfg("f", "$LATEST", "{}"))
        .unwrap();
    store
        .put_event_invoke_config(&cfg("f", "prod", "{\"a\":1}"))
        .unwrap();
    store
        .put_event_invoke_config(&cfg("f", "prod", "{\"a\":2}"))
        .unwrap();
    store
        .put_event_invoke_config(&cfg("g", "$LATEST", "{}"))
        .unwrap();
    let all = store.event_invoke_configs().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1], cfg("f", "prod", "{\"a\":2}"));
    assert_eq!(
        store.delete_event_invoke_config("f", Some("prod")).unwrap(),
        1
    );
    assert_eq!(
        store.delete_event_invoke_config("f", Some("prod")).unwrap(),
        0
    );
    assert_eq!(store.delete_event_invoke_config("g", None).unwrap(), 1);
    assert_eq!(
        store.event_invoke_configs().unwrap(),
        vec![cfg("f", "$LATEST", "{}")]
    );
}
