//! Versions, aliases and concurrency: request and response bodies as AWS's API
//! reference spells them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lambda::FunctionConfiguration;

/// Body of PublishVersion (`POST /2015-03-31/functions/{name}/versions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublishVersionRequest {
    /// Publish only if `$LATEST`'s code has this hash.
    pub code_sha256: Option<String>,
    /// The version's description (defaults to `$LATEST`'s).
    pub description: Option<String>,
    /// Publish only if `$LATEST` has this revision.
    pub revision_id: Option<String>,
}

/// ListVersionsByFunction response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResponse {
    /// `$LATEST` first, then published versions in order.
    pub versions: Vec<FunctionConfiguration>,
    /// Pass as `Marker` for the next page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

/// `RoutingConfig` of an alias.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AliasRoutingConfiguration {
    /// At most one other version and the share of traffic (0.0–1.0) it gets.
    #[serde(default)]
    pub additional_version_weights: BTreeMap<String, f64>,
}

/// Body of CreateAlias.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateAliasRequest {
    /// The alias name.
    pub name: String,
    /// The version it points to.
    pub function_version: String,
    /// Free text.
    pub description: Option<String>,
    /// Traffic shifting.
    pub routing_config: Option<AliasRoutingConfiguration>,
}

/// Body of UpdateAlias.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateAliasRequest {
    /// The version it points to.
    pub function_version: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Traffic shifting; an empty map removes it.
    pub routing_config: Option<AliasRoutingConfiguration>,
    /// Only update if the alias has this revision.
    pub revision_id: Option<String>,
}

/// `AliasConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    /// `arn:...:function:NAME:ALIAS`.
    pub alias_arn: String,
    /// The alias name.
    pub name: String,
    /// The version it points to.
    pub function_version: String,
    /// Free text.
    pub description: String,
    /// Traffic shifting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub routing_config: Option<AliasRoutingConfiguration>,
    /// Changes on every update.
    pub revision_id: String,
}

/// ListAliases response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// One page of aliases.
    pub aliases: Vec<AliasConfiguration>,
    /// Pass as `Marker` for the next page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

/// PutFunctionConcurrency body and Get/PutFunctionConcurrency response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Concurrency {
    /// Instances reserved for (and the most allowed to) the function.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reserved_concurrent_executions: Option<u32>,
}

/// `AccountLimit` of GetAccountSettings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    /// Total code storage, bytes.
    pub total_code_size: u64,
    /// Largest unzipped archive, bytes.
    pub code_size_unzipped: u64,
    /// Largest zipped archive, bytes.
    pub code_size_zipped: u64,
    /// Account-wide concurrency limit.
    pub concurrent_executions: u32,
    /// What is left after reservations.
    pub unreserved_concurrent_executions: u32,
}

/// `AccountUsage` of GetAccountSettings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    /// Code stored, bytes.
    pub total_code_size: u64,
    /// Functions.
    pub function_count: u64,
}

/// GetAccountSettings response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    /// Limits.
    pub account_limit: AccountLimit,
    /// Usage.
    pub account_usage: AccountUsage,
}

/// PutProvisionedConcurrencyConfig body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutProvisionedConcurrencyRequest {
    /// Instances to keep initialised.
    pub provisioned_concurrent_executions: u32,
}

/// A provisioned-concurrency configuration and its status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedConcurrencyConfig {
    /// Qualified ARN (only in list responses).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function_arn: Option<String>,
    /// What was asked for.
    pub requested_provisioned_concurrent_executions: u32,
    /// Initialised and idle now.
    pub available_provisioned_concurrent_executions: u32,
    /// Initialised now, busy or idle.
    pub allocated_provisioned_concurrent_executions: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_reason: Option<String>,
    /// ISO 8601.
    pub last_modified: String,
}

/// ListProvisionedConcurrencyConfigs response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProvisionedConcurrencyResponse {
    /// Every configuration of the function.
    pub provisioned_concurrency_configs: Vec<ProvisionedConcurrencyConfig>,
    /// Pass as `Marker` for the next page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}
