//! Starting the servers a protocol measures: gust itself (`gust serve` on port 0 with
//! a temporary data directory) and the direct baselines (the same handler in a plain
//! keep-alive HTTP server, one process per runtime).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::child::Managed;
use crate::http::{Conn, Request};
use crate::lambda::Runtime;

/// The Python direct server (bench/direct/server.py).
const DIRECT_PY: &str = include_str!("../../../bench/direct/server.py");
/// The Node.js direct server (bench/direct/server.js).
const DIRECT_JS: &str = include_str!("../../../bench/direct/server.js");

/// How long a server may take to say where it listens.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Flags of the `gust serve` the bench starts.
#[derive(Debug, Clone)]
pub struct GustFlags {
    /// The gust binary.
    pub bin: PathBuf,
    /// `--isolation`.
    pub isolation: String,
    /// `--idle-ttl`.
    pub idle_ttl: Duration,
    /// `--memory`, in MB.
    pub memory_mb: u64,
    /// `--queue-timeout`.
    pub queue_timeout: Duration,
    /// Anything else, passed through.
    pub extra: Vec<String>,
}

/// A gust the bench started.
#[derive(Debug)]
pub struct StartedGust {
    /// The server process (stopped on drop, before the data directory goes).
    pub process: Managed,
    /// Where its API listens.
    pub addr: SocketAddr,
    /// Its data directory, removed on drop.
    _data_dir: tempfile::TempDir,
}

/// Starts `gust serve` on a free loopback port.
pub fn start_gust(flags: &GustFlags, log_dir: &Path) -> Result<StartedGust> {
    let data_dir = tempfile::Builder::new()
        .prefix("gust-bench-data-")
        .tempdir()
        .context("creating a data directory for gust")?;
    let mut cmd = Command::new(&flags.bin);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--isolation", &flags.isolation])
        .args(["--idle-ttl", &duration_flag(flags.idle_ttl)])
        .args(["--memory", &flags.memory_mb.to_string()])
        .args(["--queue-timeout", &duration_flag(flags.queue_timeout)])
        .args(["--log-level", "warn"])
        .args(&flags.extra);
    let mut process = Managed::spawn("gust", cmd, &log_dir.join("gust.log"))
        .with_context(|| format!("is {} a gust binary?", flags.bin.display()))?;
    let addr = process.wait_for(STARTUP_TIMEOUT, |line| {
        line.strip_prefix("gust listening on http://")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok())
    })?;
    Ok(StartedGust {
        process,
        addr,
        _data_dir: data_dir,
    })
}

/// A duration as gust's flags take it.
fn duration_flag(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// A direct baseline server for one runtime.
#[derive(Debug)]
pub struct Direct {
    /// The server process.
    pub process: Managed,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// The runtime's interpreter as an absolute path, found the way gust finds it (by
/// asking the interpreter, which sees through shims such as pyenv's, whose start-up
/// would otherwise be charged to the baseline's cold start); the bare name when
/// that fails.
pub fn interpreter(runtime: Runtime) -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    static NODE: OnceLock<String> = OnceLock::new();
    let (cell, candidates, args): (_, &[&str], &[&str]) = match runtime {
        Runtime::Python => (
            &PYTHON,
            &["python3.11", "python3"],
            &["-c", "import sys; print(sys.executable)"],
        ),
        Runtime::Node => (&NODE, &["node"], &["-e", "console.log(process.execPath)"]),
    };
    cell.get_or_init(|| {
        candidates
            .iter()
            .find_map(|c| {
                let out = Command::new(c).args(args).output().ok()?;
                let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
                (out.status.success() && !path.is_empty()).then_some(path)
            })
            .unwrap_or_else(|| candidates[candidates.len() - 1].to_string())
    })
}

/// Files and command line of a runtime's direct server, written under `dir`.
pub struct DirectCommand {
    /// Program.
    pub program: &'static str,
    /// Arguments.
    pub args: Vec<String>,
}

/// Writes the direct server and the handler into `dir` and returns how to run it.
pub fn direct_command(runtime: Runtime, dir: &Path) -> Result<DirectCommand> {
    std::fs::create_dir_all(dir)?;
    let handler = dir.join(runtime.handler_file());
    std::fs::write(&handler, runtime.handler_source())?;
    let (file, source) = match runtime {
        Runtime::Python => ("server.py", DIRECT_PY),
        Runtime::Node => ("server.js", DIRECT_JS),
    };
    let program = interpreter(runtime);
    let server = dir.join(file);
    std::fs::write(&server, source)?;
    Ok(DirectCommand {
        program,
        args: vec![
            server.display().to_string(),
            handler.display().to_string(),
            "0".into(),
        ],
    })
}

/// Parses the direct server's `listening on PORT` line.
pub fn direct_port(line: &str) -> Option<u16> {
    line.strip_prefix("listening on ")?.trim().parse().ok()
}

/// Starts the direct baseline for `runtime` and checks it answers.
pub fn start_direct(runtime: Runtime, work: &Path, log_dir: &Path) -> Result<Direct> {
    let dc = direct_command(runtime, &work.join(format!("direct-{}", runtime.name())))?;
    let mut cmd = Command::new(dc.program);
    cmd.args(&dc.args);
    let name = format!("direct/{}", runtime.name());
    let log = log_dir.join(format!("direct-{}.log", runtime.name()));
    let mut process = Managed::spawn(&name, cmd, &log)?;
    let port = process.wait_for(STARTUP_TIMEOUT, direct_port)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = Conn::new(addr);
    let reply = conn
        .call(
            &Request::invoke(addr, "noop"),
            Some(Instant::now() + Duration::from_secs(10)),
        )
        .with_context(|| format!("first request to {name}"))?;
    if !reply.ok() {
        return Err(anyhow!("{name} answered HTTP {}", reply.status));
    }
    Ok(Direct { process, addr })
}
