//! Presigned code URLs: GetFunction's `Code.Location` and a layer version's
//! `Content.Location`, downloadable with a plain GET.
//!
//! AWS hands out a presigned S3 URL that works for ten minutes without credentials;
//! deployment tools fetch it with any HTTP client. When gust requires signed
//! requests (`--access-key`), the location it hands out carries an expiry and an
//! HMAC-SHA256 of (function or layer version, archive digest, expiry) under a key
//! drawn at start-up,
//! and the authentication layer lets exactly that download through
//! ([`is_presigned_download`]). The key lives only in the process: URLs stop working
//! when gust restarts, as they would after ten minutes anyway.
//!
//! Without access keys no request is signed, and the location is the plain URL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a presigned location works, as on AWS.
pub const VALIDITY: Duration = Duration::from_secs(10 * 60);

/// The query parameter holding the expiry (seconds since the epoch).
const EXPIRES: &str = "X-Gust-Expires";
/// The query parameter holding the hex signature.
const SIGNATURE: &str = "X-Gust-Signature";
/// The path of a code download, around the function's name.
const PREFIX: &str = "/gust/v1/functions/";
const SUFFIX: &str = "/code";
/// The path of a layer version's download: `{LAYER_PREFIX}{name}/versions/{n}{LAYER_SUFFIX}`.
const LAYER_PREFIX: &str = "/gust/v1/layers/";
const LAYER_SUFFIX: &str = "/content";

/// Signs and checks code locations. Put into the request extensions (outside the
/// authentication layer) when the server requires signatures.
#[derive(Clone)]
pub struct CodeUrls {
    /// The HMAC key, random per process.
    key: [u8; 32],
}

impl std::fmt::Debug for CodeUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeUrls(..)")
    }
}

impl CodeUrls {
    /// A signer with a fresh random key.
    pub fn random() -> CodeUrls {
        // Two v4 UUIDs: 244 random bits from the OS's generator.
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        CodeUrls { key }
    }

    fn mac(&self, name: &str, digest: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("gust-code-v1\n{name}\n{digest}\n{expires}").as_bytes());
        mac
    }

    /// The presigned location of the archive `digest` of function `name`, valid
    /// for [`VALIDITY`] from `now`.
    pub fn location(&self, base: &str, name: &str, digest: &str, now: SystemTime) -> String {
        let expires = unix(now).saturating_add(VALIDITY.as_secs());
        let signature = hex(&self.mac(name, digest, expires).finalize().into_bytes());
        format!(
            "{}&{EXPIRES}={expires}&{SIGNATURE}={signature}",
            plain_location(base, name, digest)
        )
    }

    /// The presigned location of version `version` of layer `name`, whose archive
    /// is `digest`, valid for [`VALIDITY`] from `now`.
    pub fn layer_location(
        &self,
        base: &str,
        name: &str,
        version: u64,
        digest: &str,
        now: SystemTime,
    ) -> String {
        let expires = unix(now).saturating_add(VALIDITY.as_secs());
        let subject = layer_subject(name, version);
        let signature = hex(&self.mac(&subject, digest, expires).finalize().into_bytes());
        format!(
            "{}&{EXPIRES}={expires}&{SIGNATURE}={signature}",
            plain_layer_location(base, name, version, digest)
        )
    }

    /// Whether `path?query` is a download this signer presigned and that has not
    /// expired at `now`.
    pub fn verify(&self, path: &str, query: &str, now: SystemTime) -> bool {
        let Some(name) = signed_subject(path) else {
            return false;
        };
        let (mut digest, mut expires, mut signature) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "sha256" => &mut digest,
                EXPIRES => &mut expires,
                SIGNATURE => &mut signature,
                // Anything else could change what the handler serves: refuse it.
                _ => return false,
            };
            if slot.replace(v).is_some() {
                return false;
            }
        }
        let (Some(digest), Some(expires), Some(signature)) = (digest, expires, signature) else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        if expires <= unix(now) {
            return false;
        }
        let Some(signature) = unhex(signature) else {
            return false;
        };
        self.mac(&name, digest, expires)
            .verify_slice(&signature)
            .is_ok()
    }
}

/// What a download path's signature covers: a function's name, or
/// `layer/<name>/<version>` (function names hold no `/`, so the two never meet).
fn signed_subject(path: &str) -> Option<String> {
    if let Some(name) = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    {
        return gust_types::name::validate_name(name)
            .is_ok()
            .then(|| name.to_string());
    }
    let rest = path
        .strip_prefix(LAYER_PREFIX)?
        .strip_suffix(LAYER_SUFFIX)?;
    let (name, version) = rest.split_once("/versions/")?;
    let name_ok = gust_types::layer::is_layer_name(name);
    // Only the canonical spelling of the number: one URL per version.
    let version = version
        .parse::<u64>()
        .ok()
        .filter(|n| n.to_string() == version)?;
    name_ok.then(|| layer_subject(name, version))
}

fn layer_subject(name: &str, version: u64) -> String {
    format!("layer/{name}/{version}")
}

/// The location without a signature: what gust hands out when it requires none.
pub fn plain_location(base: &str, name: &str, digest: &str) -> String {
    format!("{base}{PREFIX}{name}{SUFFIX}?sha256={digest}")
}

/// A layer version's location without a signature.
pub fn plain_layer_location(base: &str, name: &str, version: u64, digest: &str) -> String {
    format!("{base}{LAYER_PREFIX}{name}/versions/{version}{LAYER_SUFFIX}?sha256={digest}")
}

/// Whether `req` is a GET (or HEAD) of a code download presigned by the server's
/// [`CodeUrls`], which then needs no `Authorization` header.
pub fn is_presigned_download(req: &Request) -> bool {
    let Some(urls) = req.extensions().get::<std::sync::Arc<CodeUrls>>() else {
        return false;
    };
    matches!(*req.method(), http::Method::GET | http::Method::HEAD)
        && urls.verify(
            req.uri().path(),
            req.uri().query().unwrap_or(""),
            SystemTime::now(),
        )
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ab12";

    fn split(url: &str) -> (String, String) {
        let rest = url.strip_prefix("http://h").unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        (path.to_string(), query.to_string())
    }

    #[test]
    fn a_presigned_location_verifies_until_it_expires() {
        let urls = CodeUrls::random();
        let now = SystemTime::now();
        let url = urls.location("http://h", "f", DIGEST, now);
        assert!(url.starts_with("http://h/gust/v1/functions/f/code?sha256=ab12&X-Gust-Expires="));
        let (path, query) = split(&url);
        assert!(urls.verify(&path, &query, now));
        assert!(urls.verify(&path, &query, now + VALIDITY - Duration::from_secs(1)));
        assert!(!urls.verify(&path, &query, now + VALIDITY));
    }

    #[test]
    fn layer_locations_verify_for_their_version_only() {
        let urls = CodeUrls::random();
        let now = SystemTime::now();
        let url = urls.layer_location("http://h", "deps", 3, DIGEST, now);
        assert!(url.starts_with("http://h/gust/v1/layers/deps/versions/3/content?sha256=ab12&"));
        let (path, query) = split(&url);
        assert!(urls.verify(&path, &query, now));
        assert!(!urls.verify(&path, &query, now + VALIDITY));
        for other in [
            "/gust/v1/layers/deps/versions/4/content",
            "/gust/v1/layers/deps2/versions/3/content",
            "/gust/v1/layers/deps/versions/03/content",
            "/gust/v1/layers/de.ps/versions/3/content",
        ] {
            assert!(!urls.verify(other, &query, now), "{other}");
        }
        // A function named like the layer's subject cannot borrow its signature.
        assert!(!urls.verify("/gust/v1/functions/layer/code", &query, now));
    }

    #[test]
    fn nothing_else_verifies() {
        let urls = CodeUrls::random();
        let now = SystemTime::now();
        let (path, query) = split(&urls.location("http://h", "f", DIGEST, now));
        let other = CodeUrls::random();
        assert!(!other.verify(&path, &query, now), "another process's key");
        assert!(
            !urls.verify("/gust/v1/functions/g/code", &query, now),
            "another function"
        );
        assert!(
            !urls.verify("/gust/v1/functions/f/logs", &query, now),
            "another route"
        );
        let digest = query.replace("sha256=ab12", "sha256=ab13");
        assert!(!urls.verify(&path, &digest, now), "another archive");
        let later = query.replace("X-Gust-Expires=", "X-Gust-Expires=9");
        assert!(!urls.verify(&path, &later, now), "a changed expiry");
        assert!(
            !urls.verify(&path, &format!("{query}&x=1"), now),
            "extra parameters"
        );
        assert!(
            !urls.verify(&path, &format!("{query}&sha256=ab12"), now),
            "repeated ones"
        );
        let unsigned = query.split("&X-Gust-Signature").next().unwrap();
        assert!(!urls.verify(&path, unsigned, now), "no signature");
        assert!(!urls.verify(&path, "", now));
    }
}
