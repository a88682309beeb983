//! `ClientBuilder`: a client's configuration, its defaults, and the validation of its mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::config::{
    Config, QueueConfig, DEFAULT_BUSY_TIMEOUT, DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL,
    DEFAULT_POOL_SIZE, MAX_CLIENT_ID_LEN, MAX_WORKERS_LIMIT,
};
use super::{Client, Inner};
use crate::db::{Db, DbOptions, SqlitePool};
use crate::engine::{Registered, Wakers, WorkerRegistry};
use crate::error::{Error, Result};
use crate::leader::PeriodicRegistry;
use crate::model::insert_opts::{validate_kind, validate_queue_name};
use crate::model::{
    DefaultRetryPolicy, EventBus, InsertOpts, JobArgs, MaintenanceConfig, PeriodicJob, RetryPolicy,
    TestSignals, Worker,
};

pub(super) enum Source {
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
    workers: WorkerRegistry,
    /// A kind registered twice (reported by `build()`).
    duplicate_kind: Option<&'static str>,
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
    pub(super) fn new(source: Source) -> Self {
        ClientBuilder {
            source,
            db_options: DbOptions {
                busy_timeout: DEFAULT_BUSY_TIMEOUT,
                synchronous_full: false,
                pool_size: DEFAULT_POOL_SIZE,
                migrate: true,
            },
            queues: Vec::new(),
            workers: HashMap::new(),
            duplicate_kind: None,
            periodic_jobs: Vec::new(),
            id: None,
            config: Config {
                id: String::new(),
                job_timeout: Some(DEFAULT_JOB_TIMEOUT),
                retry_policy: Arc::new(DefaultRetryPolicy),
                insert_defaults: InsertOpts::default(),
                poll_interval: DEFAULT_POLL_INTERVAL,
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
            self.duplicate_kind.get_or_insert(A::KIND);
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

    /// Largest number of pooled connections (default 10). A working client
    /// raises it to at least its queues + 4; in-memory databases use 1.
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
                "periodic jobs need a client that works jobs: add a queue and a worker; to set up \
                 a periodic job from this client, store it with schedule_upsert, and whichever \
                 working client leads runs it"
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
        if let Some(kind) = self.duplicate_kind {
            return config(format!("two workers registered for kind {kind:?}"));
        }
        for kind in self.workers.keys() {
            validate_kind(kind).map_err(Error::Config)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (name, queue) in &self.queues {
            validate_queue_name(name).map_err(Error::Config)?;
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
            if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN || id.contains(['/', '\\']) {
                return Err(Error::Config(format!(
                    "client id {id:?} must be 1 to {MAX_CLIENT_ID_LEN} characters without slashes"
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
        // Adding validates each periodic job and refuses duplicate ids.
        let mut periodic = PeriodicRegistry::default();
        for job in std::mem::take(&mut self.periodic_jobs) {
            periodic.add(job)?;
        }
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
                Db::from_pool(pool, &self.db_options)?
            }
        };
        let (wakers, wake_receivers) =
            Wakers::for_queues(self.queues.iter().map(|(q, _)| q.as_str()));
        Ok(Client {
            inner: Arc::new(Inner {
                db: Arc::new(db),
                config: self.config,
                queues: self.queues,
                wakers,
                wake_receivers,
                workers: Arc::new(self.workers),
                periodic: Arc::new(Mutex::new(periodic)),
                nudge: crossbeam_channel::bounded(1),
                is_leader: Arc::new(AtomicBool::new(false)),
                events: Arc::new(EventBus::default()),
                signals: Arc::new(TestSignals::default()),
                runtime: Mutex::new(None),
            }),
            owner: true,
        })
    }
}
