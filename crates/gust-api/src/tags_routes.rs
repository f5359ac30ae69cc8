//! Routes of tagging (`/2017-03-31/tags/{ARN}`): ListTags, TagResource and
//! UntagResource.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gust_platform::Platform;
use gust_types::CoreError;
use gust_wire::lambda::TagResourceRequest;
use http::StatusCode;

use crate::extract::JsonBody;
use crate::routes::{no_content, reply, App};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route(
        "/2017-03-31/tags/{arn}",
        get(list_tags).post(tag_resource).delete(untag_resource),
    )
}

async fn list_tags(State(p): App, Path(arn): Path<String>) -> Response {
    reply(StatusCode::OK, p.list_tags(&arn))
}

async fn tag_resource(
    State(p): App,
    Path(arn): Path<String>,
    JsonBody(req): JsonBody<TagResourceRequest>,
) -> Response {
    let result = match req.tags {
        Some(tags) => p.tag_resource(&arn, tags).await,
        None => Err(CoreError::Validation(
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: \
             Member must not be null"
                .into(),
        )),
    };
    no_content(result)
}

async fn untag_resource(State(p): App, Path(arn): Path<String>, uri: http::Uri) -> Response {
    let result = async {
        let keys = tag_keys(uri.query().unwrap_or(""))?;
        p.untag_resource(&arn, keys).await
    }
    .await;
    no_content(result)
}

/// The `tagKeys` of a query string, which repeats the parameter once per key.
fn tag_keys(query: &str) -> Result<Vec<String>, CoreError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
        CoreError::InvalidParameterValue(format!("The query string does not decode: {e}"))
    })?;
    Ok(pairs
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_repeat_and_are_decoded() {
        assert_eq!(
            tag_keys("tagKeys=a&tagKeys=team%3Aname&other=x&tagKeys=b%20c").unwrap(),
            ["a", "team:name", "b c"]
        );
        assert!(tag_keys("").unwrap().is_empty());
    }
}
