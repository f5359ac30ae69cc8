//! Limits as AWS Lambda documents them. The gateway and the core both enforce these;
//! they live in one place so the two cannot disagree.

/// Smallest MemorySize in MB.
pub const MEMORY_MIN_MB: u32 = 128;
/// Largest MemorySize in MB.
pub const MEMORY_MAX_MB: u32 = 10_240;
/// MemorySize when the caller gives none.
pub const MEMORY_DEFAULT_MB: u32 = 128;
/// Shortest Timeout in seconds.
pub const TIMEOUT_MIN_S: u32 = 1;
/// Longest Timeout in seconds.
pub const TIMEOUT_MAX_S: u32 = 900;
/// Timeout when the caller gives none.
pub const TIMEOUT_DEFAULT_S: u32 = 3;
/// Smallest EphemeralStorage (`/tmp`) in MB.
pub const EPHEMERAL_MIN_MB: u32 = 512;
/// Largest EphemeralStorage (`/tmp`) in MB.
pub const EPHEMERAL_MAX_MB: u32 = 10_240;
/// Synchronous request and response payload limit (6 MB, counted in bytes as AWS does).
pub const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
/// Asynchronous (Event) payload limit: 1 MB, counted in bytes (AWS raised it from
/// 256 KB; the Invoke reference states 1 MB).
pub const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Total size of the environment variables' keys and values.
pub const ENV_VARS_MAX_BYTES: usize = 4 * 1024;
/// Largest zipped archive accepted inline in CreateFunction / UpdateFunctionCode.
pub const ZIPPED_CODE_MAX: usize = 50 * 1024 * 1024;
/// Largest total unzipped size of an archive.
pub const UNZIPPED_CODE_MAX: u64 = 250 * 1024 * 1024;
/// Most layers a function may use.
pub const LAYERS_MAX: usize = 5;
/// Longest LayerName (a name or a layer ARN).
pub const LAYER_NAME_MAX: usize = 140;
/// Longest layer version ARN.
pub const LAYER_VERSION_ARN_MAX: usize = 2048;
/// Longest LicenseInfo of a layer version.
pub const LICENSE_INFO_MAX: usize = 512;
/// Most CompatibleRuntimes of a layer version.
pub const COMPATIBLE_RUNTIMES_MAX: usize = 15;
/// Most entries an archive may hold.
pub const ARCHIVE_ENTRIES_MAX: usize = 20_000;
/// Bytes of log returned with `X-Amz-Log-Type: Tail`.
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Longest Description.
pub const DESCRIPTION_MAX: usize = 256;
/// Longest Handler.
pub const HANDLER_MAX: usize = 128;
