//! Create, get, list, update and delete functions.

use std::sync::Arc;

use base64::Engine;
use gust_store::StoredArchive;
use gust_types::function::{
    validate_description, validate_environment, validate_ephemeral, validate_handler,
    validate_memory, validate_role, validate_timeout,
};
use gust_types::{limits, name, CoreError, FunctionConfig, FunctionRef, Runtime};
use gust_wire::lambda::{
    CreateFunctionRequest, FunctionCodeLocation, FunctionConfiguration, GetFunctionResponse,
    ListFunctionsResponse, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};

use crate::convert::{host_architecture, last_modified_now, new_revision, to_wire};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;

use crate::registry::{Function, Meta, Shared};
use crate::Platform;

/// Role recorded when the caller gives none (gust has no IAM).
const DEFAULT_ROLE: &str = "arn:aws:iam::000000000000:role/gust";

impl Platform {
    /// CreateFunction.
    pub async fn create_function(
        &self,
        req: CreateFunctionRequest,
    ) -> Result<FunctionConfiguration, CoreError> {
        name::validate_name(&req.function_name)?;
        if req.package_type.as_deref().is_some_and(|p| p != "Zip") {
            return Err(unsupported("PackageType Image: gust runs zip archives"));
        }
        reject_unsupported(
            req.file_system_configs.as_deref(),
            req.vpc_config.as_ref(),
            req.image_config.as_ref(),
        )?;
        check_architectures(req.architectures.as_deref())?;
        if req.code.s3_bucket.is_some() || req.code.s3_key.is_some() || req.code.image_uri.is_some()
        {
            return Err(unsupported(
                "Code from S3 or a container image: pass the archive as Code.ZipFile",
            ));
        }
        let runtime = Runtime::parse(req.runtime.as_deref().ok_or_else(|| {
            CoreError::InvalidParameterValue(
                "Runtime is required for .zip file deployment packages".into(),
            )
        })?)?;
        let handler = match (req.handler, runtime.requires_handler()) {
            (Some(h), _) => {
                validate_handler(&h)?;
                Some(h)
            }
            (None, true) => {
                return Err(CoreError::InvalidParameterValue(
                    "Handler is required for managed runtimes".into(),
                ))
            }
            (None, false) => None,
        };
        let memory_mb = req.memory_size.unwrap_or(limits::MEMORY_DEFAULT_MB);
        validate_memory(memory_mb)?;
        let timeout_s = req.timeout.unwrap_or(limits::TIMEOUT_DEFAULT_S);
        validate_timeout(timeout_s)?;
        let ephemeral_mb = req
            .ephemeral_storage
            .map_or(limits::EPHEMERAL_MIN_MB, |e| e.size);
        validate_ephemeral(ephemeral_mb)?;
        let environment = req.environment.map(|e| e.variables).unwrap_or_default();
        validate_environment(&environment)?;
        let description = req.description.unwrap_or_default();
        validate_description(&description)?;
        if let Some(role) = &req.role {
            validate_role(role)?;
        }
        let tags = req.tags.unwrap_or_default();
        crate::tags::check_tags(&tags)?;
        let dead_letter_arn = dead_letter(req.dead_letter_config)?;
        let zip = decode_zip(req.code.zip_file.as_deref())?;

        let _guard = self.writes.lock().await;
        if self.registry.read().contains_key(&req.function_name) {
            return Err(CoreError::ResourceConflict(format!(
                "Function already exist: {}",
                req.function_name
            )));
        }
        let layers = self.resolve_layers(req.layers.as_deref().unwrap_or_default(), &[])?;
        let stored = self.store_archive(zip).await?;
        check_total_size(stored.unzipped_size, &layers)?;
        let config = FunctionConfig {
            name: req.function_name,
            version: "$LATEST".into(),
            runtime,
            handler,
            memory_mb,
            timeout_s,
            ephemeral_mb,
            environment,
            description,
            role: req.role.unwrap_or_else(|| DEFAULT_ROLE.to_string()),
            code_sha256: stored.sha256_base64,
            code_digest: stored.digest,
            code_size: stored.size,
            last_modified: last_modified_now(),
            revision_id: new_revision(),
            dead_letter_arn,
            layers,
        };
        self.build_opt(&config).await?;
        self.store.insert_function(&config)?;
        if !tags.is_empty() {
            if let Err(e) = self.store.put_tags(&config.name, &tags) {
                // No function half-created: without its tags it was never made.
                let _ = self.store.delete_function(&config.name, None);
                return Err(e.into());
            }
        }
        let shared = Arc::new(Shared {
            log: Arc::new(gust_worker::FunctionLog::new(
                self.config.log_bytes_per_function,
            )),
            in_flight: AtomicU32::new(0),
        });
        let function = Function {
            latest: self.new_entry(Arc::new(config), &shared.log, false),
            versions: BTreeMap::new(),
            aliases: BTreeMap::new(),
            provisioned: BTreeMap::new(),
            meta: Meta::default(),
            reserved: None,
            urls: BTreeMap::new(),
            network: Default::default(),
            tags,
            shared,
        };
        let function = self.publish_snapshot(function);
        tracing::info!(function = %function.name(), "function created");
        if req.publish == Some(true) {
            return self.publish_locked(&function, None, None, None);
        }
        Ok(to_wire(&function.latest.config, &self.config.region))
    }

    /// GetFunctionConfiguration.
    pub fn get_function_configuration(
        &self,
        fref: &FunctionRef,
    ) -> Result<FunctionConfiguration, CoreError> {
        let f = self.function(fref)?;
        let entry = f.entry_for_get(fref.qualifier.as_deref(), &self.config.region)?;
        Ok(to_wire(&entry.config, &self.config.region))
    }

    /// GetFunction. `code_location` gives the URL of a function's archive from its
    /// name and hex digest (the gateway knows the address the client used, and
    /// whether the URL must be presigned).
    pub fn get_function(
        &self,
        fref: &FunctionRef,
        code_location: impl FnOnce(&str, &str) -> String,
    ) -> Result<GetFunctionResponse, CoreError> {
        let f = self.function(fref)?;
        let entry = f.entry_for_get(fref.qualifier.as_deref(), &self.config.region)?;
        Ok(GetFunctionResponse {
            configuration: to_wire(&entry.config, &self.config.region),
            code: FunctionCodeLocation {
                repository_type: "S3".into(),
                location: code_location(&entry.config.name, &entry.config.code_digest),
            },
            concurrency: f.reserved.map(|n| gust_wire::versions::Concurrency {
                reserved_concurrent_executions: Some(n),
            }),
            tags: (!f.tags.is_empty()).then(|| f.tags.clone()),
        })
    }

    /// ListFunctions, in name order. `marker` is opaque (from `NextMarker`);
    /// `all_versions` is `FunctionVersion=ALL`.
    pub fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<u32>,
        all_versions: bool,
    ) -> Result<ListFunctionsResponse, CoreError> {
        let max = page_size(max_items)?;
        let after = match marker.filter(|m| !m.is_empty()) {
            Some(m) => Some(decode_marker(m)?),
            None => None,
        };
        let registry = self.registry.read();
        let mut all: Vec<(String, &Arc<crate::registry::Entry>)> = Vec::new();
        for f in registry.values() {
            all.push((format!("{}\u{0}", f.name()), &f.latest));
            if all_versions {
                for (v, e) in &f.versions {
                    all.push((format!("{}\u{0}{v:020}", f.name()), e));
                }
            }
        }
        let mut iter = all
            .into_iter()
            .filter(|(key, _)| after.as_deref().is_none_or(|a| key.as_str() > a));
        let page: Vec<(String, FunctionConfiguration)> = iter
            .by_ref()
            .take(max)
            .map(|(k, e)| (k, to_wire(&e.config, &self.config.region)))
            .collect();
        let next_marker = if iter.next().is_some() {
            page.last().map(|(k, _)| encode_marker(k))
        } else {
            None
        };
        Ok(ListFunctionsResponse {
            functions: page.into_iter().map(|(_, c)| c).collect(),
            next_marker,
        })
    }

    /// UpdateFunctionCode.
    pub async fn update_function_code(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionCodeRequest,
    ) -> Result<FunctionConfiguration, CoreError> {
        no_qualifier(fref)?;
        if req.s3_bucket.is_some() || req.s3_key.is_some() || req.image_uri.is_some() {
            return Err(unsupported(
                "Code from S3 or a container image: pass the archive as ZipFile",
            ));
        }
        check_architectures(req.architectures.as_deref())?;
        let zip = decode_zip(req.zip_file.as_deref())?;
        let _guard = self.writes.lock().await;
        let current = self.function(fref)?;
        check_revision(&current.latest.config, req.revision_id.as_deref())?;
        let stored = self.store_archive(zip).await?;
        check_total_size(stored.unzipped_size, &current.latest.config.layers)?;
        let mut config = (*current.latest.config).clone();
        config.code_sha256 = stored.sha256_base64;
        config.code_digest = stored.digest;
        config.code_size = stored.size;
        if req.dry_run == Some(true) {
            return Ok(to_wire(&config, &self.config.region));
        }
        let updated = self.replace_latest(&current, config)?;
        if req.publish == Some(true) {
            return self.publish_locked(&updated, None, None, None);
        }
        Ok(to_wire(&updated.latest.config, &self.config.region))
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_function_configuration(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration, CoreError> {
        no_qualifier(fref)?;
        reject_unsupported(
            req.file_system_configs.as_deref(),
            req.vpc_config.as_ref(),
            req.image_config.as_ref(),
        )?;
        let _guard = self.writes.lock().await;
        let current = self.function(fref)?;
        check_revision(&current.latest.config, req.revision_id.as_deref())?;
        let mut config = (*current.latest.config).clone();
        if let Some(r) = req.runtime {
            config.runtime = Runtime::parse(&r)?;
        }
        if let Some(h) = req.handler {
            validate_handler(&h)?;
            config.handler = Some(h);
        }
        if config.runtime.requires_handler() && config.handler.is_none() {
            return Err(CoreError::InvalidParameterValue(
                "Handler is required for managed runtimes".into(),
            ));
        }
        if let Some(m) = req.memory_size {
            validate_memory(m)?;
            config.memory_mb = m;
        }
        if let Some(t) = req.timeout {
            validate_timeout(t)?;
            config.timeout_s = t;
        }
        if let Some(e) = req.ephemeral_storage {
            validate_ephemeral(e.size)?;
            config.ephemeral_mb = e.size;
        }
        if let Some(env) = req.environment {
            validate_environment(&env.variables)?;
            config.environment = env.variables;
        }
        if let Some(d) = req.description {
            validate_description(&d)?;
            config.description = d;
        }
        if let Some(role) = req.role {
            validate_role(&role)?;
            config.role = role;
        }
        if let Some(dlq) = req.dead_letter_config {
            config.dead_letter_arn = dead_letter(Some(dlq))?;
        }
        if let Some(arns) = req.layers {
            config.layers = self.resolve_layers(&arns, &config.layers)?;
            let code = self.archives.unzipped_size(&config.code_digest)?;
            check_total_size(code, &config.layers)?;
            self.build_opt(&config).await?;
        }
        let updated = self.replace_latest(&current, config)?;
        Ok(to_wire(&updated.latest.config, &self.config.region))
    }

    /// Persists a new `$LATEST` and swaps it into the registry. The old warm stack is
    /// retired before this returns, so no later invocation runs the old code or
    /// configuration. Call with the write lock held.
    fn replace_latest(
        &self,
        current: &Arc<Function>,
        mut config: FunctionConfig,
    ) -> Result<Arc<Function>, CoreError> {
        config.last_modified = last_modified_now();
        config.revision_id = new_revision();
        self.store
            .update_function(&config, &current.latest.config.revision_id)?;
        let mut next = (**current).clone();
        next.latest = self.new_entry(
            Arc::new(config),
            &current.shared.log,
            current.network.outbound,
        );
        let next = self.publish_snapshot(next);
        current.latest.pool.retire();
        self.collect_garbage();
        tracing::info!(function = %next.name(), revision = %next.latest.config.revision_id, "function updated");
        Ok(next)
    }

    /// DeleteFunction: the whole function, or one published version.
    pub async fn delete_function(&self, fref: &FunctionRef) -> Result<(), CoreError> {
        let _guard = self.writes.lock().await;
        let current = self.function(fref)?;
        match fref.qualifier.as_deref() {
            None => {}
            Some("$LATEST") => {
                return Err(CoreError::InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function.".into(),
                ))
            }
            Some(q) => return self.delete_version_locked(&current, q),
        }
        self.store.delete_function(&fref.name, None)?;
        self.store.delete_tags(&fref.name, None)?;
        self.settings.delete_function_settings(&fref.name)?;
        self.forget_event_invoke_configs(&fref.name).await;
        self.registry.write().remove(&fref.name);
        // Its instances' credentials stop working with it.
        self.scheduler.worker().function_keys().revoke(&fref.name);
        current.latest.pool.retire();
        for e in current.versions.values() {
            e.pool.retire();
        }
        self.collect_garbage();
        tracing::info!(function = %fref.name, "function deleted");
        Ok(())
    }

    /// Builds the merged tree of `config`'s layers (its instances' `/opt`), if it
    /// has any, before the configuration that needs it is stored.
    pub(crate) async fn build_opt(&self, config: &FunctionConfig) -> Result<(), CoreError> {
        if config.layers.is_empty() {
            return Ok(());
        }
        let archives = self.archives.clone();
        let digests = crate::layer_digests(config);
        tokio::task::spawn_blocking(move || archives.build_opt(&digests))
            .await
            .map_err(|e| CoreError::Internal(format!("layer task failed: {e}")))?
            .map(drop)
            .map_err(CoreError::from)
    }

    /// [`Platform::build_opt`] on the calling thread (at start-up).
    pub(crate) fn build_opt_blocking(&self, config: &FunctionConfig) -> Result<(), CoreError> {
        if config.layers.is_empty() {
            return Ok(());
        }
        self.archives
            .build_opt(&crate::layer_digests(config))
            .map(drop)
            .map_err(CoreError::from)
    }

    pub(crate) async fn store_archive(&self, zip: Vec<u8>) -> Result<StoredArchive, CoreError> {
        let archives = self.archives.clone();
        tokio::task::spawn_blocking(move || archives.put(&zip))
            .await
            .map_err(|e| CoreError::Internal(format!("archive task failed: {e}")))?
            .map_err(CoreError::from)
    }
}

/// Lambda's limit on a function's code and layers together, unzipped.
fn check_total_size(
    code: u64,
    layers: &[gust_types::layer::FunctionLayer],
) -> Result<(), CoreError> {
    let total = layers
        .iter()
        .fold(code, |sum, l| sum.saturating_add(l.unzipped_size));
    if total > limits::UNZIPPED_CODE_MAX {
        return Err(CoreError::InvalidParameterValue(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. \
             The actual size is {total} bytes.",
            limits::UNZIPPED_CODE_MAX
        )));
    }
    Ok(())
}

/// `MaxItems`: 1–10000, default 50.
pub(crate) fn page_size(max_items: Option<u32>) -> Result<usize, CoreError> {
    match max_items {
        None => Ok(50),
        Some(n @ 1..=10_000) => Ok(n as usize),
        Some(n) => Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy \
             constraint: Member must have value between 1 and 10000"
        ))),
    }
}

fn decode_zip(b64: Option<&str>) -> Result<Vec<u8>, CoreError> {
    let b64 = b64.ok_or_else(|| {
        CoreError::InvalidParameterValue("Code.ZipFile is required: the zip archive, base64".into())
    })?;
    // Checked on the text first, so an oversize upload is refused before decoding.
    if b64.trim().len() > limits::ZIPPED_CODE_MAX.div_ceil(3) * 4 {
        return Err(zip_too_large());
    }
    let zip = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            CoreError::InvalidParameterValue(format!(
                "Could not unzip uploaded file. Please check your file, then try to upload \
                 again. (ZipFile is not valid base64: {e})"
            ))
        })?;
    if zip.len() > limits::ZIPPED_CODE_MAX {
        return Err(zip_too_large());
    }
    Ok(zip)
}

/// A zip over the direct-upload limit, as AWS answers it.
fn zip_too_large() -> CoreError {
    CoreError::RequestEntityTooLarge(format!(
        "Zipped size must be smaller than {} bytes",
        limits::ZIPPED_CODE_MAX
    ))
}

/// Validates a DeadLetterConfig target: an SQS queue ARN (gust's built-in queues) or
/// a Lambda function ARN. An empty TargetArn removes it.
fn dead_letter(
    cfg: Option<gust_wire::lambda::DeadLetterConfig>,
) -> Result<Option<String>, CoreError> {
    let Some(arn) = cfg.and_then(|c| c.target_arn).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let ok = arn.starts_with("arn:aws:sqs:")
        || arn.starts_with("arn:aws:lambda:")
        || arn.starts_with("arn:aws:sns:");
    if !ok {
        return Err(CoreError::InvalidParameterValue(format!(
            "DeadLetterConfig.TargetArn {arn} must be an SQS queue, SNS topic or Lambda function ARN"
        )));
    }
    Ok(Some(arn))
}

fn unsupported(what: &str) -> CoreError {
    CoreError::Unsupported(format!("gust does not support {what}"))
}

fn reject_unsupported(
    fs: Option<&[serde_json::Value]>,
    vpc: Option<&serde_json::Value>,
    image: Option<&serde_json::Value>,
) -> Result<(), CoreError> {
    if fs.is_some_and(|f| !f.is_empty()) {
        return Err(unsupported("FileSystemConfigs"));
    }
    let vpc_used = vpc.is_some_and(|v| {
        ["SubnetIds", "SecurityGroupIds"].iter().any(|k| {
            v.get(k)
                .and_then(|s| s.as_array())
                .is_some_and(|a| !a.is_empty())
        })
    });
    if vpc_used {
        return Err(unsupported("VpcConfig"));
    }
    if image.is_some_and(|i| !i.is_null()) {
        return Err(unsupported("ImageConfig"));
    }
    Ok(())
}

fn check_architectures(arch: Option<&[String]>) -> Result<(), CoreError> {
    match arch {
        None => Ok(()),
        Some([a]) if a == host_architecture() => Ok(()),
        Some(other) => Err(CoreError::InvalidParameterValue(format!(
            "Architectures {other:?} not supported: this gust host runs [\"{}\"]",
            host_architecture()
        ))),
    }
}

pub(crate) fn check_revision(
    config: &FunctionConfig,
    expected: Option<&str>,
) -> Result<(), CoreError> {
    match expected {
        Some(rev) if rev != config.revision_id => Err(CoreError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the \
             GetFunction/GetAlias API to retrieve the latest Revision Id"
                .into(),
        )),
        _ => Ok(()),
    }
}

fn no_qualifier(fref: &FunctionRef) -> Result<(), CoreError> {
    match fref.qualifier.as_deref() {
        None | Some("$LATEST") => Ok(()),
        Some(_) => Err(CoreError::InvalidParameterValue(
            "Only $LATEST can be updated; published versions are immutable".into(),
        )),
    }
}

pub(crate) fn encode_marker(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

pub(crate) fn decode_marker(marker: &str) -> Result<String, CoreError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| CoreError::InvalidParameterValue(format!("Invalid Marker: {marker}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(len: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![0u8; len])
    }

    #[test]
    fn code_and_layers_share_the_unzipped_limit() {
        let layer = |size: u64| gust_types::layer::FunctionLayer {
            arn: "arn".into(),
            code_size: 1,
            unzipped_size: size,
            digest: "d".into(),
        };
        let max = limits::UNZIPPED_CODE_MAX;
        assert!(check_total_size(max - 10, &[layer(5), layer(5)]).is_ok());
        let e = check_total_size(max - 10, &[layer(5), layer(6)]).unwrap_err();
        assert!(
            matches!(&e, CoreError::InvalidParameterValue(m) if m.contains("262144001")),
            "{e}"
        );
        assert!(check_total_size(max + 1, &[]).is_err());
        assert!(check_total_size(1, &[layer(u64::MAX)]).is_err());
    }

    #[test]
    fn zips_up_to_the_limit_decode() {
        let zip = decode_zip(Some(&b64(limits::ZIPPED_CODE_MAX))).unwrap();
        assert_eq!(zip.len(), limits::ZIPPED_CODE_MAX);
    }

    #[test]
    fn zips_over_the_limit_are_entity_too_large_whatever_their_padding() {
        for len in [
            limits::ZIPPED_CODE_MAX + 1,
            limits::ZIPPED_CODE_MAX + 2,
            60 << 20,
        ] {
            let e = decode_zip(Some(&b64(len))).unwrap_err();
            assert_eq!(
                e,
                CoreError::RequestEntityTooLarge(
                    "Zipped size must be smaller than 52428800 bytes".into()
                ),
                "{len}"
            );
        }
    }

    #[test]
    fn bad_base64_is_an_invalid_parameter() {
        assert!(matches!(
            decode_zip(Some("!!not base64")),
            Err(CoreError::InvalidParameterValue(_))
        ));
        assert!(matches!(
            decode_zip(None),
            Err(CoreError::InvalidParameterValue(_))
        ));
    }
}
