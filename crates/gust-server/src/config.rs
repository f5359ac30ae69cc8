//! The server's validated configuration: what `gust serve`'s flags become.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gust_api::{ConnectionLimits, UrlStyleChoice};

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
    pub access_keys: gust_api::sigv4::AccessKeys,
    /// Accept `rate(N seconds)` schedules: a testing aid.
    pub allow_second_rates: bool,
    /// Asynchronous (Event) invocation: workers, retry base, group commit.
    pub events: gust_events::EventsConfig,
    /// How long clients may take and how many connections may be open.
    pub connections: ConnectionLimits,
    /// Which form of function URL CreateFunctionUrlConfig hands out.
    pub url_style: UrlStyleChoice,
    /// Where `gust sdk install` put the AWS SDKs the managed runtimes provide
    /// (boto3, the JavaScript SDK v3); `None`: `<data_dir>/sdk`.
    pub sdk_dir: Option<std::path::PathBuf>,
    /// How the Linux sandbox holds instances to their CPU share.
    pub cpu: CpuShare,
    /// What all instances' disk-backed `/tmp` together may be promised, in MB;
    /// `None`: the free space of the data directory's filesystem.
    pub tmp_disk_mb: Option<u64>,
}

/// `gust serve --cpu-period` and `--cpu-burst`: the CFS bandwidth limit that holds
/// each instance to its CPU share (one vCPU per 1,769 MB, as on Lambda).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuShare {
    /// The shortest quota period; each memory size gets the shortest period from
    /// this one in which its share is at least the kernel's 1 ms least quota.
    pub min_period: Duration,
    /// Whether an instance may carry over one quota it left unused.
    pub burst: bool,
}

impl Default for CpuShare {
    fn default() -> CpuShare {
        CpuShare {
            min_period: Duration::from_millis(10),
            burst: true,
        }
    }
}
