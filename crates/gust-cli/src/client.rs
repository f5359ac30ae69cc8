//! A blocking client of gust's HTTP API. It turns transport failures and Lambda error
//! bodies (`{"Type":..,"message":..}` with `x-amzn-ErrorType`) into [`ClientError`]s
//! whose messages tell a user what happened and what to do.

use std::error::Error as _;
use std::time::Duration;

use reqwest::blocking::{Client as HttpClient, RequestBuilder};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use gust_wire::paths;

/// How long most requests may take; long-running calls set their own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a TCP connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the endpoint.
    #[error(
        "cannot reach gust at {endpoint} ({reason}). Is `gust serve` running? \
         Set --endpoint or GUST_ENDPOINT to point elsewhere."
    )]
    Unreachable {
        /// The endpoint as configured.
        endpoint: String,
        /// What the connection attempt ran into.
        reason: String,
    },
    /// The server accepted the connection but did not answer in time.
    #[error("gust at {endpoint} did not answer {what} within {secs} s")]
    TimedOut {
        /// The endpoint as configured.
        endpoint: String,
        /// The request, `METHOD path`.
        what: String,
        /// The time allowed.
        secs: u64,
    },
    /// The API answered with an error.
    #[error("{error_type}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Lambda error type, e.g. `ResourceNotFoundException`.
        error_type: String,
        /// The server's explanation.
        message: String,
    },
    /// The request failed for another reason.
    #[error("{what} failed: {detail}")]
    Transport {
        /// The request, `METHOD url`.
        what: String,
        /// What went wrong.
        detail: String,
    },
    /// The server's answer was not what the API promises.
    #[error("unexpected response to {what}: {detail}")]
    BadResponse {
        /// The request, `METHOD path`.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
}

impl ClientError {
    /// The Lambda error type, when the API answered with an error.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            ClientError::Api { error_type, .. } => Some(error_type),
            _ => None,
        }
    }

    /// A next step for the user, for errors that have an obvious one.
    pub fn hint(&self) -> Option<&'static str> {
        match self.error_type()? {
            "ResourceNotFoundException" => {
                Some("run `gust list` to see the functions this server has")
            }
            "TooManyRequestsException" => Some(
                "gust had no capacity for the request in time; retry, or restart \
                 `gust serve` with a larger --memory or a longer --queue-timeout",
            ),
            "MissingAuthenticationTokenException"
            | "InvalidSignatureException"
            | "UnrecognizedClientException"
            | "IncompleteSignatureException" => Some(
                "this server requires signed requests: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY to one of the keys it was started with (--access-key)",
            ),
            _ => None,
        }
    }
}

/// A successful answer, read in full.
#[derive(Debug)]
pub struct Response {
    /// `what` of the request, for error messages.
    what: String,
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decodes the body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::BadResponse {
            what: self.what.clone(),
            detail: format!("body is not the expected JSON ({e})"),
        })
    }
}

/// The server's HTTP API.
#[derive(Debug)]
pub struct Client {
    http: HttpClient,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:9000`.
    endpoint: String,
    /// Print each request and its status to stderr.
    verbose: bool,
    /// Signs every request (SigV4) when set: a server with access keys requires it.
    credentials: Option<gust_api::sigv4_sign::Credentials>,
}

/// The key pair the CLI signs with: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`,
/// as boto3 and the aws CLI read them, scoped to `AWS_REGION` (default us-east-1).
fn credentials_from_env() -> Option<gust_api::sigv4_sign::Credentials> {
    let id = std::env::var("AWS_ACCESS_KEY_ID")
        .ok()
        .filter(|v| !v.is_empty())?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .ok()
        .filter(|v| !v.is_empty())?;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".to_string());
    Some(gust_api::sigv4_sign::Credentials {
        access_key_id: id,
        secret_access_key: secret,
        region,
        service: "lambda".to_string(),
    })
}

impl Client {
    /// A client of the server at `endpoint` (`http://host:port`; `host:port` is taken
    /// as http).
    pub fn new(endpoint: &str, verbose: bool) -> anyhow::Result<Client> {
        let endpoint = normalize_endpoint(endpoint)?;
        let http = HttpClient::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DEFAULT_TIMEOUT)
            .user_agent(concat!("gust-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(Client {
            http,
            endpoint,
            verbose,
            credentials: credentials_from_env(),
        })
    }

    /// Starts a request to `path` (which begins with `/`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.endpoint))
    }

    /// Sends a request and reads the answer; non-2xx answers become [`ClientError`]s.
    pub fn send(&self, builder: RequestBuilder) -> Result<Response, ClientError> {
        let mut request = builder.build().map_err(|e| ClientError::Transport {
            what: "building the request".into(),
            detail: e.to_string(),
        })?;
        if let Some(creds) = &self.credentials {
            sign(&mut request, creds);
        }
        let what = format!("{} {}", request.method(), request.url().path());
        let timeout = request.timeout().copied().unwrap_or(DEFAULT_TIMEOUT);
        if self.verbose {
            eprintln!("> {} {}", request.method(), request.url());
        }
        let response = self
            .http
            .execute(request)
            .map_err(|e| self.transport_error(&what, timeout, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .map_err(|e| self.transport_error(&what, timeout, &e))?
            .to_vec();
        if self.verbose {
            let id = headers
                .get(paths::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            eprintln!("< {status} (request id {id})");
        }
        if !status.is_success() {
            return Err(api_error(status, &headers, &body));
        }
        Ok(Response {
            what,
            status,
            headers,
            body,
        })
    }

    /// Calls a Step Functions operation (`POST /` with `X-Amz-Target`), signed for
    /// the `states` service as AWS's clients sign it.
    pub fn states(
        &self,
        operation: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let states = Client {
            http: self.http.clone(),
            endpoint: self.endpoint.clone(),
            verbose: self.verbose,
            credentials: self.credentials.clone().map(|mut c| {
                c.service = "states".to_string();
                c
            }),
        };
        let response = states.send(
            self.request(Method::POST, "/")
                .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
                .header("content-type", "application/x-amz-json-1.0")
                .body(input.to_string()),
        )?;
        response.json()
    }

    fn transport_error(&self, what: &str, timeout: Duration, e: &reqwest::Error) -> ClientError {
        if e.is_connect() {
            ClientError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: connect_reason(e),
            }
        } else if e.is_timeout() {
            ClientError::TimedOut {
                endpoint: self.endpoint.clone(),
                what: what.to_string(),
                secs: timeout.as_secs(),
            }
        } else {
            ClientError::Transport {
                what: what.to_string(),
                detail: innermost(e),
            }
        }
    }
}

/// Accepts `http://host:port[/]` and `host:port`; refuses what this build cannot speak.
/// Adds a SigV4 signature (and the `host` header it covers) to a built request.
fn sign(request: &mut reqwest::blocking::Request, creds: &gust_api::sigv4_sign::Credentials) {
    let url = request.url().clone();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return,
    };
    // A streamed body (an upload with a progress bar) declared its hash up front.
    let hash = match request.body().and_then(|b| b.as_bytes()) {
        Some(bytes) => gust_api::sigv4_sign::payload_hash(bytes),
        None => match request.headers().get("x-amz-content-sha256") {
            Some(h) => h.to_str().unwrap_or_default().to_string(),
            None => gust_api::sigv4_sign::payload_hash(&[]),
        },
    };
    let method = request.method().as_str().to_string();
    let headers = request.headers_mut();
    if let Ok(v) = reqwest::header::HeaderValue::from_str(&host) {
        headers.insert(reqwest::header::HOST, v);
    }
    gust_api::sigv4_sign::sign_hashed(
        &method,
        url.path(),
        url.query().unwrap_or(""),
        headers,
        &hash,
        creds,
        std::time::SystemTime::now(),
    );
}

fn normalize_endpoint(raw: &str) -> anyhow::Result<String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        anyhow::anyhow!(
            "invalid endpoint '{raw}' ({e}); expected a URL such as http://127.0.0.1:9000"
        )
    })?;
    if url.scheme() != "http" {
        anyhow::bail!(
            "endpoint '{raw}' uses {}://, but this gust build speaks plain http only; \
             put gust behind a local address such as http://127.0.0.1:9000",
            url.scheme()
        );
    }
    if url.host_str().is_none() {
        anyhow::bail!("endpoint '{raw}' has no host; expected e.g. http://127.0.0.1:9000");
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// Builds the error for a non-2xx answer from its header and Lambda error body.
fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ClientError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| -> Option<String> {
        let obj = parsed.as_ref()?.as_object()?;
        names
            .iter()
            .find_map(|n| obj.get(*n)?.as_str().map(str::to_string))
    };
    // AWS may append `:http://internal...` to the type; keep the name.
    let error_type = headers
        .get(paths::ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| t.split(':').next().unwrap_or(t).to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| field(&["__type"]))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let mut message = field(&["message", "Message"]).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            "(no message)".to_string()
        } else {
            text.chars().take(300).collect()
        }
    });
    if let Some(reason) = field(&["Reason"]) {
        message.push_str(&format!(" (reason: {reason})"));
    }
    ClientError::Api {
        status: status.as_u16(),
        error_type,
        message,
    }
}

/// Names why a connection failed in a few words, e.g. `connection refused`.
fn connect_reason(e: &reqwest::Error) -> String {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => io.to_string(),
            };
        }
        source = err.source();
    }
    if e.is_timeout() {
        return "connection timed out".into();
    }
    innermost(e)
}

/// The message of the deepest cause, which is usually the informative one.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Serialises a request body the way AWS's own clients do: fields left unset are
/// omitted rather than sent as `null`.
pub fn json_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    fn strip_nulls(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip_nulls);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
            _ => {}
        }
    }
    // Serialising plain wire structs into a Value cannot fail.
    let mut value = serde_json::to_value(value).unwrap_or_default();
    strip_nulls(&mut value);
    value.to_string().into_bytes()
}

/// Percent-encodes one path segment (a function name, ARN or qualifier), so a name
/// with `/` or spaces cannot change which endpoint is called.
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:$@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn lambda_error_bodies_become_type_and_message() {
        let mut headers = HeaderMap::new();
        headers.insert(
            paths::ERROR_TYPE,
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        let body = br#"{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"}"#;
        let err = api_error(StatusCode::NOT_FOUND, &headers, body);
        assert_eq!(
            err.to_string(),
            "ResourceNotFoundException: Function not found: \
             arn:aws:lambda:us-east-1:000000000000:function:nope"
        );
        assert_eq!(err.error_type(), Some("ResourceNotFoundException"));
        assert!(err.hint().unwrap().contains("gust list"));
    }

    #[test]
    fn throttles_keep_their_reason() {
        let mut headers = HeaderMap::new();
        headers.insert(
            paths::ERROR_TYPE,
            HeaderValue::from_static("TooManyRequestsException:http://example"),
        );
        let body = br#"{"Type":"User","message":"Rate exceeded","Reason":"ConcurrentInvocationLimitExceeded"}"#;
        let err = api_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
        assert_eq!(
            err.to_string(),
            "TooManyRequestsException: Rate exceeded (reason: ConcurrentInvocationLimitExceeded)"
        );
    }

    #[test]
    fn non_lambda_errors_still_read_well() {
        let err = api_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"upstream down");
        assert_eq!(err.to_string(), "HTTP 502 Bad Gateway: upstream down");
    }

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            normalize_endpoint("localhost:9000").unwrap(),
            "http://localhost:9000"
        );
        let https = normalize_endpoint("https://gust.example").unwrap_err();
        assert!(https.to_string().contains("plain http"), "{https}");
    }

    #[test]
    fn bodies_omit_unset_fields() {
        let request = gust_wire::lambda::UpdateFunctionConfigurationRequest {
            timeout: Some(30),
            ..Default::default()
        };
        assert_eq!(json_body(&request), br#"{"Timeout":30}"#);
    }

    #[test]
    fn segments_cannot_escape_the_path() {
        assert_eq!(segment("my-fn:prod"), "my-fn:prod");
        assert_eq!(segment("a/../b c"), "a%2F..%2Fb%20c");
    }
}
