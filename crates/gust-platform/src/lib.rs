//! gust's core. The gateway parses HTTP into the typed calls of [`Platform`]; the
//! platform validates, persists through the stores, keeps the in-memory function
//! registry that the invoke path reads, and hands invocations to the scheduler. It
//! knows nothing about HTTP (DESIGN.md §2).
//!
//! # Layout
//! - [`Platform`]: the registry and every operation.
//! - `registry`: the immutable per-function snapshots the invoke path reads.
//! - `convert`: between stored [`FunctionConfig`] and the Lambda wire shapes.
//! - `manage`: Create/Get/List/Update/Delete.
//! - `versions`, `aliases`: PublishVersion, ListVersionsByFunction, alias CRUD.
//! - `concurrency`: reserved, account-wide and provisioned concurrency.
//! - `invoke`: the invoke path; `payload`: what a payload must be to get there.
//! - `events`: asynchronous (Event) invocation, event-invoke configs, async listing.
//! - `urls`: function URL configurations and the url-id lookup.
//! - `network`: the gust-only outbound network setting.
//! - `schedules`: rate/cron rules and the runner that fires them.
//! - `tags`: TagResource, UntagResource, ListTags.
//! - `layers`: layer versions, their permissions, and a function's `Layers`.
//! - [`metrics`]: what `/metrics` counts; [`series`]: the last minutes of each
//!   function's invocations, for the dashboard's charts.
//! - `overview`: every function with its versions, aliases and URLs in one answer.

#![forbid(unsafe_code)]

mod aliases;
mod concurrency;
mod convert;
mod events;
mod invoke;
mod layers;
mod manage;
pub mod metrics;
mod network;
mod overview;
mod payload;
mod registry;
mod schedules;
pub mod series;
mod tags;
mod urls;
mod versions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use gust_scheduler::Scheduler;
use gust_store::layers::LayerStore;
use gust_store::settings::{Setting, SettingsStore};
use gust_store::{ArchiveStore, FunctionStore};
use gust_types::{CoreError, FunctionConfig, FunctionRef, Region};
use gust_worker::{FunctionLog, InstanceSpec};
use parking_lot::RwLock;

/// What the gateway needs of the worker's types, so that it depends on the platform
/// alone: a streamed response's pieces, and the functions' own credentials.
pub use gust_worker::{credentials::FunctionKeys, streaming};
pub use invoke::{InvocationType, InvokeRequest};
pub use layers::{decode_layer_zip, LayerFilter, LayerLocation};
pub use payload::{check_json as check_payload, MAX_DEPTH as PAYLOAD_MAX_DEPTH};
use registry::{Entry, Function, Meta, Shared};
pub use schedules::MISSED_GRACE;
pub use urls::{ResolvedUrl, UrlAuth, UrlStyle, URL_PATH_PREFIX};

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Region in ARNs.
    pub region: Region,
    /// How long an invocation may wait for capacity before it is throttled.
    pub queue_timeout: Duration,
    /// Log bytes kept per function.
    pub log_bytes_per_function: usize,
    /// Base URL of the API as a client on this machine reaches it (never `0.0.0.0`),
    /// for links when a request carries no `Host`.
    pub base_url: String,
    /// Concurrent executions allowed across all functions (GetAccountSettings).
    pub account_concurrency: u32,
    /// Accept `rate(N seconds)` in schedules: a testing aid (EventBridge's smallest
    /// rate is one minute).
    pub allow_second_rates: bool,
    /// Which form of URL function URL configurations hand out.
    pub url_style: UrlStyle,
}

/// The platform core.
pub struct Platform {
    pub(crate) config: PlatformConfig,
    pub(crate) store: Arc<dyn FunctionStore>,
    pub(crate) settings: Arc<dyn SettingsStore>,
    pub(crate) archives: Arc<dyn ArchiveStore>,
    /// Layer versions (see `layers`).
    pub(crate) layers: Arc<dyn LayerStore>,
    pub(crate) scheduler: Arc<Scheduler>,
    /// Every function, by name. Reads are the invoke path's only lookup.
    pub(crate) registry: RwLock<BTreeMap<String, Arc<Function>>>,
    /// Serialises management writes so check-then-write sequences are atomic.
    pub(crate) writes: tokio::sync::Mutex<()>,
    /// Invocations in flight of functions without reserved concurrency.
    pub(crate) unreserved_in_flight: AtomicU32,
    /// The asynchronous-invocation queue (see `events`), once attached.
    pub(crate) events: std::sync::OnceLock<gust_events::AsyncEvents>,
    /// Function URLs by url-id (see `urls`).
    pub(crate) url_ids: RwLock<urls::UrlIndex>,
    /// Schedule rules (see `schedules`).
    pub(crate) schedules: schedules::Schedules,
    /// What `/metrics` and `gust usage` report (see `metrics`).
    pub(crate) metrics: metrics::Metrics,
}

impl Platform {
    /// Loads every stored function, version, alias and setting into the registry.
    pub fn open(
        config: PlatformConfig,
        store: Arc<dyn FunctionStore>,
        settings: Arc<dyn SettingsStore>,
        archives: Arc<dyn ArchiveStore>,
        layers: Arc<dyn LayerStore>,
        scheduler: Arc<Scheduler>,
    ) -> Result<Platform, CoreError> {
        let platform = Platform {
            config,
            store,
            settings,
            archives,
            layers,
            scheduler,
            registry: RwLock::new(BTreeMap::new()),
            writes: tokio::sync::Mutex::new(()),
            unreserved_in_flight: AtomicU32::new(0),
            events: std::sync::OnceLock::new(),
            url_ids: RwLock::default(),
            schedules: schedules::Schedules::default(),
            metrics: metrics::Metrics::default(),
        };
        platform.load()?;
        platform.index_urls();
        platform.load_schedules()?;
        Ok(platform)
    }

    fn load(&self) -> Result<(), CoreError> {
        let mut by_name: BTreeMap<String, Vec<FunctionConfig>> = BTreeMap::new();
        for cfg in self.store.list_functions()? {
            by_name.entry(cfg.name.clone()).or_default().push(cfg);
        }
        let mut settings: BTreeMap<String, Vec<Setting>> = BTreeMap::new();
        for s in self.settings.list_settings()? {
            settings.entry(s.function.clone()).or_default().push(s);
        }
        let mut tags = self.store.list_tags()?;
        let mut registry = self.registry.write();
        for (name, configs) in by_name {
            let shared = Arc::new(Shared {
                log: Arc::new(FunctionLog::new(self.config.log_bytes_per_function)),
                in_flight: AtomicU32::new(0),
            });
            let mut settings = settings.remove(&name).unwrap_or_default();
            // The network setting decides how the entries' instances start.
            let network = network::take(&mut settings);
            let mut latest = None;
            let mut versions = BTreeMap::new();
            for cfg in configs {
                if let Err(e) = self.build_opt_blocking(&cfg) {
                    tracing::warn!(function = %name, version = %cfg.version, error = %e, "could not build the function's /opt from its layers");
                }
                let version = cfg.version.clone();
                let entry = self.new_entry(Arc::new(cfg), &shared.log, network.outbound);
                match version.parse::<u64>() {
                    Ok(v) => {
                        versions.insert(v, entry);
                    }
                    Err(_) => latest = Some(entry),
                }
            }
            let Some(latest) = latest else {
                tracing::warn!(function = %name, "stored versions without $LATEST: skipped");
                continue;
            };
            let mut function = Function {
                latest,
                versions,
                aliases: BTreeMap::new(),
                provisioned: BTreeMap::new(),
                meta: Meta::default(),
                reserved: None,
                urls: BTreeMap::new(),
                network,
                tags: tags.remove(&name).unwrap_or_default(),
                shared,
            };
            for s in settings {
                if let Err(e) = apply_setting(&mut function, &s) {
                    tracing::warn!(function = %name, kind = %s.kind, error = %e, "unreadable setting skipped");
                }
            }
            function.meta.last_version = function
                .meta
                .last_version
                .max(function.versions.keys().next_back().copied().unwrap_or(0));
            self.apply_provisioned(&function);
            registry.insert(name, Arc::new(function));
        }
        Ok(())
    }

    /// A version's live state with a fresh warm stack; `outbound` is the function's
    /// network setting, which its instances start with.
    pub(crate) fn new_entry(
        &self,
        config: Arc<FunctionConfig>,
        log: &Arc<FunctionLog>,
        outbound: bool,
    ) -> Arc<Entry> {
        let spec = Arc::new(InstanceSpec {
            config: config.clone(),
            code_dir: self.archives.code_dir(&config.code_digest),
            opt_dir: (!config.layers.is_empty())
                .then(|| self.archives.opt_dir(&layer_digests(&config))),
            log: log.clone(),
            outbound,
        });
        Arc::new(Entry {
            config,
            pool: self.scheduler.pool(spec),
        })
    }

    /// The function a reference names (its qualifier is not checked here).
    pub(crate) fn function(&self, fref: &FunctionRef) -> Result<Arc<Function>, CoreError> {
        self.registry
            .read()
            .get(&fref.name)
            .cloned()
            .ok_or_else(|| {
                registry::function_not_found(
                    &self.config.region,
                    &FunctionRef {
                        name: fref.name.clone(),
                        qualifier: None,
                    },
                )
            })
    }

    /// Replaces a function's snapshot.
    pub(crate) fn publish_snapshot(&self, function: Function) -> Arc<Function> {
        let function = Arc::new(function);
        self.registry
            .write()
            .insert(function.name().to_string(), function.clone());
        function
    }

    /// Writes a setting as JSON.
    pub(crate) fn put_setting<T: serde::Serialize>(
        &self,
        function: &str,
        kind: &str,
        key: &str,
        value: &T,
    ) -> Result<(), CoreError> {
        let value = serde_json::to_string(value)
            .map_err(|e| CoreError::Internal(format!("encoding a {kind} setting: {e}")))?;
        self.settings.put_setting(&Setting {
            function: function.to_string(),
            kind: kind.to_string(),
            key: key.to_string(),
            value,
        })?;
        Ok(())
    }

    /// What gust counts, for `/metrics` and `gust usage`.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The API's base URL (`http://HOST:PORT`), for links to gust itself when a
    /// request does not say which address the client used.
    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// The scheduler, for health and shutdown.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Path of a function's zip archive, for Code.Location downloads.
    pub fn archive_path(&self, name: &str, digest: Option<&str>) -> Result<PathBuf, CoreError> {
        let f = self.function(&FunctionRef {
            name: name.to_string(),
            qualifier: None,
        })?;
        let known = std::iter::once(&f.latest)
            .chain(f.versions.values())
            .map(|e| &e.config.code_digest)
            .find(|d| digest.is_none_or(|want| want == d.as_str()))
            .ok_or_else(|| {
                CoreError::ResourceNotFound(format!("No code {} for {name}", digest.unwrap_or("")))
            })?;
        Ok(self.archives.zip_path(known))
    }

    /// A function's log records after `after`, waiting up to `wait` for new ones.
    pub async fn logs(
        &self,
        name: &str,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<gust_wire::gust::LogsResponse, CoreError> {
        let fref = FunctionRef::parse_local(name, &self.config.region)?;
        let log = self.function(&fref)?.shared.log.clone();
        let (records, next_seq) = log.read_wait(after, limit.clamp(1, 10_000), wait).await;
        Ok(gust_wire::gust::LogsResponse {
            events: records
                .into_iter()
                .map(|r| gust_wire::gust::LogEvent {
                    seq: r.seq,
                    timestamp: r.timestamp_ms,
                    request_id: r.request_id,
                    message: r.message,
                })
                .collect(),
            next_seq,
        })
    }

    /// Health figures.
    pub fn health(&self) -> gust_wire::gust::Health {
        let stats = self.scheduler.stats();
        gust_wire::gust::Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            isolation: self.scheduler.worker().isolation().into(),
            instances: stats.instances,
            instance_states: instance_states(&stats),
            reserved_memory_mb: stats.reserved_mb,
            capacity_memory_mb: stats.capacity_mb,
        }
    }

    /// Removes archives no function version or layer version uses any more, and
    /// merged layer trees no function version uses.
    pub(crate) fn collect_garbage(&self) {
        let mut live = match self.live_layer_digests() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not list layer versions: no archive removed");
                return;
            }
        };
        for f in self.registry.read().values() {
            for e in std::iter::once(&f.latest).chain(f.versions.values()) {
                live.insert(e.config.code_digest.clone());
                if !e.config.layers.is_empty() {
                    let digests = layer_digests(&e.config);
                    live.insert(gust_store::layer_set_key(&digests));
                    live.extend(digests);
                }
            }
        }
        if let Err(e) = self.archives.remove_unused(&live) {
            tracing::warn!(error = %e, "could not remove unused archives");
        }
    }
}

/// The hex digests of a configuration's layers, in order.
pub(crate) fn layer_digests(config: &FunctionConfig) -> Vec<String> {
    config.layers.iter().map(|l| l.digest.clone()).collect()
}

/// Applies one stored setting to a function being loaded.
fn apply_setting(f: &mut Function, s: &Setting) -> Result<(), String> {
    let parse_err = |e: serde_json::Error| e.to_string();
    match s.kind.as_str() {
        "meta" => f.meta = serde_json::from_str(&s.value).map_err(parse_err)?,
        "alias" => {
            f.aliases.insert(
                s.key.clone(),
                serde_json::from_str(&s.value).map_err(parse_err)?,
            );
        }
        "concurrency" => {
            let c: concurrency::Reserved = serde_json::from_str(&s.value).map_err(parse_err)?;
            f.reserved = Some(c.reserved);
        }
        "provisioned" => {
            f.provisioned.insert(
                s.key.clone(),
                serde_json::from_str(&s.value).map_err(parse_err)?,
            );
        }
        urls::KIND => {
            f.urls.insert(
                s.key.clone(),
                serde_json::from_str(&s.value).map_err(parse_err)?,
            );
        }
        other => return Err(format!("unknown setting kind {other}")),
    }
    Ok(())
}

/// The live instances by state: busy, warm (idle, runnable), frozen, starting.
pub(crate) fn instance_states(
    stats: &gust_scheduler::SchedulerStats,
) -> gust_wire::gust::InstanceStates {
    gust_wire::gust::InstanceStates {
        busy: stats
            .instances
            .saturating_sub(stats.idle)
            .saturating_sub(stats.starting),
        warm: stats.idle.saturating_sub(stats.frozen),
        frozen: stats.frozen,
        starting: stats.starting,
    }
}
