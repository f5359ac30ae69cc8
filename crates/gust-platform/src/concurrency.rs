//! Concurrency: reserved per function, the account-wide limit, and provisioned
//! instances kept initialised ahead of demand.
//!
//! Reserved concurrency N caps a function (all versions together) at N concurrent
//! invocations and takes N out of the account's pool; every other function shares
//! what is left. A throttle is immediate, as on Lambda: concurrency limits are
//! policy, while lack of memory (the scheduler's capacity) waits in the queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use gust_types::{limits, name, CoreError, FunctionRef};
use gust_wire::versions::{
    AccountLimit, AccountSettings, AccountUsage, Concurrency, ListProvisionedConcurrencyResponse,
    ProvisionedConcurrencyConfig,
};
use serde::{Deserialize, Serialize};

use crate::registry::{Function, Provisioned, Target};
use crate::Platform;

/// Reserved concurrency as stored (setting kind `concurrency`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Reserved {
    pub reserved: u32,
}

/// One in-flight invocation counted against a limit; released on drop.
pub(crate) struct Permit<'a>(&'a AtomicU32);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes one unit of `counter` if it stays within `limit`.
fn take(counter: &AtomicU32, limit: u32) -> Option<Permit<'_>> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .ok()
        .map(|_| Permit(counter))
}

impl Platform {
    /// The smallest unreserved concurrency the account keeps (AWS: 100 of 1,000).
    fn min_unreserved(&self) -> u32 {
        (self.config.account_concurrency / 10).min(100)
    }

    fn reserved_total(&self, except: Option<&str>) -> u32 {
        self.registry
            .read()
            .values()
            .filter(|f| Some(f.name()) != except)
            .filter_map(|f| f.reserved)
            .sum()
    }

    /// Counts one invocation against the function's limit, or throttles it.
    pub(crate) fn acquire<'a>(&'a self, f: &'a Function) -> Result<Permit<'a>, CoreError> {
        match f.reserved {
            Some(limit) => take(&f.shared.in_flight, limit).ok_or(CoreError::TooManyRequests {
                reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                message: format!(
                    "Rate Exceeded. {} is limited to {limit} concurrent invocations by its \
                     reserved concurrency",
                    f.name()
                ),
            }),
            None => {
                let limit = self
                    .config
                    .account_concurrency
                    .saturating_sub(self.reserved_total(None));
                take(&self.unreserved_in_flight, limit).ok_or(CoreError::TooManyRequests {
                    reason: "ConcurrentInvocationLimitExceeded",
                    message: format!(
                        "Rate Exceeded. The account's {limit} unreserved concurrent executions \
                         are in use"
                    ),
                })
            }
        }
    }

    /// PutFunctionConcurrency.
    pub async fn put_function_concurrency(
        &self,
        fref: &FunctionRef,
        req: Concurrency,
    ) -> Result<Concurrency, CoreError> {
        let n = req.reserved_concurrent_executions.ok_or_else(|| {
            CoreError::InvalidParameterValue("ReservedConcurrentExecutions is required".into())
        })?;
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        let others = self.reserved_total(Some(f.name()));
        let unreserved = self.config.account_concurrency.saturating_sub(others + n);
        if others + n > self.config.account_concurrency || unreserved < self.min_unreserved() {
            return Err(CoreError::InvalidParameterValue(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's \
                 UnreservedConcurrentExecution below its minimum value of [{}].",
                self.min_unreserved()
            )));
        }
        self.put_setting(f.name(), "concurrency", "", &Reserved { reserved: n })?;
        let mut next = (*f).clone();
        next.reserved = Some(n);
        self.publish_snapshot(next);
        Ok(Concurrency {
            reserved_concurrent_executions: Some(n),
        })
    }

    /// GetFunctionConcurrency.
    pub fn get_function_concurrency(&self, fref: &FunctionRef) -> Result<Concurrency, CoreError> {
        Ok(Concurrency {
            reserved_concurrent_executions: self.function(fref)?.reserved,
        })
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(&self, fref: &FunctionRef) -> Result<(), CoreError> {
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        self.settings.delete_setting(f.name(), "concurrency", "")?;
        let mut next = (*f).clone();
        next.reserved = None;
        self.publish_snapshot(next);
        Ok(())
    }

    /// GetAccountSettings.
    pub fn account_settings(&self) -> AccountSettings {
        let registry = self.registry.read();
        let total_code_size: u64 = registry
            .values()
            .flat_map(|f| std::iter::once(&f.latest).chain(f.versions.values()))
            .map(|e| e.config.code_size)
            .sum();
        let reserved: u32 = registry.values().filter_map(|f| f.reserved).sum();
        AccountSettings {
            account_limit: AccountLimit {
                total_code_size: 75 * 1024 * 1024 * 1024,
                code_size_unzipped: limits::UNZIPPED_CODE_MAX,
                code_size_zipped: limits::ZIPPED_CODE_MAX as u64,
                concurrent_executions: self.config.account_concurrency,
                unreserved_concurrent_executions: self
                    .config
                    .account_concurrency
                    .saturating_sub(reserved),
            },
            account_usage: AccountUsage {
                total_code_size,
                function_count: registry.len() as u64,
            },
        }
    }

    /// PutProvisionedConcurrencyConfig.
    pub async fn put_provisioned(
        &self,
        fref: &FunctionRef,
        requested: u32,
    ) -> Result<ProvisionedConcurrencyConfig, CoreError> {
        let qualifier = provisioned_qualifier(fref)?;
        if requested == 0 {
            return Err(CoreError::InvalidParameterValue(
                "ProvisionedConcurrentExecutions must be at least 1".into(),
            ));
        }
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        f.target(Some(qualifier), &self.config.region)?;
        if let Some(reserved) = f.reserved {
            let others: u32 = f
                .provisioned
                .iter()
                .filter(|(q, _)| q.as_str() != qualifier)
                .map(|(_, p)| p.requested)
                .sum();
            if others + requested > reserved {
                return Err(CoreError::InvalidParameterValue(format!(
                    "Requested Provisioned Concurrency should not be greater than the \
                     reservedConcurrentExecution for function: {reserved}"
                )));
            }
        }
        let cfg = Provisioned {
            requested,
            last_modified: crate::convert::last_modified_now(),
        };
        self.put_setting(f.name(), "provisioned", qualifier, &cfg)?;
        let mut next = (*f).clone();
        next.provisioned.insert(qualifier.to_string(), cfg);
        let next = self.publish_snapshot(next);
        self.apply_provisioned(&next);
        self.provisioned_status(&next, qualifier)
    }

    /// GetProvisionedConcurrencyConfig.
    pub fn get_provisioned(
        &self,
        fref: &FunctionRef,
    ) -> Result<ProvisionedConcurrencyConfig, CoreError> {
        let qualifier = provisioned_qualifier(fref)?;
        let f = self.function(fref)?;
        self.provisioned_status(&f, qualifier)
    }

    /// DeleteProvisionedConcurrencyConfig.
    pub async fn delete_provisioned(&self, fref: &FunctionRef) -> Result<(), CoreError> {
        let qualifier = provisioned_qualifier(fref)?;
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        if !f.provisioned.contains_key(qualifier) {
            return Err(not_configured(&f, qualifier, &self.config.region));
        }
        self.settings
            .delete_setting(f.name(), "provisioned", qualifier)?;
        let mut next = (*f).clone();
        next.provisioned.remove(qualifier);
        let next = self.publish_snapshot(next);
        self.apply_provisioned(&next);
        Ok(())
    }

    /// ListProvisionedConcurrencyConfigs.
    pub fn list_provisioned(
        &self,
        fref: &FunctionRef,
    ) -> Result<ListProvisionedConcurrencyResponse, CoreError> {
        let f = self.function(fref)?;
        let configs = f
            .provisioned
            .keys()
            .map(|q| {
                let mut c = self.provisioned_status(&f, q)?;
                c.function_arn = Some(name::qualified_arn(&self.config.region, f.name(), q));
                Ok(c)
            })
            .collect::<Result<_, CoreError>>()?;
        Ok(ListProvisionedConcurrencyResponse {
            provisioned_concurrency_configs: configs,
            next_marker: None,
        })
    }

    fn provisioned_status(
        &self,
        f: &Function,
        qualifier: &str,
    ) -> Result<ProvisionedConcurrencyConfig, CoreError> {
        let cfg = f
            .provisioned
            .get(qualifier)
            .ok_or_else(|| not_configured(f, qualifier, &self.config.region))?;
        let entry = f.entry_for_get(Some(qualifier), &self.config.region)?;
        let status = entry.pool.provisioned_status();
        let allocated = status.allocated.min(cfg.requested as usize) as u32;
        Ok(ProvisionedConcurrencyConfig {
            function_arn: None,
            requested_provisioned_concurrent_executions: cfg.requested,
            available_provisioned_concurrent_executions: status
                .available
                .min(cfg.requested as usize)
                as u32,
            allocated_provisioned_concurrent_executions: allocated,
            status: if allocated >= cfg.requested {
                "READY"
            } else if status.error.is_some() {
                "FAILED"
            } else {
                "IN_PROGRESS"
            }
            .into(),
            status_reason: status.error,
            last_modified: cfg.last_modified.clone(),
        })
    }

    /// Sets every version's provisioned target from the function's configurations:
    /// an alias's provisioned instances run its main version.
    pub(crate) fn apply_provisioned(&self, f: &Function) {
        let mut targets: HashMap<u64, usize> = f.versions.keys().map(|v| (*v, 0)).collect();
        for (q, cfg) in &f.provisioned {
            let version = match f.target(Some(q), &self.config.region) {
                Ok(Target::Version(v)) => Some(v),
                Ok(Target::Alias(a)) => a.version.parse().ok(),
                _ => None,
            };
            if let Some(v) = version {
                *targets.entry(v).or_default() += cfg.requested as usize;
            }
        }
        for (v, n) in targets {
            if let Some(e) = f.versions.get(&v) {
                e.pool.set_provisioned(n);
            }
        }
        f.latest.pool.set_provisioned(0);
    }
}

fn provisioned_qualifier(fref: &FunctionRef) -> Result<&str, CoreError> {
    match fref.qualifier.as_deref() {
        None | Some("$LATEST") => Err(CoreError::InvalidParameterValue(
            "Provisioned Concurrency Configs cannot be applied to unpublished function \
             versions."
                .into(),
        )),
        Some(q) => Ok(q),
    }
}

fn not_configured(f: &Function, qualifier: &str, region: &gust_types::Region) -> CoreError {
    CoreError::ProvisionedConcurrencyConfigNotFound(format!(
        "No Provisioned Concurrency Config found for this function: {}",
        name::qualified_arn(region, f.name(), qualifier)
    ))
}
