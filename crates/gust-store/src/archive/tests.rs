//! What a user of the archive store relies on: trees as uploaded, modes kept, puts
//! idempotent, sweeps that take only what is dead.

use std::collections::HashSet;
use std::fs;
use std::io::{Cursor, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::{DateTime, ZipWriter};

use super::testkit::{assert_clean, build, make_dos, set_mode, small_store, E};
use super::*;

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn put_extracts_nested_trees_and_keeps_the_exec_bit() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let zip = build(&[
        E::File("bootstrap", b"#!/bin/sh\necho hi\n", Some(0o755)),
        E::Dir("lib/"),
        E::File("lib/deep/er/mod.py", b"x = 1\n", Some(0o644)),
        E::File("readme.txt", b"hello", None),
    ]);
    let stored = store.put(&zip).unwrap();

    let raw = Sha256::digest(&zip);
    assert_eq!(stored.digest, hex(&raw));
    assert_eq!(
        stored.sha256_base64,
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    assert_eq!(stored.size, zip.len() as u64);
    assert_eq!(stored.unzipped_size, 18 + 6 + 5);

    let code = store.code_dir(&stored.digest);
    assert_eq!(
        fs::read(code.join("lib/deep/er/mod.py")).unwrap(),
        b"x = 1\n"
    );
    assert_eq!(fs::read(code.join("readme.txt")).unwrap(), b"hello");
    assert_eq!(mode_of(&code.join("bootstrap")), 0o755);
    assert_eq!(mode_of(&code.join("lib/deep/er/mod.py")), 0o644);
    assert_eq!(
        mode_of(&code.join("lib/deep")),
        0o755,
        "implied directories"
    );
    assert_eq!(mode_of(&code), 0o755);
    assert_eq!(fs::read(store.zip_path(&stored.digest)).unwrap(), zip);
    assert!(fs::read_dir(root.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn putting_the_same_bytes_again_is_cheap_and_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let zip = build(&[E::File("index.py", b"def handler(e, c): pass\n", None)]);
    let first = store.put(&zip).unwrap();
    let inode = fs::metadata(store.code_dir(&first.digest)).unwrap().ino();

    assert_eq!(store.put(&zip).unwrap(), first);
    let again = fs::metadata(store.code_dir(&first.digest)).unwrap().ino();
    assert_eq!(inode, again, "the tree was not extracted a second time");

    // A zip removed by hand comes back.
    fs::remove_file(store.zip_path(&first.digest)).unwrap();
    assert_eq!(store.put(&zip).unwrap(), first);
    assert_eq!(fs::read(store.zip_path(&first.digest)).unwrap(), zip);
}

#[test]
fn entries_without_a_unix_mode_get_0644_and_0755() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let mut zip = build(&[E::Dir("pkg/"), E::File("pkg/a.py", b"a", Some(0o600))]);
    make_dos(&mut zip, 0);
    make_dos(&mut zip, 1);
    let code = store.code_dir(&store.put(&zip).unwrap().digest);
    assert_eq!(mode_of(&code.join("pkg")), 0o755);
    assert_eq!(mode_of(&code.join("pkg/a.py")), 0o644);
}

#[test]
fn setuid_setgid_and_sticky_bits_are_stripped() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let mut zip = build(&[E::Dir("d/"), E::File("d/run", b"x", None)]);
    set_mode(&mut zip, 0, 0o041_777);
    set_mode(&mut zip, 1, 0o106_755);
    let code = store.code_dir(&store.put(&zip).unwrap().digest);
    assert_eq!(mode_of(&code.join("d")), 0o755);
    assert_eq!(mode_of(&code.join("d/run")), 0o755);
}

#[test]
fn no_extracted_file_or_directory_is_group_or_world_writable() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let mut zip = build(&[
        E::Dir("shared/"),
        E::File("shared/app.py", b"x = 1\n", Some(0o666)),
        E::File("shared/run", b"#!/bin/sh\n", Some(0o777)),
        E::File("private.py", b"y = 2\n", Some(0o600)),
    ]);
    set_mode(&mut zip, 0, 0o040_777);
    let stored = store.put(&zip).unwrap();
    let code = store.code_dir(&stored.digest);
    assert_eq!(mode_of(&code.join("shared")), 0o755);
    assert_eq!(mode_of(&code.join("shared/app.py")), 0o644);
    assert_eq!(mode_of(&code.join("shared/run")), 0o755);
    assert_eq!(
        mode_of(&code.join("private.py")),
        0o600,
        "read bits stay as archived, so a 0600 file fails as on Lambda"
    );
    assert_eq!(
        mode_of(&store.zip_path(&stored.digest)),
        0o600,
        "the stored zip is gust's alone"
    );
}

#[test]
fn read_only_directories_and_files_extract_and_can_be_removed() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path())
        .unwrap()
        .with_grace(Duration::ZERO);
    let mut zip = build(&[E::Dir("ro/"), E::File("ro/secret", b"s", Some(0o400))]);
    set_mode(&mut zip, 0, 0o040_555);
    let stored = store.put(&zip).unwrap();
    let code = store.code_dir(&stored.digest);
    assert_eq!(
        mode_of(&code.join("ro")),
        0o755,
        "owner rwx is kept so gust can remove it"
    );
    assert_eq!(mode_of(&code.join("ro/secret")), 0o400);
    store.remove_unused(&HashSet::new()).unwrap();
    assert_clean(root.path());
}

#[test]
fn modification_times_are_kept() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let when = DateTime::from_date_and_time(2020, 1, 2, 3, 4, 6).unwrap();
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(
        "app.py",
        SimpleFileOptions::default().last_modified_time(when),
    )
    .unwrap();
    w.write_all(b"pass\n").unwrap();
    let zip = w.finish().unwrap().into_inner();
    let code = store.code_dir(&store.put(&zip).unwrap().digest);
    let mtime = fs::metadata(code.join("app.py"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_246)
    );
}

#[test]
fn symlinks_inside_the_tree_are_created_as_links() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let zip = build(&[
        E::File("lib/v1/mod.py", b"v = 1\n", None),
        E::Link("lib/current", "v1"),
        E::Link("mod.py", "lib/current/mod.py"),
    ]);
    let stored = store.put(&zip).unwrap();
    let code = store.code_dir(&stored.digest);
    assert_eq!(
        fs::read_link(code.join("lib/current")).unwrap(),
        Path::new("v1")
    );
    assert_eq!(fs::read(code.join("mod.py")).unwrap(), b"v = 1\n");
    assert_eq!(stored.unzipped_size, 6 + 2 + 18);
    assert_eq!(
        store.put(&zip).unwrap(),
        stored,
        "the tree's size is counted alike"
    );
}

#[test]
fn backslashes_separate_directories() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let zip = build(&[E::File("pkg\\mod.py", b"m", None)]);
    let code = store.code_dir(&store.put(&zip).unwrap().digest);
    assert_eq!(fs::read(code.join("pkg/mod.py")).unwrap(), b"m");
}

#[test]
fn remove_unused_keeps_live_and_fresh_archives() {
    let root = tempfile::tempdir().unwrap();
    let live_zip = build(&[E::File("a.py", b"a", None)]);
    let dead_zip = build(&[E::File("b.py", b"b", None)]);

    let store = DirArchiveStore::open(root.path()).unwrap();
    let live = store.put(&live_zip).unwrap().digest;
    let dead = store.put(&dead_zip).unwrap().digest;
    let keep = HashSet::from([live.clone()]);

    // Within the grace period a put's archive survives: its configuration may not
    // be written yet.
    store.remove_unused(&keep).unwrap();
    assert!(store.code_dir(&dead).exists());

    let store = store.with_grace(Duration::ZERO);
    fs::write(root.path().join("code/not-a-digest"), b"mine").unwrap();
    store.remove_unused(&keep).unwrap();
    assert!(!store.code_dir(&dead).exists());
    assert!(!store.zip_path(&dead).exists());
    assert!(store.code_dir(&live).join("a.py").exists());
    assert!(store.zip_path(&live).exists());
    assert!(
        root.path().join("code/not-a-digest").exists(),
        "unknown names are left alone"
    );
}

#[test]
fn stale_staging_directories_are_swept_and_fresh_ones_kept() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let stale = root.path().join("tmp/put-crashed");
    let fresh = root.path().join("tmp/put-inflight");
    fs::create_dir_all(stale.join("tree/x")).unwrap();
    fs::create_dir_all(&fresh).unwrap();
    let old = SystemTime::now() - Duration::from_secs(120);
    fs::File::open(&stale).unwrap().set_modified(old).unwrap();

    store.remove_unused(&HashSet::new()).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists());

    // Opening sweeps too.
    fs::File::open(&fresh).unwrap().set_modified(old).unwrap();
    drop(DirArchiveStore::open(root.path()).unwrap());
    assert!(!fresh.exists());
}

#[test]
fn zips_over_the_limit_are_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let store = small_store(root.path());
    let err = store.put(&vec![0u8; 64 * 1024 + 1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Zipped size must be smaller than 65536 bytes"
    );
    assert_clean(root.path());
}

#[test]
fn archives_an_older_gust_left_writable_are_made_private_once() {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let stored = store
        .put(&build(&[
            E::Dir("d/"),
            E::File("d/app.py", b"x", Some(0o644)),
        ]))
        .unwrap();
    drop(store);
    // What an older gust left: a world-writable tree and a world-readable zip.
    let code = root.path().join("code").join(&stored.digest);
    let zip = root
        .path()
        .join("zips")
        .join(format!("{}.zip", stored.digest));
    fs::set_permissions(code.join("d"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(code.join("d/app.py"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(&zip, fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(root.path().join(tidy::PRIVATE_MARK)).unwrap();

    DirArchiveStore::open(root.path()).unwrap();
    assert_eq!(mode_of(&code.join("d")), 0o755);
    assert_eq!(mode_of(&code.join("d/app.py")), 0o644);
    assert_eq!(mode_of(&zip), 0o600);

    // Once: a later start leaves what it finds.
    fs::set_permissions(code.join("d/app.py"), fs::Permissions::from_mode(0o666)).unwrap();
    DirArchiveStore::open(root.path()).unwrap();
    assert_eq!(mode_of(&code.join("d/app.py")), 0o666);
}
