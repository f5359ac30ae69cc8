//! The Lambda Runtime API of one instance (`/2018-06-01/runtime/...`), served on the
//! listener the sandbox created for it. Status codes and bodies follow AWS's runtime
//! interface emulator: 202 `{"status":"OK"}` on accepted posts, 400 `InvalidRequestID`
//! for an unknown or already answered request id, 403 `InvalidStateTransition` for a
//! post with no invocation in progress, 413 `RequestEntityTooLarge` for oversize
//! responses.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::output::OutputCapture;

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
}

/// What the runtime answered.
pub enum Reply {
    /// `POST .../response`.
    Response(Bytes),
    /// `POST .../error`, normalised to AWS's error JSON.
    Error(Bytes),
    /// The response was over [`MAX_RESPONSE`].
    TooLarge,
}

/// State shared by the instance and its Runtime API handlers.
pub struct Shared {
    /// Invocations waiting for `next`. Only one `next` reads at a time.
    pub jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    pub state: Mutex<RtState>,
    pub output: Arc<OutputCapture>,
}

#[derive(Default)]
pub struct RtState {
    /// The invocation the runtime is working on.
    pub current: Option<(Arc<str>, oneshot::Sender<Reply>)>,
    /// Fired by the first `next`: the runtime finished initialising.
    pub ready: Option<oneshot::Sender<Instant>>,
    /// What the runtime posted to `init/error`.
    pub init_error: Option<Bytes>,
}

/// Serves the Runtime API on `listener` until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(req, &shared).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, svc)
                .await;
        });
    }
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
        shared.state.lock().current = Some((job.request_id, job.reply));
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
    let body = read_body(req).await;
    complete(shared, id, body.map_or(Reply::TooLarge, Reply::Response))
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

fn complete(shared: &Shared, id: &str, reply: Reply) -> Response<Full<Bytes>> {
    let too_large = matches!(reply, Reply::TooLarge);
    let sender = {
        let mut st = shared.state.lock();
        match &st.current {
            Some((cur, _)) if &**cur == id => st.current.take().map(|(_, tx)| tx),
            Some(_) => return invalid_request_id(),
            None => {
                return error(
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "State transition from Ready to InvocationResponse failed for runtime: no invocation in progress",
                )
            }
        }
    };
    // Everything the runtime printed before posting is in the pipe now: attribute it
    // to this invocation before the caller sees the result.
    shared.output.drain();
    if let Some(tx) = sender {
        let _ = tx.send(reply);
    }
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
fn normalise_error(body: Bytes, error_type: Option<&str>) -> Bytes {
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
