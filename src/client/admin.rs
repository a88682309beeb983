//! Administration: reading, listing, cancelling, retrying and deleting jobs; pausing and resuming queues; counts and migrations.

use std::borrow::Borrow;

use rusqlite::Transaction;

use super::Client;
use crate::db;
use crate::error::{Error, Result};
use crate::model::insert_opts::validate_queue_name;
use crate::model::{
    Event, EventKind, JobCount, JobListPage, JobListParams, JobRow, Migration, QueueRow,
};

impl Client {
    /// One job by id; `Error::NotFound` if there is none.
    pub fn job_get(&self, id: i64) -> Result<JobRow> {
        db::jobs::get(&*self.inner.db.conn()?, id)
    }

    /// [`Client::job_get`] in the caller's transaction (it sees the
    /// transaction's own uncommitted inserts).
    pub fn job_get_tx(&self, tx: &Transaction<'_>, id: i64) -> Result<JobRow> {
        db::jobs::get(tx, id)
    }

    /// One page of jobs matching `params`.
    pub fn job_list(&self, params: impl Borrow<JobListParams>) -> Result<JobListPage> {
        db::jobs::list(&*self.inner.db.conn()?, params.borrow())
    }

    /// [`Client::job_list`] in the caller's transaction.
    pub fn job_list_tx(
        &self,
        tx: &Transaction<'_>,
        params: impl Borrow<JobListParams>,
    ) -> Result<JobListPage> {
        db::jobs::list(tx, params.borrow())
    }

    /// Cancels a job. A job not yet running becomes cancelled; a running one
    /// is flagged (`metadata.cancel_attempted_at`) and its worker sees
    /// `is_cancelled()` within a second; a finished one is returned unchanged.
    pub fn job_cancel(&self, id: i64) -> Result<JobRow> {
        let now = self.now();
        self.inner.db.write(|tx| db::jobs::cancel(tx, id, now))
    }

    /// [`Client::job_cancel`] in the caller's transaction.
    pub fn job_cancel_tx(&self, tx: &Transaction<'_>, id: i64) -> Result<JobRow> {
        db::jobs::cancel(tx, id, self.now())
    }

    /// Makes a job that is not running available now; if its attempts are
    /// used up, it gets one more. A running job is returned unchanged.
    pub fn job_retry(&self, id: i64) -> Result<JobRow> {
        let now = self.now();
        self.inner.db.write(|tx| db::jobs::retry(tx, id, now))
    }

    /// [`Client::job_retry`] in the caller's transaction.
    pub fn job_retry_tx(&self, tx: &Transaction<'_>, id: i64) -> Result<JobRow> {
        db::jobs::retry(tx, id, self.now())
    }

    /// Deletes a job and returns it; a running job is `Error::JobRunning`.
    pub fn job_delete(&self, id: i64) -> Result<JobRow> {
        self.inner.db.write(|tx| db::jobs::delete(tx, id))
    }

    /// [`Client::job_delete`] in the caller's transaction.
    pub fn job_delete_tx(&self, tx: &Transaction<'_>, id: i64) -> Result<JobRow> {
        db::jobs::delete(tx, id)
    }

    fn check_queue_arg(name: &str) -> Result<()> {
        if name == "*" {
            return Ok(());
        }
        validate_queue_name(name).map_err(Error::InvalidArgument)
    }

    fn emit_queue_events(&self, kind: EventKind, names: Vec<String>) {
        for name in names {
            self.inner.events.emit(Event {
                kind,
                job: None,
                stats: None,
                queue: Some(name),
            });
        }
    }

    /// Pauses a queue (`"*"` for every queue): no client claims from it until
    /// it is resumed. A queue with no `river_queue` row yet gets one.
    pub fn queue_pause(&self, name: &str) -> Result<()> {
        Self::check_queue_arg(name)?;
        let now = self.now();
        let paused = self.inner.db.write(|tx| db::queues::pause(tx, name, now))?;
        self.emit_queue_events(EventKind::QueuePaused, paused);
        Ok(())
    }

    /// [`Client::queue_pause`] in the caller's transaction. No event is sent,
    /// since the transaction may still roll back.
    pub fn queue_pause_tx(&self, tx: &Transaction<'_>, name: &str) -> Result<()> {
        Self::check_queue_arg(name)?;
        db::queues::pause(tx, name, self.now()).map(drop)
    }

    /// [`Client::queue_resume`] in the caller's transaction. No event is sent,
    /// since the transaction may still roll back.
    pub fn queue_resume_tx(&self, tx: &Transaction<'_>, name: &str) -> Result<()> {
        Self::check_queue_arg(name)?;
        db::queues::resume(tx, name, self.now()).map(drop)
    }

    /// Resumes a paused queue (`"*"` for every queue); an unknown queue is `Error::NotFound`.
    pub fn queue_resume(&self, name: &str) -> Result<()> {
        Self::check_queue_arg(name)?;
        let now = self.now();
        let resumed = self
            .inner
            .db
            .write(|tx| db::queues::resume(tx, name, now))?;
        self.emit_queue_events(EventKind::QueueResumed, resumed);
        Ok(())
    }

    /// Every queue known to the database.
    pub fn queue_list(&self) -> Result<Vec<QueueRow>> {
        db::queues::list(&*self.inner.db.conn()?)
    }

    /// One queue by name; `Error::NotFound` if there is none.
    pub fn queue_get(&self, name: &str) -> Result<QueueRow> {
        db::queues::get(&*self.inner.db.conn()?, name)
    }

    /// Job counts per queue and state, for dashboards and the CLI.
    pub fn job_counts(&self) -> Result<Vec<JobCount>> {
        db::jobs::count_by_queue_and_state(&*self.inner.db.conn()?)
    }

    /// The migrations applied, per line and version.
    pub fn migrations(&self) -> Result<Vec<Migration>> {
        db::migrate::status(&*self.inner.db.conn()?)
    }
}
