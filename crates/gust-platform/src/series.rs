//! A short, bounded history of each function's invocations for the dashboard's
//! live charts: Prometheus counters say how many, never what the 99th percentile
//! was a minute ago.
//!
//! Each function that ran in the last [`WINDOW_SECS`] has a ring of [`SLOTS`]
//! buckets of [`BUCKET_SECS`] seconds of wall-clock time. A bucket counts
//! invocations, errors, throttles and cold starts and keeps a log-scaled histogram
//! of durations (four bins per power of two, so a percentile read from it is
//! within about 19% of the true value). Recording finds the bucket by arithmetic
//! and adds to it: O(1), no allocation but a bucket's first histogram. A
//! function's memory is bounded by its ring (under 70 KB with every histogram in
//! use); rings that saw nothing for a whole window are dropped.
//!
//! Time is passed in (Unix seconds), so tests drive the clock themselves.

use std::collections::HashMap;

use gust_wire::dashboard::{SeriesPoint, SeriesResponse};
use parking_lot::Mutex;

/// Seconds one bucket covers.
pub const BUCKET_SECS: u64 = 5;
/// Buckets kept per function.
pub const SLOTS: usize = 180;
/// Seconds of history kept: 15 minutes.
pub const WINDOW_SECS: u64 = BUCKET_SECS * SLOTS as u64;

/// Bins of the duration histogram: bin 0 holds durations under 64 µs; then four
/// bins per power of two of microseconds up to 2^30 µs (about 18 minutes, longer
/// than any function may run).
const MIN_OCTAVE: u32 = 6;
const MAX_OCTAVE: u32 = 30;
const SUB_BINS: u32 = 4;
const BINS: usize = ((MAX_OCTAVE - MIN_OCTAVE) * SUB_BINS) as usize + 1;

/// The histogram bin of a duration of `us` microseconds.
fn bin(us: u64) -> usize {
    if us < 1 << MIN_OCTAVE {
        return 0;
    }
    let octave = 63 - us.leading_zeros();
    if octave >= MAX_OCTAVE {
        return BINS - 1;
    }
    let sub = (us >> (octave - 2)) & u64::from(SUB_BINS - 1);
    1 + ((octave - MIN_OCTAVE) * SUB_BINS) as usize + sub as usize
}

/// The lowest duration (µs) bin `i` holds; `bounds(BINS)` is the top of the last.
fn lower_bound(i: usize) -> u64 {
    if i == 0 {
        return 0;
    }
    let i = (i - 1) as u32;
    let octave = MIN_OCTAVE + i / SUB_BINS;
    let sub = u64::from(i % SUB_BINS);
    (1u64 << octave) + sub * (1u64 << (octave - 2))
}

/// Counts of durations per bin.
#[derive(Clone)]
struct Histogram([u32; BINS]);

impl Histogram {
    fn new() -> Box<Histogram> {
        Box::new(Histogram([0; BINS]))
    }

    fn add(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds, interpolated within its bin;
    /// `None` without samples.
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut below = 0u64;
        for (i, &count) in self.0.iter().enumerate() {
            let count = u64::from(count);
            if count > 0 && below + count >= rank {
                let (lo, hi) = (lower_bound(i) as f64, lower_bound(i + 1) as f64);
                let within = (rank - below) as f64 / count as f64;
                return Some((lo + within * (hi - lo)) / 1000.0);
            }
            below += count;
        }
        None
    }
}

/// One bucket of one function's ring.
#[derive(Default)]
struct Slot {
    /// The bucket's start (Unix seconds, a multiple of [`BUCKET_SECS`]); a slot
    /// whose start is not the bucket being read holds an older bucket's counts.
    start: u64,
    invocations: u32,
    errors: u32,
    throttles: u32,
    cold_starts: u32,
    /// Allocated the first time the slot records a duration, then reused.
    latency: Option<Box<Histogram>>,
}

impl Slot {
    /// The slot, emptied first if it holds an older bucket.
    fn at(&mut self, start: u64) -> &mut Slot {
        if self.start != start {
            self.start = start;
            self.invocations = 0;
            self.errors = 0;
            self.throttles = 0;
            self.cold_starts = 0;
            if let Some(h) = &mut self.latency {
                h.0 = [0; BINS];
            }
        }
        self
    }
}

/// One function's ring.
struct Ring {
    slots: Vec<Slot>,
    /// The start of the newest bucket written, to drop rings gone quiet.
    newest: u64,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            newest: 0,
        }
    }

    fn slot(&mut self, now: u64) -> &mut Slot {
        let start = bucket_start(now);
        self.newest = self.newest.max(start);
        let i = (start / BUCKET_SECS) as usize % SLOTS;
        self.slots[i].at(start)
    }

    /// The slot of the bucket starting at `start`, if it still holds it.
    fn get(&self, start: u64) -> Option<&Slot> {
        let slot = &self.slots[(start / BUCKET_SECS) as usize % SLOTS];
        (slot.start == start).then_some(slot)
    }
}

fn bucket_start(now: u64) -> u64 {
    now - now % BUCKET_SECS
}

/// What happened to one invocation, as recorded.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// It ran for `duration_us`; `error` if it ended in a function error; `cold`
    /// if it started an instance.
    Ran {
        /// How long it ran, µs.
        duration_us: u64,
        /// Whether it ended in a function error.
        error: bool,
        /// Whether it started an instance.
        cold: bool,
    },
    /// It was refused for want of concurrency.
    Throttled,
}

/// Every function's recent history.
#[derive(Default)]
pub struct TimeSeries {
    rings: Mutex<Rings>,
}

#[derive(Default)]
struct Rings {
    by_function: HashMap<String, Ring>,
    /// The newest bucket any recording opened: when it moves on, quiet rings go.
    current: u64,
}

impl TimeSeries {
    /// Records one invocation of `function` at `now` (Unix seconds).
    pub fn record(&self, function: &str, now: u64, outcome: Outcome) {
        let mut rings = self.rings.lock();
        let start = bucket_start(now);
        if start > rings.current {
            rings.current = start;
            // Once per bucket: forget functions quiet for a whole window.
            rings
                .by_function
                .retain(|_, r| r.newest + WINDOW_SECS > start);
        }
        // The name is cloned only when a function's ring is made.
        if !rings.by_function.contains_key(function) {
            rings.by_function.insert(function.to_string(), Ring::new());
        }
        let Some(ring) = rings.by_function.get_mut(function) else {
            return;
        };
        let slot = ring.slot(now);
        match outcome {
            Outcome::Ran {
                duration_us,
                error,
                cold,
            } => {
                slot.invocations = slot.invocations.saturating_add(1);
                slot.errors = slot.errors.saturating_add(u32::from(error));
                slot.cold_starts = slot.cold_starts.saturating_add(u32::from(cold));
                let h = slot.latency.get_or_insert_with(Histogram::new);
                let b = &mut h.0[bin(duration_us)];
                *b = b.saturating_add(1);
            }
            Outcome::Throttled => slot.throttles = slot.throttles.saturating_add(1),
        }
    }

    /// The last `window_secs` (at most [`WINDOW_SECS`]) up to `now`, one point per
    /// `step_secs` (rounded to whole buckets), oldest first, for `function` or, with
    /// `None`, every function summed. Every step has a point, empty ones included.
    pub fn read(
        &self,
        function: Option<&str>,
        now: u64,
        window_secs: u64,
        step_secs: u64,
    ) -> SeriesResponse {
        let per_point = (step_secs / BUCKET_SECS).max(1);
        let step = per_point * BUCKET_SECS;
        let window = window_secs.clamp(step, WINDOW_SECS);
        let points_n = (window / step).max(1);
        let newest = bucket_start(now);
        let rings = self.rings.lock();
        let chosen: Vec<&Ring> = match function {
            Some(name) => rings.by_function.get(name).into_iter().collect(),
            None => rings.by_function.values().collect(),
        };
        let mut points = Vec::with_capacity(points_n as usize);
        for p in (0..points_n).rev() {
            // The point's newest bucket, then the older ones it spans.
            let last = newest.saturating_sub(p * step);
            let first = last.saturating_sub(step - BUCKET_SECS);
            let mut point = SeriesPoint {
                start_ms: first * 1000,
                ..SeriesPoint::default()
            };
            let mut latency: Option<Box<Histogram>> = None;
            for start in (first..=last).step_by(BUCKET_SECS as usize) {
                for slot in chosen.iter().filter_map(|r| r.get(start)) {
                    point.invocations += u64::from(slot.invocations);
                    point.errors += u64::from(slot.errors);
                    point.throttles += u64::from(slot.throttles);
                    point.cold_starts += u64::from(slot.cold_starts);
                    if let Some(h) = &slot.latency {
                        latency.get_or_insert_with(Histogram::new).add(h);
                    }
                }
            }
            if let Some(h) = latency {
                point.p50_ms = h.quantile_ms(0.50);
                point.p90_ms = h.quantile_ms(0.90);
                point.p99_ms = h.quantile_ms(0.99);
            }
            points.push(point);
        }
        // The newest point is still filling: rates divide by what has elapsed.
        let elapsed_in_last = now - newest + 1;
        SeriesResponse {
            function: function.map(str::to_string),
            step_seconds: step,
            now_ms: now * 1000,
            last_point_seconds: (step - BUCKET_SECS + elapsed_in_last).min(step),
            points,
        }
    }

    /// How many functions have a ring now.
    pub fn functions_tracked(&self) -> usize {
        self.rings.lock().by_function.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000; // a multiple of 5

    fn ran(ms: u64) -> Outcome {
        Outcome::Ran {
            duration_us: ms * 1000,
            error: false,
            cold: false,
        }
    }

    #[test]
    fn bins_cover_durations_in_order_and_bounds_match() {
        let mut last = 0;
        for us in [
            0,
            63,
            64,
            79,
            80,
            96,
            112,
            128,
            1_000,
            65_000,
            1 << 29,
            1 << 31,
        ] {
            let b = bin(us);
            assert!(b >= last, "{us} µs went to bin {b} after {last}");
            assert!(b < BINS);
            if b < BINS - 1 {
                assert!(
                    lower_bound(b) <= us && us < lower_bound(b + 1),
                    "{us} in {b}"
                );
            }
            last = b;
        }
        assert_eq!(bin(64), 1);
        assert_eq!(bin(80), 2);
        assert_eq!(lower_bound(BINS), 1 << MAX_OCTAVE);
    }

    #[test]
    fn percentiles_are_close_to_the_samples() {
        let s = TimeSeries::default();
        // 1..=100 ms: p50 ≈ 50, p90 ≈ 90, p99 ≈ 99.
        for ms in 1..=100 {
            s.record("f", T0, ran(ms));
        }
        let p = &s.read(Some("f"), T0, 5, 5).points[0];
        assert_eq!(p.invocations, 100);
        for (got, want) in [(p.p50_ms, 50.0), (p.p90_ms, 90.0), (p.p99_ms, 99.0)] {
            let got = got.unwrap();
            assert!(
                (got - want).abs() / want < 0.2,
                "got {got}, want about {want}"
            );
        }
    }

    #[test]
    fn buckets_follow_the_clock_and_empty_steps_have_points() {
        let s = TimeSeries::default();
        s.record("f", T0, ran(10));
        s.record("f", T0 + 1, ran(10));
        s.record(
            "f",
            T0 + 12,
            Outcome::Ran {
                duration_us: 2_000_000,
                error: true,
                cold: true,
            },
        );
        s.record("f", T0 + 12, Outcome::Throttled);
        let r = s.read(Some("f"), T0 + 13, 15, 5);
        assert_eq!(r.step_seconds, 5);
        assert_eq!(r.points.len(), 3);
        let counts: Vec<u64> = r.points.iter().map(|p| p.invocations).collect();
        assert_eq!(counts, [2, 0, 1]);
        assert_eq!(r.points[0].start_ms, T0 * 1000);
        assert_eq!(r.points[1].p50_ms, None, "an empty bucket has no latency");
        let last = &r.points[2];
        assert_eq!((last.errors, last.throttles, last.cold_starts), (1, 1, 1));
        assert!(last.p99_ms.unwrap() > 1500.0);
        assert_eq!(r.last_point_seconds, 4, "10..=13 has elapsed");
    }

    #[test]
    fn wider_steps_sum_their_buckets_and_functions_sum_when_unnamed() {
        let s = TimeSeries::default();
        for i in 0..30 {
            s.record("a", T0 + i, ran(5));
            s.record("b", T0 + i, ran(500));
        }
        let r = s.read(None, T0 + 29, 30, 15);
        assert_eq!(r.step_seconds, 15);
        let counts: Vec<u64> = r.points.iter().map(|p| p.invocations).collect();
        assert_eq!(counts, [30, 30]);
        let p50 = r.points[0].p50_ms.unwrap();
        assert!(p50 < 10.0, "half the samples are 5 ms: {p50}");
        assert!(r.points[0].p90_ms.unwrap() > 400.0);
        assert_eq!(s.read(Some("a"), T0 + 29, 30, 15).points[1].invocations, 15);
        assert_eq!(
            s.read(Some("nope"), T0 + 29, 30, 15).points[1].invocations,
            0
        );
    }

    #[test]
    fn a_slot_reused_a_window_later_forgets_the_old_bucket() {
        let s = TimeSeries::default();
        s.record("f", T0, ran(10));
        s.record("f", T0 + WINDOW_SECS, ran(10));
        s.record("f", T0 + WINDOW_SECS, ran(10));
        let r = s.read(Some("f"), T0 + WINDOW_SECS, WINDOW_SECS, 5);
        assert_eq!(r.points.len(), SLOTS);
        assert_eq!(
            r.points.last().unwrap().invocations,
            2,
            "not 3: the old bucket is gone"
        );
        let total: u64 = r.points.iter().map(|p| p.invocations).sum();
        assert_eq!(total, 2);
        let before = s.read(Some("f"), T0 + WINDOW_SECS - 1, WINDOW_SECS, 5);
        assert_eq!(before.points[0].start_ms, T0 * 1000);
        assert_eq!(
            before.points[0].invocations, 0,
            "its slot holds a newer bucket"
        );
    }

    #[test]
    fn quiet_functions_are_dropped_after_a_window() {
        let s = TimeSeries::default();
        s.record("old", T0, ran(1));
        s.record("new", T0 + WINDOW_SECS - 5, ran(1));
        assert_eq!(s.functions_tracked(), 2);
        s.record("new", T0 + WINDOW_SECS, ran(1));
        assert_eq!(s.functions_tracked(), 1);
        let r = s.read(Some("old"), T0 + WINDOW_SECS, WINDOW_SECS, 5);
        assert!(r.points.iter().all(|p| p.invocations == 0));
    }

    #[test]
    fn windows_are_clamped_to_what_is_kept() {
        let s = TimeSeries::default();
        let r = s.read(None, T0, 10 * WINDOW_SECS, 1);
        assert_eq!(r.points.len(), SLOTS);
        assert_eq!(r.step_seconds, BUCKET_SECS);
    }

    #[test]
    fn throttles_alone_count_without_a_latency_and_the_filling_point_says_how_far_it_is() {
        let s = TimeSeries::default();
        s.record("f", T0, Outcome::Throttled);
        s.record("f", T0 + 1, Outcome::Throttled);
        let r = s.read(Some("f"), T0, 5, 5);
        let p = &r.points[0];
        assert_eq!(
            (p.invocations, p.throttles),
            (0, 2),
            "a throttle is not an invocation"
        );
        assert_eq!(
            (p.p50_ms, p.p99_ms),
            (None, None),
            "nothing ran: no duration"
        );
        assert_eq!(r.last_point_seconds, 1, "the bucket's first second");
        assert_eq!(s.read(Some("f"), T0 + 4, 5, 5).last_point_seconds, 5);
        // A 15 s step whose newest bucket has just begun: two whole buckets plus one second.
        assert_eq!(s.read(Some("f"), T0 + 10, 15, 15).last_point_seconds, 11);
    }
}
