//! Event-invoke configurations (Put/Get/Update/Delete/ListFunctionEventInvokeConfig):
//! validated from the wire, kept in memory for the dispatcher, written through to
//! the store.
//!
//! A configuration belongs to a function and a qualifier; the unqualified function
//! is `$LATEST`. An event invoked with a qualifier uses that qualifier's
//! configuration (an alias's own, not the version it points at), as Lambda does.

use std::collections::BTreeMap;
use std::time::Duration;

use gust_store::events::{EventStore, StoredInvokeConfig};
use gust_store::StoreError;
use gust_types::{name, CoreError, Region};
use gust_wire::events::{
    Destination, DestinationConfig, EventInvokeConfigRequest, FunctionEventInvokeConfig,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, DEFAULT_MAX_AGE_S, DEFAULT_MAX_RETRY};
use crate::target::Target;

/// Least `MaximumEventAgeInSeconds`.
pub const MAX_AGE_MIN_S: i64 = 60;
/// Greatest `MaximumEventAgeInSeconds`.
pub const MAX_AGE_MAX_S: i64 = 21_600;
/// Greatest `MaximumRetryAttempts`.
pub const MAX_RETRY_MAX: i64 = 2;

/// One qualifier's configuration, as stored. `None` means the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokeConfig {
    /// `MaximumRetryAttempts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry: Option<u32>,
    /// `MaximumEventAgeInSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_s: Option<u32>,
    /// `DestinationConfig.OnSuccess.Destination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure.Destination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// When it last changed, epoch ms.
    pub last_modified_ms: i64,
}

impl InvokeConfig {
    /// The retry rules this configuration gives, with the server's retry base.
    pub fn policy(&self, retry_base: Duration) -> Policy {
        Policy {
            max_retry: self.max_retry.unwrap_or(DEFAULT_MAX_RETRY),
            max_age_ms: i64::from(self.max_age_s.unwrap_or(DEFAULT_MAX_AGE_S)) * 1000,
            retry_base,
        }
    }

    /// A configuration from a Put request: every field as given, the rest default.
    pub fn from_put(req: &EventInvokeConfigRequest, now_ms: i64) -> Result<Self, CoreError> {
        let (on_success, on_failure) = destinations(req.destination_config.as_ref())?;
        Ok(InvokeConfig {
            max_retry: req.maximum_retry_attempts.map(check_retry).transpose()?,
            max_age_s: req
                .maximum_event_age_in_seconds
                .map(check_age)
                .transpose()?,
            on_success,
            on_failure,
            last_modified_ms: now_ms,
        })
    }

    /// This configuration with an Update request's fields applied; fields the request
    /// leaves out keep their values.
    pub fn updated(&self, req: &EventInvokeConfigRequest, now_ms: i64) -> Result<Self, CoreError> {
        let mut next = self.clone();
        if let Some(r) = req.maximum_retry_attempts {
            next.max_retry = Some(check_retry(r)?);
        }
        if let Some(a) = req.maximum_event_age_in_seconds {
            next.max_age_s = Some(check_age(a)?);
        }
        if let Some(d) = req.destination_config.as_ref() {
            (next.on_success, next.on_failure) = destinations(Some(d))?;
        }
        next.last_modified_ms = now_ms;
        Ok(next)
    }

    /// The Lambda API shape, for `function:qualifier`.
    pub fn to_wire(
        &self,
        region: &Region,
        function: &str,
        qualifier: &str,
    ) -> FunctionEventInvokeConfig {
        let dest = |arn: &Option<String>| {
            Some(Destination {
                destination: arn.clone(),
            })
        };
        FunctionEventInvokeConfig {
            last_modified: self.last_modified_ms as f64 / 1000.0,
            function_arn: name::qualified_arn(region, function, qualifier),
            maximum_retry_attempts: self.max_retry,
            maximum_event_age_in_seconds: self.max_age_s,
            destination_config: DestinationConfig {
                on_success: dest(&self.on_success),
                on_failure: dest(&self.on_failure),
            },
        }
    }
}

fn check_retry(v: i64) -> Result<u32, CoreError> {
    let constraint = if v < 0 {
        "greater than or equal to 0".to_string()
    } else {
        format!("less than or equal to {MAX_RETRY_MAX}")
    };
    u32::try_from(v)
        .ok()
        .filter(|_| v <= MAX_RETRY_MAX)
        .ok_or_else(|| {
            CoreError::InvalidParameterValue(format!(
                "1 validation error detected: Value '{v}' at 'maximumRetryAttempts' failed to \
                 satisfy constraint: Member must have value {constraint}"
            ))
        })
}

fn check_age(v: i64) -> Result<u32, CoreError> {
    let constraint = if v < MAX_AGE_MIN_S {
        format!("greater than or equal to {MAX_AGE_MIN_S}")
    } else {
        format!("less than or equal to {MAX_AGE_MAX_S}")
    };
    u32::try_from(v)
        .ok()
        .filter(|_| (MAX_AGE_MIN_S..=MAX_AGE_MAX_S).contains(&v))
        .ok_or_else(|| {
            CoreError::InvalidParameterValue(format!(
                "1 validation error detected: Value '{v}' at 'maximumEventAgeInSeconds' failed \
                 to satisfy constraint: Member must have value {constraint}"
            ))
        })
}

/// Validates the destinations of a DestinationConfig; `{}` or an empty ARN means none.
fn destinations(
    cfg: Option<&DestinationConfig>,
) -> Result<(Option<String>, Option<String>), CoreError> {
    let one = |d: Option<&Destination>| -> Result<Option<String>, CoreError> {
        let Some(arn) = d
            .and_then(|d| d.destination.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        match Target::parse(arn)? {
            Target::Unsupported(_) => Err(CoreError::Unsupported(format!(
                "gust cannot deliver invocation records to {arn}: use an SQS queue ARN (a gust \
                 built-in queue, read with `gust async queue NAME`) or a Lambda function ARN"
            ))),
            _ => Ok(Some(arn.to_string())),
        }
    };
    let cfg = cfg.cloned().unwrap_or_default();
    Ok((one(cfg.on_success.as_ref())?, one(cfg.on_failure.as_ref())?))
}

/// Every configuration, by (function, qualifier), in memory; the store is written
/// first on every change.
#[derive(Debug, Default)]
pub struct Configs {
    map: RwLock<BTreeMap<(String, String), InvokeConfig>>,
}

impl Configs {
    /// Reads every stored configuration. Unreadable rows are skipped with a warning
    /// (their events then use the defaults).
    pub fn load(store: &dyn EventStore) -> Result<Configs, StoreError> {
        let mut map = BTreeMap::new();
        for row in store.event_invoke_configs()? {
            match serde_json::from_str::<InvokeConfig>(&row.config) {
                Ok(c) => {
                    map.insert((row.function, row.qualifier), c);
                }
                Err(e) => tracing::warn!(
                    function = %row.function, qualifier = %row.qualifier, error = %e,
                    "unreadable event-invoke config skipped; its events use the defaults"
                ),
            }
        }
        Ok(Configs {
            map: RwLock::new(map),
        })
    }

    /// The configuration events invoked with `qualifier` use (`None`: `$LATEST`).
    pub fn effective(&self, function: &str, qualifier: Option<&str>) -> InvokeConfig {
        self.get(function, qualifier.unwrap_or("$LATEST"))
            .unwrap_or_default()
    }

    /// One qualifier's configuration, if it has one.
    pub fn get(&self, function: &str, qualifier: &str) -> Option<InvokeConfig> {
        self.map
            .read()
            .get(&(function.to_string(), qualifier.to_string()))
            .cloned()
    }

    /// Every configuration of a function, by qualifier.
    pub fn of_function(&self, function: &str) -> Vec<(String, InvokeConfig)> {
        self.map
            .read()
            .iter()
            .filter(|((f, _), _)| f == function)
            .map(|((_, q), c)| (q.clone(), c.clone()))
            .collect()
    }

    /// Stores and remembers one configuration.
    pub fn put(
        &self,
        store: &dyn EventStore,
        function: &str,
        qualifier: &str,
        config: InvokeConfig,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(&config)
            .map_err(|e| StoreError::Database(format!("encoding an event-invoke config: {e}")))?;
        store.put_event_invoke_config(&StoredInvokeConfig {
            function: function.to_string(),
            qualifier: qualifier.to_string(),
            config: json,
        })?;
        self.map
            .write()
            .insert((function.to_string(), qualifier.to_string()), config);
        Ok(())
    }

    /// Forgets one qualifier's configuration, or all of a function's. Returns how
    /// many went.
    pub fn remove(
        &self,
        store: &dyn EventStore,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<usize, StoreError> {
        let n = store.delete_event_invoke_config(function, qualifier)?;
        self.map
            .write()
            .retain(|(f, q), _| !(f == function && qualifier.is_none_or(|want| want == q)));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> EventInvokeConfigRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn put_validates_ranges_as_aws_words_them() {
        let e = InvokeConfig::from_put(&req(r#"{"MaximumRetryAttempts":3}"#), 0).unwrap_err();
        assert!(e.to_string().contains("less than or equal to 2"), "{e}");
        let e = InvokeConfig::from_put(&req(r#"{"MaximumRetryAttempts":-1}"#), 0).unwrap_err();
        assert!(e.to_string().contains("greater than or equal to 0"), "{e}");
        let e = InvokeConfig::from_put(&req(r#"{"MaximumEventAgeInSeconds":59}"#), 0).unwrap_err();
        assert!(e.to_string().contains("greater than or equal to 60"), "{e}");
        let e =
            InvokeConfig::from_put(&req(r#"{"MaximumEventAgeInSeconds":21601}"#), 0).unwrap_err();
        assert!(e.to_string().contains("less than or equal to 21600"), "{e}");
        let ok = InvokeConfig::from_put(
            &req(r#"{"MaximumRetryAttempts":0,"MaximumEventAgeInSeconds":60}"#),
            5,
        )
        .unwrap();
        assert_eq!((ok.max_retry, ok.max_age_s), (Some(0), Some(60)));
    }

    #[test]
    fn destinations_must_be_queues_or_functions() {
        let e = InvokeConfig::from_put(
            &req(r#"{"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:sns:us-east-1:000000000000:t"}}}"#),
            0,
        )
        .unwrap_err();
        assert!(matches!(e, CoreError::Unsupported(_)), "{e:?}");
        let e = InvokeConfig::from_put(
            &req(r#"{"DestinationConfig":{"OnSuccess":{"Destination":"nonsense"}}}"#),
            0,
        )
        .unwrap_err();
        assert!(matches!(e, CoreError::InvalidParameterValue(_)), "{e:?}");
    }

    #[test]
    fn put_replaces_and_update_merges() {
        let base = InvokeConfig::from_put(
            &req(r#"{"MaximumRetryAttempts":1,"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:sqs:us-east-1:000000000000:dlq"}}}"#),
            1,
        )
        .unwrap();
        let merged = base
            .updated(&req(r#"{"MaximumEventAgeInSeconds":120}"#), 2)
            .unwrap();
        assert_eq!(merged.max_retry, Some(1));
        assert_eq!(merged.max_age_s, Some(120));
        assert_eq!(
            merged.on_failure.as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:dlq")
        );
        let cleared = merged
            .updated(&req(r#"{"DestinationConfig":{"OnFailure":{}}}"#), 3)
            .unwrap();
        assert_eq!(cleared.on_failure, None);
        let replaced =
            InvokeConfig::from_put(&req(r#"{"MaximumEventAgeInSeconds":60}"#), 4).unwrap();
        assert_eq!(replaced.max_retry, None, "Put resets what it does not name");
        assert_eq!(replaced.policy(Duration::from_secs(1)).max_retry, 2);
    }

    #[test]
    fn wire_shape_is_qualified_with_empty_destinations() {
        let cfg = InvokeConfig {
            max_retry: Some(0),
            last_modified_ms: 1_573_686_021_479,
            ..Default::default()
        };
        let w = cfg.to_wire(&Region::default(), "f", "$LATEST");
        assert_eq!(
            w.function_arn,
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
        assert!((w.last_modified - 1_573_686_021.479).abs() < 1e-6);
        assert_eq!(
            w.destination_config.on_success,
            Some(Destination::default())
        );
    }
}
