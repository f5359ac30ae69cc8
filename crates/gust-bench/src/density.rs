//! Density: how many distinct warm functions one host holds, and what holding them
//! costs. Deploys N functions (the noop handler, default memory), makes each warm
//! with one invocation (a cold start each), then sweeps them round-robin, one
//! invocation at a time, so every invocation lands on a different function's warm
//! instance (or, if the host could not keep it, on a cold start, which is counted).
//! Reports memory per warm function (PSS of gust's whole process tree: the slope
//! over the warm-up and the total divided by N), the sweep's latency, what a cold
//! start costs while the host holds them all, and the resources the server holds
//! (processes, threads, file descriptors) so what runs out first is visible.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::Conn;
use crate::lambda::Runtime;
use crate::loadgen::Counts;
use crate::session::{ClientCost, GustDefaults, Session, Target};
use crate::stats::{linear_fit, Latencies, Summary};
use crate::table::{self, Table};
use crate::units::parse_duration;
use crate::{procfs, progress};

/// `gust bench density`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench density                          # 1,000 Python functions
  gust bench density --functions 300 --runtime node
  gust bench density --rounds 5 --gust-arg=--freeze-idle-after=off")]
pub struct DensityArgs {
    /// Distinct functions to hold warm [default: 1000; quick: 20].
    #[arg(long, value_name = "N")]
    pub functions: Option<usize>,
    /// Round-robin sweeps over all of them after the warm-up [default: 3; quick: 1].
    #[arg(long, value_name = "N")]
    pub rounds: Option<u32>,
    /// Cold starts of further functions measured while all are warm [default: 30; quick: 3].
    #[arg(long, value_name = "N")]
    pub cold: Option<usize>,
    /// PSS measurements during the warm-up (evenly spaced) [default: 10; quick: 2].
    #[arg(long, value_name = "N")]
    pub checkpoints: Option<usize>,
    /// Response timeout; a slower answer counts as an error.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    functions: usize,
    rounds: u32,
    cold: usize,
    timeout_ms: u64,
    function_memory_mb: u32,
    runtime: Runtime,
}

/// Server resources at one point.
#[derive(Debug, Clone, Serialize)]
struct Footprint {
    /// Functions made warm so far.
    warm: usize,
    /// PSS of the server's process tree, MB.
    tree_pss_mb: f64,
    /// Processes below the server.
    processes: usize,
    /// Threads of the server process itself.
    server_threads: Option<u64>,
    /// Open file descriptors of the server process itself.
    server_fds: Option<usize>,
    /// Live instances, as gust reports them.
    instances: Option<usize>,
    /// Host memory in use, MB.
    host_mem_used_mb: f64,
}

#[derive(Debug, Serialize)]
struct Results {
    target: String,
    runtime: Runtime,
    /// First invocation of each function (a cold start each).
    warmup: Summary,
    warmup_counts: Counts,
    checkpoints: Vec<Footprint>,
    /// Slope of tree PSS over warm functions, MB per function.
    marginal_pss_mb: Option<f64>,
    /// Tree PSS after the warm-up over the functions, MB per function.
    average_pss_mb: f64,
    /// The round-robin sweeps.
    sweep: Summary,
    sweep_counts: Counts,
    /// Live instances after the sweeps: N if none was lost.
    instances_after_sweep: Option<usize>,
    /// Cold starts of further functions while all N are warm.
    cold_while_full: Summary,
    cold_counts: Counts,
}

/// Runs the protocol.
pub fn run(args: DensityArgs) -> Result<()> {
    let quick = args.common.quick;
    let functions = args.functions.unwrap_or(if quick { 20 } else { 1000 });
    if functions == 0 {
        bail!("--functions must be at least 1");
    }
    let rounds = args.rounds.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let cold = args.cold.unwrap_or(if quick { 3 } else { 30 });
    let checkpoints = args
        .checkpoints
        .unwrap_or(if quick { 2 } else { 10 })
        .clamp(1, functions);
    let runtime = *args
        .common
        .runtimes_or(&[Runtime::Python])
        .first()
        .expect("a runtime");
    let total = functions + cold;
    // Each warm instance's /tmp is a sparse 512 MB image, and gust promises no
    // more of them than the disk has free unless told to overcommit, as with
    // memory; a noop writes nothing there.
    let mut common = args.common.clone();
    if !common.gust_args.iter().any(|a| a.starts_with("--tmp-disk")) {
        common
            .gust_args
            .push(format!("--tmp-disk={}", (total as u64 + 8) * 512));
    }
    let mut s = Session::open(
        "density",
        &common,
        GustDefaults {
            // Nothing may expire during the run: the point is to hold them all.
            idle_ttl: Duration::from_secs(3600),
            // Reservations, not use: every function's MemorySize counts in full.
            memory_mb: ((total + 8) as u64 * args.common.function_memory as u64).max(4096),
            queue_timeout: args.timeout,
            pss_every: 8,
        },
    )?;
    let target = s.gust_target("dens", runtime, total)?;
    let held = Target {
        functions: target.functions[..functions].to_vec(),
        ..target.clone()
    };
    let extra = Target {
        functions: target.functions[functions..].to_vec(),
        ..target.clone()
    };
    let mut conn = Conn::new(target.addr);
    let mut client = ClientCost::default();
    let cpu0 = procfs::thread_cpu_ns();
    let t0 = Instant::now();

    // Warm-up: one invocation per function, with footprints along the way.
    s.phase("density warm-up");
    let every = functions.div_ceil(checkpoints);
    let mut footprints = vec![footprint(&mut s, &target, 0)];
    let bar = progress::counter(functions as u64, "warm-up (cold starts)");
    let (mut warmup, mut warmup_counts) = (Latencies::new(), Counts::default());
    for i in 0..functions {
        call(
            &mut conn,
            &held,
            i,
            args.timeout,
            &mut warmup,
            &mut warmup_counts,
        );
        bar.inc(1);
        if (i + 1) % every == 0 || i + 1 == functions {
            footprints.push(footprint(&mut s, &target, i + 1));
        }
    }
    bar.finish_and_clear();

    // Sweeps: every call on another function, each warm if the host kept it.
    s.phase("density sweep");
    let bar = progress::counter(functions as u64 * rounds as u64, "round-robin sweep");
    let (mut sweep, mut sweep_counts) = (Latencies::new(), Counts::default());
    for _ in 0..rounds {
        for i in 0..functions {
            call(
                &mut conn,
                &held,
                i,
                args.timeout,
                &mut sweep,
                &mut sweep_counts,
            );
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let instances_after_sweep = s.gust_health().map(|h| h.instances);

    // A cold start while the host holds them all.
    s.phase("density cold starts while full");
    let (mut cold_lat, mut cold_counts) = (Latencies::new(), Counts::default());
    for i in 0..extra.functions.len() {
        call(
            &mut conn,
            &extra,
            i,
            args.timeout,
            &mut cold_lat,
            &mut cold_counts,
        );
    }
    footprints.push(footprint(
        &mut s,
        &target,
        functions + extra.functions.len(),
    ));
    s.phase("");
    let requests = warmup_counts.total() + sweep_counts.total() + cold_counts.total();
    client.add(procfs::thread_cpu_ns() - cpu0, t0.elapsed(), requests);

    let points: Vec<(f64, f64)> = footprints
        .iter()
        .take(footprints.len() - 1)
        .map(|f| (f.warm as f64, f.tree_pss_mb))
        .collect();
    let after_warmup = &footprints[footprints.len() - 2];
    let results = Results {
        target: held.name.clone(),
        runtime,
        warmup: warmup.summary(),
        warmup_counts,
        marginal_pss_mb: linear_fit(&points).map(|(slope, _)| slope),
        average_pss_mb: after_warmup.tree_pss_mb / functions as f64,
        checkpoints: footprints.clone(),
        sweep: sweep.summary(),
        sweep_counts,
        instances_after_sweep,
        cold_while_full: cold_lat.summary(),
        cold_counts,
    };
    let samples = s.finish_sampling();
    let config = Config {
        functions,
        rounds,
        cold,
        timeout_ms: args.timeout.as_millis() as u64,
        function_memory_mb: args.common.function_memory,
        runtime,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    print_summary(functions, &results);
    println!("results: {}", path.display());
    s.close()
}

/// One invocation of function `i`, recorded when it succeeded.
fn call(
    conn: &mut Conn,
    target: &Target,
    i: usize,
    timeout: Duration,
    latencies: &mut Latencies,
    counts: &mut Counts,
) {
    let request = target.request(i);
    let begin = Instant::now();
    let outcome = conn.call(&request, Some(begin + timeout));
    let took = begin.elapsed();
    if counts.count(&outcome) {
        latencies.record(took);
    }
}

fn footprint(s: &mut Session, target: &Target, warm: usize) -> Footprint {
    let (tree_pss_mb, processes) = target.pid.map_or((0.0, 0), procfs::tree_pss_mb);
    Footprint {
        warm,
        tree_pss_mb,
        processes,
        server_threads: target.pid.and_then(procfs::threads),
        server_fds: target.pid.and_then(procfs::open_fds),
        instances: s.gust_health().map(|h| h.instances),
        host_mem_used_mb: procfs::memory_mb().0,
    }
}

fn print_summary(functions: usize, r: &Results) {
    let mut t = Table::new(&["phase", "calls", "errors", "p50", "p99", "p99.9", "max"]);
    for (phase, lat, counts) in [
        ("warm-up (cold)", &r.warmup, &r.warmup_counts),
        ("sweep (warm)", &r.sweep, &r.sweep_counts),
        ("cold while full", &r.cold_while_full, &r.cold_counts),
    ] {
        t.row(vec![
            phase.to_string(),
            counts.total().to_string(),
            counts.dropped().to_string(),
            table::us(lat.p50_us),
            table::us(lat.p99_us),
            table::us(lat.p999_us),
            table::us(lat.max_us),
        ]);
    }
    println!(
        "\nDensity: {functions} distinct {} functions held warm (target: 1,000, all answering; ≤ 3 MB PSS each)\n{}",
        r.target,
        t.render()
    );
    let mut f = Table::new(&[
        "warm",
        "tree PSS",
        "processes",
        "instances",
        "server threads",
        "server fds",
        "host used",
    ]);
    for c in &r.checkpoints {
        f.row(vec![
            c.warm.to_string(),
            format!("{:.0} MB", c.tree_pss_mb),
            c.processes.to_string(),
            c.instances.map_or("-".into(), |n| n.to_string()),
            c.server_threads.map_or("-".into(), |n| n.to_string()),
            c.server_fds.map_or("-".into(), |n| n.to_string()),
            format!("{:.0} MB", c.host_mem_used_mb),
        ]);
    }
    println!("{}", f.render());
    println!(
        "PSS per warm function: {} marginal (slope over the warm-up), {:.2} MB average (tree / functions)",
        r.marginal_pss_mb
            .map_or("-".into(), |m| format!("{m:.2} MB")),
        r.average_pss_mb
    );
    println!(
        "instances after the sweeps: {} of {functions}",
        r.instances_after_sweep
            .map_or("-".into(), |n| n.to_string())
    );
}
