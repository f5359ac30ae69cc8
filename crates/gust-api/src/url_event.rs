//! Function URL requests and responses ↔ the Lambda payload format 2.0, as AWS
//! maps them (the API Gateway HTTP API format). Pure functions, no I/O.
//!
//! Request → event: `rawPath` is the path as sent (still percent-encoded) and
//! `requestContext.http.path` the decoded one; the `Cookie` header moves into
//! `cookies`; other headers are lower-cased, repeated ones comma-joined; query
//! parameters are decoded and repeated ones comma-joined; a body whose content type
//! is not text is base64-encoded with `isBase64Encoded: true`.
//!
//! Response ← result: an object with `statusCode` gives the status, `headers`,
//! `cookies` (one `Set-Cookie` each) and `body` (base64-decoded when
//! `isBase64Encoded`); any other JSON value is a 200 `application/json` whose body is
//! the value itself.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::sigv4::Verified;

/// What the event is built from.
#[derive(Debug)]
pub struct UrlRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path as sent, after any `/gust/v1/urls/ID` prefix; starts with `/`.
    pub raw_path: &'a str,
    /// The query string as sent, without `?`.
    pub raw_query: &'a str,
    /// `HTTP/1.1`, ...
    pub protocol: &'a str,
    /// Every request header.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
    /// The client's address.
    pub source_ip: String,
    /// The URL's id.
    pub url_id: &'a str,
    /// The URL's host name, `ID.lambda-url.REGION.localhost`.
    pub domain_name: String,
    /// The invocation's request id.
    pub request_id: &'a str,
    /// When the request arrived.
    pub time: SystemTime,
    /// The signer, for `AWS_IAM` URLs.
    pub caller: Option<&'a Verified>,
    /// The function owner's account id.
    pub account_id: &'a str,
}

/// The event of payload format 2.0.
pub fn build_event(r: &UrlRequest<'_>) -> Value {
    let mut headers = Map::new();
    let mut cookies: Vec<String> = Vec::new();
    for name in r.headers.keys() {
        let values: Vec<String> = r
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name == http::header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        headers.insert(name.as_str().to_string(), Value::String(values.join(",")));
    }
    let host_port = r
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "80".into());
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| Value::String(r.source_ip.clone()));
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| Value::String("http".into()));
    headers
        .entry("x-forwarded-port")
        .or_insert_with(|| Value::String(host_port));

    let mut query = Map::new();
    for pair in r.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k), form_decode(v));
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }

    let since_epoch = r.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let user_agent = r
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut context = json!({
        "accountId": if r.caller.is_some() { r.account_id } else { "anonymous" },
        "apiId": r.url_id,
        "domainName": r.domain_name,
        "domainPrefix": r.url_id,
        "http": {
            "method": r.method,
            "path": percent_decode(r.raw_path),
            "protocol": r.protocol,
            "sourceIp": r.source_ip,
            "userAgent": user_agent,
        },
        "requestId": r.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": clf_time(since_epoch.as_secs() as i64),
        "timeEpoch": since_epoch.as_millis() as u64,
    });
    if let Some(caller) = r.caller {
        context["authorizer"] = json!({
            "iam": {
                "accessKey": caller.access_key_id,
                "accountId": r.account_id,
                "callerId": caller.access_key_id,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{}:user/{}", r.account_id, caller.access_key_id),
                "userId": caller.access_key_id,
            }
        });
    }

    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": r.raw_path,
        "rawQueryString": r.raw_query,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    event["headers"] = Value::Object(headers);
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    event["requestContext"] = context;
    let content_type = r
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let text_body =
        r.body.is_empty() || (is_text(content_type) && std::str::from_utf8(r.body).is_ok());
    let is_base64 = !text_body;
    if !r.body.is_empty() {
        event["body"] = Value::String(if is_base64 {
            base64::engine::general_purpose::STANDARD.encode(r.body)
        } else {
            String::from_utf8_lossy(r.body).into_owned()
        });
    }
    event["isBase64Encoded"] = Value::Bool(is_base64);
    event
}

/// Whether a body of this content type is passed as text. Form posts and anything
/// unknown are binary, as function URLs do.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/graphql"
                | "application/x-ndjson"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// An HTTP response built from a function's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order (names as the function wrote them).
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a function's result is not an HTTP response (answered with 502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The result is not JSON.
    #[error("the function's result is not JSON")]
    NotJson,
    /// `statusCode` is not a status.
    #[error("statusCode {0} is not an HTTP status")]
    BadStatus(String),
    /// `isBase64Encoded` with a body that is not base64.
    #[error("the body is marked isBase64Encoded but is not base64")]
    BadBase64,
}

/// Maps a function's result to the HTTP response.
pub fn map_response(payload: &[u8]) -> Result<UrlResponse, ResponseError> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| ResponseError::NotJson)?;
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(UrlResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            cookies: Vec::new(),
            body: payload.to_vec(),
        });
    };
    let status = match &obj["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| (100..=599).contains(s))
    .ok_or_else(|| ResponseError::BadStatus(obj["statusCode"].to_string()))?;
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (k, v) in h {
            headers.push((k.clone(), scalar(v)));
        }
    }
    let mut cookies = Vec::new();
    if let Some(Value::Array(c)) = obj.get("cookies") {
        cookies.extend(c.iter().map(scalar));
    }
    let base64 = obj
        .get("isBase64Encoded")
        .is_some_and(|b| b.as_bool() == Some(true));
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if base64 => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| ResponseError::BadBase64)?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(UrlResponse {
        status: status as u16,
        headers,
        cookies,
        body,
    })
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `%XX` decoded; `+` is a space (query strings).
fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// `%XX` decoded; invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `12/Mar/2020:19:03:58 +0000`.
fn clf_time(secs: i64) -> String {
    let fmt = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8], query: &'a str) -> UrlRequest<'a> {
        UrlRequest {
            method: "POST",
            raw_path: "/my/pa%20th",
            raw_query: query,
            protocol: "HTTP/1.1",
            headers,
            body,
            source_ip: "127.0.0.1".into(),
            url_id: "abcdefghijklmnopqrstuvwxyz012345",
            domain_name: "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.localhost".into(),
            request_id: "rid",
            time: UNIX_EPOCH + Duration::from_millis(1_583_348_638_390),
            caller: None,
            account_id: "000000000000",
        }
    }

    #[test]
    fn builds_the_documented_event() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("x.lambda-url.us-east-1.localhost:9000"),
        );
        h.append("X-Multi", HeaderValue::from_static("value1"));
        h.append("x-multi", HeaderValue::from_static("value2"));
        h.append("cookie", HeaderValue::from_static("cookie1=a; cookie2=b"));
        h.append("cookie", HeaderValue::from_static("cookie3=c"));
        h.insert("user-agent", HeaderValue::from_static("agent"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        let e = build_event(&request(
            &h,
            b"Hello from client!",
            "parameter1=value1&parameter1=value2&parameter2=a+b%21",
        ));
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/my/pa%20th");
        assert_eq!(
            e["rawQueryString"],
            "parameter1=value1&parameter1=value2&parameter2=a+b%21"
        );
        assert_eq!(e["cookies"], json!(["cookie1=a", "cookie2=b", "cookie3=c"]));
        assert_eq!(e["headers"]["x-multi"], "value1,value2");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["headers"]["x-forwarded-proto"], "http");
        assert_eq!(e["headers"]["x-forwarded-port"], "9000");
        assert_eq!(
            e["queryStringParameters"],
            json!({"parameter1": "value1,value2", "parameter2": "a b!"})
        );
        let c = &e["requestContext"];
        assert_eq!(c["accountId"], "anonymous");
        assert_eq!(c["apiId"], "abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(c["domainPrefix"], "abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(c["http"]["method"], "POST");
        assert_eq!(c["http"]["path"], "/my/pa th");
        assert_eq!(c["http"]["protocol"], "HTTP/1.1");
        assert_eq!(c["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(c["http"]["userAgent"], "agent");
        assert_eq!(c["requestId"], "rid");
        assert_eq!(c["stage"], "$default");
        assert_eq!(c["time"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(c["timeEpoch"], 1_583_348_638_390u64);
        assert!(c.get("authorizer").is_none());
        assert_eq!(e["body"], "Hello from client!");
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn binary_and_form_bodies_are_base64() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("image/png"));
        let e = build_event(&request(&h, &[0x89, b'P', b'N', b'G', 0, 0xff], ""));
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "iVBORwD/");
        assert!(e.get("queryStringParameters").is_none());
        assert!(e.get("cookies").is_none());
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let e = build_event(&request(&h, b"a=1&b=2", ""));
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "YT0xJmI9Mg==");
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let e = build_event(&request(&h, b"{\"a\":1}", ""));
        assert_eq!(e["isBase64Encoded"], false);
        let e = build_event(&request(&h, b"", ""));
        assert!(e.get("body").is_none());
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn iam_callers_are_described() {
        let h = HeaderMap::new();
        let caller = Verified {
            access_key_id: "AKID".into(),
            region: "us-east-1".into(),
            service: "lambda".into(),
        };
        let mut r = request(&h, b"", "");
        r.caller = Some(&caller);
        let e = build_event(&r);
        assert_eq!(e["requestContext"]["accountId"], "000000000000");
        assert_eq!(
            e["requestContext"]["authorizer"]["iam"]["accessKey"],
            "AKID"
        );
    }

    #[test]
    fn structured_results_become_responses() {
        let r = map_response(
            br#"{"statusCode":201,"headers":{"Content-Type":"text/html","X-N":5},
                 "cookies":["a=1; Path=/","b=2"],"body":"<p>hi</p>"}"#,
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers,
            [
                ("Content-Type".to_string(), "text/html".to_string()),
                ("X-N".to_string(), "5".to_string())
            ]
        );
        assert_eq!(r.cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(r.body, b"<p>hi</p>");
        let r = map_response(br#"{"statusCode":"302","headers":{"location":"/x"}}"#).unwrap();
        assert_eq!(r.status, 302);
        assert!(r.body.is_empty());
        let r = map_response(br#"{"statusCode":200,"body":"iVBORw==","isBase64Encoded":true}"#)
            .unwrap();
        assert_eq!(r.body, [0x89, b'P', b'N', b'G']);
    }

    #[test]
    fn other_values_are_json_200s() {
        for payload in [
            &br#""Hello, world!""#[..],
            br#"{"message":"Hello, world!"}"#,
            b"[1,2]",
            b"42",
            b"null",
        ] {
            let r = map_response(payload).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(
                r.headers,
                [("content-type".into(), "application/json".into())]
            );
            assert_eq!(r.body, payload);
        }
    }

    #[test]
    fn broken_results_are_errors() {
        assert_eq!(map_response(b"not json"), Err(ResponseError::NotJson));
        assert!(matches!(
            map_response(br#"{"statusCode":99}"#),
            Err(ResponseError::BadStatus(_))
        ));
        assert!(matches!(
            map_response(br#"{"statusCode":"abc"}"#),
            Err(ResponseError::BadStatus(_))
        ));
        assert_eq!(
            map_response(br#"{"statusCode":200,"body":"***","isBase64Encoded":true}"#),
            Err(ResponseError::BadBase64)
        );
    }
}
