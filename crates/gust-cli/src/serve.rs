//! `gust serve`: runs the platform in the foreground until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use gust_server::{Isolation, ServeConfig};

use crate::env;
use crate::units::{parse_duration, parse_optional_duration, parse_size};

/// Share of the host's memory instances may reserve when `--memory` is not given.
const DEFAULT_MEMORY_SHARE: f64 = 0.8;
/// The smallest memory size a function can have, so the least capacity that is useful.
const MIN_FUNCTION_MEMORY_MB: u64 = 128;

/// `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    /// The Linux sandbox where the host allows it, else none with a loud warning.
    Auto,
    /// The Linux sandbox (namespaces, cgroups, seccomp; in user namespaces when gust
    /// is not root, with a warning listing what that does not enforce), or fail.
    Linux,
    /// Plain host processes. For development machines only.
    None,
}

impl From<IsolationArg> for Isolation {
    fn from(arg: IsolationArg) -> Isolation {
        match arg {
            IsolationArg::Auto => Isolation::Auto,
            IsolationArg::Linux => Isolation::Linux,
            IsolationArg::None => Isolation::None,
        }
    }
}

/// `--url-style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UrlStyleArg {
    /// Host-based if this machine resolves *.lambda-url.REGION.localhost to
    /// loopback (checked at start), else path-based.
    Auto,
    /// http://ID.lambda-url.REGION.localhost:PORT/ (Lambda's shape; needs a resolver
    /// that knows *.localhost, as curl and browsers have).
    Host,
    /// http://127.0.0.1:PORT/gust/v1/urls/ID/ (any client can fetch it).
    Path,
}

impl From<UrlStyleArg> for gust_api::UrlStyleChoice {
    fn from(arg: UrlStyleArg) -> gust_api::UrlStyleChoice {
        match arg {
            UrlStyleArg::Auto => gust_api::UrlStyleChoice::Auto,
            UrlStyleArg::Host => gust_api::UrlStyleChoice::Host,
            UrlStyleArg::Path => gust_api::UrlStyleChoice::Path,
        }
    }
}

/// Arguments of `gust serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust serve
  gust serve --listen 0.0.0.0:9000 --memory 4096 --idle-ttl 5m
  GUST_DATA_DIR=/var/lib/gust gust serve --isolation linux")]
pub struct ServeArgs {
    /// Address the API listens on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", env = env::LISTEN, default_value = env::DEFAULT_LISTEN)]
    listen: String,

    /// Directory for functions, code archives and state
    /// [default: $XDG_DATA_HOME/gust or ~/.local/share/gust].
    #[arg(long, value_name = "DIR", env = env::DATA_DIR)]
    data_dir: Option<PathBuf>,

    /// Where `gust sdk install` put the AWS SDKs that Python and Node.js functions
    /// import as on Lambda (boto3; the AWS SDK for JavaScript v3)
    /// [default: DATA_DIR/sdk].
    #[arg(long, value_name = "DIR", env = env::SDK_DIR)]
    sdk_dir: Option<PathBuf>,

    /// How instances are isolated from the host and each other.
    #[arg(long, value_enum, default_value_t = IsolationArg::Auto)]
    isolation: IsolationArg,

    /// Memory all instances together may reserve, in MB [default: 80% of the host's].
    #[arg(long, value_name = "MB")]
    memory: Option<u64>,

    /// Disk all instances' /tmp together may be promised, in MB (each gets its
    /// function's EphemeralStorage, 512 MB by default, as a sparse image under the
    /// data directory) [default: the free space of the data directory's
    /// filesystem]. More than is free overcommits, as --memory can: images take only
    /// what functions write, and should they write it all, /tmp writes fail with
    /// ENOSPC.
    #[arg(long, value_name = "MB")]
    tmp_disk: Option<u64>,

    /// How long an idle instance stays warm (e.g. 30s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    idle_ttl: Duration,

    /// How long an instance is idle before it is frozen, as Lambda freezes idle
    /// execution environments: what a function leaves running between invocations
    /// (timers, threads) stops using the host's CPU until the next invocation thaws
    /// it. 0 or off never freezes. Needs the cgroup freezer (--isolation linux).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_optional_duration)]
    // Fully qualified: a plain `Option` would make clap expect a `Duration`.
    freeze_idle_after: ::std::option::Option<Duration>,

    /// Shortest period of the CPU quota that holds each instance to its share (one
    /// vCPU per 1,769 MB, as on Lambda). An instance over its share runs for its
    /// quota, then waits out the period: shorter periods cut that stall. Each memory
    /// size gets the shortest period, from this one, in which its share is at least
    /// the kernel's 1 ms least quota (13.8 ms at 128 MB). 100ms is the kernel's
    /// default; 1ms to 1s.
    #[arg(long, value_name = "DURATION", default_value = "10ms", value_parser = parse_duration)]
    cpu_period: Duration,

    /// Let an instance carry over one quota of CPU time it left unused (cgroup CPU
    /// burst, Linux 5.14 and later), so a short invoke after idling is not cut at its
    /// quota. Its share over time stays the same.
    #[arg(long, value_enum, value_name = "on|off", default_value = "on")]
    cpu_burst: crate::network::Switch,

    /// How long a request waits for capacity before it is answered with 429.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    queue_timeout: Duration,

    /// Memory the log of each function may hold, each line costing its text plus
    /// 128 bytes; the oldest lines go first (e.g. 1MiB, 512KiB, 65536).
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_size)]
    log_bytes: u64,

    /// Region reported in ARNs and to functions.
    #[arg(long, env = env::REGION, default_value = "us-east-1")]
    region: String,

    /// Concurrent invocations allowed across all functions (the account limit that
    /// reserved concurrency is carved from).
    #[arg(long, value_name = "N", default_value_t = gust_api::DEFAULT_ACCOUNT_CONCURRENCY)]
    account_concurrency: u32,

    /// An access key, as ACCESS_KEY_ID:SECRET; repeat, or list several comma-separated
    /// in the variable. With any key set, every API request must carry a valid AWS
    /// SigV4 signature made with one of them (boto3, the aws CLI and `gust` with
    /// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY sign), and AWS_IAM function URLs accept
    /// them. Required when listening beyond loopback. gust has no IAM: without a key,
    /// the API is open to whoever reaches it and AWS_IAM URLs answer 403.
    #[arg(long = "access-key", value_name = "AKID:SECRET", env = env::ACCESS_KEYS, value_delimiter = ',', hide_env_values = true)]
    access_keys: Vec<String>,

    /// Accept `rate(N seconds)` schedules. A testing aid: EventBridge's smallest rate
    /// is one minute, which makes tests of firing and restarts slow.
    #[arg(long, hide = true)]
    allow_second_rates: bool,

    /// Which function URL CreateFunctionUrlConfig hands out. Both forms are always
    /// served; this only picks the one clients are given.
    #[arg(long, value_enum, default_value_t = UrlStyleArg::Auto)]
    url_style: UrlStyleArg,

    /// How long a client has, from the first byte of a request, to send the request
    /// line and headers before its connection is closed.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    header_timeout: Duration,

    /// How long a connection may stay open without a request (after it opens, and
    /// between keep-alive requests) before it is closed.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    idle_timeout: Duration,

    /// How long a request body may take to arrive whole; a slower upload is
    /// answered 408 and its connection closed. Raise it for large uploads over slow
    /// links.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    body_timeout: Duration,

    /// Connections the API accepts at once. At the cap, a new connection closes the
    /// one that has been idle longest; only when every connection has a request
    /// under way is it refused (503). Each connection costs a file descriptor.
    #[arg(long, value_name = "N", default_value_t = gust_api::ConnectionLimits::default().max_connections)]
    max_connections: usize,

    /// Asynchronous (Event) invocations run at once [default: 4 per CPU, at least 8].
    #[arg(long, value_name = "N")]
    async_workers: Option<usize>,

    /// Wait before the first retry of a failed asynchronous invocation; the second
    /// retry waits twice as long (AWS: about a minute).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    async_retry_base: Duration,

    /// Log filter for the server's own logs on stderr (error, warn, info, debug,
    /// trace, or a tracing filter such as gust_api=debug).
    #[arg(long, value_name = "FILTER", env = env::LOG_LEVEL, default_value = "info")]
    log_level: String,
}

/// Runs `gust serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = config(&args)?;
    install_tracing(&args.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gust")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal().context("installing the SIGINT/SIGTERM handlers")?;
        gust_server::serve(config, shutdown)
            .await
            .map_err(|e| anyhow!("gust serve failed: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn config(args: &ServeArgs) -> Result<ServeConfig> {
    let memory_capacity_mb = match args.memory {
        Some(mb) if mb < MIN_FUNCTION_MEMORY_MB => bail!(
            "--memory {mb} is below {MIN_FUNCTION_MEMORY_MB} MB, the smallest function size; \
             give the capacity all instances together may reserve, in MB"
        ),
        Some(mb) => mb,
        None => default_memory_mb()?,
    };
    let log_bytes_per_function = usize::try_from(args.log_bytes).map_err(|_| {
        anyhow!(
            "--log-bytes {} is too large for this machine",
            args.log_bytes
        )
    })?;
    Ok(ServeConfig {
        listen: parse_listen(&args.listen)?,
        data_dir: match &args.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        },
        isolation: args.isolation.into(),
        memory_capacity_mb,
        idle_ttl: args.idle_ttl,
        freeze_idle_after: args.freeze_idle_after,
        queue_timeout: args.queue_timeout,
        log_bytes_per_function,
        region: args.region.clone(),
        account_concurrency: args.account_concurrency,
        access_keys: gust_api::sigv4::AccessKeys::parse(&args.access_keys.join(","))
            .map_err(|e| anyhow!("--access-key: {e}"))?,
        allow_second_rates: args.allow_second_rates,
        events: gust_server::EventsConfig {
            workers: match args.async_workers {
                Some(0) => bail!("--async-workers must be at least 1"),
                Some(n) => n,
                None => gust_server::EventsConfig::default().workers,
            },
            retry_base: args.async_retry_base,
            ..gust_server::EventsConfig::default()
        },
        connections: connection_limits(args)?,
        url_style: args.url_style.into(),
        sdk_dir: args.sdk_dir.clone(),
        cpu: cpu_share(args)?,
        tmp_disk_mb: match args.tmp_disk {
            Some(mb) if mb < 512 => bail!(
                "--tmp-disk {mb} is below 512 MB, one default /tmp; give the disk all \
                 instances' /tmp together may be promised, in MB"
            ),
            other => other,
        },
    })
}

fn cpu_share(args: &ServeArgs) -> Result<gust_server::CpuShare> {
    if args.cpu_period < Duration::from_millis(1) || args.cpu_period > Duration::from_secs(1) {
        bail!(
            "--cpu-period {:?} is outside what the kernel accepts (1ms to 1s)",
            args.cpu_period
        );
    }
    Ok(gust_server::CpuShare {
        min_period: args.cpu_period,
        burst: args.cpu_burst == crate::network::Switch::On,
    })
}

fn connection_limits(args: &ServeArgs) -> Result<gust_api::ConnectionLimits> {
    for (flag, d) in [
        ("--header-timeout", args.header_timeout),
        ("--idle-timeout", args.idle_timeout),
        ("--body-timeout", args.body_timeout),
    ] {
        if d.is_zero() {
            bail!("{flag} must be longer than 0");
        }
    }
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    Ok(gust_api::ConnectionLimits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        body_timeout: args.body_timeout,
        max_connections: args.max_connections,
    })
}

fn parse_listen(raw: &str) -> Result<SocketAddr> {
    if let Ok(addr) = raw.parse() {
        return Ok(addr);
    }
    raw.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            anyhow!("invalid --listen address '{raw}'; expected HOST:PORT, e.g. 127.0.0.1:9000")
        })
}

/// The data directory `gust serve` would use: `given`, else `$GUST_DATA_DIR`,
/// else the default.
pub fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    match given.or_else(|| std::env::var_os(env::DATA_DIR).map(PathBuf::from)) {
        Some(dir) => Ok(dir),
        None => default_data_dir(),
    }
}

fn default_data_dir() -> Result<PathBuf> {
    data_dir_from(
        std::env::var_os(env::XDG_DATA_HOME).map(PathBuf::from),
        std::env::var_os(env::HOME).map(PathBuf::from),
    )
}

/// `$XDG_DATA_HOME/gust`, else `$HOME/.local/share/gust`. Relative XDG paths are
/// ignored, as the XDG spec asks.
fn data_dir_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(xdg) = xdg.filter(|p| p.is_absolute()) {
        return Ok(xdg.join("gust"));
    }
    if let Some(home) = home.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(home.join(".local/share/gust"));
    }
    bail!("cannot choose a data directory: neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR")
}

fn default_memory_mb() -> Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .context("reading /proc/meminfo to size the memory capacity; pass --memory MB instead")?;
    let total_mb = mem_total_mb(&meminfo)
        .context("no MemTotal line in /proc/meminfo; pass --memory MB instead")?;
    Ok((total_mb as f64 * DEFAULT_MEMORY_SHARE) as u64)
}

/// `MemTotal` of `/proc/meminfo`, in MB.
fn mem_total_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn install_tracing(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| {
        anyhow!("invalid --log-level '{filter}' ({e}); use error, warn, info, debug or trace")
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // When stderr cannot be written (its file is on a full disk), drop the line:
        // the default reports the failure with eprintln!, which panics in whatever
        // task was logging, so a full disk would abort invocations mid-flight.
        .log_internal_errors(false)
        .try_init()
        .map_err(|e| anyhow!("installing the logger: {e}"))
}

/// A future that resolves on the first SIGINT or SIGTERM. Must be called inside the
/// runtime; registering up front means a signal during startup is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        // Not eprintln!, which panics when stderr cannot be written.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "gust: {name} received, shutting down");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ServeArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let argv = std::iter::once("gust-serve").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().serve
    }

    #[test]
    fn freezing_defaults_on_and_can_be_turned_off() {
        assert_eq!(parse(&[]).freeze_idle_after, Some(Duration::from_secs(1)));
        let off = parse(&["--freeze-idle-after", "off"]);
        assert_eq!(off.freeze_idle_after, None);
        let at = parse(&["--freeze-idle-after", "250ms"]);
        assert_eq!(at.freeze_idle_after, Some(Duration::from_millis(250)));
    }

    #[test]
    fn connection_limits_default_to_the_servers_and_refuse_zero() {
        let defaults = connection_limits(&parse(&[])).unwrap();
        assert_eq!(defaults, gust_api::ConnectionLimits::default());
        let set = connection_limits(&parse(&[
            "--header-timeout",
            "2s",
            "--idle-timeout",
            "1s",
            "--body-timeout",
            "3s",
            "--max-connections",
            "64",
        ]))
        .unwrap();
        assert_eq!(set.header_timeout, Duration::from_secs(2));
        assert_eq!(set.max_connections, 64);
        let zero = connection_limits(&parse(&["--idle-timeout", "0s"])).unwrap_err();
        assert!(zero.to_string().contains("--idle-timeout"), "{zero}");
    }

    #[test]
    fn mem_total_is_read_in_mb() {
        let meminfo = "MemTotal:       16318612 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total_mb(meminfo), Some(15936));
        assert_eq!(mem_total_mb("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn data_dir_follows_xdg_then_home() {
        let xdg = data_dir_from(Some("/xdg".into()), Some("/home/me".into())).unwrap();
        assert_eq!(xdg, PathBuf::from("/xdg/gust"));
        let relative = data_dir_from(Some("rel".into()), Some("/home/me".into())).unwrap();
        assert_eq!(relative, PathBuf::from("/home/me/.local/share/gust"));
        let neither = data_dir_from(None, None).unwrap_err();
        assert!(neither.to_string().contains("--data-dir"), "{neither}");
    }

    #[test]
    fn listen_accepts_addresses_and_host_names() {
        assert_eq!(
            parse_listen("0.0.0.0:9000").unwrap(),
            "0.0.0.0:9000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parse_listen("localhost:0").unwrap().port(), 0);
        let bad = parse_listen("9000").unwrap_err();
        assert!(bad.to_string().contains("HOST:PORT"), "{bad}");
    }
}
