//! Function URLs in `InvokeMode: RESPONSE_STREAM`: the HTTP body reaches the client
//! as the function writes it. A function that wants to choose the status, headers
//! and cookies streams `application/vnd.awslambda.http-integration-response`: a JSON
//! prelude (`{"statusCode", "headers", "cookies"}`), eight zero bytes, then the
//! body — what Node's `awslambda.HttpResponseStream.from` writes. Any other stream
//! is the body itself, with the content type the runtime declared. A function that
//! answers whole is mapped as in `BUFFERED` mode.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use gust_platform::{InvokeRequest, Platform};
use http::StatusCode;

use crate::stream_invoke::{start, Started, Streamed};
use crate::url_serve::{message, response_with, whole_response};

/// The content type of a stream that starts with an HTTP prelude.
pub const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// What ends the prelude.
const DELIMITER: [u8; 8] = [0; 8];

/// Largest prelude read before the function is deemed not to send one.
const PRELUDE_MAX: usize = 64 * 1024;

/// Invokes `req` and streams its answer as the URL's response.
pub(crate) async fn respond(
    platform: Arc<Platform>,
    rid: Arc<str>,
    req: InvokeRequest,
) -> Response {
    let (content_type, mut rest) = match start(platform, rid, req).await {
        Started::Ended(outcome) => return whole_response(outcome),
        Started::Streaming { content_type, rest } => (content_type, rest),
    };
    let base = content_type.split(';').next().unwrap_or("").trim();
    if !base.eq_ignore_ascii_case(HTTP_INTEGRATION) {
        return response_with(
            200,
            body(Bytes::new(), rest),
            vec![("content-type".into(), content_type)],
            Vec::new(),
        );
    }
    let mut seen = BytesMut::new();
    let (prelude, first) = loop {
        if let Some(at) = seen.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
            let first = seen.split_off(at + DELIMITER.len()).freeze();
            seen.truncate(at);
            break (seen.freeze(), first);
        }
        if seen.len() > PRELUDE_MAX {
            tracing::debug!("a streaming function URL's prelude has no end");
            return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
        }
        match rest.next().await {
            Some(b) => seen.extend_from_slice(&b),
            None => {
                // Ended before its prelude did: an error, or a function that wrote
                // nothing after it.
                return match rest.outcome().await {
                    Ok(Some(out)) if out.function_error.is_none() => match parse_prelude(&seen) {
                        Some(p) => response_with(p.status, Body::empty(), p.headers, p.cookies),
                        None => message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
                    },
                    // A function error is a 502, as when buffered.
                    other => whole_response(other),
                };
            }
        }
    };
    match parse_prelude(&prelude) {
        Some(p) => response_with(p.status, body(first, rest), p.headers, p.cookies),
        None => {
            tracing::debug!("a streaming function URL's prelude is not a response");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
    }
}

/// The body: `first`, then the rest as it comes. A function that fails midway
/// ends it early: its status and headers were sent long ago.
fn body(first: Bytes, rest: Streamed) -> Body {
    let chunks =
        futures_util::stream::unfold((Some(first), rest), |(first, mut rest)| async move {
            if let Some(b) = first.filter(|b| !b.is_empty()) {
                return Some((Ok::<_, std::convert::Infallible>(b), (None, rest)));
            }
            let next = rest.next().await?;
            Some((Ok(next), (None, rest)))
        });
    Body::from_stream(chunks)
}

/// What a prelude says.
#[derive(Debug, PartialEq)]
struct Prelude {
    status: u16,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
}

/// `{"statusCode": 200, "headers": {...}, "cookies": [...]}`, every part optional.
fn parse_prelude(bytes: &[u8]) -> Option<Prelude> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let obj = v.as_object()?;
    let status = match obj.get("statusCode") {
        None => Some(200),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    }
    .filter(|s| (100..=599).contains(s))? as u16;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let headers = obj
        .get("headers")
        .and_then(|h| h.as_object())
        .map(|h| h.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let cookies = obj
        .get("cookies")
        .and_then(|c| c.as_array())
        .map(|c| c.iter().map(text).collect())
        .unwrap_or_default();
    Some(Prelude {
        status,
        headers,
        cookies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preludes_name_status_headers_and_cookies() {
        let p = parse_prelude(
            br#"{"statusCode":201,"headers":{"content-type":"text/csv","x-n":3},"cookies":["a=1"]}"#,
        )
        .unwrap();
        assert_eq!(p.status, 201);
        assert_eq!(
            p.headers,
            vec![
                ("content-type".to_string(), "text/csv".to_string()),
                ("x-n".to_string(), "3".to_string())
            ]
        );
        assert_eq!(p.cookies, vec!["a=1".to_string()]);
        assert_eq!(parse_prelude(b"{}").unwrap().status, 200);
        assert!(parse_prelude(br#"{"statusCode":99}"#).is_none());
        assert!(parse_prelude(b"not json").is_none());
    }
}
