//! gust's own JSON view of buckets (`/gust/v1/buckets`), for the CLI and the
//! dashboard; S3 clients use the S3 API on the same address.

use serde::{Deserialize, Serialize};

/// One bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketSummary {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The functions its writes invoke.
    pub triggers: Vec<Trigger>,
}

/// `GET /gust/v1/buckets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketList {
    /// Every bucket, by name.
    pub buckets: Vec<BucketSummary>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectSummary {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, quoted as S3 returns it.
    pub e_tag: String,
    /// When it was written (RFC 3339).
    pub last_modified: String,
}

/// `GET /gust/v1/buckets/{bucket}/objects?prefix=&after=&limit=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectList {
    /// The objects, in key order.
    pub objects: Vec<ObjectSummary>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A function a bucket's writes invoke (one of its notification configurations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    /// The configuration's id.
    pub id: String,
    /// The function's ARN.
    pub function_arn: String,
    /// S3 event types (`s3:ObjectCreated:*`, ...).
    pub events: Vec<String>,
    /// Only keys starting with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only keys ending with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// `PUT /gust/v1/buckets/{bucket}/triggers/{function}`: connects the function
/// (replacing its earlier connection to the bucket); the bucket is created if it
/// does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerRequest {
    /// S3 event types; default `["s3:ObjectCreated:*"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Only keys starting with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only keys ending with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}
