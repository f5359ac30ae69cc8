//! The dispatcher's schedule: every queued event's id and due time, earliest first,
//! in memory. The store stays the truth; this is the index that lets the dispatcher
//! sleep until the next event is due instead of polling the database.
//!
//! Entries carry the event itself while their payloads fit a memory budget, so that
//! a freshly accepted event runs without being read back from the store; beyond
//! the budget (a large backlog) they carry only the id, and the event is loaded when
//! it is due.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use gust_store::events::StoredEvent;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::clock::Clock;

/// Payload bytes the schedule keeps in memory.
pub const CACHE_BUDGET: usize = 64 * 1024 * 1024;

/// One scheduled event.
#[derive(Debug)]
pub struct Pending {
    /// When it may run, epoch ms.
    pub due_ms: i64,
    /// Its id in the store.
    pub id: i64,
    /// The event, when it was kept in memory.
    pub event: Option<Box<StoredEvent>>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due_ms, self.id) == (other.due_ms, other.id)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due_ms, self.id).cmp(&(other.due_ms, other.id))
    }
}

#[derive(Debug, Default)]
struct Inner {
    heap: BinaryHeap<Reverse<Pending>>,
    cached_bytes: usize,
}

/// Scheduled events, earliest first.
#[derive(Debug)]
pub struct Ready {
    inner: Mutex<Inner>,
    changed: Notify,
    budget: usize,
}

impl Ready {
    /// An empty schedule keeping up to `budget` payload bytes in memory.
    pub fn new(budget: usize) -> Ready {
        Ready {
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            budget,
        }
    }

    /// Schedules event `id` at `due_ms`, keeping `event` if the budget allows.
    pub fn push(&self, id: i64, due_ms: i64, event: Option<StoredEvent>) {
        let mut inner = self.inner.lock();
        let event = event.filter(|e| inner.cached_bytes + e.payload.len() <= self.budget);
        if let Some(e) = &event {
            inner.cached_bytes += e.payload.len();
        }
        inner.heap.push(Reverse(Pending {
            due_ms,
            id,
            event: event.map(Box::new),
        }));
        drop(inner);
        self.changed.notify_one();
    }

    /// How many events are scheduled.
    pub fn len(&self) -> usize {
        self.inner.lock().heap.len()
    }

    /// Takes the earliest event once it is due, waiting as long as needed.
    pub async fn next(&self, clock: &Clock) -> Pending {
        loop {
            let wake = {
                let mut inner = self.inner.lock();
                match inner.heap.peek() {
                    Some(Reverse(p)) if p.due_ms <= clock.now_ms() => {
                        let Some(Reverse(p)) = inner.heap.pop() else {
                            continue;
                        };
                        if let Some(e) = &p.event {
                            inner.cached_bytes -= e.payload.len();
                        }
                        return p;
                    }
                    Some(Reverse(p)) => Some(clock.instant_at(p.due_ms)),
                    None => None,
                }
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = self.changed.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gust_store::events::EventStatus;

    use super::*;

    fn event(id: i64, bytes: usize) -> StoredEvent {
        StoredEvent {
            id,
            request_id: format!("r{id}"),
            function: "f".into(),
            qualifier: None,
            payload: vec![b' '; bytes],
            accepted_ms: 0,
            due_ms: 0,
            status: EventStatus::Queued,
            attempts: 0,
            throttles: 0,
            last_error: None,
            last_response: None,
            executed_version: None,
            trace: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hands_out_events_in_due_order_when_due() {
        let clock = Clock::new();
        let ready = Ready::new(CACHE_BUDGET);
        let now = clock.now_ms();
        ready.push(3, now + 5_000, None);
        ready.push(2, now, None);
        ready.push(1, now, None);
        assert_eq!(ready.next(&clock).await.id, 1);
        assert_eq!(ready.next(&clock).await.id, 2);
        let start = tokio::time::Instant::now();
        assert_eq!(ready.next(&clock).await.id, 3);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_push_wakes_a_waiting_reader() {
        let clock = Clock::new();
        let ready = std::sync::Arc::new(Ready::new(CACHE_BUDGET));
        let r = ready.clone();
        let reader = tokio::spawn(async move { r.next(&clock).await.id });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!reader.is_finished());
        ready.push(9, clock.now_ms(), None);
        assert_eq!(reader.await.unwrap(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_payloads_only_within_the_budget() {
        let clock = Clock::new();
        let ready = Ready::new(100);
        let now = clock.now_ms();
        ready.push(1, now, Some(event(1, 60)));
        ready.push(2, now, Some(event(2, 60)));
        assert!(ready.next(&clock).await.event.is_some());
        assert!(
            ready.next(&clock).await.event.is_none(),
            "over budget: id only"
        );
        ready.push(3, now, Some(event(3, 60)));
        assert!(ready.next(&clock).await.event.is_some(), "budget freed");
        assert_eq!(ready.len(), 0);
    }
}
