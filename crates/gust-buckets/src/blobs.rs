//! Object bytes: one file per object (or uploaded part), named by a random id, in
//! one directory. A write streams into a new file, hashing as it goes, and is
//! synced before the row that names it commits; so readers, who find files only
//! through rows, see a whole object or none. A file no row names is garbage: the
//! one a crash interrupted, or one a crash kept from being deleted after it was
//! replaced; [`Blobs::sweep`] removes them at start.

use std::collections::HashSet;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::Digest as _;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::checksums::{Algorithm, Checksums};

/// How much a read takes from the file at once.
const READ_CHUNK: usize = 256 << 10;

/// The directory of object files.
pub(crate) struct Blobs {
    dir: PathBuf,
}

/// A file written and synced, not yet named by a row.
pub(crate) struct Written {
    /// Its name.
    pub blob: String,
    /// Its size.
    pub size: u64,
    /// The MD5 of its bytes.
    pub md5: [u8; 16],
    /// The checksums asked for.
    pub checksums: Checksums,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The body failed (the client went away, a chunk signature was wrong...).
    #[error("reading the request body: {0}")]
    Body(String),
    /// More than the allowed size was sent.
    #[error("the object is larger than {0} bytes")]
    TooLarge(u64),
    /// The disk failed.
    #[error("writing an object file: {0}")]
    Io(#[from] std::io::Error),
}

impl Blobs {
    /// Opens (creating, 0700) the directory.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Blobs> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        Ok(Blobs {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, blob: &str) -> PathBuf {
        self.dir.join(blob)
    }

    /// Removes every file whose name is not in `in_use`; returns how many went.
    pub(crate) fn sweep(&self, in_use: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let keep = name.to_str().is_some_and(|n| in_use.contains(n));
            if !keep && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Streams `body` into a new file (at most `max` bytes), hashing it with MD5
    /// and `algorithms`, and syncs it. On any error the file is removed.
    pub(crate) async fn write<S, E>(
        &self,
        body: S,
        max: u64,
        algorithms: &[Algorithm],
    ) -> Result<Written, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let path = self.path(&blob);
        let result = write_file(&path, body, max, algorithms).await;
        match result {
            Ok((size, md5, checksums)) => Ok(Written {
                blob,
                size,
                md5,
                checksums,
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Concatenates `parts` into a new file (for a completed multipart upload),
    /// synced; its MD5 is not computed (a multipart ETag is not one).
    pub(crate) async fn concat(&self, parts: &[String]) -> Result<(String, u64), WriteError> {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let path = self.path(&blob);
        let result = async {
            let mut out = new_file(&path).await?;
            let mut size = 0;
            for part in parts {
                let mut f = tokio::fs::File::open(self.path(part)).await?;
                size += tokio::io::copy(&mut f, &mut out).await?;
            }
            out.sync_all().await?;
            Ok::<_, WriteError>(size)
        }
        .await;
        match result {
            Ok(size) => Ok((blob, size)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Bytes `range` of a file, as a stream; `None` if the file is gone (replaced
    /// since its row was read).
    pub(crate) async fn read(
        &self,
        blob: &str,
        range: std::ops::Range<u64>,
    ) -> std::io::Result<Option<impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static>>
    {
        let mut file = match tokio::fs::File::open(self.path(blob)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start)).await?;
        }
        let left = range.end.saturating_sub(range.start);
        Ok(Some(futures::stream::unfold(
            (file, left),
            |(mut file, left)| async move {
                if left == 0 {
                    return None;
                }
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
                let mut buf = vec![0u8; want];
                match file.read(&mut buf).await {
                    Ok(0) => Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the object file is shorter than its record",
                        )),
                        (file, 0),
                    )),
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
                    }
                    Err(e) => Some((Err(e), (file, 0))),
                }
            },
        )))
    }

    /// Removes files nothing names any more (errors are logged: a left-over file
    /// goes at the next start).
    pub(crate) fn remove(&self, blobs: impl IntoIterator<Item = String>) {
        for blob in blobs {
            if let Err(e) = std::fs::remove_file(self.path(&blob)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, "could not remove an object file");
                }
            }
        }
    }
}

async fn new_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
}

/// How many chunks may wait between the request body and the thread that hashes
/// and writes them.
const PIPELINE: usize = 32;

/// Streams `body` into a new file at `path`: the request's chunks are received
/// here while a blocking thread of its own hashes them and writes them (through a
/// 1 MiB buffer) and finally syncs the file, so that receiving and hashing use
/// two cores.
async fn write_file<S, E>(
    path: &Path,
    mut body: S,
    max: u64,
    algorithms: &[Algorithm],
) -> Result<(u64, [u8; 16], Checksums), WriteError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file = new_file(path).await?.into_std().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(PIPELINE);
    let algorithms = algorithms.to_vec();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<([u8; 16], Checksums)> {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut md5 = md5::Md5::new();
        let mut hasher = crate::checksums::Hasher::new(&algorithms);
        while let Some(chunk) = rx.blocking_recv() {
            md5.update(&chunk);
            hasher.update(&chunk);
            out.write_all(&chunk)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((md5.finalize().into(), hasher.finish()))
    });
    let mut size: u64 = 0;
    let received = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| WriteError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(WriteError::TooLarge(max));
            }
            if tx.send(chunk).await.is_err() {
                // The writer stopped: its error is reported below.
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| WriteError::Io(std::io::Error::other(e.to_string())))?;
    received?;
    let (md5, checksums) = written?;
    Ok((size, md5, checksums))
}
