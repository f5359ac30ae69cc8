//! A state's Retry: how many retries each retrier has given so far (read back from
//! the journal after a restart) and whether a failure gets another attempt.

use super::journal::Note;
use super::{Failure, Run, Visit};
use crate::clock;

/// Retries so far, per retrier (each retrier counts its own, as on AWS).
pub(crate) struct Retries {
    counts: Vec<u64>,
    /// When the last recorded retry is due (epoch ms), if a restart finds one.
    pub due: Option<i64>,
}

impl Retries {
    /// What the step's recorded failures say.
    pub fn recorded(run: &Run, visit: &Visit<'_>) -> Retries {
        let mut r = Retries {
            counts: vec![0; visit.state.retry.len()],
            due: None,
        };
        if let Some(step) = run.journal.step(&visit.step) {
            for (_, note) in &step.events {
                r.count(note);
            }
        }
        r
    }

    /// Counts a recorded event's note (a failure a retrier took).
    pub fn count(&mut self, note: &Note) {
        if let Some(i) = note.retrier {
            if let Some(n) = self.counts.get_mut(i) {
                *n += 1;
            }
            self.due = note.until_ms;
        }
    }

    /// Retries so far, all retriers together (`$$.State.RetryCount`).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Whether `failure` is retried: the note for its failed event (which retrier,
    /// when the next attempt is due), counted; `None` when no retrier takes it or
    /// the one that matches has no attempts left.
    pub fn next(&mut self, visit: &Visit<'_>, failure: &Failure) -> Option<Note> {
        let (i, r) = gust_asl::errors::retrier_for(&visit.state.retry, &failure.error)?;
        if self.counts[i] >= r.max_attempts {
            return None;
        }
        let delay = gust_asl::errors::retry_delay(r, self.counts[i] as u32, random01());
        let due = clock::now_ms() + delay.as_millis() as i64;
        self.counts[i] += 1;
        Some(Note {
            retrier: Some(i),
            until_ms: Some(due),
            ..Note::default()
        })
    }
}

/// A uniform random number in [0, 1), for full jitter.
fn random01() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// Sleeps until `due_ms` (epoch ms), if it is still ahead.
pub(crate) async fn sleep_until(due_ms: i64) {
    let left = due_ms - clock::now_ms();
    if left > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
    }
}
