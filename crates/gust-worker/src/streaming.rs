//! Response streaming on the Runtime API: a runtime that posts its response with
//! `Lambda-Runtime-Function-Response-Mode: streaming` sends it as a chunked body,
//! and reports an error that happens midway in the trailers
//! `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body`
//! (base64 of the error JSON), as Lambda's custom runtimes do.
//!
//! When the caller asked for a stream (InvokeWithResponseStream, a function URL in
//! `RESPONSE_STREAM` mode) its [`StreamSink`] gets each chunk as it arrives, with
//! backpressure: the runtime's upload goes only as fast as the caller reads. A
//! caller who wanted the whole response gets it buffered, within the usual 6 MB.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::runtime_api::{normalise_error, Reply, MAX_RESPONSE};

/// Largest streamed response (Lambda's limit for response streaming).
pub const MAX_STREAMED: usize = 200 * 1024 * 1024;

/// The header that makes a `POST .../response` a stream.
pub const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";

const ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
const ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";

/// How many pieces wait between the runtime and a slow caller.
pub const SINK_DEPTH: usize = 16;

/// One piece of a streamed response, in order: `Begin` once, then the data.
#[derive(Debug)]
pub enum StreamPiece {
    /// The runtime started streaming; its `Content-Type`.
    Begin { content_type: String },
    /// The next bytes of the response.
    Data(Bytes),
}

/// Where a caller who wants a stream receives it.
pub type StreamSink = mpsc::Sender<StreamPiece>;

/// A sink and the receiver its caller reads.
pub fn stream_channel() -> (StreamSink, mpsc::Receiver<StreamPiece>) {
    mpsc::channel(SINK_DEPTH)
}

/// Whether a `POST .../response` streams.
pub fn is_streaming(headers: &HeaderMap) -> bool {
    headers
        .get(RESPONSE_MODE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("streaming"))
}

/// How reading a streamed body ended.
pub enum StreamEnd {
    /// The whole body arrived; what to tell the invocation.
    Done(Reply),
    /// The body was over the limit: the invocation fails with
    /// `Function.ResponseSizeTooLarge` and the runtime is told 413.
    TooLarge(Reply),
    /// The connection broke before the body ended (the runtime died or gave up).
    Broken,
}

/// Reads a streamed response to its end, forwarding it to `sink` when there is one.
pub async fn read(req: Request<Incoming>, sink: Option<StreamSink>) -> StreamEnd {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut sink = sink;
    if let Some(s) = &sink {
        if s.send(StreamPiece::Begin { content_type }).await.is_err() {
            sink = None;
        }
    }
    // Without a caller reading along, the response is buffered, within the
    // buffered limit.
    let streamed = sink.is_some();
    let limit = if streamed { MAX_STREAMED } else { MAX_RESPONSE };
    let mut buffered = BytesMut::new();
    let mut seen = 0usize;
    let mut trailers = None;
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return StreamEnd::Broken;
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                seen += data.len();
                if seen > limit {
                    // Read on to the end, so that the runtime's post completes.
                    continue;
                }
                if let Some(s) = &sink {
                    if s.send(StreamPiece::Data(data)).await.is_err() {
                        // The caller left: the function still runs to its end.
                        sink = None;
                    }
                } else if !streamed {
                    buffered.extend_from_slice(&data);
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(t) = frame.into_trailers() {
            trailers = Some(t);
        }
    }
    if seen > limit {
        let error = too_large(limit);
        return StreamEnd::TooLarge(if streamed {
            Reply::Streamed { error: Some(error) }
        } else {
            Reply::TooLarge
        });
    }
    let error = trailers.as_ref().and_then(trailer_error);
    StreamEnd::Done(match (streamed, error) {
        (true, error) => Reply::Streamed { error },
        (false, Some(error)) => Reply::Error(error),
        (false, None) => Reply::Response(buffered.freeze()),
    })
}

/// The error a runtime reported in its trailers, as AWS's error JSON.
fn trailer_error(trailers: &HeaderMap) -> Option<Bytes> {
    let error_type = trailers
        .get(ERROR_TYPE_TRAILER)
        .and_then(|v| v.to_str().ok());
    let body = trailers
        .get(ERROR_BODY_TRAILER)
        .and_then(|v| v.to_str().ok());
    if error_type.is_none() && body.is_none() {
        return None;
    }
    let decoded = body
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .unwrap_or_else(|_| b.as_bytes().to_vec())
        })
        .unwrap_or_default();
    Some(normalise_error(
        Bytes::from(decoded),
        Some(error_type.unwrap_or("Runtime.StreamError")),
    ))
}

fn too_large(limit: usize) -> Bytes {
    Bytes::from(
        gust_types::FunctionError {
            error_type: "Function.ResponseSizeTooLarge".into(),
            message: format!(
                "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
            ),
        }
        .to_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_name_the_error() {
        let mut t = HeaderMap::new();
        assert!(trailer_error(&t).is_none());
        t.insert(ERROR_TYPE_TRAILER, "Custom.Broke".parse().unwrap());
        let body = base64::engine::general_purpose::STANDARD
            .encode(br#"{"errorType":"Custom.Broke","errorMessage":"midway"}"#);
        t.insert(ERROR_BODY_TRAILER, body.parse().unwrap());
        let v: serde_json::Value = serde_json::from_slice(&trailer_error(&t).unwrap()).unwrap();
        assert_eq!(v["errorType"], "Custom.Broke");
        assert_eq!(v["errorMessage"], "midway");

        // Not base64, not JSON: the text becomes the message.
        let mut t = HeaderMap::new();
        t.insert(ERROR_BODY_TRAILER, "plain words".parse().unwrap());
        let v: serde_json::Value = serde_json::from_slice(&trailer_error(&t).unwrap()).unwrap();
        assert_eq!(v["errorType"], "Runtime.StreamError");
        assert_eq!(v["errorMessage"], "plain words");
    }

    #[test]
    fn the_mode_header_is_read_case_blind() {
        let mut h = HeaderMap::new();
        assert!(!is_streaming(&h));
        h.insert(RESPONSE_MODE, "Streaming".parse().unwrap());
        assert!(is_streaming(&h));
        h.insert(RESPONSE_MODE, "buffered".parse().unwrap());
        assert!(!is_streaming(&h));
    }
}
