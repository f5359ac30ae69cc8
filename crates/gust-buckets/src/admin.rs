//! gust's own view of the store, for `/gust/v1/buckets` (the CLI and the
//! dashboard): buckets with the functions they trigger, objects, and connecting a
//! bucket to a function in one call.

use gust_store::buckets::BucketRecord;
use gust_store::StoreError;
use gust_wire::buckets::{
    BucketList, BucketSummary, ObjectList, ObjectSummary, Trigger, TriggerRequest,
};

use crate::notify::{Config, Target};
use crate::Buckets;

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// No such bucket.
    #[error("{0}")]
    NotFound(String),
    /// The request is not valid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for BucketError {
    fn from(e: StoreError) -> Self {
        BucketError::Internal(e.to_string())
    }
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn trigger(t: &Target) -> Trigger {
    Trigger {
        id: t.id.clone(),
        function_arn: t.function_arn.clone(),
        events: t.events.clone(),
        prefix: t.prefix.clone(),
        suffix: t.suffix.clone(),
    }
}

fn config_of(b: &BucketRecord) -> Config {
    b.notification
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

impl Buckets {
    /// Every bucket, with its triggers.
    pub fn summaries(&self) -> Result<BucketList, BucketError> {
        let buckets = self
            .store
            .list_buckets()?
            .into_iter()
            .map(|b| BucketSummary {
                triggers: config_of(&b).lambdas.iter().map(trigger).collect(),
                name: b.name,
                region: b.region,
                created: rfc3339(b.created_ms),
            })
            .collect();
        Ok(BucketList { buckets })
    }

    /// Up to `limit` objects of `bucket` under `prefix`, after key `after`.
    pub fn objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<ObjectList, BucketError> {
        if self.store.bucket(bucket)?.is_none() {
            return Err(BucketError::NotFound(format!("no bucket named {bucket}")));
        }
        let limit = limit.clamp(1, 1000);
        let page = crate::listing::list(
            |from, n| self.store.list_objects(bucket, prefix, from, n),
            prefix,
            after,
            None,
            limit,
        )?;
        Ok(ObjectList {
            objects: page
                .objects
                .into_iter()
                .map(|o| ObjectSummary {
                    key: o.key,
                    size: o.size,
                    e_tag: o.etag,
                    last_modified: rfc3339(o.modified_ms),
                })
                .collect(),
            next_after: page.next.filter(|_| page.truncated),
        })
    }

    /// Connects `function_arn` to `bucket` (created if missing; the function's
    /// earlier connection to it is replaced). Returns the trigger and whether the
    /// bucket was created.
    pub fn connect(
        &self,
        bucket: &str,
        function_arn: &str,
        req: TriggerRequest,
    ) -> Result<(Trigger, bool), BucketError> {
        if self.notifier.resolve_function(function_arn).is_none() {
            return Err(BucketError::NotFound(format!("no function {function_arn}")));
        }
        let created = match self.store.bucket(bucket)? {
            Some(_) => false,
            None => {
                if !s3s::path::check_bucket_name(bucket) {
                    return Err(BucketError::Invalid(format!(
                        "{bucket} is not a valid bucket name: 3 to 63 lowercase letters, \
                         digits, dots and hyphens, starting and ending with a letter or digit"
                    )));
                }
                let record = BucketRecord {
                    name: bucket.to_string(),
                    region: self.region.clone(),
                    created_ms: crate::s3::now_ms(),
                    notification: None,
                };
                match self.store.create_bucket(&record) {
                    Ok(()) | Err(StoreError::Conflict(_)) => true,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let current = self
            .store
            .bucket(bucket)?
            .ok_or_else(|| BucketError::NotFound(format!("no bucket named {bucket}")))?;
        let mut config = config_of(&current);
        config.lambdas.retain(|t| t.function_arn != function_arn);
        let events = if req.events.is_empty() {
            vec!["s3:ObjectCreated:*".to_string()]
        } else {
            req.events
        };
        let name = function_arn.rsplit(':').next().unwrap_or(function_arn);
        let target = Target {
            id: format!("gust-{name}"),
            function_arn: function_arn.to_string(),
            events,
            prefix: req.prefix.filter(|p| !p.is_empty()),
            suffix: req.suffix.filter(|s| !s.is_empty()),
        };
        config.lambdas.push(target.clone());
        config
            .check(&*self.notifier)
            .map_err(|e| BucketError::Invalid(e.message().unwrap_or("invalid").to_string()))?;
        let json =
            serde_json::to_string(&config).map_err(|e| BucketError::Internal(e.to_string()))?;
        if !self.store.set_notification(bucket, Some(&json))? {
            return Err(BucketError::NotFound(format!("no bucket named {bucket}")));
        }
        Ok((trigger(&target), created))
    }

    /// Disconnects `function_arn` from `bucket`; `false` if it was not connected.
    pub fn disconnect(&self, bucket: &str, function_arn: &str) -> Result<bool, BucketError> {
        let current = self
            .store
            .bucket(bucket)?
            .ok_or_else(|| BucketError::NotFound(format!("no bucket named {bucket}")))?;
        let mut config = config_of(&current);
        let before = config.lambdas.len();
        config.lambdas.retain(|t| t.function_arn != function_arn);
        if config.lambdas.len() == before {
            return Ok(false);
        }
        let json = (!config.lambdas.is_empty())
            .then(|| serde_json::to_string(&config).unwrap_or_default());
        self.store.set_notification(bucket, json.as_deref())?;
        Ok(true)
    }
}
