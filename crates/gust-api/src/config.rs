//! The server's validated configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which sandbox runs instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The Linux sandbox where the host allows it, else a clear error.
    Linux,
    /// Plain host processes: development only.
    None,
    /// Linux if available, else none with a loud warning.
    Auto,
}

/// Everything `gust serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the API listens (port 0 picks one).
    pub listen: SocketAddr,
    /// Holds the SQLite file, archives, extracted code and runtimes.
    pub data_dir: PathBuf,
    /// Sandbox choice.
    pub isolation: Isolation,
    /// Memory all instances together may reserve, in MB.
    pub memory_capacity_mb: u64,
    /// How long an idle instance stays warm.
    pub idle_ttl: Duration,
    /// How long an instance is idle before it is frozen; `None` never freezes.
    pub freeze_idle_after: Option<Duration>,
    /// How long a request waits for capacity before 429.
    pub queue_timeout: Duration,
    /// Log bytes kept per function.
    pub log_bytes_per_function: usize,
    /// Region reported in ARNs and the runtime environment.
    pub region: String,
    /// Concurrent executions allowed across all functions (AWS's account limit).
    pub account_concurrency: u32,
    /// Access keys whose SigV4 signatures `AWS_IAM` function URLs accept (gust has no
    /// IAM); none means such URLs answer 403.
    pub access_keys: crate::sigv4::AccessKeys,
    /// Accept `rate(N seconds)` schedules: a testing aid.
    pub allow_second_rates: bool,
    /// Asynchronous (Event) invocation: workers, retry base, group commit.
    pub events: gust_events::EventsConfig,
}

/// The account concurrency limit when none is configured (AWS's default quota).
pub const DEFAULT_ACCOUNT_CONCURRENCY: u32 = 1000;
