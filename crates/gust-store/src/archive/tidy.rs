//! Small file-system helpers of the archive store: durable writes and renames,
//! freshness marks and sweeps. Each turns an OS error into a [`StoreError::Io`] that
//! names the path.

use std::fs::{self, File};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::io_error;
use crate::StoreError;

/// Writes `bytes` to a new file at `path`, readable by gust alone, and flushes it
/// to disk.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let context = || format!("writing {}", path.display());
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(context(), e))?;
    file.write_all(bytes).map_err(|e| io_error(context(), e))?;
    file.sync_all().map_err(|e| io_error(context(), e))
}

/// Renames `from` to `to`, replacing a file at `to`.
pub(super) fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::rename(from, to)
        .map_err(|e| io_error(format!("moving {} to {}", from.display(), to.display()), e))
}

/// Flushes a directory's entries to disk, so renames into it survive a power loss.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(format!("flushing {}", dir.display()), e))
}

/// Sets the modification time of a file or directory to now: the mark the sweep's
/// grace period is measured from.
pub(super) fn touch(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .map_err(|e| io_error(format!("marking {} as fresh", path.display()), e))
}

/// The paths of a directory's entries.
pub(super) fn list(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let context = || format!("listing {}", dir.display());
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(context(), e))? {
        paths.push(entry.map_err(|e| io_error(context(), e))?.path());
    }
    Ok(paths)
}

/// Whether `path` was last modified at least `age` before `now`. A path whose time
/// cannot be read (it vanished) or lies in the future counts as young.
pub(super) fn older_than(path: &Path, now: SystemTime, age: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| now.duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed >= age)
}

/// Removes a file, symlink or directory tree (never following symlinks). A path that
/// is already gone is not an error.
pub(super) fn remove_any(path: &Path) -> Result<(), StoreError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(io_error(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Bytes an extracted tree holds, counted as extraction counts them: file contents
/// plus symlink targets.
pub(super) fn tree_size(root: &Path) -> Result<u64, StoreError> {
    let mut total = 0u64;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for path in list(&dir)? {
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| io_error(format!("reading {}", path.display()), e))?;
            if meta.is_dir() {
                pending.push(path);
            } else {
                total = total.saturating_add(meta.len());
            }
        }
    }
    Ok(total)
}

/// The file whose presence says [`make_private_once`] has run on an archive root.
pub(super) const PRIVATE_MARK: &str = ".modes-private";

/// Brings archives stored by an older gust to today's modes, once per archive
/// root: zips `0600`, and no group- or world-writable file or directory in the
/// extracted trees (older versions kept an archive's `0777` and `0666`). Symlinks
/// are not followed. A mark file records that it ran, so later starts do not walk
/// every tree again.
pub(super) fn make_private_once(root: &Path, zips: &Path, code: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mark = root.join(PRIVATE_MARK);
    if fs::symlink_metadata(&mark).is_ok() {
        return Ok(());
    }
    let chmod = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(format!("changing the mode of {}", path.display()), e))
    };
    for zip in list(zips)? {
        if fs::symlink_metadata(&zip).is_ok_and(|m| m.is_file()) {
            chmod(&zip, 0o600)?;
        }
    }
    let mut pending = list(code)?;
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| io_error(format!("reading {}", path.display()), e))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            chmod(&path, mode & !0o022)?;
        }
        if meta.is_dir() {
            pending.extend(list(&path)?);
        }
    }
    write_synced(&mark, b"archives use private modes\n")
}
