//! Function tags in the SQLite store: one row per (function, key). Tags belong to
//! the function, not to a version, and go when it is deleted.

use std::collections::BTreeMap;

use rusqlite::params;

use crate::sqlite::SqliteStore;
use crate::StoreError;

/// The schema step that adds the tags table.
pub(crate) const MIGRATION: &str = "CREATE TABLE function_tags (
        function TEXT NOT NULL,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (function, key)
    );";

/// Every function's tags, by function name.
pub type AllTags = BTreeMap<String, BTreeMap<String, String>>;

pub(crate) fn list(store: &SqliteStore) -> Result<AllTags, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached("SELECT function, key, value FROM function_tags ORDER BY function, key")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut all = AllTags::new();
    for row in rows {
        let (function, key, value) = row?;
        all.entry(function).or_default().insert(key, value);
    }
    Ok(all)
}

pub(crate) fn put(
    store: &SqliteStore,
    function: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let mut conn = store.conn();
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO function_tags (function, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (function, key) DO UPDATE SET value = excluded.value",
        )?;
        for (key, value) in tags {
            stmt.execute(params![function, key, value])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn delete(
    store: &SqliteStore,
    function: &str,
    keys: Option<&[String]>,
) -> Result<(), StoreError> {
    let mut conn = store.conn();
    match keys {
        None => {
            conn.execute(
                "DELETE FROM function_tags WHERE function = ?1",
                params![function],
            )?;
        }
        Some(keys) => {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx
                    .prepare_cached("DELETE FROM function_tags WHERE function = ?1 AND key = ?2")?;
                for key in keys {
                    stmt.execute(params![function, key])?;
                }
            }
            tx.commit()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FunctionStore as _;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_are_set_replaced_removed_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gust.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .put_tags("f", &tags(&[("team", "a"), ("env", "dev")]))
                .unwrap();
            store.put_tags("g", &tags(&[("team", "b")])).unwrap();
            store.put_tags("f", &tags(&[("env", "prod")])).unwrap();
            store
                .delete_tags("f", Some(&["team".to_string(), "absent".to_string()]))
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let all = store.list_tags().unwrap();
        assert_eq!(all["f"], tags(&[("env", "prod")]));
        assert_eq!(all["g"], tags(&[("team", "b")]));
        store.delete_tags("g", None).unwrap();
        assert!(!store.list_tags().unwrap().contains_key("g"));
    }
}
