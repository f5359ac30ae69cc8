//! Protocol 5, the utilisation test of seed 001: 150 functions, one per client;
//! clients ramped 1, 3, 5, ..., 149, 150; each client sends 30 requests in a row to
//! its own function with a 1,500 ms response timeout (a timeout or an error is a
//! drop). Per level: throughput, drop rate, latency; over the run: CPU idle and
//! memory; and the marginal memory per warm function (PSS growth of the server's
//! process tree divided by the warm functions added).

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
use crate::stats::{linear_fit, Latencies, Summary};
use crate::table::{self, Table};
use crate::units::parse_duration;
use crate::{procfs, progress};

/// `gust bench utilization`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench utilization                      # the seed's test: 150 functions
  gust bench utilization --functions 60 --peer serverless-offline")]
pub struct UtilizationArgs {
    /// Functions, one per client; clients ramp up to this many [default: 150; quick: 4].
    #[arg(long, value_name = "N")]
    pub functions: Option<usize>,
    /// Requests each client sends per level [default: 30; quick: 3].
    #[arg(long, value_name = "N")]
    pub requests: Option<u32>,
    /// Clients added per level (1, 1+k, 1+2k, ..., then the maximum).
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub ramp: usize,
    /// Response timeout; a slower answer is a drop.
    #[arg(long, value_name = "DURATION", default_value = "1500ms", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    functions: usize,
    requests_per_client: u32,
    levels: Vec<usize>,
    timeout_ms: u64,
    runtimes: Vec<Runtime>,
}

/// One level (a number of concurrent clients) of one target.
#[derive(Debug, Clone, Serialize)]
struct Level {
    clients: usize,
    wall_s: f64,
    /// Successful responses per second.
    throughput_rps: f64,
    /// Dropped (timeouts + errors) over sent, in percent.
    drop_rate_pct: f64,
    counts: Counts,
    latency: Summary,
    /// After the level: PSS of the server's whole process tree, MB.
    tree_pss_mb: f64,
    /// After the level: processes below the server.
    processes: usize,
    /// After the level: gust's live instances (gust only).
    instances: Option<usize>,
    /// After the level: host memory in use, MB.
    host_mem_used_mb: f64,
}

#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    kind: Kind,
    runtime: Runtime,
    levels: Vec<Level>,
    total: Counts,
    drop_rate_pct: f64,
    latency: Summary,
    /// Slope of tree PSS over warm functions (one per client so far), MB.
    marginal_pss_mb_per_function: Option<f64>,
    /// The seed's way: (PSS at the last level - PSS at the first) / functions added.
    marginal_pss_mb_seed_method: Option<f64>,
}

/// Runs the protocol.
pub fn run(args: UtilizationArgs) -> Result<()> {
    let quick = args.common.quick;
    let functions = args.functions.unwrap_or(if quick { 4 } else { 150 }).max(1);
    let requests = args.requests.unwrap_or(if quick { 3 } else { 30 }).max(1);
    let levels = levels(functions, args.ramp.max(1));
    let runtimes = args.common.runtimes_or(&[Runtime::Python]);
    let mut s = Session::open(
        "utilization",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: ((functions * runtimes.len() + 8) as u64 * 128).max(4096),
            // Shed what cannot be served in time, as the seed recommends.
            queue_timeout: args.timeout,
            pss_every: 4,
        },
    )?;
    let peer_functions: Vec<PeerFunction> = runtimes
        .iter()
        .flat_map(|&rt| {
            (0..functions).map(move |i| PeerFunction {
                key: format!("util{i}{}", rt.name()),
                runtime: rt,
            })
        })
        .collect();
    let mut client = ClientCost::default();
    let mut results = Vec::new();
    for &rt in &runtimes {
        let gust = s.gust_target("util", rt, functions)?;
        results.push(measure(
            &s,
            &gust,
            &levels,
            requests,
            args.timeout,
            &mut client,
        ));
        if let Some(direct) = s.direct_target(rt) {
            results.push(measure(
                &s,
                &direct,
                &levels,
                requests,
                args.timeout,
                &mut client,
            ));
        }
    }
    // The peer last and alone: it starts one process per function.
    if s.start_peer(&peer_functions, None) {
        for &rt in &runtimes {
            if let Some(peer) = s.peer_target(rt, &peer_functions) {
                results.push(measure(
                    &s,
                    &peer,
                    &levels,
                    requests,
                    args.timeout,
                    &mut client,
                ));
            }
        }
        s.stop_peer();
    }
    let samples = s.finish_sampling();
    let config = Config {
        functions,
        requests_per_client: requests,
        levels: levels.clone(),
        timeout_ms: args.timeout.as_millis() as u64,
        runtimes,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    plot_results(&s, &results, &samples)?;
    print_summary(&results, &client);
    println!("results: {}", path.display());
    s.close()
}

/// 1, 1+k, 1+2k, ... up to `max`, and `max` itself.
fn levels(max: usize, k: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..).map(|i| 1 + i * k).take_while(|&n| n <= max).collect();
    if v.last() != Some(&max) {
        v.push(max);
    }
    v
}

fn measure(
    s: &Session,
    target: &Target,
    levels: &[usize],
    requests: u32,
    timeout: Duration,
    client: &mut ClientCost,
) -> TargetResult {
    let total_requests: u64 = levels.iter().map(|&n| n as u64 * requests as u64).sum();
    let bar = progress::counter(total_requests, &format!("utilization {}", target.name));
    let mut out = Vec::with_capacity(levels.len());
    let mut all = Latencies::new();
    let mut total = Counts::default();
    let mut health = crate::lambda::Manager::new(target.addr);
    for &clients in levels {
        s.phase(&format!("utilization {} clients={clients}", target.name));
        bar.set_message(format!("{clients} clients"));
        let t0 = Instant::now();
        let per_client: Vec<(Latencies, Counts, u64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let req = target.request(c);
                    let addr = target.addr;
                    let bar = &bar;
                    scope.spawn(move || {
                        let cpu0 = procfs::thread_cpu_ns();
                        let mut conn = Conn::new(addr);
                        let mut hist = Latencies::new();
                        let mut counts = Counts::default();
                        for _ in 0..requests {
                            let begin = Instant::now();
                            let outcome = conn.call(&req, Some(begin + timeout));
                            let took = begin.elapsed();
                            if counts.count(&outcome) {
                                hist.record(took);
                            }
                            bar.inc(1);
                        }
                        (hist, counts, procfs::thread_cpu_ns() - cpu0)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let wall = t0.elapsed();
        let mut hist = Latencies::new();
        let mut counts = Counts::default();
        for (h, c, cpu_ns) in &per_client {
            hist.merge(h);
            counts.merge(c);
            client.add(*cpu_ns, Duration::ZERO, c.total());
        }
        client.wall_s += wall.as_secs_f64();
        all.merge(&hist);
        total.merge(&counts);
        let (tree_pss_mb, processes) = target.pid.map_or((0.0, 0), procfs::tree_pss_mb);
        let instances = (target.kind == Kind::Gust)
            .then(|| health.health().map(|h| h.instances))
            .flatten();
        out.push(Level {
            clients,
            wall_s: wall.as_secs_f64(),
            throughput_rps: counts.ok as f64 / wall.as_secs_f64().max(1e-9),
            drop_rate_pct: 100.0 * counts.dropped() as f64 / counts.total().max(1) as f64,
            counts,
            latency: hist.summary(),
            tree_pss_mb,
            processes,
            instances,
            host_mem_used_mb: procfs::memory_mb().0,
        });
    }
    bar.finish_and_clear();
    s.phase("");
    // Functions warmed so far: each client has its own function and the levels only
    // grow, so after a level as many functions are warm as it had clients (the
    // seed's divisor). Process counts would not do: a runtime may use several
    // processes per function.
    let warm = |l: &Level| l.clients as f64;
    let fit_points: Vec<(f64, f64)> = out.iter().map(|l| (warm(l), l.tree_pss_mb)).collect();
    let marginal_fit = (target.kind != Kind::Direct)
        .then(|| linear_fit(&fit_points).map(|(slope, _)| slope))
        .flatten();
    let seed_method = match (out.first(), out.last()) {
        (Some(a), Some(b)) if target.kind != Kind::Direct && warm(b) > warm(a) => {
            Some((b.tree_pss_mb - a.tree_pss_mb) / (warm(b) - warm(a)))
        }
        _ => None,
    };
    TargetResult {
        target: target.name.clone(),
        kind: target.kind,
        runtime: target.runtime,
        drop_rate_pct: 100.0 * total.dropped() as f64 / total.total().max(1) as f64,
        total,
        latency: all.summary(),
        levels: out,
        marginal_pss_mb_per_function: marginal_fit,
        marginal_pss_mb_seed_method: seed_method,
    }
}

fn per_level(results: &[TargetResult], f: impl Fn(&Level) -> f64) -> Vec<Series> {
    results
        .iter()
        .map(|t| {
            Series::new(
                t.target.clone(),
                t.levels.iter().map(|l| (l.clients as f64, f(l))).collect(),
            )
        })
        .collect()
}

fn plot_results(s: &Session, results: &[TargetResult], samples: &[Sample]) -> Result<()> {
    let chart = |title: &str, y: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: "concurrent clients".into(),
        y_label: y.into(),
        series,
        vline: None,
        x_ticks: None,
        y_log: false,
    };
    let mut latency = Vec::new();
    for t in results {
        for (name, q) in [("p50", 0), ("p99", 1)] {
            latency.push(Series::new(
                format!("{} {name}", t.target),
                t.levels
                    .iter()
                    .map(|l| {
                        let v = if q == 0 {
                            l.latency.p50_us
                        } else {
                            l.latency.p99_us
                        };
                        (l.clients as f64, v / 1e3)
                    })
                    .collect(),
            ));
        }
    }
    let by_clients = [
        chart(
            "Utilisation test: throughput",
            "successful responses / s",
            per_level(results, |l| l.throughput_rps),
        ),
        chart(
            "Drop rate (timeouts > 1.5 s + errors)",
            "dropped (%)",
            per_level(results, |l| l.drop_rate_pct),
        ),
        Chart {
            y_log: true,
            ..chart("Latency (log scale)", "latency (ms)", latency)
        },
        chart(
            "Memory: PSS of the server's process tree after each level",
            "PSS (MB)",
            per_level(results, |l| l.tree_pss_mb),
        ),
    ];
    plot::save(&s.out_dir.join("utilization.png"), &by_clients, 900, 380)?;

    let over_time = |title: &str, y: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: "time (s)".into(),
        y_label: y.into(),
        series,
        vline: None,
        x_ticks: None,
        y_log: false,
    };
    let mut servers: Vec<String> = Vec::new();
    for smp in samples {
        for sv in &smp.servers {
            if !servers.contains(&sv.name) {
                servers.push(sv.name.clone());
            }
        }
    }
    let pss_series: Vec<Series> = servers
        .iter()
        .map(|name| {
            Series::new(
                format!("{name} tree PSS"),
                samples
                    .iter()
                    .filter_map(|smp| {
                        let sv = smp.servers.iter().find(|v| &v.name == name)?;
                        Some((smp.t_s, sv.tree_pss_mb?))
                    })
                    .collect(),
            )
        })
        .collect();
    let time_charts = [
        over_time(
            "CPU idle over the run",
            "idle (%)",
            vec![Series::new(
                "host",
                samples.iter().map(|x| (x.t_s, x.cpu_idle_pct)).collect(),
            )],
        ),
        over_time(
            "Memory over the run",
            "MB",
            std::iter::once(Series::new(
                "host memory in use",
                samples.iter().map(|x| (x.t_s, x.mem_used_mb)).collect(),
            ))
            .chain(pss_series)
            .collect(),
        ),
    ];
    plot::save(
        &s.out_dir.join("utilization-time.png"),
        &time_charts,
        900,
        380,
    )
}

fn print_summary(results: &[TargetResult], client: &ClientCost) {
    let mut t = Table::new(&[
        "target",
        "sent",
        "dropped",
        "drop %",
        "drop % @max",
        "rps @max",
        "p50",
        "p99",
        "MB/function",
    ]);
    for r in results {
        let last = r.levels.last();
        t.row(vec![
            r.target.clone(),
            r.total.total().to_string(),
            r.total.dropped().to_string(),
            format!("{:.2}", r.drop_rate_pct),
            last.map_or("-".into(), |l| format!("{:.2}", l.drop_rate_pct)),
            last.map_or("-".into(), |l| table::f1(l.throughput_rps)),
            table::us(r.latency.p50_us),
            table::us(r.latency.p99_us),
            r.marginal_pss_mb_per_function
                .map_or("-".into(), |m| format!("{m:.2}")),
        ]);
    }
    println!(
        "\nUtilisation test (targets: 0 % drops at the top level; ≤ 3 MB PSS per warm isolated Python function)\n{}",
        t.render()
    );
    println!(
        "client: {:.1} µs CPU per request ({:.2} CPU-s)",
        client.us_per_request(),
        client.cpu_s
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_seed() {
        let l = levels(150, 2);
        assert_eq!(&l[..3], &[1, 3, 5]);
        assert_eq!(&l[l.len() - 2..], &[149, 150]);
        assert_eq!(l.len(), 76);
        assert_eq!(levels(4, 2), vec![1, 3, 4]);
        assert_eq!(levels(1, 2), vec![1]);
    }
}
