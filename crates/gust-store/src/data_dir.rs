//! The data directory's permissions. It holds `gust.db`, whose rows carry every
//! function's environment variables in plain text, and the code of every function:
//! other local users must be able neither to read the one nor to change the other.
//!
//! A directory gust creates is `0700`. An existing one keeps the mode its owner gave
//! it (it may be shared with a group on purpose), but gust warns when it lets others
//! in. The database and its `-wal` and `-shm` files are `0600` whatever the
//! directory's mode.

use std::fs::{self, DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use crate::StoreError;

/// Mode of a data directory gust creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the database and its companion files.
pub const DB_MODE: u32 = 0o600;

/// Creates the data directory (and missing parents) as [`DIR_MODE`], or checks an
/// existing one. Returns a warning to log when an existing directory lets other
/// users in.
pub fn prepare(path: &Path) -> Result<Option<String>, StoreError> {
    let io = |what: &str, source| StoreError::Io {
        context: format!("{what} the data directory {}", path.display()),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o777;
            Ok((mode & 0o077 != 0).then(|| {
                format!(
                    "the data directory {} is mode {mode:04o}: other local users may read \
                     gust's files (function code; the database itself is 0600). Run \
                     `chmod 700 {}` unless it is shared on purpose",
                    path.display(),
                    path.display()
                )
            }))
        }
        Ok(_) => Err(io(
            "opening",
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Parents are created as usual (0755 less the umask); only the data
            // directory itself must be private.
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| io("creating the parent of", e))?;
            }
            match DirBuilder::new().mode(DIR_MODE).create(path) {
                Ok(()) => {}
                // Another process made it in between: check it like any other.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return prepare(path),
                Err(e) => return Err(io("creating", e)),
            }
            // The umask may have taken bits away, never added any; set it exactly.
            fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| io("setting the mode of", e))?;
            Ok(None)
        }
        Err(e) => Err(io("opening", e)),
    }
}

/// Makes the database at `db` and its `-wal`, `-shm` and `-journal` files
/// [`DB_MODE`], creating an empty database file first if there is none: SQLite gives
/// the files it creates next to a database the database file's mode.
pub(crate) fn private_database(db: &Path) -> Result<(), StoreError> {
    let io = |p: &Path, source| StoreError::Io {
        context: format!("making {} private", p.display()),
        source,
    };
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(DB_MODE)
        .open(db)
        .map_err(|e| io(db, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        match fs::set_permissions(path, fs::Permissions::from_mode(DB_MODE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(path, e)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_directory_is_private_and_its_parents_are_made() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("a/b/data");
        assert_eq!(prepare(&data).unwrap(), None);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(prepare(&data).unwrap(), None, "a second start is quiet");
    }

    #[test]
    fn an_open_existing_directory_is_kept_but_warned_about() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        let warning = prepare(&data).unwrap().expect("a warning");
        assert!(
            warning.contains("0755") && warning.contains("chmod 700"),
            "{warning}"
        );
        assert_eq!(mode(&data), 0o755, "left as its owner made it");
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::write(&data, "").unwrap();
        assert!(prepare(&data).is_err());
    }

    #[test]
    fn the_database_and_its_companions_become_0600() {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("gust.db");
        let wal = root.path().join("gust.db-wal");
        fs::write(&db, "").unwrap();
        fs::write(&wal, "").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o666)).unwrap();
        private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }
}
