//! What an idle instance costs in memory, measured by the kernel's own accounting
//! rather than the host's free memory (which other work on the host moves).
//!
//! The bench re-runs itself (`coldstart __memory`) inside a fresh memory cgroup (v1),
//! so that everything it and its children allocate, kernel objects included (the
//! namespaces its clones create), is charged there. An instance's cost is then the
//! growth of that cgroup plus what the instance's own cgroup holds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gust_sandbox::linux::LinuxSandbox;
use gust_sandbox::none::NoIsolation;
use gust_sandbox::Sandbox;

use super::{accept, wait_until, Dirs};

/// The argument that runs [`child`].
pub const CHILD_ARG: &str = "__memory";

const N: usize = 20;

/// Runs the measurement in a child placed in its own memory cgroup.
pub fn measure(python: &Path) {
    let root = Path::new("/sys/fs/cgroup/memory");
    if !root.join("memory.usage_in_bytes").exists() {
        println!("memory: skipped (needs the cgroup v1 memory controller)");
        return;
    }
    let dir = root.join(format!("gust-bench-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let mut child = std::process::Command::new("/proc/self/exe");
    child.arg(CHILD_ARG).arg(&dir).arg(python);
    if let Some(uid) = std::env::var("GUST_BENCH_ROOTLESS_UID")
        .ok()
        .and_then(|u| u.parse::<u32>().ok())
    {
        // The rootless sandbox: the child runs as `uid`, in a cgroup it may enter.
        use std::os::unix::process::CommandExt;
        for f in ["tasks", "cgroup.procs"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(uid)).unwrap();
        }
        child.uid(uid).gid(uid); // std drops the supplementary groups too
    }
    let status = child.status().unwrap();
    assert!(status.success());
    std::fs::remove_dir(&dir).unwrap();
}

fn usage(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join("memory.usage_in_bytes"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / N as f64 / (1 << 20) as f64
}

/// In the measurement cgroup: idle plain processes, idle isolated instances, and
/// idle pooled sandboxes, `N` of each.
pub fn child(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let python = PathBuf::from(&args[1]);
    // Still single-threaded: moving this thread moves the process.
    std::fs::write(dir.join("tasks"), "0").unwrap();
    let dirs = Dirs::new();

    let before = usage(&dir);
    let plain: Vec<_> = (0..N)
        .map(|i| {
            let l = NoIsolation.launch(&dirs.spec(&python, i)).unwrap();
            let c = accept(&l, Duration::from_secs(10)).unwrap();
            (l, c)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "memory  idle plain process (none): {:.2} MiB each",
        mib(usage(&dir) - before)
    );
    drop(plain);

    let sandbox = LinuxSandbox::probe().unwrap();
    let before = usage(&dir);
    let isolated: Vec<_> = (0..N)
        .map(|i| {
            let l = sandbox.launch(&dirs.spec(&python, 100 + i)).unwrap();
            let c = accept(&l, Duration::from_secs(10)).unwrap();
            (l, c)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Rootless without cgroups, everything is charged to the measurement cgroup
    // (and memory_current_bytes is the runtime's RSS, already counted there).
    let limited = sandbox.cgroup_version() != "none";
    let own: i64 = isolated
        .iter()
        .filter(|_| limited)
        .map(|(l, _)| l.process.memory_current_bytes().unwrap() as i64)
        .sum();
    let outside = usage(&dir) - before;
    println!(
        "memory  idle isolated instance ({}): {:.2} MiB each ({:.2} in its cgroup, {:.2} charged to gust: namespaces, listener)",
        sandbox.name(),
        mib(outside + own),
        mib(own),
        mib(outside)
    );
    drop(isolated);

    let before = usage(&dir);
    let pool = sandbox.with_pool(N);
    wait_until(Duration::from_secs(60), || pool.pool_ready() == N);
    std::thread::sleep(Duration::from_millis(300));
    let prefix = format!("pool-{}-", std::process::id());
    let own: i64 = std::fs::read_dir("/sys/fs/cgroup/memory/gust")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|_| limited)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| usage(&e.path()))
        .sum();
    let outside = usage(&dir) - before;
    println!(
        "memory  idle pooled sandbox (init only): {:.2} MiB each ({:.2} in its cgroup, {:.2} charged to gust)",
        mib(outside + own),
        mib(own),
        mib(outside)
    );
}
