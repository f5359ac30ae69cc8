//! gust's gateway and server.

#![forbid(unsafe_code)]

mod config;

pub use config::{Isolation, ServeConfig};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The server failed; the message says what it was doing.
    #[error("{0}")]
    Failed(String),
}

/// Runs the platform until `shutdown` resolves, then stops gracefully. Prints
/// `gust listening on http://ADDR` on stdout once it accepts requests.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let _ = (config, shutdown);
    Err(ServeError::Failed("not built yet".into()))
}
