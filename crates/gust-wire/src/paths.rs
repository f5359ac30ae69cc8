//! URL paths and header names, in one place.

/// Prefix of the Lambda management and invoke API.
pub const LAMBDA_PREFIX: &str = "/2015-03-31/functions";
/// Prefix of gust-only endpoints.
pub const GUST_PREFIX: &str = "/gust/v1";

/// `X-Amz-Invocation-Type`: RequestResponse, Event or DryRun.
pub const INVOCATION_TYPE: &str = "x-amz-invocation-type";
/// `X-Amz-Log-Type`: `Tail` asks for the last 4 KB of log.
pub const LOG_TYPE: &str = "x-amz-log-type";
/// `X-Amz-Log-Result`: base64 log tail in the response.
pub const LOG_RESULT: &str = "x-amz-log-result";
/// `X-Amz-Function-Error`: set when the payload is a function error.
pub const FUNCTION_ERROR: &str = "x-amz-function-error";
/// `X-Amz-Executed-Version`: the version that ran.
pub const EXECUTED_VERSION: &str = "x-amz-executed-version";
/// `x-amzn-ErrorType`: the Lambda error type of an error response.
pub const ERROR_TYPE: &str = "x-amzn-errortype";
/// `x-amzn-RequestId`: the request id of every response.
pub const REQUEST_ID: &str = "x-amzn-requestid";
/// `X-Amz-Client-Context`: base64 JSON passed to the function's context.
pub const CLIENT_CONTEXT: &str = "x-amz-client-context";

/// Path of one function.
pub fn function(name: &str) -> String {
    format!("{LAMBDA_PREFIX}/{name}")
}

/// Path of a function's invocations.
pub fn invocations(name: &str) -> String {
    format!("{LAMBDA_PREFIX}/{name}/invocations")
}

/// Path of a function's logs (gust-only).
pub fn logs(name: &str) -> String {
    format!("{GUST_PREFIX}/functions/{name}/logs")
}

/// Path of gust's bucket listing.
pub fn buckets() -> String {
    format!("{GUST_PREFIX}/buckets")
}

/// Path of a bucket's objects, in gust's JSON view.
pub fn bucket_objects(bucket: &str) -> String {
    format!("{GUST_PREFIX}/buckets/{bucket}/objects")
}

/// Path of the connection of a bucket to a function.
pub fn bucket_trigger(bucket: &str, function: &str) -> String {
    format!("{GUST_PREFIX}/buckets/{bucket}/triggers/{function}")
}

/// Path of a function's network setting (gust-only).
pub fn network(name: &str) -> String {
    format!("{GUST_PREFIX}/functions/{name}/network")
}
