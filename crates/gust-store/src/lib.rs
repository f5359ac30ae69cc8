//! Durable state of gust, behind traits so the embedded default (SQLite plus an archive
//! directory) and the cluster backends can be swapped (DESIGN.md §3).
//!
//! # Layout
//! - [`FunctionStore`]: function configurations, keyed by (name, version).
//! - [`ArchiveStore`]: zipped code archives and their extracted trees, keyed by digest.
//! - [`sqlite`]: the embedded [`FunctionStore`] (SQLite in WAL mode).
//! - [`tags`]: function tags, part of the [`FunctionStore`].
//! - [`archive`]: the directory [`ArchiveStore`], with safe zip extraction.
//! - [`buckets`]: buckets and the metadata of their objects and multipart uploads
//!   ([`buckets::BucketStore`], SQLite), written with their events in one commit.
//! - [`layers`]: layer versions and their policies ([`layers::LayerStore`], SQLite);
//!   their archives are kept by the [`ArchiveStore`] like function code.
//! - [`data_dir`]: the data directory's permissions (0700; the database 0600).
//! - [`events`]: the asynchronous-invocation queue, event-invoke configs and the
//!   built-in message queues ([`events::EventStore`], SQLite).
//! - [`workflows`]: state machines, executions and their histories
//!   ([`workflows::WorkflowStore`], SQLite), the history being the engine's record.
//!
//! # Call order
//! At start-up the platform calls [`FunctionStore::list_functions`] once and serves
//! reads from memory afterwards; it calls the write methods on every management
//! operation and only then updates its in-memory registry. Archives are stored with
//! [`ArchiveStore::put`] before the configuration that names them is written, and
//! [`ArchiveStore::remove_unused`] runs after deletes.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use gust_types::FunctionConfig;

pub mod archive;
pub mod buckets;
pub mod data_dir;
pub mod events;
pub mod layers;
pub mod settings;
pub mod sqlite;
pub mod tags;
pub mod workflows;

pub use archive::{layer_set_key, DirArchiveStore, Limits};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: {0}
    #[error("database error: {0}")]
    Database(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What gust was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The archive is not a valid, safe zip file; the message says why.
    #[error("{0}")]
    InvalidArchive(String),
    /// The row exists already (insert) or changed under the caller (update).
    #[error("{0}")]
    Conflict(String),
    /// A conditional write's condition did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<StoreError> for gust_types::CoreError {
    /// The error a client sees. A file operation's error names a path under the data
    /// directory: that detail goes to gust's log, and the client reads only what
    /// failed and the OS's reason (say, no space left on the device).
    fn from(e: StoreError) -> Self {
        use gust_types::CoreError;
        match e {
            StoreError::InvalidArchive(m) => CoreError::InvalidZipFile(m),
            StoreError::Conflict(m) | StoreError::PreconditionFailed(m) => {
                CoreError::ResourceConflict(m)
            }
            StoreError::Io { context, source } => {
                tracing::error!(%context, error = %source, "a file operation in the data directory failed");
                CoreError::Internal(format!(
                    "gust could not write to its data directory: {} (gust's log has the details)",
                    os_reason(&source)
                ))
            }
            StoreError::Database(m) => {
                tracing::error!(error = %m, "a database operation failed");
                CoreError::Internal(format!(
                    "database error: {}",
                    gust_types::without_host_paths(&m)
                ))
            }
        }
    }
}

/// The OS's reason for `e`, never a path: errors that wrap one (as `tempfile`'s do)
/// are reduced to their kind.
fn os_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => e.kind().to_string(),
    }
}

/// Function configurations, keyed by (name, version). Version `$LATEST` is the
/// mutable one; published versions are written once.
pub trait FunctionStore: Send + Sync {
    /// Every stored configuration, all versions, in (name, version) order.
    fn list_functions(&self) -> Result<Vec<FunctionConfig>, StoreError>;
    /// Inserts a new (name, version); `Conflict` if it exists.
    fn insert_function(&self, config: &FunctionConfig) -> Result<(), StoreError>;
    /// Replaces (name, version) if its stored `revision_id` equals `expected_revision`;
    /// `Conflict` otherwise (the row changed or vanished).
    fn update_function(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError>;
    /// Deletes one version, or every version when `version` is `None`. Returns how
    /// many rows went.
    fn delete_function(&self, name: &str, version: Option<&str>) -> Result<usize, StoreError>;
    /// Every function's tags (read once at start-up, like the configurations).
    fn list_tags(&self) -> Result<tags::AllTags, StoreError>;
    /// Sets tags on a function: keys it has get the new values, others are added.
    fn put_tags(
        &self,
        function: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StoreError>;
    /// Removes the given keys from a function's tags (absent ones are no error), or
    /// every tag when `keys` is `None` (when the function is deleted).
    fn delete_tags(&self, function: &str, keys: Option<&[String]>) -> Result<(), StoreError>;
}

/// What [`ArchiveStore::put`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArchive {
    /// Hex SHA-256 of the zip: its key.
    pub digest: String,
    /// Base64 SHA-256 of the zip, as AWS reports CodeSha256.
    pub sha256_base64: String,
    /// Zipped size in bytes.
    pub size: u64,
    /// Total unzipped size in bytes.
    pub unzipped_size: u64,
}

/// Zipped archives and their extracted code trees.
pub trait ArchiveStore: Send + Sync {
    /// Validates, stores and extracts a zip archive. Storing the same bytes twice is
    /// cheap and returns the same digest. Nothing is left behind when it fails.
    fn put(&self, zip: &[u8]) -> Result<StoredArchive, StoreError>;
    /// The zip file's path, for GetFunction's Code.Location.
    fn zip_path(&self, digest: &str) -> PathBuf;
    /// The extracted tree, mounted read-only at `/var/task`.
    fn code_dir(&self, digest: &str) -> PathBuf;
    /// Total unzipped size of a stored archive, in bytes.
    fn unzipped_size(&self, digest: &str) -> Result<u64, StoreError>;
    /// Where the merged tree of the layer archives `layers` (hex digests, in order)
    /// is, once [`ArchiveStore::build_opt`] has built it: the instance's `/opt`.
    fn opt_dir(&self, layers: &[String]) -> PathBuf;
    /// Builds (or finds, and marks fresh) the merged tree of `layers`: their
    /// contents in order, a later layer's file replacing an earlier one's at the
    /// same path. Every archive must be stored.
    fn build_opt(&self, layers: &[String]) -> Result<PathBuf, StoreError>;
    /// Removes every archive whose digest, and every merged tree whose
    /// [`layer_set_key`], is not in `live`.
    fn remove_unused(&self, live: &std::collections::HashSet<String>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use gust_types::CoreError;

    use super::*;

    #[test]
    fn errors_for_clients_name_no_host_path() {
        let full = StoreError::Io {
            context: "creating a staging directory in /srv/gust/archives/tmp".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        assert!(
            full.to_string().contains("/srv/gust"),
            "the log keeps the path"
        );
        let client = CoreError::from(full).to_string();
        assert_eq!(
            client,
            "gust could not write to its data directory: No space left on device (os error 28) \
             (gust's log has the details)"
        );
        let wrapped = StoreError::Io {
            context: "writing /srv/gust/archives/zips/x.zip".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "permission denied at path \"/srv/gust/archives/tmp/put-1\"",
            ),
        };
        let client = CoreError::from(wrapped).to_string();
        assert!(!client.contains('/'), "{client}");
        let db = StoreError::Database("opening /srv/gust/gust.db: disk I/O error".into());
        assert_eq!(
            CoreError::from(db).to_string(),
            "database error: opening <path>: disk I/O error"
        );
    }
}
