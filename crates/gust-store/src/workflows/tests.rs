use super::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gust.db")).unwrap();
    (dir, store)
}

fn machine(name: &str) -> MachineRecord {
    MachineRecord {
        arn: format!("arn:aws:states:us-east-1:000000000000:stateMachine:{name}"),
        name: name.into(),
        kind: "STANDARD".into(),
        definition: "{\"StartAt\": \"A\" , \"States\": {}}".into(),
        role_arn: "arn:aws:iam::000000000000:role/r".into(),
        created_ms: 1,
        updated_ms: 1,
        revision_id: "r1".into(),
        extra: "{}".into(),
    }
}

fn execution(machine: &MachineRecord, name: &str, started_ms: i64) -> ExecutionRecord {
    ExecutionRecord {
        arn: format!(
            "arn:aws:states:us-east-1:000000000000:execution:{}:{name}",
            machine.name
        ),
        machine_arn: machine.arn.clone(),
        name: name.into(),
        status: "RUNNING".into(),
        input: "{}".into(),
        output: None,
        error: None,
        cause: None,
        started_ms,
        stopped_ms: None,
        definition: machine.definition.clone(),
        role_arn: machine.role_arn.clone(),
        redrives: 0,
        redriven_ms: None,
        trace: None,
    }
}

fn event(id: i64, kind: &str) -> EventRecord {
    EventRecord {
        id,
        previous: id - 1,
        kind: kind.into(),
        ms: id,
        details: Some("{}".into()),
        step: Some(format!("/{id}")),
        note: None,
    }
}

#[test]
fn a_machine_keeps_its_definition_byte_for_byte_and_its_name_once() {
    let (_dir, s) = store();
    let m = machine("m");
    s.create_machine(&m).unwrap();
    assert_eq!(s.machine(&m.arn).unwrap().unwrap(), m);
    assert!(matches!(s.create_machine(&m), Err(StoreError::Conflict(_))));
    let mut changed = m.clone();
    changed.definition = "{}".into();
    changed.revision_id = "r2".into();
    assert!(s.update_machine(&changed, "stale").is_err());
    s.update_machine(&changed, "r1").unwrap();
    assert_eq!(s.machine(&m.arn).unwrap().unwrap().definition, "{}");
    assert_eq!(s.list_machines().unwrap().len(), 1);
    assert!(s.delete_machine(&m.arn).unwrap());
    assert!(!s.delete_machine(&m.arn).unwrap());
}

#[test]
fn nothing_is_appended_to_an_execution_after_it_stopped() {
    let (_dir, s) = store();
    let m = machine("m");
    s.create_machine(&m).unwrap();
    let e = execution(&m, "e1", 10);
    s.start_execution(&e, &[event(1, "ExecutionStarted")], &[])
        .unwrap();
    assert!(matches!(
        s.start_execution(&e, &[], &[]),
        Err(StoreError::Conflict(_))
    ));
    s.put_token("tok", &e.arn, "/2", 11).unwrap();
    assert_eq!(s.token("tok").unwrap(), Some((e.arn.clone(), "/2".into())));
    s.append(
        &e.arn,
        &[event(2, "PassStateEntered")],
        &ExecutionChange::None,
        &[],
    )
    .unwrap();
    assert_eq!(s.running_executions().unwrap().len(), 1);
    let stop = ExecutionChange::Stopped {
        status: "FAILED".into(),
        output: None,
        error: Some("E".into()),
        cause: Some("C".into()),
        stopped_ms: 12,
    };
    s.append(&e.arn, &[event(3, "ExecutionFailed")], &stop, &[])
        .unwrap();
    assert!(matches!(
        s.append(&e.arn, &[event(4, "X")], &ExecutionChange::None, &[]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.token("tok").unwrap(),
        None,
        "a stopped execution's tokens go"
    );
    let kinds: Vec<_> = s
        .events(&e.arn)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]
    );
    assert!(s.running_executions().unwrap().is_empty());
    let stored = s.execution(&e.arn).unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.error.as_deref()),
        ("FAILED", Some("E"))
    );

    s.redrive(&e.arn, &[event(4, "ExecutionRedriven")], 13)
        .unwrap();
    let stored = s.execution(&e.arn).unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.redrives), ("RUNNING", 1));
    assert!(
        s.redrive(&e.arn, &[], 14).is_err(),
        "a running execution is not redriven"
    );
}

#[test]
fn executions_list_newest_first_and_by_status() {
    let (_dir, s) = store();
    let m = machine("m");
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        s.start_execution(&execution(&m, name, i as i64), &[], &[])
            .unwrap();
    }
    let stop = ExecutionChange::Stopped {
        status: "SUCCEEDED".into(),
        output: Some("{}".into()),
        error: None,
        cause: None,
        stopped_ms: 5,
    };
    s.append(&execution(&m, "b", 1).arn, &[], &stop, &[])
        .unwrap();
    let names: Vec<_> = s
        .list_executions(&m.arn, None)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["c", "b", "a"]);
    let running: Vec<_> = s
        .list_executions(&m.arn, Some("RUNNING"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(running, ["c", "a"]);
}
