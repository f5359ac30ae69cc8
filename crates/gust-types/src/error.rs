//! The one error type the core hands to the gateway. Each variant maps to exactly one
//! Lambda error type and HTTP status in the gateway's `error_response`.

/// Why an operation on the platform failed. The variant's message is what the caller
/// reads in the `message` field of the Lambda error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The named function, version, alias or resource does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// The resource exists already, or is in a state that forbids the operation.
    #[error("{0}")]
    ResourceConflict(String),
    /// A parameter is outside what AWS allows.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A parameter fails the API's own constraints (a pattern, a length), which AWS
    /// answers with `ValidationException`.
    #[error("{0}")]
    Validation(String),
    /// The request is malformed (bad JSON, missing body, wrong content).
    #[error("{0}")]
    InvalidRequestContent(String),
    /// The request payload is over the limit.
    #[error("{0}")]
    RequestTooLarge(String),
    /// A management request, or the code archive it carries, is over the limit (AWS's
    /// `RequestEntityTooLargeException`, which Invoke does not use).
    #[error("{0}")]
    RequestEntityTooLarge(String),
    /// The uploaded archive is not a valid, safe zip file.
    #[error("{0}")]
    InvalidZipFile(String),
    /// A precondition (RevisionId, CodeSha256) did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// No capacity to run the request before its deadline; `reason` is AWS's Reason.
    #[error("{message}")]
    TooManyRequests {
        /// AWS's throttle reason, e.g. `ConcurrentInvocationLimitExceeded`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// No provisioned-concurrency configuration for that qualifier.
    #[error("{0}")]
    ProvisionedConcurrencyConfigNotFound(String),
    /// The function's runtime could not be started at all (not a function error).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// The operation is valid in AWS but gust does not support it (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The platform is shutting down and takes no new work.
    #[error("gust is shutting down")]
    ShuttingDown,
    /// The function would be invoked in a recursive loop (see `lineage`).
    #[error("{0}")]
    RecursiveInvocation(String),
    /// Something in gust itself failed; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for a not-found error on a function.
    pub fn function_not_found(arn: &str) -> Self {
        CoreError::ResourceNotFound(format!("Function not found: {arn}"))
    }
}

/// Directories of the sandbox's view (`/var/task`, `/var/runtime`, `/opt`) whose paths
/// [`without_host_paths`] keeps: they say where in the function's own tree a problem
/// is, and name nothing of the host.
const SANDBOX_DIRS: &[&str] = &["/var/task", "/var/runtime", "/opt"];

/// Paths [`without_host_paths`] keeps when they stand alone: the instance's own `/tmp`
/// (a message about its size names it); a path under it may be the host's.
const SANDBOX_NAMES: &[&str] = &["/tmp"];

/// `message` with every absolute host path replaced by `<path>`: what a server error
/// may tell a client. The full message belongs in gust's log.
pub fn without_host_paths(message: &str) -> String {
    let starts = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '(' | '[' | '=' | '`');
    let ends = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | ',' | ';' | '`');
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if c == '/' && prev.is_none_or(starts) {
            let len = rest.find(ends).unwrap_or(rest.len());
            let token = rest[..len].trim_end_matches([':', '.']);
            let kept = SANDBOX_NAMES.contains(&token)
                || SANDBOX_DIRS
                    .iter()
                    .any(|d| token == *d || token.starts_with(&format!("{d}/")));
            if token.len() > 1 && !kept {
                out.push_str("<path>");
                rest = &rest[token.len()..];
                prev = Some('>');
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_replaced_and_sandbox_paths_kept() {
        for (message, expected) in [
            (
                "extracting to /srv/gust/archives/tmp/put-1/tree/a: File name too long",
                "extracting to <path>: File name too long",
            ),
            (
                "permission denied at path \"/tmp/x/y\" (os error 13)",
                "permission denied at path \"<path>\" (os error 13)",
            ),
            ("opening /data/gust.db.", "opening <path>."),
            ("dir=/a/b,c", "dir=<path>,c"),
            (
                "[Errno 13] Permission denied: '/var/task/app.py'",
                "[Errno 13] Permission denied: '/var/task/app.py'",
            ),
            ("no such file /opt/bin/x", "no such file /opt/bin/x"),
            ("/root/.local/share/gust", "<path>"),
            ("1/2 done, rate 5/s", "1/2 done, rate 5/s"),
            ("a lone / stays", "a lone / stays"),
            (
                "not enough disk for this function's /tmp: its size",
                "not enough disk for this function's /tmp: its size",
            ),
            ("the host's /tmp/gust-1/x", "the host's <path>"),
            ("/var/taskforce/x", "<path>"),
        ] {
            assert_eq!(without_host_paths(message), expected, "{message}");
        }
    }
}
