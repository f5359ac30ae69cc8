//! `arn:aws:states:::aws-sdk:s3:<action>` tasks (and Map's ItemReader) on gust's
//! buckets: each is one request to the in-process S3 service, answered as the SDK
//! integration answers (`Body` as a string, errors as `S3.<Code>Exception`).

use std::sync::Arc;

use bytes::Bytes;
use gust_workflows::tasks::TaskError;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};

/// The actions gust runs.
const ACTIONS: &[&str] = &["getObject", "putObject", "deleteObject", "listObjectsV2"];

fn invalid(cause: String) -> TaskError {
    TaskError {
        error: "S3.InvalidRequestException".into(),
        cause,
    }
}

fn field<'a>(p: &'a Value, name: &str) -> Result<&'a str, TaskError> {
    p.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("the parameter {name} (a string) is required")))
}

/// Percent-encodes a key for a path, keeping its slashes.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs one action.
pub(crate) async fn call(
    buckets: &Arc<gust_buckets::Buckets>,
    action: &str,
    p: Value,
) -> Result<Value, TaskError> {
    let bucket = field(&p, "Bucket")?;
    let (method, uri, body) = match action {
        "getObject" => (
            "GET",
            format!("/{bucket}/{}", encode_key(field(&p, "Key")?)),
            Bytes::new(),
        ),
        "deleteObject" => (
            "DELETE",
            format!("/{bucket}/{}", encode_key(field(&p, "Key")?)),
            Bytes::new(),
        ),
        "putObject" => {
            let body = match p.get("Body") {
                Some(Value::String(s)) => Bytes::from(s.clone()),
                Some(other) => Bytes::from(other.to_string()),
                None => Bytes::new(),
            };
            (
                "PUT",
                format!("/{bucket}/{}", encode_key(field(&p, "Key")?)),
                body,
            )
        }
        "listObjectsV2" => {
            let mut q = String::from("list-type=2");
            if let Some(prefix) = p.get("Prefix").and_then(Value::as_str) {
                q.push_str("&prefix=");
                q.push_str(&encode_key(prefix).replace('/', "%2F"));
            }
            ("GET", format!("/{bucket}?{q}"), Bytes::new())
        }
        other => {
            return Err(invalid(format!(
                "gust runs the S3 actions {} as aws-sdk tasks, not {other}",
                ACTIONS.join(", ")
            )))
        }
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(&uri)
        .header("host", "gust");
    if let Some(ct) = p.get("ContentType").and_then(Value::as_str) {
        req = req.header("content-type", ct);
    }
    let req = req
        .body(s3s::Body::from(body))
        .map_err(|e| invalid(e.to_string()))?;
    let service = buckets.service(None);
    let resp = service.call(req).await.map_err(|e| TaskError {
        error: "S3.S3Exception".into(),
        cause: format!("{e:?}"),
    })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| TaskError {
            error: "S3.S3Exception".into(),
            cause: e.to_string(),
        })?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    if !status.is_success() {
        let code = tag(&text, "Code").unwrap_or("S3");
        let message = tag(&text, "Message")
            .map(unescape)
            .unwrap_or_else(|| text.clone());
        let name = if code.ends_with("Exception") {
            code.to_string()
        } else {
            format!("{code}Exception")
        };
        return Err(TaskError {
            error: format!("S3.{name}"),
            cause: format!("{message} (Service: S3, Status Code: {})", status.as_u16()),
        });
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(match action {
        "getObject" => json!({
            "Body": text,
            "ContentLength": bytes.len(),
            "ContentType": header("content-type"),
            "ETag": header("etag"),
            "LastModified": header("last-modified"),
        }),
        "putObject" => json!({ "ETag": header("etag") }),
        "deleteObject" => json!({}),
        _ => {
            let contents: Vec<Value> = text
                .split("<Contents>")
                .skip(1)
                .map(|c| {
                    json!({
                        "Key": tag(c, "Key").map(unescape),
                        "Size": tag(c, "Size").and_then(|s| s.parse::<u64>().ok()),
                        "ETag": tag(c, "ETag").map(unescape),
                        "LastModified": tag(c, "LastModified"),
                    })
                })
                .collect();
            json!({
                "Contents": contents,
                "KeyCount": contents.len(),
                "IsTruncated": tag(&text, "IsTruncated") == Some("true"),
                "Name": bucket,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_slashes_and_escape_the_rest() {
        assert_eq!(encode_key("a b/c+d.json"), "a%20b/c%2Bd.json");
    }

    #[test]
    fn tags_are_read_and_unescaped() {
        let xml = "<Error><Code>NoSuchKey</Code><Message>a &amp; b</Message></Error>";
        assert_eq!(tag(xml, "Code"), Some("NoSuchKey"));
        assert_eq!(tag(xml, "Message").map(unescape).as_deref(), Some("a & b"));
    }
}
