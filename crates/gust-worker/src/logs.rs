//! The log of one function: a bounded ring of records that readers can page through
//! and follow. Every instance of the function (all versions) writes here.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// One record. Mirrors `gust_wire::gust::LogEvent`; the API layer converts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in the function's log, strictly increasing from 1.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The invocation the line belongs to, if any.
    pub request_id: Option<String>,
    /// The line, without its newline.
    pub message: String,
}

/// What one record costs in memory besides its text: its slot in the ring (a
/// [`LogRecord`] is 64 bytes, and a ring that doubled to fit may hold as many empty
/// slots again) and the allocator's bookkeeping for its two strings. Charged to every
/// record, so that empty or 1-byte lines cannot hold more memory than the budget says.
pub const RECORD_OVERHEAD: usize = 128;

/// The smallest budget a log is given, whatever it is asked for.
const MIN_BYTES: usize = 1024;

/// A function's log, bounded in memory: every record is charged its text plus
/// [`RECORD_OVERHEAD`], and the oldest records go first once the budget is spent,
/// which also bounds the number of records to `max_bytes / RECORD_OVERHEAD`.
#[derive(Debug)]
pub struct FunctionLog {
    inner: Mutex<Ring>,
    /// Woken whenever a record is appended, for followers.
    appended: Notify,
    /// Bytes the records may cost at most, overhead included.
    max_bytes: usize,
    /// Records kept at most (what `max_bytes` allows for records without text).
    max_records: usize,
}

#[derive(Debug, Default)]
struct Ring {
    records: VecDeque<LogRecord>,
    /// What the records in `records` cost, by [`cost`].
    bytes: usize,
    next_seq: u64,
}

/// What a record is charged against the budget.
fn cost(record: &LogRecord) -> usize {
    RECORD_OVERHEAD + record.message.len() + record.request_id.as_ref().map_or(0, String::len)
}

impl FunctionLog {
    /// A log whose records cost at most `max_bytes` (at least 1 KiB), text and
    /// per-record overhead together.
    pub fn new(max_bytes: usize) -> FunctionLog {
        let max_bytes = max_bytes.max(MIN_BYTES);
        FunctionLog {
            inner: Mutex::new(Ring {
                next_seq: 1,
                ..Ring::default()
            }),
            appended: Notify::new(),
            max_bytes,
            max_records: max_bytes / RECORD_OVERHEAD,
        }
    }

    /// Appends one line. A line longer than the whole budget is cut to fit it.
    pub fn push(&self, request_id: Option<&str>, mut message: String) {
        let timestamp_ms = now_ms();
        let room = self
            .max_bytes
            .saturating_sub(RECORD_OVERHEAD + request_id.map_or(0, str::len));
        if message.len() > room {
            let mut cut = room;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.shrink_to_fit();
        }
        {
            let mut ring = self.inner.lock();
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let record = LogRecord {
                seq,
                timestamp_ms,
                request_id: request_id.map(str::to_string),
                message,
            };
            ring.bytes += cost(&record);
            ring.records.push_back(record);
            while ring.bytes > self.max_bytes || ring.records.len() > self.max_records {
                match ring.records.pop_front() {
                    Some(old) => ring.bytes -= cost(&old),
                    None => break,
                }
            }
        }
        self.appended.notify_waiters();
    }

    /// Records with `seq > after`, oldest first, at most `limit`. With `after == 0`
    /// and more than `limit` records, the newest `limit` are returned (a tail).
    /// Returns the records and the `after` to use next.
    pub fn read(&self, after: u64, limit: usize) -> (Vec<LogRecord>, u64) {
        let ring = self.inner.lock();
        let newer: Vec<&LogRecord> = ring.records.iter().filter(|r| r.seq > after).collect();
        let skip = if after == 0 {
            newer.len().saturating_sub(limit)
        } else {
            0
        };
        let out: Vec<LogRecord> = newer.into_iter().skip(skip).take(limit).cloned().collect();
        let next = match out.last() {
            Some(r) => r.seq,
            None if after == 0 => ring.next_seq - 1,
            None => after,
        };
        (out, next)
    }

    /// Like [`read`](Self::read), but waits up to `wait` for a record newer than
    /// `after` when there is none yet.
    pub async fn read_wait(
        &self,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> (Vec<LogRecord>, u64) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (records, next) = self.read(after, limit);
            if !records.is_empty() || wait.is_zero() {
                return (records, next);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return (records, next);
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_paged() {
        let log = FunctionLog::new(1024);
        for i in 0..100 {
            log.push(Some("r"), format!("line {i:04} {}", "x".repeat(40)));
        }
        let (all, next) = log.read(0, 1000);
        assert!(all.len() < 100, "ring must drop old records");
        assert_eq!(all.last().unwrap().seq, 100);
        assert_eq!(next, 100);
        let (tail, _) = log.read(0, 3);
        assert_eq!(
            tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![98, 99, 100]
        );
        let (after, next) = log.read(98, 10);
        assert_eq!(after.len(), 2);
        assert_eq!(next, 100);
        let (none, next) = log.read(100, 10);
        assert!(none.is_empty());
        assert_eq!(next, 100);
    }

    /// What the ring holds, recomputed from its records: (records, bytes charged).
    fn held(log: &FunctionLog) -> (usize, usize) {
        let ring = log.inner.lock();
        let bytes: usize = ring.records.iter().map(cost).sum();
        assert_eq!(bytes, ring.bytes, "the running total matches the records");
        (ring.records.len(), bytes)
    }

    #[test]
    fn empty_lines_are_charged_and_evicted() {
        let budget = 1 << 20;
        let log = FunctionLog::new(budget);
        for _ in 0..3_000_000 {
            log.push(None, String::new());
        }
        let (records, bytes) = held(&log);
        assert!(
            bytes <= budget,
            "{bytes} bytes held for a {budget}-byte budget"
        );
        assert_eq!(records, budget / RECORD_OVERHEAD);
        // The ring's own allocation stays proportionate too.
        assert!(log.inner.lock().records.capacity() <= 2 * budget / RECORD_OVERHEAD);
        let (tail, next) = log.read(0, 2);
        assert_eq!(next, 3_000_000, "the newest records are the ones kept");
        assert_eq!(tail.last().unwrap().seq, 3_000_000);
    }

    #[test]
    fn one_byte_lines_with_request_ids_stay_within_the_budget() {
        let budget = 1 << 20;
        let log = FunctionLog::new(budget);
        let rid = "8f2c6a1e-0d4b-4a57-9a53-4f3f0a1b2c3d";
        for i in 0..3_000_000u32 {
            log.push(Some(rid), ((b'a' + (i % 26) as u8) as char).to_string());
        }
        let (records, bytes) = held(&log);
        assert!(
            bytes <= budget,
            "{bytes} bytes held for a {budget}-byte budget"
        );
        assert_eq!(records, budget / (RECORD_OVERHEAD + 1 + rid.len()));
    }

    #[test]
    fn a_line_longer_than_the_budget_is_cut_to_fit() {
        let log = FunctionLog::new(4096);
        log.push(None, "old".into());
        log.push(Some("r"), "é".repeat(10_000));
        let (records, bytes) = held(&log);
        assert_eq!(records, 1, "only the long line fits");
        assert!(bytes <= 4096);
        let (all, _) = log.read(0, 10);
        assert!(all[0].message.len() >= 4096 - RECORD_OVERHEAD - 2);
        assert!(all[0].message.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn followers_wake_on_append() {
        let log = std::sync::Arc::new(FunctionLog::new(4096));
        let reader = {
            let log = log.clone();
            tokio::spawn(async move { log.read_wait(0, 10, Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        log.push(None, "hello".into());
        let (records, next) = reader.await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "hello");
        assert_eq!(next, 1);
    }
}
