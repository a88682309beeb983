//! The cleaner: deletes finished jobs past their retention, and keeps the file from growing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Timer;
use crate::db::{maintenance, time, Db};
use crate::error::Result;
use crate::job::JobState;

/// Rows deleted per transaction, so no pass holds the write lock for long.
const BATCH: usize = 1000;
/// After deleting this many rows in a pass, free pages go back to the file
/// system and the WAL is checkpointed.
const RECLAIM_AFTER: usize = 10_000;

/// Deletes completed, cancelled and discarded jobs older than their retention.
pub(crate) struct Cleaner {
    pub db: Arc<Db>,
    pub timer: Timer,
    /// (state, retention); `None` keeps that state's jobs forever.
    pub retention: [(JobState, Option<Duration>); 3],
}

impl Cleaner {
    /// One pass; returns how many jobs were deleted.
    pub(crate) fn run(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut total = 0;
        for (state, retention) in self.retention {
            let Some(retention) = retention else { continue };
            let before = time::before(now, retention);
            loop {
                let deleted = self
                    .db
                    .write(|tx| maintenance::delete_finalized(tx, state, before, BATCH))?;
                total += deleted;
                if deleted < BATCH {
                    break;
                }
            }
        }
        if total >= RECLAIM_AFTER {
            self.db.exclusive(maintenance::reclaim_space)?;
        }
        Ok(total)
    }
}
