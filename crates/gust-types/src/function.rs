//! The resolved configuration of a function version: what the store persists and the
//! scheduler and worker consume. The user's request shapes live in `gust-wire`; this is
//! the validated form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{limits, CoreError, Runtime};

/// Everything gust needs to run one version of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    /// The bare function name.
    pub name: String,
    /// `$LATEST` or a published version number.
    pub version: String,
    /// Which runtime starts the instance.
    pub runtime: Runtime,
    /// `module.function` for managed runtimes; passed through as `_HANDLER` otherwise.
    pub handler: Option<String>,
    /// Memory in MB: the instance's memory limit, and what the scheduler reserves.
    pub memory_mb: u32,
    /// Seconds an invocation may run before it is killed.
    pub timeout_s: u32,
    /// Size of `/tmp` in MB.
    pub ephemeral_mb: u32,
    /// The function's environment variables, set in every instance.
    pub environment: BTreeMap<String, String>,
    /// Free text shown in listings.
    pub description: String,
    /// The execution role ARN the caller supplied (kept, not enforced).
    pub role: String,
    /// Base64 SHA-256 of the zipped archive, as AWS reports it.
    pub code_sha256: String,
    /// Hex SHA-256 of the zipped archive: the archive's key in the store.
    pub code_digest: String,
    /// Size of the zipped archive in bytes.
    pub code_size: u64,
    /// When the configuration or code last changed, in AWS's format.
    pub last_modified: String,
    /// Changes with every update; callers use it for optimistic locking.
    pub revision_id: String,
    /// `DeadLetterConfig.TargetArn`: where an async event goes after its last failed
    /// attempt (when no on-failure destination is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_arn: Option<String>,
    /// The layer versions whose contents the instances see under `/opt`, in order
    /// (later ones over earlier ones). Each is a copy of what the layer version was
    /// when the function took it, so deleting the version breaks nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::layer::FunctionLayer>,
}

/// Checks MemorySize.
pub fn validate_memory(mb: u32) -> Result<(), CoreError> {
    if (limits::MEMORY_MIN_MB..=limits::MEMORY_MAX_MB).contains(&mb) {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{mb}' at 'memorySize' failed to satisfy \
             constraint: Member must have value between {} and {}",
            limits::MEMORY_MIN_MB,
            limits::MEMORY_MAX_MB
        )))
    }
}

/// Checks Timeout.
pub fn validate_timeout(s: u32) -> Result<(), CoreError> {
    if (limits::TIMEOUT_MIN_S..=limits::TIMEOUT_MAX_S).contains(&s) {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{s}' at 'timeout' failed to satisfy \
             constraint: Member must have value between {} and {}",
            limits::TIMEOUT_MIN_S,
            limits::TIMEOUT_MAX_S
        )))
    }
}

/// Checks EphemeralStorage.Size.
pub fn validate_ephemeral(mb: u32) -> Result<(), CoreError> {
    if (limits::EPHEMERAL_MIN_MB..=limits::EPHEMERAL_MAX_MB).contains(&mb) {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{mb}' at 'ephemeralStorage.size' failed to \
             satisfy constraint: Member must have value between {} and {}",
            limits::EPHEMERAL_MIN_MB,
            limits::EPHEMERAL_MAX_MB
        )))
    }
}

/// Checks a Handler string.
pub fn validate_handler(handler: &str) -> Result<(), CoreError> {
    let ok = !handler.is_empty()
        && handler.len() <= limits::HANDLER_MAX
        && !handler.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{handler}' at 'handler' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [^\\s]+ and have \
             length at most {}",
            limits::HANDLER_MAX
        )))
    }
}

/// Checks Description.
pub fn validate_description(d: &str) -> Result<(), CoreError> {
    if d.chars().count() <= limits::DESCRIPTION_MAX {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value at 'description' failed to satisfy \
             constraint: Member must have length less than or equal to {}",
            limits::DESCRIPTION_MAX
        )))
    }
}

/// The pattern AWS checks `Role` against, as its error message states it.
const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";

/// Checks Role: an IAM role ARN, `arn:aws:iam::<12 digits>:role/<name>` (gust records
/// it and does not assume it, but refuses what AWS refuses, with AWS's message).
pub fn validate_role(role: &str) -> Result<(), CoreError> {
    let ok = (|| {
        let rest = role.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let partition_ok = partition.is_empty()
            || partition
                .strip_prefix("aws")
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'));
        let rest = rest.strip_prefix("iam::")?;
        let (account, rest) = rest.split_once(':')?;
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let name = rest.strip_prefix("role")?;
        let name = name.strip_prefix('/').unwrap_or(name);
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b));
        Some(partition_ok && account_ok && name_ok)
    })()
    .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{role}' at 'role' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: {ROLE_PATTERN}"
        )))
    }
}

/// Names the Lambda runtime sets itself; a function may not override them.
pub const RESERVED_ENV: [&str; 16] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
];

/// Checks Environment.Variables: names, reserved keys and the 4 KB total.
pub fn validate_environment(vars: &BTreeMap<String, String>) -> Result<(), CoreError> {
    let mut total = 0;
    for (k, v) in vars {
        let first_ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CoreError::InvalidParameterValue(format!(
                "Environment variable name '{k}' is invalid: it must start with a letter and \
                 contain only letters, digits and '_'"
            )));
        }
        if RESERVED_ENV.contains(&k.as_str()) {
            return Err(CoreError::InvalidParameterValue(format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided contains reserved keys that are \
                 currently not supported for modification. Reserved keys used in this \
                 request: {k}"
            )));
        }
        if v.contains('\0') {
            return Err(CoreError::InvalidParameterValue(format!(
                "Environment variable '{k}' contains a NUL byte"
            )));
        }
        total += k.len() + v.len();
    }
    if total > limits::ENV_VARS_MAX_BYTES {
        return Err(CoreError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the \
             environment variables you have provided exceeded the 4KB limit. String \
             measured: {total} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn roles_must_be_iam_role_arns() {
        for good in [
            "arn:aws:iam::123456789012:role/lambda-role",
            "arn:aws:iam::000000000000:role/service-role/my.role@x",
            "arn:aws-cn:iam::123456789012:role/r",
            "arn::iam::123456789012:role/r",
        ] {
            assert_eq!(super::validate_role(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "lambda-role",
            "arn:aws:iam::12345678901:role/r",
            "arn:aws:iam::1234567890123:role/r",
            "arn:aws:iam::123456789012:user/r",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/r",
            "arn:gcp:iam::123456789012:role/r",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            let e = super::validate_role(bad).unwrap_err();
            assert!(
                matches!(&e, crate::CoreError::Validation(m) if m.contains("at 'role' failed")),
                "{bad}: {e:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert!(validate_memory(128).is_ok());
        assert!(validate_memory(10240).is_ok());
        assert!(validate_memory(127).is_err());
        assert!(validate_memory(10241).is_err());
        assert!(validate_timeout(1).is_ok());
        assert!(validate_timeout(900).is_ok());
        assert!(validate_timeout(0).is_err());
        assert!(validate_timeout(901).is_err());
    }

    #[test]
    fn environment_rules() {
        let mut v = BTreeMap::new();
        v.insert("GOOD_1".to_string(), "x".to_string());
        assert!(validate_environment(&v).is_ok());
        v.insert("AWS_REGION".to_string(), "x".to_string());
        assert!(validate_environment(&v).is_err());
        let mut big = BTreeMap::new();
        big.insert("A".to_string(), "x".repeat(5000));
        assert!(validate_environment(&big).is_err());
        let mut bad = BTreeMap::new();
        bad.insert("1A".to_string(), String::new());
        assert!(validate_environment(&bad).is_err());
    }
}
