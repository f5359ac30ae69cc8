//! Protocol 6: does freezing idle instances pay? Two gusts run side by side, one with
//! `--freeze-idle-after off` and one freezing after a short delay, both serving the
//! `ticker` handler (a 10 ms timer or thread that runs between invocations). It
//! measures:
//!
//! - the warm path's cost: sequential invocations, each after an idle gap long enough
//!   for the freezing gust to freeze the instance, so every one of them thaws it
//!   (alternating between the two gusts, so both see the same host noise);
//! - what it saves: the host CPU that N idle instances burn over a window;
//! - the freezer's own cost: the control file writes and how long the kernel takes
//!   to finish a freeze, on the host's cgroup v1 freezer and cgroup2 (root only).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::{Conn, Request};
use crate::lambda::{zip_base64, Manager, Runtime};
use crate::procfs;
use crate::servers::{start_gust, GustFlags, StartedGust};
use crate::stats::{Latencies, Summary};
use crate::table::{self, Table};
use crate::units::parse_duration;

const TICKER_PY: &str = include_str!("../../../bench/handlers/ticker.py");
const TICKER_JS: &str = include_str!("../../../bench/handlers/ticker.js");

/// `gust bench freeze`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench freeze                          # python and node, ~3 min
  gust bench freeze --quick
  gust bench freeze --runtime node --instances 20 --window 30s")]
pub struct FreezeArgs {
    /// Sequential invocations per gust and runtime for the warm-path comparison
    /// [default: 300; quick: 30].
    #[arg(long, value_name = "N")]
    pub invocations: Option<usize>,
    /// The freezing gust's --freeze-idle-after.
    #[arg(long, value_name = "DURATION", default_value = "20ms", value_parser = parse_duration)]
    pub freeze_after: Duration,
    /// Idle gap before each invocation: longer than the delay plus the freezer's
    /// period (a quarter of the delay, at least 10 ms), so every one thaws.
    #[arg(long, value_name = "DURATION", default_value = "60ms", value_parser = parse_duration)]
    pub gap: Duration,
    /// Idle instances per gust and runtime for the CPU comparison [default: 20;
    /// quick: 4].
    #[arg(long, value_name = "N")]
    pub instances: Option<usize>,
    /// How long their CPU use is measured [default: 20s; quick: 3s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// Control-file round trips for the freezer's own cost [default: 500; quick: 50].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct WarmResult {
    runtime: Runtime,
    /// `off` or `frozen`.
    gust: &'static str,
    latency: Summary,
    /// Mean ticks the handler counted per idle gap: the timer ran (about gap / 10 ms)
    /// or was frozen (about the freeze delay / 10 ms).
    ticks_per_gap: f64,
}

#[derive(Debug, Serialize)]
struct IdleResult {
    runtime: Runtime,
    gust: &'static str,
    instances: usize,
    window_s: f64,
    /// CPU the instances used, in percent of one CPU.
    instances_cpu_percent: f64,
    /// CPU gust's own process used (its freezer task included).
    gust_cpu_percent: f64,
    /// Resident memory of the instances' processes, MB.
    instances_rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct FreezerCost {
    /// `v1` (freezer.state) or `v2` (cgroup.freeze).
    hierarchy: &'static str,
    rounds: usize,
    freeze_write: Summary,
    /// From the freeze write until the kernel reports the cgroup frozen.
    until_frozen: Summary,
    thaw_write: Summary,
}

#[derive(Debug, Serialize)]
struct Results {
    freeze_after_ms: u64,
    gap_ms: u64,
    freezer: Vec<FreezerCost>,
    warm: Vec<WarmResult>,
    idle: Vec<IdleResult>,
}

/// Runs the protocol.
pub fn run(args: FreezeArgs) -> Result<()> {
    if args.common.endpoint.is_some() {
        bail!("gust bench freeze starts its own two gusts (freezing off and on); it does not take --endpoint");
    }
    let quick = args.common.quick;
    let invocations = args.invocations.unwrap_or(if quick { 30 } else { 300 });
    let instances = args.instances.unwrap_or(if quick { 4 } else { 20 });
    let window = args.window.unwrap_or(if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(20)
    });
    let rounds = args.rounds.unwrap_or(if quick { 50 } else { 500 });
    let runtimes = args.common.runtimes_or(&[Runtime::Python, Runtime::Node]);
    let out_dir = args.common.out.clone().unwrap_or_else(|| {
        PathBuf::from("bench-results").join(format!("freeze-{}", std::process::id()))
    });
    std::fs::create_dir_all(out_dir.join("logs"))
        .with_context(|| format!("creating {}", out_dir.display()))?;

    eprintln!("freezer control files: {rounds} rounds");
    let freezer = freezer_costs(rounds);

    let bin = match &args.common.gust_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("finding the gust executable")?,
    };
    let per_gust_mb = (instances as u64 + 2) * 128 * runtimes.len() as u64;
    let flags = |freeze: String| GustFlags {
        bin: bin.clone(),
        isolation: args.common.isolation.as_str().to_string(),
        idle_ttl: Duration::from_secs(600),
        memory_mb: per_gust_mb.max(1024),
        queue_timeout: Duration::from_secs(10),
        extra: [
            vec!["--freeze-idle-after".to_string(), freeze],
            args.common.gust_args.clone(),
        ]
        .concat(),
    };
    for side in ["off", "frozen"] {
        std::fs::create_dir_all(out_dir.join("logs").join(side))?;
    }
    let off = start_gust(&flags("off".into()), &out_dir.join("logs/off"))?;
    let on = start_gust(
        &flags(format!("{}ms", args.freeze_after.as_millis().max(1))),
        &out_dir.join("logs/frozen"),
    )?;
    let gusts: [(&'static str, &StartedGust); 2] = [("off", &off), ("frozen", &on)];

    let mut warm = Vec::new();
    let mut idle = Vec::new();
    for &rt in &runtimes {
        let (file, source) = match rt {
            Runtime::Python => ("ticker.py", TICKER_PY),
            Runtime::Node => ("ticker.js", TICKER_JS),
        };
        let zip = zip_base64(file, source)?;
        eprintln!(
            "{}: warm path, {invocations} invocations per gust",
            rt.name()
        );
        warm.extend(warm_path(rt, &zip, &gusts, invocations, args.gap)?);
        eprintln!(
            "{}: {instances} idle instances per gust, {:.0} s window",
            rt.name(),
            window.as_secs_f64()
        );
        idle.extend(idle_cpu(
            rt,
            &zip,
            &gusts,
            instances,
            window,
            args.freeze_after,
        )?);
    }
    let results = Results {
        freeze_after_ms: args.freeze_after.as_millis() as u64,
        gap_ms: args.gap.as_millis() as u64,
        freezer,
        warm,
        idle,
    };
    let path = out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", path.display()))?;
    print_summary(&results);
    println!("results: {}", path.display());
    Ok(())
}

fn deploy(addr: SocketAddr, name: &str, rt: Runtime, zip: &str) -> Result<()> {
    Manager::new(addr).create(name, rt, "ticker.handler", zip)
}

/// Invokes `name` and returns the latency and the handler's tick count.
fn invoke(conn: &mut Conn, addr: SocketAddr, name: &str) -> Result<(Duration, u64)> {
    let req = Request::invoke(addr, name);
    let start = Instant::now();
    let reply = conn.call(&req, Some(Instant::now() + Duration::from_secs(30)))?;
    let took = start.elapsed();
    if !reply.ok() {
        bail!(
            "invoking {name}: HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(conn.body())
        );
    }
    let body: serde_json::Value = serde_json::from_slice(conn.body())?;
    Ok((took, body["ticks"].as_u64().unwrap_or(0)))
}

fn warm_path(
    rt: Runtime,
    zip: &str,
    gusts: &[(&'static str, &StartedGust)],
    invocations: usize,
    gap: Duration,
) -> Result<Vec<WarmResult>> {
    let name = format!("freeze-warm-{}", rt.name());
    let mut state = Vec::new();
    for (label, g) in gusts {
        deploy(g.addr, &name, rt, zip)?;
        let mut conn = Conn::new(g.addr);
        // The cold start, and a first warm call, outside the measurement.
        invoke(&mut conn, g.addr, &name)?;
        let (_, ticks) = invoke(&mut conn, g.addr, &name)?;
        state.push((*label, g.addr, conn, Latencies::new(), ticks, 0u64));
    }
    for _ in 0..invocations {
        for (_, addr, conn, lat, last, advanced) in state.iter_mut() {
            std::thread::sleep(gap);
            let (took, ticks) = invoke(conn, *addr, &name)?;
            lat.record(took);
            *advanced += ticks.saturating_sub(*last);
            *last = ticks;
        }
    }
    for (_, g) in gusts {
        Manager::new(g.addr).delete(&name)?;
    }
    Ok(state
        .into_iter()
        .map(|(gust, _, _, lat, _, advanced)| WarmResult {
            runtime: rt,
            gust,
            latency: lat.summary(),
            ticks_per_gap: advanced as f64 / invocations.max(1) as f64,
        })
        .collect())
}

fn idle_cpu(
    rt: Runtime,
    zip: &str,
    gusts: &[(&'static str, &StartedGust)],
    instances: usize,
    window: Duration,
    freeze_after: Duration,
) -> Result<Vec<IdleResult>> {
    let names: Vec<String> = (0..instances)
        .map(|i| format!("freeze-idle-{}-{i}", rt.name()))
        .collect();
    for (_, g) in gusts {
        let mut conn = Conn::new(g.addr);
        for name in &names {
            deploy(g.addr, name, rt, zip)?;
            invoke(&mut conn, g.addr, name)?;
        }
    }
    // Every instance idle (and, on the freezing gust, frozen) before the window.
    std::thread::sleep(freeze_after * 2 + Duration::from_millis(500));
    let pids: Vec<u32> = gusts.iter().map(|(_, g)| g.process.pid()).collect();
    let cpu = |pid: u32| {
        let own = procfs::cpu_seconds(pid, false).unwrap_or(0.0);
        let kids: f64 = procfs::descendants(pid)
            .into_iter()
            .filter_map(|p| procfs::cpu_seconds(p, true))
            .sum();
        (own, kids)
    };
    let before: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p)).collect();
    let start = Instant::now();
    std::thread::sleep(window);
    let after: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p)).collect();
    let secs = start.elapsed().as_secs_f64();
    let mut results = Vec::new();
    for (i, (label, g)) in gusts.iter().enumerate() {
        let rss: f64 = procfs::descendants(g.process.pid())
            .into_iter()
            .filter_map(procfs::rss_mb)
            .sum();
        results.push(IdleResult {
            runtime: rt,
            gust: label,
            instances,
            window_s: secs,
            instances_cpu_percent: (after[i].1 - before[i].1) / secs * 100.0,
            gust_cpu_percent: (after[i].0 - before[i].0) / secs * 100.0,
            instances_rss_mb: rss,
        });
        let mut m = Manager::new(g.addr);
        for name in &names {
            m.delete(name)?;
        }
    }
    Ok(results)
}

/// The freezer's control-file costs on the host's hierarchies (root only; a
/// hierarchy this host lacks is left out).
fn freezer_costs(rounds: usize) -> Vec<FreezerCost> {
    let mut out = Vec::new();
    let v1 = Path::new("/sys/fs/cgroup/freezer");
    if v1.join("freezer.state").exists() || v1.join("tasks").exists() {
        match measure_freezer(v1, "v1", rounds) {
            Ok(c) => out.push(c),
            Err(e) => eprintln!("v1 freezer not measured: {e:#}"),
        }
    }
    let v2 = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                if right.split_whitespace().next() != Some("cgroup2") {
                    return None;
                }
                left.split_whitespace().nth(4).map(PathBuf::from)
            })
        });
    if let Some(root) = v2 {
        match measure_freezer(&root, "v2", rounds) {
            Ok(c) => out.push(c),
            Err(e) => eprintln!("cgroup2 freezer not measured: {e:#}"),
        }
    }
    out
}

fn measure_freezer(root: &Path, hierarchy: &'static str, rounds: usize) -> Result<FreezerCost> {
    let dir = root.join(format!("gust-bench-freeze-{}", std::process::id()));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut child = std::process::Command::new("sleep").arg("600").spawn()?;
    let result = (|| {
        std::fs::write(dir.join("cgroup.procs"), child.id().to_string())?;
        let (file, freeze, thaw) = match hierarchy {
            "v1" => ("freezer.state", "FROZEN", "THAWED"),
            _ => ("cgroup.freeze", "1", "0"),
        };
        let control = dir.join(file);
        if !control.exists() {
            bail!("{} has no {file}", dir.display());
        }
        let is_frozen = || match hierarchy {
            "v1" => std::fs::read_to_string(&control).is_ok_and(|s| s.trim() == "FROZEN"),
            _ => std::fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l == "frozen 1")),
        };
        let (mut fw, mut uf, mut tw) = (Latencies::new(), Latencies::new(), Latencies::new());
        for _ in 0..rounds {
            let t0 = Instant::now();
            std::fs::write(&control, freeze)?;
            fw.record(t0.elapsed());
            while !is_frozen() {
                if t0.elapsed() > Duration::from_secs(5) {
                    bail!("the cgroup did not freeze within 5 s");
                }
            }
            uf.record(t0.elapsed());
            let t1 = Instant::now();
            std::fs::write(&control, thaw)?;
            tw.record(t1.elapsed());
        }
        Ok(FreezerCost {
            hierarchy,
            rounds,
            freeze_write: fw.summary(),
            until_frozen: uf.summary(),
            thaw_write: tw.summary(),
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir(&dir);
    result
}

fn print_summary(r: &Results) {
    let mut t = Table::new(&[
        "freezer",
        "freeze write p50",
        "until frozen p50",
        "thaw write p50",
        "thaw write p99",
    ]);
    for c in &r.freezer {
        t.row(vec![
            c.hierarchy.to_string(),
            table::us(c.freeze_write.p50_us),
            table::us(c.until_frozen.p50_us),
            table::us(c.thaw_write.p50_us),
            table::us(c.thaw_write.p99_us),
        ]);
    }
    println!("{}", t.render());
    let mut t = Table::new(&["runtime", "gust", "p50", "p90", "p99", "ticks per gap"]);
    for w in &r.warm {
        t.row(vec![
            w.runtime.name().to_string(),
            w.gust.to_string(),
            table::us(w.latency.p50_us),
            table::us(w.latency.p90_us),
            table::us(w.latency.p99_us),
            table::f1(w.ticks_per_gap),
        ]);
    }
    println!(
        "warm invocations after a {} ms idle gap (freezing gust: --freeze-idle-after {} ms)\n{}",
        r.gap_ms,
        r.freeze_after_ms,
        t.render()
    );
    let mut t = Table::new(&[
        "runtime",
        "gust",
        "instances",
        "instances CPU %",
        "gust CPU %",
        "RSS MB",
    ]);
    for i in &r.idle {
        t.row(vec![
            i.runtime.name().to_string(),
            i.gust.to_string(),
            i.instances.to_string(),
            table::f1(i.instances_cpu_percent),
            table::f1(i.gust_cpu_percent),
            table::f1(i.instances_rss_mb),
        ]);
    }
    println!("idle instances with a 10 ms timer\n{}", t.render());
}
