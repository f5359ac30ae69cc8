//! Flags every protocol shares: which gust to measure (started here or already
//! running), the baseline and peer, where results go, and the quick mode.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::lambda::Runtime;
use crate::peer::PeerKind;
use crate::units::parse_duration;

/// Flags shared by every `gust bench` protocol.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// gust binary to start as `gust serve` [default: this executable].
    #[arg(long, value_name = "PATH", env = "GUST_BIN")]
    pub gust_bin: Option<PathBuf>,

    /// A running server to measure instead of starting one (gust or any
    /// Lambda-compatible API). Set from the CLI's global `--endpoint` when the user
    /// gave it (see [`crate::BenchArgs::set_endpoint`]), so it is not a flag here.
    #[arg(skip)]
    pub endpoint: Option<String>,

    /// With --endpoint: pid of the server, so its CPU and memory can be sampled.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// With --endpoint: invoke these existing functions instead of deploying the
    /// noop handler; `{i}` in the name stands for the function's index (0-based).
    #[arg(long, value_name = "NAME")]
    pub function: Option<String>,

    /// How the started gust isolates instances (`gust serve --isolation`).
    #[arg(long, value_enum, default_value_t = IsolationFlag::Auto)]
    pub isolation: IsolationFlag,

    /// Memory the started gust may reserve for instances, in MB [default: what the
    /// protocol needs].
    #[arg(long, value_name = "MB")]
    pub memory: Option<u64>,

    /// MemorySize of the functions the bench deploys, in MB. It also sets their CPU
    /// share (one vCPU at 1,769 MB, as on Lambda): at the default 128 MB a busy
    /// instance is throttled to 7 % of a CPU, which the direct baseline is not.
    #[arg(long, value_name = "MB", default_value_t = 128)]
    pub function_memory: u32,

    /// Extra argument for the started `gust serve` (repeatable).
    #[arg(long = "gust-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub gust_args: Vec<String>,

    /// Runtimes of the noop handler to measure.
    #[arg(
        long = "runtime",
        value_enum,
        value_delimiter = ',',
        value_name = "RUNTIME"
    )]
    pub runtimes: Vec<Runtime>,

    /// Also measure a peer platform with the same protocol and handler.
    #[arg(long, value_enum)]
    pub peer: Option<PeerKind>,

    /// Where peers are installed [default: $XDG_CACHE_HOME/gust-bench or ~/.cache/gust-bench].
    #[arg(long, value_name = "DIR")]
    pub peer_cache: Option<PathBuf>,

    /// Skip the direct baseline (the handler in a plain HTTP server).
    #[arg(long)]
    pub no_baseline: bool,

    /// Directory for result.json and the plots [default: bench-results/<protocol>-<timestamp>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// A tiny version of the protocol that runs in seconds (for tests).
    #[arg(long)]
    pub quick: bool,

    /// How often the host is sampled (CPU idle, memory, RSS).
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = parse_duration)]
    pub sample_interval: Duration,

    /// Read PSS (smaps_rollup of every server process) and count the server's
    /// processes on every Nth sample; 0: never. Costly with many instances
    /// [default: 4 for utilization, 0 for the others].
    #[arg(long, value_name = "N")]
    pub pss_every: Option<u32>,
}

/// `--isolation` of the started gust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationFlag {
    /// The Linux sandbox where the host allows it.
    Auto,
    /// The Linux sandbox, or fail.
    Linux,
    /// Plain processes (development machines).
    None,
}

impl IsolationFlag {
    /// The value of `gust serve --isolation`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationFlag::Auto => "auto",
            IsolationFlag::Linux => "linux",
            IsolationFlag::None => "none",
        }
    }
}

impl CommonArgs {
    /// Rejects flag combinations that make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoint.is_none() {
            if self.server_pid.is_some() {
                return Err("--server-pid needs --endpoint (a server started by the bench is sampled anyway)".into());
            }
            if self.function.is_some() {
                return Err("--function needs --endpoint (the bench deploys its own functions to the gust it starts)".into());
            }
        }
        Ok(())
    }

    /// The runtimes to measure, or `default` when none was named.
    pub fn runtimes_or(&self, default: &[Runtime]) -> Vec<Runtime> {
        if self.runtimes.is_empty() {
            default.to_vec()
        } else {
            let mut out = self.runtimes.clone();
            out.dedup();
            out
        }
    }
}
