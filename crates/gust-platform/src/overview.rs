//! Every function with its versions, aliases and URLs in one answer, for the
//! dashboard: one read of the registry instead of a ListFunctions and three more
//! calls per function.

use gust_types::CoreError;
use gust_wire::dashboard::{FunctionOverview, OverviewResponse};

use crate::convert::to_wire;
use crate::Platform;

impl Platform {
    /// Every function, by name, as one snapshot of the registry.
    pub fn overview(&self) -> Result<OverviewResponse, CoreError> {
        let usage = self.metrics.usage();
        let registry = self.registry.read();
        let mut functions: Vec<FunctionOverview> = registry
            .values()
            .map(|f| FunctionOverview {
                configuration: to_wire(&f.latest.config, &self.config.region),
                versions: f
                    .versions
                    .values()
                    .map(|e| to_wire(&e.config, &self.config.region))
                    .collect(),
                aliases: f
                    .aliases
                    .iter()
                    .map(|(name, a)| self.alias_wire(f, name, a))
                    .collect(),
                urls: f
                    .urls
                    .iter()
                    .map(|(key, u)| self.url_wire(f.name(), key, u))
                    .collect(),
                reserved_concurrency: f.reserved,
                invocations: usage.get(f.name()).map_or(0, |u| u.invocations),
                event_invoke_configs: Vec::new(),
            })
            .collect();
        drop(registry);
        // Retry policies and destinations live with the async queue, not in the
        // registry; a server without one has none to show.
        if let Ok(events) = self.events() {
            for f in &mut functions {
                let name = &f.configuration.function_name;
                if let Ok(page) = events.list_configs(name, None, Some(50)) {
                    f.event_invoke_configs = page.function_event_invoke_configs;
                }
            }
        }
        Ok(OverviewResponse { functions })
    }
}
