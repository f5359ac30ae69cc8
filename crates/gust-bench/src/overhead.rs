//! Protocol 1, warm invocation overhead: sequential invokes of a warm `noop` through
//! gust, the direct baseline and the peer, interleaved in blocks so that drift in a
//! noisy machine hits all of them alike; p50/p99 added by gust over direct.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::Conn;
use crate::lambda::Runtime;
use crate::loadgen::{closed_loop, Counts, Run, Schedule};
use crate::peer::PeerFunction;
use crate::plot::{self, Chart, Series};
use crate::session::{ClientCost, GustDefaults, Kind, Session, Target};
use crate::stats::{ratio, Summary};
use crate::table::{self, Table};
use crate::{procfs, progress};

/// `gust bench overhead`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench overhead
  gust bench overhead --runtime python --requests 20000 --peer serverless-offline
  gust bench overhead --endpoint http://127.0.0.1:9000 --server-pid 1234")]
pub struct OverheadArgs {
    /// Measured invocations per target (after warm-up) [default: 5000; quick: 100].
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Warm-up invocations per target, not measured [default: 500; quick: 10].
    #[arg(long, value_name = "N")]
    pub warmup: Option<u64>,
    /// Invocations per target before switching to the next one.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub block: u64,
    /// Send on a fixed schedule at this many requests per second (open loop; latency
    /// counted from each send's due time) instead of back to back.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    requests: u64,
    warmup: u64,
    block: u64,
    rate: Option<f64>,
    runtimes: Vec<Runtime>,
}

/// One target's figures.
#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    kind: Kind,
    runtime: Runtime,
    latency: Summary,
    counts: Counts,
    /// CPU of the server's process tree per request, in µs (when its pid is known).
    server_cpu_us_per_request: Option<f64>,
    /// `(quantile, µs)` points of the latency distribution.
    percentiles: Vec<(f64, f64)>,
}

/// gust against the baseline and peer for one runtime.
#[derive(Debug, Serialize)]
struct RuntimeResult {
    runtime: Runtime,
    targets: Vec<TargetResult>,
    /// gust p50 minus direct p50, in µs (target: ≤ 150).
    added_p50_us: Option<f64>,
    /// gust p99 minus direct p99, in µs (target: ≤ 1000).
    added_p99_us: Option<f64>,
    /// gust p50 / direct p50.
    p50_ratio_to_direct: Option<f64>,
    /// peer p50 / gust p50.
    peer_p50_ratio_to_gust: Option<f64>,
}

/// Runs the protocol.
pub fn run(args: OverheadArgs) -> Result<()> {
    let quick = args.common.quick;
    let requests = args.requests.unwrap_or(if quick { 100 } else { 5000 });
    let warmup = args.warmup.unwrap_or(if quick { 10 } else { 500 });
    let block = args.block.clamp(1, requests.max(1));
    let runtimes = args.common.runtimes_or(&[Runtime::Python, Runtime::Node]);
    let mut s = Session::open(
        "overhead",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: 4096,
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    let peer_functions: Vec<PeerFunction> = runtimes
        .iter()
        .map(|&rt| PeerFunction {
            key: format!("noop{}", capitalised(rt.name())),
            runtime: rt,
        })
        .collect();
    s.start_peer(&peer_functions, None);

    let mut client = ClientCost::default();
    let mut results = Vec::new();
    for &rt in &runtimes {
        let mut targets = vec![s.gust_target("overhead", rt, 1)?];
        targets.extend(s.direct_target(rt));
        targets.extend(s.peer_target(rt, &peer_functions));
        s.phase(&format!("overhead {}", rt.name()));
        results.push(measure_runtime(
            rt,
            &targets,
            requests,
            warmup,
            block,
            args.rate,
            &mut client,
        )?);
    }
    let samples = s.finish_sampling();
    let config = Config {
        requests,
        warmup,
        block,
        rate: args.rate,
        runtimes: runtimes.clone(),
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    plot_results(&s, &results)?;
    print_summary(&results, &client);
    println!("results: {}", path.display());
    s.close()
}

#[allow(clippy::too_many_arguments)]
fn measure_runtime(
    runtime: Runtime,
    targets: &[Target],
    requests: u64,
    warmup: u64,
    block: u64,
    rate: Option<f64>,
    client: &mut ClientCost,
) -> Result<RuntimeResult> {
    let timeout = Duration::from_secs(30);
    let mut conns: Vec<Conn> = targets.iter().map(|t| Conn::new(t.addr)).collect();
    let reqs: Vec<_> = targets.iter().map(|t| t.request(0)).collect();
    let bar = progress::counter(
        (requests + warmup) * targets.len() as u64,
        &format!("overhead {}", runtime.name()),
    );
    for (i, t) in targets.iter().enumerate() {
        let w = closed_loop(&mut conns[i], &reqs[i], warmup, timeout, None, || {
            bar.inc(1)
        });
        if w.counts.ok == 0 && warmup > 0 {
            anyhow::bail!(
                "warm-up failed: no successful invocation of {} ({:?})",
                t.name,
                w.counts
            );
        }
    }
    let mut runs: Vec<Run> = targets.iter().map(|_| Run::default()).collect();
    let mut server_cpu = vec![0.0f64; targets.len()];
    let mut done = 0;
    while done < requests {
        let n = block.min(requests - done);
        for (i, t) in targets.iter().enumerate() {
            let cpu0 = t.pid.map(procfs::tree_cpu_seconds);
            let schedule = rate.map(Schedule::at_rate);
            let r = closed_loop(&mut conns[i], &reqs[i], n, timeout, schedule, || bar.inc(1));
            if let (Some(pid), Some(c0)) = (t.pid, cpu0) {
                server_cpu[i] += procfs::tree_cpu_seconds(pid) - c0;
            }
            client.add(r.cpu_ns, r.wall, n);
            runs[i].latencies.merge(&r.latencies);
            runs[i].counts.merge(&r.counts);
            runs[i].wall += r.wall;
        }
        done += n;
    }
    bar.finish_and_clear();
    let results: Vec<TargetResult> = targets
        .iter()
        .zip(&runs)
        .zip(&server_cpu)
        .map(|((t, r), cpu)| TargetResult {
            target: t.name.clone(),
            kind: t.kind,
            runtime: t.runtime,
            latency: r.latencies.summary(),
            counts: r.counts,
            server_cpu_us_per_request: t.pid.map(|_| cpu * 1e6 / r.counts.total().max(1) as f64),
            percentiles: r.latencies.curve(),
        })
        .collect();
    let find = |k: Kind| results.iter().find(|r| r.kind == k).map(|r| r.latency);
    let (gust, direct, peer) = (find(Kind::Gust), find(Kind::Direct), find(Kind::Peer));
    Ok(RuntimeResult {
        runtime,
        added_p50_us: gust.zip(direct).map(|(g, d)| g.p50_us - d.p50_us),
        added_p99_us: gust.zip(direct).map(|(g, d)| g.p99_us - d.p99_us),
        p50_ratio_to_direct: gust
            .zip(direct)
            .and_then(|(g, d)| ratio(g.p50_us, d.p50_us)),
        peer_p50_ratio_to_gust: gust.zip(peer).and_then(|(g, p)| ratio(p.p50_us, g.p50_us)),
        targets: results,
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `-log10(1 - q)`: 0 for the minimum, 2 for p99, 3 for p99.9.
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-4).log10()
}

fn nines_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    format!("p{}", (q * 100.0).round() / 100.0)
}

fn plot_results(s: &Session, results: &[RuntimeResult]) -> Result<()> {
    let charts: Vec<Chart> = results
        .iter()
        .map(|r| Chart {
            title: format!(
                "Warm invoke latency, {} noop (sequential)",
                r.runtime.name()
            ),
            x_label: "percentile".into(),
            y_label: "latency (µs)".into(),
            series: r
                .targets
                .iter()
                .map(|t| {
                    Series::new(
                        t.target.clone(),
                        t.percentiles
                            .iter()
                            .filter(|(q, _)| *q <= 0.999)
                            .map(|&(q, v)| (nines(q), v))
                            .collect(),
                    )
                })
                .collect(),
            vline: None,
            x_ticks: Some(nines_label),
            y_log: true,
        })
        .collect();
    plot::save(&s.out_dir.join("overhead.png"), &charts, 900, 420)
}

fn print_summary(results: &[RuntimeResult], client: &ClientCost) {
    let mut t = Table::new(&[
        "target",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "mean",
        "ok",
        "dropped",
        "server CPU/req",
    ]);
    for r in results {
        for x in &r.targets {
            t.row(vec![
                x.target.clone(),
                table::us(x.latency.p50_us),
                table::us(x.latency.p90_us),
                table::us(x.latency.p99_us),
                table::us(x.latency.p999_us),
                table::us(x.latency.mean_us),
                x.counts.ok.to_string(),
                x.counts.dropped().to_string(),
                x.server_cpu_us_per_request.map_or("-".into(), table::us),
            ]);
        }
    }
    println!(
        "\nWarm invocation overhead (sequential, keep-alive)\n{}",
        t.render()
    );
    let mut g = Table::new(&[
        "runtime",
        "added p50 (≤150 µs)",
        "added p99 (≤1 ms)",
        "gust/direct p50",
        "peer/gust p50",
    ]);
    for r in results {
        g.row(vec![
            r.runtime.name().into(),
            r.added_p50_us.map_or("-".into(), table::us),
            r.added_p99_us.map_or("-".into(), table::us),
            table::ratio(r.p50_ratio_to_direct),
            table::ratio(r.peer_p50_ratio_to_gust),
        ]);
    }
    println!("{}", g.render());
    println!(
        "client: {:.1} µs CPU per request ({:.2} CPU-s over {:.1} s)",
        client.us_per_request(),
        client.cpu_s,
        client.wall_s
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_map_percentiles() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(nines_label(&2.0), "p99");
        assert_eq!(nines_label(&3.0), "p99.9");
        assert_eq!(capitalised("python"), "Python");
    }
}
