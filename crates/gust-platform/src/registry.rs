//! The in-memory registry: every function with its `$LATEST`, published versions,
//! aliases and limits. Each [`Function`] is an immutable snapshot: a change builds a
//! new one and swaps the `Arc`, so the invoke path takes one read lock and clones
//! one pointer.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use gust_scheduler::Pool;
use gust_types::{name, CoreError, FunctionConfig, FunctionRef, Region};
use gust_worker::FunctionLog;
use serde::{Deserialize, Serialize};

/// One version's live state.
pub(crate) struct Entry {
    pub config: Arc<FunctionConfig>,
    pub pool: Arc<Pool>,
}

/// What outlives configuration changes: the log and the in-flight count that
/// reserved concurrency limits.
pub(crate) struct Shared {
    pub log: Arc<FunctionLog>,
    pub in_flight: AtomicU32,
}

/// An alias as stored (setting kind `alias`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Alias {
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The other version and its share of traffic.
    #[serde(default)]
    pub routing: Option<(String, f64)>,
    pub revision_id: String,
}

/// Provisioned concurrency as stored (setting kind `provisioned`, key = qualifier).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Provisioned {
    pub requested: u32,
    pub last_modified: String,
}

/// The counters stored per function (setting kind `meta`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Highest version number ever published; numbers are never reused.
    pub last_version: u64,
}

/// One function, immutable.
#[derive(Clone)]
pub(crate) struct Function {
    pub latest: Arc<Entry>,
    pub versions: BTreeMap<u64, Arc<Entry>>,
    pub aliases: BTreeMap<String, Alias>,
    pub provisioned: BTreeMap<String, Provisioned>,
    pub meta: Meta,
    pub reserved: Option<u32>,
    /// Function URLs by qualifier (`""` for none).
    pub urls: BTreeMap<String, crate::urls::StoredUrl>,
    /// The gust-only network setting every version's instances start with.
    pub network: crate::network::Network,
    /// The function's tags (TagResource, CreateFunction's `Tags`).
    pub tags: crate::tags::Tags,
    pub shared: Arc<Shared>,
}

/// What a qualifier names.
pub(crate) enum Target<'a> {
    Latest,
    Version(u64),
    Alias(&'a Alias),
}

impl Function {
    pub fn name(&self) -> &str {
        &self.latest.config.name
    }

    /// Parses a qualifier into what it names, or not-found.
    pub fn target<'a>(
        &'a self,
        qualifier: Option<&'a str>,
        region: &Region,
    ) -> Result<Target<'a>, CoreError> {
        match qualifier {
            None | Some("$LATEST") => Ok(Target::Latest),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u64 = q.parse().map_err(|_| self.not_found(q, region))?;
                if self.versions.contains_key(&v) {
                    Ok(Target::Version(v))
                } else {
                    Err(self.not_found(q, region))
                }
            }
            Some(q) => match self.aliases.get(q) {
                Some(a) => Ok(Target::Alias(a)),
                None => Err(self.not_found(q, region)),
            },
        }
    }

    /// The entry a version string (`$LATEST` or a number) names.
    pub fn version_entry(&self, version: &str) -> Option<&Arc<Entry>> {
        if version == "$LATEST" {
            Some(&self.latest)
        } else {
            version.parse().ok().and_then(|v| self.versions.get(&v))
        }
    }

    /// The entry to run for a qualifier: an alias with routing picks a version by
    /// its weights.
    pub fn entry_for_invoke(
        &self,
        qualifier: Option<&str>,
        region: &Region,
    ) -> Result<&Arc<Entry>, CoreError> {
        let version = match self.target(qualifier, region)? {
            Target::Latest => return Ok(&self.latest),
            Target::Version(v) => return Ok(&self.versions[&v]),
            Target::Alias(alias) => match &alias.routing {
                Some((other, weight)) if fastrand::f64() < *weight => other.as_str(),
                _ => alias.version.as_str(),
            },
        };
        self.version_entry(version).ok_or_else(|| {
            CoreError::ResourceNotFound(format!("Alias target version {version} no longer exists"))
        })
    }

    /// The entry whose configuration Get returns (an alias shows its main version).
    pub fn entry_for_get(
        &self,
        qualifier: Option<&str>,
        region: &Region,
    ) -> Result<&Arc<Entry>, CoreError> {
        match self.target(qualifier, region)? {
            Target::Latest => Ok(&self.latest),
            Target::Version(v) => Ok(&self.versions[&v]),
            Target::Alias(alias) => self.version_entry(&alias.version).ok_or_else(|| {
                CoreError::ResourceNotFound(format!(
                    "Alias target version {} no longer exists",
                    alias.version
                ))
            }),
        }
    }

    pub fn not_found(&self, qualifier: &str, region: &Region) -> CoreError {
        CoreError::ResourceNotFound(format!(
            "Function not found: {}",
            name::qualified_arn(region, self.name(), qualifier)
        ))
    }
}

/// Parses a reference's name and checks the function exists.
pub(crate) fn function_not_found(region: &Region, fref: &FunctionRef) -> CoreError {
    match &fref.qualifier {
        Some(q) => CoreError::ResourceNotFound(format!(
            "Function not found: {}",
            name::qualified_arn(region, &fref.name, q)
        )),
        None => CoreError::function_not_found(&name::function_arn(region, &fref.name)),
    }
}
