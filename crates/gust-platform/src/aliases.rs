//! Aliases: named pointers to a version, optionally splitting traffic with a second.

use std::sync::Arc;

use gust_types::{name, CoreError, FunctionRef};
use gust_wire::versions::{
    AliasConfiguration, AliasRoutingConfiguration, CreateAliasRequest, ListAliasesResponse,
    UpdateAliasRequest,
};

use crate::convert::new_revision;
use crate::manage::{decode_marker, encode_marker, page_size};
use crate::registry::{Alias, Function};
use crate::Platform;

impl Platform {
    /// CreateAlias.
    pub async fn create_alias(
        &self,
        fref: &FunctionRef,
        req: CreateAliasRequest,
    ) -> Result<AliasConfiguration, CoreError> {
        validate_alias_name(&req.name)?;
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        if f.aliases.contains_key(&req.name) {
            return Err(CoreError::ResourceConflict(format!(
                "Alias already exists: {}",
                name::qualified_arn(&self.config.region, f.name(), &req.name)
            )));
        }
        let alias = Alias {
            routing: routing(&f, &req.function_version, req.routing_config.as_ref())?,
            version: checked_version(&f, &req.function_version)?,
            description: req.description.unwrap_or_default(),
            revision_id: new_revision(),
        };
        self.save_alias(&f, &req.name, alias)
    }

    /// GetAlias.
    pub fn get_alias(
        &self,
        fref: &FunctionRef,
        alias: &str,
    ) -> Result<AliasConfiguration, CoreError> {
        let f = self.function(fref)?;
        let a = f
            .aliases
            .get(alias)
            .ok_or_else(|| self.alias_not_found(&f, alias))?;
        Ok(self.alias_wire(&f, alias, a))
    }

    /// UpdateAlias.
    pub async fn update_alias(
        &self,
        fref: &FunctionRef,
        alias: &str,
        req: UpdateAliasRequest,
    ) -> Result<AliasConfiguration, CoreError> {
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        let current = f
            .aliases
            .get(alias)
            .ok_or_else(|| self.alias_not_found(&f, alias))?;
        if let Some(rev) = req.revision_id.as_deref() {
            if rev != current.revision_id {
                return Err(CoreError::PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. Call the \
                     GetAlias API to retrieve the latest Revision Id"
                        .into(),
                ));
            }
        }
        let version = match &req.function_version {
            Some(v) => checked_version(&f, v)?,
            None => current.version.clone(),
        };
        let routing = match &req.routing_config {
            Some(r) => routing(&f, &version, Some(r))?,
            None => current.routing.clone(),
        };
        let updated = Alias {
            version,
            routing,
            description: req
                .description
                .unwrap_or_else(|| current.description.clone()),
            revision_id: new_revision(),
        };
        self.save_alias(&f, alias, updated)
    }

    /// DeleteAlias.
    pub async fn delete_alias(&self, fref: &FunctionRef, alias: &str) -> Result<(), CoreError> {
        let _guard = self.writes.lock().await;
        let f = self.function(fref)?;
        if !f.aliases.contains_key(alias) {
            // AWS answers 204 for an alias that does not exist.
            return Ok(());
        }
        self.settings.delete_setting(f.name(), "alias", alias)?;
        if f.provisioned.contains_key(alias) {
            self.settings
                .delete_setting(f.name(), "provisioned", alias)?;
        }
        let mut next = (*f).clone();
        next.aliases.remove(alias);
        next.provisioned.remove(alias);
        let next = self.publish_snapshot(next);
        self.apply_provisioned(&next);
        Ok(())
    }

    /// ListAliases, optionally only those pointing at `function_version`.
    pub fn list_aliases(
        &self,
        fref: &FunctionRef,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<ListAliasesResponse, CoreError> {
        let max = page_size(max_items)?;
        let f = self.function(fref)?;
        let after = marker
            .filter(|m| !m.is_empty())
            .map(decode_marker)
            .transpose()?;
        let mut iter = f.aliases.iter().filter(|(n, a)| {
            function_version.is_none_or(|v| a.version == v)
                && after.as_deref().is_none_or(|m| n.as_str() > m)
        });
        let aliases: Vec<AliasConfiguration> = iter
            .by_ref()
            .take(max)
            .map(|(n, a)| self.alias_wire(&f, n, a))
            .collect();
        let next_marker = if iter.next().is_some() {
            aliases.last().map(|a| encode_marker(&a.name))
        } else {
            None
        };
        Ok(ListAliasesResponse {
            aliases,
            next_marker,
        })
    }

    fn save_alias(
        &self,
        f: &Arc<Function>,
        alias_name: &str,
        alias: Alias,
    ) -> Result<AliasConfiguration, CoreError> {
        self.put_setting(f.name(), "alias", alias_name, &alias)?;
        let wire = self.alias_wire(f, alias_name, &alias);
        let mut next = (**f).clone();
        next.aliases.insert(alias_name.to_string(), alias);
        let next = self.publish_snapshot(next);
        self.apply_provisioned(&next);
        Ok(wire)
    }

    pub(crate) fn alias_wire(
        &self,
        f: &Function,
        alias_name: &str,
        a: &Alias,
    ) -> AliasConfiguration {
        AliasConfiguration {
            alias_arn: name::qualified_arn(&self.config.region, f.name(), alias_name),
            name: alias_name.to_string(),
            function_version: a.version.clone(),
            description: a.description.clone(),
            routing_config: a.routing.as_ref().map(|(v, w)| AliasRoutingConfiguration {
                additional_version_weights: [(v.clone(), *w)].into_iter().collect(),
            }),
            revision_id: a.revision_id.clone(),
        }
    }

    fn alias_not_found(&self, f: &Function, alias: &str) -> CoreError {
        CoreError::ResourceNotFound(format!(
            "Cannot find alias arn: {}",
            name::qualified_arn(&self.config.region, f.name(), alias)
        ))
    }
}

/// Alias names: 1–128 of `[A-Za-z0-9_-]`, not all digits (those are versions).
fn validate_alias_name(n: &str) -> Result<(), CoreError> {
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !n.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{n}' at 'name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )))
    }
}

fn checked_version(f: &Function, version: &str) -> Result<String, CoreError> {
    if f.version_entry(version).is_some() {
        Ok(version.to_string())
    } else {
        Err(CoreError::ResourceNotFound(format!(
            "Function not found: {}:{version}",
            f.latest.config.name
        )))
    }
}

/// Validates a routing configuration: at most one other published version, weight
/// within [0, 1], and a published primary.
fn routing(
    f: &Function,
    primary: &str,
    cfg: Option<&AliasRoutingConfiguration>,
) -> Result<Option<(String, f64)>, CoreError> {
    let Some(cfg) = cfg else { return Ok(None) };
    let mut weights = cfg.additional_version_weights.iter();
    let Some((version, weight)) = weights.next() else {
        return Ok(None);
    };
    if weights.next().is_some() {
        return Err(CoreError::InvalidParameterValue(
            "RoutingConfig supports only one additional version".into(),
        ));
    }
    if !(0.0..=1.0).contains(weight) || weight.is_nan() {
        return Err(CoreError::InvalidParameterValue(format!(
            "Weight {weight} for version {version} must be between 0.0 and 1.0"
        )));
    }
    if primary == "$LATEST" || version == "$LATEST" {
        return Err(CoreError::InvalidParameterValue(
            "Traffic shifting works between published versions, not $LATEST".into(),
        ));
    }
    if version == primary {
        return Err(CoreError::InvalidParameterValue(
            "The additional version must differ from the alias's main version".into(),
        ));
    }
    checked_version(f, version)?;
    Ok(Some((version.clone(), *weight)))
}
