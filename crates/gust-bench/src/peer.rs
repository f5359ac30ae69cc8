//! Peers: other Lambda-compatible platforms measured with the same protocol and the
//! same handler. Today: serverless-offline (npm `serverless@3` + `serverless-offline@13`),
//! installed into a cache directory by `bench/peers/serverless-offline/install.sh`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use crate::child::{free_port, Managed};
use crate::http::{Conn, Request};
use crate::lambda::Runtime;

const INSTALL_SH: &str = include_str!("../../../bench/peers/serverless-offline/install.sh");
const SERVERLESS_YML: &str = include_str!("../../../bench/peers/serverless-offline/serverless.yml");

/// How long the peer may take to start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A peer platform the bench knows how to install and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeerKind {
    /// serverless-offline's Lambda Invoke API (`--lambdaPort`).
    ServerlessOffline,
    /// moto's S3 server (`moto_server`, PyPI `moto[server]`): `gust bench storage`
    /// only.
    Moto,
}

impl PeerKind {
    /// Name used in target names.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::ServerlessOffline => "serverless-offline",
            PeerKind::Moto => "moto",
        }
    }
}

/// A function the peer must serve: its key in `functions.yml` and its runtime.
#[derive(Debug, Clone)]
pub struct PeerFunction {
    /// Key in `functions.yml` (letters and digits).
    pub key: String,
    /// Runtime of its `noop` handler.
    pub runtime: Runtime,
}

impl PeerFunction {
    /// The Lambda function name serverless-offline exposes for this key.
    pub fn lambda_name(&self) -> String {
        format!("gust-bench-dev-{}", self.key)
    }
}

/// A started peer.
#[derive(Debug)]
pub struct Peer {
    /// The `serverless offline` process group.
    pub process: Managed,
    /// Its Lambda API.
    pub addr: SocketAddr,
}

/// The default cache directory of installed peers.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gust-bench")
}

/// Installs serverless-offline into `cache` (no-op when it is there) with the
/// project's install script.
pub fn install(cache: &Path, work: &Path, log_dir: &Path) -> Result<PathBuf> {
    let dir = cache.join("serverless-offline");
    let script = work.join("install-serverless-offline.sh");
    std::fs::write(&script, INSTALL_SH)?;
    let log = log_dir.join("peer-install.log");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log_dir.join("peer-install.err"))?)
        .status()
        .context("running bash for the serverless-offline install script")?;
    if !out.success() {
        let err = std::fs::read_to_string(log_dir.join("peer-install.err")).unwrap_or_default();
        bail!(
            "installing serverless-offline failed ({out}): {}",
            err.lines().last().unwrap_or("no output")
        );
    }
    Ok(dir)
}

/// Starts `serverless offline` serving `functions`, with instances ended after
/// `idle_ttl` of idleness when given, and checks the first function answers.
pub fn start(
    kind: PeerKind,
    cache: &Path,
    work: &Path,
    log_dir: &Path,
    functions: &[PeerFunction],
    idle_ttl: Option<Duration>,
) -> Result<Peer> {
    if kind == PeerKind::Moto {
        anyhow::bail!("moto is an S3 server: only `gust bench storage` measures it");
    }
    let installed = install(cache, work, log_dir)?;
    let service = work.join("serverless-offline");
    std::fs::create_dir_all(&service)?;
    std::fs::write(service.join("serverless.yml"), SERVERLESS_YML)?;
    for rt in [Runtime::Python, Runtime::Node] {
        std::fs::write(service.join(rt.handler_file()), rt.handler_source())?;
    }
    std::fs::write(service.join("functions.yml"), functions_yml(functions))?;
    let modules = service.join("node_modules");
    if !modules.exists() {
        std::os::unix::fs::symlink(installed.join("node_modules"), &modules)
            .context("linking the peer's node_modules")?;
    }
    let lambda_port = free_port()?;
    let mut cmd = Command::new("node");
    cmd.current_dir(&service)
        .arg(installed.join("node_modules/serverless/bin/serverless.js"))
        .args(["offline", "start", "--host", "127.0.0.1"])
        .args(["--lambdaPort", &lambda_port.to_string()])
        .args(["--httpPort", &free_port()?.to_string()])
        .args(["--websocketPort", &free_port()?.to_string()])
        .args(["--albPort", &free_port()?.to_string()])
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env("SLS_NOTIFICATIONS_MODE", "off")
        .env("SLS_INTERACTIVE_SETUP_DISABLE", "1");
    if let Some(ttl) = idle_ttl {
        // serverless-offline takes whole seconds.
        let secs = ttl.as_secs_f64().ceil().max(1.0) as u64;
        cmd.args(["--terminateIdleLambdaTime", &secs.to_string()]);
    }
    let mut process = Managed::spawn(kind.name(), cmd, &log_dir.join("peer.log"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], lambda_port));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if !process.alive() {
            bail!(
                "serverless-offline exited during startup; see {}{}",
                process.log.display(),
                process.log_tail()
            );
        }
        if Instant::now() > deadline {
            bail!("serverless-offline did not listen on {addr} within {STARTUP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(first) = functions.first() {
        let mut conn = Conn::new(addr);
        let reply = conn
            .call(
                &Request::invoke(addr, &first.lambda_name()),
                Some(Instant::now() + Duration::from_secs(30)),
            )
            .context("first invocation on serverless-offline")?;
        if !reply.ok() {
            bail!(
                "serverless-offline answered HTTP {}: {}",
                reply.status,
                String::from_utf8_lossy(conn.body())
            );
        }
    }
    Ok(Peer { process, addr })
}

fn functions_yml(functions: &[PeerFunction]) -> String {
    let mut out = String::new();
    for f in functions {
        let _ = write!(
            out,
            "{}:\n  handler: noop.handler\n  runtime: {}\n",
            f.key,
            f.runtime.lambda_id()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_file_lists_each_function() {
        let yml = functions_yml(&[
            PeerFunction {
                key: "noopPython".into(),
                runtime: Runtime::Python,
            },
            PeerFunction {
                key: "u1Node".into(),
                runtime: Runtime::Node,
            },
        ]);
        assert_eq!(
            yml,
            "noopPython:\n  handler: noop.handler\n  runtime: python3.11\n\
             u1Node:\n  handler: noop.handler\n  runtime: nodejs20.x\n"
        );
        assert!(SERVERLESS_YML.contains("functions.yml"));
    }
}
