//! The cleaner: deletes finished jobs past their retention, and keeps the file from growing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{self, maintenance, Db};
use crate::error::Result;
use crate::leader::maintenance::Timer;
use crate::model::timing::NOTIFICATION_RETENTION;
use crate::model::{time, JobState, MaintenanceConfig, TestSignals};

/// Rows deleted per transaction, so no pass holds the write lock for long.
const BATCH: usize = 1000;
/// After deleting this many rows in a pass, free pages go back to the file
/// system and the WAL is checkpointed.
const RECLAIM_AFTER: usize = 10_000;

/// Deletes completed, cancelled and discarded jobs older than their retention.
pub(crate) struct Cleaner {
    db: Arc<Db>,
    pub(super) timer: Timer,
    /// (state, retention); `None` keeps that state's jobs forever.
    retention: [(JobState, Option<Duration>); 3],
    signals: Arc<TestSignals>,
}

impl Cleaner {
    /// A cleaner on `db` with `config`'s interval and retentions.
    pub(crate) fn new(db: Arc<Db>, config: &MaintenanceConfig, signals: Arc<TestSignals>) -> Self {
        Cleaner {
            db,
            timer: Timer::new(config.cleaner_interval),
            retention: [
                (JobState::Completed, config.completed_retention),
                (JobState::Cancelled, config.cancelled_retention),
                (JobState::Discarded, config.discarded_retention),
            ],
            signals,
        }
    }

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
        // River's leader prunes its notification outbox too.
        let horizon = time::before(now, NOTIFICATION_RETENTION);
        self.db
            .write(|tx| db::notifications::delete_before(tx, horizon))?;
        if total >= RECLAIM_AFTER {
            self.db.exclusive(maintenance::reclaim_space)?;
        }
        self.signals.cleaner_pass.signal();
        Ok(total)
    }
}
