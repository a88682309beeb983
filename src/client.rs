//! `Client` and `ClientBuilder`: mode validation, inserts, administration, and the working lifecycle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};
use rusqlite::Transaction;

use crate::args::JobArgs;
use crate::completer::Completer;
use crate::db::{self, Db, DbOptions, SqlitePool};
use crate::error::{Error, Result};
use crate::event::{Event, EventBus, EventKind};
use crate::insert::{self, InsertManyParams, InsertOpts, InsertResult, NewJob};
use crate::job::{JobRow, JobState};
use crate::job_list::{JobListPage, JobListParams};
use crate::leader::{Elector, LivenessLock, LockPaths};
use crate::maintenance::{Cleaner, Maintenance, PeriodicEnqueuer, Rescuer, Scheduler, Timer};
use crate::periodic::{PeriodicJob, PeriodicJobs, PeriodicRegistry};
use crate::producer::{Producer, ProducerChannels, RunningJobs, WorkerContext};
use crate::retry::{DefaultRetryPolicy, RetryPolicy};
use crate::worker::{AnyWorker, Registered, Worker};

pub use crate::db::leader::LeaderRow;
pub use crate::db::queues::QueueRow;

/// Largest `max_workers` a queue accepts.
pub const MAX_WORKERS_LIMIT: usize = 10_000;
/// Default job timeout, as in River.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `busy_timeout` of every connection.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue's settings for a working client.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// How many jobs of this queue may run at once: 1 to 10,000.
    pub max_workers: usize,
}

impl QueueConfig {
    /// A queue that runs at most `max_workers` jobs at once.
    pub fn new(max_workers: usize) -> Self {
        QueueConfig { max_workers }
    }
}

/// Timings of the leader-only maintenance services. Every field has River's
/// default; see each one.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceConfig {
    /// How often the scheduler makes due scheduled and retryable jobs available (default 5 s).
    pub scheduler_interval: Duration,
    /// How often the rescuer looks for stuck and orphaned running jobs (default 30 s).
    pub rescuer_interval: Duration,
    /// How long a running job of a live client may run before it is rescued
    /// (default 1 h; never less than the job's timeout).
    pub rescue_stuck_jobs_after: Duration,
    /// How often the cleaner deletes finished jobs past their retention (default 30 s).
    pub cleaner_interval: Duration,
    /// Retention of completed jobs (default 24 h; `None` keeps them forever).
    pub completed_retention: Option<Duration>,
    /// Retention of cancelled jobs (default 24 h; `None` keeps them forever).
    pub cancelled_retention: Option<Duration>,
    /// Retention of discarded jobs (default 7 days; `None` keeps them forever).
    pub discarded_retention: Option<Duration>,
    /// How often a non-leader tries to take the leader lock (default 500 ms).
    pub election_interval: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        const HOUR: Duration = Duration::from_secs(3600);
        MaintenanceConfig {
            scheduler_interval: Duration::from_secs(5),
            rescuer_interval: Duration::from_secs(30),
            rescue_stuck_jobs_after: HOUR,
            cleaner_interval: Duration::from_secs(30),
            completed_retention: Some(24 * HOUR),
            cancelled_retention: Some(24 * HOUR),
            discarded_retention: Some(7 * 24 * HOUR),
            election_interval: Duration::from_millis(500),
        }
    }
}

/// Settings shared by the client's services.
#[derive(Clone)]
pub(crate) struct Config {
    pub id: String,
    pub job_timeout: Option<Duration>,
    pub retry_policy: Arc<dyn RetryPolicy>,
    pub insert_defaults: InsertOpts,
    pub poll_interval: Duration,
    pub watch_interval: Duration,
    pub stop_timeout: Option<Duration>,
    pub maintenance: MaintenanceConfig,
}

enum Source {
    Path(PathBuf),
    Pool(SqlitePool),
}

/// Builds a [`Client`]. With no queues and no workers it builds an
/// insert-only client; with both, a working client. `build()` validates
/// everything and returns `Error::Config` for what does not fit.
pub struct ClientBuilder {
    source: Source,
    db_options: DbOptions,
    queues: Vec<(String, QueueConfig)>,
    workers: HashMap<&'static str, Arc<dyn AnyWorker>>,
    duplicate_kinds: Vec<&'static str>,
    periodic_jobs: Vec<PeriodicJob>,
    id: Option<String>,
    config: Config,
}

fn generate_client_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "riverlite_{}_{}_{n}",
        std::process::id(),
        Utc::now().format("%Y%m%dT%H%M%S%.6f")
    )
}

impl ClientBuilder {
    fn new(source: Source) -> Self {
        ClientBuilder {
            source,
            db_options: DbOptions {
                busy_timeout: DEFAULT_BUSY_TIMEOUT,
                synchronous_full: false,
                pool_size: 10,
                migrate: true,
            },
            queues: Vec::new(),
            workers: HashMap::new(),
            duplicate_kinds: Vec::new(),
            periodic_jobs: Vec::new(),
            id: None,
            config: Config {
                id: String::new(),
                job_timeout: Some(DEFAULT_JOB_TIMEOUT),
                retry_policy: Arc::new(DefaultRetryPolicy),
                insert_defaults: InsertOpts::default(),
                poll_interval: Duration::from_secs(1),
                watch_interval: Duration::from_millis(50),
                stop_timeout: None,
                maintenance: MaintenanceConfig::default(),
            },
        }
    }

    /// Adds a queue to work, with its concurrency.
    pub fn queue(mut self, name: impl Into<String>, config: QueueConfig) -> Self {
        self.queues.push((name.into(), config));
        self
    }

    /// Registers the worker for one kind of job.
    pub fn worker<A: JobArgs, W: Worker<A>>(mut self, worker: W) -> Self {
        if self
            .workers
            .insert(A::KIND, Arc::new(Registered::new(worker)))
            .is_some()
        {
            self.duplicate_kinds.push(A::KIND);
        }
        self
    }

    /// Adds a periodic job (working clients only: on an insert-only client,
    /// `build()` fails with `Error::Config`).
    pub fn periodic_job(mut self, job: PeriodicJob) -> Self {
        self.periodic_jobs.push(job);
        self
    }

    /// Apply migrations on build (default `true`). With `false`, an
    /// unmigrated database is `Error::NotMigrated`.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.db_options.migrate = migrate;
        self
    }

    /// This client's id (default: generated from the process id and time).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Default job timeout (default 1 min; `None` for no timeout).
    pub fn job_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.job_timeout = timeout;
        self
    }

    /// The retry policy for failed jobs (default [`DefaultRetryPolicy`]).
    pub fn retry_policy(mut self, policy: impl RetryPolicy) -> Self {
        self.config.retry_policy = Arc::new(policy);
        self
    }

    /// Client-wide insert defaults, below per-call and per-kind options.
    pub fn insert_defaults(mut self, opts: InsertOpts) -> Self {
        self.config.insert_defaults = opts;
        self
    }

    /// How long a connection waits for another process's write lock (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.db_options.busy_timeout = timeout;
        self
    }

    /// `synchronous=FULL` instead of `NORMAL`: durable across power loss, slower.
    pub fn synchronous_full(mut self, full: bool) -> Self {
        self.db_options.synchronous_full = full;
        self
    }

    /// Largest number of pooled connections (default 10; in-memory databases use 1).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.db_options.pool_size = size;
        self
    }

    /// How often producers look for due jobs when nothing woke them (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// Default deadline of `stop()` (default: wait for running jobs as long as they take).
    pub fn stop_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.stop_timeout = timeout;
        self
    }

    /// Timings of the maintenance services (scheduler, rescuer, cleaner, election).
    pub fn maintenance(mut self, config: MaintenanceConfig) -> Self {
        self.config.maintenance = config;
        self
    }

    fn validate_mode(&self) -> Result<()> {
        let config = |m: String| Err(Error::Config(m));
        if !self.periodic_jobs.is_empty() && (self.queues.is_empty() || self.workers.is_empty()) {
            return config(
                "periodic jobs need a client that works jobs: add a queue and a worker, or insert \
                 periodic jobs from a working client"
                    .into(),
            );
        }
        if !self.queues.is_empty() && self.workers.is_empty() {
            return config(
                "queues were configured but no worker: register one with .worker(..)".into(),
            );
        }
        if self.queues.is_empty() && !self.workers.is_empty() {
            return config("workers were registered but no queue: add one with .queue(..)".into());
        }
        if let Some(kind) = self.duplicate_kinds.first() {
            return config(format!("two workers registered for kind {kind:?}"));
        }
        for kind in self.workers.keys() {
            insert::validate_kind(kind).map_err(Error::Config)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (name, queue) in &self.queues {
            insert::validate_queue_name(name).map_err(Error::Config)?;
            if !seen.insert(name) {
                return config(format!("queue {name:?} was added twice"));
            }
            if !(1..=MAX_WORKERS_LIMIT).contains(&queue.max_workers) {
                return config(format!(
                    "queue {name:?}: max_workers {} is out of range: use 1 to {MAX_WORKERS_LIMIT}",
                    queue.max_workers
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for job in &self.periodic_jobs {
            job.validate()?;
            if let Some(id) = &job.id {
                if !ids.insert(id) {
                    return config(format!("two periodic jobs have the id {id:?}"));
                }
            }
        }
        Ok(())
    }

    fn validate_settings(&self) -> Result<()> {
        let m = &self.config.maintenance;
        let intervals = [
            ("poll_interval", self.config.poll_interval),
            ("scheduler_interval", m.scheduler_interval),
            ("rescuer_interval", m.rescuer_interval),
            ("cleaner_interval", m.cleaner_interval),
            ("election_interval", m.election_interval),
            ("rescue_stuck_jobs_after", m.rescue_stuck_jobs_after),
        ];
        if let Some((name, _)) = intervals.iter().find(|(_, d)| d.is_zero()) {
            return Err(Error::Config(format!("{name} must be greater than zero")));
        }
        if self.config.job_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config(
                "job_timeout must be greater than zero, or None".into(),
            ));
        }
        if let Some(id) = &self.id {
            if id.is_empty() || id.len() > 100 || id.contains(['/', '\\']) {
                return Err(Error::Config(format!(
                    "client id {id:?} must be 1 to 100 characters without slashes"
                )));
            }
        }
        if self.db_options.pool_size == 0 {
            return Err(Error::Config("pool_size must be at least 1".into()));
        }
        Ok(())
    }

    /// Validates the configuration, opens (and migrates) the database, and
    /// returns the client. Nothing is started yet.
    pub fn build(mut self) -> Result<Client> {
        self.validate_mode()?;
        self.validate_settings()?;
        self.config.id = self.id.take().unwrap_or_else(generate_client_id);
        // Producers, the completer, the watcher and maintenance each hold a
        // connection at times; leave room for the application's inserts.
        let needed = u32::try_from(self.queues.len())
            .unwrap_or(u32::MAX)
            .saturating_add(4);
        self.db_options.pool_size = self.db_options.pool_size.max(needed);
        let db = match self.source {
            Source::Path(path) => Db::open(&path, &self.db_options)?,
            Source::Pool(pool) => {
                if !self.queues.is_empty() && pool.max_size() < needed {
                    return Err(Error::Config(format!(
                        "the pool holds {} connection(s); a working client with {} queue(s) needs at least {needed}",
                        pool.max_size(),
                        self.queues.len()
                    )));
                }
                Db::from_pool(pool, self.db_options.migrate)?
            }
        };
        let mut periodic = PeriodicRegistry::default();
        for job in self.periodic_jobs {
            periodic.add(job)?;
        }
        let wakers = self
            .queues
            .iter()
            .map(|_| crossbeam_channel::bounded(1))
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                db: Arc::new(db),
                config: self.config,
                queues: self.queues,
                wakers,
                workers: Arc::new(self.workers),
                periodic: Arc::new(Mutex::new(periodic)),
                nudge: crossbeam_channel::bounded(1),
                is_leader: Arc::new(AtomicBool::new(false)),
                events: Arc::new(EventBus::default()),
                runtime: Mutex::new(None),
            }),
        })
    }
}

struct Inner {
    db: Arc<Db>,
    config: Config,
    queues: Vec<(String, QueueConfig)>,
    /// One wake channel per queue (same order as `queues`).
    wakers: Vec<(Sender<()>, Receiver<()>)>,
    workers: Arc<HashMap<&'static str, Arc<dyn AnyWorker>>>,
    periodic: Arc<Mutex<PeriodicRegistry>>,
    /// Wakes the leader loop when periodic jobs change.
    nudge: (Sender<()>, Receiver<()>),
    is_leader: Arc<AtomicBool>,
    events: Arc<EventBus>,
    runtime: Mutex<Option<Runtime>>,
}

/// The threads of a started client.
struct Runtime {
    /// Dropped to tell every service to stop.
    stop: Sender<()>,
    /// Disconnects once every producer has exited.
    producers_alive: Receiver<()>,
    running: Vec<Arc<RunningJobs>>,
    threads: Vec<JoinHandle<()>>,
    /// Held while started (file databases only).
    liveness: Option<LivenessLock>,
    /// Set by the completer if it gave up writing outcomes.
    outcomes_lost: Arc<AtomicBool>,
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

    fn insert_rows(&self, rows: &[NewJob]) -> Result<Vec<InsertResult>> {
        let now = self.now();
        let results = self.inner.db.write(|tx| db::jobs::insert(tx, rows, now))?;
        self.wake_producers(&results);
        Ok(results)
    }

    /// Wakes this client's producers of queues that just got available jobs:
    /// the in-process half of the one wake-up path.
    fn wake_producers(&self, results: &[InsertResult]) {
        for (i, (queue, _)) in self.inner.queues.iter().enumerate() {
            let woken = results
                .iter()
                .any(|r| r.job.queue == *queue && r.job.state == JobState::Available);
            if woken {
                let _ = self.inner.wakers[i].0.try_send(());
            }
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
        let mut results = self.insert_rows(std::slice::from_ref(&row))?;
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
        let mut results = db::jobs::insert(tx, std::slice::from_ref(&row), self.now())?;
        self.wake_producers(&results);
        results.pop().ok_or(Error::NotFound)
    }

    /// Inserts many jobs in one transaction, with multi-row statements. If
    /// any job is invalid, nothing is inserted.
    pub fn insert_many(&self, params: Vec<InsertManyParams>) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        self.insert_rows(&rows)
    }

    /// Inserts many jobs in the caller's transaction.
    pub fn insert_many_tx(
        &self,
        tx: &Transaction<'_>,
        params: Vec<InsertManyParams>,
    ) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        let results = db::jobs::insert(tx, &rows, self.now())?;
        self.wake_producers(&results);
        Ok(results)
    }

    /// One job by id; `Error::NotFound` if there is none.
    pub fn job_get(&self, id: i64) -> Result<JobRow> {
        db::jobs::get(&*self.inner.db.conn()?, id)
    }

    /// One page of jobs matching `params`.
    pub fn job_list(&self, params: &JobListParams) -> Result<JobListPage> {
        db::jobs::list(&*self.inner.db.conn()?, params)
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

    fn runtime(&self) -> MutexGuard<'_, Option<Runtime>> {
        self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts working: a producer per queue, worker threads, the completer,
    /// and the watcher that notices other processes' inserts.
    /// `Error::InsertOnly` on an insert-only client.
    pub fn start(&self) -> Result<()> {
        if self.is_insert_only() {
            return Err(Error::InsertOnly(
                "start() needs queues and workers; build the client with .queue(..) and .worker(..)",
            ));
        }
        let mut runtime = self.runtime();
        if runtime.is_some() {
            return Err(Error::AlreadyStarted);
        }
        let inner = &self.inner;
        let now = self.now();
        inner.db.write(|tx| {
            inner
                .queues
                .iter()
                .try_for_each(|(name, _)| db::queues::register(tx, name, now))
        })?;

        let lock_paths = match inner.db.file() {
            Some(file) => Some(LockPaths::for_database(file)?),
            None => None,
        };
        let liveness = match &lock_paths {
            Some(paths) => Some(LivenessLock::acquire(paths, &inner.config.id)?),
            None => None,
        };

        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        let (completion_tx, completion_rx) = crossbeam_channel::unbounded();
        let outcomes_lost = Arc::new(AtomicBool::new(false));
        let (done_txs, done_rxs): (Vec<_>, Vec<_>) = inner
            .queues
            .iter()
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        let context = Arc::new(WorkerContext {
            workers: inner.workers.clone(),
            default_timeout: inner.config.job_timeout,
            completer: completion_tx,
        });
        let completer = Completer {
            db: inner.db.clone(),
            events: inner.events.clone(),
            retry_policy: inner.config.retry_policy.clone(),
            available_within: inner.config.maintenance.scheduler_interval,
            done: done_txs,
            outcomes_lost: outcomes_lost.clone(),
        };
        let mut threads = vec![spawn("riverlite-completer", move || {
            completer.run(completion_rx)
        })?];
        let mut running = Vec::new();
        for (index, ((queue, config), done)) in inner.queues.iter().zip(done_rxs).enumerate() {
            let jobs = Arc::new(RunningJobs::default());
            running.push(jobs.clone());
            let producer = Producer {
                index,
                queue: queue.clone(),
                max_workers: config.max_workers,
                client_id: inner.config.id.clone(),
                db: inner.db.clone(),
                poll_interval: inner.config.poll_interval,
                running: jobs,
                context: context.clone(),
            };
            let channels = ProducerChannels {
                wake: inner.wakers[index].1.clone(),
                done,
                stop: stop_rx.clone(),
            };
            let alive = alive_tx.clone();
            threads.push(spawn(&format!("riverlite-producer-{queue}"), move || {
                producer.run(channels);
                drop(alive);
            })?);
        }
        drop(context);
        if inner.db.file().is_some() {
            let db = inner.db.clone();
            let wakers = inner.wakers.iter().map(|(tx, _)| tx.clone()).collect();
            let interval = inner.config.watch_interval;
            let stop = stop_rx.clone();
            threads.push(spawn("riverlite-watcher", move || {
                crate::producer::watch_database(db, wakers, interval, stop)
            })?);
        }
        let elector = self.elector(lock_paths);
        let (stop, nudge) = (stop_rx.clone(), inner.nudge.1.clone());
        threads.push(spawn("riverlite-leader", move || elector.run(stop, nudge))?);
        *runtime = Some(Runtime {
            stop: stop_tx,
            producers_alive: alive_rx,
            running,
            threads,
            liveness,
            outcomes_lost,
        });
        Ok(())
    }

    /// Stops gracefully: stops claiming, waits for running jobs to finish and
    /// their outcomes to be written, then returns. With a `stop_timeout`
    /// configured, returns `Error::StopTimeout` naming the jobs still running
    /// once it passes (the rescuer recovers them if the process exits).
    pub fn stop(&self) -> Result<()> {
        self.stop_with(false, self.inner.config.stop_timeout)
    }

    /// Like [`Client::stop`], with a deadline for this call.
    pub fn stop_timeout(&self, timeout: Duration) -> Result<()> {
        self.stop_with(false, Some(timeout))
    }

    /// Flags every running job as cancelled (`job.is_cancelled()` turns
    /// true), then stops like [`Client::stop`]. A job that then returns an
    /// error is recorded as a failure and retried, not cancelled.
    pub fn stop_and_cancel(&self) -> Result<()> {
        self.stop_with(true, self.inner.config.stop_timeout)
    }

    fn stop_with(&self, cancel: bool, timeout: Option<Duration>) -> Result<()> {
        let Some(runtime) = self.runtime().take() else {
            return Ok(());
        };
        if cancel {
            runtime.running.iter().for_each(|r| r.cancel_all());
        }
        drop(runtime.stop);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let waited = match deadline {
            Some(deadline) => runtime
                .producers_alive
                .recv_deadline(deadline)
                .is_err_and(|e| e.is_disconnected()),
            None => runtime.producers_alive.recv().is_err(),
        };
        if !waited {
            if let Some(liveness) = runtime.liveness {
                liveness.keep_until_exit();
            }
            let job_ids = runtime.running.iter().flat_map(|r| r.ids()).collect();
            return Err(Error::StopTimeout { job_ids });
        }
        // A thread that panicked may have left outcomes unwritten.
        let panicked = runtime.threads.into_iter().any(|t| t.join().is_err());
        if let Some(liveness) = runtime.liveness {
            if panicked || runtime.outcomes_lost.load(Ordering::SeqCst) {
                // Jobs may still be `running`: unlock without removing the
                // file, so the leader sees them orphaned and rescues them.
                liveness.unlock_for_rescue();
            } else {
                liveness.release();
            }
        }
        Ok(())
    }

    fn elector(&self, paths: Option<LockPaths>) -> Elector {
        let inner = &self.inner;
        let m = &inner.config.maintenance;
        let wakers = inner.wakers.iter().map(|(tx, _)| tx.clone()).collect();
        Elector {
            client_id: inner.config.id.clone(),
            db: inner.db.clone(),
            paths: paths.clone(),
            interval: m.election_interval,
            is_leader: inner.is_leader.clone(),
            events: inner.events.clone(),
            maintenance: Maintenance {
                scheduler: Scheduler {
                    db: inner.db.clone(),
                    timer: Timer::new(m.scheduler_interval),
                },
                rescuer: Rescuer {
                    db: inner.db.clone(),
                    timer: Timer::new(m.rescuer_interval),
                    rescue_after: m.rescue_stuck_jobs_after,
                    default_timeout: inner.config.job_timeout,
                    workers: inner.workers.clone(),
                    retry_policy: inner.config.retry_policy.clone(),
                    is_alive: {
                        let (paths, own_id) = (paths.clone(), inner.config.id.clone());
                        Box::new(move |id: &str| {
                            id == own_id
                                || paths
                                    .as_ref()
                                    .is_some_and(|p| crate::leader::is_alive(p, id))
                        })
                    },
                },
                cleaner: Cleaner {
                    db: inner.db.clone(),
                    timer: Timer::new(m.cleaner_interval),
                    retention: [
                        (JobState::Completed, m.completed_retention),
                        (JobState::Cancelled, m.cancelled_retention),
                        (JobState::Discarded, m.discarded_retention),
                    ],
                },
                periodic: PeriodicEnqueuer::new(
                    inner.db.clone(),
                    inner.periodic.clone(),
                    inner.config.insert_defaults.clone(),
                    wakers,
                ),
            },
        }
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

    /// The periodic jobs of a working client, to add or remove at run time.
    /// `Error::InsertOnly` on an insert-only client.
    pub fn periodic_jobs(&self) -> Result<PeriodicJobs<'_>> {
        if self.is_insert_only() {
            return Err(Error::InsertOnly(
                "periodic jobs run on a client that works jobs",
            ));
        }
        Ok(PeriodicJobs {
            registry: &self.inner.periodic,
            nudge: &self.inner.nudge.0,
        })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)?)
}

impl Drop for Client {
    /// A started client stops gracefully when dropped.
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::error!("riverlite: stopping the client on drop: {e}");
        }
    }
}
