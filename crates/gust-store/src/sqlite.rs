//! The embedded [`FunctionStore`]: one SQLite file in WAL mode.
//!
//! Configurations are stored as JSON (one row per function version) next to the
//! columns the store queries on: the key and the revision id that makes updates a
//! compare-and-swap. The file is opened with `synchronous=FULL` because the
//! asynchronous-invocation queue will live in it too, and an accepted event must
//! survive a power loss.
//!
//! The schema is versioned with `PRAGMA user_version`: `MIGRATIONS` lists the
//! steps, and opening a file applies those it has not seen yet, each in its own
//! transaction. A file written by a newer gust is refused rather than guessed at.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gust_types::FunctionConfig;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension as _, TransactionBehavior};

use crate::{FunctionStore, StoreError};

/// The schema, one step per entry; step `i` takes `user_version` from `i` to `i + 1`.
/// Append only: a step that has shipped never changes.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE functions (
        name        TEXT NOT NULL,
        version     TEXT NOT NULL,
        config      TEXT NOT NULL, -- gust_types::FunctionConfig as JSON
        revision_id TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );",
    crate::settings::MIGRATION,
    crate::events::MIGRATION,
    crate::tags::MIGRATION,
    crate::buckets::MIGRATION,
    crate::events::TRACE_MIGRATION,
    crate::workflows::MIGRATION,
    crate::layers::MIGRATION,
];

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Function configurations in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    /// The one connection. SQLite serialises writers anyway, and management calls
    /// are rare next to invocations, which are served from memory.
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file (and its parent directory) and
    /// bringing the schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                context: format!("creating {}", parent.display()),
                source,
            })?;
        }
        crate::data_dir::private_database(path)?;
        let mut conn = Connection::open(path)
            .map_err(|e| StoreError::Database(format!("opening {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{} cannot use write-ahead logging (journal mode stays {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn, MIGRATIONS)
            .map_err(|e| StoreError::Database(format!("{}: {e}", path.display())))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock rolled its transaction back on unwind; the
        // connection itself is fine.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies the steps of `migrations` that the file has not seen yet.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    loop {
        // IMMEDIATE: two processes opening the same new file must not both migrate.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let known = migrations.len();
        let step = match usize::try_from(version) {
            Ok(v) if v == known => return Ok(()),
            Ok(v) if v < known => v,
            _ => {
                return Err(StoreError::Database(format!(
                    "the database has schema version {version}, newer than the {known} this \
                     gust knows; upgrade gust or open another data directory"
                )))
            }
        };
        tx.execute_batch(migrations[step])
            .map_err(|e| StoreError::Database(format!("schema migration {}: {e}", step + 1)))?;
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
        tracing::info!(version = step + 1, "migrated the function database");
    }
}

/// Serialises a configuration for its row.
fn to_json(config: &FunctionConfig) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| {
        StoreError::Database(format!("encoding {}:{}: {e}", config.name, config.version))
    })
}

/// Whether `e` says the primary key exists already.
fn is_duplicate_key(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation
            && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl FunctionStore for SqliteStore {
    fn list_functions(&self) -> Result<Vec<FunctionConfig>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, version, config FROM functions ORDER BY name, version")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut configs = Vec::new();
        for row in rows {
            let (name, version, json) = row?;
            let config = serde_json::from_str(&json).map_err(|e| {
                StoreError::Database(format!(
                    "the stored configuration of {name}:{version} is unreadable: {e}"
                ))
            })?;
            configs.push(config);
        }
        Ok(configs)
    }

    fn insert_function(&self, config: &FunctionConfig) -> Result<(), StoreError> {
        let json = to_json(config)?;
        let conn = self.conn();
        let result = conn.execute(
            "INSERT INTO functions (name, version, config, revision_id) VALUES (?1, ?2, ?3, ?4)",
            params![config.name, config.version, json, config.revision_id],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(StoreError::Conflict(if config.version == "$LATEST" {
                    // AWS's wording, ungrammatical as it is.
                    format!("Function already exist: {}", config.name)
                } else {
                    format!(
                        "Version {} of function {} already exists",
                        config.version, config.name
                    )
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn update_function(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let json = to_json(config)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT revision_id FROM functions WHERE name = ?1 AND version = ?2",
                params![config.name, config.version],
                |row| row.get(0),
            )
            .optional()?;
        match stored {
            None => Err(StoreError::Conflict(format!(
                "Function {}:{} was deleted while it was being updated",
                config.name, config.version
            ))),
            Some(stored) if stored != expected_revision => Err(StoreError::Conflict(
                "The Revision Id provided does not match the latest Revision Id. Call the \
                 GetFunction API to retrieve the latest Revision Id"
                    .into(),
            )),
            Some(_) => {
                tx.execute(
                    "UPDATE functions SET config = ?3, revision_id = ?4 WHERE name = ?1 AND version = ?2",
                    params![config.name, config.version, json, config.revision_id],
                )?;
                tx.commit()?;
                Ok(())
            }
        }
    }

    fn list_tags(&self) -> Result<crate::tags::AllTags, StoreError> {
        crate::tags::list(self)
    }

    fn put_tags(
        &self,
        function: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        crate::tags::put(self, function, tags)
    }

    fn delete_tags(&self, function: &str, keys: Option<&[String]>) -> Result<(), StoreError> {
        crate::tags::delete(self, function, keys)
    }

    fn delete_function(&self, name: &str, version: Option<&str>) -> Result<usize, StoreError> {
        let conn = self.conn();
        let deleted = match version {
            Some(version) => conn.execute(
                "DELETE FROM functions WHERE name = ?1 AND version = ?2",
                params![name, version],
            )?,
            None => conn.execute("DELETE FROM functions WHERE name = ?1", params![name])?,
        };
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests;
