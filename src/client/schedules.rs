//! Durable schedules on every client, insert-only or working: create or replace, read, pause, resume, delete.
//!
//! Each change is one write; the leader (in any process) sees it on its
//! next pass, within about a second, and this client's own elector at once.

use rusqlite::Transaction;

use super::Client;
use crate::db;
use crate::db::schedules::Upsert;
use crate::error::Result;
use crate::model::durable_schedule::{ScheduleParams, ScheduleRow};
use crate::model::schedule::Schedule;

impl Client {
    /// Creates the durable schedule `params.id`, or replaces its kind, args,
    /// schedule and options, keeping its `created_at`, `last_target_at` and
    /// `paused` (so an application that upserts its schedules at every boot
    /// never undoes an operator's pause, nor runs a target again). Whichever
    /// working client leads runs it.
    ///
    /// ```
    /// use riverlite::{Client, JobArgs, Schedule, ScheduleParams};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct NightlyReport { full: bool }
    /// impl JobArgs for NightlyReport { const KIND: &'static str = "nightly_report"; }
    ///
    /// let client = Client::builder(":memory:").build()?; // insert-only
    /// let params = ScheduleParams::new("nightly", Schedule::cron("0 3 * * *")?, NightlyReport { full: true });
    /// let row = client.schedule_upsert(params)?;
    /// assert_eq!(row.schedule, "0 3 * * *");
    /// assert!(row.next_target_at.is_some());
    /// # Ok::<(), riverlite::Error>(())
    /// ```
    pub fn schedule_upsert(&self, params: ScheduleParams) -> Result<ScheduleRow> {
        let row = self.inner.db.write(|tx| self.upsert_in(tx, &params))?;
        self.nudge_leader();
        Ok(row)
    }

    /// [`Client::schedule_upsert`] in the caller's transaction. The leader
    /// sees the change once the caller commits, within about a second.
    pub fn schedule_upsert_tx(
        &self,
        tx: &Transaction<'_>,
        params: ScheduleParams,
    ) -> Result<ScheduleRow> {
        let row = self.upsert_in(tx, &params)?;
        self.nudge_leader();
        Ok(row)
    }

    fn upsert_in(&self, tx: &Transaction<'_>, params: &ScheduleParams) -> Result<ScheduleRow> {
        let now = self.now();
        let (args, opts) = params.validated(now)?;
        let upsert = Upsert {
            id: &params.id,
            kind: &params.kind,
            args: &args,
            schedule: &params.schedule.to_string(),
            opts: &opts,
            next_target_at: params.schedule.next_after(now),
            latest_target_at: params.schedule.latest_at_or_before(now),
        };
        db::schedules::upsert(tx, &upsert, now)
    }

    /// The schedule `id`; `Error::NotFound` if there is none.
    pub fn schedule_get(&self, id: &str) -> Result<ScheduleRow> {
        db::schedules::get(&*self.inner.db.conn()?, id)
    }

    /// Every schedule, ordered by id: durable ones, and the records of
    /// periodic jobs defined in code (`from_code`).
    pub fn schedule_list(&self) -> Result<Vec<ScheduleRow>> {
        db::schedules::list(&*self.inner.db.conn()?)
    }

    /// Keeps the schedule but runs nothing until it is resumed.
    pub fn schedule_pause(&self, id: &str) -> Result<ScheduleRow> {
        let now = self.now();
        let row = self
            .inner
            .db
            .write(|tx| db::schedules::set_paused(tx, id, true, None, now))?;
        self.nudge_leader();
        Ok(row)
    }

    /// Runs a paused schedule again, from its next target: targets that
    /// passed while it was paused are skipped.
    pub fn schedule_resume(&self, id: &str) -> Result<ScheduleRow> {
        let now = self.now();
        let row = self.inner.db.write(|tx| {
            let current = db::schedules::get(tx, id)?;
            let skip_to = current
                .schedule
                .parse::<Schedule>()
                .ok()
                .and_then(|s| s.latest_at_or_before(now));
            db::schedules::set_paused(tx, id, false, skip_to, now)
        })?;
        self.nudge_leader();
        Ok(row)
    }

    /// Deletes the schedule; its jobs already inserted stay.
    pub fn schedule_delete(&self, id: &str) -> Result<()> {
        self.inner.db.write(|tx| db::schedules::delete(tx, id))?;
        self.nudge_leader();
        Ok(())
    }

    /// Lets this client's elector, if it leads, see a change at once.
    fn nudge_leader(&self) {
        let _ = self.inner.nudge.0.try_send(());
    }
}
