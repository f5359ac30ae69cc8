//! gust's object store: S3 buckets whose objects are files under the data
//! directory and whose metadata is in the function store, served on the same
//! endpoint as the Lambda API; an object write can queue asynchronous invocations
//! of functions in the same commit (bucket notifications).
//!
//! # Layout
//! - [`Buckets`]: the store, opened once at start ([`Buckets::open`]), and
//!   [`Buckets::service`], the S3 protocol service (s3s) in front of it.
//! - `s3`: the S3 operations; `admin`: gust's own JSON view (`/gust/v1/buckets`).
//! - [`chunked`]: `aws-chunked` bodies decoded where no key checks them.
//! - `blobs`: object bytes, one synced file per object or part.
//! - `checksums`: the CRC and SHA checksums clients send and S3 stores.
//! - `listing`: keys in order, with prefixes, delimiters and markers.
//! - `notify`: notification configurations and S3 event records ([`Notifier`]).
//! - `meta`: the JSON an object row keeps.
//!
//! # Data flow of a PUT
//! The body streams into a new file (hashed as it goes, synced), then one
//! transaction writes the object row and the events its bucket asks for; only then
//! is the replaced file removed and the events handed to the dispatcher. A crash
//! before the commit leaves a file no row names, which [`Buckets::open`] removes.

#![forbid(unsafe_code)]

mod admin;
mod blobs;
mod checksums;
pub mod chunked;
mod listing;
mod meta;
mod notify;
mod s3;

use std::path::Path;
use std::sync::Arc;

use gust_store::buckets::BucketStore;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::S3Result;

pub use admin::BucketError;
pub use notify::Notifier;

/// The request id gust's front gave an S3 request (a request extension): it is
/// answered as `x-amz-request-id` and named in the events the request causes.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The object store.
pub struct Buckets {
    store: Arc<dyn BucketStore>,
    blobs: blobs::Blobs,
    region: String,
    notifier: Arc<dyn Notifier>,
}

impl Buckets {
    /// Opens the object files under `dir` and removes those no row names (what a
    /// crash left behind).
    pub fn open(
        store: Arc<dyn BucketStore>,
        dir: &Path,
        region: String,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Arc<Buckets>, String> {
        let blobs =
            blobs::Blobs::open(dir).map_err(|e| format!("opening {}: {e}", dir.display()))?;
        let in_use = store.blobs_in_use().map_err(|e| e.to_string())?;
        match blobs.sweep(&in_use) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                files = n,
                "removed object files no object names (left by a crash)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not sweep the object directory"),
        }
        Ok(Arc::new(Buckets {
            store,
            blobs,
            region,
            notifier,
        }))
    }

    /// The S3 service. With `secrets` (the secret of an access key id, if it is
    /// one gust accepts), every request must be signed (SigV4 headers, presigned
    /// URLs, SigV2); without, requests are anonymous (the caller strips their
    /// signatures).
    pub fn service(self: &Arc<Self>, secrets: Option<SecretLookup>) -> S3Service {
        let mut builder = S3ServiceBuilder::new(s3::Handle(Arc::clone(self)));
        builder.set_host(LocalHosts);
        if let Some(lookup) = secrets {
            builder.set_auth(Keys(lookup));
        }
        builder.build()
    }
}

/// The secret of an access key id, if gust accepts the key.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The keys S3 signatures are checked with.
struct Keys(SecretLookup);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        match (self.0)(access_key) {
            Some(secret) => Ok(secret.into()),
            None => Err(s3s::s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Whether `host` (a `Host` header) addresses a bucket the virtual-host way:
/// `<bucket>.localhost[:port]` or `<bucket>.s3.localhost[:port]` (what the Rust
/// and JavaScript SDKs send with an endpoint of `http://localhost:PORT`). Names
/// with other suffixes, IP addresses and plain `localhost` are path-style.
pub fn virtual_host_bucket(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(']') => {
            name
        }
        _ => host,
    };
    let bucket = name.strip_suffix(".localhost")?;
    let bucket = bucket.strip_suffix(".s3").unwrap_or(bucket);
    (!bucket.is_empty() && bucket != "s3").then_some(bucket)
}

/// The hosts gust answers S3 on: any, path-style, except the virtual-host names of
/// [`virtual_host_bucket`].
struct LocalHosts;

impl S3Host for LocalHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match virtual_host_bucket(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosts_are_buckets_under_localhost() {
        assert_eq!(virtual_host_bucket("photos.localhost:9000"), Some("photos"));
        assert_eq!(
            virtual_host_bucket("my.photos.s3.localhost"),
            Some("my.photos")
        );
        assert_eq!(virtual_host_bucket("localhost:9000"), None);
        assert_eq!(virtual_host_bucket("s3.localhost:9000"), None);
        assert_eq!(virtual_host_bucket("127.0.0.1:9000"), None);
        assert_eq!(virtual_host_bucket("[::1]:9000"), None);
        assert_eq!(virtual_host_bucket("example.com"), None);
    }
}
