//! `gust bench`: the benchmark protocols of BENCHMARKS.md as a load generator, with
//! the direct baseline (the same handler in a plain HTTP server) measured in the same
//! run, optional peers (serverless-offline), host sampling, JSON results, PNG plots
//! and a summary table.
//!
//! Each protocol starts its own gust (`gust serve` on port 0 with a temporary data
//! directory) or targets a running one (`--endpoint`), deploys its own `noop`
//! functions, runs, and removes what it created.
//!
//! # Layout
//! - One module per protocol: [`overhead`], [`concurrency`], [`backoff`],
//!   [`coldstart`], [`utilization`], [`freeze`], [`density`], [`events`],
//!   [`storage`], [`workflow`].
//! - [`session`]: a run's servers, functions, output directory and teardown;
//!   [`servers`] starts gust and the direct baselines, [`peer`] the peers,
//!   [`child`] owns their processes.
//! - [`http`]: the lean keep-alive HTTP/1.1 client; [`loadgen`]: closed- and
//!   open-loop callers; [`stats`]: HDR histograms and summaries.
//! - [`sampler`] and [`procfs`]: CPU idle, memory, RSS and PSS from `/proc`.
//! - [`plot`], [`table`], [`progress`]: PNG charts, the printed summary, progress bars.
//! - [`lambda`]: the reference handlers and the Lambda management calls.
//! - [`args`]: the flags every protocol shares; [`units`]: durations and byte sizes
//!   as users type them, for these flags and the rest of the `gust` CLI's.

#![forbid(unsafe_code)]

pub mod args;
pub mod backoff;
pub mod child;
pub mod coldstart;
pub mod concurrency;
pub mod density;
pub mod events;
pub mod freeze;
pub mod http;
pub mod lambda;
pub mod loadgen;
pub mod overhead;
pub mod peer;
pub mod plot;
pub mod procfs;
pub mod progress;
pub mod sampler;
pub mod servers;
pub mod session;
pub mod stats;
pub mod storage;
pub mod table;
pub mod units;
pub mod utilization;
pub mod workflow;

use clap::{Args, Subcommand};

/// Arguments of `gust bench`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Each protocol starts its own gust (this executable, or --gust-bin) unless the global
--endpoint names a running server (gust or another Lambda-compatible API), measures
the direct baseline in the same run, and writes result.json and PNG plots to --out
(default bench-results/<protocol>-<timestamp>).

Examples:
  gust bench overhead
  gust bench concurrency --step 3s --peer serverless-offline
  gust bench utilization --runtime python
  gust bench coldstart --isolation linux
  gust bench backoff --idle-ttl 10s")]
pub struct BenchArgs {
    /// The protocol to run.
    #[command(subcommand)]
    pub protocol: Protocol,
}

/// The protocols of BENCHMARKS.md.
#[derive(Debug, Clone, Subcommand)]
pub enum Protocol {
    /// Warm invocation overhead: sequential invokes, gust minus direct (§1).
    Overhead(overhead::OverheadArgs),
    /// Closed-loop callers added one per step up to 15; invocations/s per level (§2).
    Concurrency(concurrency::ConcurrencyArgs),
    /// Single invocations after growing idle intervals around the idle TTL (§3).
    Backoff(backoff::BackoffArgs),
    /// First-invocation latency of new instances and new instances/s (§4).
    Coldstart(coldstart::ColdstartArgs),
    /// 150 functions, clients ramped 1,3,...,150, 30 requests each (§5).
    Utilization(utilization::UtilizationArgs),
    /// Freezing idle instances: warm-path cost, idle CPU saved, freezer cost (§6).
    Freeze(freeze::FreezeArgs),
    /// Event invocations accepted durably per second, and run (§7).
    Events(events::EventsArgs),
    /// 1,000 distinct functions held warm on one host: PSS per function, a
    /// round-robin sweep's latency, cold starts while full.
    Density(density::DensityArgs),
    /// The object store: 4 KB PUT/GET per second and 256 MB MB/s, with a direct
    /// file-server baseline (and moto with --peer moto).
    Storage(storage::StorageArgs),
    /// Workflows: per-transition overhead of Pass and Lambda Task chains, Standard
    /// and Express, against direct invokes; executions started per second.
    Workflow(workflow::WorkflowArgs),
}

impl BenchArgs {
    /// Measures the server at `url` instead of starting one. The gust CLI has a
    /// global `--endpoint`; it passes it here only when the user gave it.
    pub fn set_endpoint(&mut self, url: Option<String>) {
        self.common_mut().endpoint = url;
    }

    fn common_mut(&mut self) -> &mut args::CommonArgs {
        match &mut self.protocol {
            Protocol::Overhead(a) => &mut a.common,
            Protocol::Concurrency(a) => &mut a.common,
            Protocol::Backoff(a) => &mut a.common,
            Protocol::Coldstart(a) => &mut a.common,
            Protocol::Utilization(a) => &mut a.common,
            Protocol::Freeze(a) => &mut a.common,
            Protocol::Density(a) => &mut a.common,
            Protocol::Events(a) => &mut a.common,
            Protocol::Storage(a) => &mut a.common,
            Protocol::Workflow(a) => &mut a.common,
        }
    }
}

/// Runs `gust bench <protocol>`.
pub fn run(mut args: BenchArgs) -> anyhow::Result<()> {
    args.common_mut()
        .validate()
        .map_err(|e| anyhow::anyhow!(e))?;
    match args.protocol {
        Protocol::Overhead(a) => overhead::run(a),
        Protocol::Concurrency(a) => concurrency::run(a),
        Protocol::Backoff(a) => backoff::run(a),
        Protocol::Coldstart(a) => coldstart::run(a),
        Protocol::Utilization(a) => utilization::run(a),
        Protocol::Freeze(a) => freeze::run(a),
        Protocol::Density(a) => density::run(a),
        Protocol::Events(a) => events::run(a),
        Protocol::Storage(a) => storage::run(a),
        Protocol::Workflow(a) => workflow::run(a),
    }
}
