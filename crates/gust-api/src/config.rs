//! The gateway's configuration: its listener's limits and the form of function URLs.

use std::time::Duration;

/// Bounds on the API listener's connections, so that slow, silent or merely numerous
/// clients cannot starve the others (see `listener`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has, from the first byte of a request, to send its whole
    /// head (request line and headers).
    pub header_timeout: Duration,
    /// How long a connection may wait, open, with no request: after it is accepted
    /// and between keep-alive requests.
    pub idle_timeout: Duration,
    /// How long a request's body may take to arrive whole, from its head.
    pub body_timeout: Duration,
    /// Connections open at once. At the cap, a new connection closes the one idle
    /// longest; when none is idle, it is refused with 503.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// `gust serve --url-style`: which function URL a client is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyleChoice {
    /// Host-based where `*.lambda-url.REGION.localhost` resolves to loopback on this
    /// machine (checked at start), else path-based.
    Auto,
    /// Always `http://ID.lambda-url.REGION.localhost:PORT/`.
    Host,
    /// Always `http://127.0.0.1:PORT/gust/v1/urls/ID/`.
    Path,
}

/// The account concurrency limit when none is configured (AWS's default quota).
pub const DEFAULT_ACCOUNT_CONCURRENCY: u32 = 1000;
