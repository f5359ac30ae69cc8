//! Between the stored configuration and the Lambda wire shapes.

use gust_types::{name, FunctionConfig, Region};
use gust_wire::lambda::{
    DeadLetterConfig, Environment, EphemeralStorage, FunctionConfiguration, LoggingConfig,
    TracingConfigResponse,
};

/// The host's architecture as Lambda names it.
pub fn host_architecture() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

/// The `FunctionConfiguration` AWS returns for a stored configuration.
pub fn to_wire(c: &FunctionConfig, region: &Region) -> FunctionConfiguration {
    let arn = if c.version == "$LATEST" {
        name::function_arn(region, &c.name)
    } else {
        name::qualified_arn(region, &c.name, &c.version)
    };
    FunctionConfiguration {
        function_name: c.name.clone(),
        function_arn: arn,
        runtime: c.runtime.as_str().to_string(),
        role: c.role.clone(),
        handler: c.handler.clone(),
        code_size: c.code_size,
        description: c.description.clone(),
        timeout: c.timeout_s,
        memory_size: c.memory_mb,
        last_modified: c.last_modified.clone(),
        code_sha256: c.code_sha256.clone(),
        version: c.version.clone(),
        environment: (!c.environment.is_empty()).then(|| Environment {
            variables: c.environment.clone(),
        }),
        tracing_config: TracingConfigResponse {
            mode: "PassThrough".into(),
        },
        revision_id: c.revision_id.clone(),
        state: "Active".into(),
        last_update_status: "Successful".into(),
        package_type: "Zip".into(),
        dead_letter_config: c.dead_letter_arn.as_ref().map(|arn| DeadLetterConfig {
            target_arn: Some(arn.clone()),
        }),
        architectures: vec![host_architecture().into()],
        ephemeral_storage: EphemeralStorage {
            size: c.ephemeral_mb,
        },
        logging_config: LoggingConfig {
            log_format: "Text".into(),
            log_group: format!("/aws/lambda/{}", c.name),
        },
        layers: (!c.layers.is_empty()).then(|| {
            c.layers
                .iter()
                .map(|l| gust_wire::layers::FunctionLayer {
                    arn: l.arn.clone(),
                    code_size: l.code_size,
                })
                .collect()
        }),
    }
}

/// Now, in AWS's LastModified format: `2019-09-24T18:20:35.054+0000`.
pub fn last_modified_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    now.format(&fmt).unwrap_or_default()
}

/// A fresh RevisionId.
pub fn new_revision() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_has_aws_shape() {
        let s = last_modified_now();
        assert_eq!(s.len(), "2019-09-24T18:20:35.054+0000".len(), "{s}");
        assert!(s.ends_with("+0000"));
        assert_eq!(&s[10..11], "T");
    }
}
