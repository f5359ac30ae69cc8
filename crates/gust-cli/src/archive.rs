//! Builds the code archive `gust deploy` uploads: a directory zipped recursively with
//! its unix permission bits (a custom runtime's `bootstrap` must stay executable), or
//! one source file zipped under its basename. Entries are sorted and dated 1980-01-01,
//! so the same files always give the same archive and the same CodeSha256.

use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Directory names never worth shipping, wherever they appear.
const SKIPPED_DIRS: [&str; 2] = ["__pycache__", ".git"];

/// One file or directory to put in the archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path inside the archive, `/`-separated, without a trailing slash.
    pub name: String,
    /// Where to read it from.
    pub path: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Unix permission bits.
    pub mode: u32,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

/// Lists what zipping `dir` will include, in archive order, warning on stderr of
/// what it skips (broken symlinks, loops, special files).
pub fn collect_dir(dir: &Path) -> Result<Vec<Entry>> {
    collect_dir_with(dir, &mut |warning| eprintln!("warning: {warning}"))
}

/// [`collect_dir`], telling `warn` of what it skips (`gust dev` rescans every
/// fraction of a second and says it once, on deploy).
pub fn collect_dir_with(dir: &Path, warn: &mut dyn FnMut(String)) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let root = canonical(dir)?;
    walk(dir, "", &mut entries, &mut vec![root], warn)?;
    Ok(entries)
}

fn canonical(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))
}

/// Adds the contents of `dir` (archive path `prefix`); `ancestors` holds the canonical
/// paths of `dir` and the directories above it, so symlinked directories are followed
/// (shared code in a monorepo) without looping.
fn walk(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<Entry>,
    ancestors: &mut Vec<PathBuf>,
    warn: &mut dyn FnMut(String),
) -> Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading directory {}", dir.display()))?
        .collect::<io::Result<_>>()
        .with_context(|| format!("reading directory {}", dir.display()))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let Some(file_name) = child.file_name().to_str().map(str::to_string) else {
            bail!(
                "{} has a name that is not UTF-8; zip archives need UTF-8 names, rename it",
                path.display()
            );
        };
        // `metadata` follows symlinks: a symlinked file is shipped as its content.
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                warn(format!("skipping {}: broken symlink", path.display()));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let name = if prefix.is_empty() {
            file_name.clone()
        } else {
            format!("{prefix}/{file_name}")
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            if skipped_dir(prefix, &file_name) {
                continue;
            }
            let real = canonical(&path)?;
            if ancestors.contains(&real) {
                warn(format!("skipping {}: symlink loop", path.display()));
                continue;
            }
            out.push(Entry {
                name: name.clone(),
                path: path.clone(),
                is_dir: true,
                mode,
                size: 0,
            });
            ancestors.push(real);
            walk(&path, &name, out, ancestors, warn)?;
            ancestors.pop();
        } else if meta.is_file() {
            out.push(Entry {
                name,
                path,
                is_dir: false,
                mode,
                size: meta.len(),
            });
        } else {
            warn(format!(
                "skipping {}: not a regular file or directory",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Whether the directory `name` inside `parent` (archive path) is left out.
fn skipped_dir(parent: &str, name: &str) -> bool {
    if SKIPPED_DIRS.contains(&name) {
        return true;
    }
    let parent_name = parent.rsplit('/').next().unwrap_or(parent);
    name == ".cache" && parent_name == "node_modules"
}

/// The single entry that zipping one file produces: its basename at the top level.
pub fn single_file_entry(path: &Path) -> Result<Entry> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no UTF-8 file name", path.display()))?;
    Ok(Entry {
        name: name.to_string(),
        path: path.to_path_buf(),
        is_dir: false,
        mode: meta.permissions().mode() & 0o7777,
        size: meta.len(),
    })
}

/// Zips `entries` in memory; `progress` is told of every chunk of bytes read.
pub fn write_zip(entries: &[Entry], progress: &mut dyn FnMut(u64)) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let base = SimpleFileOptions::default().last_modified_time(DateTime::default());
    for entry in entries {
        if entry.is_dir {
            zip.add_directory(&entry.name, base.unix_permissions(entry.mode))
                .with_context(|| format!("adding {} to the archive", entry.name))?;
            continue;
        }
        let options = base
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(entry.mode)
            .large_file(entry.size > u64::from(u32::MAX));
        zip.start_file(&entry.name, options)
            .with_context(|| format!("adding {} to the archive", entry.name))?;
        let file =
            File::open(&entry.path).with_context(|| format!("opening {}", entry.path.display()))?;
        copy_with_progress(file, &mut zip, progress)
            .with_context(|| format!("zipping {}", entry.path.display()))?;
    }
    let cursor = zip.finish().context("finishing the archive")?;
    Ok(cursor.into_inner())
}

fn copy_with_progress(
    mut from: impl Read,
    to: &mut impl Write,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        progress(n as u64);
    }
}

/// Names of the regular files at the top level of a zip archive, checking on the way
/// that it is one.
pub fn zip_top_level(bytes: &[u8], shown_as: &Path) -> Result<Vec<String>> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).with_context(|| {
        format!(
            "{} is not a valid zip archive; pass a directory or a source file to have gust zip it",
            shown_as.display()
        )
    })?;
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let file = archive
            .by_index_raw(i)
            .with_context(|| format!("reading {}", shown_as.display()))?;
        let name = file.name();
        if !file.is_dir() && !name.contains('/') {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// The entries of a zip archive that a function will not be able to read once it is
/// deployed, as (name, mode), in archive order: files without the world-read bit and
/// directories without world read and search. Functions run as an unprivileged user
/// that owns none of their files, so on Lambda (and gust) such an entry fails with
/// `Permission denied` at run time. Entries without unix permissions (archives made
/// on Windows) are extracted readable and are not listed.
pub fn unreadable_entries(bytes: &[u8]) -> Result<Vec<(String, u32)>> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).context("reading the archive")?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).context("reading the archive")?;
        // No mode (or a zero one, from a tool that set only MS-DOS attributes):
        // gust extracts such entries readable.
        let Some(mode) = file.unix_mode().filter(|&m| m != 0) else {
            continue;
        };
        let needed = if file.is_dir() { 0o005 } else { 0o004 };
        if mode & needed != needed {
            out.push((file.name().to_string(), mode & 0o7777));
        }
    }
    Ok(out)
}

/// The warning `gust deploy` prints for [`unreadable_entries`], or `None` when
/// there are none. `fix` says how to repair the source (a chmod command).
pub fn unreadable_warning(entries: &[(String, u32)], fix: &str) -> Option<String> {
    const NAMED: usize = 10;
    if entries.is_empty() {
        return None;
    }
    let mut named = entries
        .iter()
        .take(NAMED)
        .map(|(name, mode)| format!("{name} (mode {mode:04o})"))
        .collect::<Vec<_>>()
        .join(", ");
    if entries.len() > NAMED {
        named.push_str(&format!(" and {} more", entries.len() - NAMED));
    }
    Some(format!(
        "warning: the function's user will not be able to read {named}: functions run as \
         a user that owns none of their files, so reading these fails with \
         'Permission denied', as on Lambda. {fix}"
    ))
}

/// Names of the regular files at the top level of an entry list.
pub fn entries_top_level(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| !e.is_dir && !e.name.contains('/'))
        .map(|e| e.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn write(path: &Path, content: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Archive names to (unix mode, content) as the zip crate reads them back.
    fn read_back(bytes: &[u8]) -> BTreeMap<String, (u32, String)> {
        let mut archive = ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = BTreeMap::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let mut content = String::new();
            if file.is_file() {
                file.read_to_string(&mut content).unwrap();
            }
            out.insert(
                file.name().to_string(),
                (file.unix_mode().unwrap() & 0o7777, content),
            );
        }
        out
    }

    #[test]
    fn directory_zip_keeps_permissions_and_skips_junk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("bootstrap"), "#!/bin/sh\n", 0o755);
        write(&root.join("lib/util.py"), "x = 1\n", 0o644);
        write(
            &root.join("lib/__pycache__/util.cpython-311.pyc"),
            "junk",
            0o644,
        );
        write(&root.join(".git/HEAD"), "ref: main", 0o644);
        write(&root.join("node_modules/.cache/x"), "junk", 0o644);
        write(&root.join("node_modules/left-pad/index.js"), "pad", 0o600);

        let entries = collect_dir(root).unwrap();
        let total: u64 = entries.iter().map(|e| e.size).sum();
        let mut seen = 0;
        let bytes = write_zip(&entries, &mut |n| seen += n).unwrap();
        assert_eq!(seen, total);

        let files = read_back(&bytes);
        assert_eq!(files["bootstrap"], (0o755, "#!/bin/sh\n".to_string()));
        assert_eq!(files["lib/util.py"], (0o644, "x = 1\n".to_string()));
        assert_eq!(files["node_modules/left-pad/index.js"].0, 0o600);
        assert!(
            files.contains_key("lib/"),
            "directories are kept: {files:?}"
        );
        for name in files.keys() {
            assert!(
                !name.contains("__pycache__") && !name.contains(".git") && !name.contains(".cache"),
                "{name} should have been skipped"
            );
        }
        assert_eq!(entries_top_level(&entries), vec!["bootstrap".to_string()]);
    }

    #[test]
    fn a_cache_dir_outside_node_modules_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join(".cache/data"), "keep", 0o644);
        let files = read_back(&write_zip(&collect_dir(dir.path()).unwrap(), &mut |_| {}).unwrap());
        assert!(files.contains_key(".cache/data"), "{files:?}");
    }

    #[test]
    fn same_files_give_the_same_archive() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("app.py"),
            "def handler(e, c): return e\n",
            0o644,
        );
        let first = write_zip(&collect_dir(dir.path()).unwrap(), &mut |_| {}).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write(
            &dir.path().join("app.py"),
            "def handler(e, c): return e\n",
            0o644,
        );
        let second = write_zip(&collect_dir(dir.path()).unwrap(), &mut |_| {}).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn single_file_goes_in_under_its_basename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/app.py");
        write(&path, "print(1)\n", 0o640);
        let bytes = write_zip(&[single_file_entry(&path).unwrap()], &mut |_| {}).unwrap();
        let files = read_back(&bytes);
        assert_eq!(files.len(), 1);
        assert_eq!(files["app.py"], (0o640, "print(1)\n".to_string()));
        assert_eq!(zip_top_level(&bytes, &path).unwrap(), vec!["app.py"]);
    }

    #[test]
    fn symlinked_directory_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a/file.txt"), "x", 0o644);
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/loop")).unwrap();
        let names: Vec<String> = collect_dir(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["a", "a/file.txt"]);
    }

    #[test]
    fn entries_without_the_world_read_bit_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("app.py"), "x", 0o600);
        write(&dir.path().join("ok.py"), "x", 0o644);
        write(&dir.path().join("run.sh"), "x", 0o711);
        write(&dir.path().join("lib/util.py"), "x", 0o644);
        fs::set_permissions(dir.path().join("lib"), fs::Permissions::from_mode(0o750)).unwrap();
        let bytes = write_zip(&collect_dir(dir.path()).unwrap(), &mut |_| {}).unwrap();
        let found = unreadable_entries(&bytes).unwrap();
        assert_eq!(
            found,
            vec![
                ("app.py".to_string(), 0o600),
                ("lib/".to_string(), 0o750),
                ("run.sh".to_string(), 0o711)
            ]
        );
        let warning = unreadable_warning(&found, "Run chmod.").unwrap();
        assert!(
            warning.contains("app.py (mode 0600), lib/ (mode 0750), run.sh (mode 0711)"),
            "{warning}"
        );
        assert!(warning.ends_with("Run chmod."), "{warning}");
        let many: Vec<(String, u32)> = (0..12).map(|i| (format!("f{i}"), 0o600)).collect();
        assert!(unreadable_warning(&many, "")
            .unwrap()
            .contains("f9 (mode 0600) and 2 more"));
        assert_eq!(unreadable_warning(&[], "x"), None);
    }

    #[test]
    fn non_zip_bytes_are_refused_clearly() {
        let err = zip_top_level(b"not a zip", Path::new("code.zip")).unwrap_err();
        assert!(err.to_string().contains("not a valid zip archive"), "{err}");
    }
}
