//! `gust bench workflow`: what a state transition costs. Chains of N Pass states
//! and of N Lambda Tasks (a warm noop) run as Standard executions (durable: every
//! transition committed before the next) and as Express ones (in memory, through
//! StartSyncExecution); the baseline, in the same run, is N direct invokes of the
//! same function back to back (timed as a run, as the chain makes them). Per-transition overhead is the execution's time
//! minus the baseline's, over N. Then executions started per second (Standard
//! StartExecution from several connections).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::CommonArgs;
use crate::http::{Conn, Request};
use crate::lambda::Runtime;
use crate::progress;
use crate::session::{ClientCost, GustDefaults, Session};
use crate::stats::Latencies;
use crate::table::{self, Table};

/// `gust bench workflow`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench workflow
  gust bench workflow --states 100 --executions 50 --start-seconds 5")]
pub struct WorkflowArgs {
    /// States in each chain [default: 50; quick: 10].
    #[arg(long, value_name = "N")]
    pub states: Option<usize>,
    /// Executions measured per machine [default: 30; quick: 3].
    #[arg(long, value_name = "N")]
    pub executions: Option<usize>,
    /// How long StartExecution is driven for the start rate, in seconds
    /// [default: 5; quick: 1].
    #[arg(long, value_name = "SECONDS")]
    pub start_seconds: Option<u64>,
    /// Connections starting executions at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub connections: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    states: usize,
    executions: usize,
    start_seconds: u64,
    connections: usize,
}

#[derive(Debug, Serialize)]
struct ChainResult {
    /// `pass` or `task`, `standard` or `express`.
    chain: String,
    kind: String,
    /// Median execution time, µs.
    execution_p50_us: f64,
    /// The median time of the same number of direct invokes back to back (task
    /// chains; 0 for pass chains), µs.
    baseline_us: f64,
    /// (execution − baseline) / states, µs.
    per_transition_us: f64,
    /// Target per transition, µs.
    target_us: f64,
}

#[derive(Debug, Serialize)]
struct Results {
    chains: Vec<ChainResult>,
    direct_invoke_p50_us: f64,
    starts_per_second: f64,
}

fn states_request(addr: std::net::SocketAddr, operation: &str, body: &Value) -> Request {
    let body = body.to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSStepFunctions.{operation}\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    Request::raw([head.as_bytes(), body.as_bytes()].concat())
}

fn call(conn: &mut Conn, req: &Request) -> Result<Value> {
    let reply = conn.call(req, Some(Instant::now() + Duration::from_secs(120)))?;
    let body: Value = serde_json::from_slice(conn.body()).unwrap_or(Value::Null);
    if reply.status != 200 {
        bail!("gust answered {}: {body}", reply.status);
    }
    Ok(body)
}

fn chain(n: usize, task: Option<&str>) -> String {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut s = match task {
            None => json!({ "Type": "Pass" }),
            Some(arn) => json!({ "Type": "Task", "Resource": arn }),
        };
        if i + 1 == n {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("S{}", i + 1));
        }
        states.insert(format!("S{i}"), s);
    }
    json!({ "StartAt": "S0", "States": states }).to_string()
}

/// Runs the protocol.
pub fn run(args: WorkflowArgs) -> Result<()> {
    let quick = args.common.quick;
    let n = args.states.unwrap_or(if quick { 10 } else { 50 }).max(1);
    let executions = args.executions.unwrap_or(if quick { 3 } else { 30 }).max(1);
    let start_seconds = args.start_seconds.unwrap_or(if quick { 1 } else { 5 });
    let mut s = Session::open(
        "workflow",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(600),
            memory_mb: 2048,
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    let target = s.gust_target("workflow", Runtime::Python, 1)?;
    let function = target.functions[0].clone();
    let function_arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{function}");
    let addr = s.gust_addr();
    let mut conn = Conn::new(addr);
    let tag = std::process::id();

    // The baseline: N sequential direct invokes, warm.
    s.phase("workflow baseline");
    let invoke = Request::invoke(addr, &function);
    for _ in 0..20 {
        conn.call(&invoke, None)?;
    }
    // Timed as runs of N invokes back to back, as a chain makes them: a 128 MB
    // function's CPU quota stalls a burst, and the chain pays the same stalls.
    let mut direct = Latencies::new();
    let mut runs = Latencies::new();
    for _ in 0..executions {
        let run0 = Instant::now();
        for _ in 0..n {
            let t0 = Instant::now();
            let r = conn.call(&invoke, None)?;
            if !r.ok() {
                bail!(
                    "the noop function failed: {}",
                    String::from_utf8_lossy(conn.body())
                );
            }
            direct.record(t0.elapsed());
        }
        runs.record(run0.elapsed());
    }
    let direct_p50 = direct.quantile_us(0.5);
    let direct_run_p50 = runs.quantile_us(0.5);

    let mut chains = Vec::new();
    let bar = progress::counter((4 * executions) as u64, "workflow executions");
    for (chain_name, task) in [("pass", None), ("task", Some(function_arn.as_str()))] {
        for kind in ["STANDARD", "EXPRESS"] {
            s.phase(&format!("workflow {chain_name} {kind}"));
            let name = format!("gb{tag}-{chain_name}-{}", kind.to_lowercase());
            let created = call(
                &mut conn,
                &states_request(
                    addr,
                    "CreateStateMachine",
                    &json!({
                        "name": name,
                        "definition": chain(n, task),
                        "roleArn": "arn:aws:iam::000000000000:role/bench",
                        "type": kind,
                    }),
                ),
            )
            .context("creating a state machine")?;
            let arn = created["stateMachineArn"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut times = Latencies::new();
            for i in 0..executions + 1 {
                let elapsed = if kind == "EXPRESS" {
                    let t0 = Instant::now();
                    let out = call(
                        &mut conn,
                        &states_request(
                            addr,
                            "StartSyncExecution",
                            &json!({ "stateMachineArn": arn }),
                        ),
                    )?;
                    if out["status"] != "SUCCEEDED" {
                        bail!("an Express execution did not succeed: {out}");
                    }
                    t0.elapsed()
                } else {
                    standard_execution(&mut conn, addr, &arn)?
                };
                // The first execution warms up (parsing, caches).
                if i > 0 {
                    times.record(elapsed);
                    bar.inc(1);
                }
            }
            let p50 = times.quantile_us(0.5);
            let baseline = if task.is_some() { direct_run_p50 } else { 0.0 };
            chains.push(ChainResult {
                chain: chain_name.into(),
                kind: kind.to_lowercase(),
                execution_p50_us: p50,
                baseline_us: baseline,
                per_transition_us: (p50 - baseline) / n as f64,
                target_us: if kind == "STANDARD" { 1000.0 } else { 100.0 },
            });
        }
    }
    bar.finish_and_clear();

    // Executions started per second (Standard, a one-state machine).
    s.phase("workflow starts");
    let one = call(
        &mut conn,
        &states_request(
            addr,
            "CreateStateMachine",
            &json!({
                "name": format!("gb{tag}-start"),
                "definition": chain(1, None),
                "roleArn": "arn:aws:iam::000000000000:role/bench",
            }),
        ),
    )?;
    let one_arn = one["stateMachineArn"].as_str().unwrap_or("").to_string();
    let started = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(start_seconds);
    let t0 = Instant::now();
    let cpu0 = crate::procfs::thread_cpu_ns();
    std::thread::scope(|scope| {
        for _ in 0..args.connections.max(1) {
            let (started, one_arn) = (started.clone(), &one_arn);
            scope.spawn(move || {
                let mut conn = Conn::new(addr);
                let req = states_request(
                    addr,
                    "StartExecution",
                    &json!({ "stateMachineArn": one_arn }),
                );
                while Instant::now() < until {
                    if conn.call(&req, None).is_ok_and(|r| r.status == 200) {
                        started.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let wall = t0.elapsed();
    let starts = started.load(Ordering::Relaxed);
    let mut client = ClientCost::default();
    client.add(crate::procfs::thread_cpu_ns() - cpu0, wall, starts.max(1));
    let results = Results {
        chains,
        direct_invoke_p50_us: direct_p50,
        starts_per_second: starts as f64 / wall.as_secs_f64(),
    };
    let samples = s.finish_sampling();
    let config = Config {
        states: n,
        executions,
        start_seconds,
        connections: args.connections,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    print_summary(&results, &config);
    println!("results: {}", path.display());
    s.close()
}

/// One Standard execution, timed by its history: from ExecutionStarted to its end
/// (the client's polling does not count).
fn standard_execution(conn: &mut Conn, addr: std::net::SocketAddr, arn: &str) -> Result<Duration> {
    let started = call(
        conn,
        &states_request(addr, "StartExecution", &json!({ "stateMachineArn": arn })),
    )?;
    let execution = started["executionArn"].as_str().unwrap_or("").to_string();
    let describe = states_request(
        addr,
        "DescribeExecution",
        &json!({ "executionArn": execution }),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = call(conn, &describe)?;
        match d["status"].as_str() {
            Some("RUNNING") if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Some("SUCCEEDED") => {
                let start = d["startDate"].as_f64().unwrap_or(0.0);
                let stop = d["stopDate"].as_f64().unwrap_or(start);
                return Ok(Duration::from_secs_f64((stop - start).max(0.0)));
            }
            _ => bail!("a Standard execution did not succeed: {d}"),
        }
    }
}

fn print_summary(r: &Results, c: &Config) {
    let mut t = Table::new(&[
        "chain",
        "kind",
        "execution p50",
        "baseline",
        "per transition",
        "target",
    ]);
    for ch in &r.chains {
        t.row(vec![
            ch.chain.clone(),
            ch.kind.clone(),
            table::us(ch.execution_p50_us),
            table::us(ch.baseline_us),
            table::us(ch.per_transition_us),
            table::us(ch.target_us),
        ]);
    }
    println!(
        "\nWorkflows: chains of {} states, {} executions each; direct invoke p50 {}\n{}\
         executions started per second ({} connections): {}",
        c.states,
        c.executions,
        table::us(r.direct_invoke_p50_us),
        t.render(),
        c.connections,
        table::f1(r.starts_per_second)
    );
}
