//! Event notifications: a bucket's `LambdaFunctionConfigurations`, validated as S3
//! validates them, stored as JSON with the bucket, and the S3 event records
//! (`eventVersion` 2.1) that an object write or delete queues for each matching
//! function, through the durable asynchronous-invocation queue.

use std::sync::atomic::{AtomicU64, Ordering};

use gust_store::events::NewEvent;
use s3s::dto;
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

/// Resolves functions for notifications and schedules the events queued with
/// object writes (implemented by the platform).
pub trait Notifier: Send + Sync + 'static {
    /// The function (name, qualifier) an ARN such as
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` names, if it
    /// exists here.
    fn resolve_function(&self, arn: &str) -> Option<(String, Option<String>)>;
    /// Events with these ids were committed to the queue (with an object write):
    /// dispatch them from `due_ms`.
    fn scheduled(&self, ids: &[i64], due_ms: i64);
}

/// A bucket's notification configuration, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Config {
    pub lambdas: Vec<Target>,
}

/// One `LambdaFunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub id: String,
    pub function_arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

/// The event types a configuration may name.
const EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:Replication:*",
    "s3:ReducedRedundancyLostObject",
];

impl Config {
    /// Checks a PutBucketNotificationConfiguration body as S3 does. Queue, topic
    /// and EventBridge destinations do not exist here and are refused, saying so.
    pub(crate) fn from_dto(
        n: dto::NotificationConfiguration,
        notifier: &dyn Notifier,
    ) -> S3Result<Config> {
        if n.queue_configurations
            .as_ref()
            .is_some_and(|q| !q.is_empty())
            || n.topic_configurations
                .as_ref()
                .is_some_and(|t| !t.is_empty())
            || n.event_bridge_configuration.is_some()
        {
            return Err(s3_error!(
                InvalidArgument,
                "gust delivers bucket notifications to Lambda functions only \
                 (LambdaFunctionConfigurations); queue, topic and EventBridge \
                 destinations are not supported"
            ));
        }
        let mut lambdas = Vec::new();
        for (i, c) in n
            .lambda_function_configurations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if c.events.is_empty() {
                return Err(s3_error!(
                    InvalidArgument,
                    "A notification configuration must name at least one event"
                ));
            }
            let mut events = Vec::new();
            for e in &c.events {
                let name: &str = e.as_ref();
                if !EVENT_TYPES.contains(&name) {
                    return Err(s3_error!(
                        InvalidArgument,
                        "The event is not supported for notifications: {name}"
                    ));
                }
                events.push(name.to_string());
            }
            let (mut prefix, mut suffix) = (None, None);
            for rule in c
                .filter
                .and_then(|f| f.key)
                .and_then(|k| k.filter_rules)
                .unwrap_or_default()
            {
                let name = rule.name.as_ref().map(|n| n.as_str().to_ascii_lowercase());
                let value = rule.value.unwrap_or_default();
                let slot = match name.as_deref() {
                    Some("prefix") => &mut prefix,
                    Some("suffix") => &mut suffix,
                    _ => {
                        return Err(s3_error!(
                            InvalidArgument,
                            "filter rule name must be either prefix or suffix"
                        ))
                    }
                };
                if slot.is_some() {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Cannot specify more than one prefix rule (or suffix rule) in a filter."
                    ));
                }
                *slot = Some(value);
            }
            lambdas.push(Target {
                id: c
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("gust-notification-{}", i + 1)),
                function_arn: c.lambda_function_arn,
                events,
                prefix,
                suffix,
            });
        }
        let config = Config { lambdas };
        config.check(notifier)?;
        Ok(config)
    }

    /// What S3 checks of a whole configuration: known event types, destinations
    /// that exist, and no two configurations firing for the same event and key.
    pub(crate) fn check(&self, notifier: &dyn Notifier) -> S3Result<()> {
        for t in &self.lambdas {
            if let Some(e) = t.events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
                return Err(s3_error!(
                    InvalidArgument,
                    "The event is not supported for notifications: {e}"
                ));
            }
        }
        let unresolved: Vec<&str> = self
            .lambdas
            .iter()
            .filter(|t| notifier.resolve_function(&t.function_arn).is_none())
            .map(|t| t.function_arn.as_str())
            .collect();
        if !unresolved.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "Unable to validate the following destination configurations: {} \
                 (no such function)",
                unresolved.join(", ")
            ));
        }
        for (i, a) in self.lambdas.iter().enumerate() {
            for b in &self.lambdas[i + 1..] {
                if a.overlaps(b) {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Configurations overlap. Configurations on the same bucket cannot \
                         share a common event type."
                    ));
                }
            }
        }
        Ok(())
    }

    /// The configuration as GetBucketNotificationConfiguration returns it.
    pub(crate) fn to_dto(&self) -> dto::GetBucketNotificationConfigurationOutput {
        let lambdas = self
            .lambdas
            .iter()
            .map(|t| {
                let mut rules = Vec::new();
                for (name, value) in [("prefix", &t.prefix), ("suffix", &t.suffix)] {
                    if let Some(v) = value {
                        rules.push(dto::FilterRule {
                            name: Some(dto::FilterRuleName::from(name.to_string())),
                            value: Some(v.clone()),
                        });
                    }
                }
                dto::LambdaFunctionConfiguration {
                    events: t
                        .events
                        .iter()
                        .map(|e| dto::Event::from(e.clone()))
                        .collect(),
                    filter: (!rules.is_empty()).then_some(dto::NotificationConfigurationFilter {
                        key: Some(dto::S3KeyFilter {
                            filter_rules: Some(rules),
                        }),
                    }),
                    id: Some(t.id.clone()),
                    lambda_function_arn: t.function_arn.clone(),
                }
            })
            .collect::<Vec<_>>();
        dto::GetBucketNotificationConfigurationOutput {
            lambda_function_configurations: (!lambdas.is_empty()).then_some(lambdas),
            ..Default::default()
        }
    }
}

impl Target {
    /// Whether this configuration fires for `event` (`ObjectCreated:Put`) on `key`.
    fn matches(&self, event: &str, key: &str) -> bool {
        let (family, _) = event.split_once(':').unwrap_or((event, ""));
        let fires = self.events.iter().any(|e| {
            let e = e.strip_prefix("s3:").unwrap_or(e);
            e == event || e.strip_suffix(":*") == Some(family)
        });
        fires
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// Whether both could fire for one event on one key.
    fn overlaps(&self, other: &Target) -> bool {
        let family = |e: &str| {
            e.rsplit_once(':')
                .map_or(e.to_string(), |(f, _)| f.to_string())
        };
        let shared = self.events.iter().any(|a| {
            other.events.iter().any(|b| {
                a == b || (a.ends_with(":*") || b.ends_with(":*")) && family(a) == family(b)
            })
        });
        let compatible =
            |x: &Option<String>, y: &Option<String>, f: fn(&str, &str) -> bool| match (x, y) {
                (Some(x), Some(y)) => f(x, y) || f(y, x),
                _ => true,
            };
        shared
            && compatible(&self.prefix, &other.prefix, |a, b| a.starts_with(b))
            && compatible(&self.suffix, &other.suffix, |a, b| a.ends_with(b))
    }
}

/// What happened to an object, for its event record.
pub(crate) struct Happened<'a> {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, ...
    pub event: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Size and ETag (unquoted) of a created object.
    pub object: Option<(u64, &'a str)>,
    pub request_id: &'a str,
    pub source_ip: &'a str,
    /// The request's `X-Amzn-Trace-Id` (a function's SDK sends its own): the
    /// invocations it causes continue its chain, for loop detection.
    pub trace: Option<&'a str>,
}

/// Orders events on one key: S3's `sequencer`, a hex value that grows with every
/// event.
static SEQUENCER: AtomicU64 = AtomicU64::new(0);

fn sequencer(now_ms: i64) -> String {
    let base = u64::try_from(now_ms).unwrap_or(0) << 20;
    let mut current = SEQUENCER.load(Ordering::Relaxed);
    loop {
        let next = current.max(base) + 1;
        match SEQUENCER.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:018X}"),
            Err(seen) => current = seen,
        }
    }
}

/// The events `config` asks for when `what` happens, as queued invocations.
pub(crate) fn events_for(
    config: Option<&str>,
    what: &Happened<'_>,
    region: &str,
    now_ms: i64,
    notifier: &dyn Notifier,
) -> Vec<NewEvent> {
    let Some(config) = config.and_then(|c| serde_json::from_str::<Config>(c).ok()) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    for target in config
        .lambdas
        .iter()
        .filter(|t| t.matches(what.event, what.key))
    {
        let Some((function, qualifier)) = notifier.resolve_function(&target.function_arn) else {
            tracing::warn!(bucket = what.bucket, function = %target.function_arn, "a bucket notification names a function that is gone");
            continue;
        };
        let record = record(target, what, region, now_ms);
        events.push(NewEvent {
            request_id: uuid::Uuid::new_v4().hyphenated().to_string(),
            function,
            qualifier,
            payload: serde_json::to_vec(&record).unwrap_or_default(),
            accepted_ms: now_ms,
            due_ms: now_ms,
            trace: what.trace.map(str::to_string),
        });
    }
    events
}

/// S3's event record for one configuration.
fn record(target: &Target, what: &Happened<'_>, region: &str, now_ms: i64) -> serde_json::Value {
    // URL-encoded as a form value (spaces as '+'), slashes kept, as S3 writes it.
    let key: String = what
        .key
        .split('/')
        .map(|part| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/");
    let mut object = serde_json::json!({
        "key": key,
        "sequencer": sequencer(now_ms),
    });
    if let Some((size, etag)) = what.object {
        object["size"] = size.into();
        object["eTag"] = etag.into();
    }
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let event_time = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond()
    );
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": event_time,
            "eventName": what.event,
            "userIdentity": {"principalId": "gust"},
            "requestParameters": {"sourceIPAddress": what.source_ip},
            "responseElements": {
                "x-amz-request-id": what.request_id,
                "x-amz-id-2": what.request_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": target.id,
                "bucket": {
                    "name": what.bucket,
                    "ownerIdentity": {"principalId": "gust"},
                    "arn": format!("arn:aws:s3:::{}", what.bucket),
                },
                "object": object,
            },
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> Target {
        Target {
            id: "t".into(),
            function_arn: "arn".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: prefix.map(str::to_string),
            suffix: suffix.map(str::to_string),
        }
    }

    #[test]
    fn wildcards_and_filters_decide_what_fires() {
        let t = target(&["s3:ObjectCreated:*"], Some("in/"), Some(".jpg"));
        assert!(t.matches("ObjectCreated:Put", "in/a.jpg"));
        assert!(t.matches("ObjectCreated:CompleteMultipartUpload", "in/b.jpg"));
        assert!(!t.matches("ObjectRemoved:Delete", "in/a.jpg"));
        assert!(!t.matches("ObjectCreated:Put", "out/a.jpg"));
        assert!(!t.matches("ObjectCreated:Put", "in/a.png"));
        let d = target(&["s3:ObjectRemoved:Delete"], None, None);
        assert!(d.matches("ObjectRemoved:Delete", "x"));
        assert!(!d.matches("ObjectCreated:Put", "x"));
    }

    #[test]
    fn overlapping_configurations_are_found() {
        let all = target(&["s3:ObjectCreated:*"], None, None);
        let put = target(&["s3:ObjectCreated:Put"], Some("a/"), None);
        let delete = target(&["s3:ObjectRemoved:*"], None, None);
        let other_prefix = target(&["s3:ObjectCreated:Put"], Some("b/"), None);
        assert!(all.overlaps(&put));
        assert!(!put.overlaps(&delete));
        assert!(!put.overlaps(&other_prefix));
    }

    #[test]
    fn records_encode_keys_as_s3_does_and_sequencers_grow() {
        let what = Happened {
            event: "ObjectCreated:Put",
            bucket: "b",
            key: "photos/a b+é.jpg",
            object: Some((3, "abc")),
            request_id: "r",
            source_ip: "127.0.0.1",
            trace: None,
        };
        let r = record(
            &target(&["s3:ObjectCreated:*"], None, None),
            &what,
            "us-east-1",
            1,
        );
        let obj = &r["Records"][0]["s3"]["object"];
        assert_eq!(obj["key"], "photos/a+b%2B%C3%A9.jpg");
        assert_eq!(obj["size"], 3);
        assert_eq!(r["Records"][0]["eventTime"], "1970-01-01T00:00:00.001Z");
        assert!(sequencer(5) < sequencer(5));
    }
}
