//! A sandbox whose instances are threads speaking the Runtime API, and which records
//! what the scheduler asks of them (freeze, thaw, kill) instead of touching the
//! kernel. Enough to run the real scheduler and worker without root or processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gust_sandbox::{ExitReport, InstanceProcess, LaunchSpec, Launched, Sandbox, SandboxError};
use gust_worker::{FunctionLog, InstanceSpec, RuntimeHost, RuntimeHostError, Worker};

/// What one fake instance went through.
#[derive(Debug, Default)]
pub struct Record {
    /// Whether it is frozen now.
    pub frozen: AtomicBool,
    pub freezes: AtomicUsize,
    pub thaws: AtomicUsize,
    /// Events the runtime received.
    pub events: AtomicUsize,
    /// Events the runtime received while frozen: a frozen runtime would not have.
    pub events_while_frozen: AtomicUsize,
    pub killed: AtomicBool,
    /// How many more times `frozen` answers "not yet", as the kernel does for a v1
    /// freeze that met a task between states.
    pub unconfirmed: AtomicUsize,
    /// The payloads of the events it received, in order.
    pub payloads: Mutex<Vec<String>>,
}

/// Holds back answers: an event whose payload is `hold:KEY` is answered only once
/// the test has called [`Gate::release`] with `KEY`.
#[derive(Debug, Default)]
pub struct Gate {
    released: Mutex<std::collections::HashSet<String>>,
    changed: std::sync::Condvar,
}

impl Gate {
    /// Lets the events held on `key` be answered.
    pub fn release(&self, key: &str) {
        self.released.lock().unwrap().insert(key.to_string());
        self.changed.notify_all();
    }

    fn wait(&self, payload: &[u8]) {
        let Some(key) = std::str::from_utf8(payload)
            .ok()
            .and_then(|p| p.strip_prefix("hold:"))
        else {
            return;
        };
        let mut released = self.released.lock().unwrap();
        while !released.contains(key) {
            released = self.changed.wait(released).unwrap();
        }
    }
}

/// Launches fake instances and keeps each one's record, in launch order.
#[derive(Default)]
pub struct FakeSandbox {
    pub instances: Mutex<Vec<Arc<Record>>>,
    /// What held events wait for.
    pub gate: Arc<Gate>,
}

impl FakeSandbox {
    pub fn record(&self, i: usize) -> Arc<Record> {
        self.instances.lock().unwrap()[i].clone()
    }
}

impl Sandbox for FakeSandbox {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn launch(&self, _spec: &LaunchSpec) -> Result<Launched, SandboxError> {
        let io = |e| SandboxError::io("fake launch", e);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        let (output, out_write) = gust_sandbox::output_pipe().map_err(io)?;
        // Readable (at EOF) once the write end, the "process", is gone.
        let (exit_read, exit_write) = gust_sandbox::output_pipe().map_err(io)?;
        let record = Arc::new(Record::default());
        self.instances.lock().unwrap().push(record.clone());
        let conn = Arc::new(Mutex::new(None::<TcpStream>));
        let runtime = {
            let (record, conn, gate) = (record.clone(), conn.clone(), self.gate.clone());
            move || {
                let _ = run_runtime(addr, &record, &conn, &gate);
            }
        };
        std::thread::spawn(runtime);
        Ok(Launched {
            process: Box::new(FakeProcess {
                record,
                exit_read,
                exit_write: Mutex::new(Some((exit_write, out_write))),
                conn,
            }),
            output,
            runtime_api: listener,
            gateway: None,
        })
    }
}

/// A runtime that answers every event with its payload (a held one once its gate
/// is released).
fn run_runtime(
    addr: std::net::SocketAddr,
    record: &Record,
    conn: &Mutex<Option<TcpStream>>,
    gate: &Gate,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    *conn.lock().unwrap() = Some(stream.try_clone()?);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        writer
            .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: rt\r\n\r\n")?;
        let (headers, body) = read_response(&mut reader)?;
        if record.frozen.load(Ordering::SeqCst) {
            record.events_while_frozen.fetch_add(1, Ordering::SeqCst);
        }
        record
            .payloads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        record.events.fetch_add(1, Ordering::SeqCst);
        gate.wait(&body);
        let rid = headers
            .iter()
            .find(|(k, _)| k == "lambda-runtime-aws-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        write!(
            writer,
            "POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\nhost: rt\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )?;
        writer.write_all(&body)?;
        read_response(&mut reader)?;
    }
}

/// An HTTP response's lower-cased headers and its body.
type Response = (Vec<(String, String)>, Vec<u8>);

fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<Response> {
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line)?; // status line
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok((headers, body))
}

struct FakeProcess {
    record: Arc<Record>,
    exit_read: OwnedFd,
    /// The "process": dropped on kill, which makes `exit_read` readable.
    exit_write: Mutex<Option<(OwnedFd, OwnedFd)>>,
    conn: Arc<Mutex<Option<TcpStream>>>,
}

impl InstanceProcess for FakeProcess {
    fn pid(&self) -> u32 {
        0
    }
    fn exit_fd(&self) -> BorrowedFd<'_> {
        self.exit_read.as_fd()
    }
    fn try_wait(&self) -> Option<ExitReport> {
        self.exit_write
            .lock()
            .unwrap()
            .is_none()
            .then_some(ExitReport {
                code: None,
                signal: Some(9),
                oom_killed: false,
            })
    }
    fn kill(&self) {
        self.record.killed.store(true, Ordering::SeqCst);
        if let Some(c) = self.conn.lock().unwrap().take() {
            let _ = c.shutdown(Shutdown::Both);
        }
        self.exit_write.lock().unwrap().take();
    }
    fn memory_peak_bytes(&self) -> Option<u64> {
        None
    }
    fn memory_current_bytes(&self) -> Option<u64> {
        None
    }
    fn freeze(&self) -> bool {
        self.record.freezes.fetch_add(1, Ordering::SeqCst);
        self.record.frozen.store(true, Ordering::SeqCst);
        true
    }
    fn thaw(&self) -> std::io::Result<()> {
        self.record.thaws.fetch_add(1, Ordering::SeqCst);
        self.record.frozen.store(false, Ordering::SeqCst);
        Ok(())
    }
    fn frozen(&self) -> Option<bool> {
        let not_yet = self
            .record
            .unconfirmed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Some(self.record.frozen.load(Ordering::SeqCst) && !not_yet)
    }
}

/// A worker on the fake sandbox, and a `provided` function's spec for it.
pub struct Fixture {
    pub sandbox: Arc<FakeSandbox>,
    pub worker: Arc<Worker>,
    pub spec: Arc<InstanceSpec>,
    _code: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let code = tempfile::tempdir().unwrap();
        let bootstrap = code.path().join("bootstrap");
        std::fs::write(&bootstrap, "").unwrap();
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = Arc::new(FakeSandbox::default());
        let missing = |runtime| RuntimeHostError::Unavailable {
            runtime,
            reason: "not needed by the fake".into(),
        };
        let host = RuntimeHost {
            python: Err(missing(gust_types::Runtime::Python311)),
            node: Err(missing(gust_types::Runtime::Nodejs20)),
            runtime_dir: code.path().to_path_buf(),
            sdk_dir: None,
        };
        let worker = Arc::new(Worker::new(
            sandbox.clone(),
            Arc::new(host),
            "eu-west-1".into(),
        ));
        let config = gust_types::FunctionConfig {
            name: "fake".into(),
            version: "$LATEST".into(),
            runtime: gust_types::Runtime::Provided,
            handler: None,
            memory_mb: 128,
            timeout_s: 900,
            ephemeral_mb: 512,
            environment: Default::default(),
            description: String::new(),
            role: String::new(),
            code_sha256: String::new(),
            code_digest: String::new(),
            code_size: 0,
            last_modified: String::new(),
            revision_id: String::new(),
            dead_letter_arn: None,
            layers: Vec::new(),
        };
        let spec = Arc::new(InstanceSpec {
            config: Arc::new(config),
            code_dir: code.path().to_path_buf(),
            opt_dir: None,
            log: Arc::new(FunctionLog::new(1 << 16)),
            outbound: false,
        });
        Fixture {
            sandbox,
            worker,
            spec,
            _code: code,
        }
    }
}

/// An invocation carrying `payload`.
pub fn invocation(payload: &str) -> gust_worker::Invocation {
    gust_worker::Invocation {
        request_id: uuid_like().into(),
        payload: bytes::Bytes::from(payload.to_string()),
        invoked_arn: "arn:aws:lambda:eu-west-1:000000000000:function:fake".into(),
        client_context: None,
        want_tail: false,
        trace: None,
        stream: None,
    }
}

fn uuid_like() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "00000000-0000-0000-0000-{:012}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}
