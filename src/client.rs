//! `Client`: inserts, administration, events and leadership; its builder and working lifecycle live in submodules.

mod builder;
mod runtime;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};
use rusqlite::Transaction;

pub(crate) use builder::Config;
use builder::Source;
pub use builder::{
    ClientBuilder, MaintenanceConfig, QueueConfig, DEFAULT_BUSY_TIMEOUT, DEFAULT_JOB_TIMEOUT,
    DEFAULT_POLL_INTERVAL, DEFAULT_POOL_SIZE, MAX_CLIENT_ID_LEN, MAX_WORKERS_LIMIT,
};
use runtime::Runtime;

use crate::args::JobArgs;
use crate::db::{self, Db, SqlitePool};
use crate::error::{Error, Result};
use crate::event::{Event, EventBus, EventKind};
use crate::insert::{self, InsertManyParams, InsertOpts, InsertResult, NewJob};
use crate::job::{JobRow, JobState};
use crate::job_list::{JobListPage, JobListParams};
use crate::periodic::{PeriodicJobs, PeriodicRegistry};
use crate::producer::Wakers;
use crate::worker::AnyWorker;

pub use crate::db::leader::LeaderRow;
pub use crate::db::queues::QueueRow;

struct Inner {
    db: Arc<Db>,
    config: Config,
    queues: Vec<(String, QueueConfig)>,
    wakers: Wakers,
    /// The producers' ends of `wakers`, in `queues` order.
    wake_receivers: Vec<Receiver<()>>,
    workers: Arc<HashMap<&'static str, Arc<dyn AnyWorker>>>,
    periodic: Arc<Mutex<PeriodicRegistry>>,
    /// Wakes the leader loop when periodic jobs change.
    nudge: (Sender<()>, Receiver<()>),
    is_leader: Arc<AtomicBool>,
    events: Arc<EventBus>,
    runtime: Mutex<Option<Runtime>>,
}
/// A riverlite client: inserts and administers jobs, and (for a working
/// client) works them. `Send + Sync`; share it in an `Arc`.
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.inner.config.id)
            .field("queues", &self.inner.queues)
            .finish()
    }
}

impl Client {
    /// A builder for a client on the SQLite file at `path` (created if
    /// needed), or `":memory:"` for a private in-memory database.
    pub fn builder(path: impl AsRef<Path>) -> ClientBuilder {
        ClientBuilder::new(Source::Path(path.as_ref().to_path_buf()))
    }

    /// A builder for a client on an existing r2d2 pool. Its connections should
    /// use WAL and a `busy_timeout`.
    pub fn builder_with_pool(pool: SqlitePool) -> ClientBuilder {
        ClientBuilder::new(Source::Pool(pool))
    }

    /// This client's id, as recorded in `attempted_by` and `river_leader`.
    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    /// True for a client built without queues and workers.
    pub fn is_insert_only(&self) -> bool {
        self.inner.queues.is_empty()
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn prepare<A: JobArgs>(&self, args: &A, opts: Option<InsertOpts>) -> Result<NewJob> {
        let encoded = serde_json::to_string(args).map_err(|e| e.to_string());
        insert::prepare(
            A::KIND,
            encoded,
            opts,
            &A::insert_opts(),
            &self.inner.config.insert_defaults,
            self.now(),
        )
    }

    fn prepare_many(&self, params: Vec<InsertManyParams>) -> Result<Vec<NewJob>> {
        if params.is_empty() {
            return Err(Error::InvalidInsert {
                field: "params",
                reason: "insert_many needs at least one job".into(),
            });
        }
        let now = self.now();
        params
            .into_iter()
            .map(|p| {
                insert::prepare(
                    p.kind,
                    p.args,
                    p.opts,
                    &p.kind_opts,
                    &self.inner.config.insert_defaults,
                    now,
                )
            })
            .collect()
    }

    fn insert_rows(&self, rows: Vec<NewJob>) -> Result<Vec<InsertResult>> {
        let now = self.now();
        let results = self.inner.db.write(|tx| db::jobs::insert(tx, rows, now))?;
        self.wake_producers(&results);
        Ok(results)
    }

    /// Wakes this client's producers of queues that just got available jobs:
    /// the in-process half of the one wake-up path.
    fn wake_producers(&self, results: &[InsertResult]) {
        for result in results
            .iter()
            .filter(|r| r.job.state == JobState::Available)
        {
            self.inner.wakers.wake(&result.job.queue);
        }
    }

    /// Inserts one job in its own transaction.
    ///
    /// ```
    /// # use riverlite::{Client, JobArgs};
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Serialize, Deserialize)]
    /// struct SendEmail { to: String }
    /// impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
    ///
    /// let client = Client::builder(":memory:").build()?;
    /// let res = client.insert(SendEmail { to: "a@example.com".into() }, None)?;
    /// assert_eq!(res.job.kind, "send_email");
    /// # Ok::<(), riverlite::Error>(())
    /// ```
    pub fn insert<A: JobArgs>(&self, args: A, opts: Option<InsertOpts>) -> Result<InsertResult> {
        let row = self.prepare(&args, opts)?;
        let mut results = self.insert_rows(vec![row])?;
        results.pop().ok_or(Error::NotFound)
    }

    /// Inserts one job in the caller's transaction: it exists only if the
    /// caller commits. Open the transaction with
    /// `TransactionBehavior::Immediate`; a deferred one can run into a lock
    /// held by another writer, which is `Error::Busy`.
    ///
    /// ```
    /// # use riverlite::{Client, JobArgs};
    /// # use riverlite::rusqlite::TransactionBehavior;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)]
    /// # struct SendEmail { to: String }
    /// # impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
    /// let dir = std::env::temp_dir().join(format!("riverlite-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("insert_tx.db");
    /// let client = Client::builder(&path).build()?;
    /// let mut conn = riverlite::rusqlite::Connection::open(&path)?;
    /// let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    /// tx.execute_batch("CREATE TABLE IF NOT EXISTS users (email TEXT)")?;
    /// tx.execute("INSERT INTO users (email) VALUES (?1)", ["a@example.com"])?;
    /// client.insert_tx(&tx, SendEmail { to: "a@example.com".into() }, None)?;
    /// tx.commit()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_tx<A: JobArgs>(
        &self,
        tx: &Transaction<'_>,
        args: A,
        opts: Option<InsertOpts>,
    ) -> Result<InsertResult> {
        let row = self.prepare(&args, opts)?;
        let mut results = db::jobs::insert(tx, vec![row], self.now())?;
        self.wake_producers(&results);
        results.pop().ok_or(Error::NotFound)
    }

    /// Inserts many jobs in one transaction, with multi-row statements. If
    /// any job is invalid, nothing is inserted.
    pub fn insert_many(&self, params: Vec<InsertManyParams>) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        self.insert_rows(rows)
    }

    /// Inserts many jobs in the caller's transaction.
    pub fn insert_many_tx(
        &self,
        tx: &Transaction<'_>,
        params: Vec<InsertManyParams>,
    ) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        let results = db::jobs::insert(tx, rows, self.now())?;
        self.wake_producers(&results);
        Ok(results)
    }

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
        insert::validate_queue_name(name).map_err(Error::InvalidArgument)
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

    /// Subscribes to events of the given kinds. The channel holds at least
    /// 1,000 events; when a slow subscriber lets it fill, further events are
    /// dropped (see [`Client::dropped_events`]), and workers never block.
    pub fn subscribe(&self, kinds: &[EventKind]) -> Receiver<Event> {
        self.inner.events.subscribe(kinds)
    }

    /// Events dropped because a subscriber's channel was full.
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Job counts per (queue, state), for dashboards and the CLI.
    pub fn job_counts(&self) -> Result<Vec<(String, JobState, i64)>> {
        db::jobs::count_by_queue_and_state(&*self.inner.db.conn()?)
    }

    /// The migrations applied, as (line, version, applied at).
    pub fn migrations(&self) -> Result<Vec<(String, i64, String)>> {
        db::migrate::status(&*self.inner.db.conn()?)
    }
    /// True while this client is the leader (it runs the maintenance
    /// services and periodic jobs). Insert-only clients never lead.
    pub fn is_leader(&self) -> bool {
        self.inner.is_leader.load(Ordering::SeqCst)
    }

    /// The leader recorded in `river_leader`, if any.
    pub fn leader(&self) -> Result<Option<LeaderRow>> {
        db::leader::get(&*self.inner.db.conn()?)
    }

    /// The periodic jobs of this client, to add or remove at run time; the
    /// leader follows changes at once. On an insert-only client `add` is
    /// `Error::InsertOnly`, since only working clients run periodic jobs.
    pub fn periodic_jobs(&self) -> PeriodicJobs<'_> {
        PeriodicJobs {
            registry: &self.inner.periodic,
            nudge: &self.inner.nudge.0,
            insert_only: self.is_insert_only(),
        }
    }
}

impl Drop for Client {
    /// A started client stops gracefully when dropped.
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::error!("riverlite: stopping the client on drop: {e}");
        }
    }
}
