//! Function URLs: the bodies of Create/Get/Update/Delete/ListFunctionUrlConfigs
//! (`/2021-10-31/functions/{name}/url`), as AWS's API reference spells them.

use serde::{Deserialize, Serialize};

/// `AuthType`: who may call the URL.
pub const AUTH_NONE: &str = "NONE";
/// `AuthType`: only SigV4-signed requests.
pub const AUTH_IAM: &str = "AWS_IAM";
/// `InvokeMode`: the response is returned whole.
pub const INVOKE_BUFFERED: &str = "BUFFERED";
/// `InvokeMode`: the response reaches the caller as the function sends it.
pub const INVOKE_STREAM: &str = "RESPONSE_STREAM";

/// Cross-origin resource sharing settings of a URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Cors {
    /// Whether to allow cookies or other credentials.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_credentials: Option<bool>,
    /// Request headers callers may send.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_headers: Option<Vec<String>>,
    /// Methods callers may use (`*` for all).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_methods: Option<Vec<String>>,
    /// Origins that may call (`*` for all).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_origins: Option<Vec<String>>,
    /// Response headers the browser may show the caller.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expose_headers: Option<Vec<String>>,
    /// Seconds a browser may cache a preflight answer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_age: Option<u32>,
}

/// Body of CreateFunctionUrlConfig.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateFunctionUrlConfigRequest {
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS settings.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cors: Option<Cors>,
    /// `BUFFERED` (default) or `RESPONSE_STREAM`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invoke_mode: Option<String>,
}

/// Body of UpdateFunctionUrlConfig: what is given changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateFunctionUrlConfigRequest {
    /// `NONE` or `AWS_IAM`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_type: Option<String>,
    /// CORS settings (replace the old ones whole).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cors: Option<Cors>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invoke_mode: Option<String>,
}

/// CreateFunctionUrlConfig's answer (no `LastModifiedTime`, as on AWS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionUrlConfigResponse {
    /// The URL, with a trailing `/`.
    pub function_url: String,
    /// The function's ARN (with the qualifier, when the URL has one).
    pub function_arn: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS settings, when any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cors: Option<Cors>,
    /// ISO 8601.
    pub creation_time: String,
    /// `BUFFERED`.
    pub invoke_mode: String,
}

/// Get/UpdateFunctionUrlConfig's answer, and one item of the list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfig {
    /// The URL, with a trailing `/`.
    pub function_url: String,
    /// The function's ARN (with the qualifier, when the URL has one).
    pub function_arn: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS settings, when any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cors: Option<Cors>,
    /// ISO 8601.
    pub creation_time: String,
    /// ISO 8601.
    pub last_modified_time: String,
    /// `BUFFERED`.
    pub invoke_mode: String,
}

/// ListFunctionUrlConfigs' answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionUrlConfigsResponse {
    /// The function's URLs.
    pub function_url_configs: Vec<FunctionUrlConfig>,
    /// Pass as `Marker` for the next page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

/// Path of a function's URL configuration.
pub fn url_path(function: &str) -> String {
    format!("/2021-10-31/functions/{function}/url")
}
