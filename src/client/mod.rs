//! `Client`: the face of riverlite. The struct and its small accessors live here; inserts, administration, the builder and the working lifecycle each have a file.

mod admin;
mod builder;
mod config;
mod insert;
mod periodic_jobs;
mod runtime;
mod schedules;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};

pub use builder::ClientBuilder;
use builder::Source;
pub(crate) use config::Config;
pub use config::{
    QueueConfig, DEFAULT_BUSY_TIMEOUT, DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL,
    DEFAULT_POOL_SIZE, MAX_CLIENT_ID_LEN, MAX_WORKERS_LIMIT,
};
pub use periodic_jobs::PeriodicJobs;
use runtime::Runtime;

use crate::db::{self, Db, SqlitePool};
use crate::engine::{Wakers, WorkerRegistry};
use crate::error::Result;
use crate::leader::PeriodicRegistry;
use crate::model::{Event, EventBus, EventKind, LeaderRow, TestSignals};

struct Inner {
    db: Arc<Db>,
    config: Config,
    queues: Vec<(String, QueueConfig)>,
    wakers: Wakers,
    /// The producers' ends of `wakers`, in `queues` order.
    wake_receivers: Vec<Receiver<()>>,
    workers: Arc<WorkerRegistry>,
    periodic: Arc<Mutex<PeriodicRegistry>>,
    /// Wakes the leader loop when periodic jobs change.
    nudge: (Sender<()>, Receiver<()>),
    is_leader: Arc<AtomicBool>,
    events: Arc<EventBus>,
    signals: Arc<TestSignals>,
    runtime: Mutex<Option<Runtime>>,
}

/// A riverlite client: inserts and administers jobs, and (for a working
/// client) works them. `Send + Sync`; share it in an `Arc`.
pub struct Client {
    inner: Arc<Inner>,
    /// False for a [`Client::share`]d face, whose drop must not stop the client.
    owner: bool,
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

    /// A second face of this client for a component that runs beside it
    /// (the dashboard's server threads): it reaches the same database,
    /// events and runtime, and dropping it stops nothing.
    #[cfg_attr(not(feature = "ui"), allow(dead_code))]
    pub(crate) fn share(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            owner: false,
        }
    }

    /// The database, for `testing`'s read-only helpers.
    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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

    /// True while this client is the leader (it runs the maintenance
    /// services and periodic jobs). Insert-only clients never lead.
    pub fn is_leader(&self) -> bool {
        self.inner.is_leader.load(Ordering::SeqCst)
    }

    /// The leader recorded in `river_leader`, if any.
    pub fn leader(&self) -> Result<Option<LeaderRow>> {
        db::leader::get(&*self.inner.db.conn()?)
    }

    /// The signals this client's services send, for tests that wait for
    /// "the producer fetched" or "the cleaner finished a pass" instead of
    /// sleeping. They do nothing until a test calls `init()` on one.
    pub fn test_signals(&self) -> &TestSignals {
        &self.inner.signals
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
        if !self.owner {
            return;
        }
        if let Err(e) = self.stop() {
            log::error!("riverlite: stopping the client on drop: {e}");
        }
    }
}
