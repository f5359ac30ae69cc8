//! Environment variables the CLI reads, in one place.

/// Where the CLI finds the server.
pub const ENDPOINT: &str = "GUST_ENDPOINT";
/// Where `gust serve` listens.
pub const LISTEN: &str = "GUST_LISTEN";
/// Where `gust serve` keeps its state.
pub const DATA_DIR: &str = "GUST_DATA_DIR";
/// Where the AWS SDKs of the managed runtimes are (`gust sdk install`).
pub const SDK_DIR: &str = "GUST_SDK_DIR";
/// Region reported in ARNs, as the AWS tools name it.
pub const REGION: &str = "AWS_REGION";
/// Access keys (`AKID:SECRET,...`) whose signatures `AWS_IAM` function URLs accept.
pub const ACCESS_KEYS: &str = "GUST_ACCESS_KEYS";
/// Log filter of `gust serve`, as `tracing-subscriber` names it.
pub const LOG_LEVEL: &str = "RUST_LOG";
/// Base of the default data directory, per the XDG base directory spec.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// Fallback base of the default data directory.
pub const HOME: &str = "HOME";

/// The endpoint used when neither `--endpoint` nor `GUST_ENDPOINT` is set.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";
/// The address `gust serve` listens on by default (matches [`DEFAULT_ENDPOINT`]).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
