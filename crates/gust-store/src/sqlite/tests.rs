use std::collections::BTreeMap;

use gust_types::Runtime;

use super::*;

fn config(name: &str, version: &str, revision: &str) -> FunctionConfig {
    FunctionConfig {
        name: name.into(),
        version: version.into(),
        runtime: Runtime::Python311,
        handler: Some("app.handler".into()),
        memory_mb: 128,
        timeout_s: 3,
        ephemeral_mb: 512,
        environment: BTreeMap::from([("STAGE".into(), "test".into())]),
        description: "a test function".into(),
        role: "arn:aws:iam::000000000000:role/test".into(),
        code_sha256: "c2hh".into(),
        code_digest: "ab".repeat(32),
        code_size: 42,
        last_modified: "2024-01-01T00:00:00.000+0000".into(),
        revision_id: revision.into(),
        dead_letter_arn: None,
        layers: Vec::new(),
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("data/gust.db")).unwrap()
}

#[test]
fn insert_list_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert!(store.list_functions().unwrap().is_empty());

    let latest = config("b", "$LATEST", "r1");
    store.insert_function(&latest).unwrap();
    store.insert_function(&config("b", "1", "r1")).unwrap();
    store
        .insert_function(&config("a", "$LATEST", "r0"))
        .unwrap();
    let listed: Vec<(String, String)> = store
        .list_functions()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.version))
        .collect();
    let expected = [("a", "$LATEST"), ("b", "$LATEST"), ("b", "1")];
    assert_eq!(listed, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));

    let mut updated = latest.clone();
    updated.memory_mb = 1024;
    updated.revision_id = "r2".into();
    store.update_function(&updated, "r1").unwrap();
    let stored = store.list_functions().unwrap();
    assert_eq!(stored[1], updated);

    assert_eq!(store.delete_function("b", Some("1")).unwrap(), 1);
    assert_eq!(store.delete_function("b", Some("1")).unwrap(), 0);
    store.insert_function(&config("b", "2", "r1")).unwrap();
    assert_eq!(store.delete_function("b", None).unwrap(), 2);
    let names: Vec<String> = store
        .list_functions()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a"]);
}

#[test]
fn inserting_twice_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .insert_function(&config("f", "$LATEST", "r1"))
        .unwrap();
    let err = store
        .insert_function(&config("f", "$LATEST", "r9"))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == "Function already exist: f"),
        "{err:?}"
    );
    store.insert_function(&config("f", "1", "r1")).unwrap();
    let err = store.insert_function(&config("f", "1", "r1")).unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("Version 1 of function f")),
        "{err:?}"
    );
}

#[test]
fn update_is_a_compare_and_swap_on_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .insert_function(&config("f", "$LATEST", "r1"))
        .unwrap();

    let mut first = config("f", "$LATEST", "r2");
    first.timeout_s = 10;
    store.update_function(&first, "r1").unwrap();

    // A second writer that read r1 loses, and changes nothing.
    let mut second = config("f", "$LATEST", "r3");
    second.timeout_s = 20;
    let err = store.update_function(&second, "r1").unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("Revision Id")),
        "{err:?}"
    );
    assert_eq!(store.list_functions().unwrap(), [first]);

    store.delete_function("f", None).unwrap();
    let err = store.update_function(&second, "r2").unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("was deleted")),
        "{err:?}"
    );
    assert!(store.list_functions().unwrap().is_empty());
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let saved = config("f", "$LATEST", "r1");
    {
        let store = open(&dir);
        store.insert_function(&saved).unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.list_functions().unwrap(), [saved]);
}

#[test]
fn the_file_uses_wal_with_full_sync_and_a_versioned_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let conn = store.conn();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gust.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn migrations_run_once_each_in_order() {
    let mut conn = Connection::open_in_memory().unwrap();
    let steps = ["CREATE TABLE t (x INTEGER);", "INSERT INTO t VALUES (1);"];
    migrate(&mut conn, &steps[..1]).unwrap();
    migrate(&mut conn, &steps).unwrap();
    migrate(&mut conn, &steps).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn the_database_and_its_wal_are_readable_by_gust_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .insert_function(&config("secret", "$LATEST", "r1"))
        .unwrap();
    let data = dir.path().join("data");
    let mut seen = Vec::new();
    for name in ["gust.db", "gust.db-wal", "gust.db-shm"] {
        let path = data.join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        seen.push((name, mode & 0o777));
    }
    assert_eq!(
        seen,
        [
            ("gust.db", 0o600),
            ("gust.db-wal", 0o600),
            ("gust.db-shm", 0o600)
        ]
    );
}
