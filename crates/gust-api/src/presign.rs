//! Presigned code URLs: GetFunction's `Code.Location`, downloadable with a plain GET.
//!
//! AWS hands out a presigned S3 URL that works for ten minutes without credentials;
//! deployment tools fetch it with any HTTP client. When gust requires signed
//! requests (`--access-key`), the location it hands out carries an expiry and an
//! HMAC-SHA256 of (function, archive digest, expiry) under a key drawn at start-up,
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

    /// Whether `path?query` is a download this signer presigned and that has not
    /// expired at `now`.
    pub fn verify(&self, path: &str, query: &str, now: SystemTime) -> bool {
        let Some(name) = path
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .filter(|n| gust_types::name::validate_name(n).is_ok())
        else {
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
        self.mac(name, digest, expires)
            .verify_slice(&signature)
            .is_ok()
    }
}

/// The location without a signature: what gust hands out when it requires none.
pub fn plain_location(base: &str, name: &str, digest: &str) -> String {
    format!("{base}{PREFIX}{name}{SUFFIX}?sha256={digest}")
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
