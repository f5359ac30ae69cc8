//! Cold-start and memory bench of the sandboxes (needs root for the Linux sandbox):
//!
//! ```text
//! cargo run --release -p gust-sandbox --example coldstart -- [ITERATIONS] [PYTHON]
//! ```
//!
//! A "cold start" here is from `launch` to the runtime's first connection to its
//! Runtime API listener, with a Python runtime that only connects (what a bootstrap
//! does before its first `invocation/next`). It prints, for `--isolation none`, the
//! Linux sandbox without and with a pool: the p50/p90 of that time, the mean of each
//! step the sandbox reports, and the cost of each namespace on its own. Then the
//! memory of idle instances (MemAvailable drop per instance).
//!
//! Like gust, this binary is its own sandbox init (`coldstart __sandbox-init`).

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gust_sandbox::linux::{init_main, LinuxSandbox, INIT_ARG};
use gust_sandbox::none::NoIsolation;
use gust_sandbox::{Entrypoint, LaunchSpec, Launched, Sandbox};

const NOOP: &str = "\
import _socket, os
h, p = os.environ['AWS_LAMBDA_RUNTIME_API'].split(':')
s = _socket.socket()
s.connect((h, int(p)))
s.recv(1)
";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(INIT_ARG) {
        init_main();
    }
    let iterations: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let python = PathBuf::from(
        args.get(2)
            .cloned()
            .unwrap_or_else(|| "/root/.pyenv/versions/3.11.7/bin/python3".into()),
    );
    let prefix = python
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let dirs = Dirs::new();
    println!("python {} ({} iterations)\n", python.display(), iterations);

    namespace_costs(iterations);

    let spec = |id: usize| LaunchSpec {
        instance_id: format!("bench-{}-{id}", std::process::id()),
        entrypoint: Entrypoint::Managed {
            interpreter: python.clone(),
            args: vec!["-S".into()],
            script: "noop.py".into(),
        },
        env: vec![],
        code_dir: dirs.code.path().to_path_buf(),
        runtime_dir: dirs.runtime.path().to_path_buf(),
        host_paths: vec![prefix.clone()],
        memory_mb: 1769,
        tmp_mb: 512,
    };

    bench("none", iterations, |i| {
        (NoIsolation.launch(&spec(i)).unwrap(), vec![])
    });
    let sandbox = match LinuxSandbox::probe() {
        Ok(s) => s,
        Err(e) => {
            println!("linux sandbox unavailable: {e}");
            return;
        }
    };
    println!("cgroups {}\n", sandbox.cgroup_version());
    bench("linux, no pool", iterations, |i| {
        sandbox.launch_timed(&spec(i)).unwrap()
    });
    let pooled = sandbox.with_pool(4);
    bench("linux, pool of 4", iterations, |i| {
        // A steady, low rate: every launch finds the pool full.
        wait_until(Duration::from_secs(10), || pooled.pool_ready() == 4);
        pooled.launch_timed(&spec(i)).unwrap()
    });
    drop(pooled);

    let sandbox = LinuxSandbox::probe().unwrap();
    memory("none", |i| NoIsolation.launch(&spec(i)).unwrap());
    memory("linux", |i| sandbox.launch(&spec(i)).unwrap());
    let before = mem_available();
    let pool = LinuxSandbox::probe().unwrap().with_pool(20);
    wait_until(Duration::from_secs(30), || pool.pool_ready() == 20);
    std::thread::sleep(Duration::from_millis(500));
    let per = (before - mem_available()) as f64 / 20.0 / 1024.0;
    println!("memory  idle pooled sandbox (init, no runtime): {per:.2} MiB each");
}

struct Dirs {
    code: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        use std::os::unix::fs::PermissionsExt;
        let code = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        std::fs::write(runtime.path().join("noop.py"), NOOP).unwrap();
        for d in [code.path(), runtime.path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Dirs { code, runtime }
    }
}

/// Launches `n` times, each time until the runtime connects to its Runtime API.
fn bench(name: &str, n: usize, launch: impl Fn(usize) -> (Launched, Vec<(String, u64)>)) {
    let mut totals = Vec::with_capacity(n);
    let mut cleanups = Vec::with_capacity(n);
    let mut steps: Vec<(String, u64)> = Vec::new();
    for i in 0..n {
        let start = Instant::now();
        let (launched, timings) = launch(i);
        let conn = accept(&launched, Duration::from_secs(10));
        totals.push(start.elapsed());
        assert!(conn.is_some(), "{name}: the runtime never connected");
        for (step, us) in timings {
            match steps.iter_mut().find(|(s, _)| *s == step) {
                Some((_, sum)) => *sum += us,
                None => steps.push((step, us)),
            }
        }
        let start = Instant::now();
        drop(conn);
        drop(launched);
        cleanups.push(start.elapsed());
    }
    totals.sort();
    cleanups.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    println!(
        "{name}: launch to Runtime API connection p50 {:.2} ms, p90 {:.2} ms; teardown p50 {:.2} ms",
        ms(pct(&totals, 50)),
        ms(pct(&totals, 90)),
        ms(pct(&cleanups, 50))
    );
    for (step, sum) in steps {
        println!("    {step:<45} {:>8.3} ms", sum as f64 / n as f64 / 1000.0);
    }
    println!();
}

fn accept(launched: &Launched, timeout: Duration) -> Option<std::net::TcpStream> {
    let mut pfd = libc::pollfd {
        fd: launched.runtime_api.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    launched.runtime_api.accept().ok().map(|(c, _)| c)
}

/// The cost of creating each namespace: `/bin/true` with and without `unshare`.
fn namespace_costs(n: usize) {
    let run = |flags: libc::c_int| {
        let start = Instant::now();
        for _ in 0..n {
            let mut cmd = std::process::Command::new("/bin/true");
            // SAFETY: unshare is async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    if flags != 0 && libc::unshare(flags) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            assert!(cmd.status().unwrap().success());
        }
        start.elapsed() / n as u32
    };
    let base = run(0);
    println!(
        "namespace creation (unshare in a child, minus a plain fork+exec of {:.3} ms):",
        ms(base)
    );
    for (name, flag) in [
        ("mount", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("net", libc::CLONE_NEWNET),
        ("cgroup", libc::CLONE_NEWCGROUP),
    ] {
        let t = run(flag).saturating_sub(base);
        println!("    {name:<8} {:>8.3} ms", ms(t));
    }
    println!();
}

/// MemAvailable drop per idle instance (runtime connected and waiting).
fn memory(name: &str, launch: impl Fn(usize) -> Launched) {
    const N: usize = 20;
    let before = mem_available();
    let mut held = Vec::new();
    for i in 0..N {
        let l = launch(1000 + i);
        let c = accept(&l, Duration::from_secs(10)).expect("connected");
        held.push((l, c));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = mem_available();
    let cgroup: Vec<u64> = held
        .iter()
        .filter_map(|(l, _)| l.process.memory_current_bytes())
        .collect();
    let per = (before - after) as f64 / N as f64 / 1024.0;
    print!("memory  idle {name} instance (python waiting on its Runtime API): {per:.2} MiB each");
    if !cgroup.is_empty() {
        let avg = cgroup.iter().sum::<u64>() as f64 / cgroup.len() as f64 / (1 << 20) as f64;
        print!(" (its cgroup or RSS counts {avg:.2} MiB)");
    }
    println!();
}

fn mem_available() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn wait_until(timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
