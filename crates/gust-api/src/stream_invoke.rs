//! InvokeWithResponseStream (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the function's response reaches the caller while the function still runs, in
//! AWS's event-stream framing — `PayloadChunk` events as the runtime sends bytes,
//! then one `InvokeComplete` with the error, if any, and the log tail. Errors found
//! before the function runs (unknown function, throttled, bad request) are plain
//! Lambda errors, as from Invoke. Also the start of a streaming function URL.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gust_platform::streaming::{stream_channel, StreamPiece};
use gust_platform::{InvocationType, InvokeRequest, Platform};
use gust_types::{CoreError, InvokeOutcome};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::error_response;
use crate::event_stream;
use crate::extract::QualifiedFunction;
use crate::routes::{read_invoke_body, request_id};
use gust_wire::paths;

/// The operation's path, under which `{name}` is the function.
pub const PATH: &str = "/2021-11-15/functions/{name}/response-streaming-invocations";

type Outcome = Result<Option<InvokeOutcome>, CoreError>;

/// How a streamed invocation began.
pub(crate) enum Started {
    /// The runtime streams its response: its `Content-Type`, and the rest.
    Streaming {
        content_type: String,
        rest: Streamed,
    },
    /// It ended without streaming: a whole answer, or an error before it ran.
    Ended(Outcome),
}

/// A response being streamed.
pub(crate) struct Streamed {
    pieces: mpsc::Receiver<StreamPiece>,
    outcome: JoinHandle<Outcome>,
}

impl Streamed {
    /// The next bytes of the response; `None` once the runtime has sent all.
    pub(crate) async fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.pieces.recv().await? {
                StreamPiece::Data(b) => return Some(b),
                StreamPiece::Begin { .. } => continue,
            }
        }
    }

    /// How the invocation ended (after [`Streamed::next`] said `None`).
    pub(crate) async fn outcome(self) -> Outcome {
        join(self.outcome).await
    }
}

async fn join(task: JoinHandle<Outcome>) -> Outcome {
    task.await
        .unwrap_or_else(|e| Err(CoreError::Internal(format!("the invocation failed: {e}"))))
}

/// Starts `req` with its response streamed, and waits until the runtime begins
/// streaming or the invocation ends. The invocation runs on by itself: a caller
/// who leaves does not stop the function.
pub(crate) async fn start(platform: Arc<Platform>, rid: Arc<str>, req: InvokeRequest) -> Started {
    let (sink, mut pieces) = stream_channel();
    let outcome = tokio::spawn(async move { platform.invoke_streaming(rid, req, sink).await });
    match pieces.recv().await {
        Some(StreamPiece::Begin { content_type }) => Started::Streaming {
            content_type,
            rest: Streamed { pieces, outcome },
        },
        // The sink is gone: the invocation ended without streaming.
        Some(StreamPiece::Data(_)) | None => Started::Ended(join(outcome).await),
    }
}

/// `ErrorCode` and `ErrorDetails` of a function error: its `errorType` and
/// `errorMessage`.
fn error_of(payload: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let code = v["errorType"].as_str().unwrap_or("Unhandled").to_string();
    let details = v["errorMessage"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
    (code, details)
}

/// The `InvokeComplete` event for how an invocation ended.
fn complete_event(outcome: &Outcome) -> Bytes {
    match outcome {
        Ok(Some(out)) => {
            use base64::Engine;
            let log = out
                .log_tail
                .as_ref()
                .map(|t| base64::engine::general_purpose::STANDARD.encode(t));
            let error = out.function_error.map(|_| error_of(&out.payload));
            event_stream::invoke_complete(
                error.as_ref().map(|(c, d)| (c.as_str(), d.as_str())),
                log.as_deref(),
            )
        }
        Ok(None) => event_stream::invoke_complete(None, None),
        Err(e) => event_stream::invoke_complete(Some(("ServiceException", &e.to_string())), None),
    }
}

enum BodyState {
    /// Whole: the payload as one chunk, then the end.
    Whole(Outcome),
    Streaming(Streamed),
    Done,
}

/// The event-stream body: chunks as they come, then `InvokeComplete`.
fn body(state: BodyState) -> Body {
    let frames = futures_util::stream::unfold(state, |state| async move {
        match state {
            BodyState::Done => None,
            BodyState::Whole(outcome) => {
                let mut frames = Vec::new();
                if let Ok(Some(out)) = &outcome {
                    if out.function_error.is_none() && !out.payload.is_empty() {
                        frames.extend_from_slice(&event_stream::payload_chunk(&out.payload));
                    }
                }
                frames.extend_from_slice(&complete_event(&outcome));
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(frames)),
                    BodyState::Done,
                ))
            }
            BodyState::Streaming(mut rest) => match rest.next().await {
                Some(data) => Some((
                    Ok(event_stream::payload_chunk(&data)),
                    BodyState::Streaming(rest),
                )),
                None => {
                    let outcome = rest.outcome().await;
                    Some((Ok(complete_event(&outcome)), BodyState::Done))
                }
            },
        }
    });
    Body::from_stream(frames)
}

/// InvokeWithResponseStream.
pub(crate) async fn invoke_with_response_stream(
    State(p): State<Arc<Platform>>,
    QualifiedFunction(function): QualifiedFunction,
    headers: HeaderMap,
    body_in: Body,
) -> Response {
    let rid: Arc<str> = Arc::from(request_id());
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let prepared = async {
        let invocation_type = match header(paths::INVOCATION_TYPE) {
            None | Some("RequestResponse") => InvocationType::RequestResponse,
            Some("DryRun") => InvocationType::DryRun,
            Some(other) => {
                return Err(CoreError::InvalidParameterValue(format!(
                    "1 validation error detected: Value '{other}' at 'invocationType' failed \
                     to satisfy constraint: Member must satisfy enum value set: \
                     [RequestResponse, DryRun]"
                )))
            }
        };
        let payload = read_invoke_body(body_in).await?;
        let version = p.executed_version(&function)?;
        let req = InvokeRequest {
            function,
            payload,
            invocation_type,
            log_tail: header(paths::LOG_TYPE) == Some("Tail"),
            client_context: header(paths::CLIENT_CONTEXT).map(str::to_string),
            trace: header("x-amzn-trace-id").map(str::to_string),
        };
        Ok((req, version))
    }
    .await;
    let (req, version) = match prepared {
        Ok(v) => v,
        Err(e) => return error_response(&e, &rid),
    };
    let state = if req.invocation_type == InvocationType::DryRun {
        match p.invoke(rid.clone(), req).await {
            Ok(_) => {
                let mut resp = StatusCode::NO_CONTENT.into_response();
                set(&mut resp, paths::REQUEST_ID, &rid);
                return resp;
            }
            Err(e) => return error_response(&e, &rid),
        }
    } else {
        match start(p.clone(), rid.clone(), req).await {
            Started::Ended(Err(e)) => return error_response(&e, &rid),
            Started::Ended(outcome) => BodyState::Whole(outcome),
            Started::Streaming { rest, .. } => BodyState::Streaming(rest),
        }
    };
    let mut resp = (StatusCode::OK, body(state)).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(event_stream::CONTENT_TYPE),
    );
    set(&mut resp, paths::REQUEST_ID, &rid);
    set(&mut resp, paths::EXECUTED_VERSION, &version);
    resp
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_become_the_completion_s_code_and_details() {
        let (code, details) =
            error_of(br#"{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out"}"#);
        assert_eq!(code, "Sandbox.Timedout");
        assert_eq!(details, "Task timed out");
        let (code, details) = error_of(b"not json");
        assert_eq!(code, "Unhandled");
        assert_eq!(details, "not json");
    }
}
