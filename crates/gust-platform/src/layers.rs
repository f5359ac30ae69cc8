//! Lambda layers: publishing, reading, listing and deleting layer versions, their
//! permissions, and resolving a function's `Layers` into what its instances mount.
//!
//! A layer version's zip goes into the archive store like function code (same
//! limits, same refusal of hostile archives); its record goes into the
//! [`LayerStore`]. A function that uses a version keeps a copy of what it needs
//! ([`FunctionLayer`]) in its own configuration, and the archive stays alive while
//! any configuration names it, so deleting a layer version breaks no function.
//!
//! Permissions are stored and returned as AWS shapes them. gust serves one account,
//! so there is no other account for a grant to let in: nothing enforces them.

use std::collections::HashSet;

use base64::Engine as _;
use gust_store::layers::{LayerStatement, LayerVersion as Record};
use gust_types::layer::{self, FunctionLayer};
use gust_types::{limits, CoreError};
use gust_wire::layers::{
    AddLayerVersionPermissionRequest, AddLayerVersionPermissionResponse,
    GetLayerVersionPolicyResponse, LayerVersion, LayerVersionContentOutput, LayerVersionsListItem,
    LayersListItem, ListLayerVersionsResponse, ListLayersResponse, PublishLayerVersionRequest,
};

use crate::convert::{last_modified_now, new_revision};
use crate::manage::{decode_marker, encode_marker, page_size};
use crate::Platform;

/// What a layer version's `Content.Location` is built from: the layer's name, the
/// version and the hex digest of its zip.
pub trait LayerLocation: Fn(&str, u64, &str) -> String {}
impl<F: Fn(&str, u64, &str) -> String> LayerLocation for F {}

/// The filters of ListLayers and ListLayerVersions.
#[derive(Debug, Clone, Default)]
pub struct LayerFilter {
    /// `CompatibleRuntime`.
    pub runtime: Option<String>,
    /// `CompatibleArchitecture`.
    pub architecture: Option<String>,
}

impl LayerFilter {
    fn matches(&self, r: &Record) -> bool {
        let has = |want: &Option<String>, list: &[String]| {
            want.as_ref().is_none_or(|w| list.iter().any(|x| x == w))
        };
        has(&self.runtime, &r.compatible_runtimes)
            && has(&self.architecture, &r.compatible_architectures)
    }
}

fn not_found() -> CoreError {
    CoreError::ResourceNotFound("The resource you requested does not exist.".into())
}

impl Platform {
    /// PublishLayerVersion. `zip` is the archive (the gateway decodes `ZipFile` or
    /// fetches the S3 object).
    pub async fn publish_layer_version(
        &self,
        layer_name: &str,
        req: PublishLayerVersionRequest,
        zip: Vec<u8>,
        location: impl LayerLocation,
    ) -> Result<LayerVersion, CoreError> {
        let name = layer::parse_layer_name(layer_name, &self.config.region)?;
        let description = req.description.unwrap_or_default();
        gust_types::function::validate_description(&description)?;
        if let Some(l) = &req.license_info {
            if l.chars().count() > limits::LICENSE_INFO_MAX {
                return Err(CoreError::Validation(format!(
                    "1 validation error detected: Value at 'licenseInfo' failed to satisfy \
                     constraint: Member must have length less than or equal to {}",
                    limits::LICENSE_INFO_MAX
                )));
            }
        }
        let runtimes = req.compatible_runtimes.unwrap_or_default();
        if runtimes.len() > limits::COMPATIBLE_RUNTIMES_MAX {
            return Err(CoreError::Validation(format!(
                "1 validation error detected: Value at 'compatibleRuntimes' failed to satisfy \
                 constraint: Member must have length less than or equal to {}",
                limits::COMPATIBLE_RUNTIMES_MAX
            )));
        }
        let architectures = req.compatible_architectures.unwrap_or_default();
        let arch_ok =
            architectures.len() <= 2 && architectures.iter().all(|a| a == "x86_64" || a == "arm64");
        if !arch_ok {
            return Err(CoreError::Validation(format!(
                "1 validation error detected: Value '{architectures:?}' at \
                 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy \
                 constraint: [Member must satisfy enum value set: [x86_64, arm64]] and have \
                 length at most 2"
            )));
        }
        let stored = self.store_archive(zip).await?;
        let record = Record {
            name: name.clone(),
            version: 0,
            description,
            license_info: req.license_info,
            compatible_runtimes: runtimes,
            compatible_architectures: architectures,
            created_date: last_modified_now(),
            code_sha256: stored.sha256_base64,
            digest: stored.digest,
            code_size: stored.size,
            unzipped_size: stored.unzipped_size,
            policy: Vec::new(),
            policy_revision: new_revision(),
        };
        let version = self.layers.insert_layer_version(&record)?;
        tracing::info!(layer = %name, version, "layer version published");
        let record = Record { version, ..record };
        Ok(self.layer_to_wire(&record, &location))
    }

    /// GetLayerVersion.
    pub fn get_layer_version(
        &self,
        layer_name: &str,
        version: u64,
        location: impl LayerLocation,
    ) -> Result<LayerVersion, CoreError> {
        let record = self.layer_record(layer_name, version)?;
        Ok(self.layer_to_wire(&record, &location))
    }

    /// GetLayerVersionByArn.
    pub fn get_layer_version_by_arn(
        &self,
        arn: &str,
        location: impl LayerLocation,
    ) -> Result<LayerVersion, CoreError> {
        let (home, v) = layer::parse_layer_version_arn(arn)?;
        if home != layer::layer_prefix(&self.config.region) {
            return Err(not_found());
        }
        self.get_layer_version(&v.name, v.version, location)
    }

    /// ListLayers: each layer's newest version matching `filter`, by name.
    pub fn list_layers(
        &self,
        filter: &LayerFilter,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<ListLayersResponse, CoreError> {
        let max = page_size(max_items)?;
        let after = marker
            .filter(|m| !m.is_empty())
            .map(decode_marker)
            .transpose()?;
        let mut latest: Vec<Record> = Vec::new();
        for r in self.layers.list_layer_versions()? {
            if !filter.matches(&r) {
                continue;
            }
            // Listed in (name, version) order: a later one of the same name is newer.
            match latest.last_mut() {
                Some(last) if last.name == r.name => *last = r,
                _ => latest.push(r),
            }
        }
        let mut rest = latest
            .into_iter()
            .filter(|r| after.as_deref().is_none_or(|a| r.name.as_str() > a));
        let page: Vec<Record> = rest.by_ref().take(max).collect();
        let next_marker = match rest.next() {
            Some(_) => page.last().map(|r| encode_marker(&r.name)),
            None => None,
        };
        let layers = page
            .iter()
            .map(|r| LayersListItem {
                layer_name: r.name.clone(),
                layer_arn: layer::layer_arn(&self.config.region, &r.name),
                latest_matching_version: self.list_item(r),
            })
            .collect();
        Ok(ListLayersResponse {
            next_marker,
            layers,
        })
    }

    /// ListLayerVersions: a layer's versions matching `filter`, newest first.
    pub fn list_layer_versions(
        &self,
        layer_name: &str,
        filter: &LayerFilter,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<ListLayerVersionsResponse, CoreError> {
        let name = layer::parse_layer_name(layer_name, &self.config.region)?;
        let max = page_size(max_items)?;
        let before =
            match marker.filter(|m| !m.is_empty()) {
                Some(m) => Some(decode_marker(m)?.parse::<u64>().map_err(|_| {
                    CoreError::InvalidParameterValue(format!("Invalid Marker: {m}"))
                })?),
                None => None,
            };
        let mut versions: Vec<Record> = self
            .layers
            .list_layer_versions()?
            .into_iter()
            .filter(|r| r.name == name && filter.matches(r))
            .collect();
        versions.reverse();
        let mut rest = versions
            .into_iter()
            .filter(|r| before.is_none_or(|b| r.version < b));
        let page: Vec<Record> = rest.by_ref().take(max).collect();
        let next_marker = match rest.next() {
            Some(_) => page.last().map(|r| encode_marker(&r.version.to_string())),
            None => None,
        };
        Ok(ListLayerVersionsResponse {
            next_marker,
            layer_versions: page.iter().map(|r| self.list_item(r)).collect(),
        })
    }

    /// DeleteLayerVersion. Deleting a version that does not exist succeeds, as on
    /// AWS; functions using it keep their copy.
    pub async fn delete_layer_version(
        &self,
        layer_name: &str,
        version: u64,
    ) -> Result<(), CoreError> {
        let name = layer::parse_layer_name(layer_name, &self.config.region)?;
        if self.layers.delete_layer_version(&name, version)? {
            tracing::info!(layer = %name, version, "layer version deleted");
            let _guard = self.writes.lock().await;
            self.collect_garbage();
        }
        Ok(())
    }

    /// AddLayerVersionPermission.
    pub async fn add_layer_version_permission(
        &self,
        layer_name: &str,
        version: u64,
        req: AddLayerVersionPermissionRequest,
        revision_id: Option<&str>,
    ) -> Result<AddLayerVersionPermissionResponse, CoreError> {
        let _guard = self.writes.lock().await;
        let mut record = self.layer_record(layer_name, version)?;
        check_policy_revision(&record, revision_id)?;
        check_statement(&req)?;
        if record.policy.iter().any(|s| s.sid == req.statement_id) {
            return Err(CoreError::ResourceConflict(format!(
                "The statement id ({}) provided already exists. Please provide a new statement \
                 id, or remove the existing statement.",
                req.statement_id
            )));
        }
        let statement = LayerStatement {
            sid: req.statement_id,
            action: req.action,
            principal: req.principal,
            organization_id: req.organization_id,
        };
        let resource = layer::layer_version_arn(&self.config.region, &record.name, version);
        let text = statement_json(&statement, &resource).to_string();
        let expected = std::mem::replace(&mut record.policy_revision, new_revision());
        record.policy.push(statement);
        self.write_policy(&record, &expected)?;
        Ok(AddLayerVersionPermissionResponse {
            statement: text,
            revision_id: record.policy_revision,
        })
    }

    /// GetLayerVersionPolicy.
    pub fn get_layer_version_policy(
        &self,
        layer_name: &str,
        version: u64,
    ) -> Result<GetLayerVersionPolicyResponse, CoreError> {
        let record = self.layer_record(layer_name, version)?;
        if record.policy.is_empty() {
            return Err(CoreError::ResourceNotFound(
                "No policy is associated with the given resource.".into(),
            ));
        }
        let resource = layer::layer_version_arn(&self.config.region, &record.name, version);
        let statements: Vec<serde_json::Value> = record
            .policy
            .iter()
            .map(|s| statement_json(s, &resource))
            .collect();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": statements,
        });
        Ok(GetLayerVersionPolicyResponse {
            policy: policy.to_string(),
            revision_id: record.policy_revision,
        })
    }

    /// RemoveLayerVersionPermission.
    pub async fn remove_layer_version_permission(
        &self,
        layer_name: &str,
        version: u64,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<(), CoreError> {
        let _guard = self.writes.lock().await;
        let mut record = self.layer_record(layer_name, version)?;
        check_policy_revision(&record, revision_id)?;
        let before = record.policy.len();
        record.policy.retain(|s| s.sid != statement_id);
        if record.policy.len() == before {
            return Err(CoreError::ResourceNotFound(format!(
                "Statement {statement_id} is not found in resource policy."
            )));
        }
        let expected = std::mem::replace(&mut record.policy_revision, new_revision());
        self.write_policy(&record, &expected)
    }

    /// The path of a layer version's zip, if `digest` (hex, when given) is its.
    pub fn layer_archive_path(
        &self,
        layer_name: &str,
        version: u64,
        digest: Option<&str>,
    ) -> Result<std::path::PathBuf, CoreError> {
        let record = self.layer_record(layer_name, version)?;
        if digest.is_some_and(|d| d != record.digest) {
            return Err(not_found());
        }
        Ok(self.archives.zip_path(&record.digest))
    }

    /// Resolves a function's `Layers` into the copies its configuration keeps. A
    /// layer version the function already uses may be named again after it was
    /// deleted (its copy is kept); any other must exist.
    pub(crate) fn resolve_layers(
        &self,
        arns: &[String],
        current: &[FunctionLayer],
    ) -> Result<Vec<FunctionLayer>, CoreError> {
        let parsed = layer::validate_function_layers(arns, &self.config.region)?;
        let mut out = Vec::with_capacity(arns.len());
        for (arn, v) in arns.iter().zip(parsed) {
            let canonical = layer::layer_version_arn(&self.config.region, &v.name, v.version);
            if let Some(kept) = current.iter().find(|l| l.arn == canonical) {
                out.push(kept.clone());
                continue;
            }
            let record = self
                .layers
                .get_layer_version(&v.name, v.version)?
                .ok_or_else(|| {
                    CoreError::InvalidParameterValue(format!("Layer version {arn} does not exist."))
                })?;
            out.push(FunctionLayer {
                arn: canonical,
                code_size: record.code_size,
                unzipped_size: record.unzipped_size,
                digest: record.digest,
            });
        }
        Ok(out)
    }

    /// Digests of every stored layer version's archive, which garbage collection
    /// keeps.
    pub(crate) fn live_layer_digests(&self) -> Result<HashSet<String>, CoreError> {
        Ok(self
            .layers
            .list_layer_versions()?
            .into_iter()
            .map(|r| r.digest)
            .collect())
    }

    fn layer_record(&self, layer_name: &str, version: u64) -> Result<Record, CoreError> {
        let name = layer::parse_layer_name(layer_name, &self.config.region)?;
        self.layers
            .get_layer_version(&name, version)?
            .ok_or_else(not_found)
    }

    fn write_policy(&self, record: &Record, expected: &str) -> Result<(), CoreError> {
        match self.layers.update_layer_policy(record, expected) {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_found()),
            Err(gust_store::StoreError::PreconditionFailed(m)) => {
                Err(CoreError::PreconditionFailed(m))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn layer_to_wire(&self, r: &Record, location: &impl LayerLocation) -> LayerVersion {
        let region = &self.config.region;
        LayerVersion {
            content: LayerVersionContentOutput {
                location: location(&r.name, r.version, &r.digest),
                code_sha256: r.code_sha256.clone(),
                code_size: r.code_size,
            },
            layer_arn: layer::layer_arn(region, &r.name),
            layer_version_arn: layer::layer_version_arn(region, &r.name, r.version),
            description: r.description.clone(),
            created_date: r.created_date.clone(),
            version: r.version,
            compatible_runtimes: r.compatible_runtimes.clone(),
            license_info: r.license_info.clone(),
            compatible_architectures: r.compatible_architectures.clone(),
        }
    }

    fn list_item(&self, r: &Record) -> LayerVersionsListItem {
        LayerVersionsListItem {
            layer_version_arn: layer::layer_version_arn(&self.config.region, &r.name, r.version),
            version: r.version,
            description: r.description.clone(),
            created_date: r.created_date.clone(),
            compatible_runtimes: r.compatible_runtimes.clone(),
            license_info: r.license_info.clone(),
            compatible_architectures: r.compatible_architectures.clone(),
        }
    }
}

/// Decodes a base64 `Content.ZipFile` with the same limits as function code.
pub fn decode_layer_zip(b64: &str) -> Result<Vec<u8>, CoreError> {
    if b64.trim().len() > limits::ZIPPED_CODE_MAX.div_ceil(3) * 4 {
        return Err(CoreError::RequestEntityTooLarge(format!(
            "Zipped size must be smaller than {} bytes",
            limits::ZIPPED_CODE_MAX
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            CoreError::InvalidParameterValue(format!(
                "Could not unzip uploaded file. Please check your file, then try to upload \
                 again. (ZipFile is not valid base64: {e})"
            ))
        })
}

fn check_policy_revision(record: &Record, expected: Option<&str>) -> Result<(), CoreError> {
    match expected {
        Some(rev) if rev != record.policy_revision => Err(CoreError::PreconditionFailed(
            "The revision ID provided does not match the latest version of the policy".into(),
        )),
        _ => Ok(()),
    }
}

/// Checks a permission against AWS's patterns.
fn check_statement(req: &AddLayerVersionPermissionRequest) -> Result<(), CoreError> {
    let sid_ok = !req.statement_id.is_empty()
        && req.statement_id.len() <= 100
        && req
            .statement_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !sid_ok {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{}' at 'statementId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
            req.statement_id
        )));
    }
    if req.action != "lambda:GetLayerVersion" {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{}' at 'action' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: lambda:GetLayerVersion",
            req.action
        )));
    }
    let p = req.principal.as_str();
    let account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let principal_ok = p == "*"
        || account(p)
        || p.strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            .is_some_and(account);
    if !principal_ok {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{p}' at 'principal' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             \\d{{12}}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{{12}}:root"
        )));
    }
    Ok(())
}

/// One statement as AWS writes it in the policy document.
fn statement_json(s: &LayerStatement, resource: &str) -> serde_json::Value {
    let principal = match s.principal.as_str() {
        "*" => serde_json::json!("*"),
        p if p.starts_with("arn:") => serde_json::json!({ "AWS": p }),
        p => serde_json::json!({ "AWS": format!("arn:aws:iam::{p}:root") }),
    };
    let mut v = serde_json::json!({
        "Sid": s.sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": s.action,
        "Resource": resource,
    });
    if let Some(org) = &s.organization_id {
        v["Condition"] = serde_json::json!({ "StringEquals": { "aws:PrincipalOrgID": org } });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(sid: &str, action: &str, principal: &str) -> AddLayerVersionPermissionRequest {
        AddLayerVersionPermissionRequest {
            statement_id: sid.into(),
            action: action.into(),
            principal: principal.into(),
            organization_id: None,
        }
    }

    #[test]
    fn statements_follow_aws_patterns() {
        for ok in ["*", "123456789012", "arn:aws:iam::123456789012:root"] {
            assert!(check_statement(&req("s", "lambda:GetLayerVersion", ok)).is_ok());
        }
        for bad in [
            req("s", "lambda:GetLayerVersion", "someone"),
            req("s", "lambda:InvokeFunction", "*"),
            req("", "lambda:GetLayerVersion", "*"),
            req("a b", "lambda:GetLayerVersion", "*"),
        ] {
            assert!(matches!(
                check_statement(&bad),
                Err(CoreError::Validation(_))
            ));
        }
    }

    #[test]
    fn statements_name_principals_as_aws_does() {
        let s = |p: &str| LayerStatement {
            sid: "x".into(),
            action: "lambda:GetLayerVersion".into(),
            principal: p.into(),
            organization_id: Some("o-1".into()).filter(|_| p == "*"),
        };
        let any = statement_json(&s("*"), "arn:l:1");
        assert_eq!(any["Principal"], "*");
        assert_eq!(
            any["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
            "o-1"
        );
        assert_eq!(
            statement_json(&s("123456789012"), "arn:l:1")["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
    }

    #[test]
    fn filters_match_runtimes_and_architectures() {
        let r = Record {
            name: "l".into(),
            version: 1,
            description: String::new(),
            license_info: None,
            compatible_runtimes: vec!["python3.11".into()],
            compatible_architectures: vec!["x86_64".into()],
            created_date: String::new(),
            code_sha256: String::new(),
            digest: String::new(),
            code_size: 0,
            unzipped_size: 0,
            policy: vec![],
            policy_revision: String::new(),
        };
        let f = |rt: Option<&str>, a: Option<&str>| LayerFilter {
            runtime: rt.map(str::to_string),
            architecture: a.map(str::to_string),
        };
        assert!(f(None, None).matches(&r));
        assert!(f(Some("python3.11"), Some("x86_64")).matches(&r));
        assert!(!f(Some("nodejs20.x"), None).matches(&r));
        assert!(!f(None, Some("arm64")).matches(&r));
    }
}
