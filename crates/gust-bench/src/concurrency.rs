//! Protocol 2, the thesis's concurrency test (§3.3.1): closed-loop callers of one
//! `noop` function, one caller added per step up to 15, each re-issuing as soon as it
//! has an answer; completed invocations per second at each level, for gust, the
//! direct baseline and the peer.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::Conn;
use crate::lambda::Runtime;
use crate::loadgen::Counts;
use crate::peer::PeerFunction;
use crate::plot::{self, Chart, Series};
use crate::sampler::Sample;
use crate::session::{ClientCost, GustDefaults, Kind, Session, Target};
use crate::stats::{ratio, Latencies, Summary};
use crate::table::{self, Table};
use crate::units::parse_duration;
use crate::{procfs, progress};

/// `gust bench concurrency`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench concurrency                      # 10 s per level, as the thesis
  gust bench concurrency --step 3s --runtime python --peer serverless-offline")]
pub struct ConcurrencyArgs {
    /// Most concurrent callers [default: 15; quick: 3].
    #[arg(long, value_name = "N")]
    pub max_callers: Option<usize>,
    /// Time at each level before the next caller joins [default: 10s; quick: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub step: Option<Duration>,
    /// Start of each level left out of its figures, while the new caller's instance
    /// starts [default: a fifth of the step, at most 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub settle: Option<Duration>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    max_callers: usize,
    step_ms: u64,
    settle_ms: u64,
    runtimes: Vec<Runtime>,
}

/// One concurrency level of one target.
#[derive(Debug, Clone, Serialize)]
struct Level {
    callers: usize,
    /// Completed (successful) invocations per second, settle time excluded.
    throughput_rps: f64,
    /// Throughput over `callers` times the one-caller throughput.
    scaling_efficiency: Option<f64>,
    latency: Summary,
    counts: Counts,
    /// Mean host CPU idle during the level, in percent.
    cpu_idle_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    kind: Kind,
    runtime: Runtime,
    levels: Vec<Level>,
    /// CPU seconds of the server's process tree over the whole ramp.
    server_cpu_s: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RuntimeResult {
    runtime: Runtime,
    targets: Vec<TargetResult>,
    /// gust / direct throughput at the top level (target: ≥ 0.5).
    top_ratio_to_direct: Option<f64>,
    /// gust / peer throughput at the top level (target: ≥ 5).
    top_ratio_to_peer: Option<f64>,
}

/// Runs the protocol.
pub fn run(args: ConcurrencyArgs) -> Result<()> {
    let quick = args.common.quick;
    let max = args
        .max_callers
        .unwrap_or(if quick { 3 } else { 15 })
        .max(1);
    let step = args.step.unwrap_or(if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    });
    let settle = args
        .settle
        .unwrap_or((step / 5).min(Duration::from_secs(1)))
        .min(step / 2);
    let runtimes = args.common.runtimes_or(&[Runtime::Python, Runtime::Node]);
    let mut s = Session::open(
        "concurrency",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: (max as u64 * 128 * runtimes.len() as u64).max(4096),
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    let peer_functions: Vec<PeerFunction> = runtimes
        .iter()
        .map(|&rt| PeerFunction {
            key: format!("conc{}", rt.name()),
            runtime: rt,
        })
        .collect();
    s.start_peer(&peer_functions, None);

    let mut client = ClientCost::default();
    let mut raw: Vec<(Runtime, Vec<Measured>)> = Vec::new();
    for &rt in &runtimes {
        let mut targets = vec![s.gust_target("concurrency", rt, 1)?];
        targets.extend(s.direct_target(rt));
        targets.extend(s.peer_target(rt, &peer_functions));
        let mut per_target = Vec::new();
        for t in targets {
            let cpu0 = t.pid.map(procfs::tree_cpu_seconds);
            let levels = ramp(&s, &t, max, step, settle, &mut client);
            let cpu = t
                .pid
                .zip(cpu0)
                .map(|(p, c0)| procfs::tree_cpu_seconds(p) - c0);
            per_target.push((t, levels, cpu));
        }
        raw.push((rt, per_target));
    }
    let samples = s.finish_sampling();
    let results: Vec<RuntimeResult> = raw
        .into_iter()
        .map(|(rt, targets)| summarise(rt, targets, step - settle, &samples))
        .collect();
    let config = Config {
        max_callers: max,
        step_ms: step.as_millis() as u64,
        settle_ms: settle.as_millis() as u64,
        runtimes,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    plot_results(&s, &results)?;
    print_summary(&results, &client);
    println!("results: {}", path.display());
    s.close()
}

/// A target, what each of its levels collected, and its server's CPU seconds.
type Measured = (Target, Vec<RawLevel>, Option<f64>);

/// What one level collected, before summarising.
#[derive(Debug, Default, Clone)]
struct RawLevel {
    latencies: Latencies,
    counts: Counts,
}

/// Runs the ramp against one target: caller `c` joins at `c * step`; all stop at
/// `max * step`.
fn ramp(
    s: &Session,
    target: &Target,
    max: usize,
    step: Duration,
    settle: Duration,
    client: &mut ClientCost,
) -> Vec<RawLevel> {
    let total = step * max as u32;
    let bar = progress::timed(total, &format!("concurrency {}", target.name));
    let t0 = Instant::now() + Duration::from_millis(50);
    let end = t0 + total;
    let timeout = Duration::from_secs(30);
    let per_caller: Vec<(Vec<RawLevel>, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..max)
            .map(|c| {
                let req = target.request(0);
                let addr = target.addr;
                scope.spawn(move || {
                    let mut levels = vec![RawLevel::default(); max];
                    let start = t0 + step * c as u32;
                    let now = Instant::now();
                    if start > now {
                        std::thread::sleep(start - now);
                    }
                    let cpu0 = procfs::thread_cpu_ns();
                    let mut conn = Conn::new(addr);
                    let mut sent = 0u64;
                    while Instant::now() < end {
                        let begin = Instant::now();
                        let outcome = conn.call(&req, Some(begin + timeout));
                        let done = Instant::now();
                        sent += 1;
                        let since = done.saturating_duration_since(t0);
                        let level = ((since.as_nanos() / step.as_nanos()) as usize).min(max - 1);
                        let into_level = since.saturating_sub(step * level as u32);
                        if done < end && into_level >= settle {
                            let l = &mut levels[level];
                            if l.counts.count(&outcome) {
                                l.latencies.record(done - begin);
                            }
                        }
                        if outcome.is_err() {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    (levels, procfs::thread_cpu_ns() - cpu0, sent)
                })
            })
            .collect();
        // The driver: progress and the sampler's phase label.
        let mut last_level = usize::MAX;
        while Instant::now() < end {
            let since = Instant::now().saturating_duration_since(t0);
            let level = ((since.as_nanos() / step.as_nanos()) as usize).min(max - 1);
            if level != last_level {
                s.phase(&phase_label(&target.name, level + 1));
                bar.set_message(format!("{} callers", level + 1));
                last_level = level;
            }
            bar.set_position(since.as_millis() as u64);
            std::thread::sleep(Duration::from_millis(100));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("caller thread"))
            .collect()
    });
    bar.finish_and_clear();
    s.phase("");
    let mut merged = vec![RawLevel::default(); max];
    for (levels, cpu_ns, sent) in per_caller {
        client.add(cpu_ns, Duration::ZERO, sent);
        for (m, l) in merged.iter_mut().zip(&levels) {
            m.latencies.merge(&l.latencies);
            m.counts.merge(&l.counts);
        }
    }
    client.wall_s += total.as_secs_f64();
    merged
}

fn phase_label(target: &str, callers: usize) -> String {
    format!("concurrency {target} callers={callers}")
}

fn summarise(
    runtime: Runtime,
    targets: Vec<Measured>,
    measured: Duration,
    samples: &[Sample],
) -> RuntimeResult {
    let secs = measured.as_secs_f64().max(1e-9);
    let results: Vec<TargetResult> = targets
        .into_iter()
        .map(|(t, raw, cpu)| {
            let one = raw
                .first()
                .map(|l| l.counts.ok as f64 / secs)
                .unwrap_or(0.0);
            let levels = raw
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let rps = l.counts.ok as f64 / secs;
                    let label = phase_label(&t.name, i + 1);
                    let idle: Vec<f64> = samples
                        .iter()
                        .filter(|s| s.phase == label)
                        .map(|s| s.cpu_idle_pct)
                        .collect();
                    Level {
                        callers: i + 1,
                        throughput_rps: rps,
                        scaling_efficiency: ratio(rps, one * (i + 1) as f64),
                        latency: l.latencies.summary(),
                        counts: l.counts,
                        cpu_idle_pct: (!idle.is_empty())
                            .then(|| idle.iter().sum::<f64>() / idle.len() as f64),
                    }
                })
                .collect();
            TargetResult {
                target: t.name,
                kind: t.kind,
                runtime: t.runtime,
                levels,
                server_cpu_s: cpu,
            }
        })
        .collect();
    let top = |k: Kind| {
        results
            .iter()
            .find(|r| r.kind == k)
            .and_then(|r| r.levels.last())
            .map(|l| l.throughput_rps)
    };
    let (g, d, p) = (top(Kind::Gust), top(Kind::Direct), top(Kind::Peer));
    RuntimeResult {
        runtime,
        top_ratio_to_direct: g.zip(d).and_then(|(g, d)| ratio(g, d)),
        top_ratio_to_peer: g.zip(p).and_then(|(g, p)| ratio(g, p)),
        targets: results,
    }
}

fn plot_results(s: &Session, results: &[RuntimeResult]) -> Result<()> {
    let charts: Vec<Chart> = results
        .iter()
        .map(|r| Chart {
            title: format!("Concurrency test, {} noop (closed loop)", r.runtime.name()),
            x_label: "concurrent callers".into(),
            y_label: "invocations / s".into(),
            series: r
                .targets
                .iter()
                .map(|t| {
                    Series::new(
                        t.target.clone(),
                        t.levels
                            .iter()
                            .map(|l| (l.callers as f64, l.throughput_rps))
                            .collect(),
                    )
                })
                .collect(),
            vline: None,
            x_ticks: None,
            y_log: false,
        })
        .collect();
    plot::save(&s.out_dir.join("concurrency.png"), &charts, 900, 450)
}

fn print_summary(results: &[RuntimeResult], client: &ClientCost) {
    for r in results {
        let mut header = vec!["callers".to_string()];
        for t in &r.targets {
            header.push(format!("{} rps", t.target));
            header.push("p99".into());
        }
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header_refs);
        let levels = r.targets.first().map_or(0, |t| t.levels.len());
        for i in 0..levels {
            let mut row = vec![(i + 1).to_string()];
            for t in &r.targets {
                let l = &t.levels[i];
                row.push(table::f1(l.throughput_rps));
                row.push(table::us(l.latency.p99_us));
            }
            table.row(row);
        }
        println!(
            "\nConcurrency test, {} (completed invocations/s per level)\n{}",
            r.runtime.name(),
            table.render()
        );
        println!(
            "at the top level: gust/direct {} (target ≥ 0.50x), gust/peer {} (target ≥ 5x)",
            table::ratio(r.top_ratio_to_direct),
            table::ratio(r.top_ratio_to_peer)
        );
    }
    println!(
        "client: {:.1} µs CPU per request ({:.2} CPU-s)",
        client.us_per_request(),
        client.cpu_s
    );
}
