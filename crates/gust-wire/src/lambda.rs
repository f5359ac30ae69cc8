//! JSON bodies of the Lambda management API, as AWS's API reference spells them.
//!
//! Requests a user sends use `deny_unknown_fields`, listing every field AWS defines:
//! fields gust does not act on are accepted when harmless (TracingConfig) and
//! refused by the core with a clear message when they would change behaviour (S3
//! code locations, container images).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Environment` in requests and responses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Environment {
    /// Variable names to values.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// `EphemeralStorage`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EphemeralStorage {
    /// Size of `/tmp` in MB.
    pub size: u32,
}

/// `Code` of CreateFunction.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FunctionCode {
    /// Base64 zip archive.
    pub zip_file: Option<String>,
    /// Not supported: gust has no S3 (yet).
    pub s3_bucket: Option<String>,
    /// Not supported.
    pub s3_key: Option<String>,
    /// Not supported.
    pub s3_object_version: Option<String>,
    /// Not supported: gust runs zip archives.
    pub image_uri: Option<String>,
    /// Accepted and ignored.
    #[serde(rename = "SourceKMSKeyArn")]
    pub source_kms_key_arn: Option<String>,
}

/// Body of CreateFunction (`POST /2015-03-31/functions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateFunctionRequest {
    /// Name of the new function.
    pub function_name: String,
    /// Runtime identifier.
    pub runtime: Option<String>,
    /// Execution role ARN (recorded; gust has no IAM).
    pub role: Option<String>,
    /// Handler, `module.function`.
    pub handler: Option<String>,
    /// The code.
    pub code: FunctionCode,
    /// Free text.
    pub description: Option<String>,
    /// Seconds, 1–900.
    pub timeout: Option<u32>,
    /// MB, 128–10240.
    pub memory_size: Option<u32>,
    /// Publish a version too.
    pub publish: Option<bool>,
    /// Environment variables.
    pub environment: Option<Environment>,
    /// `Zip` (only).
    pub package_type: Option<String>,
    /// `x86_64` or `arm64`; gust runs the host's.
    pub architectures: Option<Vec<String>>,
    /// Size of `/tmp`.
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// Tags the function starts with.
    pub tags: Option<BTreeMap<String, String>>,
    /// Accepted and ignored.
    pub tracing_config: Option<Value>,
    /// Not supported when non-empty.
    pub vpc_config: Option<Value>,
    /// Where failed async events go.
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// Accepted and ignored.
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    /// Layer version ARNs, at most five, whose contents the instances see at `/opt`.
    pub layers: Option<Vec<String>>,
    /// Not supported when non-empty.
    pub file_system_configs: Option<Vec<Value>>,
    /// Not supported.
    pub image_config: Option<Value>,
    /// Accepted and ignored.
    pub code_signing_config_arn: Option<String>,
    /// Accepted and ignored.
    pub snap_start: Option<Value>,
    /// Accepted and ignored.
    pub logging_config: Option<Value>,
}

/// Body of UpdateFunctionCode (`PUT /2015-03-31/functions/{name}/code`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateFunctionCodeRequest {
    /// Base64 zip archive.
    pub zip_file: Option<String>,
    /// Not supported.
    pub s3_bucket: Option<String>,
    /// Not supported.
    pub s3_key: Option<String>,
    /// Not supported.
    pub s3_object_version: Option<String>,
    /// Not supported.
    pub image_uri: Option<String>,
    /// Publish a version too.
    pub publish: Option<bool>,
    /// Validate only.
    pub dry_run: Option<bool>,
    /// Only update if the current revision matches.
    pub revision_id: Option<String>,
    /// Host architecture only.
    pub architectures: Option<Vec<String>>,
    /// Accepted and ignored.
    #[serde(rename = "SourceKMSKeyArn")]
    pub source_kms_key_arn: Option<String>,
}

/// Body of UpdateFunctionConfiguration (`PUT /2015-03-31/functions/{name}/configuration`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateFunctionConfigurationRequest {
    /// Execution role ARN.
    pub role: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Seconds.
    pub timeout: Option<u32>,
    /// MB.
    pub memory_size: Option<u32>,
    /// Not supported when non-empty.
    pub vpc_config: Option<Value>,
    /// Replaces all variables.
    pub environment: Option<Environment>,
    /// Runtime identifier.
    pub runtime: Option<String>,
    /// Where failed async events go.
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// Accepted and ignored.
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    /// Accepted and ignored.
    pub tracing_config: Option<Value>,
    /// Only update if the current revision matches.
    pub revision_id: Option<String>,
    /// Layer version ARNs, at most five, whose contents the instances see at `/opt`.
    pub layers: Option<Vec<String>>,
    /// Not supported when non-empty.
    pub file_system_configs: Option<Vec<Value>>,
    /// Not supported.
    pub image_config: Option<Value>,
    /// Size of `/tmp`.
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// Accepted and ignored.
    pub snap_start: Option<Value>,
    /// Accepted and ignored.
    pub logging_config: Option<Value>,
}

/// `DeadLetterConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// ARN of the queue or function that receives failed events.
    pub target_arn: Option<String>,
}

/// `TracingConfig` in responses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfigResponse {
    /// Always `PassThrough`.
    pub mode: String,
}

/// `LoggingConfig` in responses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `Text`.
    pub log_format: String,
    /// `/aws/lambda/{name}`.
    pub log_group: String,
}

/// `FunctionConfiguration`: what Get/Create/Update/List return for a function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    /// Name.
    pub function_name: String,
    /// ARN (qualified for published versions).
    pub function_arn: String,
    /// Runtime identifier.
    pub runtime: String,
    /// Role ARN.
    pub role: String,
    /// Handler.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handler: Option<String>,
    /// Zipped size in bytes.
    pub code_size: u64,
    /// Free text.
    pub description: String,
    /// Seconds.
    pub timeout: u32,
    /// MB.
    pub memory_size: u32,
    /// `2019-09-24T18:20:35.054+0000`.
    pub last_modified: String,
    /// Base64 SHA-256 of the archive.
    pub code_sha256: String,
    /// `$LATEST` or a number.
    pub version: String,
    /// Variables.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub environment: Option<Environment>,
    /// `PassThrough`.
    pub tracing_config: TracingConfigResponse,
    /// Changes on every update.
    pub revision_id: String,
    /// `Active`.
    pub state: String,
    /// `Successful`.
    pub last_update_status: String,
    /// `Zip`.
    pub package_type: String,
    /// Where failed async events go.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// The host's architecture.
    pub architectures: Vec<String>,
    /// `/tmp` size.
    pub ephemeral_storage: EphemeralStorage,
    /// Log group.
    pub logging_config: LoggingConfig,
    /// The layers the function uses, in order; absent when it uses none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layers: Option<Vec<crate::layers::FunctionLayer>>,
}

/// `GET /2015-03-31/functions/` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    /// One page of functions.
    pub functions: Vec<FunctionConfiguration>,
    /// Pass as `Marker` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

/// `Code` in GetFunction's response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCodeLocation {
    /// `S3` as AWS says, though gust serves the archive itself.
    pub repository_type: String,
    /// A URL that serves the zip archive.
    pub location: String,
}

/// `GET /2015-03-31/functions/{name}` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    /// Configuration.
    pub configuration: FunctionConfiguration,
    /// Where to download the code.
    pub code: FunctionCodeLocation,
    /// Reserved concurrency, when set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<crate::versions::Concurrency>,
    /// The function's tags, when it has any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tags: Option<BTreeMap<String, String>>,
}

/// `POST /2017-03-31/tags/{ARN}` (TagResource) body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagResourceRequest {
    /// Tags to add or change.
    pub tags: Option<BTreeMap<String, String>>,
}

/// `GET /2017-03-31/tags/{ARN}` (ListTags) response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsResponse {
    /// Every tag of the function.
    pub tags: BTreeMap<String, String>,
}

/// The body of every Lambda API error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `User` or `Service`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What went wrong.
    pub message: String,
    /// Throttle reason, on TooManyRequestsException.
    #[serde(rename = "Reason", skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}
