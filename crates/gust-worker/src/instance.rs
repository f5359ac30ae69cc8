//! Starting instances and running invocations on them.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gust_sandbox::{
    Entrypoint, ExitReport, InstanceProcess, LaunchSpec, PrewarmTemplate, Sandbox, SandboxError,
};
use gust_types::{FunctionConfig, FunctionError, Runtime};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::AbortHandle;

use crate::host::{is_system_path, RuntimeHost, RuntimeHostError};
use crate::logs::FunctionLog;
use crate::output::OutputCapture;
use crate::runtime_api::{self, Job, Reply, RtState, Shared};

/// How long a runtime may take to initialise (Lambda's on-demand init limit).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an instance runs: one version of one function, resolved.
#[derive(Debug)]
pub struct InstanceSpec {
    /// The function version's configuration.
    pub config: Arc<FunctionConfig>,
    /// Host path of the extracted code.
    pub code_dir: PathBuf,
    /// Host path of the function's merged layers (its `/opt`), if it has any.
    pub opt_dir: Option<PathBuf>,
    /// Where the instance's output goes.
    pub log: Arc<FunctionLog>,
    /// Whether the function may send traffic beyond its Runtime API (a gust-only
    /// per-function setting, `PUT /gust/v1/functions/{name}/network`).
    pub outbound: bool,
}

/// One invocation's input.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The request id, also the caller's `x-amzn-RequestId`.
    pub request_id: Arc<str>,
    /// The event.
    pub payload: Bytes,
    /// The ARN the caller invoked (qualified when a qualifier was given).
    pub invoked_arn: String,
    /// `X-Amz-Client-Context`, decoded from base64.
    pub client_context: Option<String>,
    /// Whether the caller wants the log tail.
    pub want_tail: bool,
    /// Its trace header (`Lambda-Runtime-Trace-Id`), lineage included; `None`:
    /// a new one.
    pub trace: Option<String>,
    /// Where the response goes, piece by piece, when the caller wants it streamed
    /// (InvokeWithResponseStream, a streaming function URL); `None`: returned whole.
    pub stream: Option<crate::streaming::StreamSink>,
}

/// How an invocation ended.
#[derive(Debug)]
pub struct InvokeEnd {
    /// The result, or the error JSON when `function_error`.
    pub payload: Bytes,
    /// Whether `payload` is a function error.
    pub function_error: bool,
    /// The invocation's log tail, when asked for.
    pub log_tail: Option<Vec<u8>>,
    /// Whether the instance may serve another invocation.
    pub reusable: bool,
    /// The figures of its REPORT line, for metrics and billing.
    pub report: Report,
}

/// What an invocation's REPORT line says, as numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// How long it ran.
    pub duration: Duration,
    /// Whether it ran on an instance kept for provisioned concurrency (set by the
    /// scheduler, which knows).
    pub provisioned: bool,
    /// Billed Duration, ms (the duration rounded up to the millisecond, as Lambda).
    pub billed_ms: u64,
    /// The function's memory size, MB.
    pub memory_mb: u32,
    /// Max Memory Used, MB.
    pub max_memory_mb: u64,
    /// Init Duration, when the invocation started its instance (a cold start).
    pub init: Option<Duration>,
}

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The function's code failed to initialise; `payload` is the error JSON the
    /// caller receives as a function error.
    #[error("function initialisation failed")]
    Init {
        /// The error JSON.
        payload: Bytes,
        /// The log tail of the failed start, when asked for.
        log_tail: Option<Vec<u8>>,
    },
    /// The runtime is not available on this host.
    #[error(transparent)]
    Runtime(#[from] RuntimeHostError),
    /// The sandbox could not launch the instance.
    #[error("could not launch an instance: {0}")]
    Sandbox(#[from] SandboxError),
}

impl StartError {
    /// Whether the host was short of something idle instances hold (see
    /// [`SandboxError::Exhausted`]): ending one may let the start succeed.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, StartError::Sandbox(SandboxError::Exhausted(_)))
    }
}

/// Starts instances.
pub struct Worker {
    sandbox: Arc<dyn Sandbox>,
    host: Arc<RuntimeHost>,
    region: String,
    /// Notified whenever an instance's process has been torn down (its memory,
    /// cgroup and `/tmp` image are then free).
    released: Arc<Notify>,
    /// Each function's credentials.
    keys: Arc<crate::credentials::FunctionKeys>,
    /// Where instances reach gust's API, once the server has said.
    gateway: std::sync::OnceLock<Gateway>,
}

/// How instances reach gust's own API: the URL their SDKs use
/// (`AWS_ENDPOINT_URL`), and where connections accepted on an instance's gateway
/// listener go (the server serves them as its own).
#[derive(Debug, Clone)]
pub struct Gateway {
    /// `http://127.0.0.1:PORT`: the address clients outside use too.
    pub url: String,
    /// The server's queue of connections from instances.
    pub connections: mpsc::Sender<tokio::net::TcpStream>,
}

impl Worker {
    /// A worker launching through `sandbox`.
    pub fn new(sandbox: Arc<dyn Sandbox>, host: Arc<RuntimeHost>, region: String) -> Worker {
        Worker {
            sandbox,
            host,
            region,
            released: Arc::new(Notify::new()),
            keys: Arc::new(crate::credentials::FunctionKeys::new()),
            gateway: std::sync::OnceLock::new(),
        }
    }

    /// Each function's credentials, which the gateway accepts.
    pub fn function_keys(&self) -> &Arc<crate::credentials::FunctionKeys> {
        &self.keys
    }

    /// Says where instances reach gust's API (once; later calls are ignored).
    pub fn set_gateway(&self, gateway: Gateway) {
        let _ = self.gateway.set(gateway);
    }

    /// Notified (`notify_waiters`) whenever an instance's process has been torn
    /// down, which happens on a blocking thread after the instance is dropped.
    pub fn released(&self) -> &Notify {
        &self.released
    }

    /// What the sandbox keeps ready ahead of demand now.
    pub fn pool_levels(&self) -> gust_sandbox::PoolLevels {
        self.sandbox.pool_levels()
    }

    /// The sandbox's name (`linux`, `linux-rootless`, `none`).
    pub fn isolation(&self) -> &'static str {
        self.sandbox.name()
    }

    /// Why instances cannot have outbound network here, if they cannot.
    pub fn outbound_unavailable(&self) -> Option<&'static str> {
        self.sandbox.outbound_unavailable()
    }

    /// What runs first in an instance of `runtime`, and the host directories it needs.
    fn entrypoint(&self, runtime: Runtime) -> Result<(Entrypoint, Vec<PathBuf>), RuntimeHostError> {
        let mut host_paths = Vec::new();
        let entrypoint = match runtime {
            Runtime::Python311 | Runtime::Nodejs20 => {
                let interp = self.host.interpreter(runtime)?;
                if !is_system_path(&interp.prefix) {
                    host_paths.push(interp.prefix.clone());
                }
                let script = match runtime {
                    Runtime::Python311 => gust_runtimes::PYTHON_SCRIPT,
                    _ => gust_runtimes::NODE_SCRIPT,
                };
                // Python skips `site` (-S): it costs tens of milliseconds per cold
                // start (site-packages' .pth files), and a function should see only
                // its own code and the standard library, as on Lambda.
                let args = match runtime {
                    Runtime::Python311 => vec!["-S".to_string()],
                    _ => vec![],
                };
                Entrypoint::Managed {
                    interpreter: interp.executable.clone(),
                    args,
                    script: script.to_string(),
                }
            }
            _ => Entrypoint::TaskBootstrap,
        };
        Ok((entrypoint, host_paths))
    }

    /// Asks the sandbox to keep `count` runtimes of a managed `runtime` started
    /// ahead of demand (gust's bootstraps wait for their function when started
    /// prewarmed; a function whose environment changes how the interpreter starts
    /// is launched the ordinary way). Does nothing for other runtimes or where the
    /// interpreter is missing.
    pub fn prewarm(&self, runtime: Runtime, count: usize) {
        let startup_prefixes: &[&str] = match runtime {
            Runtime::Python311 => &["PYTHON", "LD_", "LC_"],
            Runtime::Nodejs20 => &["NODE_", "UV_", "LD_", "LC_", "OPENSSL_", "SSL_CERT_"],
            _ => return,
        };
        let Ok((entrypoint, host_paths)) = self.entrypoint(runtime) else {
            return;
        };
        self.sandbox.prewarm(PrewarmTemplate {
            entrypoint,
            runtime_dir: self.host.runtime_dir.clone(),
            host_paths,
            startup_env: crate::env::startup(),
            startup_prefixes: startup_prefixes.iter().map(|p| p.to_string()).collect(),
            count,
        });
    }

    /// Launches an instance and waits until its runtime asks for the first invocation.
    /// Output during initialisation is attributed to `first` (the invocation that
    /// caused the cold start), whose log tail includes it. Without `first` the
    /// instance is provisioned ahead of demand: its environment says so and its first
    /// REPORT line carries no Init Duration, as on Lambda.
    pub async fn start(
        &self,
        spec: Arc<InstanceSpec>,
        first: Option<&Invocation>,
    ) -> Result<Instance, StartError> {
        let config = &spec.config;
        let instance_id = uuid::Uuid::new_v4().simple().to_string();
        let (entrypoint, host_paths) = self.entrypoint(config.runtime)?;
        let rid = first.map(|f| f.request_id.clone());
        let want_tail = first.is_some_and(|f| f.want_tail);
        if matches!(entrypoint, Entrypoint::TaskBootstrap)
            && !is_executable(&spec.code_dir.join("bootstrap"))
        {
            let payload = init_error_json(
                "Runtime.InvalidEntrypoint",
                &format!(
                    "RequestId: {} Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap]",
                    rid.as_deref().unwrap_or("")
                ),
            );
            spec.log.push(
                rid.as_deref(),
                "INIT_REPORT Phase: init Status: error Error Type: Runtime.InvalidEntrypoint"
                    .into(),
            );
            return Err(StartError::Init {
                payload,
                log_tail: None,
            });
        }
        let launch = LaunchSpec {
            instance_id: instance_id.clone(),
            entrypoint,
            env: crate::env::build(
                &spec,
                &self.region,
                &instance_id,
                first.is_none(),
                self.gateway.get().map(|g| g.url.as_str()),
                &self.keys.issue(&config.name),
            ),
            code_dir: spec.code_dir.clone(),
            opt_dir: spec.opt_dir.clone(),
            runtime_dir: self.host.runtime_dir.clone(),
            host_paths,
            memory_mb: config.memory_mb,
            tmp_mb: config.ephemeral_mb,
            outbound: spec.outbound,
        };
        let launched_at = Instant::now();
        // Launching makes blocking syscalls (clone, mounts, cgroup writes: 1-6 ms);
        // keep them off the async threads that serve warm invocations.
        let sandbox = self.sandbox.clone();
        let launched = tokio::task::spawn_blocking(move || sandbox.launch(&launch))
            .await
            .map_err(|e| SandboxError::io("launching", std::io::Error::other(e.to_string())))??;
        let process: Arc<dyn InstanceProcess> =
            Arc::new(BlockingDrop(Some(launched.process), self.released.clone()));
        let output = Arc::new(
            OutputCapture::new(launched.output, spec.log.clone())
                .map_err(|e| SandboxError::io("watching the instance's output", e))?,
        );
        let init_start = crate::runtime_version::init_start_line(
            config.runtime,
            self.host.interpreter(config.runtime).ok(),
            &self.region,
        );
        match &rid {
            Some(rid) => output.begin(rid.clone(), init_start),
            // Provisioned ahead of demand: Lambda logs its init all the same.
            None => spec.log.push(None, init_start),
        }
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        let (ready_tx, ready_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            jobs: tokio::sync::Mutex::new(jobs_rx),
            state: parking_lot::Mutex::new(RtState {
                ready: Some(ready_tx),
                ..RtState::default()
            }),
            output: output.clone(),
        });
        let listener = tokio::net::TcpListener::from_std(launched.runtime_api)
            .map_err(|e| SandboxError::io("serving the Runtime API", e))?;
        let (exit_tx, exit_rx) = watch::channel(None);
        // `AsyncFd::new` is deprecated because a wrapped fd could change under it; an
        // `OwnedFd` cannot, so the registration is sound here.
        #[allow(deprecated)]
        let exit_fd = AsyncFd::new(
            process
                .exit_fd()
                .try_clone_to_owned()
                .map_err(|e| SandboxError::io("watching the instance's exit", e))?,
        )
        .map_err(|e| SandboxError::io("watching the instance's exit", e))?;
        let tasks = vec![
            tokio::spawn(runtime_api::serve(
                listener,
                shared.clone(),
                instance_id.clone(),
            ))
            .abort_handle(),
            tokio::spawn(output.clone().run()).abort_handle(),
        ];
        let mut tasks = tasks;
        if let (Some(listener), Some(gateway)) = (launched.gateway, self.gateway.get()) {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| SandboxError::io("serving the gateway", e))?;
            tasks.push(
                tokio::spawn(forward_gateway(listener, gateway.connections.clone())).abort_handle(),
            );
        }
        tokio::spawn(watch_exit(
            exit_fd,
            process.clone(),
            output.clone(),
            exit_tx,
        ));

        let mut instance = Instance {
            id: instance_id,
            spec: spec.clone(),
            process,
            shared,
            jobs: jobs_tx,
            exited: exit_rx,
            tasks,
            init_duration: None,
            freeze: Freeze::Running,
        };

        // Wait for the first `next`, an init error, an exit, or the init limit.
        let mut exited = instance.exited.clone();
        let outcome = tokio::select! {
            biased;
            ready = ready_rx => ready.ok(),
            _ = exited.wait_for(Option::is_some) => None,
            _ = tokio::time::sleep(INIT_TIMEOUT) => None,
        };
        match outcome {
            Some(at) => {
                instance.init_duration = first.is_some().then(|| at - launched_at);
                // Initialisation may use more CPU than the function's share; from
                // its first `next` on, the runtime gets its share.
                instance.process.finish_init();
                Ok(instance)
            }
            None => {
                let init_ms = launched_at.elapsed().as_secs_f64() * 1000.0;
                instance.process.kill();
                let reported = instance.shared.state.lock().init_error.take();
                let exit = *instance.exited.borrow();
                let (payload, error_type) = match (reported, exit) {
                    (Some(body), _) => {
                        let t = error_type_of(&body);
                        (body, t)
                    }
                    (None, Some(report)) => {
                        let t = exit_error_type(&report);
                        let msg = format!(
                            "RequestId: {} Error: Runtime exited with error: {report}",
                            rid.as_deref().unwrap_or("")
                        );
                        (init_error_json(t, &msg), t.to_string())
                    }
                    (None, None) => {
                        let msg = format!(
                            "RequestId: {} Error: Runtime failed to initialise within {:.2} seconds",
                            rid.as_deref().unwrap_or(""),
                            INIT_TIMEOUT.as_secs_f64()
                        );
                        (
                            init_error_json("Sandbox.Timedout", &msg),
                            "Sandbox.Timedout".to_string(),
                        )
                    }
                };
                let tail = output.end(
                    [
                        format!("INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}"),
                        String::new(),
                    ],
                    want_tail,
                );
                Err(StartError::Init {
                    payload,
                    log_tail: tail,
                })
            }
        }
    }
}

/// A running instance. The scheduler holds it exclusively while it runs an invocation.
pub struct Instance {
    id: String,
    spec: Arc<InstanceSpec>,
    process: Arc<dyn InstanceProcess>,
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
    exited: watch::Receiver<Option<ExitReport>>,
    tasks: Vec<AbortHandle>,
    /// Set after a cold start; reported (once) in the first invocation's REPORT line.
    init_duration: Option<Duration>,
    /// Where the instance is in being frozen while idle.
    freeze: Freeze,
}

/// An idle instance's freezer state, as the worker last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freeze {
    /// Not frozen.
    Running,
    /// Asked to freeze; the kernel has not yet said every task is frozen.
    Freezing,
    /// The kernel said so (or cannot tell).
    Frozen,
    /// The sandbox cannot freeze it: nothing to try again.
    Unsupported,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("function", &self.spec.config.name)
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl Instance {
    /// The instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The instance's main process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// What the instance runs.
    pub fn spec(&self) -> &Arc<InstanceSpec> {
        &self.spec
    }

    /// Whether the instance's process is still running.
    pub fn is_alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// Current memory use, where the sandbox can tell.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.process.memory_current_bytes()
    }

    /// Freezes the idle instance (its threads and timers stop until the next
    /// invocation thaws it), or, if a freeze is under way but the kernel has not
    /// finished it, asks again: a cgroup v1 freeze that met a task between states
    /// (a `vfork` parent waiting for its child, say) waits for another request. A
    /// few microseconds of cgroup file writes and reads. Returns whether the instance
    /// is now frozen or being frozen; false where the sandbox cannot freeze.
    pub fn freeze(&mut self) -> bool {
        self.freeze = match self.freeze {
            Freeze::Running => match self.process.freeze() {
                true => Freeze::Freezing,
                false => Freeze::Unsupported,
            },
            // Partly frozen whatever this write does: stays thawable.
            Freeze::Freezing => match self.process.frozen() {
                Some(false) => {
                    self.process.freeze();
                    Freeze::Freezing
                }
                Some(true) | None => Freeze::Frozen,
            },
            done @ (Freeze::Frozen | Freeze::Unsupported) => done,
        };
        matches!(self.freeze, Freeze::Freezing | Freeze::Frozen)
    }

    /// Whether the instance is frozen or being frozen (until the next invocation).
    pub fn is_frozen(&self) -> bool {
        matches!(self.freeze, Freeze::Freezing | Freeze::Frozen)
    }

    /// Whether [`freeze`](Self::freeze) has more to do: the instance is not frozen
    /// yet, or the kernel has not confirmed it.
    pub fn wants_freezing(&self) -> bool {
        matches!(self.freeze, Freeze::Running | Freeze::Freezing)
    }

    /// Thaws a frozen instance; when it returns, its processes are runnable. One
    /// cgroup file write: cheap enough for the warm path. An instance that cannot be
    /// thawed is killed (the invocation then ends as a crash, not a hang).
    fn thaw(&mut self) {
        if !matches!(self.freeze, Freeze::Freezing | Freeze::Frozen) {
            return;
        }
        self.freeze = Freeze::Running;
        if let Err(e) = self.process.thaw() {
            tracing::error!(instance = %self.id, error = %e, "could not thaw an instance; stopping it");
            self.process.kill();
        }
    }

    /// Runs one invocation to its end: the runtime's answer, a crash, or the timeout.
    /// A frozen instance is thawed first, before the runtime is handed the event.
    pub async fn invoke(&mut self, inv: Invocation) -> InvokeEnd {
        self.thaw();
        let config = &self.spec.config;
        let started = Instant::now();
        let rid = inv.request_id.clone();
        let timeout = Duration::from_secs(config.timeout_s.into());
        self.shared.output.begin(
            rid.clone(),
            format!("START RequestId: {rid} Version: {}", config.version),
        );
        let (reply_tx, reply_rx) = oneshot::channel();
        let job = Job {
            request_id: rid.clone(),
            payload: inv.payload,
            deadline_ms: epoch_ms() + timeout.as_millis() as u64,
            invoked_arn: inv.invoked_arn,
            client_context: inv.client_context,
            trace_id: inv.trace.unwrap_or_else(trace_id),
            reply: reply_tx,
            stream: inv.stream,
        };
        let mut exited = self.exited.clone();
        let sent = self.jobs.try_send(job).is_ok();
        enum Ended {
            Reply(Reply),
            Exited,
            TimedOut,
        }
        let ended = if !sent {
            Ended::Exited
        } else {
            tokio::select! {
                biased;
                r = reply_rx => r.map_or(Ended::Exited, Ended::Reply),
                _ = exited.wait_for(Option::is_some) => Ended::Exited,
                _ = tokio::time::sleep(timeout) => Ended::TimedOut,
            }
        };
        let (payload, function_error, reusable, status) = match ended {
            Ended::Reply(Reply::Response(body)) => (body, false, true, None),
            Ended::Reply(Reply::Streamed { error: None }) => (Bytes::new(), false, true, None),
            Ended::Reply(Reply::Streamed { error: Some(body) }) => {
                let t = error_type_of(&body);
                (body, true, true, Some(t))
            }
            Ended::Reply(Reply::Error(body)) => {
                let t = error_type_of(&body);
                (body, true, true, Some(t))
            }
            Ended::Reply(Reply::TooLarge) => (
                platform_error(
                    "Function.ResponseSizeTooLarge",
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        runtime_api::MAX_RESPONSE
                    ),
                ),
                true,
                true,
                Some("Function.ResponseSizeTooLarge".to_string()),
            ),
            Ended::Exited => {
                // Give the exit watcher a moment to reap, so the report is known.
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), exited.wait_for(Option::is_some))
                        .await;
                let report = (*self.exited.borrow()).unwrap_or(ExitReport {
                    code: None,
                    signal: None,
                    oom_killed: false,
                });
                let t = exit_error_type(&report);
                let msg = format!("RequestId: {rid} Error: Runtime exited with error: {report}");
                (platform_error(t, msg), true, false, Some(t.to_string()))
            }
            Ended::TimedOut => {
                self.process.kill();
                let secs = timeout.as_secs_f64();
                self.shared.output.platform_line(format!(
                    "{} {rid} Task timed out after {secs:.2} seconds",
                    rfc3339_now()
                ));
                (
                    platform_error(
                        "Sandbox.Timedout",
                        format!("RequestId: {rid} Error: Task timed out after {secs:.2} seconds"),
                    ),
                    true,
                    false,
                    Some("Sandbox.Timedout".to_string()),
                )
            }
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let max_mb = self
            .process
            .memory_peak_bytes()
            .map_or(0, |b| b.div_ceil(1024 * 1024));
        let mut report = format!(
            "REPORT RequestId: {rid}\tDuration: {elapsed_ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {max_mb} MB",
            elapsed_ms.ceil() as u64,
            config.memory_mb,
        );
        let init = self.init_duration.take();
        if let Some(init) = init {
            report.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        let figures = Report {
            duration: started.elapsed(),
            billed_ms: elapsed_ms.ceil() as u64,
            memory_mb: config.memory_mb,
            max_memory_mb: max_mb,
            init,
            provisioned: false,
        };
        if let (Some(t), false) = (&status, reusable) {
            report.push_str(&format!("\tStatus: error\tError Type: {t}"));
        }
        let log_tail = self
            .shared
            .output
            .end([format!("END RequestId: {rid}"), report], inv.want_tail);
        InvokeEnd {
            payload,
            function_error,
            log_tail,
            reusable: reusable && self.is_alive(),
            report: figures,
        }
    }

    /// Stops the instance: kills its processes and its Runtime API.
    pub fn kill(&self) {
        self.process.kill();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.process.kill();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Hands the connections an instance opens to gust's API to the server.
async fn forward_gateway(
    listener: tokio::net::TcpListener,
    to: mpsc::Sender<tokio::net::TcpStream>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if to.send(stream).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "accepting a gateway connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An instance's process whose drop (kill, reap, cgroup removal: blocking syscalls
/// of a few milliseconds) runs on a blocking thread when a runtime is present.
/// The worker's `released` is notified once it is done.
struct BlockingDrop(Option<Box<dyn InstanceProcess>>, Arc<Notify>);

impl BlockingDrop {
    fn inner(&self) -> &dyn InstanceProcess {
        // Only `drop` takes the box out.
        self.0.as_deref().expect("process present until drop")
    }
}

impl Drop for BlockingDrop {
    fn drop(&mut self) {
        let Some(process) = self.0.take() else { return };
        let released = self.1.clone();
        let teardown = move || {
            drop(process);
            released.notify_waiters();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(teardown);
            }
            Err(_) => teardown(),
        }
    }
}

impl InstanceProcess for BlockingDrop {
    fn pid(&self) -> u32 {
        self.inner().pid()
    }
    fn exit_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner().exit_fd()
    }
    fn try_wait(&self) -> Option<ExitReport> {
        self.inner().try_wait()
    }
    fn kill(&self) {
        self.inner().kill()
    }
    fn memory_peak_bytes(&self) -> Option<u64> {
        self.inner().memory_peak_bytes()
    }
    fn memory_current_bytes(&self) -> Option<u64> {
        self.inner().memory_current_bytes()
    }
    fn finish_init(&self) {
        self.inner().finish_init()
    }
    fn freeze(&self) -> bool {
        self.inner().freeze()
    }
    fn thaw(&self) -> std::io::Result<()> {
        self.inner().thaw()
    }
    fn frozen(&self) -> Option<bool> {
        self.inner().frozen()
    }
}

/// Waits for the instance's main process to exit, kills what is left of it, reaps it,
/// and publishes how it ended.
async fn watch_exit(
    fd: AsyncFd<std::os::fd::OwnedFd>,
    process: Arc<dyn InstanceProcess>,
    output: Arc<OutputCapture>,
    tx: watch::Sender<Option<ExitReport>>,
) {
    let _ = fd.readable().await;
    let _ = fd.as_fd();
    // The main process is a zombie now: kill the rest of the instance while its pid
    // still names it, then reap.
    process.kill();
    let mut report = process.try_wait();
    for _ in 0..100 {
        if report.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        report = process.try_wait();
    }
    output.drain();
    let _ = tx.send(Some(report.unwrap_or(ExitReport {
        code: None,
        signal: None,
        oom_killed: false,
    })));
}

fn exit_error_type(report: &ExitReport) -> &'static str {
    if report.oom_killed {
        "Runtime.OutOfMemory"
    } else {
        "Runtime.ExitError"
    }
}

fn error_type_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Runtime.Unknown".to_string())
}

fn platform_error(error_type: &str, message: String) -> Bytes {
    Bytes::from(
        FunctionError {
            error_type: error_type.to_string(),
            message,
        }
        .to_json(),
    )
}

fn init_error_json(error_type: &str, message: &str) -> Bytes {
    platform_error(error_type, message.to_string())
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An X-Ray style trace header, as Lambda passes in `Lambda-Runtime-Trace-Id`.
fn trace_id() -> String {
    let (root, parent) = new_trace_ids();
    format!("Root={root};Parent={parent};Sampled=0")
}

/// A new X-Ray root id (`1-<epoch seconds, hex>-<24 hex>`) and parent id.
pub fn new_trace_ids() -> (String, String) {
    let secs = epoch_ms() / 1000;
    let r = uuid::Uuid::new_v4().simple().to_string();
    (format!("1-{secs:08x}-{}", &r[..24]), r[16..32].to_string())
}
