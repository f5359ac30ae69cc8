//! Signing requests with AWS Signature Version 4: the client half of [`sigv4`],
//! built from the same canonical-request code so what the CLI signs is exactly what
//! the server verifies.
//!
//! [`sigv4`]: crate::sigv4

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::sigv4::{canonical_request, hex, hmac_sha256, signing_key, RequestParts, ALGORITHM};

/// A key pair and where it signs for.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope (`lambda`).
    pub service: String,
}

/// The hex SHA-256 of a body, as `x-amz-content-sha256` carries it. A client that
/// streams its body sends this header up front and signs with [`sign_hashed`].
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// Adds `x-amz-date`, `x-amz-content-sha256` and `Authorization` to `headers`, which
/// must already hold `host`. `path` and `query` are as they will be sent.
pub fn sign(
    method: &str,
    path: &str,
    query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    creds: &Credentials,
    now: SystemTime,
) {
    sign_hashed(
        method,
        path,
        query,
        headers,
        &payload_hash(body),
        creds,
        now,
    );
}

/// Like [`sign`], for a body known only by its hash (the server checks the hash
/// against the body it receives).
pub fn sign_hashed(
    method: &str,
    path: &str,
    query: &str,
    headers: &mut HeaderMap,
    payload_hash: &str,
    creds: &Credentials,
    now: SystemTime,
) {
    let t = time::OffsetDateTime::from(now);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    if let Ok(v) = HeaderValue::from_str(&amz_date) {
        headers.insert("x-amz-date", v);
    }
    if let Ok(v) = HeaderValue::from_str(payload_hash) {
        headers.insert("x-amz-content-sha256", v);
    }
    let signed: Vec<String> = ["host", "x-amz-content-sha256", "x-amz-date"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let parts = RequestParts {
        method,
        path,
        query,
        headers,
    };
    let Some(canonical) = canonical_request(&parts, &signed, payload_hash) else {
        return;
    };
    let scope = format!("{date}/{}/{}/aws4_request", creds.region, creds.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(
        &creds.secret_access_key,
        &date,
        &creds.region,
        &creds.service,
    );
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let header = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        signed.join(";")
    );
    if let Ok(v) = HeaderValue::from_str(&header) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{verify, AccessKeys, AuthError, Scope};

    const LAMBDA: Scope<'static> = Scope {
        region: "us-east-1",
        service: "lambda",
    };

    fn creds(secret: &str) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: secret.into(),
            region: "us-east-1".into(),
            service: "lambda".into(),
        }
    }

    #[test]
    fn what_is_signed_verifies_and_tampering_does_not() {
        let keys = AccessKeys::parse("AKIDEXAMPLE:s3cret").unwrap();
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        let path = "/2015-03-31/functions/my%20fn/invocations";
        let body = br#"{"a":1}"#;
        sign(
            "POST",
            path,
            "Qualifier=1",
            &mut headers,
            body,
            &creds("s3cret"),
            now,
        );
        let parts = RequestParts {
            method: "POST",
            path,
            query: "Qualifier=1",
            headers: &headers,
        };
        assert!(verify(&parts, body, &keys, LAMBDA, now).is_ok());
        assert_eq!(
            verify(&parts, br#"{"a":2}"#, &keys, LAMBDA, now),
            Err(AuthError::Mismatch)
        );
        let other = RequestParts {
            query: "Qualifier=2",
            ..parts
        };
        assert_eq!(
            verify(&other, body, &keys, LAMBDA, now),
            Err(AuthError::Mismatch)
        );

        let mut wrong = HeaderMap::new();
        wrong.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        sign("POST", path, "", &mut wrong, body, &creds("guess"), now);
        let parts = RequestParts {
            method: "POST",
            path,
            query: "",
            headers: &wrong,
        };
        assert_eq!(
            verify(&parts, body, &keys, LAMBDA, now),
            Err(AuthError::Mismatch)
        );
    }
}
