//! Layer versions in the SQLite store: one row per (layer, version) holding the
//! version's record as JSON, and one row per layer name holding the last version
//! number ever given, so that numbers are never reused after a deletion (as on AWS).
//! A layer's archive lives in the [`crate::ArchiveStore`] like function code.

use rusqlite::{params, OptionalExtension as _};
use serde::{Deserialize, Serialize};

use crate::sqlite::SqliteStore;
use crate::StoreError;

/// The schema step that adds the layer tables.
pub(crate) const MIGRATION: &str = "CREATE TABLE layer_names (
        name         TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL
    );
    CREATE TABLE layer_versions (
        name    TEXT NOT NULL,
        version INTEGER NOT NULL,
        record  TEXT NOT NULL, -- gust_store::layers::LayerVersion as JSON
        PRIMARY KEY (name, version)
    );";

/// One statement of a layer version's resource policy (AddLayerVersionPermission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStatement {
    /// `StatementId`.
    pub sid: String,
    /// `Action`, e.g. `lambda:GetLayerVersion`.
    pub action: String,
    /// `Principal`: an account id or `*`.
    pub principal: String,
    /// `OrganizationId`, when the grant is limited to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// Everything stored about one layer version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVersion {
    /// The layer's name.
    pub name: String,
    /// The version number; 0 until [`LayerStore::insert_layer_version`] gives one.
    pub version: u64,
    /// Free text.
    pub description: String,
    /// `LicenseInfo`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_info: Option<String>,
    /// `CompatibleRuntimes`, for filtering listings.
    #[serde(default)]
    pub compatible_runtimes: Vec<String>,
    /// `CompatibleArchitectures`, for filtering listings.
    #[serde(default)]
    pub compatible_architectures: Vec<String>,
    /// `CreatedDate`, in AWS's format.
    pub created_date: String,
    /// Base64 SHA-256 of the zip, as AWS reports CodeSha256.
    pub code_sha256: String,
    /// Hex SHA-256 of the zip: its key in the archive store.
    pub digest: String,
    /// Zipped size in bytes.
    pub code_size: u64,
    /// Unzipped size in bytes.
    pub unzipped_size: u64,
    /// The resource policy's statements, in the order they were added.
    #[serde(default)]
    pub policy: Vec<LayerStatement>,
    /// Changes with every policy change, for the `RevisionId` precondition.
    pub policy_revision: String,
}

/// Layer versions. The platform reads them from the store on every layer
/// operation (they are few and rarely read); it stores the archive before calling
/// [`LayerStore::insert_layer_version`].
pub trait LayerStore: Send + Sync {
    /// Stores `record` as the layer's next version (one more than any it ever had)
    /// and returns that number.
    fn insert_layer_version(&self, record: &LayerVersion) -> Result<u64, StoreError>;
    /// One version, if it exists.
    fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError>;
    /// Every version of every layer, in (name, version) order.
    fn list_layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError>;
    /// Replaces a version's policy if its `policy_revision` is still `expected`;
    /// `PreconditionFailed` when it changed, `Ok(false)` when the version is gone.
    fn update_layer_policy(
        &self,
        record: &LayerVersion,
        expected: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes one version; returns whether it existed. Its number stays used.
    fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool, StoreError>;
}

fn to_json(record: &LayerVersion) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| {
        StoreError::Database(format!(
            "encoding layer {}:{}: {e}",
            record.name, record.version
        ))
    })
}

fn from_json(text: &str) -> Result<LayerVersion, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Database(format!("decoding a layer version: {e}")))
}

impl LayerStore for SqliteStore {
    fn insert_layer_version(&self, record: &LayerVersion) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_version FROM layer_names WHERE name = ?1",
                params![record.name],
                |row| row.get(0),
            )
            .optional()?;
        let version = last.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO layer_names (name, last_version) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET last_version = excluded.last_version",
            params![record.name, version],
        )?;
        let mut stored = record.clone();
        stored.version = version as u64;
        tx.execute(
            "INSERT INTO layer_versions (name, version, record) VALUES (?1, ?2, ?3)",
            params![record.name, version, to_json(&stored)?],
        )?;
        tx.commit()?;
        Ok(version as u64)
    }

    fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM layer_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
                |row| row.get(0),
            )
            .optional()?;
        text.as_deref().map(from_json).transpose()
    }

    fn list_layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT record FROM layer_versions ORDER BY name, version")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|r| from_json(&r?)).collect()
    }

    fn update_layer_policy(
        &self,
        record: &LayerVersion,
        expected: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row(
                "SELECT record FROM layer_versions WHERE name = ?1 AND version = ?2",
                params![record.name, record.version as i64],
                |row| row.get(0),
            )
            .optional()?;
        let Some(current) = current else {
            return Ok(false);
        };
        if from_json(&current)?.policy_revision != expected {
            return Err(StoreError::PreconditionFailed(
                "The revision ID provided does not match the latest version of the policy".into(),
            ));
        }
        tx.execute(
            "UPDATE layer_versions SET record = ?3 WHERE name = ?1 AND version = ?2",
            params![record.name, record.version as i64, to_json(record)?],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool, StoreError> {
        let Ok(version) = i64::try_from(version) else {
            return Ok(false);
        };
        let n = self.conn().execute(
            "DELETE FROM layer_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> LayerVersion {
        LayerVersion {
            name: name.into(),
            version: 0,
            description: "d".into(),
            license_info: None,
            compatible_runtimes: vec!["python3.11".into()],
            compatible_architectures: vec![],
            created_date: "2026-01-01T00:00:00.000+0000".into(),
            code_sha256: "c2hh".into(),
            digest: "ab".repeat(32),
            code_size: 10,
            unzipped_size: 20,
            policy: vec![],
            policy_revision: "r1".into(),
        }
    }

    #[test]
    fn versions_count_up_per_layer_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gust.db")).unwrap();
        assert_eq!(store.insert_layer_version(&record("a")).unwrap(), 1);
        assert_eq!(store.insert_layer_version(&record("a")).unwrap(), 2);
        assert_eq!(store.insert_layer_version(&record("b")).unwrap(), 1);
        assert!(store.delete_layer_version("a", 2).unwrap());
        assert!(!store.delete_layer_version("a", 2).unwrap());
        assert_eq!(store.insert_layer_version(&record("a")).unwrap(), 3);
        let all: Vec<(String, u64)> = store
            .list_layer_versions()
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.version))
            .collect();
        assert_eq!(all, [("a".into(), 1), ("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(store.get_layer_version("a", 3).unwrap().unwrap().version, 3);
        assert_eq!(store.get_layer_version("a", 2).unwrap(), None);
        assert_eq!(store.get_layer_version("a", u64::MAX).unwrap(), None);
    }

    #[test]
    fn policy_updates_are_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gust.db")).unwrap();
        let v = store.insert_layer_version(&record("a")).unwrap();
        let mut r = store.get_layer_version("a", v).unwrap().unwrap();
        r.policy.push(LayerStatement {
            sid: "s".into(),
            action: "lambda:GetLayerVersion".into(),
            principal: "*".into(),
            organization_id: None,
        });
        r.policy_revision = "r2".into();
        assert!(matches!(
            store.update_layer_policy(&r, "stale"),
            Err(StoreError::PreconditionFailed(_))
        ));
        assert!(store.update_layer_policy(&r, "r1").unwrap());
        assert_eq!(store.get_layer_version("a", v).unwrap().unwrap(), r);
        store.delete_layer_version("a", v).unwrap();
        assert!(!store.update_layer_policy(&r, "r2").unwrap());
    }
}
