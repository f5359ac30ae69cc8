//! Writes an archive into a fresh directory, following its [`Plan`](super::plan::Plan).
//!
//! The order is what makes it safe. Directories and files come first, each created
//! anew (`O_EXCL`) inside a directory gust made a moment ago; symlinks come last, so
//! no write can go through one. Bytes are counted as they are decompressed, and the
//! extraction stops the moment the total passes the limit, whatever the entries
//! declared. Data is flushed before permissions are applied, and directories get
//! theirs deepest first, so a read-only entry never blocks its own extraction.

use std::fs::{DirBuilder, File, Permissions};
use std::io::{Cursor, ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use zip::ZipArchive;

use super::plan::{self, quoted, too_big, unzip_error, Archive, Node};
use super::{io_error, Limits};
use crate::StoreError;

/// Size of the copy buffer.
const CHUNK: usize = 64 * 1024;

/// Validates `zip` and extracts it into `dest`, which must not exist yet. Returns
/// the bytes written (file contents plus symlink targets). On error, `dest` may hold
/// part of the tree: the caller extracts into a staging directory it removes.
pub(super) fn extract(zip: &[u8], dest: &Path, limits: &Limits) -> Result<u64, StoreError> {
    let mut archive = ZipArchive::new(Cursor::new(zip))
        .map_err(|e| unzip_error(format!("It is not a valid zip file ({e}).")))?;
    let plan = plan::plan(&mut archive, zip, limits)?;

    create_dir(dest)?;
    let mut written = 0u64;
    let mut buf = vec![0u8; CHUNK];
    for (path, node) in &plan.nodes {
        let full = join(dest, path);
        match node {
            Node::Dir { .. } => create_dir(&full)?,
            Node::File { index, mtime, .. } => {
                let mut copy = Copy {
                    archive: &mut archive,
                    buf: &mut buf,
                    written: &mut written,
                    limits,
                };
                copy.file(*index, &full, *mtime)?;
            }
            Node::Symlink { target } => {
                written = written.saturating_add(target.len() as u64);
                if written > limits.unzipped_max {
                    return Err(too_big(limits.unzipped_max));
                }
            }
        }
    }

    for (path, node) in &plan.nodes {
        if let Node::File { mode, .. } = node {
            let full = join(dest, path);
            let file = File::open(&full).map_err(|e| io(&full, e))?;
            file.sync_all().map_err(|e| io(&full, e))?;
            file.set_permissions(Permissions::from_mode(*mode))
                .map_err(|e| io(&full, e))?;
        }
    }
    for (path, node) in &plan.nodes {
        if let Node::Symlink { target } = node {
            let full = join(dest, path);
            std::os::unix::fs::symlink(target, &full).map_err(|e| io(&full, e))?;
        }
    }
    for (path, node) in plan.nodes.iter().rev() {
        if let Node::Dir { mode, .. } = node {
            finish_dir(&join(dest, path), *mode)?;
        }
    }
    finish_dir(dest, 0o755)?;
    Ok(written)
}

/// Copies entries out of the archive, counting every byte against the limit.
struct Copy<'a, 'z> {
    archive: &'a mut Archive<'z>,
    buf: &'a mut [u8],
    /// Bytes written so far by the whole extraction.
    written: &'a mut u64,
    limits: &'a Limits,
}

impl Copy<'_, '_> {
    /// Writes the entry at `index` to a new file at `path`, dated `mtime`.
    fn file(
        &mut self,
        index: usize,
        path: &Path,
        mtime: Option<SystemTime>,
    ) -> Result<(), StoreError> {
        let mut entry = self
            .archive
            .by_index(index)
            .map_err(|e| unzip_error(format!("Entry {} cannot be read ({e}).", index + 1)))?;
        let name = quoted(entry.name());
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io(path, e))?;
        loop {
            let n = match entry.read(self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Bad deflate data and checksum mismatches surface here.
                Err(e) => return Err(unzip_error(format!("Entry {name} is corrupt ({e})."))),
            };
            *self.written = self.written.saturating_add(n as u64);
            if *self.written > self.limits.unzipped_max {
                return Err(too_big(self.limits.unzipped_max));
            }
            out.write_all(&self.buf[..n]).map_err(|e| io(path, e))?;
        }
        if let Some(mtime) = mtime {
            out.set_modified(mtime).map_err(|e| io(path, e))?;
        }
        Ok(())
    }
}

/// Creates a directory that only gust can enter until [`finish_dir`] runs.
fn create_dir(path: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| io(path, e))
}

/// Flushes a directory's entries and gives it its final permissions.
fn finish_dir(path: &Path, mode: u32) -> Result<(), StoreError> {
    let dir = File::open(path).map_err(|e| io(path, e))?;
    dir.sync_all().map_err(|e| io(path, e))?;
    dir.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| io(path, e))
}

/// `dest` joined with a planned path's components.
fn join(dest: &Path, path: &[String]) -> PathBuf {
    let mut full = dest.to_path_buf();
    full.extend(path);
    full
}

/// The error for an extraction step on `path` that failed with `e`. A path the
/// host cannot hold (ENAMETOOLONG, or ELOOP from a too deep tree) is the archive's
/// fault and answered as such, without the host's path; anything else is gust's, a
/// [`StoreError::Io`] that names the path for the server's log.
fn io(path: &Path, e: std::io::Error) -> StoreError {
    if matches!(
        e.raw_os_error(),
        Some(libc_codes::ENAMETOOLONG | libc_codes::ELOOP)
    ) {
        tracing::info!(path = %path.display(), error = %e, "an archive's path is too long for this host");
        return unzip_error(
            "A path in the archive is too long to extract on this host; use shorter or \
             fewer nested directory names.",
        );
    }
    io_error(format!("extracting to {}", path.display()), e)
}

/// The errno values [`io`] tells apart (the same on every Linux architecture).
mod libc_codes {
    pub const ELOOP: i32 = 40;
    pub const ENAMETOOLONG: i32 = 36;
}
