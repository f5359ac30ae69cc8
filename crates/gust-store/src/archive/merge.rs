//! The merged trees of layer sets: what an instance sees at `/opt`.
//!
//! A function's layers are extracted archives like its code (`code/<digest>/`). Its
//! instances need them as one tree, later layers over earlier ones, so the store
//! builds that tree once per distinct ordered list of digests, under
//! `opt/<set key>/`, where the key is a SHA-256 over the list ([`set_key`]). It is
//! built in a staging directory and renamed into place, like an archive: a reader
//! never sees half a tree.
//!
//! Merging never follows a symlink of the destination: each layer's entries are
//! placed top-down, and wherever the tree so far has something other than a real
//! directory on the way (a file, or a symlink an earlier layer placed), it is
//! removed first, so no write goes through a link. Files are hard links to the
//! layers' own (read-only) files when the filesystem allows, copies otherwise; a
//! tree keeps working after the layer's own archive is removed.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{hex, io_error, tidy};
use crate::StoreError;

/// The key of an ordered list of layer digests: its merged tree's directory name.
pub fn set_key(digests: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(b"gust-opt-v1");
    for d in digests {
        h.update(b"\n");
        h.update(d.as_bytes());
    }
    hex(&h.finalize())
}

/// Merges the trees `layers` (in order) into `dest`, which must not exist.
pub(super) fn merge(layers: &[PathBuf], dest: &Path) -> Result<(), StoreError> {
    make_dir(dest, 0o755)?;
    for layer in layers {
        merge_dir(layer, dest)?;
    }
    Ok(())
}

/// Places the entries of directory `src` into directory `dest` (a real directory
/// this merge made), recursively.
fn merge_dir(src: &Path, dest: &Path) -> Result<(), StoreError> {
    for from in tidy::list(src)? {
        let Some(name) = from.file_name() else {
            continue;
        };
        let to = dest.join(name);
        let meta = fs::symlink_metadata(&from)
            .map_err(|e| io_error(format!("reading {}", from.display()), e))?;
        let existing = fs::symlink_metadata(&to).ok();
        if meta.is_dir() {
            match existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    tidy::remove_any(&to)?;
                    make_dir(&to, meta.permissions().mode() & 0o755 | 0o700)?;
                }
                None => make_dir(&to, meta.permissions().mode() & 0o755 | 0o700)?,
            }
            merge_dir(&from, &to)?;
            continue;
        }
        if existing.is_some() {
            // A later layer's entry replaces an earlier one's, whatever either is.
            tidy::remove_any(&to)?;
        }
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&from)
                .map_err(|e| io_error(format!("reading the link {}", from.display()), e))?;
            std::os::unix::fs::symlink(&target, &to)
                .map_err(|e| io_error(format!("linking {}", to.display()), e))?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|e| {
                io_error(format!("copying {} to {}", from.display(), to.display()), e)
            })?;
        }
    }
    Ok(())
}

fn make_dir(path: &Path, mode: u32) -> Result<(), StoreError> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            Err(io_error(format!("creating {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(root: &Path, rel: &str) -> Option<String> {
        fs::read_to_string(root.join(rel)).ok()
    }

    #[test]
    fn later_layers_replace_earlier_ones_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("o"),
        );
        write(&a, "python/shared.py", "a");
        write(&a, "python/only_a.py", "a");
        write(&b, "python/shared.py", "b");
        write(&b, "bin/tool", "b");
        merge(&[a.clone(), b.clone()], &out).unwrap();
        assert_eq!(read(&out, "python/shared.py").as_deref(), Some("b"));
        assert_eq!(read(&out, "python/only_a.py").as_deref(), Some("a"));
        assert_eq!(read(&out, "bin/tool").as_deref(), Some("b"));

        let reversed = dir.path().join("r");
        merge(&[b, a], &reversed).unwrap();
        assert_eq!(read(&reversed, "python/shared.py").as_deref(), Some("a"));
    }

    #[test]
    fn a_directory_replaces_a_link_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let (a, b, out) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("o"),
        );
        fs::create_dir(&a).unwrap();
        // Absolute, which the archive store never extracts: the merge must still not
        // follow it.
        std::os::unix::fs::symlink(&outside, a.join("lib")).unwrap();
        write(&b, "lib/libx.so", "b");
        merge(&[a, b], &out).unwrap();
        assert!(fs::symlink_metadata(out.join("lib")).unwrap().is_dir());
        assert_eq!(read(&out, "lib/libx.so").as_deref(), Some("b"));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn a_file_replaces_a_directory_and_links_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("o"),
        );
        write(&a, "x/inner", "a");
        write(&b, "x", "b");
        fs::create_dir_all(b.join("bin")).unwrap();
        std::os::unix::fs::symlink("../x", b.join("bin/x")).unwrap();
        merge(&[a, b], &out).unwrap();
        assert_eq!(read(&out, "x").as_deref(), Some("b"));
        assert_eq!(
            fs::read_link(out.join("bin/x")).unwrap(),
            PathBuf::from("../x")
        );
    }

    #[test]
    fn set_keys_depend_on_order() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let ab = set_key(&[a.clone(), b.clone()]);
        assert_eq!(ab.len(), 64);
        assert_ne!(ab, set_key(&[b, a.clone()]));
        assert_ne!(set_key(std::slice::from_ref(&a)), set_key(&[a.clone(), a]));
    }
}
