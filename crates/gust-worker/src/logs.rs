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

/// A function's log, bounded in bytes: the oldest records go first.
#[derive(Debug)]
pub struct FunctionLog {
    inner: Mutex<Ring>,
    /// Woken whenever a record is appended, for followers.
    appended: Notify,
    /// Bytes of message text kept at most.
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Ring {
    records: VecDeque<LogRecord>,
    bytes: usize,
    next_seq: u64,
}

impl FunctionLog {
    /// A log keeping at most `max_bytes` of message text.
    pub fn new(max_bytes: usize) -> FunctionLog {
        FunctionLog {
            inner: Mutex::new(Ring {
                next_seq: 1,
                ..Ring::default()
            }),
            appended: Notify::new(),
            max_bytes: max_bytes.max(1024),
        }
    }

    /// Appends one line.
    pub fn push(&self, request_id: Option<&str>, message: String) {
        let timestamp_ms = now_ms();
        {
            let mut ring = self.inner.lock();
            ring.bytes += message.len();
            let seq = ring.next_seq;
            ring.next_seq += 1;
            ring.records.push_back(LogRecord {
                seq,
                timestamp_ms,
                request_id: request_id.map(str::to_string),
                message,
            });
            while ring.bytes > self.max_bytes {
                match ring.records.pop_front() {
                    Some(old) => ring.bytes -= old.message.len(),
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
