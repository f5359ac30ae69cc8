//! What gust counts, for `GET /metrics` (Prometheus' text format, as OpenMetrics)
//! and `gust usage`: Lambda's CloudWatch metrics per function and qualifier
//! (Invocations, Errors, Throttles, Duration, ConcurrentExecutions, cold starts and
//! Init Duration, AsyncEventsReceived), the GB-seconds billed, and the platform's
//! own gauges (instances, memory), read when scraped.
//!
//! Every invocation, synchronous or asynchronous, passes [`Platform::invoke`], which
//! records it here once it ends; nothing here is on the path before the instance runs.
//! The same figures also go to a short in-memory history per function
//! ([`crate::series`]), from which the dashboard draws rates and percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;

use crate::series::{Outcome, TimeSeries};
use crate::Platform;

/// The dimensions CloudWatch gives Lambda's metrics: the function, and the
/// resource (`name` or `name:qualifier`) the caller named.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct FunctionLabels {
    /// The function's name.
    pub function_name: String,
    /// `name` or `name:qualifier`.
    pub resource: String,
}

impl FunctionLabels {
    /// The labels of an invocation of `name` with `qualifier`.
    pub fn of(name: &str, qualifier: Option<&str>) -> FunctionLabels {
        FunctionLabels {
            function_name: name.to_string(),
            resource: match qualifier {
                Some(q) => format!("{name}:{q}"),
                None => name.to_string(),
            },
        }
    }
}

/// One function's usage, summed since gust started.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Invocations that ran.
    pub invocations: u64,
    /// Billed Duration summed, ms.
    pub billed_ms: u64,
    /// Billed Duration × memory, in GB-seconds (Lambda's unit: MB / 1024 × s).
    pub gb_seconds: f64,
}

/// Histogram buckets of durations, seconds (1 ms to 15 min).
fn duration_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 900.0,
    ]
    .into_iter()
}

fn histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

type F64Counter = Counter<f64, AtomicU64>;

/// gust's metrics.
pub struct Metrics {
    invocations: Family<FunctionLabels, Counter>,
    errors: Family<FunctionLabels, Counter>,
    throttles: Family<FunctionLabels, Counter>,
    duration: Family<FunctionLabels, Histogram, fn() -> Histogram>,
    concurrent: Family<FunctionLabels, Gauge>,
    cold_starts: Family<FunctionLabels, Counter>,
    init_duration: Family<FunctionLabels, Histogram, fn() -> Histogram>,
    billed_gb_seconds: Family<FunctionLabels, F64Counter>,
    async_received: Family<FunctionLabels, Counter>,
    async_age: Family<FunctionLabels, Histogram, fn() -> Histogram>,
    async_dropped: Family<FunctionLabels, Counter>,
    dead_letter_errors: Family<FunctionLabels, Counter>,
    destination_failures: Family<FunctionLabels, Counter>,
    provisioned_invocations: Family<FunctionLabels, Counter>,
    provisioned_spillover: Family<FunctionLabels, Counter>,
    usage: Mutex<BTreeMap<String, Usage>>,
    /// The last minutes, for the dashboard's charts.
    series: TimeSeries,
}

/// A label set of one value, e.g. `state="frozen"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The label of a built-in queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            invocations: Family::default(),
            errors: Family::default(),
            throttles: Family::default(),
            duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            concurrent: Family::default(),
            cold_starts: Family::default(),
            init_duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            billed_gb_seconds: Family::default(),
            async_received: Family::default(),
            async_age: Family::new_with_constructor(histogram as fn() -> Histogram),
            async_dropped: Family::default(),
            dead_letter_errors: Family::default(),
            destination_failures: Family::default(),
            provisioned_invocations: Family::default(),
            provisioned_spillover: Family::default(),
            usage: Mutex::new(BTreeMap::new()),
            series: TimeSeries::default(),
        }
    }
}

/// An invocation under way: counted in ConcurrentExecutions until dropped.
pub struct InFlight<'a> {
    gauge: &'a Family<FunctionLabels, Gauge>,
    labels: FunctionLabels,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.get_or_create(&self.labels).dec();
    }
}

impl Metrics {
    /// An invocation starts running (after admission).
    pub fn started(&self, labels: &FunctionLabels) -> InFlight<'_> {
        self.concurrent.get_or_create(labels).inc();
        InFlight {
            gauge: &self.concurrent,
            labels: labels.clone(),
        }
    }

    /// An invocation ended (its REPORT line's figures).
    pub fn ended(&self, labels: &FunctionLabels, report: &gust_worker::Report, error: bool) {
        self.invocations.get_or_create(labels).inc();
        if error {
            self.errors.get_or_create(labels).inc();
        }
        self.duration
            .get_or_create(labels)
            .observe(report.duration.as_secs_f64());
        if let Some(init) = report.init {
            self.cold_starts.get_or_create(labels).inc();
            self.init_duration
                .get_or_create(labels)
                .observe(init.as_secs_f64());
        }
        self.series.record(
            &labels.function_name,
            unix_now(),
            Outcome::Ran {
                duration_us: u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
                error,
                cold: report.init.is_some(),
            },
        );
        let gb_seconds = gb_seconds(report.billed_ms, report.memory_mb);
        self.billed_gb_seconds
            .get_or_create(labels)
            .inc_by(gb_seconds);
        let mut usage = self.usage.lock();
        // The name is cloned only the first time a function is seen.
        if !usage.contains_key(&labels.function_name) {
            usage.insert(labels.function_name.clone(), Usage::default());
        }
        let Some(u) = usage.get_mut(&labels.function_name) else {
            return;
        };
        u.invocations += 1;
        u.billed_ms += report.billed_ms;
        u.gb_seconds += gb_seconds;
    }

    /// Where an invocation of a function with provisioned concurrency ran: on a
    /// provisioned instance, or spilled over to an ordinary one (Lambda's
    /// ProvisionedConcurrencyInvocations and ...SpilloverInvocations).
    pub fn provisioned(&self, labels: &FunctionLabels, on_provisioned: bool) {
        let family = if on_provisioned {
            &self.provisioned_invocations
        } else {
            &self.provisioned_spillover
        };
        family.get_or_create(labels).inc();
    }

    /// An invocation was refused for want of concurrency (429).
    pub fn throttled(&self, labels: &FunctionLabels) {
        self.throttles.get_or_create(labels).inc();
        self.series
            .record(&labels.function_name, unix_now(), Outcome::Throttled);
    }

    /// An `Event` invocation was accepted into the queue.
    pub fn async_received(&self, labels: &FunctionLabels) {
        self.async_received.get_or_create(labels).inc();
    }

    /// What the asynchronous dispatcher saw of an event.
    pub fn async_observed(&self, labels: &FunctionLabels, what: gust_events::Observed) {
        use gust_events::Observed;
        let counter = match what {
            Observed::Attempt { age_ms } => {
                self.async_age
                    .get_or_create(labels)
                    .observe(age_ms.max(0) as f64 / 1000.0);
                return;
            }
            Observed::Dropped => &self.async_dropped,
            Observed::DeadLetterError => &self.dead_letter_errors,
            Observed::DestinationFailure => &self.destination_failures,
        };
        counter.get_or_create(labels).inc();
    }

    /// Each function's recent history (see [`crate::series`]).
    pub fn series(&self) -> &TimeSeries {
        &self.series
    }

    /// Each function's usage since gust started, by name.
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.usage.lock().clone()
    }

    /// The metrics in the text format, with the platform's gauges as they are now
    /// and the built-in queues' depths as `queues` gives them (name, messages).
    pub fn encode(&self, platform: &Platform, queues: &[(String, u64)]) -> String {
        let mut registry = Registry::with_prefix("gust");
        let lambda = registry.sub_registry_with_prefix("lambda");
        lambda.register(
            "invocations",
            "Invocations that ran (Lambda's Invocations)",
            self.invocations.clone(),
        );
        lambda.register(
            "errors",
            "Invocations that ended in a function error (Lambda's Errors)",
            self.errors.clone(),
        );
        lambda.register(
            "throttles",
            "Invocations refused for want of concurrency (Lambda's Throttles)",
            self.throttles.clone(),
        );
        lambda.register_with_unit(
            "duration",
            "How long invocations ran (Lambda's Duration)",
            Unit::Seconds,
            self.duration.clone(),
        );
        lambda.register(
            "concurrent_executions",
            "Invocations running now (Lambda's ConcurrentExecutions)",
            self.concurrent.clone(),
        );
        lambda.register(
            "cold_starts",
            "Invocations that started a new instance",
            self.cold_starts.clone(),
        );
        lambda.register_with_unit(
            "init_duration",
            "Init Duration of the invocations that started an instance",
            Unit::Seconds,
            self.init_duration.clone(),
        );
        lambda.register(
            "billed_gb_seconds",
            "Billed Duration times memory, in GB-seconds",
            self.billed_gb_seconds.clone(),
        );
        lambda.register(
            "async_events_received",
            "Event invocations accepted into the queue (Lambda's AsyncEventsReceived)",
            self.async_received.clone(),
        );
        lambda.register_with_unit(
            "async_event_age",
            "Time from an Event invocation's acceptance to each of its attempts (Lambda's AsyncEventAge)",
            Unit::Seconds,
            self.async_age.clone(),
        );
        lambda.register(
            "async_events_dropped",
            "Event invocations that ended without a successful run (Lambda's AsyncEventsDropped)",
            self.async_dropped.clone(),
        );
        lambda.register(
            "dead_letter_errors",
            "Event records that could not reach their dead-letter queue (Lambda's DeadLetterErrors)",
            self.dead_letter_errors.clone(),
        );
        lambda.register(
            "destination_delivery_failures",
            "Event records that could not reach their destination (Lambda's DestinationDeliveryFailures)",
            self.destination_failures.clone(),
        );
        let health = platform.health();
        let instances: Gauge = Gauge::default();
        instances.set(health.instances as i64);
        registry.register("instances", "Live instances, all functions", instances);
        let reserved: Gauge = Gauge::default();
        reserved.set((health.reserved_memory_mb * 1024 * 1024) as i64);
        registry.register_with_unit(
            "memory_reserved",
            "Memory instances reserve now",
            Unit::Bytes,
            reserved,
        );
        let capacity: Gauge = Gauge::default();
        capacity.set((health.capacity_memory_mb * 1024 * 1024) as i64);
        registry.register_with_unit(
            "memory_capacity",
            "Memory instances may reserve in all (--memory)",
            Unit::Bytes,
            capacity,
        );
        let functions: Gauge = Gauge::default();
        functions.set(platform.registry.read().len() as i64);
        registry.register("functions", "Functions deployed", functions);
        self.encode_platform(platform, queues, &mut registry);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Provisioned concurrency per function and qualifier, instances by state, the
    /// sandbox's ready pools and the queues' depths.
    fn encode_platform(
        &self,
        platform: &Platform,
        queues: &[(String, u64)],
        registry: &mut Registry,
    ) {
        let lambda = registry.sub_registry_with_prefix("lambda");
        lambda.register(
            "provisioned_concurrency_invocations",
            "Invocations that ran on provisioned concurrency (Lambda's ProvisionedConcurrencyInvocations)",
            self.provisioned_invocations.clone(),
        );
        lambda.register(
            "provisioned_concurrency_spillover_invocations",
            "Invocations of a function with provisioned concurrency that ran on an ordinary instance, all provisioned ones being busy (Lambda's ProvisionedConcurrencySpilloverInvocations)",
            self.provisioned_spillover.clone(),
        );
        let executions: Family<FunctionLabels, Gauge> = Family::default();
        let allocated: Family<FunctionLabels, Gauge> = Family::default();
        let utilization: Family<FunctionLabels, Gauge<f64, AtomicU64>> = Family::default();
        for f in platform.registry.read().values() {
            for q in f.provisioned.keys() {
                let Ok(entry) = f.entry_for_get(Some(q), &platform.config.region) else {
                    continue;
                };
                let status = entry.pool.provisioned_status();
                let busy = status.allocated.saturating_sub(status.available);
                let labels = FunctionLabels::of(f.name(), Some(q));
                executions.get_or_create(&labels).set(busy as i64);
                allocated
                    .get_or_create(&labels)
                    .set(status.allocated as i64);
                utilization
                    .get_or_create(&labels)
                    .set(if status.allocated == 0 {
                        0.0
                    } else {
                        busy as f64 / status.allocated as f64
                    });
            }
        }
        lambda.register(
            "provisioned_concurrent_executions",
            "Provisioned instances running an invocation now (Lambda's ProvisionedConcurrentExecutions)",
            executions,
        );
        lambda.register(
            "provisioned_concurrency_allocated",
            "Provisioned instances alive, busy or idle",
            allocated,
        );
        lambda.register(
            "provisioned_concurrency_utilization",
            "Busy provisioned instances over allocated ones, 0 to 1 (Lambda's ProvisionedConcurrencyUtilization)",
            utilization,
        );

        let states = crate::instance_states(&platform.scheduler.stats());
        let by_state: Family<StateLabel, Gauge> = Family::default();
        for (state, n) in [
            ("busy", states.busy),
            ("warm", states.warm),
            ("frozen", states.frozen),
            ("starting", states.starting),
        ] {
            by_state.get_or_create(&StateLabel { state }).set(n as i64);
        }
        registry.register(
            "instances_by_state",
            "Live instances: busy with an invocation, warm (idle, runnable), frozen (idle, stopped by the freezer), or starting",
            by_state,
        );
        let levels = platform.scheduler.worker().pool_levels();
        let pool: Family<StateLabel, Gauge> = Family::default();
        for (state, n) in [
            ("sandbox", levels.sandboxes),
            ("sandbox_linked", levels.linked),
            ("prewarmed_runtime", levels.prewarmed),
        ] {
            pool.get_or_create(&StateLabel { state }).set(n as i64);
        }
        registry.register(
            "pool_ready",
            "What the sandbox keeps ready ahead of demand: pre-forked sandboxes (with an outbound link, for functions with outbound network) and runtimes started in them",
            pool,
        );
        let scheduled: Gauge = Gauge::default();
        if let Some(events) = platform.events.get() {
            scheduled.set(events.scheduled() as i64);
        }
        registry.register(
            "async_events_queued",
            "Event invocations accepted and waiting for their next attempt (not running)",
            scheduled,
        );
        let depth: Family<QueueLabel, Gauge> = Family::default();
        for (queue, messages) in queues {
            depth
                .get_or_create(&QueueLabel {
                    queue: queue.clone(),
                })
                .set(i64::try_from(*messages).unwrap_or(i64::MAX));
        }
        registry.register(
            "queue_messages",
            "Messages in each built-in queue (dead letters and destination records)",
            depth,
        );
    }
}

/// Now, in seconds since the Unix epoch: the series' buckets are wall-clock time.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Billed ms × MB as Lambda bills it: GB-seconds.
fn gb_seconds(billed_ms: u64, memory_mb: u32) -> f64 {
    (billed_ms as f64 / 1000.0) * (f64::from(memory_mb) / 1024.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn report(ms: u64, mb: u32, init: bool) -> gust_worker::Report {
        gust_worker::Report {
            duration: Duration::from_millis(ms),
            billed_ms: ms,
            memory_mb: mb,
            max_memory_mb: 30,
            init: init.then(|| Duration::from_millis(40)),
            provisioned: false,
        }
    }

    #[test]
    fn usage_sums_gb_seconds_as_lambda_bills_them() {
        let m = Metrics::default();
        let f = FunctionLabels::of("resize", None);
        m.ended(&f, &report(1000, 1024, true), false);
        m.ended(
            &FunctionLabels::of("resize", Some("prod")),
            &report(500, 1024, false),
            true,
        );
        let u = &m.usage()["resize"];
        assert_eq!(u.invocations, 2);
        assert_eq!(u.billed_ms, 1500);
        assert!((u.gb_seconds - 1.5).abs() < 1e-9, "{}", u.gb_seconds);
        assert!((gb_seconds(100, 128) - 0.0125).abs() < 1e-12);
    }

    #[test]
    fn in_flight_counts_until_dropped() {
        let m = Metrics::default();
        let f = FunctionLabels::of("f", None);
        let a = m.started(&f);
        let b = m.started(&f);
        assert_eq!(m.concurrent.get_or_create(&f).get(), 2);
        drop(a);
        drop(b);
        assert_eq!(m.concurrent.get_or_create(&f).get(), 0);
    }
}
