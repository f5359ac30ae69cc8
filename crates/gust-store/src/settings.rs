//! Per-function settings that are not part of a version's configuration: aliases,
//! the version counter, reserved and provisioned concurrency. One row per
//! (function, kind, key), the value as JSON, so new kinds need no migration.

use rusqlite::params;

use crate::sqlite::SqliteStore;
use crate::StoreError;

/// One stored setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The function's name.
    pub function: String,
    /// What the setting is: `alias`, `meta`, `concurrency`, `provisioned`, ...
    pub kind: String,
    /// Which one of its kind (an alias name, a qualifier; empty when unique).
    pub key: String,
    /// The value, JSON.
    pub value: String,
}

/// Per-function settings. The platform reads them all once at start-up
/// ([`SettingsStore::list_settings`]) and writes through on every change.
pub trait SettingsStore: Send + Sync {
    /// Every setting of every function.
    fn list_settings(&self) -> Result<Vec<Setting>, StoreError>;
    /// Inserts or replaces one setting.
    fn put_setting(&self, setting: &Setting) -> Result<(), StoreError>;
    /// Deletes one setting; returns whether it existed.
    fn delete_setting(&self, function: &str, kind: &str, key: &str) -> Result<bool, StoreError>;
    /// Deletes every setting of a function (when it is deleted).
    fn delete_function_settings(&self, function: &str) -> Result<(), StoreError>;
}

/// The schema step that adds the settings table.
pub(crate) const MIGRATION: &str = "CREATE TABLE function_settings (
        function TEXT NOT NULL,
        kind     TEXT NOT NULL,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (function, kind, key)
    );";

impl SettingsStore for SqliteStore {
    fn list_settings(&self) -> Result<Vec<Setting>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT function, kind, key, value FROM function_settings ORDER BY function, kind, key",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Setting {
                function: row.get(0)?,
                kind: row.get(1)?,
                key: row.get(2)?,
                value: row.get(3)?,
            })
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    fn put_setting(&self, s: &Setting) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO function_settings (function, kind, key, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (function, kind, key) DO UPDATE SET value = excluded.value",
            params![s.function, s.kind, s.key, s.value],
        )?;
        Ok(())
    }

    fn delete_setting(&self, function: &str, kind: &str, key: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM function_settings WHERE function = ?1 AND kind = ?2 AND key = ?3",
            params![function, kind, key],
        )?;
        Ok(n > 0)
    }

    fn delete_function_settings(&self, function: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM function_settings WHERE function = ?1",
            params![function],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gust.db");
        let store = SqliteStore::open(&path).unwrap();
        let alias = Setting {
            function: "f".into(),
            kind: "alias".into(),
            key: "prod".into(),
            value: r#"{"version":"1"}"#.into(),
        };
        store.put_setting(&alias).unwrap();
        store
            .put_setting(&Setting {
                value: r#"{"version":"2"}"#.into(),
                ..alias.clone()
            })
            .unwrap();
        store
            .put_setting(&Setting {
                function: "g".into(),
                kind: "meta".into(),
                key: String::new(),
                value: "{}".into(),
            })
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let all = store.list_settings().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].value, r#"{"version":"2"}"#);
        assert!(store.delete_setting("f", "alias", "prod").unwrap());
        assert!(!store.delete_setting("f", "alias", "prod").unwrap());
        store.delete_function_settings("g").unwrap();
        assert!(store.list_settings().unwrap().is_empty());
    }
}
