//! Protocol 3, the thesis's backoff test (§3.3.2): single invocations after growing
//! idle intervals. The thesis used 1..30 minutes against a 15-minute expiry; here the
//! started gust gets a short `--idle-ttl` and the intervals are scaled to it (k/15 of
//! the TTL for k = 1..30), so the curve shows warm latency, the expiry point and the
//! cold-start latency past it.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::Conn;
use crate::lambda::{Manager, Runtime};
use crate::peer::PeerFunction;
use crate::plot::{self, Chart, Series};
use crate::progress;
use crate::session::{ClientCost, GustDefaults, Kind, Session, Target};
use crate::table::{self, Table};
use crate::units::parse_duration;

/// `gust bench backoff`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench backoff                          # TTL 10s, intervals 0.67s..20s (~6 min)
  gust bench backoff --idle-ttl 5s --points 20
  gust bench backoff --intervals 1s,5s,30s --endpoint http://127.0.0.1:9000 --idle-ttl 10m")]
pub struct BackoffArgs {
    /// Idle TTL of the started gust (and of the peer), which the intervals are scaled
    /// to; with --endpoint, give the server's TTL [default: 10s; quick: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_ttl: Option<Duration>,
    /// Intervals k/15 of the TTL for k = 1..=N (the thesis: 1..30 minutes against a
    /// 15-minute expiry) [default: 30; quick: 3 points around the TTL].
    #[arg(long, value_name = "N")]
    pub points: Option<u32>,
    /// Explicit idle intervals instead (comma-separated durations).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_duration)]
    pub intervals: Vec<Duration>,
    /// Times the whole schedule runs; latencies are averaged per interval.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeats: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    idle_ttl_ms: u64,
    intervals_ms: Vec<u64>,
    repeats: u32,
    runtimes: Vec<Runtime>,
}

/// One invocation after an idle interval.
#[derive(Debug, Clone, Serialize)]
struct Point {
    interval_ms: f64,
    /// Mean latency over the repeats, in µs (successful invocations only).
    latency_us: Option<f64>,
    ok: u32,
    failed: u32,
    /// gust's live instances just before the invocation (gust only): 0 means the
    /// instance had expired and this invocation was a cold start.
    instances_before: Option<usize>,
}

#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    kind: Kind,
    runtime: Runtime,
    points: Vec<Point>,
    /// Mean latency of intervals shorter than the TTL, µs.
    warm_mean_us: Option<f64>,
    /// Mean latency of intervals past the TTL plus its reaping period, µs.
    expired_mean_us: Option<f64>,
    /// Shortest interval after which gust had no instance left, ms.
    observed_expiry_ms: Option<f64>,
}

/// Runs the protocol.
pub fn run(args: BackoffArgs) -> Result<()> {
    let quick = args.common.quick;
    let ttl = args.idle_ttl.unwrap_or(if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    });
    let intervals: Vec<Duration> = if !args.intervals.is_empty() {
        args.intervals.clone()
    } else if quick && args.points.is_none() {
        [3u32, 10, 30].iter().map(|&k| ttl * k / 15).collect()
    } else {
        (1..=args.points.unwrap_or(30))
            .map(|k| ttl * k / 15)
            .collect()
    };
    let runtimes = args.common.runtimes_or(&[Runtime::Python]);
    let mut s = Session::open(
        "backoff",
        &args.common,
        GustDefaults {
            idle_ttl: ttl,
            memory_mb: 4096,
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    let peer_functions: Vec<PeerFunction> = runtimes
        .iter()
        .map(|&rt| PeerFunction {
            key: format!("backoff{}", rt.name()),
            runtime: rt,
        })
        .collect();
    s.start_peer(&peer_functions, Some(ttl));

    let mut targets: Vec<Target> = Vec::new();
    for &rt in &runtimes {
        targets.push(s.gust_target("backoff", rt, 1)?);
        targets.extend(s.direct_target(rt));
        targets.extend(s.peer_target(rt, &peer_functions));
    }
    let mut client = ClientCost::default();
    let repeats = args.repeats.max(1);
    let results = measure(&s, &targets, &intervals, repeats, ttl, &mut client);
    let samples = s.finish_sampling();
    let config = Config {
        idle_ttl_ms: ttl.as_millis() as u64,
        intervals_ms: intervals.iter().map(|d| d.as_millis() as u64).collect(),
        repeats,
        runtimes,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    plot_results(&s, &results, ttl)?;
    print_summary(&results, ttl);
    println!("results: {}", path.display());
    s.close()
}

fn measure(
    s: &Session,
    targets: &[Target],
    intervals: &[Duration],
    repeats: u32,
    ttl: Duration,
    client: &mut ClientCost,
) -> Vec<TargetResult> {
    let timeout = Duration::from_secs(30);
    let total: Duration = intervals.iter().sum::<Duration>() * repeats;
    let bar = progress::timed(total, "backoff");
    let t0 = Instant::now();
    let mut health = Manager::new(s.gust_addr());
    let gust_is_gust = s.health.is_some();
    // Per target: sums over repeats for each interval.
    let mut sums = vec![vec![(0.0f64, 0u32, 0u32, None::<usize>); intervals.len()]; targets.len()];
    let mut last_done: Vec<Instant> = Vec::with_capacity(targets.len());
    // One warm invocation each, so the first interval starts from a warm instance.
    for t in targets {
        let mut conn = Conn::new(t.addr);
        let _ = conn.call(&t.request(0), Some(Instant::now() + timeout));
        last_done.push(Instant::now());
    }
    for _ in 0..repeats {
        for (p, interval) in intervals.iter().enumerate() {
            bar.set_message(format!("idle {interval:?}"));
            for (i, t) in targets.iter().enumerate() {
                let due = last_done[i] + *interval;
                while Instant::now() < due {
                    bar.set_position(t0.elapsed().as_millis() as u64);
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(100)));
                }
                let instances = (t.kind == Kind::Gust && gust_is_gust)
                    .then(|| health.health().map(|h| h.instances))
                    .flatten();
                s.phase(&format!(
                    "backoff {} idle={}ms",
                    t.name,
                    interval.as_millis()
                ));
                // A fresh connection each time (connected before the clock starts):
                // after a long idle period a kept-alive one may be gone.
                let mut conn = Conn::new(t.addr);
                let req = t.request(0);
                let cpu0 = crate::procfs::thread_cpu_ns();
                let connected = conn.connect(Some(Instant::now() + timeout));
                let begin = Instant::now();
                let outcome = connected.and_then(|_| conn.call(&req, Some(begin + timeout)));
                let done = Instant::now();
                client.add(crate::procfs::thread_cpu_ns() - cpu0, done - begin, 1);
                let slot = &mut sums[i][p];
                match outcome {
                    Ok(r) if r.ok() => {
                        slot.0 += (done - begin).as_secs_f64() * 1e6;
                        slot.1 += 1;
                    }
                    _ => slot.2 += 1,
                }
                if slot.3.is_none() {
                    slot.3 = instances;
                }
                last_done[i] = Instant::now();
            }
        }
    }
    bar.finish_and_clear();
    let reap_margin = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    targets
        .iter()
        .zip(sums)
        .map(|(t, slots)| {
            let points: Vec<Point> = intervals
                .iter()
                .zip(slots)
                .map(|(iv, (sum, ok, failed, inst))| Point {
                    interval_ms: iv.as_secs_f64() * 1e3,
                    latency_us: (ok > 0).then(|| sum / ok as f64),
                    ok,
                    failed,
                    instances_before: inst,
                })
                .collect();
            let mean = |keep: &dyn Fn(&Duration) -> bool| {
                let v: Vec<f64> = intervals
                    .iter()
                    .zip(&points)
                    .filter(|(iv, _)| keep(iv))
                    .filter_map(|(_, p)| p.latency_us)
                    .collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            TargetResult {
                target: t.name.clone(),
                kind: t.kind,
                runtime: t.runtime,
                warm_mean_us: mean(&|iv| *iv < ttl),
                expired_mean_us: mean(&|iv| *iv > ttl + reap_margin),
                observed_expiry_ms: points
                    .iter()
                    .find(|p| p.instances_before == Some(0))
                    .map(|p| p.interval_ms),
                points,
            }
        })
        .collect()
}

fn plot_results(s: &Session, results: &[TargetResult], ttl: Duration) -> Result<()> {
    let chart = Chart {
        title: "Backoff test: latency after an idle interval".into(),
        x_label: "idle interval (s)".into(),
        y_label: "latency (ms)".into(),
        series: results
            .iter()
            .map(|t| {
                Series::new(
                    t.target.clone(),
                    t.points
                        .iter()
                        .filter_map(|p| Some((p.interval_ms / 1e3, p.latency_us? / 1e3)))
                        .collect(),
                )
            })
            .collect(),
        vline: Some((ttl.as_secs_f64(), "idle TTL".into())),
        x_ticks: None,
        y_log: true,
    };
    plot::save(&s.out_dir.join("backoff.png"), &[chart], 900, 500)
}

fn print_summary(results: &[TargetResult], ttl: Duration) {
    let mut t = Table::new(&[
        "target",
        "warm (idle < TTL)",
        "after expiry",
        "cold/warm",
        "expired after",
    ]);
    for r in results {
        t.row(vec![
            r.target.clone(),
            r.warm_mean_us.map_or("-".into(), table::us),
            r.expired_mean_us.map_or("-".into(), table::us),
            table::ratio(
                r.expired_mean_us
                    .zip(r.warm_mean_us)
                    .and_then(|(c, w)| crate::stats::ratio(c, w)),
            ),
            r.observed_expiry_ms
                .map_or("-".into(), |ms| format!("{:.1} s", ms / 1e3)),
        ]);
    }
    println!(
        "\nBackoff test (idle TTL {:.1} s; mean latency of single invocations)\n{}",
        ttl.as_secs_f64(),
        t.render()
    );
}
