//! The web dashboard: a read-only view of functions, live charts, logs, async
//! queues, schedules, buckets and workflows, served by gust itself at
//! [`PAGE_PATH`]. Its files are plain HTML, CSS and JavaScript (`dashboard/`)
//! compiled into the binary; nothing is fetched from elsewhere, and the page only
//! reads gust's own `GET /gust/v1/...` endpoints (listed in [`READABLE`]).
//!
//! With `--access-key`, a browser cannot sign requests, so the page, its files and
//! those endpoints also accept HTTP Basic with an operator key (`AKID:SECRET`), the
//! way `/metrics` does; a request to the page without credentials is answered 401
//! with a `Basic` challenge, so the browser asks for them. Every other request still
//! needs a signature. The page lives at `/gust/dashboard` (no trailing slash), so
//! the protection space browsers remember the credentials for is `/gust/`: its data
//! requests carry them too.

use std::sync::Arc;

use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use gust_platform::Platform;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::sigv4::AccessKeys;

/// Where the dashboard is served.
pub const PAGE_PATH: &str = "/gust/dashboard";

/// Where its files are served.
const ASSETS: &str = "/gust/dashboard/";

/// The header the page's own data requests carry, so that one without
/// credentials is answered with a challenge (which makes the browser resend it
/// with the credentials it holds) rather than an API client's 403.
const FROM_DASHBOARD: &str = "x-gust-dashboard";

/// The endpoints the dashboard reads, `*` standing for one path segment. They
/// accept Basic credentials (GET and HEAD only); nothing that changes state is
/// among them.
const READABLE: &[&str] = &[
    "/gust/v1/health",
    "/gust/v1/usage",
    "/gust/v1/overview",
    "/gust/v1/series",
    "/gust/v1/functions/*/logs",
    "/gust/v1/functions/*/async",
    "/gust/v1/queues",
    "/gust/v1/queues/*/messages",
    "/gust/v1/schedules",
    "/gust/v1/buckets",
    "/gust/v1/buckets/*/objects",
    "/gust/v1/workflows",
    "/gust/v1/workflows/graph",
];

/// The page, its files: (path under [`ASSETS`], content type, body).
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/charts.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("dashboard/icon.svg"),
    ),
];

const INDEX: &str = include_str!("dashboard/index.html");

/// The page's routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route(PAGE_PATH, get(page))
        .route(ASSETS, get(|| async { Redirect::permanent(PAGE_PATH) }))
        .route(&format!("{ASSETS}{{file}}"), get(file))
}

async fn page() -> Response {
    served("text/html; charset=utf-8", INDEX)
}

async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => served(kind, body),
        None => (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response(),
    }
}

fn served(kind: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Only gust's own files and data; no inline script, no framing.
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    resp
}

/// How the auth layer treats a request, given the keys gust has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Let it through: a dashboard read with an operator key's Basic credentials.
    Open,
    /// 401 with a `Basic` challenge: a dashboard read with wrong Basic
    /// credentials, or without any from the page itself.
    Challenge,
    /// Not the dashboard's business: check the signature as for any request.
    Signature,
}

/// Whether `method` and `path` are a dashboard read: its page or files, or one of
/// [`READABLE`].
pub fn is_dashboard_read(method: &Method, path: &str) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if path == PAGE_PATH || path.starts_with(ASSETS) {
        return true;
    }
    READABLE.iter().any(|pattern| matches(pattern, path))
}

/// Whether `path` matches `pattern`, segment by segment (`*`: any one non-empty
/// segment).
fn matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some("*"), Some(seg)) if !seg.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The dashboard's part of authentication (only called when gust has keys).
pub fn gate(method: &Method, path: &str, headers: &HeaderMap, keys: &AccessKeys) -> Gate {
    if !is_dashboard_read(method, path) {
        return Gate::Signature;
    }
    let authorization = headers.get(http::header::AUTHORIZATION);
    if let Some(value) = authorization {
        return match crate::auth::basic_credentials(value) {
            Some((id, secret)) if keys.is_operator_secret(Some(&id), &secret) => Gate::Open,
            Some(_) => Gate::Challenge,
            // A signature, or something else: checked as usual.
            None if is_basic(value) => Gate::Challenge,
            None => Gate::Signature,
        };
    }
    let page = path == PAGE_PATH || path.starts_with(ASSETS);
    if page || headers.contains_key(FROM_DASHBOARD) {
        Gate::Challenge
    } else {
        Gate::Signature
    }
}

fn is_basic(value: &HeaderValue) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.len() >= 6 && v[..6].eq_ignore_ascii_case("basic "))
}

/// The 401 that makes a browser ask for an operator key.
pub fn challenge() -> Response {
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        "gust's dashboard needs an operator key: give its access key id as the user name \
         and its secret as the password.\n",
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"gust\", charset=\"UTF-8\""),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AccessKeys {
        AccessKeys::parse("AKID:s3cret").unwrap()
    }

    fn basic(user_pass: &str) -> HeaderMap {
        use base64::Engine as _;
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(user_pass);
        h.insert("authorization", format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn basic_with_an_operator_key_opens_the_dashboards_reads_only() {
        let ok = basic("AKID:s3cret");
        for path in [
            "/gust/dashboard",
            "/gust/dashboard/app.js",
            "/gust/v1/overview",
            "/gust/v1/series",
            "/gust/v1/functions/f/logs",
            "/gust/v1/queues/dlq/messages",
            "/gust/v1/workflows/graph",
        ] {
            assert_eq!(gate(&Method::GET, path, &ok, &keys()), Gate::Open, "{path}");
        }
        for (method, path) in [
            (Method::GET, "/2015-03-31/functions"),
            (Method::POST, "/2015-03-31/functions/f/invocations"),
            (Method::DELETE, "/gust/v1/queues/dlq/messages"),
            (Method::POST, "/gust/v1/schedules"),
            (Method::GET, "/gust/v1/functions/f/code"),
            (Method::GET, "/gust/v1/functions//logs"),
            (Method::GET, "/gust/v1/functions/f/logs/more"),
            (Method::GET, "/gust/dashboardx"),
        ] {
            assert_eq!(
                gate(&method, path, &ok, &keys()),
                Gate::Signature,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn wrong_or_missing_credentials_are_challenged_where_a_browser_asks() {
        let k = keys();
        for wrong in ["AKID:nope", "OTHER:s3cret", "AKID", ""] {
            assert_eq!(
                gate(&Method::GET, "/gust/dashboard", &basic(wrong), &k),
                Gate::Challenge,
                "{wrong}"
            );
        }
        let none = HeaderMap::new();
        assert_eq!(gate(&Method::GET, PAGE_PATH, &none, &k), Gate::Challenge);
        // An API client's unsigned read gets the API's 403, the page's a challenge.
        assert_eq!(
            gate(&Method::GET, "/gust/v1/health", &none, &k),
            Gate::Signature
        );
        let mut from_page = HeaderMap::new();
        from_page.insert(FROM_DASHBOARD, HeaderValue::from_static("1"));
        assert_eq!(
            gate(&Method::GET, "/gust/v1/health", &from_page, &k),
            Gate::Challenge
        );
        let mut signed = HeaderMap::new();
        signed.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKID/x, Signature=y"),
        );
        assert_eq!(
            gate(&Method::GET, PAGE_PATH, &signed, &k),
            Gate::Signature,
            "a signed request is checked as signed"
        );
    }

    #[test]
    fn every_file_the_page_names_is_served() {
        for (name, _, _) in FILES {
            assert!(
                INDEX.contains(&format!("{ASSETS}{name}")),
                "index.html does not use {name}"
            );
        }
        for found in INDEX.split("\"/gust/dashboard/").skip(1) {
            let name = found.split('"').next().unwrap();
            assert!(FILES.iter().any(|(n, _, _)| *n == name), "{name} missing");
        }
    }
}
