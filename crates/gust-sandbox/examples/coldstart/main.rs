//! Cold-start and memory bench of the sandboxes (needs root for the Linux sandbox):
//!
//! ```text
//! cargo run --release -p gust-sandbox --example coldstart -- [ITERATIONS] [PYTHON]
//! ```
//!
//! A "cold start" here is from `launch` to the runtime's first connection to its
//! Runtime API listener, with a Python runtime that only connects (what a bootstrap
//! does before its first `invocation/next`). It prints, for `--isolation none`, the
//! Linux sandbox without and with a pool, and with a pool for a function with
//! outbound network (where `ip`, `nsenter` and `nft` are installed): the p50/p90 of
//! that time, the mean of each step the sandbox reports, and the cost of each
//! namespace on its own. Then the memory of idle instances (see `memory.rs`).
//!
//! Like gust, this binary is its own sandbox init (`coldstart __sandbox-init`).
//! With `GUST_BENCH_SCRATCH_DIR=<dir>`, each instance's `/tmp` is an image of its own
//! on disk in `<dir>` (as `gust serve` does it under its data directory).
//!
//! Run as an ordinary user (e.g. `setpriv --reuid=4246 --regid=4246 --clear-groups`,
//! with a Python it can read such as `/usr/bin/python3.11`), it measures the rootless
//! sandbox; the namespace costs and the memory part need root. As root with
//! `GUST_BENCH_ROOTLESS_UID=<uid>`, the memory part runs as that user (rootless).
//!
//! # Results on the development VM
//! 2 vCPUs, cgroup v1, Python 3.11 with `-S`, 60 rounds at a load average of
//! about 1.4 (other builds running; numbers move with the host's load):
//!
//! | | p50 | p90 | sandbox steps (mean) |
//! |---|---|---|---|
//! | none | 15.0 ms | 18.7 ms | |
//! | linux, no pool | 20.4 ms | 24.0 ms | 6.1 ms |
//! | linux, pool of 4 | 17.2 ms | 20.1 ms | 2.6 ms |
//!
//! Without the pool: cgroup creation 0.26 ms, clone into five new namespaces
//! 1.1 ms (the network namespace is most of it: 0.76 ms alone), the init's exec
//! and preparation 2.8 ms (of which system mounts 0.86 ms, entering the cgroup
//! 0.19 ms), limits 0.2 ms, then the launch proper 1.6 ms (function mounts and
//! `pivot_root` 0.34 ms, fork and exec of the runtime 1.0 ms). The pool leaves only
//! the limits and the launch proper. Idle memory: a plain Python process 2.9 MiB,
//! the same isolated 3.3 MiB, a pooled sandbox without runtime 0.5 MiB.

mod memory;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gust_sandbox::linux::{init_main, LinuxSandbox, LinuxSandboxConfig, INIT_ARG};
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
    if args.get(1).map(String::as_str) == Some(memory::CHILD_ARG) {
        return memory::child(&args[2..]);
    }
    let iterations: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let python = PathBuf::from(
        args.get(2)
            .cloned()
            .unwrap_or_else(|| "/root/.pyenv/versions/3.11.7/bin/python3".into()),
    );
    let dirs = Dirs::new();
    println!("python {} ({} iterations)\n", python.display(), iterations);

    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        namespace_costs(iterations);
    } else {
        println!("namespace costs: skipped (unshare without a user namespace needs root)\n");
    }

    let spec = |id: usize| dirs.spec(&python, id);

    // With GUST_BENCH_SCRATCH_DIR=<dir>, /tmp is each instance's own image on disk
    // there (as `gust serve` makes it, under its data directory), else a tmpfs.
    let config = || LinuxSandboxConfig {
        scratch_dir: std::env::var_os("GUST_BENCH_SCRATCH_DIR").map(PathBuf::from),
        ..LinuxSandboxConfig::default()
    };
    let sandbox = match LinuxSandbox::probe_with(config()) {
        Ok(s) => s,
        Err(e) => {
            println!("linux sandbox unavailable: {e}");
            return;
        }
    };
    println!(
        "cgroups {}, sandbox {}, /tmp {}\n",
        sandbox.cgroup_version(),
        sandbox.name(),
        if sandbox.tmp_on_disk() {
            "on disk"
        } else {
            "tmpfs"
        }
    );
    let pooled = LinuxSandbox::probe_with(config()).unwrap().with_pool(4);
    // The modes take turns, so that load from elsewhere on the host hits them alike.
    let mut modes = [
        Mode::new("none"),
        Mode::new("linux, no pool"),
        Mode::new("linux, pool of 4"),
        Mode::new("linux, no pool, outbound network (link made at launch)"),
        Mode::new("linux, pool of 4, outbound network (link made ahead)"),
    ];
    // Outbound network needs ip, nsenter and nft: measured where they are.
    let outbound = sandbox.outbound_unavailable().is_none()
        && ["ip", "nsenter", "nft"].iter().all(|p| {
            std::process::Command::new(p)
                .arg("--version")
                .output()
                .is_ok()
        });
    let with_link = |id: usize| LaunchSpec {
        outbound: true,
        ..spec(id)
    };
    if outbound {
        // The first outbound launch makes the pool keep linked sandboxes.
        drop(pooled.launch(&with_link(usize::MAX / 2)).unwrap());
    }
    for i in 0..iterations {
        modes[0].run(|| (NoIsolation.launch(&spec(5 * i)).unwrap(), vec![]));
        modes[1].run(|| sandbox.launch_timed(&spec(5 * i + 1)).unwrap());
        // A steady, low rate: every launch finds the pool full.
        wait_until(Duration::from_secs(10), || pooled.pool_ready() == 4);
        modes[2].run(|| pooled.launch_timed(&spec(5 * i + 2)).unwrap());
        if outbound {
            modes[3].run(|| sandbox.launch_timed(&with_link(5 * i + 3)).unwrap());
            wait_until(Duration::from_secs(10), || {
                pooled.pool_ready() == 4 && pooled.pool_ready_linked() == 2
            });
            modes[4].run(|| pooled.launch_timed(&with_link(5 * i + 4)).unwrap());
        }
    }
    let modes = if outbound {
        &mut modes[..]
    } else {
        println!("(outbound network not measured: it needs root, ip, nsenter and nft)\n");
        &mut modes[..3]
    };
    for mode in modes.iter_mut() {
        mode.report(iterations);
    }
    drop(pooled);

    drop(sandbox);
    if root {
        memory::measure(&python);
    } else {
        println!("memory: skipped (making the measurement cgroup needs root)");
    }
}

/// A function: a code directory and a runtime directory holding the no-op runtime.
struct Dirs {
    code: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Dirs {
    /// The launch of instance `id` running the no-op runtime on `python`.
    fn spec(&self, python: &Path, id: usize) -> LaunchSpec {
        let prefix = python.parent().and_then(Path::parent).unwrap();
        LaunchSpec {
            instance_id: format!("bench-{}-{id}", std::process::id()),
            entrypoint: Entrypoint::Managed {
                interpreter: python.to_path_buf(),
                args: vec!["-S".into()],
                script: "noop.py".into(),
            },
            env: vec![],
            code_dir: self.code.path().to_path_buf(),
            opt_dir: None,
            runtime_dir: self.runtime.path().to_path_buf(),
            host_paths: vec![prefix.to_path_buf()],
            memory_mb: 1769,
            tmp_mb: 512,
            outbound: false,
        }
    }

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

/// One way to launch, and what its launches cost.
struct Mode {
    name: &'static str,
    totals: Vec<Duration>,
    teardowns: Vec<Duration>,
    steps: Vec<(String, u64)>,
}

impl Mode {
    fn new(name: &'static str) -> Mode {
        Mode {
            name,
            totals: Vec::new(),
            teardowns: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// One launch, until the runtime connects to its Runtime API, then teardown.
    fn run(&mut self, launch: impl FnOnce() -> (Launched, Vec<(String, u64)>)) {
        let start = Instant::now();
        let (launched, timings) = launch();
        let conn = accept(&launched, Duration::from_secs(10));
        self.totals.push(start.elapsed());
        assert!(conn.is_some(), "{}: the runtime never connected", self.name);
        for (step, us) in timings {
            match self.steps.iter_mut().find(|(s, _)| *s == step) {
                Some((_, sum)) => *sum += us,
                None => self.steps.push((step, us)),
            }
        }
        let start = Instant::now();
        drop(conn);
        drop(launched);
        self.teardowns.push(start.elapsed());
    }

    fn report(&mut self, n: usize) {
        self.totals.sort();
        self.teardowns.sort();
        let pct = |v: &[Duration], p: usize| ms(v[(v.len() * p / 100).min(v.len() - 1)]);
        println!(
            "{}: launch to Runtime API connection p50 {:.2} ms, p90 {:.2} ms; teardown p50 {:.2} ms",
            self.name,
            pct(&self.totals, 50),
            pct(&self.totals, 90),
            pct(&self.teardowns, 50)
        );
        for (step, sum) in &self.steps {
            println!("    {step:<45} {:>8.3} ms", *sum as f64 / n as f64 / 1000.0);
        }
        println!();
    }
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

/// The cost of creating each namespace: the median time of `/bin/true` started with
/// `unshare` of that namespace, minus the median without (runs interleaved).
fn namespace_costs(n: usize) {
    let once = |flags: libc::c_int| {
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
        let start = Instant::now();
        assert!(cmd.status().unwrap().success());
        start.elapsed()
    };
    let kinds = [
        ("none", 0),
        ("mount", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("net", libc::CLONE_NEWNET),
        ("cgroup", libc::CLONE_NEWCGROUP),
    ];
    let mut samples = vec![Vec::with_capacity(n); kinds.len()];
    for _ in 0..n {
        for (i, (_, flag)) in kinds.iter().enumerate() {
            samples[i].push(once(*flag));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let base = median(&mut samples[0]);
    println!(
        "namespace creation (median of unshare in a child, minus a plain fork+exec of {:.3} ms):",
        ms(base)
    );
    for (i, (name, _)) in kinds.iter().enumerate().skip(1) {
        let t = median(&mut samples[i]);
        println!("    {name:<8} {:>8.3} ms", ms(t) - ms(base));
    }
    println!();
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
