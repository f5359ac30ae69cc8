//! Extractors shared by the route modules: the function a request names and its JSON
//! body. Each refuses a request the way the Lambda API does (status, error type and
//! message), so a handler starts from typed values and only calls the platform.
//!
//! Axum runs extractors in the order of the handler's arguments, so the function
//! (path, then `Qualifier`) is checked before the body is read or parsed.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gust_types::{CoreError, FunctionRef, Region};
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::error_response;
use crate::routes::request_id;

/// The function the path's `{name}` names (a name, partial ARN or ARN, with any
/// `:qualifier` it carries), for operations that take no `Qualifier` parameter.
pub(crate) struct PathFunction(pub FunctionRef);

/// The function the path's `{name}` names, qualified by the `Qualifier` query
/// parameter when there is one (which must then agree with a qualifier in the name).
pub(crate) struct QualifiedFunction(pub FunctionRef);

/// A JSON request body. An empty or malformed body is `InvalidRequestContentException`.
pub(crate) struct JsonBody<T>(pub T);

/// A JSON request body that may be empty, meaning `T::default()`: the body of
/// operations whose fields are all optional. A malformed body is refused as by
/// [`JsonBody`].
pub(crate) struct JsonOrDefault<T>(pub T);

/// The path parameter every function route has.
#[derive(Debug, Deserialize)]
struct NameParam {
    name: String,
}

#[derive(Debug, Deserialize)]
struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

/// The region the server answers for, which function ARNs in paths must name. The
/// extractors take it from the router's state.
#[derive(Debug, Clone)]
pub(crate) struct LocalRegion(pub Region);

impl FromRef<std::sync::Arc<gust_platform::Platform>> for LocalRegion {
    fn from_ref(p: &std::sync::Arc<gust_platform::Platform>) -> Self {
        LocalRegion(p.region().clone())
    }
}

impl FromRef<()> for LocalRegion {
    fn from_ref(_: &()) -> Self {
        LocalRegion(Region::default())
    }
}

fn refuse(err: CoreError) -> Response {
    error_response(&err, &request_id())
}

/// The path's `{name}`. A path that does not decode keeps axum's rejection, which
/// `error::aws_shaped_rejections` gives AWS's shape like every other.
async fn path_name<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, Response> {
    let Path(NameParam { name }) = Path::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(name)
}

impl<S: Send + Sync> FromRequestParts<S> for PathFunction
where
    LocalRegion: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let name = path_name(parts, state).await?;
        let LocalRegion(region) = LocalRegion::from_ref(state);
        FunctionRef::parse_local(&name, &region)
            .map(PathFunction)
            .map_err(refuse)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QualifiedFunction
where
    LocalRegion: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let name = path_name(parts, state).await?;
        let Query(q) = Query::<QualifierQuery>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let LocalRegion(region) = LocalRegion::from_ref(state);
        FunctionRef::parse_local(&name, &region)
            .and_then(|f| f.with_qualifier(q.qualifier.as_deref()))
            .map(QualifiedFunction)
            .map_err(refuse)
    }
}

/// The body, read whole (a body over the route's limit keeps axum's 413 rejection).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Response> {
    Bytes::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, CoreError> {
    if body.is_empty() {
        return Err(CoreError::InvalidRequestContent(
            "The request body is empty".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        CoreError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = read_body(req, state).await?;
        parse_json(&body).map(JsonBody).map_err(refuse)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = read_body(req, state).await?;
        if body.is_empty() {
            return Ok(JsonOrDefault(T::default()));
        }
        parse_json(&body).map(JsonOrDefault).map_err(refuse)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::Router;
    use http::StatusCode;
    use http_body_util::BodyExt;
    use tower::Service;

    use super::*;

    fn router() -> Router {
        let show = |f: FunctionRef| format!("{} {:?}", f.name, f.qualifier);
        Router::new()
            .route(
                "/q/{name}",
                get(move |QualifiedFunction(f): QualifiedFunction| async move { show(f) }),
            )
            .route(
                "/p/{name}",
                post(
                    move |PathFunction(f): PathFunction, JsonBody(v): JsonBody<Vec<u32>>| async move {
                        format!("{} {v:?}", show(f))
                    },
                ),
            )
            .route(
                "/d",
                post(|JsonOrDefault(v): JsonOrDefault<Vec<u32>>| async move { format!("{v:?}") }),
            )
    }

    /// Status, `x-amzn-ErrorType` (empty on success) and the body's text (the
    /// message of an error).
    async fn send(method: &str, uri: &str, body: &'static str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let resp = router().call(req).await.unwrap();
        let status = resp.status();
        let kind = resp
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let text = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if !kind.is_empty() => v["message"].as_str().unwrap().to_string(),
            _ => text,
        };
        (status, kind, text)
    }

    const INVALID_PARAMETER: &str = "InvalidParameterValueException";
    const INVALID_CONTENT: &str = "InvalidRequestContentException";

    /// The body of a successful answer.
    async fn answer(method: &str, uri: &str, body: &'static str) -> String {
        let (status, kind, text) = send(method, uri, body).await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::OK, ""),
            "{uri}: {text}"
        );
        text
    }

    /// The message of a refusal, which must be a 400 of type `kind`.
    async fn refusal(method: &str, uri: &str, body: &'static str, kind: &str) -> String {
        let (status, got, message) = send(method, uri, body).await;
        assert_eq!(
            (status, got.as_str()),
            (StatusCode::BAD_REQUEST, kind),
            "{uri}: {message}"
        );
        message
    }

    #[tokio::test]
    async fn the_qualifier_comes_from_the_name_or_the_query_and_they_must_agree() {
        assert_eq!(answer("GET", "/q/f", "").await, "f None");
        assert_eq!(answer("GET", "/q/f?Qualifier=2", "").await, "f Some(\"2\")");
        assert_eq!(answer("GET", "/q/f:live", "").await, "f Some(\"live\")");
        let both = answer("GET", "/q/f:live?Qualifier=live", "").await;
        assert_eq!(both, "f Some(\"live\")");
        let message = refusal("GET", "/q/f:live?Qualifier=2", "", INVALID_PARAMETER).await;
        assert!(message.contains("does not match"), "{message}");
        refusal("GET", "/q/f?Qualifier=a%2Fb", "", INVALID_PARAMETER).await;
    }

    #[tokio::test]
    async fn a_bad_name_is_refused_before_the_body_is_looked_at() {
        let message = refusal("POST", "/p/a%0Ab", "not json", INVALID_PARAMETER).await;
        assert!(message.contains("'functionName'"), "{message}");
        refusal("POST", "/p/a:1:2", "[1]", INVALID_PARAMETER).await;
        assert_eq!(
            answer("POST", "/p/a:1", "[1, 2]").await,
            "a Some(\"1\") [1, 2]"
        );
    }

    #[tokio::test]
    async fn an_empty_or_malformed_body_is_invalid_request_content() {
        let empty = refusal("POST", "/p/f", "", INVALID_CONTENT).await;
        assert_eq!(empty, "The request body is empty");
        let message = refusal("POST", "/p/f", "[1,", INVALID_CONTENT).await;
        assert!(
            message.starts_with("Could not parse request body into json: "),
            "{message}"
        );
        refusal("POST", "/p/f", r#"{"a": 1}"#, INVALID_CONTENT).await;
    }

    #[tokio::test]
    async fn an_empty_optional_body_is_the_default_and_a_malformed_one_is_refused() {
        assert_eq!(answer("POST", "/d", "").await, "[]");
        assert_eq!(answer("POST", "/d", "[3]").await, "[3]");
        refusal("POST", "/d", "[-3]", INVALID_CONTENT).await;
    }
}
