//! The directory [`ArchiveStore`], with safe zip extraction.
//!
//! # Layout on disk
//! ```text
//! <root>/zips/<hex digest>.zip   the uploaded zip, byte for byte (GetFunction's Code.Location)
//! <root>/code/<hex digest>/      the extracted tree, mounted read-only at /var/task
//! <root>/opt/<set key>/          the merged tree of a list of layers, mounted at /opt
//! <root>/tmp/put-XXXXXX/         one put in flight: its tree and a copy of its zip
//! ```
//! A put extracts into its own directory under `tmp/`, flushes it to disk, then renames
//! the zip into `zips/` and the finished tree into `code/`. A reader therefore never
//! sees half an archive, a failed put leaves nothing behind, and `code/<digest>` exists
//! only once `zips/<digest>.zip` does, which is what makes a second put of the same
//! bytes a cheap existence check.
//!
//! # Module layout
//! - `plan`: reads the zip's central directory and decides, before a byte is
//!   written, what the tree will hold; every rule that needs no decompression (names,
//!   entry types, counts, declared sizes, symlink targets) is enforced there.
//! - `links`: resolves symlink targets inside the archive, as the kernel would.
//! - `extract`: writes a plan into a fresh directory, counting the bytes it
//!   actually decompresses, and never writing through a symlink.
//! - `merge`: builds the merged tree of a list of layer archives (`opt/`).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::{ArchiveStore, StoreError, StoredArchive};

mod extract;
mod links;
mod merge;
mod plan;
mod tidy;

pub use merge::set_key as layer_set_key;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;

/// Subdirectory holding the uploaded zips.
const ZIPS: &str = "zips";
/// Subdirectory holding the extracted trees.
const CODE: &str = "code";
/// Subdirectory holding the merged trees of layer sets.
const OPT: &str = "opt";
/// Subdirectory holding puts in flight.
const TMP: &str = "tmp";
/// Name prefix of a put's staging directory under `tmp/`.
const STAGING_PREFIX: &str = "put-";
/// How old an unknown staging directory must be before a sweep removes it: younger
/// ones may belong to a put in flight in another process.
const STAGING_GRACE: Duration = Duration::from_secs(60);
/// How long a stored archive survives [`ArchiveStore::remove_unused`] by default.
const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// What one archive may hold. The defaults are AWS Lambda's, from
/// [`gust_types::limits`]; tests use smaller ones so that a zip bomb need not write
/// 250 MB to prove it is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest zip accepted, in bytes.
    pub zipped_max: u64,
    /// Largest total of bytes written while extracting (file contents plus symlink
    /// targets), counted as they are decompressed: declared sizes can lie.
    pub unzipped_max: u64,
    /// Most entries (files, directories, symlinks) an archive may list.
    pub entries_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        use gust_types::limits;
        Limits {
            zipped_max: limits::ZIPPED_CODE_MAX as u64,
            unzipped_max: limits::UNZIPPED_CODE_MAX,
            entries_max: limits::ARCHIVE_ENTRIES_MAX,
        }
    }
}

/// Code archives in a directory: zips and their extracted trees, keyed by the hex
/// SHA-256 of the zip.
#[derive(Debug)]
pub struct DirArchiveStore {
    /// The directory holding `zips/`, `code/` and `tmp/`.
    root: PathBuf,
    /// What one archive may hold.
    limits: Limits,
    /// How long a freshly stored (or re-stored) archive survives `remove_unused`
    /// without being live: the platform puts an archive *before* it writes the
    /// configuration naming it, so a sweep running in between must not take it.
    grace: Duration,
    /// Serialises publishing (the final renames, or refreshing an existing archive)
    /// against `remove_unused`, so a sweep never deletes what a put is returning.
    publish: Mutex<()>,
    /// Staging directories of puts in flight in this process, which a sweep skips
    /// however long the extraction takes.
    in_flight: Mutex<HashSet<PathBuf>>,
}

impl DirArchiveStore {
    /// Opens (creating if needed) the archive directory at `root`, with AWS's limits.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::with_limits(root, Limits::default())
    }

    /// Opens the archive directory at `root` with the given limits. Staging
    /// directories left by a crash (older than a minute) are removed.
    pub fn with_limits(root: &Path, limits: Limits) -> Result<Self, StoreError> {
        for dir in [ZIPS, CODE, OPT, TMP] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(|e| io_error(format!("creating {}", path.display()), e))?;
        }
        let store = DirArchiveStore {
            root: root.to_path_buf(),
            limits,
            grace: DEFAULT_GRACE,
            publish: Mutex::new(()),
            in_flight: Mutex::new(HashSet::new()),
        };
        store.sweep_staging(SystemTime::now())?;
        tidy::make_private_once(root, &root.join(ZIPS), &root.join(CODE))?;
        Ok(store)
    }

    /// Sets how long a freshly stored archive survives [`ArchiveStore::remove_unused`]
    /// without being live (default one minute). Zero makes sweeps immediate.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock_publish(&self) -> MutexGuard<'_, ()> {
        // The guarded state lives on disk; a panic elsewhere leaves nothing to repair.
        self.publish.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashSet<PathBuf>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// If the archive is stored already, makes sure its zip is there too, marks both
    /// as fresh for the sweep's grace period and returns true.
    fn refresh_existing(&self, digest: &str, zip: &[u8]) -> Result<bool, StoreError> {
        let code = self.code_dir(digest);
        if !fs::symlink_metadata(&code).is_ok_and(|m| m.is_dir()) {
            return Ok(false);
        }
        let zip_path = self.zip_path(digest);
        if fs::symlink_metadata(&zip_path).is_err() {
            // Someone removed the zip by hand: put it back, atomically.
            let staging = self.staging_dir()?;
            let staged = staging.path().join("archive.zip");
            tidy::write_synced(&staged, zip)?;
            tidy::rename(&staged, &zip_path)?;
            tidy::sync_dir(&self.root.join(ZIPS))?;
        }
        tidy::touch(&code)?;
        tidy::touch(&zip_path)?;
        Ok(true)
    }

    /// A new, empty staging directory under `tmp/`, removed when dropped.
    fn staging_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.root.join(TMP);
        tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&tmp)
            .map_err(|e| {
                io_error(
                    format!("creating a staging directory in {}", tmp.display()),
                    e,
                )
            })
    }

    /// Extracts `zip` into a staging directory and moves the result into place.
    fn extract_and_publish(&self, digest: &str, zip: &[u8]) -> Result<u64, StoreError> {
        let staging = self.staging_dir()?;
        self.in_flight().insert(staging.path().to_path_buf());
        let result = self.stage_and_publish(staging.path(), digest, zip);
        self.in_flight().remove(staging.path());
        if let Err(e) = staging.close() {
            tracing::warn!(error = %e, "could not remove a staging directory");
        }
        result
    }

    fn stage_and_publish(
        &self,
        staging: &Path,
        digest: &str,
        zip: &[u8],
    ) -> Result<u64, StoreError> {
        let tree = staging.join("tree");
        let unzipped_size = extract::extract(zip, &tree, &self.limits)?;
        let staged_zip = staging.join("archive.zip");
        tidy::write_synced(&staged_zip, zip)?;

        let _guard = self.lock_publish();
        let zip_path = self.zip_path(digest);
        let code = self.code_dir(digest);
        tidy::rename(&staged_zip, &zip_path)?;
        if let Err(e) = fs::rename(&tree, &code) {
            if fs::symlink_metadata(&code).is_ok_and(|m| m.is_dir()) {
                // Another process stored the same bytes first; its tree is ours.
                tracing::debug!(digest, "archive stored concurrently");
            } else {
                // Keep the invariant: no zip in `zips/` without its tree in `code/`.
                let _ = fs::remove_file(&zip_path);
                return Err(io_error(
                    format!("moving the extracted tree to {}", code.display()),
                    e,
                ));
            }
        }
        tidy::touch(&code)?;
        tidy::sync_dir(&self.root.join(ZIPS))?;
        tidy::sync_dir(&self.root.join(CODE))?;
        Ok(unzipped_size)
    }

    /// Removes staging directories older than [`STAGING_GRACE`] that no put of this
    /// process is using. Callers other than `with_limits` hold the publish lock.
    fn sweep_staging(&self, now: SystemTime) -> Result<(), StoreError> {
        let in_flight = self.in_flight().clone();
        let mut first_error = None;
        for entry in tidy::list(&self.root.join(TMP))? {
            if in_flight.contains(&entry) || !tidy::older_than(&entry, now, STAGING_GRACE) {
                continue;
            }
            if let Err(e) = tidy::remove_any(&entry) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl ArchiveStore for DirArchiveStore {
    fn put(&self, zip: &[u8]) -> Result<StoredArchive, StoreError> {
        let size = zip.len() as u64;
        if size > self.limits.zipped_max {
            return Err(StoreError::InvalidArchive(format!(
                "Zipped size must be smaller than {} bytes",
                self.limits.zipped_max
            )));
        }
        let raw_digest = Sha256::digest(zip);
        let digest = hex(&raw_digest);
        let sha256_base64 = base64::engine::general_purpose::STANDARD.encode(raw_digest);

        let existing = {
            let _guard = self.lock_publish();
            self.refresh_existing(&digest, zip)?
        };
        let unzipped_size = if existing {
            tidy::tree_size(&self.code_dir(&digest))?
        } else {
            self.extract_and_publish(&digest, zip)?
        };
        Ok(StoredArchive {
            digest,
            sha256_base64,
            size,
            unzipped_size,
        })
    }

    fn zip_path(&self, digest: &str) -> PathBuf {
        self.root.join(ZIPS).join(format!("{digest}.zip"))
    }

    fn code_dir(&self, digest: &str) -> PathBuf {
        self.root.join(CODE).join(digest)
    }

    fn unzipped_size(&self, digest: &str) -> Result<u64, StoreError> {
        tidy::tree_size(&self.code_dir(digest))
    }

    fn opt_dir(&self, layers: &[String]) -> PathBuf {
        self.root.join(OPT).join(merge::set_key(layers))
    }

    fn build_opt(&self, layers: &[String]) -> Result<PathBuf, StoreError> {
        let dest = self.opt_dir(layers);
        {
            let _guard = self.lock_publish();
            if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                tidy::touch(&dest)?;
                return Ok(dest);
            }
        }
        let trees: Vec<PathBuf> = layers.iter().map(|d| self.code_dir(d)).collect();
        if let Some(missing) = trees.iter().find(|t| !t.is_dir()) {
            return Err(io_error(
                format!("reading the layer tree {}", missing.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        let staging = self.staging_dir()?;
        self.in_flight().insert(staging.path().to_path_buf());
        let tree = staging.path().join("tree");
        let result = merge::merge(&trees, &tree).and_then(|()| {
            let _guard = self.lock_publish();
            if let Err(e) = fs::rename(&tree, &dest) {
                if !fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                    return Err(io_error(
                        format!("moving the merged tree to {}", dest.display()),
                        e,
                    ));
                }
            }
            tidy::touch(&dest)?;
            tidy::sync_dir(&self.root.join(OPT))
        });
        self.in_flight().remove(staging.path());
        if let Err(e) = staging.close() {
            tracing::warn!(error = %e, "could not remove a staging directory");
        }
        result.map(|()| dest)
    }

    /// Removes every archive and merged layer tree (by its [`crate::layer_set_key`]) not in
    /// `live` and older than the grace period (see
    /// [`DirArchiveStore::with_grace`]), and staging directories left by crashes.
    /// Names that are not digests are left alone. Keeps going past a failure and
    /// returns the first one.
    fn remove_unused(&self, live: &HashSet<String>) -> Result<(), StoreError> {
        let _guard = self.lock_publish();
        let now = SystemTime::now();
        let mut first_error = None;
        let dead = |name: Option<&str>| name.is_some_and(|d| is_digest(d) && !live.contains(d));
        // Trees first: a tree must never outlive its zip.
        for path in tidy::list(&self.root.join(CODE))? {
            let name = path.file_name().and_then(|n| n.to_str());
            if dead(name) && tidy::older_than(&path, now, self.grace) {
                if let Err(e) = tidy::remove_any(&path) {
                    first_error.get_or_insert(e);
                }
            }
        }
        for path in tidy::list(&self.root.join(ZIPS))? {
            let name = path.file_name().and_then(|n| n.to_str());
            let digest = name.and_then(|n| n.strip_suffix(".zip"));
            let tree_kept = digest.is_some_and(|d| self.code_dir(d).exists());
            if dead(digest) && !tree_kept && tidy::older_than(&path, now, self.grace) {
                if let Err(e) = tidy::remove_any(&path) {
                    first_error.get_or_insert(e);
                }
            }
        }
        for path in tidy::list(&self.root.join(OPT))? {
            let name = path.file_name().and_then(|n| n.to_str());
            if dead(name) && tidy::older_than(&path, now, self.grace) {
                if let Err(e) = tidy::remove_any(&path) {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.sweep_staging(now) {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether `name` looks like a hex SHA-256 digest, the only names a sweep removes.
fn is_digest(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A [`StoreError::Io`] saying what gust was doing.
fn io_error(context: String, source: std::io::Error) -> StoreError {
    StoreError::Io { context, source }
}
