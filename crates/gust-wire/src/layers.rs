//! Lambda layers: the bodies of PublishLayerVersion, GetLayerVersion(ByArn),
//! ListLayers, ListLayerVersions and the layer version permissions, as AWS's API
//! reference spells them (`/2018-10-31/layers/...`).

use serde::{Deserialize, Serialize};

/// `Content` of PublishLayerVersion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LayerVersionContentInput {
    /// The zip archive, base64.
    pub zip_file: Option<String>,
    /// A bucket of gust's own S3 store holding the archive.
    pub s3_bucket: Option<String>,
    /// The archive's key in that bucket.
    pub s3_key: Option<String>,
    /// Not supported: gust's buckets keep one version of an object.
    pub s3_object_version: Option<String>,
}

/// Body of PublishLayerVersion (`POST /2018-10-31/layers/{LayerName}/versions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublishLayerVersionRequest {
    /// Free text, up to 256 characters.
    pub description: Option<String>,
    /// The archive.
    pub content: Option<LayerVersionContentInput>,
    /// Runtimes the layer is meant for (used to filter listings).
    pub compatible_runtimes: Option<Vec<String>>,
    /// The layer's software license.
    pub license_info: Option<String>,
    /// Architectures the layer is meant for (used to filter listings).
    pub compatible_architectures: Option<Vec<String>>,
}

/// `Content` of a layer version in responses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionContentOutput {
    /// A URL that serves the zip archive for ten minutes.
    pub location: String,
    /// Base64 SHA-256 of the zip.
    pub code_sha256: String,
    /// Zipped size in bytes.
    pub code_size: u64,
}

/// PublishLayerVersion's and GetLayerVersion's response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersion {
    /// The archive.
    pub content: LayerVersionContentOutput,
    /// The layer's ARN.
    pub layer_arn: String,
    /// This version's ARN.
    pub layer_version_arn: String,
    /// Free text.
    pub description: String,
    /// `2018-11-27T15:10:45.123+0000`.
    pub created_date: String,
    /// The version number.
    pub version: u64,
    /// Runtimes it was published for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub compatible_runtimes: Vec<String>,
    /// Its license.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub license_info: Option<String>,
    /// Architectures it was published for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub compatible_architectures: Vec<String>,
}

/// One version in a listing (`LayerVersionsListItem`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionsListItem {
    /// This version's ARN.
    pub layer_version_arn: String,
    /// The version number.
    pub version: u64,
    /// Free text.
    pub description: String,
    /// When it was published.
    pub created_date: String,
    /// Runtimes it was published for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub compatible_runtimes: Vec<String>,
    /// Its license.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub license_info: Option<String>,
    /// Architectures it was published for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub compatible_architectures: Vec<String>,
}

/// One layer in ListLayers (`LayersListItem`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LayersListItem {
    /// The layer's name.
    pub layer_name: String,
    /// The layer's ARN.
    pub layer_arn: String,
    /// Its newest version that matches the listing's filters.
    pub latest_matching_version: LayerVersionsListItem,
}

/// `GET /2018-10-31/layers` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListLayersResponse {
    /// Pass as `Marker` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
    /// One page of layers, by name.
    pub layers: Vec<LayersListItem>,
}

/// `GET /2018-10-31/layers/{LayerName}/versions` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListLayerVersionsResponse {
    /// Pass as `Marker` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
    /// One page of versions, newest first.
    pub layer_versions: Vec<LayerVersionsListItem>,
}

/// Body of AddLayerVersionPermission.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddLayerVersionPermissionRequest {
    /// The statement's id, unique in the policy.
    pub statement_id: String,
    /// `lambda:GetLayerVersion`.
    pub action: String,
    /// An account id, or `*` for every account.
    pub principal: String,
    /// Limits a `*` grant to one organization.
    pub organization_id: Option<String>,
}

/// AddLayerVersionPermission's response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddLayerVersionPermissionResponse {
    /// The statement added, as a JSON string.
    pub statement: String,
    /// The policy's new revision.
    pub revision_id: String,
}

/// GetLayerVersionPolicy's response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetLayerVersionPolicyResponse {
    /// The policy document, as a JSON string.
    pub policy: String,
    /// The policy's revision.
    pub revision_id: String,
}

/// `Layers` items of a function's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionLayer {
    /// The layer version's ARN.
    pub arn: String,
    /// Its zipped size in bytes.
    pub code_size: u64,
}
