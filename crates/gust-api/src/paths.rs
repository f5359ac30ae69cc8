//! Refusing request paths with dot segments, before anything routes them.
//!
//! SigV4's canonical URI resolves `.` and `..` segments, but routing (and a function
//! URL's `rawPath`) would take the path as sent: a signature made for
//! `/gust/v1/urls/A/public` would then also cover `/gust/v1/urls/B/../A/public`,
//! which routes to B. Rather than route a path other than the one that was signed,
//! gust refuses every path that has such a segment, spelled plainly or
//! percent-encoded (`%2e`, `%2E`, and `%2F` for the slashes around it), with 400
//! InvalidParameterValueException, as it refuses other invalid names in paths.
//! No AWS client sends one: the SDKs resolve them before signing.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

use crate::error::aws_error;
use crate::routes::request_id;

/// Middleware: 400 for a path with a `.` or `..` segment, before routing.
pub async fn refuse_dot_segments(req: Request, next: Next) -> Response {
    if has_dot_segment(req.uri().path()) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "The request path has a '.' or '..' segment (perhaps percent-encoded); gust \
             refuses such paths rather than route one other than the one that was signed. \
             Send the path with its dot segments resolved."
                .to_string(),
            None,
            &request_id(),
        );
    }
    next.run(req).await
}

/// Whether `path`, once percent-decoded, has a `.` or `..` segment.
pub fn has_dot_segment(path: &str) -> bool {
    let decoded = percent_decode(path.as_bytes());
    decoded
        .split(|&b| b == b'/' || b == b'\\')
        .any(|seg| seg == b"." || seg == b"..")
}

/// `%XX` escapes decoded (invalid ones kept as they are), as bytes.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_however_spelled() {
        for path in [
            "/gust/v1/urls/b/../a/public",
            "/gust/v1/urls/a/./public",
            "/..",
            "/.",
            "/a/%2e%2e/b",
            "/a/%2E%2e/b",
            "/a/.%2E",
            "/a/%2e",
            "/a%2F..%2Fb",
            "/a/..%5Cb",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/",
            "/2015-03-31/functions/my.fn/invocations",
            "/gust/v1/urls/a/file.tar.gz",
            "/a/.../b",
            "/a/..b/.c",
            "/a/%2",
            "/a/%",
            "/a//b",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
