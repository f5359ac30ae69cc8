//! Asynchronous invocation (§7): how many `Event` invocations per second gust
//! accepts durably (each 202 means the event is in the store, fsynced), with
//! closed-loop callers on keep-alive connections, and how fast it runs them.
//!
//! Two phases on the noop function: *accept only*, with the function's reserved
//! concurrency at 0 so that nothing runs (the events wait, as throttled events do
//! on Lambda) and acceptance has the machine to itself; then *accept while
//! running*, where the dispatcher runs the events as they arrive, and the run
//! waits until every accepted event has run (counted by the function's
//! `gust_lambda_invocations_total`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::{Conn, Request};
use crate::lambda::{Manager, Runtime};
use crate::session::{ClientCost, GustDefaults, Session};
use crate::stats::{Latencies, Summary};
use crate::table::{self, Table};
use crate::units::parse_duration;
use crate::{procfs, progress};

/// `gust bench events`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench events                           # 64 connections, 10 s per phase
  gust bench events --connections 16 --duration 5s")]
pub struct EventsArgs {
    /// Keep-alive connections sending at once, each waiting for its answer.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub connections: usize,
    /// Length of each phase [default: 10s; quick: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// How long to wait for the accepted events to run.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    connections: usize,
    duration_ms: u64,
    runtime: Runtime,
}

#[derive(Debug, Serialize)]
struct Phase {
    name: &'static str,
    accepted: u64,
    refused: u64,
    errors: u64,
    wall_s: f64,
    accepted_per_s: f64,
    latency: Summary,
    /// CPU seconds of gust's process tree during the phase.
    server_cpu_s: Option<f64>,
    /// Events run per second, acceptance start to the last run (running phase).
    executed_per_s: Option<f64>,
    /// Time from the end of sending until every accepted event had run.
    drain_s: Option<f64>,
}

/// Runs the protocol.
pub fn run(args: EventsArgs) -> Result<()> {
    let quick = args.common.quick;
    let duration = args.duration.unwrap_or(if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    });
    let connections = args.connections.max(1);
    let runtime = *args
        .common
        .runtimes_or(&[Runtime::Python])
        .first()
        .expect("a runtime");
    let mut s = Session::open(
        "events",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: 4096,
            queue_timeout: Duration::from_secs(10),
            pss_every: 8,
        },
    )?;
    let target = s.gust_target("events", runtime, 2)?;
    let (waiting, running) = (&target.functions[0], &target.functions[1]);
    let mut manager = Manager::new(target.addr);
    let concurrency = format!("/2017-10-31/functions/{waiting}/concurrency");
    let (status, text) = manager.call(
        "PUT",
        &concurrency,
        br#"{"ReservedConcurrentExecutions":0}"#,
    )?;
    anyhow::ensure!(
        status == 200,
        "setting {waiting}'s reserved concurrency: HTTP {status}: {text}"
    );
    let mut client = ClientCost::default();
    let mut phases = Vec::new();

    s.phase("events accept only");
    phases.push(send(
        "accept only",
        &target.addr,
        waiting,
        connections,
        duration,
        target.pid,
        &mut client,
    ));

    s.phase("events accept while running");
    let before = invocations(&mut manager, running)?;
    let started = Instant::now();
    let mut phase = send(
        "accept while running",
        &target.addr,
        running,
        connections,
        duration,
        target.pid,
        &mut client,
    );
    let sent_by = Instant::now();
    let want = before + phase.accepted;
    let bar = progress::counter(phase.accepted, "running the accepted events");
    loop {
        let done = invocations(&mut manager, running)?;
        bar.set_position(done.saturating_sub(before));
        if done >= want {
            break;
        }
        if sent_by.elapsed() > args.drain_timeout {
            s.note(format!(
                "only {} of {} accepted events ran within {:?}",
                done - before,
                phase.accepted,
                args.drain_timeout
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    phase.drain_s = Some(sent_by.elapsed().as_secs_f64());
    phase.executed_per_s = Some(phase.accepted as f64 / started.elapsed().as_secs_f64());
    phases.push(phase);
    s.phase("");

    let samples = s.finish_sampling();
    let config = Config {
        connections,
        duration_ms: duration.as_millis() as u64,
        runtime,
    };
    let path = s.write_result(&config, &phases, &client, &samples)?;
    print_summary(&phases, connections);
    println!("results: {}", path.display());
    // The waiting function's events are discarded with it.
    s.close()
}

/// `connections` callers sending Event invocations of `function` for `duration`.
fn send(
    name: &'static str,
    addr: &std::net::SocketAddr,
    function: &str,
    connections: usize,
    duration: Duration,
    server: Option<u32>,
    client: &mut ClientCost,
) -> Phase {
    let path = gust_wire::paths::invocations(function);
    let request = Request::raw(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Invocation-Type: Event\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .into_bytes(),
    );
    let cpu0 = server.map(procfs::tree_cpu_seconds);
    let bar = progress::timed(duration, name);
    let t0 = Instant::now();
    let until = t0 + duration;
    let per_caller: Vec<(Latencies, u64, u64, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                let request = &request;
                let addr = *addr;
                scope.spawn(move || {
                    let cpu0 = procfs::thread_cpu_ns();
                    let mut conn = Conn::new(addr);
                    let mut latencies = Latencies::new();
                    let (mut accepted, mut refused, mut errors) = (0, 0, 0);
                    while Instant::now() < until {
                        let begin = Instant::now();
                        match conn.call(request, Some(begin + Duration::from_secs(10))) {
                            Ok(r) if r.status == 202 => {
                                accepted += 1;
                                latencies.record(begin.elapsed());
                            }
                            Ok(_) => refused += 1,
                            Err(_) => errors += 1,
                        }
                    }
                    (
                        latencies,
                        accepted,
                        refused,
                        errors,
                        procfs::thread_cpu_ns() - cpu0,
                    )
                })
            })
            .collect();
        while Instant::now() < until {
            bar.set_position(t0.elapsed().as_millis() as u64);
            std::thread::sleep(Duration::from_millis(100));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("caller thread"))
            .collect()
    });
    bar.finish_and_clear();
    let wall = t0.elapsed();
    let mut latencies = Latencies::new();
    let (mut accepted, mut refused, mut errors) = (0, 0, 0);
    for (l, a, r, e, cpu_ns) in &per_caller {
        latencies.merge(l);
        accepted += a;
        refused += r;
        errors += e;
        client.add(*cpu_ns, Duration::ZERO, a + r + e);
    }
    client.wall_s += wall.as_secs_f64();
    Phase {
        name,
        accepted,
        refused,
        errors,
        wall_s: wall.as_secs_f64(),
        accepted_per_s: accepted as f64 / wall.as_secs_f64(),
        latency: latencies.summary(),
        server_cpu_s: server
            .zip(cpu0)
            .map(|(pid, c0)| procfs::tree_cpu_seconds(pid) - c0),
        executed_per_s: None,
        drain_s: None,
    }
}

/// How many invocations of `function` have run, from gust's metrics.
fn invocations(manager: &mut Manager, function: &str) -> Result<u64> {
    let (status, text) = manager.call("GET", "/metrics", b"")?;
    anyhow::ensure!(status == 200, "GET /metrics: HTTP {status}");
    let wanted = format!(
        "gust_lambda_invocations_total{{function_name=\"{function}\",resource=\"{function}\"}}"
    );
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map(|rest| rest.trim().parse::<f64>())
        .transpose()
        .context("reading gust_lambda_invocations_total")?;
    Ok(value.unwrap_or(0.0) as u64)
}

fn print_summary(phases: &[Phase], connections: usize) {
    let mut t = Table::new(&[
        "phase",
        "accepted",
        "refused",
        "errors",
        "accepted/s",
        "p50",
        "p99",
        "server CPU/event",
        "ran/s",
        "drain",
    ]);
    for p in phases {
        t.row(vec![
            p.name.to_string(),
            p.accepted.to_string(),
            p.refused.to_string(),
            p.errors.to_string(),
            table::f1(p.accepted_per_s),
            table::us(p.latency.p50_us),
            table::us(p.latency.p99_us),
            p.server_cpu_s.map_or("-".into(), |c| {
                table::us(c * 1e6 / p.accepted.max(1) as f64)
            }),
            p.executed_per_s.map_or("-".into(), table::f1),
            p.drain_s.map_or("-".into(), |d| format!("{d:.1} s")),
        ]);
    }
    println!(
        "\nEvent invocations, {connections} connections (target: ≥ 5,000 accepted/s, embedded store)\n{}",
        t.render()
    );
}
