//! gust's core. The gateway parses HTTP into the typed calls of [`Platform`]; the
//! platform validates, persists through the stores, keeps the in-memory function
//! registry that the invoke path reads, and hands invocations to the scheduler. It
//! knows nothing about HTTP (DESIGN.md §2).
//!
//! # Layout
//! - [`Platform`]: the registry and every operation.
//! - `convert`: between stored [`FunctionConfig`](gust_types::FunctionConfig) and the
//!   Lambda wire shapes.
//! - `manage`: Create/Get/List/Update/Delete.
//! - `invoke`: the invoke path.

#![forbid(unsafe_code)]

mod convert;
mod invoke;
mod manage;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gust_scheduler::{Pool, Scheduler};
use gust_store::{ArchiveStore, FunctionStore};
use gust_types::{CoreError, FunctionConfig, Region};
use gust_worker::{FunctionLog, InstanceSpec};
use parking_lot::RwLock;

pub use invoke::{InvocationType, InvokeRequest};

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Region in ARNs.
    pub region: Region,
    /// How long an invocation may wait for capacity before it is throttled.
    pub queue_timeout: Duration,
    /// Log bytes kept per function.
    pub log_bytes_per_function: usize,
    /// Base URL of the API, for GetFunction's Code.Location.
    pub base_url: String,
}

/// One function's live state: what the invoke path reads, without touching the store.
pub(crate) struct Entry {
    pub config: Arc<FunctionConfig>,
    pub pool: Arc<Pool>,
    pub log: Arc<FunctionLog>,
}

/// The platform core.
pub struct Platform {
    pub(crate) config: PlatformConfig,
    pub(crate) store: Arc<dyn FunctionStore>,
    pub(crate) archives: Arc<dyn ArchiveStore>,
    pub(crate) scheduler: Arc<Scheduler>,
    /// `$LATEST` of every function, by name. Reads are the invoke path's only lookup.
    pub(crate) registry: RwLock<BTreeMap<String, Arc<Entry>>>,
    /// Serialises management writes so check-then-write sequences are atomic.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

impl Platform {
    /// Loads every stored function into the registry.
    pub fn open(
        config: PlatformConfig,
        store: Arc<dyn FunctionStore>,
        archives: Arc<dyn ArchiveStore>,
        scheduler: Arc<Scheduler>,
    ) -> Result<Platform, CoreError> {
        let platform = Platform {
            config,
            store,
            archives,
            scheduler,
            registry: RwLock::new(BTreeMap::new()),
            writes: tokio::sync::Mutex::new(()),
        };
        let stored = platform.store.list_functions()?;
        let mut registry = platform.registry.write();
        for cfg in stored.into_iter().filter(|c| c.version == "$LATEST") {
            let log = Arc::new(FunctionLog::new(platform.config.log_bytes_per_function));
            let entry = platform.entry(Arc::new(cfg), log);
            registry.insert(entry.config.name.clone(), Arc::new(entry));
        }
        drop(registry);
        Ok(platform)
    }

    pub(crate) fn entry(&self, config: Arc<FunctionConfig>, log: Arc<FunctionLog>) -> Entry {
        let spec = Arc::new(InstanceSpec {
            config: config.clone(),
            code_dir: self.archives.code_dir(&config.code_digest),
            log: log.clone(),
        });
        Entry {
            config,
            pool: self.scheduler.pool(spec),
            log,
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Result<Arc<Entry>, CoreError> {
        self.registry.read().get(name).cloned().ok_or_else(|| {
            CoreError::function_not_found(&gust_types::name::function_arn(
                &self.config.region,
                name,
            ))
        })
    }

    /// The scheduler, for health and shutdown.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Path of a function's zip archive, for Code.Location downloads.
    pub fn archive_path(&self, name: &str) -> Result<PathBuf, CoreError> {
        let entry = self.lookup(name)?;
        Ok(self.archives.zip_path(&entry.config.code_digest))
    }

    /// A function's log records after `after`, waiting up to `wait` for new ones.
    pub async fn logs(
        &self,
        name: &str,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<gust_wire::gust::LogsResponse, CoreError> {
        gust_types::name::validate_name(name)?;
        let log = self.lookup(name)?.log.clone();
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
            reserved_memory_mb: stats.reserved_mb,
            capacity_memory_mb: stats.capacity_mb,
        }
    }

    /// Removes archives no function uses any more.
    pub(crate) fn collect_garbage(&self) {
        let live: HashSet<String> = self
            .registry
            .read()
            .values()
            .map(|e| e.config.code_digest.clone())
            .collect();
        if let Err(e) = self.archives.remove_unused(&live) {
            tracing::warn!(error = %e, "could not remove unused archives");
        }
    }
}
