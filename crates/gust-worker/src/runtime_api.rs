//! The Lambda Runtime API of one instance (`/2018-06-01/runtime/...`), served on the
//! listener the sandbox created for it. Status codes and bodies follow AWS's runtime
//! interface emulator: 202 `{"status":"OK"}` on accepted posts, 400 `InvalidRequestID`
//! for an unknown or already answered request id, 403 `InvalidStateTransition` for a
//! post with no invocation in progress, 413 `RequestEntityTooLarge` for oversize
//! responses.
//!
//! An instance holds at most [`MAX_CONNECTIONS`] connections; one more is answered
//! 503 and closed, and idle ones are closed (see `connections`), so that no function
//! can spend the file descriptors gust shares between all instances.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::connections::{Connections, Slot, IDLE_TIMEOUT, MAX_CONNECTIONS};
use crate::output::OutputCapture;
use crate::streaming::{self, StreamSink};

/// Largest response or error body a runtime may post.
pub const MAX_RESPONSE: usize = gust_types::limits::SYNC_PAYLOAD_MAX;

/// An invocation handed to the runtime.
pub struct Job {
    pub request_id: Arc<str>,
    pub payload: Bytes,
    pub deadline_ms: u64,
    pub invoked_arn: String,
    pub client_context: Option<String>,
    pub trace_id: String,
    pub reply: oneshot::Sender<Reply>,
    /// Where a streamed response goes as it arrives, when the caller wants one.
    pub stream: Option<StreamSink>,
}

/// What the runtime answered.
pub enum Reply {
    /// `POST .../response`.
    Response(Bytes),
    /// `POST .../error`, normalised to AWS's error JSON.
    Error(Bytes),
    /// The response was over [`MAX_RESPONSE`].
    TooLarge,
    /// A streamed response has ended; its bytes went to the invocation's sink.
    /// `error`: the error JSON its trailers reported (or the size limit's).
    Streamed { error: Option<Bytes> },
}

/// State shared by the instance and its Runtime API handlers.
pub struct Shared {
    /// Invocations waiting for `next`. Only one `next` reads at a time.
    pub jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    pub state: Mutex<RtState>,
    pub output: Arc<OutputCapture>,
}

/// The invocation in progress: its id, where its answer goes, and its stream.
pub struct Current {
    pub id: Arc<str>,
    pub reply: oneshot::Sender<Reply>,
    pub stream: Option<StreamSink>,
}

#[derive(Default)]
pub struct RtState {
    /// The invocation the runtime is working on.
    pub current: Option<Current>,
    /// Fired by the first `next`: the runtime finished initialising.
    pub ready: Option<oneshot::Sender<Instant>>,
    /// What the runtime posted to `init/error`.
    pub init_error: Option<Bytes>,
}

/// Serves the Runtime API on `listener` until the task is aborted. `instance` names
/// the instance in gust's own log.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, instance: String) {
    serve_with(
        listener,
        shared,
        Connections::new(MAX_CONNECTIONS, IDLE_TIMEOUT),
        instance,
    )
    .await
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    conns: Arc<Connections>,
    instance: String,
) {
    let mut warned = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE) or the like: trying again at once
                // would spin; a moment later some may be free.
                tracing::debug!(%instance, error = %e, "Runtime API accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(slot) = conns.admit() else {
            if !warned {
                warned = true;
                tracing::warn!(
                    %instance,
                    "the function holds {MAX_CONNECTIONS} connections to its Runtime API; refusing more"
                );
            }
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(serve_connection(stream, slot, shared));
    }
}

/// Serves one connection until the runtime closes it or it stays idle too long.
async fn serve_connection(stream: tokio::net::TcpStream, slot: Slot, shared: Arc<Shared>) {
    let slot = Arc::new(slot);
    let io = hyper_util::rt::TokioIo::new(stream);
    let svc = {
        let slot = slot.clone();
        hyper::service::service_fn(move |req| {
            let busy = slot.busy();
            let shared = shared.clone();
            async move {
                let resp = route(req, &shared).await;
                drop(busy);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = slot.idle_expired() => {}
    }
}

/// Answers a connection over the limit with a 503 and closes it, without waiting:
/// the answer fits any empty socket buffer.
fn refuse(stream: tokio::net::TcpStream) {
    let body = serde_json::json!({
        "errorMessage": format!(
            "Too many connections to the Runtime API: an instance may hold {MAX_CONNECTIONS}"
        ),
        "errorType": "TooManyConnections",
    })
    .to_string();
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(resp.as_bytes());
}

async fn route(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return error(StatusCode::NOT_FOUND, "NotFound", "Unknown path");
    };
    match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(shared).await,
        (&Method::POST, "init/error") => init_error(req, shared).await,
        (&Method::POST, rest) if rest.starts_with("invocation/") => {
            let tail = &rest["invocation/".len()..];
            if let Some(id) = tail.strip_suffix("/response") {
                let id = id.to_string();
                respond(req, shared, &id).await
            } else if let Some(id) = tail.strip_suffix("/error") {
                let id = id.to_string();
                invocation_error(req, shared, &id).await
            } else {
                error(StatusCode::NOT_FOUND, "NotFound", "Unknown path")
            }
        }
        _ => error(StatusCode::NOT_FOUND, "NotFound", "Unknown path"),
    }
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    if let Some(ready) = shared.state.lock().ready.take() {
        let _ = ready.send(Instant::now());
    }
    let mut jobs = shared.jobs.lock().await;
    loop {
        let Some(job) = jobs.recv().await else {
            return error(
                StatusCode::GONE,
                "InstanceStopped",
                "The instance is stopping",
            );
        };
        // Never run an invocation whose caller has gone.
        if job.reply.is_closed() {
            continue;
        }
        let mut resp = Response::new(Full::new(job.payload));
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&job.request_id) {
            h.insert("lambda-runtime-aws-request-id", v);
        }
        h.insert(
            "lambda-runtime-deadline-ms",
            HeaderValue::from(job.deadline_ms),
        );
        if let Ok(v) = HeaderValue::from_str(&job.invoked_arn) {
            h.insert("lambda-runtime-invoked-function-arn", v);
        }
        if let Ok(v) = HeaderValue::from_str(&job.trace_id) {
            h.insert("lambda-runtime-trace-id", v);
        }
        if let Some(cc) = job
            .client_context
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            h.insert("lambda-runtime-client-context", cc);
        }
        shared.state.lock().current = Some(Current {
            id: job.request_id,
            reply: job.reply,
            stream: job.stream,
        });
        return resp;
    }
}

/// Reads a posted body up to [`MAX_RESPONSE`]; `None` when it is larger.
async fn read_body(req: Request<Incoming>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

async fn respond(req: Request<Incoming>, shared: &Shared, id: &str) -> Response<Full<Bytes>> {
    if streaming::is_streaming(req.headers()) {
        return respond_streaming(req, shared, id).await;
    }
    let body = read_body(req).await;
    complete(shared, id, body.map_or(Reply::TooLarge, Reply::Response))
}

/// A streamed response: the invocation is claimed when the post starts (a second
/// post for it is refused) and answered when the body has ended.
async fn respond_streaming(
    req: Request<Incoming>,
    shared: &Shared,
    id: &str,
) -> Response<Full<Bytes>> {
    let current = match claim(shared, id) {
        Ok(c) => c,
        Err(refused) => return refused.response(),
    };
    let (reply, too_large) = match streaming::read(req, current.stream).await {
        streaming::StreamEnd::Done(reply) => (reply, false),
        streaming::StreamEnd::TooLarge(reply) => (reply, true),
        // Dropping the answer's sender ends the invocation as a runtime failure.
        streaming::StreamEnd::Broken => return accepted(),
    };
    shared.output.drain();
    let _ = current.reply.send(reply);
    if too_large {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "Exceeded maximum allowed payload size.",
        );
    }
    accepted()
}

async fn invocation_error(
    req: Request<Incoming>,
    shared: &Shared,
    id: &str,
) -> Response<Full<Bytes>> {
    let error_type = error_type_header(&req);
    let body = read_body(req).await;
    let reply = match body {
        Some(b) => Reply::Error(normalise_error(b, error_type.as_deref())),
        None => Reply::TooLarge,
    };
    complete(shared, id, reply)
}

/// Why a post for an invocation was refused.
enum Refused {
    /// It names another invocation than the one in progress.
    OtherId,
    /// No invocation is in progress.
    NoneInProgress,
}

impl Refused {
    fn response(self) -> Response<Full<Bytes>> {
        match self {
            Refused::OtherId => invalid_request_id(),
            Refused::NoneInProgress => error(
                StatusCode::FORBIDDEN,
                "InvalidStateTransition",
                "State transition from Ready to InvocationResponse failed for runtime: no invocation in progress",
            ),
        }
    }
}

/// Takes the invocation `id` from the runtime's state.
fn claim(shared: &Shared, id: &str) -> Result<Current, Refused> {
    let mut st = shared.state.lock();
    match &st.current {
        Some(cur) if &*cur.id == id => Ok(st.current.take().expect("checked above")),
        Some(_) => Err(Refused::OtherId),
        None => Err(Refused::NoneInProgress),
    }
}

fn complete(shared: &Shared, id: &str, reply: Reply) -> Response<Full<Bytes>> {
    let too_large = matches!(reply, Reply::TooLarge);
    let current = match claim(shared, id) {
        Ok(c) => c,
        Err(refused) => return refused.response(),
    };
    // Everything the runtime printed before posting is in the pipe now: attribute it
    // to this invocation before the caller sees the result.
    shared.output.drain();
    let _ = current.reply.send(reply);
    if too_large {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
        );
    }
    accepted()
}

async fn init_error(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let error_type = error_type_header(&req);
    let body = read_body(req).await.unwrap_or_default();
    shared.output.drain();
    shared.state.lock().init_error = Some(normalise_error(body, error_type.as_deref()));
    accepted()
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Returns the runtime's error body when it is a JSON object, else wraps it in AWS's
/// `{"errorType","errorMessage"}` shape using the error-type header.
pub(crate) fn normalise_error(body: Bytes, error_type: Option<&str>) -> Bytes {
    if let Ok(serde_json::Value::Object(_)) = serde_json::from_slice::<serde_json::Value>(&body) {
        return body;
    }
    let fe = gust_types::FunctionError {
        error_type: error_type.unwrap_or("Runtime.Unknown").to_string(),
        message: String::from_utf8_lossy(&body).into_owned(),
    };
    Bytes::from(fe.to_json())
}

fn accepted() -> Response<Full<Bytes>> {
    json(
        StatusCode::ACCEPTED,
        Bytes::from_static(b"{\"status\":\"OK\"}"),
    )
}

fn invalid_request_id() -> Response<Full<Bytes>> {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    json(status, Bytes::from(body.to_string()))
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::FunctionLog;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A Runtime API on loopback with room for `max` connections; returns its
    /// address, the sender of its invocations, and the output pipe's write end.
    async fn start(
        max: usize,
        idle: Duration,
    ) -> (
        std::net::SocketAddr,
        mpsc::Sender<Job>,
        std::os::fd::OwnedFd,
    ) {
        let (r, w) = gust_sandbox::output_pipe().unwrap();
        let output = Arc::new(OutputCapture::new(r, Arc::new(FunctionLog::new(1 << 16))).unwrap());
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            jobs: tokio::sync::Mutex::new(rx),
            state: Mutex::new(RtState::default()),
            output,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(
            listener,
            shared,
            Connections::new(max, idle),
            "test".into(),
        ));
        (addr, tx, w)
    }

    /// Everything the server sends until it closes the connection.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends one request and reads one (small, content-length) response head+body.
    async fn request(stream: &mut TcpStream, head: &str) -> String {
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before answering: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + len {
                    return text;
                }
            }
        }
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_refused_and_held_ones_keep_working() {
        let (addr, _jobs, _out) = start(4, IDLE_TIMEOUT).await;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // Accepted in order: the fifth finds the four places taken.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let refused = read_to_close(&mut extra).await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.contains("TooManyConnections"), "{refused}");
        for stream in &mut held {
            let resp = request(stream, "GET /nope HTTP/1.1\r\nhost: x\r\n\r\n").await;
            assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_close_but_a_waiting_next_does_not() {
        let idle = Duration::from_secs(60);
        let (addr, jobs, _out) = start(8, idle).await;
        let mut waiting = TcpStream::connect(addr).await.unwrap();
        waiting
            .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut unused = TcpStream::connect(addr).await.unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /2018-06-01/runtime/invo")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let closes = async {
            (
                read_to_close(&mut unused).await,
                read_to_close(&mut slow).await,
            )
        };
        let (unused_got, slow_got) = tokio::time::timeout(idle * 3, closes)
            .await
            .expect("idle connections must be closed");
        assert_eq!(unused_got, "");
        assert_eq!(slow_got, "", "half a request head is not in flight");
        let waited = started.elapsed();
        assert!(waited >= idle && waited <= 2 * idle, "{waited:?}");

        tokio::time::sleep(idle * 10).await;
        let (reply, _answer) = oneshot::channel();
        jobs.send(Job {
            request_id: "req-1".into(),
            payload: Bytes::from_static(b"{}"),
            deadline_ms: 0,
            invoked_arn: String::new(),
            client_context: None,
            trace_id: String::new(),
            reply,
            stream: None,
        })
        .await
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = waiting.read(&mut buf).await.unwrap();
        let resp = String::from_utf8_lossy(&buf[..n]);
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.contains("lambda-runtime-aws-request-id: req-1"),
            "{resp}"
        );
    }

    #[test]
    fn errors_are_normalised_to_aws_shape() {
        let raw = normalise_error(Bytes::from_static(b"boom"), Some("Custom.Error"));
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["errorType"], "Custom.Error");
        assert_eq!(v["errorMessage"], "boom");
        let obj = Bytes::from_static(br#"{"errorType":"ValueError","errorMessage":"x"}"#);
        assert_eq!(normalise_error(obj.clone(), None), obj);
    }
}
