//! The extraction plan: what an archive's tree will hold, decided from the central
//! directory before anything is written. Every rule that needs no decompression is
//! enforced here: entry count, names (no absolute paths, `..`, NUL, Windows drive
//! letters), entry types, clashes between entries, declared sizes, symlink targets.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{Cursor, Read as _};
use std::time::{Duration, SystemTime};

use zip::extra_fields::ExtraField;
use zip::{CompressionMethod, ZipArchive};

use super::{links, Limits};
use crate::StoreError;

/// The zip being extracted, read from memory.
pub(super) type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// How every unzip failure starts, as AWS words it.
const UNZIP_FAILED: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";
/// Longest symlink target accepted, in bytes (PATH_MAX less the NUL).
const TARGET_MAX: u64 = 4095;
/// Longest path component accepted, in bytes (NAME_MAX).
const COMPONENT_MAX: usize = 255;
/// Longest path accepted inside the archive, in bytes: `/var/task/` and the path
/// must fit in PATH_MAX (4096, with its NUL), as on Lambda.
pub(super) const PATH_MAX_IN_TASK: usize = 4096 - 1 - "/var/task/".len();

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// One path of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// A directory, listed in the archive or implied by an entry inside it; `mode`
    /// holds its permission bits (always including owner rwx, so gust can remove it).
    Dir { mode: u32, listed: bool },
    /// A regular file: the entry at `index`, given `mode` and dated `mtime` once
    /// written (an unchanged date keeps Python's bytecode caches valid).
    File {
        index: usize,
        mode: u32,
        mtime: Option<SystemTime>,
    },
    /// A symbolic link to `target`, checked to stay inside the tree.
    Symlink { target: String },
}

/// What the tree will hold.
#[derive(Debug)]
pub(super) struct Plan {
    /// Every path of the tree, as components. In this order a directory comes before
    /// everything inside it.
    pub nodes: BTreeMap<Vec<String>, Node>,
}

/// An [`StoreError::InvalidArchive`] giving `reason` after AWS's opening sentence.
pub(super) fn unzip_error(reason: impl Display) -> StoreError {
    StoreError::InvalidArchive(format!("{UNZIP_FAILED} {reason}"))
}

/// The error for an archive whose contents exceed `max` bytes, as AWS words it.
pub(super) fn too_big(max: u64) -> StoreError {
    StoreError::InvalidArchive(format!("Unzipped size must be smaller than {max} bytes"))
}

/// Longest name quoted whole in an error message, in characters; longer ones are cut.
const QUOTED_MAX: usize = 200;

/// An entry's name, quoted and escaped for an error message (cut after
/// [`QUOTED_MAX`] characters, so a 4 KB name does not make a 4 KB message).
pub(super) fn quoted(name: &str) -> String {
    match name.char_indices().nth(QUOTED_MAX) {
        Some((cut, _)) => format!("\"{}\"…", name[..cut].escape_debug()),
        None => format!("\"{}\"", name.escape_debug()),
    }
}

/// Reads the central directory of `archive` (whose bytes are `zip`) into a plan.
pub(super) fn plan(
    archive: &mut Archive<'_>,
    zip: &[u8],
    limits: &Limits,
) -> Result<Plan, StoreError> {
    let records = central_records(zip, archive.central_directory_start()).max(archive.len());
    if records > limits.entries_max {
        return Err(unzip_error(format!(
            "The archive has {records} entries; at most {} are allowed.",
            limits.entries_max
        )));
    }
    if records > archive.len() {
        // The zip reader keeps one entry per name (the last): refuse rather than
        // extract something other than what a listing of the archive shows.
        return Err(unzip_error(format!(
            "The archive lists {} names more than once.",
            records - archive.len()
        )));
    }
    let mut nodes = BTreeMap::new();
    let mut declared = 0u64;
    let mut files = 0usize;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| unzip_error(format!("Entry {} cannot be read ({e}).", index + 1)))?;
        let name = entry.name().to_owned();
        if entry.encrypted() {
            return Err(unzip_error(format!(
                "Entry {} is encrypted; gust cannot unzip encrypted archives.",
                quoted(&name)
            )));
        }
        let method = entry.compression();
        if method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
            return Err(unzip_error(format!(
                "Entry {} uses compression method {method}; gust accepts stored and deflated entries.",
                quoted(&name)
            )));
        }
        let path = components(entry.name_raw(), &name)?;
        let mode = unix_mode(zip, entry.central_header_start());
        let node = match kind(&name, mode)? {
            Kind::Dir => Node::Dir {
                mode: mode.map_or(0o755, dir_mode),
                listed: true,
            },
            Kind::File => {
                files += 1;
                declared = declared.saturating_add(entry.size());
                let mtime = mtime(&entry);
                Node::File {
                    index,
                    mode: mode.map_or(0o644, file_mode),
                    mtime,
                }
            }
            Kind::Symlink => {
                drop(entry);
                let target = read_target(archive, index, &name)?;
                declared = declared.saturating_add(target.len() as u64);
                Node::Symlink { target }
            }
        };
        insert(&mut nodes, path, node, &name)?;
    }
    if files == 0 {
        return Err(StoreError::InvalidArchive(
            "Uploaded file must be a non-empty zip".into(),
        ));
    }
    if declared > limits.unzipped_max {
        return Err(too_big(limits.unzipped_max));
    }
    links::check_all(&nodes)?;
    Ok(Plan { nodes })
}

/// The bits a file extracted from an entry of unix mode `mode` gets: its read and
/// execute bits exactly as the archive says (so a 0600 file stays unreadable to the
/// function's user, as on Lambda), its owner's write bit, and never a group or world
/// write bit, nor setuid, setgid or sticky. Trees are shared by every function with
/// the same archive: a world-writable file there would let any local user change
/// deployed code.
pub(super) fn file_mode(mode: u32) -> u32 {
    mode & 0o755
}

/// The bits a directory gets: as [`file_mode`], plus owner rwx so gust can fill and
/// remove it.
pub(super) fn dir_mode(mode: u32) -> u32 {
    file_mode(mode) | 0o700
}

/// What an entry is.
enum Kind {
    Dir,
    File,
    Symlink,
}

/// An entry's kind, from its unix file type, else from its name.
fn kind(name: &str, mode: Option<u32>) -> Result<Kind, StoreError> {
    let dir_name = name.ends_with('/') || name.ends_with('\\');
    match mode.map_or(0, |m| m & S_IFMT) {
        S_IFLNK if dir_name => Err(unzip_error(format!(
            "Entry {} is a symbolic link named like a directory.",
            quoted(name)
        ))),
        S_IFLNK => Ok(Kind::Symlink),
        S_IFDIR => Ok(Kind::Dir),
        0 | S_IFREG if dir_name => Ok(Kind::Dir),
        0 | S_IFREG => Ok(Kind::File),
        _ => Err(unzip_error(format!(
            "Entry {} is a device, FIFO or socket; an archive may hold only files, \
             directories and symbolic links.",
            quoted(name)
        ))),
    }
}

/// The path components of an entry named `name` (raw bytes `raw`). Both `/` and `\`
/// separate components, as zip tools on Windows write `\`; empty and `.` components
/// are dropped. Absolute names, drive letters, `..` and NUL are refused.
fn components(raw: &[u8], name: &str) -> Result<Vec<String>, StoreError> {
    let refuse = |why: &str| Err(unzip_error(format!("Entry {} {why}.", quoted(name))));
    if raw.contains(&0) || name.contains('\0') {
        return refuse("has a NUL byte in its name");
    }
    if name.starts_with(['/', '\\']) {
        return refuse("has an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return refuse("starts with a drive letter");
    }
    let mut path = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return refuse("has a \"..\" component, which could write outside the archive"),
            _ if part.len() > COMPONENT_MAX => {
                return refuse("has a name component longer than 255 bytes");
            }
            _ => path.push(part.to_owned()),
        }
    }
    let length = path
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    if length > PATH_MAX_IN_TASK {
        return Err(unzip_error(format!(
            "Entry {} has a path of {length} bytes; paths in /var/task can be at most \
             {PATH_MAX_IN_TASK} bytes.",
            quoted(name)
        )));
    }
    Ok(path)
}

/// The unix mode of the entry whose central directory header starts at
/// `header_start`: the high half of its external attributes, when the entry was made
/// on Unix or macOS and carries one. Read from the bytes because the zip reader
/// invents modes for entries made elsewhere, and gust wants its own defaults there.
fn unix_mode(zip: &[u8], header_start: u64) -> Option<u32> {
    const UNIX: u8 = 3;
    const MACOS: u8 = 19;
    let start = usize::try_from(header_start).ok()?;
    let header = zip.get(start..start.checked_add(46)?)?;
    if header[..4] != *b"PK\x01\x02" || (header[5] != UNIX && header[5] != MACOS) {
        return None;
    }
    let external = u32::from_le_bytes([header[38], header[39], header[40], header[41]]);
    let mode = external >> 16;
    (mode != 0).then_some(mode)
}

/// An entry's modification time: the exact unix time of its extended-timestamp field
/// if any, else its MS-DOS date taken as UTC.
fn mtime<R: std::io::Read>(entry: &zip::read::ZipFile<'_, R>) -> Option<SystemTime> {
    let exact = entry.extra_data_fields().find_map(|field| match field {
        ExtraField::ExtendedTimestamp(ts) => ts.mod_time(),
        _ => None,
    });
    let seconds = match exact {
        Some(s) => u64::from(s),
        None => {
            let t = entry.last_modified()?;
            let days = days_from_civil(
                i64::from(t.year()),
                i64::from(t.month()),
                i64::from(t.day()),
            );
            let s = days * 86_400
                + i64::from(t.hour()) * 3_600
                + i64::from(t.minute()) * 60
                + i64::from(t.second());
            u64::try_from(s).ok()?
        }
    };
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads the target of the symlink entry at `index`.
fn read_target(archive: &mut Archive<'_>, index: usize, name: &str) -> Result<String, StoreError> {
    let corrupt =
        |e: &dyn Display| unzip_error(format!("Entry {} is corrupt ({e}).", quoted(name)));
    let entry = archive.by_index(index).map_err(|e| corrupt(&e))?;
    let mut target = Vec::new();
    entry
        .take(TARGET_MAX + 1)
        .read_to_end(&mut target)
        .map_err(|e| corrupt(&e))?;
    let refuse = |why: &str| unzip_error(format!("Symbolic link {} {why}.", quoted(name)));
    if target.len() as u64 > TARGET_MAX {
        return Err(refuse("has a target longer than 4095 bytes"));
    }
    if target.is_empty() {
        return Err(refuse("has an empty target"));
    }
    if target.contains(&0) {
        return Err(refuse("has a NUL byte in its target"));
    }
    String::from_utf8(target).map_err(|_| refuse("has a target that is not UTF-8"))
}

/// How many records the central directory starting at `start` holds, walking them
/// by their signatures and lengths. This can exceed what the zip reader lists, which
/// keeps one entry per name.
fn central_records(zip: &[u8], start: u64) -> usize {
    const SIGNATURE: &[u8; 4] = b"PK\x01\x02";
    const FIXED: usize = 46;
    let field = |h: &[u8], at: usize| u16::from_le_bytes([h[at], h[at + 1]]) as usize;
    let mut at = usize::try_from(start).unwrap_or(usize::MAX);
    let mut count = 0;
    while let Some(header) = zip.get(at..at.saturating_add(FIXED)) {
        if &header[..4] != SIGNATURE {
            break;
        }
        count += 1;
        at = at.saturating_add(FIXED + field(header, 28) + field(header, 30) + field(header, 32));
    }
    count
}

/// Adds `node` at `path`, creating implied parent directories, and refuses clashes:
/// an entry listed twice, an entry inside a file or symlink (gust never writes
/// through a symlink), a file or symlink where other entries need a directory.
fn insert(
    nodes: &mut BTreeMap<Vec<String>, Node>,
    path: Vec<String>,
    node: Node,
    name: &str,
) -> Result<(), StoreError> {
    if path.is_empty() {
        return match node {
            // `./` names the root, which exists anyway.
            Node::Dir { .. } => Ok(()),
            _ => Err(unzip_error(format!(
                "Entry {} has an empty name.",
                quoted(name)
            ))),
        };
    }
    for depth in 1..path.len() {
        let parent = &path[..depth];
        match nodes.get(parent) {
            Some(Node::Dir { .. }) => {}
            Some(Node::File { .. }) => {
                return Err(unzip_error(format!(
                    "Entry {} is inside \"{}\", which is a file.",
                    quoted(name),
                    parent.join("/").escape_debug()
                )));
            }
            Some(Node::Symlink { .. }) => {
                return Err(unzip_error(format!(
                    "Entry {} is inside \"{}\", which is a symbolic link; gust does not \
                     write through symbolic links.",
                    quoted(name),
                    parent.join("/").escape_debug()
                )));
            }
            None => {
                nodes.insert(
                    parent.to_vec(),
                    Node::Dir {
                        mode: 0o755,
                        listed: false,
                    },
                );
            }
        }
    }
    match (nodes.get(&path), &node) {
        // A directory may be listed again (`a/` and `a//`); the last listing wins.
        (None, _) | (Some(Node::Dir { .. }), Node::Dir { .. }) => {}
        (Some(Node::Dir { listed: false, .. }), _) => {
            return Err(unzip_error(format!(
                "Entry {} is not a directory, but other entries are inside it.",
                quoted(name)
            )));
        }
        (Some(_), _) => {
            return Err(unzip_error(format!(
                "Entry {} appears more than once.",
                quoted(name)
            )));
        }
    }
    nodes.insert(path, node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_group_or_world_write_bit_survives_and_read_bits_stay_as_archived() {
        for (archived, file, dir) in [
            (0o777, 0o755, 0o755),
            (0o666, 0o644, 0o744),
            (0o100_777, 0o755, 0o755),
            (0o644, 0o644, 0o744),
            (0o755, 0o755, 0o755),
            (0o600, 0o600, 0o700),
            (0o400, 0o400, 0o700),
            (0o620, 0o600, 0o700),
            (0o602, 0o600, 0o700),
            (0o000, 0o000, 0o700),
            (0o4755, 0o755, 0o755),
            (0o2777, 0o755, 0o755),
            (0o1777, 0o755, 0o755),
        ] {
            assert_eq!(file_mode(archived), file, "file {archived:o}");
            assert_eq!(dir_mode(archived), dir, "dir {archived:o}");
        }
    }
}
