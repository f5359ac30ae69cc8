//! Each `gust bench` protocol runs its `--quick` version end to end against a gust it
//! starts (`--isolation none`) and writes a well-formed result.json. No timing is
//! asserted: only that the protocol ran, counted successes, and that its figures are
//! consistent (percentiles ordered, counts adding up).
//!
//! The gust binary comes from `GUST_BIN`, else `target/debug/gust` of this workspace;
//! without either the tests say so and pass without running.

use std::path::PathBuf;
use std::sync::Mutex;

use clap::Parser;
use gust_bench::BenchArgs;
use serde_json::Value;

/// One benchmark at a time, even when the test harness runs tests in parallel.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn gust_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("GUST_BIN") {
        return Some(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/gust");
    bin.exists().then_some(bin)
}

fn no_gust(what: &str) {
    eprintln!(
        "skipping {what}: no gust binary (set GUST_BIN or build it with `cargo build -p gust-cli`)"
    );
}

/// Runs `gust bench <protocol> --quick ...` against a gust it starts and returns
/// result.json and the output directory, or None when no gust binary is available.
fn run_quick(protocol: &str, extra: &[&str]) -> Option<(Value, tempfile::TempDir)> {
    let Some(bin) = gust_bin() else {
        no_gust(&format!("`gust bench {protocol} --quick`"));
        return None;
    };
    let bin_str = bin.display().to_string();
    let mut args = vec!["--isolation", "none", "--gust-bin", &bin_str];
    args.extend_from_slice(extra);
    let (json, out) = bench(protocol, &args, None);
    assert!(json["gust"]["started_by_bench"].as_bool().unwrap());
    Some((json, out))
}

/// Runs `gust bench <protocol> --quick --out TMP ARGS...` (against `endpoint` if
/// given) and checks the envelope of its result.json.
fn bench(protocol: &str, args: &[&str], endpoint: Option<String>) -> (Value, tempfile::TempDir) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let out_str = out.path().display().to_string();
    let mut argv = vec![
        "bench",
        protocol,
        "--quick",
        "--out",
        &out_str,
        "--sample-interval",
        "50ms",
    ];
    argv.extend_from_slice(args);
    let mut cli = Cli::try_parse_from(&argv).expect("valid arguments");
    cli.bench.set_endpoint(endpoint);
    gust_bench::run(cli.bench).unwrap_or_else(|e| panic!("gust bench {protocol}: {e:#}"));
    let text =
        std::fs::read_to_string(out.path().join("result.json")).expect("result.json written");
    let json: Value = serde_json::from_str(&text).expect("result.json is JSON");
    assert_eq!(json["protocol"], protocol);
    assert_eq!(json["quick"], true);
    assert_eq!(json["gust"]["health"]["isolation"], "none");
    assert!(
        !json["samples"].as_array().unwrap().is_empty(),
        "the host was sampled"
    );
    assert!(json["client"]["requests"].as_u64().unwrap() > 0);
    (json, out)
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// A latency summary with samples and ordered percentiles.
fn assert_summary(s: &Value) {
    assert!(num(&s["count"]) > 0.0, "no samples: {s}");
    let keys = ["min_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"];
    let values: Vec<f64> = keys.iter().map(|k| num(&s[*k])).collect();
    assert!(values[0] > 0.0, "{s}");
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "percentiles out of order: {s}"
    );
}

fn targets(v: &Value) -> &Vec<Value> {
    v["targets"].as_array().expect("targets array")
}

fn kinds(ts: &[Value]) -> Vec<&str> {
    ts.iter().map(|t| t["kind"].as_str().unwrap()).collect()
}

fn assert_png(dir: &tempfile::TempDir, name: &str) {
    let bytes = std::fs::read(dir.path().join(name)).unwrap_or_else(|_| panic!("{name} written"));
    assert_eq!(&bytes[1..4], b"PNG", "{name} is a PNG");
}

#[test]
fn overhead_quick_measures_gust_and_direct() {
    let Some((json, out)) = run_quick("overhead", &["--runtime", "python,node"]) else {
        return;
    };
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "one result per runtime");
    for r in results {
        let ts = targets(r);
        assert_eq!(kinds(ts), ["gust", "direct"]);
        for t in ts {
            assert_summary(&t["latency"]);
            assert_eq!(num(&t["counts"]["ok"]), 100.0, "{t}");
        }
        assert!(r["added_p50_us"].is_number());
        assert!(r["added_p99_us"].is_number());
    }
    assert_png(&out, "overhead.png");
}

#[test]
fn concurrency_quick_ramps_callers() {
    let Some((json, out)) = run_quick("concurrency", &["--runtime", "python"]) else {
        return;
    };
    assert_eq!(json["config"]["max_callers"], 3);
    let r = &json["results"][0];
    let ts = targets(r);
    assert_eq!(kinds(ts), ["gust", "direct"]);
    for t in ts {
        let levels = t["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 3);
        for (i, l) in levels.iter().enumerate() {
            assert_eq!(l["callers"], i + 1);
            assert!(num(&l["throughput_rps"]) > 0.0, "{l}");
            assert_summary(&l["latency"]);
        }
    }
    assert!(r["top_ratio_to_direct"].is_number());
    assert_png(&out, "concurrency.png");
}

#[test]
fn backoff_quick_invokes_after_each_interval() {
    let Some((json, out)) = run_quick("backoff", &[]) else {
        return;
    };
    let intervals = json["config"]["intervals_ms"].as_array().unwrap().clone();
    assert_eq!(intervals.len(), 3);
    let r = json["results"].as_array().unwrap();
    assert_eq!(kinds(r), ["gust", "direct"]);
    for t in r {
        let points = t["points"].as_array().unwrap();
        assert_eq!(points.len(), 3);
        for p in points {
            assert_eq!(p["ok"], 1, "{p}");
            assert!(num(&p["latency_us"]) > 0.0);
        }
    }
    // The gust target reports its instance count before each invocation, and past
    // twice the TTL its instance has expired.
    let gust_points = r[0]["points"].as_array().unwrap();
    assert!(gust_points.iter().all(|p| p["instances_before"].is_u64()));
    assert_eq!(gust_points[2]["instances_before"], 0);
    assert_png(&out, "backoff.png");
}

#[test]
fn coldstart_quick_times_first_invocations() {
    let Some((json, out)) = run_quick("coldstart", &[]) else {
        return;
    };
    let r = json["results"].as_array().unwrap();
    assert_eq!(kinds(r), ["gust", "direct"]);
    for t in r {
        assert_summary(&t["latency"]);
        assert_eq!(t["samples_us"].as_array().unwrap().len(), 3);
        let burst = &t["burst"];
        assert_eq!(num(&burst["counts"]["ok"]), 4.0, "{burst}");
        assert!(num(&burst["instances_per_s"]) > 0.0);
    }
    assert_png(&out, "coldstart.png");
}

#[test]
fn utilization_quick_ramps_clients_over_functions() {
    let Some((json, out)) = run_quick("utilization", &[]) else {
        return;
    };
    assert_eq!(json["config"]["levels"], serde_json::json!([1, 3, 4]));
    let r = json["results"].as_array().unwrap();
    assert_eq!(kinds(r), ["gust", "direct"]);
    for t in r {
        let levels = t["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 3);
        for l in levels {
            let clients = num(&l["clients"]);
            let c = &l["counts"];
            let sent = num(&c["ok"])
                + num(&c["timeouts"])
                + num(&c["http_errors"])
                + num(&c["function_errors"])
                + num(&c["io_errors"]);
            assert_eq!(sent, clients * 3.0, "each client sends 3: {l}");
            assert!(num(&l["tree_pss_mb"]) > 0.0, "{l}");
            assert_summary(&l["latency"]);
        }
        assert_summary(&t["latency"]);
    }
    // gust ends with one warm instance per function.
    let last = r[0]["levels"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["instances"], 4, "{last}");
    assert!(r[0]["marginal_pss_mb_per_function"].is_number());
    assert_png(&out, "utilization.png");
    assert_png(&out, "utilization-time.png");
}

#[test]
fn overhead_quick_against_a_running_gust_leaves_it_as_it_was() {
    let Some(bin) = gust_bin() else {
        no_gust("`gust bench overhead --endpoint`");
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let flags = gust_bench::servers::GustFlags {
        bin,
        isolation: "none".into(),
        idle_ttl: std::time::Duration::from_secs(60),
        memory_mb: 1024,
        queue_timeout: std::time::Duration::from_secs(10),
        extra: Vec::new(),
    };
    let gust = gust_bench::servers::start_gust(&flags, logs.path()).expect("gust starts");
    let url = format!("http://{}", gust.addr);
    let pid = gust.process.pid().to_string();
    let (json, _out) = bench(
        "overhead",
        &["--runtime", "python", "--no-baseline", "--server-pid", &pid],
        Some(url),
    );
    assert!(!json["gust"]["started_by_bench"].as_bool().unwrap());
    let r = &json["results"][0];
    assert_eq!(kinds(targets(r)), ["gust"]);
    assert_summary(&r["targets"][0]["latency"]);
    assert!(
        r["targets"][0]["server_cpu_us_per_request"].is_number(),
        "--server-pid lets the bench measure the server's CPU"
    );
    // The bench deleted the function it deployed.
    let mut manager = gust_bench::lambda::Manager::new(gust.addr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let health = manager.health().expect("gust still answers");
        if health.instances == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted function's instance is still there: {health:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut conn = gust_bench::http::Conn::new(gust.addr);
    let list = gust_bench::http::Request::new("GET", gust.addr, "/2015-03-31/functions", b"");
    assert_eq!(conn.call(&list, None).unwrap().status, 200);
    let listed: Value = serde_json::from_slice(conn.body()).unwrap();
    assert_eq!(listed["Functions"], serde_json::json!([]), "{listed}");
}

#[test]
fn storage_quick_puts_and_gets_objects_on_gust_and_direct() {
    let Some((json, _out)) = run_quick(
        "storage",
        &["--small", "100", "--large-mb", "4", "--large-repeats", "1"],
    ) else {
        return;
    };
    let results = json["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gust", "direct"]);
    for r in results {
        assert_eq!(r["small_failed"], 0, "{r}");
        for k in [
            "small_put_per_s",
            "small_get_per_s",
            "large_put_mb_s",
            "large_get_mb_s",
        ] {
            assert!(num(&r[k]) > 0.0, "{k}: {r}");
        }
    }
    assert_eq!(json["config"]["large_bytes"], 4 << 20);
}

#[test]
fn workflow_quick_runs_chains_of_every_kind_and_counts_starts() {
    let Some((json, _out)) = run_quick(
        "workflow",
        &["--states", "5", "--executions", "2", "--start-seconds", "1"],
    ) else {
        return;
    };
    let chains = json["results"]["chains"].as_array().unwrap();
    let kinds: Vec<String> = chains
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["chain"].as_str().unwrap(),
                c["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "pass/standard",
            "pass/express",
            "task/standard",
            "task/express"
        ]
    );
    for c in chains {
        assert!(num(&c["execution_p50_us"]) > 0.0, "{c}");
    }
    assert!(num(&json["results"]["direct_invoke_p50_us"]) > 0.0);
    assert!(num(&json["results"]["starts_per_second"]) > 0.0, "{json}");
    assert_eq!(json["config"]["states"], 5);
}
