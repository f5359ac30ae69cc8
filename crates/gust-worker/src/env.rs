//! The environment of an instance, as Lambda sets it.

use crate::instance::InstanceSpec;

/// Builds the environment (the sandbox adds `AWS_LAMBDA_RUNTIME_API`,
/// `LAMBDA_TASK_ROOT` and `LAMBDA_RUNTIME_DIR`).
pub fn build(
    spec: &InstanceSpec,
    region: &str,
    instance_id: &str,
    provisioned: bool,
    endpoint: Option<&str>,
    credentials: &crate::credentials::Credentials,
) -> Vec<(String, String)> {
    let c = &spec.config;
    let today = time::OffsetDateTime::now_utc().date();
    let stream = format!(
        "{:04}/{:02}/{:02}/[{}]{}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        c.version,
        instance_id
    );
    let mut env = Vec::with_capacity(16 + c.environment.len());
    // The function's own variables first, so Lambda's cannot be overridden (the
    // sandbox's later `env` calls win, and reserved names are rejected at creation).
    for (k, v) in &c.environment {
        env.push((k.clone(), v.clone()));
    }
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("AWS_LAMBDA_FUNCTION_NAME", c.name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", c.version.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string());
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        format!("/aws/lambda/{}", c.name),
    );
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream);
    set(
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        if provisioned {
            "provisioned-concurrency"
        } else {
            "on-demand"
        }
        .into(),
    );
    // What AWS's SDKs need to call gust from inside: the endpoint (boto3 >= 1.28
    // and the JavaScript SDK v3 read AWS_ENDPOINT_URL) and the function's own
    // credentials, as Lambda sets its role's.
    let own_endpoint = c.environment.contains_key("AWS_ENDPOINT_URL");
    if let Some(url) = endpoint.filter(|_| !own_endpoint) {
        set("AWS_ENDPOINT_URL", url.to_string());
    }
    set("AWS_ACCESS_KEY_ID", credentials.access_key_id.clone());
    set(
        "AWS_SECRET_ACCESS_KEY",
        credentials.secret_access_key.clone(),
    );
    set("AWS_SESSION_TOKEN", credentials.session_token.clone());
    set("AWS_REGION", region.to_string());
    set("AWS_DEFAULT_REGION", region.to_string());
    set("_HANDLER", c.handler.clone().unwrap_or_default());
    if !c.runtime.is_provided() {
        set(
            "AWS_EXECUTION_ENV",
            format!("AWS_Lambda_{}", c.runtime.as_str()),
        );
    }
    for (k, v) in startup() {
        set(&k, v);
    }
    env
}

/// The variables every function gets that a runtime reads as it starts (so a
/// prewarmed runtime starts with them).
pub fn startup() -> Vec<(String, String)> {
    vec![
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
    ]
}
