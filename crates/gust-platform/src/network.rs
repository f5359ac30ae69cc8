//! The outbound network setting: gust-only and per function (Lambda's equivalent is
//! a VPC configuration, which gust does not model), stored as setting kind
//! `network`. Every version's instances start with it; changing it replaces every
//! warm stack of the function, so no instance keeps the network it had before.

use std::collections::BTreeMap;

use gust_store::settings::Setting;
use gust_types::{CoreError, FunctionRef};
use gust_wire::gust::NetworkConfig;
use serde::{Deserialize, Serialize};

use crate::Platform;

/// The setting kind.
pub(crate) const KIND: &str = "network";

/// The setting as stored (absent means the default: no outbound traffic).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Network {
    pub outbound: bool,
}

/// Removes the network setting from a function's settings and parses it; an
/// unreadable one counts as the default, with a warning.
pub(crate) fn take(settings: &mut Vec<Setting>) -> Network {
    let Some(at) = settings.iter().position(|s| s.kind == KIND) else {
        return Network::default();
    };
    let s = settings.remove(at);
    serde_json::from_str(&s.value).unwrap_or_else(|e| {
        tracing::warn!(function = %s.function, error = %e, "unreadable network setting: no outbound traffic");
        Network::default()
    })
}

impl Platform {
    /// `GET /gust/v1/functions/{name}/network`.
    pub fn function_network(&self, name: &str) -> Result<NetworkConfig, CoreError> {
        let f = self.function(&unqualified(name)?)?;
        Ok(NetworkConfig {
            outbound: f.network.outbound,
        })
    }

    /// `PUT /gust/v1/functions/{name}/network`: stores the setting and, if it
    /// changed, gives every version a fresh warm stack started with it.
    pub async fn put_function_network(
        &self,
        name: &str,
        req: NetworkConfig,
    ) -> Result<NetworkConfig, CoreError> {
        let _guard = self.writes.lock().await;
        let current = self.function(&unqualified(name)?)?;
        let wanted = Network {
            outbound: req.outbound,
        };
        if current.network == wanted {
            return Ok(req);
        }
        if let Some(why) = wanted
            .outbound
            .then(|| self.scheduler.worker().outbound_unavailable())
            .flatten()
        {
            return Err(CoreError::InvalidParameterValue(format!(
                "Outbound network is unavailable on this server: {why}."
            )));
        }
        if wanted == Network::default() {
            self.settings.delete_setting(current.name(), KIND, "")?;
        } else {
            self.put_setting(current.name(), KIND, "", &wanted)?;
        }
        let mut next = (*current).clone();
        next.network = wanted;
        let log = &current.shared.log;
        next.latest = self.new_entry(current.latest.config.clone(), log, wanted.outbound);
        next.versions = current
            .versions
            .iter()
            .map(|(v, e)| (*v, self.new_entry(e.config.clone(), log, wanted.outbound)))
            .collect::<BTreeMap<_, _>>();
        let next = self.publish_snapshot(next);
        current.latest.pool.retire();
        for e in current.versions.values() {
            e.pool.retire();
        }
        self.apply_provisioned(&next);
        self.collect_garbage();
        tracing::info!(function = %next.name(), outbound = wanted.outbound, "network setting changed");
        Ok(req)
    }
}

/// The setting belongs to the function, not to a version or alias.
fn unqualified(name: &str) -> Result<FunctionRef, CoreError> {
    let f = FunctionRef::parse(name)?;
    if f.qualifier.is_some() {
        return Err(CoreError::InvalidParameterValue(
            "The network setting applies to the whole function: name it without a qualifier."
                .into(),
        ));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(kind: &str, value: &str) -> Setting {
        Setting {
            function: "f".into(),
            kind: kind.into(),
            key: String::new(),
            value: value.into(),
        }
    }

    #[test]
    fn take_removes_and_parses_the_network_setting() {
        let mut settings = vec![
            setting("alias", "{}"),
            setting(KIND, r#"{"outbound":true}"#),
        ];
        assert_eq!(take(&mut settings), Network { outbound: true });
        assert_eq!(settings.len(), 1);
        assert_eq!(settings[0].kind, "alias");
        assert_eq!(take(&mut settings), Network::default());
    }

    #[test]
    fn an_unreadable_setting_means_no_outbound_traffic() {
        let mut settings = vec![setting(KIND, "not json")];
        assert_eq!(take(&mut settings), Network::default());
        assert!(settings.is_empty());
    }

    #[test]
    fn qualified_names_are_refused() {
        assert!(unqualified("f").is_ok());
        assert!(matches!(
            unqualified("f:1"),
            Err(CoreError::InvalidParameterValue(_))
        ));
    }
}
