//! API authentication: when access keys are configured, every request to the Lambda
//! API and to gust's own endpoints must carry a valid AWS Signature Version 4 made
//! with one of them — what boto3, the aws CLI and the gust CLI send. Function URLs
//! are served in front of this layer and check their own AuthType.
//!
//! Two kinds of caller that cannot sign are let in with an operator key's secret
//! instead, for reading only: Prometheus at `/metrics`, and a browser showing the
//! dashboard (see `dashboard`).
//!
//! The headers are checked before the body is read: a request without a signature,
//! with a malformed one, an unknown key, a stale date or a wrong credential scope is
//! refused at once, whatever body it announces.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

use crate::error::aws_error;
use crate::routes::request_id;
use crate::sigv4::{check_headers, AccessKeys, AuthError, RequestParts, Scope};

/// Largest body read to check its signature (the largest management request).
const SIGNED_BODY_MAX: usize = 80 * 1024 * 1024;

/// Which signing name each API on this endpoint answers to, by path prefix: the
/// first match wins, and any other path is the Lambda API (`lambda`). gust's own
/// endpoints (`/gust/v1/...`) count as part of the Lambda API: the gust CLI signs
/// them as `lambda`, as a Lambda client's signer would. An API added to the
/// endpoint (S3 as `s3`, Step Functions as `states`) adds its row here.
const SERVICES: &[(&str, &str)] = &[];

/// The service of the Lambda API and of gust's own endpoints.
pub const LAMBDA_SERVICE: &str = "lambda";

/// The signing name of the Step Functions API (`POST /` with an
/// `X-Amz-Target: AWSStepFunctions.*` header).
pub const STATES_SERVICE: &str = "states";

/// Whether a request is a Step Functions call (told apart by its target).
pub fn is_states_call(headers: &http::HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(crate::states_routes::TARGET_PREFIX))
}

/// The signing name a request to `path` must be scoped to.
pub fn signing_service(path: &str) -> &'static str {
    SERVICES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(LAMBDA_SERVICE, |(_, service)| service)
}

/// What checking signatures needs.
#[derive(Debug)]
pub struct ApiAuth {
    /// The keys whose signatures are accepted.
    pub keys: AccessKeys,
    /// The server's region, which every credential scope must name.
    pub region: String,
}

/// Refuses requests without a valid signature.
pub async fn require_signature(
    State(auth): State<Arc<ApiAuth>>,
    req: Request,
    next: Next,
) -> Response {
    if crate::presign::is_presigned_download(&req) {
        return next.run(req).await;
    }
    if req.uri().path() == METRICS_PATH && scraper_credentials(req.headers(), &auth.keys) {
        return next.run(req).await;
    }
    match crate::dashboard::gate(req.method(), req.uri().path(), req.headers(), &auth.keys) {
        crate::dashboard::Gate::Open => return next.run(req).await,
        crate::dashboard::Gate::Challenge => return crate::dashboard::challenge(),
        crate::dashboard::Gate::Signature => {}
    }
    let (parts, body) = req.into_parts();
    let rp = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    let scope = Scope {
        region: &auth.region,
        service: if is_states_call(&parts.headers) {
            STATES_SERVICE
        } else {
            signing_service(parts.uri.path())
        },
    };
    let checked = match check_headers(&rp, &auth.keys, scope, SystemTime::now()) {
        Ok(c) => c,
        Err(e) => return refuse(&e, parts.uri.path()),
    };
    let bytes = match axum::body::to_bytes(body, SIGNED_BODY_MAX).await {
        Ok(b) => b,
        Err(e) => return crate::body::read_error(&e, SIGNED_BODY_MAX),
    };
    match checked.verify_body(&rp, &bytes) {
        Ok(who) => {
            tracing::trace!(access_key = %who.access_key_id, "request signed");
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => refuse(&e, parts.uri.path()),
    }
}

/// Where Prometheus scrapes gust.
pub const METRICS_PATH: &str = "/metrics";

/// Whether a scrape of `/metrics` carries an operator key's secret, as Prometheus
/// sends it: `Authorization: Bearer SECRET` (its `authorization` setting) or
/// `Basic base64(AKID:SECRET)` (its `basic_auth`). A SigV4 signature works too.
fn scraper_credentials(headers: &http::HeaderMap, keys: &AccessKeys) -> bool {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return false;
    };
    if let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
        return keys.is_operator_secret(None, token.trim());
    }
    basic_credentials(value).is_some_and(|(id, secret)| keys.is_operator_secret(Some(&id), &secret))
}

/// The `AKID` and `SECRET` of an `Authorization: Basic base64(AKID:SECRET)` value,
/// if it is one and well formed. Whether they are a key's is the caller's check.
pub(crate) fn basic_credentials(value: &http::HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// AWS's 403 for a signature that does not verify. The message names at most the
/// access key id, never a secret.
fn refuse(e: &AuthError, path: &str) -> Response {
    tracing::debug!(error = %e, %path, "unsigned or badly signed request refused");
    let error_type = match e {
        AuthError::Missing => "MissingAuthenticationTokenException",
        AuthError::Malformed(_) => "IncompleteSignatureException",
        AuthError::UnknownKey(_) | AuthError::NoKeys => "UnrecognizedClientException",
        AuthError::Expired(_) | AuthError::Mismatch | AuthError::Scope(_) => {
            "InvalidSignatureException"
        }
    };
    aws_error(
        StatusCode::FORBIDDEN,
        error_type,
        e.to_string(),
        None,
        &request_id(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gusts_own_endpoints_sign_as_the_lambda_api() {
        for path in [
            "/2015-03-31/functions",
            "/2021-10-31/functions/f/url",
            "/gust/v1/health",
            "/",
        ] {
            assert_eq!(signing_service(path), "lambda", "{path}");
        }
    }
}
