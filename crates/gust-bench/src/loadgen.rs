//! The load generator's loops, shared by the protocols.
//!
//! - **Closed loop** ([`closed_loop`]): a caller sends, waits for the answer and sends
//!   again at once; the latency is the service time and the rate is the result.
//! - **Open loop** ([`Schedule`]): sends are due at fixed times; a late send is
//!   measured from the time it was *due*, so a stalled server shows up as latency
//!   instead of as fewer samples (no coordinated omission).
//!
//! Each caller runs on its own OS thread with its own keep-alive connection and
//! counts the CPU time it used ([`crate::procfs::thread_cpu_ns`]).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http::{is_timeout, Conn, Reply, Request};
use crate::stats::Latencies;

/// How answers were classified.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// 200 without a function error.
    pub ok: u64,
    /// No full answer before the caller's deadline.
    pub timeouts: u64,
    /// An HTTP status other than 200 (429 throttles among them).
    pub http_errors: u64,
    /// 200 with `X-Amz-Function-Error`.
    pub function_errors: u64,
    /// Connection failures.
    pub io_errors: u64,
}

impl Counts {
    /// Everything sent.
    pub fn total(&self) -> u64 {
        self.ok + self.dropped()
    }

    /// Everything that did not succeed (the seed's drop count).
    pub fn dropped(&self) -> u64 {
        self.timeouts + self.http_errors + self.function_errors + self.io_errors
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.timeouts += other.timeouts;
        self.http_errors += other.http_errors;
        self.function_errors += other.function_errors;
        self.io_errors += other.io_errors;
    }

    /// Counts one outcome; true for a success.
    pub fn count(&mut self, outcome: &std::io::Result<Reply>) -> bool {
        match outcome {
            Ok(r) if r.ok() => {
                self.ok += 1;
                true
            }
            Ok(r) if r.status == 200 => {
                self.function_errors += 1;
                false
            }
            Ok(_) => {
                self.http_errors += 1;
                false
            }
            Err(e) if is_timeout(e) => {
                self.timeouts += 1;
                false
            }
            Err(_) => {
                self.io_errors += 1;
                false
            }
        }
    }
}

/// A fixed schedule of sends, `interval` apart from `start`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    /// Sends at `rate` per second from now.
    pub fn at_rate(rate: f64) -> Schedule {
        Schedule {
            start: Instant::now(),
            interval: Duration::from_secs_f64(1.0 / rate.max(1e-6)),
        }
    }

    /// When send `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + self.interval.mul_f64(i as f64)
    }

    /// Sleeps until send `i` is due (returns at once when late) and returns the due time.
    pub fn wait(&self, i: u64) -> Instant {
        let due = self.due(i);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due
    }
}

/// One closed-loop or scheduled run of `n` requests on one connection.
#[derive(Debug, Default)]
pub struct Run {
    /// Latencies of successful requests.
    pub latencies: Latencies,
    /// Outcomes.
    pub counts: Counts,
    /// Client CPU used, in ns.
    pub cpu_ns: u64,
    /// Wall time.
    pub wall: Duration,
}

/// Sends `req` `n` times on `conn`: back to back, or on `schedule` (latency from the
/// due time). Each request may take `timeout`; `tick` is called after each.
pub fn closed_loop(
    conn: &mut Conn,
    req: &Request,
    n: u64,
    timeout: Duration,
    schedule: Option<Schedule>,
    mut tick: impl FnMut(),
) -> Run {
    let mut run = Run::default();
    let cpu0 = crate::procfs::thread_cpu_ns();
    let t0 = Instant::now();
    for i in 0..n {
        let sent = match schedule {
            Some(s) => s.wait(i),
            None => Instant::now(),
        };
        let outcome = conn.call(req, Some(Instant::now() + timeout));
        let done = Instant::now();
        if run.counts.count(&outcome) {
            run.latencies.record(done - sent);
        }
        tick();
    }
    run.wall = t0.elapsed();
    run.cpu_ns = crate::procfs::thread_cpu_ns().saturating_sub(cpu0);
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spaces_sends_evenly() {
        let s = Schedule::at_rate(1000.0);
        assert_eq!(s.due(10) - s.due(0), Duration::from_millis(10));
        let late = s.wait(0);
        assert!(late <= Instant::now());
    }

    #[test]
    fn counts_classify_outcomes() {
        let mut c = Counts::default();
        let ok = Reply {
            status: 200,
            function_error: false,
        };
        let fe = Reply {
            status: 200,
            function_error: true,
        };
        let throttled = Reply {
            status: 429,
            function_error: false,
        };
        assert!(c.count(&Ok(ok)));
        assert!(!c.count(&Ok(fe)));
        assert!(!c.count(&Ok(throttled)));
        assert!(!c.count(&Err(std::io::Error::from(std::io::ErrorKind::TimedOut))));
        assert!(!c.count(&Err(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert_eq!(
            c,
            Counts {
                ok: 1,
                timeouts: 1,
                http_errors: 1,
                function_errors: 1,
                io_errors: 1
            }
        );
        assert_eq!(c.dropped(), 4);
        assert_eq!(c.total(), 5);
    }
}
