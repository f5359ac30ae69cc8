//! The gust server: assembles the store, the sandbox, the worker, the scheduler, the
//! platform and the gateway from one [`ServeConfig`], and runs them until shutdown,
//! stopping them in order. The crate graph reads as the data flow does: gateway
//! (`gust-api`) → platform → scheduler → worker → sandbox, with this crate above
//! them all.
//!
//! # Layout
//! - [`serve`] and [`Server`]: binding, serving, shutting down.
//! - [`ServeConfig`]: the validated server configuration (`gust serve`'s flags).

#![forbid(unsafe_code)]

mod config;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gust_api::{ConnectionLimits, Gateway};
use gust_platform::{Platform, PlatformConfig};
use gust_sandbox::Sandbox;
use gust_scheduler::{Scheduler, SchedulerConfig};
use gust_store::archive::DirArchiveStore;
use gust_store::sqlite::SqliteStore;
use gust_types::Region;
use gust_worker::{RuntimeHost, Worker};

pub use config::{CpuShare, Isolation, ServeConfig};
pub use gust_api::{UrlStyleChoice, DEFAULT_ACCOUNT_CONCURRENCY};
pub use gust_events::EventsConfig;

/// How long in-flight invocations may run on after a shutdown signal before their
/// instances are stopped and they fail with "gust is shutting down".
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The server failed; the message says what it was doing.
    #[error("{0}")]
    Failed(String),
}

fn failed(context: &str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Failed(format!("{context}: {e}"))
}

/// Runs the platform until `shutdown` resolves, then stops gracefully: no new
/// connections, in-flight invocations get [`SHUTDOWN_GRACE`] to finish, then every
/// instance is stopped. Prints `gust listening on http://ADDR` on stdout once it
/// accepts requests, and the dashboard's address on the next line.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let server = Server::bind(config).await?;
    // Not println!, which panics when stdout cannot be written (a full disk).
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "gust listening on http://{}", server.local_addr());
    let _ = writeln!(
        out,
        "gust dashboard at http://{}{}",
        reachable(server.local_addr()),
        gust_api::DASHBOARD_PATH
    );
    let _ = out.flush();
    drop(out);
    server.run(shutdown).await
}

/// A bound, ready server: the data directory is open, functions are loaded and the
/// listener accepts connections. Tests use it to learn the port before running.
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
    scheduler: Arc<Scheduler>,
    platform: Arc<Platform>,
    /// Keys whose signatures `AWS_IAM` function URLs accept.
    access_keys: gust_api::sigv4::AccessKeys,
    /// The region every credential scope must name.
    region: String,
    /// Timeouts and the cap of the listener.
    connections: ConnectionLimits,
    /// The object store.
    buckets: Arc<gust_buckets::Buckets>,
    /// Connections instances opened to gust's API.
    gateway: tokio::sync::mpsc::Receiver<tokio::net::TcpStream>,
    /// State machines and their executions.
    workflows: Arc<gust_workflows::Workflows>,
}

impl Server {
    /// Opens the data directory, picks the sandbox, loads every function and binds.
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        #[cfg(target_os = "linux")]
        match gust_sandbox::linux::raise_open_files_limit() {
            Ok((before, after)) => {
                if after > before {
                    tracing::debug!(before, after, "raised the open-files limit");
                }
                if after < 16_384 {
                    tracing::warn!(
                        "gust may open only {after} files (RLIMIT_NOFILE) and holds about ten \
                         per warm instance; raise the hard limit (ulimit -Hn, LimitNOFILE=) \
                         for more instances"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read or raise the open-files limit"),
        }
        let data = &config.data_dir;
        if let Some(warning) = gust_store::data_dir::prepare(data)
            .map_err(|e| failed("preparing the data directory", e))?
        {
            tracing::warn!("{warning}");
        }
        let store = Arc::new(
            SqliteStore::open(&data.join("gust.db"))
                .map_err(|e| failed("opening the function store", e))?,
        );
        let archives = DirArchiveStore::open(&data.join("archives"))
            .map_err(|e| failed("opening the archive store", e))?;
        let runtime_dir = data.join("runtimes");
        gust_runtimes::install(&runtime_dir)
            .map_err(|e| failed("installing the runtime bootstraps", e))?;
        let sdk_dir = config.sdk_dir.clone().unwrap_or_else(|| data.join("sdk"));
        let sdk = gust_runtimes::link_sdk(&runtime_dir, &sdk_dir)
            .map_err(|e| failed("linking the runtimes' AWS SDKs", e))?;
        match &sdk {
            Some(dir) => tracing::info!(sdk = %dir.display(), "functions can import the AWS SDKs"),
            None => tracing::info!(
                "no AWS SDKs for the managed runtimes at {} (run `gust sdk install`): functions \
                 that import boto3 or @aws-sdk must bring their own",
                sdk_dir.display()
            ),
        }
        let mut host = RuntimeHost::discover(runtime_dir.clone());
        host.sdk_dir = sdk.clone();
        let host = Arc::new(host);
        if host.python.is_ok() {
            let module = runtime_dir.join(gust_runtimes::PYTHON_RUNTIME_MODULE);
            if let Err(e) = host.compile_python(&module) {
                tracing::warn!(error = %e, "could not precompile the Python runtime: cold starts compile it");
            }
        }
        for missing in [&host.python, &host.node]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            tracing::warn!("{missing}");
        }
        if !config.listen.ip().is_loopback() && config.access_keys.is_empty() {
            return Err(ServeError::Failed(format!(
                "refusing to listen on {} without credentials: anyone who can reach it could \
                 deploy and run code. Give --access-key AKID:SECRET (or GUST_ACCESS_KEYS) so \
                 every request must be signed, or listen on 127.0.0.1",
                config.listen
            )));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| failed(&format!("listening on {}", config.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| failed("reading the listen address", e))?;
        // Instances reach gust's API at the address clients outside use: the
        // sandbox listens on the same port inside each instance's loopback.
        let sandbox = pick_sandbox(
            config.isolation,
            data,
            addr.port(),
            sdk.clone(),
            config.cpu,
            config.tmp_disk_mb,
        )?;
        let worker = Arc::new(Worker::new(sandbox, host, config.region.clone()));
        let (gateway_tx, gateway_rx) = tokio::sync::mpsc::channel(64);
        worker.set_gateway(gust_worker::Gateway {
            url: format!("http://{}", reachable(addr)),
            connections: gateway_tx,
        });
        let function_keys = worker.function_keys().clone();
        worker.prewarm(gust_types::Runtime::Python311, PREWARMED_PYTHON);
        worker.prewarm(gust_types::Runtime::Nodejs20, PREWARMED_NODE);
        let scheduler = Scheduler::new(
            worker,
            SchedulerConfig {
                memory_capacity_mb: config.memory_capacity_mb,
                idle_ttl: config.idle_ttl,
                freeze_idle_after: config.freeze_idle_after,
            },
        );
        let url_style =
            gust_api::resolve_url_style(config.url_style, addr, reachable(addr), &config.region)
                .await;
        let platform = Arc::new(
            Platform::open(
                PlatformConfig {
                    region: Region(config.region.clone()),
                    queue_timeout: config.queue_timeout,
                    log_bytes_per_function: config.log_bytes_per_function,
                    base_url: format!("http://{}", reachable(addr)),
                    account_concurrency: config.account_concurrency,
                    allow_second_rates: config.allow_second_rates,
                    url_style,
                },
                store.clone(),
                store.clone(),
                Arc::new(archives),
                store.clone(),
                scheduler.clone(),
            )
            .map_err(|e| failed("loading functions", e))?,
        );
        platform
            .attach_events(store.clone(), config.events.clone())
            .map_err(|e| failed("opening the asynchronous invocation queue", e))?;
        let buckets = gust_buckets::Buckets::open(
            store.clone(),
            &data.join("buckets"),
            config.region.clone(),
            gust_api::bucket_events(&platform),
        )
        .map_err(|e| failed("opening the object store", e))?;
        let workflows = gust_workflows::Workflows::new(
            store,
            gust_api::workflow_tasks(&platform, buckets.clone()),
            &config.region,
        );
        tracing::info!(%addr, data_dir = %data.display(), memory_mb = config.memory_capacity_mb, "gust is serving");
        Ok(Server {
            listener,
            addr,
            scheduler,
            platform,
            access_keys: config.access_keys.clone().with_function_keys(function_keys),
            region: config.region.clone(),
            connections: config.connections,
            buckets,
            gateway: gateway_rx,
            workflows,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then stops gracefully.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            scheduler,
            platform,
            access_keys,
            region,
            connections,
            buckets,
            gateway,
            workflows,
            ..
        } = self;
        let expiry = tokio::spawn(scheduler.clone().run_expiry());
        let freezing = tokio::spawn(scheduler.clone().run_freezing());
        let provisioning = tokio::spawn(
            scheduler
                .clone()
                .run_provisioning(Duration::from_millis(250)),
        );
        platform.start_events();
        // Executions a previous run left RUNNING go on from their histories.
        if let Err(e) = workflows.resume() {
            tracing::error!(error = %e, "cannot resume workflow executions");
        }
        let events = platform.clone();
        let flows = workflows.clone();
        // Schedules stop first: a firing is recorded before it is dispatched, and one
        // refused because the scheduler is stopping is un-recorded for the next start.
        let schedules = tokio::spawn(platform.clone().run_schedules());
        let schedules_stop = schedules.abort_handle();
        let sched = scheduler.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight invocations");
            schedules_stop.abort();
            // Executions stop where they are and resume at the next start.
            flows.shutdown();
            events.stop_dispatching_events();
            sched.shutdown();
            tokio::spawn(async move {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                sched.kill_all();
            });
        };
        Gateway {
            platform: platform.clone(),
            buckets,
            workflows,
            access_keys,
            region,
            connections,
        }
        .serve(listener, gateway, signal)
        .await;
        // Asynchronous attempts under way end (or are stopped at the grace period's
        // end and go back to the queue) and are recorded before instances go.
        platform.shutdown_events().await;
        scheduler.kill_all();
        expiry.abort();
        provisioning.abort();
        freezing.abort();
        // Let dropped instances' tasks run their clean-up before the runtime goes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::info!("gust stopped");
        Ok(())
    }
}

/// `addr` as a client can reach it: the loopback address of the same family when
/// gust listens on all interfaces (`0.0.0.0` or `::` cannot be connected to).
fn reachable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Pre-forked sandbox inits kept waiting, so a cold start only has to assign one.
const SANDBOX_POOL: usize = 4;

/// Python runtimes kept started in pooled sandboxes, waiting for a function: a
/// Python cold start then skips the interpreter's start-up (about 5 MB each).
const PREWARMED_PYTHON: usize = 2;

/// Node.js runtimes kept the same way (about 40 MB each, so fewer).
const PREWARMED_NODE: usize = 1;

fn pick_sandbox(
    isolation: Isolation,
    data: &Path,
    gateway_port: u16,
    sdk_dir: Option<std::path::PathBuf>,
    cpu: CpuShare,
    tmp_disk_mb: Option<u64>,
) -> Result<Arc<dyn Sandbox>, ServeError> {
    let none = || -> Arc<dyn Sandbox> {
        tracing::warn!(
            "ISOLATION IS OFF: functions run as plain processes with gust's own privileges and \
             can read and change anything gust can. Use this only on a development machine."
        );
        Arc::new(gust_sandbox::none::NoIsolation)
    };
    let linux = || {
        let config = gust_sandbox::linux::LinuxSandboxConfig {
            // Each instance's /tmp, a filesystem image of its own (with root).
            scratch_dir: Some(data.join("scratch")),
            scratch_capacity_mb: tmp_disk_mb,
            gateway_port: Some(gateway_port),
            sdk_dir,
            cpu: gust_sandbox::linux::CpuPolicy {
                min_period_us: cpu.min_period.as_micros() as u64,
                burst: cpu.burst,
                ..Default::default()
            },
            ..Default::default()
        };
        gust_sandbox::linux::LinuxSandbox::probe_with(config).map(|s| {
            tracing::info!(
                cgroups = s.cgroup_version(),
                tmp_on_disk = s.tmp_on_disk(),
                pool = SANDBOX_POOL,
                rootless = s.privilege() != gust_sandbox::linux::Privilege::Root,
                "Linux sandbox on"
            );
            let gaps = s.not_enforced();
            if !gaps.is_empty() {
                tracing::warn!(
                    "gust is not root: the Linux sandbox runs in user namespaces (namespaces, \
                     read-only root, unprivileged user, seccomp and per-instance process \
                     limits are enforced). NOT enforced: {}",
                    gaps.join("; ")
                );
            }
            Arc::new(s.with_pool(SANDBOX_POOL)) as Arc<dyn Sandbox>
        })
    };
    match isolation {
        Isolation::None => Ok(none()),
        Isolation::Linux => linux().map_err(|e| {
            ServeError::Failed(format!(
                "--isolation linux: the Linux sandbox is unavailable: {e}"
            ))
        }),
        Isolation::Auto => linux().or_else(|e| {
            tracing::warn!(
                "the Linux sandbox is unavailable here ({e}); falling back to no isolation"
            );
            Ok(none())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_linked_as_loopback() {
        let at = |s: &str| reachable(s.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:9322"), "127.0.0.1:9322");
        assert_eq!(at("[::]:9322"), "[::1]:9322");
        assert_eq!(at("192.0.2.7:80"), "192.0.2.7:80");
        assert_eq!(at("127.0.0.1:1"), "127.0.0.1:1");
    }
}
