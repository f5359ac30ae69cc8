//! AWS Signature Version 4, verified on the server side.
//!
//! [`verify`] recomputes the signature of a request signed in its `Authorization`
//! header (`AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//! SignedHeaders=..., Signature=...`) with the secret of its access key and compares
//! the two in constant time. gust has no IAM: the keys it accepts are a static list
//! ([`AccessKeys`]) given to the server.
//!
//! The canonical request follows AWS's rules for every service but S3: the path as
//! sent is normalised (dot segments and empty segments removed) and percent-encoded
//! once more; query parameters are decoded, re-encoded strictly and sorted; header
//! values are trimmed with inner runs of spaces folded; the payload hash is the
//! body's SHA-256 unless `x-amz-content-sha256` says `UNSIGNED-PAYLOAD`.
//!
//! The credential scope is checked against a [`Scope`] the caller chooses per
//! service (gust's Lambda API asks for `lambda`; other APIs on the same endpoint ask
//! for theirs): its region must be the server's, its service the one the route
//! belongs to, its date the day of `x-amz-date`, its terminator `aws4_request`.
//!
//! Verifying is two steps so that a server can refuse a request before reading its
//! body: [`check_headers`] checks everything the headers carry, then
//! [`HeadersChecked::verify_body`] hashes the body and compares the signature.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far a request's `x-amz-date` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The access keys whose signatures the server accepts: those it was given (id →
/// secret) and, once there are any, the credentials it issued to functions.
#[derive(Clone, Default)]
pub struct AccessKeys(
    HashMap<String, String>,
    Option<std::sync::Arc<gust_platform::FunctionKeys>>,
);

impl PartialEq for AccessKeys {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for AccessKeys {}

impl std::fmt::Debug for AccessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl AccessKeys {
    /// Parses `AKID:SECRET[,AKID:SECRET...]` (the `GUST_ACCESS_KEYS` form).
    pub fn parse(list: &str) -> Result<AccessKeys, String> {
        let mut keys = HashMap::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, secret) = item
                .split_once(':')
                .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                .ok_or_else(|| {
                    format!(
                        "access key '{}' is not ACCESS_KEY_ID:SECRET_ACCESS_KEY",
                        item.split(':').next().unwrap_or("")
                    )
                })?;
            keys.insert(id.to_string(), secret.to_string());
        }
        Ok(AccessKeys(keys, None))
    }

    /// Adds one key pair.
    pub fn insert(&mut self, id: &str, secret: &str) {
        self.0.insert(id.to_string(), secret.to_string());
    }

    /// Whether no key is configured (then nothing can be verified).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Also accepts the credentials `keys` issues to functions.
    pub fn with_function_keys(
        mut self,
        keys: std::sync::Arc<gust_platform::FunctionKeys>,
    ) -> AccessKeys {
        self.1 = Some(keys);
        self
    }

    /// Whether `secret` is the secret of one of the operator's keys (a function's
    /// temporary keys never count), and of the key `id` when one is given: what a
    /// scraper that cannot sign (Prometheus) sends as a bearer token or basic auth.
    pub fn is_operator_secret(&self, id: Option<&str>, secret: &str) -> bool {
        self.0.iter().fold(false, |found, (key, s)| {
            let same = s.len() == secret.len()
                && s.bytes()
                    .zip(secret.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            found | (same && id.is_none_or(|i| i == key))
        })
    }

    /// The secret of key `id`, given or issued.
    pub fn secret(&self, id: &str) -> Option<String> {
        self.0
            .get(id)
            .cloned()
            .or_else(|| self.1.as_ref()?.secret(id))
    }
}

/// The parts of a request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?` (empty when none).
    pub query: &'a str,
    /// Every header.
    pub headers: &'a HeaderMap,
}

/// What the server requires of a signature's credential scope
/// (`DATE/REGION/SERVICE/aws4_request`). The route decides the service; the date
/// must always be `x-amz-date`'s day and the terminator `aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The server's region.
    pub region: &'a str,
    /// The signing name of the service the request calls (`lambda`, later `s3`, ...).
    pub service: &'a str,
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id.
    pub access_key_id: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
}

/// Why a request's signature was refused. The messages follow AWS's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header or the date is not in SigV4's form.
    #[error("Authorization header is malformed: {0}")]
    Malformed(String),
    /// The server has no access keys configured.
    #[error(
        "no access keys are configured on this gust server, so signed requests cannot be verified"
    )]
    NoKeys,
    /// The access key is not one of the server's.
    #[error("The security token included in the request is invalid (unknown access key {0})")]
    UnknownKey(String),
    /// The credential scope is not the one the service requires (region, service,
    /// date or terminator); the message is AWS's.
    #[error("{0}")]
    Scope(String),
    /// `x-amz-date` is too far from the server's clock.
    #[error("Signature expired: {0} is more than 15 minutes from the server's time")]
    Expired(String),
    /// The signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
}

/// Verifies the SigV4 signature of a request at time `now`: [`check_headers`], then
/// [`HeadersChecked::verify_body`].
pub fn verify(
    req: &RequestParts<'_>,
    body: &[u8],
    keys: &AccessKeys,
    scope: Scope<'_>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    check_headers(req, keys, scope, now)?.verify_body(req, body)
}

/// A request whose signature header is well formed, scoped as the service requires,
/// made with a known key and recent: only the signature itself is left to compare.
pub struct HeadersChecked<'k> {
    auth: Authorization,
    secret: String,
    _keys: std::marker::PhantomData<&'k AccessKeys>,
    amz_date: String,
}

impl std::fmt::Debug for HeadersChecked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("HeadersChecked")
            .field("access_key_id", &self.auth.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Checks what the headers alone can tell (the `Authorization` header's form, the
/// credential scope, the key, the date), so that a request that cannot verify is
/// refused before its body is read.
pub fn check_headers<'k>(
    req: &RequestParts<'_>,
    keys: &'k AccessKeys,
    scope: Scope<'_>,
    now: SystemTime,
) -> Result<HeadersChecked<'k>, AuthError> {
    let header = req
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed("not ASCII".into()))?;
    let auth = parse_authorization(header)?;
    let amz_date = header_str(req.headers, "x-amz-date")
        .ok_or_else(|| AuthError::Malformed("the x-amz-date header is missing".into()))?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Malformed(format!("x-amz-date '{amz_date}' is not YYYYMMDDTHHMMSSZ"))
    })?;
    check_scope(&auth, amz_date, scope)?;
    if keys.is_empty() {
        return Err(AuthError::NoKeys);
    }
    let secret = keys
        .secret(&auth.access_key_id)
        .ok_or_else(|| AuthError::UnknownKey(auth.access_key_id.clone()))?;
    let now = time::OffsetDateTime::from(now);
    if (now - signed_at).unsigned_abs() > MAX_SKEW {
        return Err(AuthError::Expired(amz_date.to_string()));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Malformed(
            "SignedHeaders must include host".into(),
        ));
    }
    Ok(HeadersChecked {
        auth,
        secret,
        _keys: std::marker::PhantomData,
        amz_date: amz_date.to_string(),
    })
}

/// The credential scope against what the service requires, in AWS's order and words.
fn check_scope(auth: &Authorization, amz_date: &str, scope: Scope<'_>) -> Result<(), AuthError> {
    let day = amz_date.get(..8).unwrap_or(amz_date);
    if auth.date != day {
        return Err(AuthError::Scope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{day}', from '{amz_date}'.",
            auth.date
        )));
    }
    if auth.region != scope.region {
        return Err(AuthError::Scope(format!(
            "Credential should be scoped to a valid region, not '{}'. This gust server's \
             region is '{}'.",
            auth.region, scope.region
        )));
    }
    if auth.service != scope.service {
        return Err(AuthError::Scope(format!(
            "Credential should be scoped to correct service: '{}'.",
            scope.service
        )));
    }
    if auth.terminator != "aws4_request" {
        return Err(AuthError::Scope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            auth.terminator
        )));
    }
    Ok(())
}

impl HeadersChecked<'_> {
    /// Hashes `body` and compares the signature, in constant time.
    pub fn verify_body(self, req: &RequestParts<'_>, body: &[u8]) -> Result<Verified, AuthError> {
        let HeadersChecked {
            auth,
            secret,
            amz_date,
            ..
        } = self;
        let payload_hash = match header_str(req.headers, "x-amz-content-sha256") {
            Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_string(),
            Some(claimed) => {
                let actual = hex(&Sha256::digest(body));
                if !claimed.eq_ignore_ascii_case(&actual) {
                    return Err(AuthError::Mismatch);
                }
                actual
            }
            None => hex(&Sha256::digest(body)),
        };
        let canonical = canonical_request(req, &auth.signed_headers, &payload_hash)
            .ok_or_else(|| AuthError::Malformed("a signed header is missing or not text".into()))?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key(&secret, &auth.date, &auth.region, &auth.service);
        let expected = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
        let given = auth.signature.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(AuthError::Mismatch);
        }
        Ok(Verified {
            access_key_id: auth.access_key_id,
            region: auth.region,
            service: auth.service,
        })
    }
}

/// The fields of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    /// `aws4_request` in a well-formed scope; checked with the rest of the scope.
    terminator: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(header: &str) -> Result<Authorization, AuthError> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| AuthError::Malformed(format!("the algorithm must be {ALGORITHM}")))?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| AuthError::Malformed(format!("{what} is missing"));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let mut scope = credential.split('/');
    let (Some(id), Some(date), Some(region), Some(service), Some(terminator), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(AuthError::Malformed(format!(
            "Credential '{credential}' is not AKID/DATE/REGION/SERVICE/aws4_request"
        )));
    };
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed(
            "Signature must be 64 hex digits".into(),
        ));
    }
    Ok(Authorization {
        access_key_id: id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.to_string(),
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The canonical request, or `None` when a signed header is absent.
pub(crate) fn canonical_request(
    req: &RequestParts<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> Option<String> {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    let mut names: Vec<&String> = signed_headers.iter().collect();
    names.sort();
    names.dedup();
    for name in &names {
        let mut values = Vec::new();
        for v in req.headers.get_all(name.as_str()) {
            values.push(fold_spaces(std::str::from_utf8(v.as_bytes()).ok()?));
        }
        if values.is_empty() {
            return None;
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(
        &names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(";"),
    );
    out.push('\n');
    out.push_str(payload_hash);
    Some(out)
}

/// Trims and folds runs of whitespace into one space.
fn fold_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path with dot and empty segments removed, percent-encoded once more.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    encode(&normalized, true)
}

/// Query pairs decoded, re-encoded strictly and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes every byte but the unreserved ones (and `/` when `keep_slash`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (not `+`); invalid escapes stay as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hexpair = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hexpair.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `20150830T123600Z`, read as UTC.
fn parse_amz_date(s: &str) -> Option<time::OffsetDateTime> {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, FORMAT)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::HeaderValue;

    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 20150830T123600Z, the time of AWS's test suite.
    const SUITE_TIME: u64 = 1_440_938_160;

    /// The scope of AWS's test suite.
    const SUITE_SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        service: "service",
    };

    fn keys() -> AccessKeys {
        AccessKeys::parse(&format!("{AKID}:{SECRET}")).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn suite_auth(signed: &str, signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed}, Signature={signature}"
        )
    }

    /// One request of AWS's SigV4 test suite, verified at the suite's time.
    fn suite(
        method: &str,
        path: &str,
        query: &str,
        signature: &str,
    ) -> Result<Verified, AuthError> {
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", &suite_auth("host;x-amz-date", signature)),
        ]);
        let req = RequestParts {
            method,
            path,
            query,
            headers: &h,
        };
        verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME))
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn aws_test_suite_vectors_verify() {
        let ok = |r: Result<Verified, AuthError>| {
            let v = r.unwrap();
            assert_eq!(v.access_key_id, AKID);
            assert_eq!(
                (v.region.as_str(), v.service.as_str()),
                ("us-east-1", "service")
            );
        };
        // get-vanilla
        ok(suite(
            "GET",
            "/",
            "",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ));
        // get-vanilla-query-order-key-case: parameters are sorted.
        ok(suite(
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ));
        // post-vanilla
        ok(suite(
            "POST",
            "/",
            "",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ));
        // get-utf8: the path `/ሴ`, encoded for signing.
        ok(suite(
            "GET",
            "/ሴ",
            "",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ));
        // get-slash-dot-slash, get-slashes, get-relative: normalisation gives `/`.
        for path in ["/./", "//", "/example/..", "/example/.."] {
            ok(suite(
                "GET",
                path,
                "",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ));
        }
    }

    #[test]
    fn tampering_is_refused() {
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert_eq!(suite("POST", "/", "", sig), Err(AuthError::Mismatch));
        assert_eq!(suite("GET", "/x", "", sig), Err(AuthError::Mismatch));
        assert_eq!(suite("GET", "/", "a=b", sig), Err(AuthError::Mismatch));
        let mut bad = sig.to_string();
        bad.replace_range(0..1, "6");
        assert_eq!(suite("GET", "/", "", &bad), Err(AuthError::Mismatch));
    }

    #[test]
    fn keys_time_and_form_are_checked() {
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", &suite_auth("host;x-amz-date", sig)),
        ]);
        let req = RequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers: &h,
        };
        assert_eq!(
            verify(
                &req,
                b"",
                &AccessKeys::default(),
                SUITE_SCOPE,
                at(SUITE_TIME)
            ),
            Err(AuthError::NoKeys)
        );
        let other = AccessKeys::parse("AKIDOTHER:secret").unwrap();
        assert!(matches!(
            verify(&req, b"", &other, SUITE_SCOPE, at(SUITE_TIME)),
            Err(AuthError::UnknownKey(_))
        ));
        assert!(verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME + 14 * 60)).is_ok());
        assert!(matches!(
            verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME + 16 * 60)),
            Err(AuthError::Expired(_))
        ));
        assert!(matches!(
            verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME - 16 * 60)),
            Err(AuthError::Expired(_))
        ));
        let unsigned_host = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", &suite_auth("x-amz-date", sig)),
        ]);
        let req = RequestParts {
            headers: &unsigned_host,
            ..req
        };
        assert!(matches!(
            verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME)),
            Err(AuthError::Malformed(_))
        ));
        let none = HeaderMap::new();
        let req = RequestParts {
            headers: &none,
            ..req
        };
        assert_eq!(
            verify(&req, b"", &keys(), SUITE_SCOPE, at(SUITE_TIME)),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn the_credential_scope_must_be_the_services() {
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let check = |credential_scope: &str, scope: Scope<'_>| {
            let h = headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    &format!(
                        "AWS4-HMAC-SHA256 Credential={AKID}/{credential_scope}, \
                         SignedHeaders=host;x-amz-date, Signature={sig}"
                    ),
                ),
            ]);
            let req = RequestParts {
                method: "GET",
                path: "/",
                query: "",
                headers: &h,
            };
            verify(&req, b"", &keys(), scope, at(SUITE_TIME))
        };
        let refused = |r: Result<Verified, AuthError>| match r {
            Err(AuthError::Scope(m)) => m,
            other => panic!("expected a scope error, got {other:?}"),
        };
        assert!(check("20150830/us-east-1/service/aws4_request", SUITE_SCOPE).is_ok());
        let m = refused(check("20150830/mars-1/service/aws4_request", SUITE_SCOPE));
        assert!(m.starts_with("Credential should be scoped to a valid region, not 'mars-1'."));
        let m = refused(check("20150830/us-east-1/s3/aws4_request", SUITE_SCOPE));
        assert_eq!(
            m,
            "Credential should be scoped to correct service: 'service'."
        );
        // The same signature, checked for another service, is refused: the route
        // decides the service, not the signer.
        let lambda = Scope {
            service: "lambda",
            ..SUITE_SCOPE
        };
        let m = refused(check("20150830/us-east-1/service/aws4_request", lambda));
        assert_eq!(
            m,
            "Credential should be scoped to correct service: 'lambda'."
        );
        let m = refused(check(
            "20150830/us-east-1/service/aws5_request",
            SUITE_SCOPE,
        ));
        assert!(
            m.contains("valid terminator: 'aws4_request', not 'aws5_request'"),
            "{m}"
        );
        let m = refused(check(
            "20150831/us-east-1/service/aws4_request",
            SUITE_SCOPE,
        ));
        assert!(
            m.starts_with("Date in Credential scope does not match"),
            "{m}"
        );
        assert!(m.contains("'20150831' != '20150830'"), "{m}");
    }

    #[test]
    fn bodies_are_covered_by_the_signature() {
        // Sign a POST with a body the way the SDKs do, then change the body.
        let body = b"Param1=value1";
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
        };
        let signed = vec![
            "content-type".to_string(),
            "host".to_string(),
            "x-amz-date".to_string(),
        ];
        let canonical = canonical_request(&req, &signed, &hex(&Sha256::digest(body))).unwrap();
        let sts = format!(
            "{ALGORITHM}\n20150830T123600Z\n20150830/us-east-1/lambda/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let sig = hex(&hmac_sha256(
            &signing_key(SECRET, "20150830", "us-east-1", "lambda"),
            sts.as_bytes(),
        ));
        let mut h2 = h.clone();
        h2.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/lambda/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature={sig}"
            ))
            .unwrap(),
        );
        let req = RequestParts {
            headers: &h2,
            ..req
        };
        let lambda = Scope {
            service: "lambda",
            ..SUITE_SCOPE
        };
        let v = verify(&req, body, &keys(), lambda, at(SUITE_TIME)).unwrap();
        assert_eq!(v.service, "lambda");
        assert_eq!(
            verify(&req, b"Param1=value2", &keys(), lambda, at(SUITE_TIME)),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_uri("/a b/../c//d/"), "/c/d/");
        assert_eq!(canonical_uri("/x%20y"), "/x%2520y");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_query("b=2&a=%7E&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(canonical_query("q=a%20b&r=%2F"), "q=a%20b&r=%2F");
        assert_eq!(fold_spaces("  a   b\t c "), "a b c");
        assert_eq!(
            parse_amz_date("20150830T123600Z").map(|t| t.unix_timestamp()),
            Some(SUITE_TIME as i64)
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }

    #[test]
    fn access_key_lists() {
        let k = AccessKeys::parse(" A:s1 , B:s:2 ").unwrap();
        assert_eq!(k.secret("A").as_deref(), Some("s1"));
        assert_eq!(k.secret("B").as_deref(), Some("s:2"));
        assert!(AccessKeys::parse("nosecret").is_err());
        assert!(AccessKeys::parse("").unwrap().is_empty());
        assert!(!format!("{k:?}").contains("s1"));
    }
}
