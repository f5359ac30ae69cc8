//! Protocol 4, cold start: the latency of the first invocation on a new instance (a
//! fresh function each sample), p50/p99, and new instances per second sustained by a
//! few concurrent callers each invoking never-used functions. The direct baseline is
//! the same handler's server process started from nothing: spawn, import, listen,
//! first answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::child::Managed;
use crate::http::{Conn, Request};
use crate::lambda::Runtime;
use crate::loadgen::Counts;
use crate::peer::PeerFunction;
use crate::plot::{self, Chart, Series};
use crate::progress;
use crate::servers::{direct_command, direct_port};
use crate::session::{ClientCost, GustDefaults, Kind, Session, Target};
use crate::stats::{Latencies, Summary};
use crate::table::{self, Table};

/// `gust bench coldstart`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench coldstart                        # isolation as `gust serve --isolation auto`
  gust bench coldstart --isolation linux --samples 200 --burst 400")]
pub struct ColdstartArgs {
    /// Sequential cold starts, one fresh function each [default: 100; quick: 3].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Cold starts in the throughput burst [default: 300; quick: 4].
    #[arg(long, value_name = "N")]
    pub burst: Option<usize>,
    /// Concurrent callers in the burst.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub callers: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    samples: usize,
    burst: usize,
    callers: usize,
    runtimes: Vec<Runtime>,
}

#[derive(Debug, Serialize)]
struct Burst {
    callers: usize,
    counts: Counts,
    wall_s: f64,
    /// Successful cold starts per second over the burst.
    instances_per_s: f64,
    latency: Summary,
}

#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    kind: Kind,
    runtime: Runtime,
    /// Sequential first-invocation latency.
    latency: Summary,
    counts: Counts,
    /// Sequential samples in µs, in order.
    samples_us: Vec<f64>,
    burst: Option<Burst>,
}

/// Runs the protocol.
pub fn run(args: ColdstartArgs) -> Result<()> {
    let quick = args.common.quick;
    let samples = args.samples.unwrap_or(if quick { 3 } else { 100 }).max(1);
    let burst = args.burst.unwrap_or(if quick { 4 } else { 300 });
    let callers = args.callers.max(1);
    let runtimes = args.common.runtimes_or(&[Runtime::Python]);
    let mut s = Session::open(
        "coldstart",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: ((burst + callers + 16) as u64 * 128).max(4096),
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    // The peer's start-up check invokes its first function: a probe that no sample
    // uses, so every sampled function is still cold.
    let probe = PeerFunction {
        key: "probe".into(),
        runtime: runtimes[0],
    };
    let peer_functions: Vec<PeerFunction> = std::iter::once(probe.clone())
        .chain(runtimes.iter().flat_map(|&rt| {
            (0..samples + burst).map(move |i| PeerFunction {
                key: format!("cold{i}{}", rt.name()),
                runtime: rt,
            })
        }))
        .collect();
    s.start_peer(&peer_functions, None);

    let mut client = ClientCost::default();
    let mut results = Vec::new();
    for &rt in &runtimes {
        let gust = s.gust_target("cold", rt, samples + burst)?;
        results.push(measure_functions(
            &mut s,
            &gust,
            samples,
            burst,
            callers,
            &mut client,
        )?);
        if let Some(mut peer) = s.peer_target(rt, &peer_functions) {
            peer.functions.retain(|f| *f != probe.lambda_name());
            results.push(measure_functions(
                &mut s,
                &peer,
                samples,
                burst,
                callers,
                &mut client,
            )?);
        }
        if !s.common.no_baseline {
            results.push(measure_direct(&mut s, rt, samples, burst, callers)?);
        }
    }
    let samples_taken = s.finish_sampling();
    let config = Config {
        samples,
        burst,
        callers,
        runtimes,
    };
    let path = s.write_result(&config, &results, &client, &samples_taken)?;
    plot_results(&s, &results)?;
    print_summary(&results, s.health.as_ref().map(|h| h.isolation.as_str()));
    println!("results: {}", path.display());
    s.close()
}

/// Sequential cold starts on the target's first `samples` functions, then a burst
/// over the next `burst`.
fn measure_functions(
    s: &mut Session,
    target: &Target,
    samples: usize,
    burst: usize,
    callers: usize,
    client: &mut ClientCost,
) -> Result<TargetResult> {
    let timeout = Duration::from_secs(60);
    s.phase(&format!("coldstart {} sequential", target.name));
    let bar = progress::counter(samples as u64, &format!("cold {}", target.name));
    let mut conn = Conn::new(target.addr);
    let mut hist = Latencies::new();
    let mut counts = Counts::default();
    let mut seq = Vec::with_capacity(samples);
    let cpu0 = crate::procfs::thread_cpu_ns();
    let t0 = Instant::now();
    for i in 0..samples {
        let req = target.request(i);
        let begin = Instant::now();
        let outcome = conn.call(&req, Some(begin + timeout));
        let took = begin.elapsed();
        if counts.count(&outcome) {
            hist.record(took);
            seq.push(took.as_secs_f64() * 1e6);
        }
        if target.kind == Kind::Gust {
            // Keep the live instance count flat: the function is done with.
            s.delete_functions(&target.functions[i..=i])?;
        }
        bar.inc(1);
    }
    client.add(
        crate::procfs::thread_cpu_ns() - cpu0,
        t0.elapsed(),
        samples as u64,
    );
    bar.finish_and_clear();
    let burst_result = (burst > 0).then(|| {
        s.phase(&format!("coldstart {} burst", target.name));
        let names: Vec<usize> = (samples..samples + burst).collect();
        run_burst(callers, &names, |i| {
            let mut c = Conn::new(target.addr);
            let req = target.request(i);
            let begin = Instant::now();
            let outcome = c.call(&req, Some(begin + timeout));
            (outcome, begin.elapsed())
        })
    });
    if target.kind == Kind::Gust {
        let rest = target.functions[samples..].to_vec();
        s.delete_functions(&rest)?;
    }
    s.phase("");
    Ok(TargetResult {
        target: target.name.clone(),
        kind: target.kind,
        runtime: target.runtime,
        latency: hist.summary(),
        counts,
        samples_us: seq,
        burst: burst_result,
    })
}

/// `callers` threads take the next index from `items` and run `cold` on it.
fn run_burst(
    callers: usize,
    items: &[usize],
    cold: impl Fn(usize) -> (std::io::Result<crate::http::Reply>, Duration) + Sync,
) -> Burst {
    let next = AtomicUsize::new(0);
    let merged = Mutex::new((Latencies::new(), Counts::default()));
    let bar = progress::counter(items.len() as u64, "burst");
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..callers {
            scope.spawn(|| {
                let mut hist = Latencies::new();
                let mut counts = Counts::default();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&item) = items.get(k) else { break };
                    let (outcome, took) = cold(item);
                    if counts.count(&outcome) {
                        hist.record(took);
                    }
                    bar.inc(1);
                }
                let mut m = merged.lock().unwrap();
                m.0.merge(&hist);
                m.1.merge(&counts);
            });
        }
    });
    let wall = t0.elapsed();
    bar.finish_and_clear();
    let (hist, counts) = merged.into_inner().unwrap();
    Burst {
        callers,
        counts,
        wall_s: wall.as_secs_f64(),
        instances_per_s: counts.ok as f64 / wall.as_secs_f64().max(1e-9),
        latency: hist.summary(),
    }
}

/// The direct baseline's cold start: start the handler's server process and time
/// spawn → first answer.
fn measure_direct(
    s: &mut Session,
    runtime: Runtime,
    samples: usize,
    burst: usize,
    callers: usize,
) -> Result<TargetResult> {
    let name = format!("direct/{}", runtime.name());
    let dir = s
        .work
        .path()
        .join(format!("direct-cold-{}", runtime.name()));
    let dc = direct_command(runtime, &dir)?;
    let log_dir = s.log_dir.clone();
    let alive: Mutex<Vec<Managed>> = Mutex::new(Vec::new());
    let start_one = |_: usize| -> (std::io::Result<crate::http::Reply>, Duration) {
        let mut cmd = std::process::Command::new(dc.program);
        cmd.args(&dc.args);
        let begin = Instant::now();
        let log = log_dir.join(format!("direct-cold-{}.log", runtime.name()));
        let spawned = Managed::spawn(&name, cmd, &log).and_then(|mut m| {
            let port = m.wait_for(Duration::from_secs(30), direct_port)?;
            Ok((m, port))
        });
        let outcome = match spawned {
            Ok((m, port)) => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let mut conn = Conn::new(addr);
                let r = conn.call(
                    &Request::invoke(addr, "noop"),
                    Some(Instant::now() + Duration::from_secs(30)),
                );
                alive.lock().unwrap().push(m);
                r
            }
            Err(e) => Err(std::io::Error::other(format!("{e:#}"))),
        };
        (outcome, begin.elapsed())
    };
    s.phase(&format!("coldstart {name} sequential"));
    let bar = progress::counter(samples as u64, &format!("cold {name}"));
    let mut hist = Latencies::new();
    let mut counts = Counts::default();
    let mut seq = Vec::new();
    for i in 0..samples {
        let (outcome, took) = start_one(i);
        if counts.count(&outcome) {
            hist.record(took);
            seq.push(took.as_secs_f64() * 1e6);
        }
        // Stop it before the next sample, as gust deletes its function.
        alive.lock().unwrap().clear();
        bar.inc(1);
    }
    bar.finish_and_clear();
    let burst_result = (burst > 0).then(|| {
        s.phase(&format!("coldstart {name} burst"));
        let items: Vec<usize> = (0..burst).collect();
        run_burst(callers, &items, start_one)
    });
    alive.lock().unwrap().clear();
    s.phase("");
    Ok(TargetResult {
        target: name,
        kind: Kind::Direct,
        runtime,
        latency: hist.summary(),
        counts,
        samples_us: seq,
        burst: burst_result,
    })
}

fn plot_results(s: &Session, results: &[TargetResult]) -> Result<()> {
    let chart = Chart {
        title: "Cold start: first-invocation latency (sorted samples, log scale)".into(),
        x_label: "percentile of samples".into(),
        y_label: "latency (ms)".into(),
        series: results
            .iter()
            .map(|t| {
                let mut v = t.samples_us.clone();
                v.sort_by(f64::total_cmp);
                let n = v.len().max(1) as f64;
                Series::new(
                    t.target.clone(),
                    v.iter()
                        .enumerate()
                        .map(|(i, us)| (100.0 * (i as f64 + 0.5) / n, us / 1e3))
                        .collect(),
                )
            })
            .collect(),
        vline: None,
        x_ticks: None,
        y_log: true,
    };
    plot::save(&s.out_dir.join("coldstart.png"), &[chart], 900, 500)
}

fn print_summary(results: &[TargetResult], isolation: Option<&str>) {
    let mut t = Table::new(&[
        "target",
        "p50",
        "p99",
        "max",
        "ok",
        "failed",
        "burst new/s",
        "burst p50",
    ]);
    for r in results {
        t.row(vec![
            r.target.clone(),
            table::us(r.latency.p50_us),
            table::us(r.latency.p99_us),
            table::us(r.latency.max_us),
            r.counts.ok.to_string(),
            r.counts.dropped().to_string(),
            r.burst
                .as_ref()
                .map_or("-".into(), |b| table::f1(b.instances_per_s)),
            r.burst
                .as_ref()
                .map_or("-".into(), |b| table::us(b.latency.p50_us)),
        ]);
    }
    println!(
        "\nCold start (gust isolation: {}; targets: python p50 ≤ 10 ms, p99 ≤ 25 ms, ≥ 200 new/s)\n{}",
        isolation.unwrap_or("unknown"),
        t.render()
    );
}
