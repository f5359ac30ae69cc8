//! Serving function URLs, on the API's own listener, before the Lambda API router:
//!
//! - host-based: `http://URL_ID.lambda-url.REGION.localhost:PORT/...` (any host whose
//!   first two labels are a url-id and `lambda-url`);
//! - path-based: `http://HOST:PORT/gust/v1/urls/URL_ID/...`, for clients that cannot
//!   set a host; the event's `rawPath` is the path after the prefix.
//!
//! Every other request goes on to the API. A URL request is checked (SigV4 for
//! `AWS_IAM`), answered directly when it is a CORS preflight, and otherwise turned
//! into a payload-2.0 event, invoked synchronously, and its result mapped back
//! (`url_event`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use gust_platform::{InvocationType, InvokeRequest, Platform, ResolvedUrl, UrlAuth};
use gust_types::{limits, name::ACCOUNT_ID, CoreError, InvokeOutcome};
use gust_wire::urls::Cors;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use tower::Layer as _;

use crate::sigv4::{self, AccessKeys};
use crate::url_event::{build_event, map_response, UrlRequest};

/// Prefix of path-based URLs.
pub const PATH_PREFIX: &str = gust_platform::URL_PATH_PREFIX;

/// What serving URLs needs.
struct UrlState {
    platform: Arc<Platform>,
    keys: AccessKeys,
    /// The region `AWS_IAM` signatures must be scoped to.
    region: String,
}

/// Puts URL serving in front of `api`: requests to a URL never reach it.
pub fn in_front_of(
    api: Router,
    platform: Arc<Platform>,
    keys: AccessKeys,
    region: String,
) -> Router {
    let state = Arc::new(UrlState {
        platform,
        keys,
        region,
    });
    let service = middleware::from_fn_with_state(state, dispatch).layer(api);
    Router::new().fallback_service(service)
}

async fn dispatch(State(s): State<Arc<UrlState>>, req: Request, next: Next) -> Response {
    if let Some(id) = host_url_id(&req) {
        let raw_path = req.uri().path().to_string();
        return serve(&s, &id, raw_path, req).await;
    }
    if let Some(rest) = req.uri().path().strip_prefix(PATH_PREFIX) {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if is_url_id(id) {
            let (id, raw_path) = (id.to_string(), format!("/{tail}"));
            return serve(&s, &id, raw_path, req).await;
        }
    }
    next.run(req).await
}

/// The url-id of a host-based URL request.
fn host_url_id(req: &Request) -> Option<String> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())?;
    let mut labels = host.split('.');
    let id = labels.next()?;
    (labels.next()? == "lambda-url" && is_url_id(id)).then(|| id.to_string())
}

fn is_url_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

async fn serve(s: &UrlState, id: &str, raw_path: String, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut resp = match s.platform.resolve_url(id) {
        None => message(
            StatusCode::NOT_FOUND,
            &format!("No function URL has the id {id}"),
        ),
        Some(url) => handle(s, &url, raw_path, req, &request_id).await,
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

async fn handle(
    s: &UrlState,
    url: &ResolvedUrl,
    raw_path: String,
    req: Request,
    request_id: &str,
) -> Response {
    let arrived = SystemTime::now();
    let origin = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(cors) = &url.cors {
        if req.method() == Method::OPTIONS
            && origin.is_some()
            && req
                .headers()
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return preflight(cors, req.headers(), origin.as_deref());
        }
    }
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let protocol = format!("{:?}", req.version());
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let caller = match url.auth {
        UrlAuth::None => None,
        UrlAuth::Iam => match check_signature(s, &parts, &body) {
            Ok(v) => Some(v),
            Err(why) => return message(StatusCode::FORBIDDEN, &why),
        },
    };
    let event = build_event(&UrlRequest {
        method: parts.method.as_str(),
        raw_path: &raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        protocol: &protocol,
        headers: &parts.headers,
        body: &body,
        source_ip,
        url_id: &url.url_id,
        domain_name: format!(
            "{}.lambda-url.{}.localhost",
            url.url_id,
            s.platform.region().0
        ),
        request_id,
        time: arrived,
        caller: caller.as_ref(),
        account_id: ACCOUNT_ID,
    });
    let invoke = InvokeRequest {
        function: url.function.clone(),
        payload: Bytes::from(event.to_string()),
        invocation_type: InvocationType::RequestResponse,
        log_tail: false,
        client_context: None,
        trace: None,
    };
    let mut resp = if url.streaming {
        crate::url_stream::respond(s.platform.clone(), Arc::from(request_id), invoke).await
    } else {
        whole_response(s.platform.invoke(Arc::from(request_id), invoke).await)
    };
    if let (Some(cors), Some(origin)) = (&url.cors, origin.as_deref()) {
        add_cors(cors, origin, resp.headers_mut());
    }
    resp
}

/// The HTTP response for a function's whole answer (`map_response`), or for why
/// there is none.
pub(crate) fn whole_response(result: Result<Option<InvokeOutcome>, CoreError>) -> Response {
    match result {
        Ok(Some(out)) if out.function_error.is_some() => {
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
        Ok(Some(out)) => match map_response(&out.payload) {
            Ok(r) => response_with(r.status, Body::from(r.body), r.headers, r.cookies),
            Err(e) => {
                tracing::debug!(error = %e, "function URL result is not a response");
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
        },
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => core_error(&e),
    }
}

/// A response with the status, headers and cookies a function chose; its headers
/// alone say what the body is.
pub(crate) fn response_with(
    status: u16,
    body: Body,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.remove(http::header::CONTENT_TYPE);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(k, v);
        }
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(http::header::SET_COOKIE, v);
        }
    }
    resp
}

fn check_signature(
    s: &UrlState,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<sigv4::Verified, String> {
    if s.keys.is_empty() {
        return Err(
            "Forbidden: this URL's AuthType is AWS_IAM, but gust has no access keys to check \
             signatures with; start gust serve with --access-key AKID:SECRET (or \
             GUST_ACCESS_KEYS)"
                .into(),
        );
    }
    let path = parts.uri.path();
    if path.contains("//") {
        // The canonical URI drops empty segments, but `rawPath` keeps them: the
        // function would see a path other than the one that was signed.
        return Err(
            "Forbidden: the path has an empty segment ('//'), which a signature cannot \
             cover; send it without"
                .into(),
        );
    }
    let req = sigv4::RequestParts {
        method: parts.method.as_str(),
        path,
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    // Function URLs with AWS_IAM are signed as Lambda: `lambda`, this region.
    let scope = sigv4::Scope {
        region: &s.region,
        service: crate::auth::LAMBDA_SERVICE,
    };
    sigv4::verify(&req, body, &s.keys, scope, SystemTime::now())
        .map_err(|e| format!("Forbidden: {e}"))
}

/// Reads the body up to the synchronous payload limit.
async fn read_body(body: Body) -> Result<Bytes, Response> {
    match http_body_util::Limited::new(body, limits::SYNC_PAYLOAD_MAX)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if crate::body::timed_out(e.as_ref()).is_some() => {
            Err(message(StatusCode::REQUEST_TIMEOUT, &e.to_string()))
        }
        Err(_) => Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Request must be smaller than {} bytes",
                limits::SYNC_PAYLOAD_MAX
            ),
        )),
    }
}

fn core_error(e: &CoreError) -> Response {
    match e {
        CoreError::TooManyRequests { .. } => {
            message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
        }
        CoreError::RequestTooLarge(m) => message(StatusCode::PAYLOAD_TOO_LARGE, m),
        CoreError::ResourceNotFound(m) => message(StatusCode::NOT_FOUND, m),
        CoreError::ShuttingDown => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        other => {
            tracing::warn!(error = %other, "function URL invocation failed");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
    }
}

/// `{"Message": ...}`, the body of errors function URLs answer themselves.
pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    let body = serde_json::json!({ "Message": text }).to_string();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
fn allowed_origin(cors: &Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or(&[]);
    if origins.iter().any(|o| o == "*") {
        Some(if cors.allow_credentials == Some(true) {
            origin.to_string()
        } else {
            "*".to_string()
        })
    } else {
        origins
            .iter()
            .find(|o| o.eq_ignore_ascii_case(origin))
            .map(|_| origin.to_string())
    }
}

/// Answers a CORS preflight from the URL's configuration, without invoking.
fn preflight(cors: &Cors, headers: &HeaderMap, origin: Option<&str>) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let Some(allow) = origin.and_then(|o| allowed_origin(cors, o)) else {
        return resp;
    };
    let h = resp.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, &allow);
    let requested = |n: HeaderName| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if let Some(methods) = cors.allow_methods.as_deref().filter(|m| !m.is_empty()) {
        let value = if methods.iter().any(|m| m == "*") {
            requested(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        } else {
            methods.join(",")
        };
        set(http::header::ACCESS_CONTROL_ALLOW_METHODS, &value);
    }
    if let Some(allowed) = cors.allow_headers.as_deref().filter(|m| !m.is_empty()) {
        let value = if allowed.iter().any(|m| m == "*") {
            requested(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        } else {
            allowed.join(",")
        };
        set(http::header::ACCESS_CONTROL_ALLOW_HEADERS, &value);
    }
    if let Some(age) = cors.max_age {
        set(http::header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
    }
    if cors.allow_credentials == Some(true) {
        set(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    set(http::header::VARY, "Origin");
    resp
}

/// Adds the CORS headers of a normal response (replacing any the function set).
fn add_cors(cors: &Cors, origin: &str, h: &mut HeaderMap) {
    let Some(allow) = allowed_origin(cors, origin) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&allow) {
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if let Some(expose) = cors.expose_headers.as_deref().filter(|e| !e.is_empty()) {
        if let Ok(v) = HeaderValue::from_str(&expose.join(",")) {
            h.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
    if cors.allow_credentials == Some(true) {
        h.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.append(http::header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors {
            allow_credentials: Some(credentials),
            allow_headers: Some(vec!["x-custom".into()]),
            allow_methods: Some(vec!["GET".into(), "POST".into()]),
            allow_origins: Some(origins.iter().map(|s| s.to_string()).collect()),
            expose_headers: Some(vec!["x-total".into()]),
            max_age: Some(300),
        }
    }

    #[test]
    fn origins() {
        let c = cors(&["https://a.example"], false);
        assert_eq!(
            allowed_origin(&c, "https://a.example").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(allowed_origin(&c, "https://b.example"), None);
        assert_eq!(
            allowed_origin(&cors(&["*"], false), "https://b.example").as_deref(),
            Some("*")
        );
        // With credentials, a wildcard answers with the origin itself.
        assert_eq!(
            allowed_origin(&cors(&["*"], true), "https://b.example").as_deref(),
            Some("https://b.example")
        );
    }

    #[test]
    fn preflights_answer_from_the_configuration() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        let r = preflight(
            &cors(&["https://a.example"], true),
            &h,
            Some("https://a.example"),
        );
        let g = |n: HeaderName| r.headers()[n].to_str().unwrap().to_string();
        assert_eq!(
            g(http::header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "https://a.example"
        );
        assert_eq!(g(http::header::ACCESS_CONTROL_ALLOW_METHODS), "GET,POST");
        assert_eq!(g(http::header::ACCESS_CONTROL_ALLOW_HEADERS), "x-custom");
        assert_eq!(g(http::header::ACCESS_CONTROL_MAX_AGE), "300");
        assert_eq!(g(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS), "true");
        let r = preflight(
            &cors(&["https://a.example"], true),
            &h,
            Some("https://evil.example"),
        );
        assert!(!r
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[test]
    fn url_ids_in_hosts() {
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        let req = |host: &str| {
            Request::builder()
                .uri("/x")
                .header("host", host)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(
            host_url_id(&req(&format!("{id}.lambda-url.us-east-1.localhost:9000"))).as_deref(),
            Some(id)
        );
        assert_eq!(host_url_id(&req("127.0.0.1:9000")), None);
        assert_eq!(host_url_id(&req(&format!("{id}.example.com"))), None);
        assert_eq!(host_url_id(&req("short.lambda-url.x")), None);
        assert_eq!(
            host_url_id(&req(&format!("{}.lambda-url.x", id.to_uppercase()))),
            None
        );
    }
}
