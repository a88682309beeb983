//! The durable schedule runner: enqueues each stored schedule's targets, once per target whoever leads, as periodic jobs in code are.
//!
//! It reads `riverlite_periodic_job` once every [`SCHEDULES_RELOAD`] (and at
//! once when this process changes a schedule), so a change from any process
//! applies within about a second, and works from those rows in between. A
//! pause or delete applies at once all the same: each run's insert checks,
//! in its own transaction, that the stored schedule is still there and not
//! paused.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::db::{schedules, Db};
use crate::engine::Wakers;
use crate::leader::periodic_enqueuer::{insert_run, PeriodicRun, Run};
use crate::model::durable_schedule::ScheduleRow;
use crate::model::schedule::Schedule;
use crate::model::timing::SCHEDULES_RELOAD;
use crate::model::InsertOpts;

/// Runs durable schedules while this client holds the leader lock.
pub(crate) struct DurableSchedules {
    db: Arc<Db>,
    insert_defaults: InsertOpts,
    wakers: Wakers,
    /// The schedules as last read (each with its parsed schedule, `None`
    /// if unreadable), with the targets enqueued since.
    rows: Vec<(ScheduleRow, Option<Schedule>)>,
    /// When to read them again.
    reload_at: Instant,
}

impl DurableSchedules {
    /// A runner inserting into `db` with the client's `insert_defaults`.
    pub(crate) fn new(db: Arc<Db>, insert_defaults: InsertOpts, wakers: Wakers) -> Self {
        DurableSchedules {
            db,
            insert_defaults,
            wakers,
            rows: Vec::new(),
            reload_at: Instant::now(),
        }
    }

    /// Reads the schedules again on the next pass (this process changed one).
    pub(crate) fn reload(&mut self) {
        self.reload_at = Instant::now();
    }

    fn reload_if_due(&mut self) {
        if Instant::now() < self.reload_at {
            return;
        }
        self.reload_at = Instant::now() + SCHEDULES_RELOAD;
        match self
            .db
            .conn()
            .and_then(|conn| schedules::list_if_any(&conn))
        {
            Ok(rows) => self.rows = rows.unwrap_or_default().into_iter().map(parsed).collect(),
            Err(e) => log::warn!("riverlite: reading durable schedules failed: {e}"),
        }
    }

    /// Enqueues every due target: for each unpaused schedule, the latest
    /// target at or before `now` if it is later than the last one enqueued
    /// (or than the schedule's creation). After downtime that is one
    /// catch-up run, never a flood.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        self.reload_if_due();
        let mut inserted = false;
        for i in 0..self.rows.len() {
            let (row, schedule) = &self.rows[i];
            let Some(schedule) = schedule.as_ref().filter(|_| !row.from_code && !row.paused) else {
                continue;
            };
            let Some(target) = due_target(row, schedule, now) else {
                continue;
            };
            inserted |= self.enqueue(row, schedule, target, now);
            // Done with this target, whatever happened: a passing failure
            // is retried at the next reload, from the stored record.
            self.rows[i].0.last_target_at = Some(target);
        }
        if inserted {
            self.wakers.wake_all();
        }
    }

    fn enqueue(
        &self,
        row: &ScheduleRow,
        schedule: &Schedule,
        target: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let next = schedule.next_after(target);
        let run = PeriodicRun {
            id: Some(&row.id),
            kind: &row.kind,
            args: Ok(row.args.clone()),
            opts: row.opts.clone(),
            kind_opts: &InsertOpts::default(),
            run: Run::Target(target),
            next,
            durable: true,
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

/// A row with its schedule parsed once per read.
fn parsed(row: ScheduleRow) -> (ScheduleRow, Option<Schedule>) {
    let schedule = row
        .schedule
        .parse::<Schedule>()
        .map_err(|e| {
            log::warn!(
                "riverlite: schedule {:?} has an unreadable schedule: {e}",
                row.id
            )
        })
        .ok();
    (row, schedule)
}

/// The target `row` should enqueue at `now`, if any.
fn due_target(row: &ScheduleRow, schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let target = schedule.latest_at_or_before(now)?;
    let since = row.last_target_at.unwrap_or(row.created_at);
    (target > since).then_some(target)
}
