//! Buckets and the metadata of their objects and multipart uploads (the object
//! bytes are files named by the rows, see `gust-buckets`).
//!
//! An object row is written in one transaction together with the asynchronous
//! events its bucket's notification configuration asks for, so a committed object
//! never misses its event, and an event never describes an object that was not
//! committed. Keys are compared as SQLite's `BINARY` collation does, which is the
//! byte order of their UTF-8 (S3's listing order).
//!
//! # Call order
//! At start-up `gust-buckets` calls [`BucketStore::blobs_in_use`] once, to remove
//! object files that no row names (writes a crash interrupted, or replaced files a
//! crash kept from being deleted). Every other call may come from any thread.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension as _, Row, TransactionBehavior};

use crate::events::{insert_event, NewEvent};
use crate::sqlite::SqliteStore;
use crate::StoreError;

/// The schema step that adds buckets, objects and multipart uploads.
pub(crate) const MIGRATION: &str = "
    CREATE TABLE buckets (
        name         TEXT PRIMARY KEY,
        region       TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        notification TEXT               -- JSON owned by gust-buckets; NULL: none
    );
    CREATE TABLE objects (
        bucket      TEXT NOT NULL REFERENCES buckets (name),
        key         TEXT NOT NULL,
        blob        TEXT NOT NULL,      -- the file holding its bytes
        size        INTEGER NOT NULL,
        etag        TEXT NOT NULL,      -- quoted, as S3 returns it
        modified_ms INTEGER NOT NULL,
        meta        TEXT NOT NULL,      -- JSON owned by gust-buckets
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        id         TEXT PRIMARY KEY,
        bucket     TEXT NOT NULL REFERENCES buckets (name),
        key        TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        meta       TEXT NOT NULL        -- JSON owned by gust-buckets
    );
    CREATE INDEX uploads_by_bucket ON uploads (bucket, key, created_ms);
    CREATE TABLE upload_parts (
        upload      TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
        number      INTEGER NOT NULL,
        blob        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        etag        TEXT NOT NULL,
        modified_ms INTEGER NOT NULL,
        meta        TEXT NOT NULL,
        PRIMARY KEY (upload, number)
    ) WITHOUT ROWID;
";

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    /// Its name.
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// When, epoch ms.
    pub created_ms: i64,
    /// Its notification configuration (JSON), if any.
    pub notification: Option<String>,
}

/// An object (or, with `number`, a part of a multipart upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The file holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag, quoted.
    pub etag: String,
    /// When it was written, epoch ms.
    pub modified_ms: i64,
    /// Everything else (content type, user metadata, checksums) as JSON.
    pub meta: String,
}

/// A multipart upload under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Its upload id.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key it will complete to.
    pub key: String,
    /// When it was created, epoch ms.
    pub created_ms: i64,
    /// The object's metadata-to-be (JSON).
    pub meta: String,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// Its part number (1 to 10,000).
    pub number: u32,
    /// The file holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag, quoted.
    pub etag: String,
    /// When it was uploaded, epoch ms.
    pub modified_ms: i64,
    /// Its checksums (JSON).
    pub meta: String,
}

/// What deleting a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketDeletion {
    /// It is gone.
    Deleted,
    /// There was no such bucket.
    NotFound,
    /// It holds objects or uploads, and stays.
    NotEmpty,
}

/// What must hold of the key for an object write to go ahead (`If-None-Match: *`,
/// `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Nothing.
    Any,
    /// No object has the key.
    Absent,
    /// The object with the key has this (quoted) ETag.
    Matches(String),
}

/// What an object write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file of the object it replaced, which nothing names any more.
    pub replaced_blob: Option<String>,
    /// The ids of the events queued with it.
    pub event_ids: Vec<i64>,
}

/// Buckets, objects and uploads. Object bytes are not stored here.
pub trait BucketStore: Send + Sync {
    /// Creates a bucket; [`StoreError::Conflict`] if it exists.
    fn create_bucket(&self, bucket: &BucketRecord) -> Result<(), StoreError>;
    /// One bucket.
    fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError>;
    /// Every bucket, by name.
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError>;
    /// Deletes an empty bucket.
    fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError>;
    /// Sets (or with `None` removes) a bucket's notification configuration; `false`
    /// if there is no such bucket.
    fn set_notification(&self, bucket: &str, config: Option<&str>) -> Result<bool, StoreError>;

    /// One object.
    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError>;
    /// Writes (inserts or replaces) an object and queues `events`, in one commit.
    /// [`StoreError::Conflict`] if the bucket is gone;
    /// [`StoreError::PreconditionFailed`] if `condition` does not hold.
    fn put_object(
        &self,
        object: &ObjectRecord,
        condition: &WriteCondition,
        events: &[NewEvent],
    ) -> Result<Written, StoreError>;
    /// Deletes an object, queueing `events` (built from it by `events_for`) in the
    /// same commit; returns it, or `None` if there was none (and queues nothing).
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events_for: &dyn Fn(&ObjectRecord) -> Vec<NewEvent>,
    ) -> Result<(Option<ObjectRecord>, Vec<i64>), StoreError>;
    /// Up to `limit` objects of `bucket` whose key starts with `prefix` and sorts
    /// at or after `from`, in key order.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError>;

    /// Records a new multipart upload; [`StoreError::Conflict`] if the bucket is gone.
    fn create_upload(&self, upload: &UploadRecord) -> Result<(), StoreError>;
    /// One upload.
    fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError>;
    /// The uploads under way in `bucket` whose key starts with `prefix`, by key then
    /// creation.
    fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadRecord>, StoreError>;
    /// Records (or replaces) a part; returns the file of the part it replaced.
    /// [`StoreError::Conflict`] if the upload is gone.
    fn put_part(&self, upload: &str, part: &PartRecord) -> Result<Option<String>, StoreError>;
    /// The parts of an upload, by number.
    fn parts(&self, upload: &str) -> Result<Vec<PartRecord>, StoreError>;
    /// Ends an upload without an object; returns its parts' files, or `None` if
    /// there was no such upload.
    fn abort_upload(&self, id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Ends an upload as `object` (whose file was assembled from its parts) and
    /// queues `events`, in one commit. Returns what the write did and the files of
    /// the parts, which nothing names any more. [`StoreError::Conflict`] if the
    /// upload is gone.
    fn complete_upload(
        &self,
        id: &str,
        object: &ObjectRecord,
        events: &[NewEvent],
    ) -> Result<(Written, Vec<String>), StoreError>;

    /// Every file an object or a part names.
    fn blobs_in_use(&self) -> Result<HashSet<String>, StoreError>;
}

fn bucket_from_row(row: &Row<'_>) -> rusqlite::Result<BucketRecord> {
    Ok(BucketRecord {
        name: row.get(0)?,
        region: row.get(1)?,
        created_ms: row.get(2)?,
        notification: row.get(3)?,
    })
}

fn object_from_row(row: &Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        bucket: row.get(0)?,
        key: row.get(1)?,
        blob: row.get(2)?,
        size: to_u64(row.get(3)?),
        etag: row.get(4)?,
        modified_ms: row.get(5)?,
        meta: row.get(6)?,
    })
}

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<UploadRecord> {
    Ok(UploadRecord {
        id: row.get(0)?,
        bucket: row.get(1)?,
        key: row.get(2)?,
        created_ms: row.get(3)?,
        meta: row.get(4)?,
    })
}

fn part_from_row(row: &Row<'_>) -> rusqlite::Result<PartRecord> {
    Ok(PartRecord {
        number: u32::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
        blob: row.get(1)?,
        size: to_u64(row.get(2)?),
        etag: row.get(3)?,
        modified_ms: row.get(4)?,
        meta: row.get(5)?,
    })
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, modified_ms, meta";

/// Inserts or replaces `o` in `tx`; returns the file of the object it replaced.
fn write_object(
    tx: &rusqlite::Transaction<'_>,
    o: &ObjectRecord,
    condition: &WriteCondition,
) -> Result<Option<String>, StoreError> {
    let bucket_exists = tx
        .prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?
        .exists([&o.bucket])?;
    if !bucket_exists {
        return Err(StoreError::Conflict(format!(
            "the bucket {} does not exist",
            o.bucket
        )));
    }
    let current: Option<(String, String)> = tx
        .prepare_cached("SELECT blob, etag FROM objects WHERE bucket = ?1 AND key = ?2")?
        .query_row([&o.bucket, &o.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let holds = match (condition, &current) {
        (WriteCondition::Any, _) | (WriteCondition::Absent, None) => true,
        (WriteCondition::Matches(want), Some((_, etag))) => want == etag,
        _ => false,
    };
    if !holds {
        return Err(StoreError::PreconditionFailed(format!(
            "the key {} of {} does not meet the write's condition",
            o.key, o.bucket
        )));
    }
    let replaced = current.map(|(blob, _)| blob);
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        o.bucket,
        o.key,
        o.blob,
        to_i64(o.size),
        o.etag,
        o.modified_ms,
        o.meta
    ])?;
    Ok(replaced)
}

impl BucketStore for SqliteStore {
    fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO buckets (name, region, created_ms, notification) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![b.name, b.region, b.created_ms, b.notification])?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "the bucket {} exists",
                b.name
            )));
        }
        Ok(())
    }

    fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT name, region, created_ms, notification FROM buckets WHERE name = ?1",
            )?
            .query_row([name], bucket_from_row)
            .optional()?;
        Ok(found)
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT name, region, created_ms, notification FROM buckets ORDER BY name",
        )?;
        let rows = stmt.query_map([], bucket_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?
            .exists([name])?;
        if !exists {
            return Ok(BucketDeletion::NotFound);
        }
        let used = tx
            .prepare_cached(
                "SELECT 1 FROM objects WHERE bucket = ?1 \
                 UNION ALL SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1",
            )?
            .exists([name])?;
        if used {
            return Ok(BucketDeletion::NotEmpty);
        }
        tx.prepare_cached("DELETE FROM buckets WHERE name = ?1")?
            .execute([name])?;
        tx.commit()?;
        Ok(BucketDeletion::Deleted)
    }

    fn set_notification(&self, bucket: &str, config: Option<&str>) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .prepare_cached("UPDATE buckets SET notification = ?2 WHERE name = ?1")?
            .execute(params![bucket, config])?;
        Ok(n == 1)
    }

    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
            ))?
            .query_row([bucket, key], object_from_row)
            .optional()?;
        Ok(found)
    }

    fn put_object(
        &self,
        object: &ObjectRecord,
        condition: &WriteCondition,
        events: &[NewEvent],
    ) -> Result<Written, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let replaced_blob = write_object(&tx, object, condition)?;
        let event_ids = events
            .iter()
            .map(|e| insert_event(&tx, e))
            .collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok(Written {
            replaced_blob,
            event_ids,
        })
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events_for: &dyn Fn(&ObjectRecord) -> Vec<NewEvent>,
    ) -> Result<(Option<ObjectRecord>, Vec<i64>), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(old) = tx
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
            ))?
            .query_row([bucket, key], object_from_row)
            .optional()?
        else {
            return Ok((None, Vec::new()));
        };
        tx.prepare_cached("DELETE FROM objects WHERE bucket = ?1 AND key = ?2")?
            .execute([bucket, key])?;
        let ids = events_for(&old)
            .iter()
            .map(|e| insert_event(&tx, e))
            .collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok((Some(old), ids))
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        let conn = self.conn();
        let start = if from > prefix { from } else { prefix };
        // `substr` compares the prefix bytewise; a LIKE would treat % and _ and
        // case specially.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key >= ?2 \
             AND substr(key, 1, length(?3)) = ?3 ORDER BY key LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![bucket, start, prefix, to_i64(limit as u64)],
            object_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let exists = conn
            .prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?
            .exists([&u.bucket])?;
        if !exists {
            return Err(StoreError::Conflict(format!(
                "the bucket {} does not exist",
                u.bucket
            )));
        }
        conn.prepare_cached(
            "INSERT INTO uploads (id, bucket, key, created_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![u.id, u.bucket, u.key, u.created_ms, u.meta])?;
        Ok(())
    }

    fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let conn = self.conn();
        let found = conn
            .prepare_cached("SELECT id, bucket, key, created_ms, meta FROM uploads WHERE id = ?1")?
            .query_row([id], upload_from_row)
            .optional()?;
        Ok(found)
    }

    fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, bucket, key, created_ms, meta FROM uploads WHERE bucket = ?1 \
             AND substr(key, 1, length(?2)) = ?2 ORDER BY key, created_ms, id",
        )?;
        let rows = stmt.query_map([bucket, prefix], upload_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_part(&self, upload: &str, p: &PartRecord) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM uploads WHERE id = ?1")?
            .exists([upload])?;
        if !exists {
            return Err(StoreError::Conflict(format!("no upload {upload}")));
        }
        let replaced: Option<String> = tx
            .prepare_cached("SELECT blob FROM upload_parts WHERE upload = ?1 AND number = ?2")?
            .query_row(params![upload, p.number], |r| r.get(0))
            .optional()?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO upload_parts (upload, number, blob, size, etag, \
             modified_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            upload,
            p.number,
            p.blob,
            to_i64(p.size),
            p.etag,
            p.modified_ms,
            p.meta
        ])?;
        tx.commit()?;
        Ok(replaced)
    }

    fn parts(&self, upload: &str) -> Result<Vec<PartRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT number, blob, size, etag, modified_ms, meta FROM upload_parts \
             WHERE upload = ?1 ORDER BY number",
        )?;
        let rows = stmt.query_map([upload], part_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn abort_upload(&self, id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let blobs = part_blobs(&tx, id)?;
        let n = tx
            .prepare_cached("DELETE FROM uploads WHERE id = ?1")?
            .execute([id])?;
        tx.commit()?;
        Ok((n == 1).then_some(blobs))
    }

    fn complete_upload(
        &self,
        id: &str,
        object: &ObjectRecord,
        events: &[NewEvent],
    ) -> Result<(Written, Vec<String>), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let blobs = part_blobs(&tx, id)?;
        let n = tx
            .prepare_cached("DELETE FROM uploads WHERE id = ?1")?
            .execute([id])?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("no upload {id}")));
        }
        let replaced_blob = write_object(&tx, object, &WriteCondition::Any)?;
        let event_ids = events
            .iter()
            .map(|e| insert_event(&tx, e))
            .collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok((
            Written {
                replaced_blob,
                event_ids,
            },
            blobs,
        ))
    }

    fn blobs_in_use(&self) -> Result<HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT blob FROM objects UNION ALL SELECT blob FROM upload_parts")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn part_blobs(tx: &rusqlite::Transaction<'_>, upload: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT blob FROM upload_parts WHERE upload = ?1")?;
    let rows = stmt.query_map([upload], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gust.db")).unwrap();
        (dir, store)
    }

    fn bucket(name: &str) -> BucketRecord {
        BucketRecord {
            name: name.into(),
            region: "us-east-1".into(),
            created_ms: 1,
            notification: None,
        }
    }

    fn object(bucket: &str, key: &str, blob: &str) -> ObjectRecord {
        ObjectRecord {
            bucket: bucket.into(),
            key: key.into(),
            blob: blob.into(),
            size: 3,
            etag: "\"e\"".into(),
            modified_ms: 2,
            meta: "{}".into(),
        }
    }

    fn event(function: &str) -> NewEvent {
        NewEvent {
            request_id: "r".into(),
            function: function.into(),
            qualifier: None,
            payload: b"{}".to_vec(),
            accepted_ms: 1,
            due_ms: 1,
            trace: None,
        }
    }

    #[test]
    fn a_bucket_is_created_once_and_deleted_only_when_empty() {
        let (_d, s) = store();
        s.create_bucket(&bucket("b")).unwrap();
        assert!(matches!(
            s.create_bucket(&bucket("b")),
            Err(StoreError::Conflict(_))
        ));
        s.put_object(&object("b", "k", "f1"), &WriteCondition::Any, &[])
            .unwrap();
        assert_eq!(s.delete_bucket("b").unwrap(), BucketDeletion::NotEmpty);
        s.delete_object("b", "k", &|_| vec![]).unwrap();
        assert_eq!(s.delete_bucket("b").unwrap(), BucketDeletion::Deleted);
        assert_eq!(s.delete_bucket("b").unwrap(), BucketDeletion::NotFound);
    }

    #[test]
    fn an_object_write_replaces_and_queues_its_events_in_one_commit() {
        let (_d, s) = store();
        assert!(matches!(
            s.put_object(
                &object("nope", "k", "f0"),
                &WriteCondition::Any,
                &[event("f")]
            ),
            Err(StoreError::Conflict(_))
        ));
        s.create_bucket(&bucket("b")).unwrap();
        let first = s
            .put_object(
                &object("b", "k", "f1"),
                &WriteCondition::Absent,
                &[event("f")],
            )
            .unwrap();
        assert_eq!(first.replaced_blob, None);
        assert_eq!(first.event_ids.len(), 1);
        let second = s
            .put_object(
                &object("b", "k", "f2"),
                &WriteCondition::Matches("\"e\"".into()),
                &[],
            )
            .unwrap();
        assert_eq!(second.replaced_blob.as_deref(), Some("f1"));
        assert!(matches!(
            s.put_object(&object("b", "k", "f3"), &WriteCondition::Absent, &[]),
            Err(StoreError::PreconditionFailed(_))
        ));
        assert!(matches!(
            s.put_object(
                &object("b", "k", "f3"),
                &WriteCondition::Matches("\"x\"".into()),
                &[]
            ),
            Err(StoreError::PreconditionFailed(_))
        ));
        assert_eq!(s.object("b", "k").unwrap().unwrap().blob, "f2");
        use crate::events::EventStore as _;
        let queued = s.recover_events().unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            s.load_event(queued[0].0).unwrap().unwrap().function,
            "f".to_string()
        );
    }

    #[test]
    fn listing_is_in_byte_order_and_prefixes_are_literal() {
        let (_d, s) = store();
        s.create_bucket(&bucket("b")).unwrap();
        for (i, k) in ["a%", "a_b", "aXb", "a/b", "A", "é", "z"]
            .iter()
            .enumerate()
        {
            s.put_object(&object("b", k, &format!("f{i}")), &WriteCondition::Any, &[])
                .unwrap();
        }
        let keys = |prefix: &str, from: &str, limit| -> Vec<String> {
            s.list_objects("b", prefix, from, limit)
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect()
        };
        assert_eq!(
            keys("", "", 100),
            ["A", "a%", "a/b", "aXb", "a_b", "z", "é"]
        );
        assert_eq!(keys("a_", "", 100), ["a_b"]);
        assert_eq!(keys("a", "a0", 2), ["aXb", "a_b"]);
        assert!(keys("b", "", 10).is_empty());
    }

    #[test]
    fn an_upload_completes_once_into_an_object() {
        let (_d, s) = store();
        s.create_bucket(&bucket("b")).unwrap();
        let up = UploadRecord {
            id: "u".into(),
            bucket: "b".into(),
            key: "k".into(),
            created_ms: 1,
            meta: "{}".into(),
        };
        s.create_upload(&up).unwrap();
        let part = |n, blob: &str| PartRecord {
            number: n,
            blob: blob.into(),
            size: 5,
            etag: "\"p\"".into(),
            modified_ms: 1,
            meta: "{}".into(),
        };
        assert_eq!(s.put_part("u", &part(1, "p1")).unwrap(), None);
        assert_eq!(
            s.put_part("u", &part(1, "p1b")).unwrap().as_deref(),
            Some("p1")
        );
        s.put_part("u", &part(2, "p2")).unwrap();
        assert_eq!(s.parts("u").unwrap().len(), 2);
        assert_eq!(s.list_uploads("b", "").unwrap(), vec![up.clone()]);
        assert_eq!(s.delete_bucket("b").unwrap(), BucketDeletion::NotEmpty);
        let (written, mut blobs) = s
            .complete_upload("u", &object("b", "k", "whole"), &[])
            .unwrap();
        blobs.sort();
        assert_eq!(blobs, ["p1b", "p2"]);
        assert_eq!(written.replaced_blob, None);
        assert!(s.upload("u").unwrap().is_none());
        assert!(s.parts("u").unwrap().is_empty());
        assert!(matches!(
            s.complete_upload("u", &object("b", "k", "again"), &[]),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.put_part("u", &part(3, "p3")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.abort_upload("u").unwrap(), None);
        let in_use = s.blobs_in_use().unwrap();
        assert_eq!(in_use, HashSet::from(["whole".to_string()]));
    }
}
