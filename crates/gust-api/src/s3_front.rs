//! The S3 API on the Lambda API's listener: a request is S3's when it says so
//! (signed for service `s3`, by SigV4 header or presigned query, or signed the
//! SigV2 way, which only S3 has; or addressed to `<bucket>.localhost`), or when
//! it is unsigned and not shaped like a request to another API (the Lambda API's
//! paths start with a date, gust's own with `/gust/`: path-style function URLs
//! there are gust's however they are signed, and no bucket may be called
//! `gust`). Such requests go to the
//! object store's S3 service and never reach the Lambda router or its auth.
//!
//! With `--access-key`, the S3 service checks every signature itself. Without,
//! gust checks no signature anywhere: the S3 service sees requests as anonymous
//! (their signatures are removed first, since it cannot know the secret of a key
//! it was never given).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{HeaderValue, StatusCode};
use tower::Layer as _;

/// What routing S3 requests needs.
struct S3State {
    service: s3s::service::S3Service,
    /// Whether signatures are checked (`--access-key` given).
    signed: bool,
}

/// Puts the S3 service in front of `app`.
pub fn in_front_of(app: Router, service: s3s::service::S3Service, signed: bool) -> Router {
    let state = Arc::new(S3State { service, signed });
    let layered = middleware::from_fn_with_state(state, dispatch).layer(app);
    Router::new().fallback_service(layered)
}

async fn dispatch(State(s): State<Arc<S3State>>, req: Request, next: Next) -> Response {
    if !is_s3(&req) {
        return next.run(req).await;
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase();
    let resp = answer(&s, req, &id).await;
    let mut resp = with_request_id_in_error(resp, &id).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    resp
}

/// The largest error body gust rewrites to name its request id.
const ERROR_BODY_MAX: usize = 64 * 1024;

/// S3's error documents name the request (`<RequestId>`), as its header does.
async fn with_request_id_in_error(resp: Response, id: &str) -> Response {
    let xml = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("xml"));
    if resp.status().as_u16() < 400 || !xml {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_MAX).await else {
        return s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        );
    };
    let text = String::from_utf8_lossy(&bytes);
    match text.rfind("</Error>") {
        Some(end) if !text.contains("<RequestId>") => {
            let body = format!(
                "{}<RequestId>{id}</RequestId>{}",
                &text[..end],
                &text[end..]
            );
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(body))
        }
        _ => Response::from_parts(parts, Body::from(bytes)),
    }
}

async fn answer(s: &S3State, mut req: Request, id: &str) -> Response {
    if let Some(refused) = presigned_too_long(&req) {
        return refused;
    }
    drop_malformed_range(&mut req);
    if signed_v2(&req) {
        amz_params_to_headers(&mut req);
    }
    req.extensions_mut()
        .insert(gust_buckets::RequestId(id.to_string()));
    if !s.signed {
        strip_signature(&mut req);
        if streaming_payload(&req) {
            req = decode_chunked(req);
        }
    }
    let req = req.map(s3s::Body::http_body_unsync);
    match s.service.call(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::warn!(error = ?e, "an S3 request failed");
            s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

/// S3 refuses presigned URLs valid for longer than a week.
fn presigned_too_long(req: &Request) -> Option<Response> {
    let expires = form_pairs(req.uri().query()?)
        .find(|(k, _)| k == "X-Amz-Expires")
        .map(|(_, v)| v)?;
    match expires.parse::<u64>() {
        Ok(secs) if secs <= 604_800 => None,
        Ok(_) => Some(s3_error(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )),
        Err(_) => Some(s3_error(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires should be a number",
        )),
    }
}

/// A SigV2 presigned URL carries in its query the `x-amz-*` headers that were
/// signed (botocore moves them there, the session token among them): they go
/// back to being headers, where the signature check reads them.
fn amz_params_to_headers(req: &mut Request) {
    let Some(query) = req.uri().query() else {
        return;
    };
    let mut moved = Vec::new();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let key = percent_decode(k).to_ascii_lowercase();
            if key.starts_with("x-amz-") {
                moved.push((key, percent_decode(v)));
                return false;
            }
            true
        })
        .collect();
    if moved.is_empty() {
        return;
    }
    let path = req.uri().path().to_string();
    let pq = if kept.is_empty() {
        path
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = req.uri().clone().into_parts();
    let Ok(pq) = pq.parse() else { return };
    parts.path_and_query = Some(pq);
    let Ok(uri) = http::Uri::from_parts(parts) else {
        return;
    };
    *req.uri_mut() = uri;
    for (k, v) in moved {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            req.headers_mut().insert(name, value);
        }
    }
}

/// S3 ignores a `Range` it cannot parse and answers the whole object.
fn drop_malformed_range(req: &mut Request) {
    let valid = match header(req, "range") {
        None => return,
        Some(r) => r
            .strip_prefix("bytes=")
            .and_then(|spec| spec.split_once('-'))
            .is_some_and(|(first, last)| {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                match (first.trim(), last.trim()) {
                    ("", l) => digits(l),
                    (f, "") => digits(f),
                    (f, l) => digits(f) && digits(l),
                }
            }),
    };
    if !valid {
        req.headers_mut().remove(http::header::RANGE);
    }
}

/// Decodes an `aws-chunked` body here (without a key nothing checks its chunk
/// signatures), so the S3 service stores the object, not its framing; the
/// trailers reach the operation as an extension, to be checked there.
fn decode_chunked(req: Request) -> Request {
    let (mut parts, body) = req.into_parts();
    let trailers = gust_buckets::chunked::Trailers::default();
    let decoded = gust_buckets::chunked::decode(body.into_data_stream(), trailers.clone());
    let h = &mut parts.headers;
    match h.remove("x-amz-decoded-content-length") {
        Some(len) => {
            h.insert(http::header::CONTENT_LENGTH, len);
        }
        None => {
            h.remove(http::header::CONTENT_LENGTH);
        }
    }
    let encoding = h
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(", ")
        });
    match encoding.as_deref() {
        Some("") => {
            h.remove(http::header::CONTENT_ENCODING);
        }
        Some(e) => {
            if let Ok(v) = HeaderValue::from_str(e) {
                h.insert(http::header::CONTENT_ENCODING, v);
            }
        }
        None => {}
    }
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    parts.extensions.insert(trailers);
    Request::from_parts(parts, Body::from_stream(decoded))
}

/// S3's XML error document.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message></Error>"
    );
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The service a SigV4 `Authorization` header or presigned query is scoped to.
fn signed_service(req: &Request) -> Option<String> {
    if let Some(auth) = header(req, "authorization") {
        let credential = auth.split("Credential=").nth(1)?;
        return credential
            .split([',', ' '])
            .next()?
            .split('/')
            .nth(3)
            .map(str::to_string);
    }
    let query = req.uri().query()?;
    form_pairs(query).find_map(|(k, v)| {
        (k == "X-Amz-Credential").then(|| v.split('/').nth(3).unwrap_or_default().to_string())
    })
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV2 (`Authorization: AWS AKID:SIG`, or `AWSAccessKeyId` and `Signature` in
/// the query): only S3 speaks it.
fn signed_v2(req: &Request) -> bool {
    if header(req, "authorization").is_some_and(|a| a.starts_with("AWS ")) {
        return true;
    }
    req.uri().query().is_some_and(|q| {
        let mut keys = form_pairs(q).map(|(k, _)| k);
        let keys: Vec<String> = keys.by_ref().collect();
        keys.iter().any(|k| k == "AWSAccessKeyId") && keys.iter().any(|k| k == "Signature")
    })
}

/// Whether the path belongs to another API of this endpoint.
fn other_api_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let dated = first.len() == 10
        && first.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    dated || first == "gust"
}

fn is_s3(req: &Request) -> bool {
    let host = header(req, "host").unwrap_or_default();
    // A function URL's host (`<id>.lambda-url.<region>.localhost`).
    if host.split('.').nth(1) == Some("lambda-url") {
        return false;
    }
    // gust's own endpoints: unsigned or signed as Lambda, and path-style
    // function URLs however signed. (S3 refuses `gust` as a bucket name.)
    let path = req.uri().path();
    let gusts = path == "/gust" || path.starts_with("/gust/");
    if gusts && path.starts_with(crate::url_serve::PATH_PREFIX) {
        return false;
    }
    if let Some(service) = signed_service(req) {
        return service == "s3";
    }
    if gusts {
        return false;
    }
    if signed_v2(req) || gust_buckets::virtual_host_bucket(host).is_some() {
        return true;
    }
    // Unsigned: by shape. JSON APIs posted to `/` name their operation.
    if req.headers().contains_key("x-amz-target") {
        return false;
    }
    // A scrape: `GET /metrics` without a query, as Prometheus sends it (an S3
    // listing of a bucket named `metrics` always carries one from the SDKs).
    if path == crate::auth::METRICS_PATH
        && req.method() == http::Method::GET
        && req.uri().query().is_none()
    {
        return false;
    }
    !other_api_path(req.uri().path())
}

/// Whether the body is `aws-chunked` (`STREAMING-...` payloads).
fn streaming_payload(req: &Request) -> bool {
    header(req, "x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
}

/// Query parameters that carry a signature.
const SIGNATURE_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// Makes the request anonymous: no `Authorization`, no signature in the query.
fn strip_signature(req: &mut Request) {
    req.headers_mut().remove(http::header::AUTHORIZATION);
    let Some(query) = req.uri().query() else {
        return;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let key = percent_decode(p.split_once('=').map_or(p, |(k, _)| k));
            !SIGNATURE_PARAMS.contains(&key.as_str())
        })
        .collect();
    let path = req.uri().path().to_string();
    let pq = if kept.is_empty() {
        path
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, \
                           SignedHeaders=host, Signature=abc";
    const LAMBDA_AUTH: &str =
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, \
                               SignedHeaders=host, Signature=abc";

    #[test]
    fn requests_are_told_apart_by_their_signing_service_then_their_shape() {
        assert!(is_s3(&req(
            "GET",
            "/2015-03-31/functions/",
            &[("authorization", S3_AUTH)]
        )));
        assert!(!is_s3(&req(
            "GET",
            "/photos",
            &[("authorization", LAMBDA_AUTH)]
        )));
        assert!(is_s3(&req("GET", "/", &[])));
        assert!(is_s3(&req("PUT", "/photos/a.jpg", &[])));
        assert!(!is_s3(&req("GET", "/2015-03-31/functions/", &[])));
        assert!(!is_s3(&req("GET", "/gust/v1/health", &[])));
        assert!(!is_s3(&req(
            "POST",
            "/",
            &[("x-amz-target", "AWSStepFunctions.ListStateMachines")]
        )));
        assert!(is_s3(&req(
            "GET",
            "/b/k?AWSAccessKeyId=A&Signature=x&Expires=1",
            &[]
        )));
        assert!(is_s3(&req(
            "GET",
            "/b/k?X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=1",
            &[]
        )));
        assert!(is_s3(&req(
            "GET",
            "/2015-03-31/x",
            &[("host", "photos.localhost:9000")]
        )));
        let url_host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.localhost:9000";
        assert!(!is_s3(&req("GET", "/", &[("host", url_host)])));
    }

    #[test]
    fn signatures_are_stripped_and_the_rest_of_the_query_kept() {
        let mut r = req(
            "GET",
            "/b/k?X-Amz-Signature=1&response-content-type=text%2Fplain&X-Amz-Credential=a",
            &[("authorization", S3_AUTH)],
        );
        strip_signature(&mut r);
        assert_eq!(
            r.uri().to_string(),
            "/b/k?response-content-type=text%2Fplain"
        );
        assert!(r.headers().get("authorization").is_none());
        let mut r = req("GET", "/b/k?Signature=1&AWSAccessKeyId=2&Expires=3", &[]);
        strip_signature(&mut r);
        assert_eq!(r.uri().to_string(), "/b/k");
    }
}
