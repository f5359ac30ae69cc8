//! Memory reservations: the scheduler's cold capacity.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// The memory instances may reserve, and who waits for it.
pub struct Capacity {
    total_mb: u64,
    reserved_mb: Mutex<u64>,
    live: AtomicUsize,
    /// Woken when memory is released or an instance returns to a warm stack.
    pub changed: Notify,
}

/// Memory held by one live instance; released on drop.
pub struct Reservation {
    capacity: Arc<Capacity>,
    mb: u64,
}

impl Capacity {
    /// `total_mb` of capacity, none reserved.
    pub fn new(total_mb: u64) -> Capacity {
        Capacity {
            total_mb,
            reserved_mb: Mutex::new(0),
            live: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// Reserves `mb` if that much is free.
    pub fn try_reserve(this: &Arc<Capacity>, mb: u64) -> Option<Reservation> {
        let mut reserved = this.reserved_mb.lock();
        if *reserved + mb > this.total_mb {
            return None;
        }
        *reserved += mb;
        this.live.fetch_add(1, Ordering::Relaxed);
        Some(Reservation {
            capacity: this.clone(),
            mb,
        })
    }

    /// Total capacity in MB.
    pub fn total_mb(&self) -> u64 {
        self.total_mb
    }

    /// Reserved memory in MB.
    pub fn reserved_mb(&self) -> u64 {
        *self.reserved_mb.lock()
    }

    /// Live reservations, i.e. live instances.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        *self.capacity.reserved_mb.lock() -= self.mb;
        self.capacity.live.fetch_sub(1, Ordering::Relaxed);
        self.capacity.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_over_commits_and_releases_on_drop() {
        let cap = Arc::new(Capacity::new(256));
        let a = Capacity::try_reserve(&cap, 128).unwrap();
        let b = Capacity::try_reserve(&cap, 128).unwrap();
        assert!(Capacity::try_reserve(&cap, 128).is_none());
        assert_eq!(cap.reserved_mb(), 256);
        assert_eq!(cap.live(), 2);
        drop(a);
        assert_eq!(cap.reserved_mb(), 128);
        assert!(Capacity::try_reserve(&cap, 128).is_some());
        drop(b);
        assert_eq!(cap.reserved_mb(), 0);
        assert_eq!(cap.live(), 0);
    }
}
