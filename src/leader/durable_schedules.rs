//! The durable schedule runner: enqueues each stored schedule's targets, once per target whoever leads, as periodic jobs in code are.
//!
//! It reads `riverlite_periodic_job` on each pass of the elector (at most
//! every election interval, and at once when this process changes a
//! schedule), so changes from any process apply within about a second.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::db::{schedules, Db};
use crate::engine::Wakers;
use crate::error::Error;
use crate::leader::periodic_enqueuer::{insert_run, PeriodicRun, Run};
use crate::model::durable_schedule::ScheduleRow;
use crate::model::schedule::Schedule;
use crate::model::InsertOpts;

/// Runs durable schedules while this client holds the leader lock.
pub(crate) struct DurableSchedules {
    db: Arc<Db>,
    insert_defaults: InsertOpts,
    wakers: Wakers,
}

impl DurableSchedules {
    /// A runner inserting into `db` with the client's `insert_defaults`.
    pub(crate) fn new(db: Arc<Db>, insert_defaults: InsertOpts, wakers: Wakers) -> Self {
        DurableSchedules {
            db,
            insert_defaults,
            wakers,
        }
    }

    /// Enqueues every due target: for each unpaused schedule, the latest
    /// target at or before `now` if it is later than the last one enqueued
    /// (or than the schedule's creation). After downtime that is one
    /// catch-up run, never a flood.
    pub(crate) fn tick(&self, now: DateTime<Utc>) {
        let rows = match self.db.conn().and_then(|conn| schedules::list(&conn)) {
            Ok(rows) => rows,
            // A River file opened without migrations has no schedules.
            Err(Error::NotMigrated { .. }) => return,
            Err(e) => {
                log::warn!("riverlite: reading durable schedules failed: {e}");
                return;
            }
        };
        let mut inserted = false;
        for row in rows.iter().filter(|r| !r.from_code && !r.paused) {
            if let Some(target) = due_target(row, now) {
                inserted |= self.enqueue(row, target, now);
            }
        }
        if inserted {
            self.wakers.wake_all();
        }
    }

    fn enqueue(&self, row: &ScheduleRow, target: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let next = row
            .schedule
            .parse::<Schedule>()
            .ok()
            .and_then(|s| s.next_after(target));
        let run = PeriodicRun {
            id: Some(&row.id),
            kind: &row.kind,
            args: Ok(row.args.clone()),
            opts: row.opts.clone(),
            kind_opts: &InsertOpts::default(),
            run: Run::Target(target),
            next,
        };
        match insert_run(&self.db, &self.insert_defaults, run, now) {
            Ok(inserted) => inserted,
            Err(e) if e.is_caused_by_data() => {
                // Never valid as stored: skip this target rather than retry it each pass.
                log::error!(
                    "riverlite: schedule {:?} cannot insert its job for {target}: {e}",
                    row.id
                );
                let skipped = self
                    .db
                    .write(|tx| schedules::record_target(tx, &row.id, target, next));
                if let Err(e) = skipped {
                    log::warn!("riverlite: recording schedule {:?} failed: {e}", row.id);
                }
                false
            }
            // A passing failure (busy): the next pass tries the same target.
            Err(e) => {
                log::warn!(
                    "riverlite: schedule {:?} for {target} failed, will retry: {e}",
                    row.id
                );
                false
            }
        }
    }
}

/// The target `row` should enqueue at `now`, if any.
fn due_target(row: &ScheduleRow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = match row.schedule.parse::<Schedule>() {
        Ok(schedule) => schedule,
        Err(e) => {
            log::warn!(
                "riverlite: schedule {:?} has an unreadable schedule: {e}",
                row.id
            );
            return None;
        }
    };
    let target = schedule.latest_at_or_before(now)?;
    let since = row.last_target_at.unwrap_or(row.created_at);
    (target > since).then_some(target)
}
