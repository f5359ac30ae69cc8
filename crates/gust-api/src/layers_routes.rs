//! Routes of Lambda layers (`/2018-10-31/layers/...`), their permissions
//! (`.../versions/{n}/policy`) and the download of a layer version's zip
//! (`/gust/v1/layers/{name}/versions/{n}/content`, its `Content.Location`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use gust_platform::{LayerFilter, Platform};
use gust_types::CoreError;
use gust_wire::layers::{AddLayerVersionPermissionRequest, PublishLayerVersionRequest};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use serde::Deserialize;

use crate::extract::JsonBody;
use crate::presign::CodeUrls;
use crate::routes::{base_url, no_content, reply, request_id, App};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    let l = "/2018-10-31/layers";
    let p = "/2018-10-31/layers/{name}/versions/{version}/policy";
    Router::new()
        .route(l, get(list_layers))
        .route(&format!("{l}/"), get(list_layers))
        .route(
            &format!("{l}/{{name}}/versions"),
            post(publish).get(list_versions),
        )
        .route(
            &format!("{l}/{{name}}/versions/{{version}}"),
            get(get_version).delete(delete_version),
        )
        .route(p, post(add_permission).get(get_policy))
        .route(&format!("{p}/{{sid}}"), delete(remove_permission))
        .route(
            "/gust/v1/layers/{name}/versions/{version}/content",
            get(download),
        )
}

#[derive(Debug, Deserialize)]
struct NameParam {
    name: String,
}

#[derive(Debug, Deserialize)]
struct VersionParams {
    name: String,
    version: String,
}

impl VersionParams {
    fn number(&self) -> Result<u64, CoreError> {
        self.version
            .parse::<u64>()
            .ok()
            .filter(|_| self.version.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                CoreError::Validation(format!(
                    "1 validation error detected: Value '{}' at 'versionNumber' failed to \
                     satisfy constraint: Member must be a number",
                    self.version
                ))
            })
    }
}

#[derive(Debug, Deserialize)]
struct StatementParams {
    name: String,
    version: String,
    sid: String,
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "CompatibleRuntime")]
    runtime: Option<String>,
    #[serde(rename = "CompatibleArchitecture")]
    architecture: Option<String>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<u32>,
    /// `LayerVersion` with `Arn`: GetLayerVersionByArn.
    find: Option<String>,
    #[serde(rename = "Arn")]
    arn: Option<String>,
}

impl ListQuery {
    fn filter(&self) -> LayerFilter {
        LayerFilter {
            runtime: self.runtime.clone(),
            architecture: self.architecture.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct RevisionQuery {
    #[serde(rename = "RevisionId")]
    revision_id: Option<String>,
}

/// Builds `Content.Location`s the way GetFunction builds `Code.Location`: on the
/// address the client used, presigned when the server requires signatures.
struct Locator {
    base: String,
    urls: Option<Arc<CodeUrls>>,
}

impl Locator {
    fn new(
        p: &Platform,
        urls: Option<Extension<Arc<CodeUrls>>>,
        uri: &http::Uri,
        h: &HeaderMap,
    ) -> Self {
        Locator {
            base: base_url(uri, h).unwrap_or_else(|| p.base_url().to_string()),
            urls: urls.map(|Extension(u)| u),
        }
    }

    fn location(&self) -> impl Fn(&str, u64, &str) -> String + '_ {
        move |name, version, digest| match &self.urls {
            Some(u) => u.layer_location(
                &self.base,
                name,
                version,
                digest,
                std::time::SystemTime::now(),
            ),
            None => crate::presign::plain_layer_location(&self.base, name, version, digest),
        }
    }
}

async fn publish(
    State(p): App,
    urls: Option<Extension<Arc<CodeUrls>>>,
    buckets: Option<Extension<Arc<gust_buckets::Buckets>>>,
    uri: http::Uri,
    headers: HeaderMap,
    Path(NameParam { name }): Path<NameParam>,
    JsonBody(req): JsonBody<PublishLayerVersionRequest>,
) -> Response {
    let at = Locator::new(&p, urls, &uri, &headers);
    let result = async {
        let zip = content(&req, buckets.as_ref().map(|Extension(b)| b)).await?;
        p.publish_layer_version(&name, req, zip, at.location())
            .await
    }
    .await;
    reply(StatusCode::CREATED, result)
}

/// The archive of a PublishLayerVersion: `Content.ZipFile`, or the object
/// `Content.S3Bucket`/`S3Key` of gust's own buckets.
async fn content(
    req: &PublishLayerVersionRequest,
    buckets: Option<&Arc<gust_buckets::Buckets>>,
) -> Result<Vec<u8>, CoreError> {
    let c = req.content.as_ref().ok_or_else(|| {
        CoreError::InvalidParameterValue(
            "Content is required: ZipFile, or S3Bucket and S3Key".into(),
        )
    })?;
    match (&c.zip_file, &c.s3_bucket, &c.s3_key) {
        (Some(zip), None, None) => gust_platform::decode_layer_zip(zip),
        (None, Some(bucket), Some(key)) => {
            if c.s3_object_version.is_some() {
                return Err(CoreError::Unsupported(
                    "gust does not support S3ObjectVersion: its buckets keep one version of \
                     an object"
                        .into(),
                ));
            }
            let buckets = buckets.ok_or_else(|| {
                CoreError::Unsupported("gust serves no buckets on this listener".into())
            })?;
            s3_object(buckets, bucket, key).await
        }
        _ => Err(CoreError::InvalidParameterValue(
            "Please provide a source for the layer content: ZipFile, or S3Bucket and S3Key".into(),
        )),
    }
}

/// Reads one object from gust's in-process S3 service.
async fn s3_object(
    buckets: &Arc<gust_buckets::Buckets>,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, CoreError> {
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let invalid = |code: &str, message: &str| {
        CoreError::InvalidParameterValue(format!(
            "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
        ))
    };
    let bad_name = bucket.is_empty() || bucket.contains('/') || key.is_empty();
    if bad_name {
        return Err(invalid("InvalidRequest", "bucket and key must be given"));
    }
    let req = http::Request::builder()
        .method("GET")
        .uri(format!("/{bucket}/{encoded}"))
        .header("host", "gust")
        .body(s3s::Body::from(Bytes::new()))
        .map_err(|e| invalid("InvalidRequest", &e.to_string()))?;
    let resp = buckets
        .service(None)
        .call(req)
        .await
        .map_err(|e| CoreError::Internal(format!("reading s3://{bucket}/{key}: {e:?}")))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CoreError::Internal(format!("reading s3://{bucket}/{key}: {e}")))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let tag = |name: &str| {
            let open = format!("<{name}>");
            let start = text.find(&open)? + open.len();
            let end = text[start..].find(&format!("</{name}>"))? + start;
            Some(text[start..end].to_string())
        };
        return Err(invalid(
            &tag("Code").unwrap_or_else(|| status.as_u16().to_string()),
            &tag("Message").unwrap_or_default(),
        ));
    }
    Ok(body.to_vec())
}

async fn get_version(
    State(p): App,
    urls: Option<Extension<Arc<CodeUrls>>>,
    uri: http::Uri,
    headers: HeaderMap,
    Path(v): Path<VersionParams>,
) -> Response {
    let at = Locator::new(&p, urls, &uri, &headers);
    let result = v
        .number()
        .and_then(|n| p.get_layer_version(&v.name, n, at.location()));
    reply(StatusCode::OK, result)
}

async fn delete_version(State(p): App, Path(v): Path<VersionParams>) -> Response {
    let result = match v.number() {
        Ok(n) => p.delete_layer_version(&v.name, n).await,
        Err(e) => Err(e),
    };
    no_content(result)
}

async fn list_layers(
    State(p): App,
    urls: Option<Extension<Arc<CodeUrls>>>,
    uri: http::Uri,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    match q.find.as_deref() {
        Some("LayerVersion") => {
            let at = Locator::new(&p, urls, &uri, &headers);
            let result = q
                .arn
                .as_deref()
                .ok_or_else(|| {
                    CoreError::InvalidParameterValue(
                        "Arn is required with find=LayerVersion".into(),
                    )
                })
                .and_then(|arn| p.get_layer_version_by_arn(arn, at.location()));
            reply(StatusCode::OK, result)
        }
        Some(other) => reply(
            StatusCode::OK,
            Err::<(), _>(CoreError::InvalidParameterValue(format!(
                "Unknown value for find: {other}"
            ))),
        ),
        None => reply(
            StatusCode::OK,
            p.list_layers(&q.filter(), q.marker.as_deref(), q.max_items),
        ),
    }
}

async fn list_versions(
    State(p): App,
    Path(NameParam { name }): Path<NameParam>,
    Query(q): Query<ListQuery>,
) -> Response {
    reply(
        StatusCode::OK,
        p.list_layer_versions(&name, &q.filter(), q.marker.as_deref(), q.max_items),
    )
}

async fn add_permission(
    State(p): App,
    Path(v): Path<VersionParams>,
    Query(q): Query<RevisionQuery>,
    JsonBody(req): JsonBody<AddLayerVersionPermissionRequest>,
) -> Response {
    let result = match v.number() {
        Ok(n) => {
            p.add_layer_version_permission(&v.name, n, req, q.revision_id.as_deref())
                .await
        }
        Err(e) => Err(e),
    };
    reply(StatusCode::CREATED, result)
}

async fn get_policy(State(p): App, Path(v): Path<VersionParams>) -> Response {
    reply(
        StatusCode::OK,
        v.number()
            .and_then(|n| p.get_layer_version_policy(&v.name, n)),
    )
}

async fn remove_permission(
    State(p): App,
    Path(s): Path<StatementParams>,
    Query(q): Query<RevisionQuery>,
) -> Response {
    let v = VersionParams {
        name: s.name,
        version: s.version,
    };
    let result = match v.number() {
        Ok(n) => {
            p.remove_layer_version_permission(&v.name, n, &s.sid, q.revision_id.as_deref())
                .await
        }
        Err(e) => Err(e),
    };
    no_content(result)
}

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    sha256: Option<String>,
}

/// `Content.Location`: the zip of one layer version.
async fn download(
    State(p): App,
    Path(v): Path<VersionParams>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let result = async {
        let path = p.layer_archive_path(&v.name, v.number()?, q.sha256.as_deref())?;
        tokio::fs::read(&path)
            .await
            .map_err(|e| CoreError::Internal(format!("could not read the archive: {e}")))
    }
    .await;
    crate::routes::zip_response(result, &request_id())
}
