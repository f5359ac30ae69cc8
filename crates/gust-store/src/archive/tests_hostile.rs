//! Archives built to hurt: every one is refused with a message that says why, and
//! leaves nothing behind.

use super::testkit::{assert_clean, build, central, declare_size, local, set_mode, small_store, E};
use super::*;

/// Puts `zip` into a small-limits store, expects a refusal mentioning `needle`, and
/// checks that nothing was left behind.
fn refused(zip: &[u8], needle: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    let store = small_store(root.path());
    let err = store.put(zip).unwrap_err();
    let message = err.to_string();
    eprintln!("refused: {message}");
    assert!(matches!(err, StoreError::InvalidArchive(_)), "{err:?}");
    assert!(
        message.contains(needle),
        "expected {needle:?} in {message:?}"
    );
    assert_clean(root.path());
    message
}

const PREFIX: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

#[test]
fn garbage_is_not_a_zip() {
    let message = refused(
        b"this is not a zip file at all",
        "It is not a valid zip file",
    );
    assert!(message.starts_with(PREFIX), "{message}");
    refused(b"", "It is not a valid zip file");
}

#[test]
fn truncated_zips_are_refused() {
    let zip = build(&[
        E::File("a.py", &[b'a'; 1000], None),
        E::File("b.py", b"b", None),
    ]);
    refused(&zip[..zip.len() / 2], "It is not a valid zip file");
    // Central directory intact, but an entry's header damaged.
    let mut damaged = zip.clone();
    let start = local(&zip, 1);
    damaged[start..start + 4].copy_from_slice(b"XXXX");
    let message = refused(&damaged, "Entry 2 cannot be read");
    assert!(message.starts_with(PREFIX), "{message}");
}

#[test]
fn corrupt_data_fails_the_checksum() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("a.txt", stored).unwrap();
    std::io::Write::write_all(&mut w, b"hello, world").unwrap();
    let mut zip = w.finish().unwrap().into_inner();
    let data = zip.windows(5).position(|w| w == b"hello").unwrap();
    zip[data] = b'j';
    refused(&zip, "is corrupt");
}

#[test]
fn zip_slip_names_are_refused() {
    for (name, why) in [
        ("../x", "\"..\" component"),
        ("a/../../x", "\"..\" component"),
        ("a/../b", "\"..\" component"),
        ("..\\x", "\"..\" component"),
        ("/etc/x", "absolute path"),
        ("\\etc\\x", "absolute path"),
        ("C:/Windows/x", "drive letter"),
        ("a\0b", "NUL byte"),
    ] {
        let zip = build(&[E::File("ok.py", b"ok", None), E::File(name, b"evil", None)]);
        let message = refused(&zip, why);
        assert!(message.starts_with(PREFIX), "{message}");
    }
}

#[test]
fn escaping_symlinks_are_refused() {
    for (target, why) in [
        ("/etc/passwd", "absolute path"),
        ("../../x", "points outside"),
        ("..", "points outside"),
        ("sub/../../x", "points outside"),
    ] {
        let zip = build(&[E::File("ok.py", b"ok", None), E::Link("link", target)]);
        refused(&zip, why);
    }
    // Through another link: `up` is the root, so `up/..` is above it.
    let zip = build(&[
        E::File("ok.py", b"ok", None),
        E::Link("sub/up", ".."),
        E::Link("sub/link", "up/../x"),
    ]);
    refused(&zip, "\"sub/link\" points outside");
}

#[test]
fn nothing_is_written_through_a_symlink() {
    let zip = build(&[
        E::File("ok.py", b"ok", None),
        E::Link("a", "."),
        E::File("a/x", b"through the link", None),
    ]);
    refused(&zip, "which is a symbolic link");
}

#[test]
fn clashing_entries_are_refused() {
    let twice = build(&[E::File("a/b", b"1", None), E::File("a\\b", b"2", None)]);
    refused(&twice, "appears more than once");
    let inside_file = build(&[E::File("a", b"1", None), E::File("a/b", b"2", None)]);
    refused(&inside_file, "which is a file");
    let file_over_dir = build(&[E::File("a/b", b"1", None), E::File("a", b"2", None)]);
    refused(&file_over_dir, "other entries are inside it");
}

#[test]
fn special_files_are_refused() {
    let mut zip = build(&[E::File("ok.py", b"ok", None), E::File("fifo", b"", None)]);
    set_mode(&mut zip, 1, 0o010_644);
    refused(&zip, "device, FIFO or socket");
}

#[test]
fn encrypted_entries_are_refused() {
    let mut zip = build(&[E::File("secret.py", b"s", None)]);
    let (c, l) = (central(&zip, 0), local(&zip, 0));
    zip[c + 8] |= 1;
    zip[l + 6] |= 1;
    refused(&zip, "is encrypted");
}

#[test]
fn a_zip_bomb_is_stopped_by_the_bytes_it_writes() {
    // 4 MiB of zeros deflate to a few KiB; the entry claims to hold 100 bytes.
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let mut zip = build(&[E::File("bomb", &zeros, None)]);
    assert!(zip.len() < 64 * 1024);
    declare_size(&mut zip, 0, 100);
    let message = refused(&zip, "Unzipped size must be smaller than 1048576 bytes");
    assert_eq!(message, "Unzipped size must be smaller than 1048576 bytes");
}

#[test]
fn honest_sizes_over_the_limit_are_refused_before_extracting() {
    let zeros = vec![0u8; 600 * 1024];
    let zip = build(&[E::File("a", &zeros, None), E::File("b", &zeros, None)]);
    refused(&zip, "Unzipped size must be smaller than");
}

#[test]
fn too_many_entries_are_refused() {
    let names: Vec<String> = (0..9).map(|i| format!("f{i}.py")).collect();
    let entries: Vec<E<'_>> = names.iter().map(|n| E::File(n, b"x", None)).collect();
    refused(
        &build(&entries),
        "The archive has 9 entries; at most 8 are allowed.",
    );
}

#[test]
fn archives_without_files_are_refused() {
    let message = refused(&build(&[]), "Uploaded file must be a non-empty zip");
    assert_eq!(message, "Uploaded file must be a non-empty zip");
    refused(
        &build(&[E::Dir("empty/")]),
        "Uploaded file must be a non-empty zip",
    );
}

#[test]
fn a_name_listed_twice_is_refused() {
    // The zip writer will not repeat a name: write two, then rename the second.
    let mut zip = build(&[
        E::File("a.py", b"first", None),
        E::File("b.py", b"second", None),
    ]);
    for at in [central(&zip, 1) + 46, local(&zip, 1) + 30] {
        assert_eq!(&zip[at..at + 4], b"b.py");
        zip[at..at + 4].copy_from_slice(b"a.py");
    }
    refused(&zip, "lists 1 names more than once");
}

/// Puts `zip` into a store, expects a refusal as an invalid archive, and checks the
/// message names no path of the host.
fn refused_without_host_paths(zip: &[u8], needle: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = DirArchiveStore::open(root.path()).unwrap();
    let err = store.put(zip).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::InvalidArchive(_)), "{err:?}");
    assert!(message.starts_with(PREFIX), "{message}");
    assert!(
        message.contains(needle),
        "expected {needle:?} in {message:?}"
    );
    let host = root.path().to_str().unwrap();
    assert!(!message.contains(host), "{message}");
    assert!(message.len() < 600, "{} bytes: {message}", message.len());
    assert_clean(root.path());
}

#[test]
fn thousands_of_nested_directories_are_refused_as_the_archive_s_fault() {
    let name = format!("{}app.py", "d/".repeat(2_100));
    let zip = build(&[E::File(&name, b"x = 1\n", None)]);
    refused_without_host_paths(&zip, "paths in /var/task can be at most 4085 bytes");
}

#[test]
fn a_4_kb_chain_of_long_names_is_refused_as_the_archive_s_fault() {
    let long = "n".repeat(255);
    let name = format!("{}/app.py", [long.as_str(); 16].join("/"));
    let zip = build(&[E::File(&name, b"x = 1\n", None)]);
    refused_without_host_paths(&zip, "paths in /var/task can be at most 4085 bytes");
}

#[test]
fn a_path_that_fits_var_task_but_not_the_host_is_refused_without_the_host_path() {
    // 4,085 bytes: allowed inside /var/task, too long below gust's data directory.
    let long = "n".repeat(255);
    let name = format!("{}/{}", [long.as_str(); 15].join("/"), "t".repeat(245));
    assert_eq!(name.len(), plan::PATH_MAX_IN_TASK);
    let zip = build(&[E::File(&name, b"x = 1\n", None)]);
    refused_without_host_paths(&zip, "too long to extract on this host");
}
