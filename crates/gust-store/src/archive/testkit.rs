//! Helpers for the archive tests: zips built in memory, byte patches that forge what
//! the writer refuses to write, and a check that a failed put left nothing behind.

use std::io::{Cursor, Write as _};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{DirArchiveStore, Limits};

/// One entry of a test zip.
pub(super) enum E<'a> {
    /// A deflated file with optional unix permission bits.
    File(&'a str, &'a [u8], Option<u32>),
    /// A directory.
    Dir(&'a str),
    /// A symbolic link and its target.
    Link(&'a str, &'a str),
}

/// A zip holding `entries`, in order.
pub(super) fn build(entries: &[E<'_>]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let base = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            E::File(name, data, mode) => {
                let options = mode.map_or(base, |m| base.unix_permissions(m));
                w.start_file(*name, options).unwrap();
                w.write_all(data).unwrap();
            }
            E::Dir(name) => w.add_directory(*name, base).unwrap(),
            E::Link(name, target) => w.add_symlink(*name, *target, base).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// Offsets of every `signature` in `zip` (test data never contains one by chance).
fn find(zip: &[u8], signature: &[u8; 4]) -> Vec<usize> {
    zip.windows(4)
        .enumerate()
        .filter(|(_, w)| w == signature)
        .map(|(i, _)| i)
        .collect()
}

/// Offset of the central directory header of entry `n`.
pub(super) fn central(zip: &[u8], n: usize) -> usize {
    find(zip, b"PK\x01\x02")[n]
}

/// Offset of the local header of entry `n`.
pub(super) fn local(zip: &[u8], n: usize) -> usize {
    find(zip, b"PK\x03\x04")[n]
}

/// Overwrites the little-endian u32 at `at`.
pub(super) fn put_u32(zip: &mut [u8], at: usize, value: u32) {
    zip[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Sets entry `n`'s unix mode (file type and all permission bits, as the writer
/// would not).
pub(super) fn set_mode(zip: &mut [u8], n: usize, mode: u32) {
    let at = central(zip, n);
    put_u32(zip, at + 38, mode << 16);
}

/// Makes entry `n` look as if a DOS/Windows tool made it, with no unix mode.
pub(super) fn make_dos(zip: &mut [u8], n: usize) {
    let at = central(zip, n);
    zip[at + 5] = 0;
    put_u32(zip, at + 38, 0);
}

/// Makes entry `n` claim an uncompressed size of `size` (a zip bomb lies so).
pub(super) fn declare_size(zip: &mut [u8], n: usize, size: u32) {
    let (c, l) = (central(zip, n), local(zip, n));
    put_u32(zip, c + 24, size);
    put_u32(zip, l + 22, size);
}

/// A store at `root` with small limits: 1 MiB unzipped, 8 entries, 64 KiB zipped.
pub(super) fn small_store(root: &Path) -> DirArchiveStore {
    let limits = Limits {
        zipped_max: 64 * 1024,
        unzipped_max: 1024 * 1024,
        entries_max: 8,
    };
    DirArchiveStore::with_limits(root, limits).unwrap()
}

/// Asserts that the store's directories are all empty.
pub(super) fn assert_clean(root: &Path) {
    for dir in ["zips", "code", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind in {dir}/: {left:?}");
    }
}
