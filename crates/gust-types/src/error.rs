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
