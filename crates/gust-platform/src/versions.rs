//! PublishVersion, ListVersionsByFunction and deleting a version.

use std::sync::Arc;

use gust_types::{CoreError, FunctionConfig, FunctionRef};
use gust_wire::lambda::FunctionConfiguration;
use gust_wire::versions::{ListVersionsResponse, PublishVersionRequest};

use crate::convert::{last_modified_now, new_revision, to_wire};
use crate::manage::{check_revision, decode_marker, encode_marker, page_size};
use crate::registry::Function;
use crate::Platform;

impl Platform {
    /// PublishVersion: an immutable snapshot of `$LATEST`'s code and configuration.
    /// Publishing an unchanged `$LATEST` returns the version that already holds it.
    pub async fn publish_version(
        &self,
        fref: &FunctionRef,
        req: PublishVersionRequest,
    ) -> Result<FunctionConfiguration, CoreError> {
        if fref.qualifier.is_some() {
            return Err(CoreError::InvalidParameterValue(
                "PublishVersion takes an unqualified function name".into(),
            ));
        }
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        self.publish_locked(
            &f,
            req.code_sha256.as_deref(),
            req.revision_id.as_deref(),
            req.description,
        )
    }

    /// Publishes with the write lock held.
    pub(crate) fn publish_locked(
        &self,
        f: &Arc<Function>,
        code_sha256: Option<&str>,
        revision_id: Option<&str>,
        description: Option<String>,
    ) -> Result<FunctionConfiguration, CoreError> {
        let latest = &f.latest.config;
        check_revision(latest, revision_id)?;
        if let Some(sha) = code_sha256.filter(|s| !s.is_empty()) {
            if sha != latest.code_sha256 {
                return Err(CoreError::PreconditionFailed(format!(
                    "CodeSha256 ({sha}) is different from current CodeSha256 in $LATEST \
                     ({}). Please try again with the CodeSha256 in $LATEST.",
                    latest.code_sha256
                )));
            }
        }
        if let Some(d) = &description {
            gust_types::function::validate_description(d)?;
        }
        if let Some((_, newest)) = f.versions.iter().next_back() {
            let same_description = description
                .as_deref()
                .is_none_or(|d| d == newest.config.description);
            if same_content(&newest.config, latest) && same_description {
                return Ok(to_wire(&newest.config, &self.config.region));
            }
        }
        let number = f.meta.last_version + 1;
        let mut next = (**f).clone();
        next.meta.last_version = number;
        // The counter first: a crash between the two writes leaves a gap, never a
        // reused number.
        self.put_setting(f.name(), "meta", "", &next.meta)?;
        let mut config = (**latest).clone();
        config.version = number.to_string();
        config.revision_id = new_revision();
        config.last_modified = last_modified_now();
        if let Some(d) = description {
            config.description = d;
        }
        self.store.insert_function(&config)?;
        let wire = to_wire(&config, &self.config.region);
        next.versions.insert(
            number,
            self.new_entry(Arc::new(config), &f.shared.log, f.network.outbound),
        );
        self.publish_snapshot(next);
        tracing::info!(function = %f.name(), version = number, "version published");
        Ok(wire)
    }

    /// ListVersionsByFunction: `$LATEST`, then published versions in order.
    pub fn list_versions(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<ListVersionsResponse, CoreError> {
        let max = page_size(max_items)?;
        let f = self.function(fref)?;
        let start: usize = match marker.filter(|m| !m.is_empty()) {
            Some(m) => decode_marker(m)?
                .parse()
                .map_err(|_| CoreError::InvalidParameterValue(format!("Invalid Marker: {m}")))?,
            None => 0,
        };
        let all: Vec<&Arc<crate::registry::Entry>> = std::iter::once(&f.latest)
            .chain(f.versions.values())
            .collect();
        let page: Vec<FunctionConfiguration> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|e| to_wire(&e.config, &self.config.region))
            .collect();
        let end = start + page.len();
        Ok(ListVersionsResponse {
            versions: page,
            next_marker: (end < all.len()).then(|| encode_marker(&end.to_string())),
        })
    }

    /// Deletes one published version (write lock held). Refused while an alias
    /// points at it.
    pub(crate) fn delete_version_locked(
        &self,
        f: &Arc<Function>,
        qualifier: &str,
    ) -> Result<(), CoreError> {
        let Ok(number) = qualifier.parse::<u64>() else {
            return Err(CoreError::InvalidParameterValue(format!(
                "Qualifier {qualifier} is an alias: delete it with DeleteAlias"
            )));
        };
        let Some(entry) = f.versions.get(&number) else {
            return Err(f.not_found(qualifier, &self.config.region));
        };
        let users: Vec<&str> = f
            .aliases
            .iter()
            .filter(|(_, a)| {
                a.version == qualifier || a.routing.as_ref().is_some_and(|(v, _)| v == qualifier)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if !users.is_empty() {
            return Err(CoreError::ResourceConflict(format!(
                "Unable to delete version because the following aliases reference it: {users:?}"
            )));
        }
        self.store.delete_function(f.name(), Some(qualifier))?;
        if f.provisioned.contains_key(qualifier) {
            self.settings
                .delete_setting(f.name(), "provisioned", qualifier)?;
        }
        let mut next = (**f).clone();
        next.versions.remove(&number);
        next.provisioned.remove(qualifier);
        self.publish_snapshot(next);
        entry.pool.retire();
        self.collect_garbage();
        tracing::info!(function = %f.name(), version = number, "version deleted");
        Ok(())
    }
}

/// Whether two configurations run the same code the same way (ignoring identity
/// and timestamps).
fn same_content(a: &FunctionConfig, b: &FunctionConfig) -> bool {
    let strip = |c: &FunctionConfig| FunctionConfig {
        version: String::new(),
        revision_id: String::new(),
        last_modified: String::new(),
        description: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}
