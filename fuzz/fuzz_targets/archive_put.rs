//! Feeds arbitrary bytes to `DirArchiveStore::put` and checks what must hold whatever
//! the input: a refused archive leaves nothing behind; an accepted one is complete,
//! stays inside its directory and is stored again unchanged.

#![no_main]

use std::fs;
use std::path::Path;

use gust_store::{ArchiveStore, DirArchiveStore, Limits, StoreError};
use libfuzzer_sys::fuzz_target;

/// Small limits, so that a bomb the fuzzer finds costs milliseconds, not 250 MB.
const LIMITS: Limits = Limits { zipped_max: 1 << 20, unzipped_max: 4 << 20, entries_max: 512 };

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().expect("a temporary directory");
    let store = DirArchiveStore::with_limits(root.path(), LIMITS).expect("opening the store");
    match store.put(data) {
        Ok(stored) => {
            let code = store.code_dir(&stored.digest);
            assert_eq!(fs::read(store.zip_path(&stored.digest)).expect("the zip"), data);
            assert!(stored.unzipped_size <= LIMITS.unzipped_max);
            stays_inside(&code);
            assert!(empty(&root.path().join("tmp")), "a staging directory was left behind");
            assert_eq!(store.put(data).expect("a second put"), stored);
        }
        // Too long a path for the OS is the one I/O error an archive can cause.
        Err(StoreError::InvalidArchive(_) | StoreError::Io { .. }) => {
            for dir in ["zips", "code", "tmp"] {
                assert!(empty(&root.path().join(dir)), "a failed put left files in {dir}/");
            }
        }
        Err(other) => panic!("unexpected error: {other:?}"),
    }
});

fn empty(dir: &Path) -> bool {
    fs::read_dir(dir).expect("listing a store directory").next().is_none()
}

/// Asserts that every symlink under `code` that resolves at all resolves inside it.
fn stays_inside(code: &Path) {
    let code = fs::canonicalize(code).expect("the code directory");
    let mut pending = vec![code.clone()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("listing the tree") {
            let path = entry.expect("a tree entry").path();
            let meta = fs::symlink_metadata(&path).expect("an entry's metadata");
            if meta.is_dir() {
                pending.push(path);
            } else if meta.file_type().is_symlink() {
                if let Ok(resolved) = fs::canonicalize(&path) {
                    assert!(resolved.starts_with(&code), "{path:?} resolves to {resolved:?}");
                }
            }
        }
    }
}
