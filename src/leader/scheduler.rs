//! The scheduler: makes due `scheduled` and `retryable` jobs `available`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{maintenance, Db};
use crate::error::Result;
use crate::leader::maintenance::Timer;

/// Jobs moved per transaction, so no pass holds the write lock for long.
const BATCH: usize = 1000;

/// Moves due jobs to `available`; a job whose unique key now collides is
/// discarded, as River does.
pub(crate) struct Scheduler {
    db: Arc<Db>,
    pub(super) timer: Timer,
}

impl Scheduler {
    /// A scheduler on `db` that runs every `interval`.
    pub(crate) fn new(db: Arc<Db>, interval: Duration) -> Self {
        Scheduler {
            db,
            timer: Timer::new(interval),
        }
    }

    /// One pass; returns how many jobs became available.
    pub(crate) fn run(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut total = 0;
        loop {
            let (available, discarded) = self
                .db
                .write(|tx| maintenance::schedule_due(tx, now, BATCH))?;
            total += available;
            if discarded > 0 {
                log::warn!(
                    "riverlite: scheduler discarded {discarded} job(s) whose unique key is taken"
                );
            }
            if available + discarded < BATCH {
                return Ok(total);
            }
        }
    }
}
