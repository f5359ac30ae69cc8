//! The connections of one instance's Runtime API: how many may be open at once, and
//! when an idle one is closed.
//!
//! A runtime needs one connection: AWS's runtime interface clients and gust's
//! bootstraps keep one alive for every request, a shell runtime driving curl opens
//! one per request and closes it, and AWS's Python client opens a second one only to
//! report an init error. Every connection the function holds open beyond that costs
//! gust a file descriptor, which all instances share: without a cap, one function
//! opening thousands of them exhausts gust's descriptors and starves every other
//! function. So an instance gets at most [`MAX_CONNECTIONS`] (further ones are
//! refused at once), and a connection with no request in flight for
//! [`IDLE_TIMEOUT`] is closed, except the one that finished a request last: that is
//! the connection the runtime uses, idle while its handler runs. A long-poll `next`
//! is a request in flight, so a runtime waiting for work is never cut off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Connections one instance may hold open to its Runtime API.
pub const MAX_CONNECTIONS: usize = 8;

/// How long a connection may sit with no request in flight before it is closed
/// (unless it is the one the runtime used last).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The open connections of one instance.
pub struct Connections {
    table: Mutex<Table>,
    max: usize,
    idle_timeout: Duration,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Conn>,
    /// The connection that finished a request last: the one the runtime keeps using,
    /// idle while its handler runs (an invocation may take 15 minutes).
    last_used: Option<u64>,
}

struct Conn {
    /// Requests read and not yet answered (more than one only if pipelined).
    in_flight: usize,
    /// When the connection last had no request in flight (its accept, at first).
    idle_since: Instant,
}

/// One admitted connection; dropping it frees its place.
pub struct Slot {
    id: u64,
    conns: Arc<Connections>,
}

/// A request in flight on a connection; dropping it marks the request answered.
pub struct Busy {
    id: u64,
    conns: Arc<Connections>,
}

impl Connections {
    /// Bookkeeping for at most `max` connections, closed after `idle_timeout` idle.
    pub fn new(max: usize, idle_timeout: Duration) -> Arc<Connections> {
        Arc::new(Connections {
            table: Mutex::new(Table::default()),
            max,
            idle_timeout,
        })
    }

    /// A place for a new connection, or `None` when all are taken.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut table = self.table.lock();
        if table.open.len() >= self.max {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(
            id,
            Conn {
                in_flight: 0,
                idle_since: Instant::now(),
            },
        );
        Some(Slot {
            id,
            conns: self.clone(),
        })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.table.lock().open.len()
    }
}

impl Slot {
    /// Marks a request in flight on this connection until the guard is dropped.
    pub fn busy(&self) -> Busy {
        if let Some(conn) = self.conns.table.lock().open.get_mut(&self.id) {
            conn.in_flight += 1;
        }
        Busy {
            id: self.id,
            conns: self.conns.clone(),
        }
    }

    /// When this connection may be closed as idle if nothing changes meanwhile;
    /// `None` while a request is in flight or while it is the one used last.
    fn idle_deadline(&self) -> Option<Instant> {
        let table = self.conns.table.lock();
        let conn = table.open.get(&self.id)?;
        if conn.in_flight > 0 || table.last_used == Some(self.id) {
            return None;
        }
        Some(conn.idle_since + self.conns.idle_timeout)
    }

    /// Resolves once the connection has been idle for the idle timeout (checked
    /// again at least every timeout, so it closes at most two timeouts after its
    /// last request).
    pub async fn idle_expired(&self) {
        loop {
            match self.idle_deadline() {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => tokio::time::sleep(self.conns.idle_timeout).await,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.conns.table.lock();
        table.open.remove(&self.id);
        if table.last_used == Some(self.id) {
            table.last_used = None;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut table = self.conns.table.lock();
        if let Some(conn) = table.open.get_mut(&self.id) {
            conn.in_flight = conn.in_flight.saturating_sub(1);
            conn.idle_since = Instant::now();
            table.last_used = Some(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(60);

    /// Whether `slot` has been closed as idle by now (without waiting).
    async fn expired(slot: &Slot) -> bool {
        tokio::time::timeout(Duration::ZERO, slot.idle_expired())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn at_most_max_connections_and_closing_frees_a_place() {
        let conns = Connections::new(3, T);
        let slots: Vec<Slot> = (0..3).map(|_| conns.admit().unwrap()).collect();
        assert!(conns.admit().is_none(), "a fourth connection is refused");
        assert_eq!(conns.open(), 3);
        drop(slots);
        assert_eq!(conns.open(), 0);
        assert!(conns.admit().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unused_connection_is_closed_after_the_idle_timeout() {
        let conns = Connections::new(8, T);
        let slot = conns.admit().unwrap();
        tokio::time::sleep(T - Duration::from_secs(1)).await;
        assert!(!expired(&slot).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(expired(&slot).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle() {
        let conns = Connections::new(8, T);
        let slot = conns.admit().unwrap();
        let busy = slot.busy();
        tokio::time::sleep(T * 100).await;
        assert!(!expired(&slot).await, "a long-poll `next` is not idle");
        drop(busy);
        // Used last, it stays open however long the handler runs.
        tokio::time::sleep(T * 100).await;
        assert!(!expired(&slot).await);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_connection_used_last_is_kept_while_idle() {
        let conns = Connections::new(8, T);
        let old = conns.admit().unwrap();
        let current = conns.admit().unwrap();
        drop(old.busy());
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(current.busy());
        tokio::time::sleep(T).await;
        assert!(expired(&old).await, "abandoned after `current` took over");
        assert!(!expired(&current).await);
        // The timer in a task waiting on it fires too.
        let waiter = tokio::spawn(async move { old.idle_expired().await });
        tokio::time::timeout(T, waiter).await.unwrap().unwrap();
    }
}
