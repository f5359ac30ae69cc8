//! What the object store asks of the platform: whether a notification's function
//! exists, and to dispatch the events an object write committed.

use std::sync::{Arc, Weak};

use gust_platform::Platform;
use gust_types::name::FunctionRef;

/// The platform, as the object store's [`gust_buckets::Notifier`].
pub(crate) struct PlatformEvents(Weak<Platform>);

impl PlatformEvents {
    pub(crate) fn new(platform: &Arc<Platform>) -> PlatformEvents {
        PlatformEvents(Arc::downgrade(platform))
    }
}

impl gust_buckets::Notifier for PlatformEvents {
    fn resolve_function(&self, arn: &str) -> Option<(String, Option<String>)> {
        let platform = self.0.upgrade()?;
        let fref = FunctionRef::parse_local(arn, platform.region()).ok()?;
        platform.get_function_configuration(&fref).ok()?;
        Some((fref.name, fref.qualifier))
    }

    fn scheduled(&self, ids: &[i64], due_ms: i64) {
        if let Some(platform) = self.0.upgrade() {
            platform.schedule_committed_events(ids, due_ms);
        }
    }
}
