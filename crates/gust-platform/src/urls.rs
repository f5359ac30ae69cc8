//! Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfigs, and the lookup
//! the gateway does for every request to a URL.
//!
//! A URL belongs to a function (no qualifier) or to one of its aliases or `$LATEST`
//! (the qualifier). It is stored as a setting of kind `url` whose key is the
//! qualifier (empty for none) and lives in the function's snapshot, so deleting the
//! function deletes its URLs. A second, platform-wide index maps each url-id to its
//! function; it may keep ids of deleted URLs, so every lookup checks the id against
//! the function's snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use gust_types::{name, CoreError, FunctionRef, Region};
use gust_wire::urls::{
    Cors, CreateFunctionUrlConfigRequest, CreateFunctionUrlConfigResponse, FunctionUrlConfig,
    ListFunctionUrlConfigsResponse, UpdateFunctionUrlConfigRequest, AUTH_IAM, AUTH_NONE,
    INVOKE_BUFFERED, INVOKE_STREAM,
};
use serde::{Deserialize, Serialize};

use crate::manage::{decode_marker, encode_marker, page_size};
use crate::registry::Function;
use crate::Platform;

/// Prefix of path-based function URLs, served on the API's own address.
pub const URL_PATH_PREFIX: &str = "/gust/v1/urls/";

/// The form of function URL gust hands out. Both forms are always served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlStyle {
    /// `http://ID.lambda-url.REGION.localhost:PORT/`, Lambda's shape, for machines
    /// where `*.localhost` resolves to loopback for every program.
    Host {
        /// The API's port.
        port: u16,
    },
    /// `BASE/gust/v1/urls/ID/`, which any HTTP client can fetch.
    Path {
        /// The API's address as a client reaches it, e.g. `http://127.0.0.1:9000`.
        base: String,
    },
}

impl UrlStyle {
    /// The URL of `url_id` in this form.
    pub fn url(&self, url_id: &str, region: &str) -> String {
        match self {
            UrlStyle::Host { port } => {
                format!("http://{url_id}.lambda-url.{region}.localhost:{port}/")
            }
            UrlStyle::Path { base } => {
                format!("{}{URL_PATH_PREFIX}{url_id}/", base.trim_end_matches('/'))
            }
        }
    }
}
/// Setting kind of URL configurations.
pub(crate) const KIND: &str = "url";

/// Length of a url-id, as AWS makes them.
const URL_ID_LEN: usize = 32;

/// A URL configuration as stored (setting kind `url`, key = qualifier or "").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StoredUrl {
    pub url_id: String,
    pub auth_type: String,
    #[serde(default)]
    pub cors: Option<Cors>,
    pub invoke_mode: String,
    pub creation_time: String,
    pub last_modified_time: String,
}

/// Who may call a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlAuth {
    /// Anyone.
    None,
    /// Only requests signed with SigV4 by a known access key.
    Iam,
}

/// What the gateway needs to serve a request to a URL.
#[derive(Debug, Clone)]
pub struct ResolvedUrl {
    /// The function (and qualifier) to invoke.
    pub function: FunctionRef,
    /// The URL's id, the event's `requestContext.apiId`.
    pub url_id: String,
    /// Who may call it.
    pub auth: UrlAuth,
    /// CORS settings, when any.
    pub cors: Option<Cors>,
    /// `InvokeMode: RESPONSE_STREAM`: the response reaches the caller as the
    /// function sends it.
    pub streaming: bool,
}

/// url-id → (function name, qualifier key).
pub(crate) type UrlIndex = HashMap<String, (String, String)>;

impl Platform {
    /// The region in ARNs and URL host names.
    pub fn region(&self) -> &Region {
        &self.config.region
    }

    /// Builds the url-id index from the loaded functions (at start-up).
    pub(crate) fn index_urls(&self) {
        let registry = self.registry.read();
        let mut index = self.url_ids.write();
        for f in registry.values() {
            for (key, url) in &f.urls {
                index.insert(url.url_id.clone(), (f.name().to_string(), key.clone()));
            }
        }
    }

    /// The URL with this id, if it exists.
    pub fn resolve_url(&self, url_id: &str) -> Option<ResolvedUrl> {
        let (function, key) = self.url_ids.read().get(url_id).cloned()?;
        let f = self.registry.read().get(&function).cloned()?;
        let url = f.urls.get(&key).filter(|u| u.url_id == url_id)?;
        Some(ResolvedUrl {
            function: FunctionRef {
                name: function,
                qualifier: (!key.is_empty()).then_some(key),
            },
            url_id: url.url_id.clone(),
            streaming: url.invoke_mode == INVOKE_STREAM,
            auth: if url.auth_type == AUTH_IAM {
                UrlAuth::Iam
            } else {
                UrlAuth::None
            },
            cors: url.cors.clone(),
        })
    }

    /// CreateFunctionUrlConfig.
    pub async fn create_function_url_config(
        &self,
        fref: &FunctionRef,
        req: CreateFunctionUrlConfigRequest,
    ) -> Result<CreateFunctionUrlConfigResponse, CoreError> {
        check_auth_type(&req.auth_type)?;
        let invoke_mode = check_invoke_mode(req.invoke_mode.as_deref())?;
        check_cors(req.cors.as_ref())?;
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        let key = self.url_key(&f, fref)?;
        if f.urls.contains_key(&key) {
            return Err(CoreError::ResourceConflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  \
                 FunctionUrlConfig exists for this Lambda function",
                self.url_arn(f.name(), &key)
            )));
        }
        let now = iso_now();
        let url = StoredUrl {
            url_id: new_url_id(),
            auth_type: req.auth_type,
            cors: req.cors,
            invoke_mode,
            creation_time: now.clone(),
            last_modified_time: now,
        };
        self.save_url(&f, &key, url.clone())?;
        Ok(CreateFunctionUrlConfigResponse {
            function_url: self.function_url(&url.url_id),
            function_arn: self.url_arn(f.name(), &key),
            auth_type: url.auth_type,
            cors: url.cors,
            creation_time: url.creation_time,
            invoke_mode: url.invoke_mode,
        })
    }

    /// GetFunctionUrlConfig.
    pub fn get_function_url_config(
        &self,
        fref: &FunctionRef,
    ) -> Result<FunctionUrlConfig, CoreError> {
        let f = self.function(fref)?;
        let key = self.url_key(&f, fref)?;
        let url = f.urls.get(&key).ok_or_else(url_not_found)?;
        Ok(self.url_wire(f.name(), &key, url))
    }

    /// UpdateFunctionUrlConfig.
    pub async fn update_function_url_config(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionUrlConfigRequest,
    ) -> Result<FunctionUrlConfig, CoreError> {
        if let Some(a) = &req.auth_type {
            check_auth_type(a)?;
        }
        check_cors(req.cors.as_ref())?;
        let invoke_mode = req
            .invoke_mode
            .as_deref()
            .map(|m| check_invoke_mode(Some(m)))
            .transpose()?;
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        let key = self.url_key(&f, fref)?;
        let mut url = f.urls.get(&key).ok_or_else(url_not_found)?.clone();
        if let Some(a) = req.auth_type {
            url.auth_type = a;
        }
        if let Some(c) = req.cors {
            url.cors = Some(c);
        }
        if let Some(m) = invoke_mode {
            url.invoke_mode = m;
        }
        url.last_modified_time = iso_now();
        let wire = self.url_wire(f.name(), &key, &url);
        self.save_url(&f, &key, url)?;
        Ok(wire)
    }

    /// DeleteFunctionUrlConfig.
    pub async fn delete_function_url_config(&self, fref: &FunctionRef) -> Result<(), CoreError> {
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        let key = self.url_key(&f, fref)?;
        let Some(url) = f.urls.get(&key) else {
            return Err(url_not_found());
        };
        self.settings.delete_setting(f.name(), KIND, &key)?;
        self.url_ids.write().remove(&url.url_id);
        let mut next = (*f).clone();
        next.urls.remove(&key);
        self.publish_snapshot(next);
        Ok(())
    }

    /// ListFunctionUrlConfigs.
    pub fn list_function_url_configs(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<ListFunctionUrlConfigsResponse, CoreError> {
        let max = page_size(max_items)?;
        let f = self.function(&FunctionRef {
            name: fref.name.clone(),
            qualifier: None,
        })?;
        let after = marker
            .filter(|m| !m.is_empty())
            .map(decode_marker)
            .transpose()?;
        let mut iter = f
            .urls
            .iter()
            .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_str() > a));
        let page: Vec<(&String, FunctionUrlConfig)> = iter
            .by_ref()
            .take(max)
            .map(|(k, u)| (k, self.url_wire(f.name(), k, u)))
            .collect();
        let next_marker = if iter.next().is_some() {
            page.last().map(|(k, _)| encode_marker(k))
        } else {
            None
        };
        Ok(ListFunctionUrlConfigsResponse {
            function_url_configs: page.into_iter().map(|(_, c)| c).collect(),
            next_marker,
        })
    }

    /// The URL of a url-id, in the configured [`UrlStyle`].
    pub fn function_url(&self, url_id: &str) -> String {
        self.config.url_style.url(url_id, &self.config.region.0)
    }

    /// The qualifier key a URL request names: `""` without a qualifier, else
    /// `$LATEST` or an existing alias (AWS takes no version numbers here).
    fn url_key(&self, f: &Function, fref: &FunctionRef) -> Result<String, CoreError> {
        match fref.qualifier.as_deref() {
            None => Ok(String::new()),
            Some("$LATEST") => Ok("$LATEST".into()),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                Err(CoreError::InvalidParameterValue(format!(
                    "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy \
                     constraint: Member must satisfy regular expression pattern: \
                     ((?!^\\d+$)^[0-9a-zA-Z-_]+$)|(^\\$LATEST$): function URLs take an alias or \
                     $LATEST, not a version number"
                )))
            }
            Some(q) if f.aliases.contains_key(q) => Ok(q.to_string()),
            Some(q) => Err(f.not_found(q, &self.config.region)),
        }
    }

    fn url_arn(&self, function: &str, key: &str) -> String {
        if key.is_empty() {
            name::function_arn(&self.config.region, function)
        } else {
            name::qualified_arn(&self.config.region, function, key)
        }
    }

    pub(crate) fn url_wire(&self, function: &str, key: &str, u: &StoredUrl) -> FunctionUrlConfig {
        FunctionUrlConfig {
            function_url: self.function_url(&u.url_id),
            function_arn: self.url_arn(function, key),
            auth_type: u.auth_type.clone(),
            cors: u.cors.clone(),
            creation_time: u.creation_time.clone(),
            last_modified_time: u.last_modified_time.clone(),
            invoke_mode: u.invoke_mode.clone(),
        }
    }

    /// Persists a URL and swaps it into the snapshot and the index. Call with the
    /// write lock held.
    fn save_url(&self, f: &Arc<Function>, key: &str, url: StoredUrl) -> Result<(), CoreError> {
        self.put_setting(f.name(), KIND, key, &url)?;
        self.url_ids
            .write()
            .insert(url.url_id.clone(), (f.name().to_string(), key.to_string()));
        let mut next = (**f).clone();
        next.urls.insert(key.to_string(), url);
        self.publish_snapshot(next);
        Ok(())
    }
}

fn url_not_found() -> CoreError {
    CoreError::ResourceNotFound("The resource you requested does not exist.".into())
}

fn check_auth_type(a: &str) -> Result<(), CoreError> {
    if a == AUTH_NONE || a == AUTH_IAM {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{a}' at 'authType' failed to satisfy \
             constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
        )))
    }
}

fn check_invoke_mode(m: Option<&str>) -> Result<String, CoreError> {
    match m {
        None | Some(INVOKE_BUFFERED) => Ok(INVOKE_BUFFERED.into()),
        Some(INVOKE_STREAM) => Ok(INVOKE_STREAM.into()),
        Some(other) => Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{other}' at 'invokeMode' failed to satisfy \
             constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"
        ))),
    }
}

fn check_cors(cors: Option<&Cors>) -> Result<(), CoreError> {
    let Some(c) = cors else { return Ok(()) };
    if c.max_age.is_some_and(|a| a > 86_400) {
        return Err(CoreError::InvalidParameterValue(
            "1 validation error detected: Value at 'cors.maxAge' failed to satisfy \
             constraint: Member must have value less than or equal to 86400"
                .into(),
        ));
    }
    for (field, list, max) in [
        ("allowHeaders", &c.allow_headers, 100),
        ("allowMethods", &c.allow_methods, 6),
        ("allowOrigins", &c.allow_origins, 100),
        ("exposeHeaders", &c.expose_headers, 100),
    ] {
        if list.as_ref().is_some_and(|l| l.len() > max) {
            return Err(CoreError::InvalidParameterValue(format!(
                "1 validation error detected: Value at 'cors.{field}' failed to satisfy \
                 constraint: Member must have length less than or equal to {max}"
            )));
        }
    }
    Ok(())
}

/// 32 characters of `[a-z0-9]`, as AWS's url-ids.
fn new_url_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .chain(more.iter())
        .take(URL_ID_LEN)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Now in ISO 8601 with microseconds: `2021-10-31T21:54:20.123456Z`.
fn iso_now() -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_url_styles() {
        use super::UrlStyle;
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(
            UrlStyle::Host { port: 9000 }.url(id, "us-east-1"),
            format!("http://{id}.lambda-url.us-east-1.localhost:9000/")
        );
        let path = UrlStyle::Path {
            base: "http://127.0.0.1:9000".into(),
        };
        assert_eq!(
            path.url(id, "us-east-1"),
            format!("http://127.0.0.1:9000/gust/v1/urls/{id}/")
        );
    }

    use super::*;

    #[test]
    fn url_ids_look_like_aws_ones() {
        let id = new_url_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(id, new_url_id());
    }

    #[test]
    fn invoke_modes() {
        assert_eq!(check_invoke_mode(None).unwrap(), "BUFFERED");
        assert_eq!(
            check_invoke_mode(Some("RESPONSE_STREAM")).unwrap(),
            "RESPONSE_STREAM"
        );
        assert!(matches!(
            check_invoke_mode(Some("STREAM")),
            Err(CoreError::InvalidParameterValue(_))
        ));
    }

    #[test]
    fn times_are_iso_8601() {
        let t = iso_now();
        assert_eq!(t.len(), "2021-10-31T21:54:20.123456Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
