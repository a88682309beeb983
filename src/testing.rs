//! Helpers for users' tests: run a worker without a database, check what code under test inserted, and wait for events instead of sleeping.
//!
//! This module only reads the database; it never writes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rusqlite::Connection;

use crate::client::Client;
use crate::db::jobs;
use crate::engine::CommitWatch;
use crate::error::{Error, Result};
use crate::model::args::decode;
use crate::model::{Job, JobArgs, JobControl, JobRow, WorkError, Worker};

pub use crate::model::test_signal::{TestSignal, TestSignals};

/// Runs `worker` on a job made from `args`, with no database, as if it were
/// the job's first attempt. Returns what `work` returned.
///
/// ```
/// use riverlite::{testing::work_job, work_fn, JobArgs};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Add { a: i64, b: i64 }
/// impl JobArgs for Add { const KIND: &'static str = "add"; }
///
/// let worker = work_fn::<Add, _>(|job| {
///     assert_eq!(job.args.a + job.args.b, 3);
///     Ok(())
/// });
/// assert!(work_job(&worker, Add { a: 1, b: 2 }).is_ok());
/// ```
pub fn work_job<A: JobArgs, W: Worker<A>>(worker: &W, args: A) -> Result<(), WorkError> {
    let encoded = serde_json::to_string(&args).map_err(WorkError::from)?;
    let row = JobRow::first_attempt(A::KIND, encoded, Utc::now());
    worker.work(&Job::new(args, row, Arc::new(JobControl::default())))
}

/// The most recently inserted job of `kind`, read through `conn` (which may
/// be inside the test's open transaction). `Error::NotFound` if none exists.
pub fn require_inserted(conn: &Connection, kind: &str) -> Result<JobRow> {
    jobs::latest_of_kind(conn, kind)
}

/// Like [`require_inserted`], decoding the args too.
pub fn require_inserted_args<A: JobArgs>(conn: &Connection) -> Result<(JobRow, A)> {
    let row = jobs::latest_of_kind(conn, A::KIND)?;
    let args = decode(&row.args).map_err(Error::Serialization)?;
    Ok((row, args))
}

/// Notices commits to a client's database file by any other connection:
/// the client's own services, other clients, other processes. It is the
/// `PRAGMA data_version` check a started client wakes its producers with.
///
/// Tests use it to wait for a condition on the database without sleeping:
/// check the condition, and wait for the next commit while it does not hold.
///
/// ```
/// use std::time::Duration;
/// use riverlite::{testing::CommitWaiter, Client, JobArgs};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping {}
/// impl JobArgs for Ping { const KIND: &'static str = "ping"; }
///
/// let dir = std::env::temp_dir().join(format!("riverlite-commits-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let client = Client::builder(dir.join("app.db")).build()?;
/// let mut commits = CommitWaiter::of(&client)?;
/// client.insert(Ping {}, None)?;
/// assert!(commits.wait(Duration::from_secs(30))?);
/// # drop(client);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CommitWaiter {
    watch: CommitWatch,
}

impl CommitWaiter {
    /// A waiter on `client`'s database file, counting commits from now.
    /// `Error::NotFound` for an in-memory database.
    pub fn of(client: &Client) -> Result<CommitWaiter> {
        Ok(CommitWaiter {
            watch: CommitWatch::open(client.db())?,
        })
    }

    /// Waits until some connection commits, or `timeout` passes; returns
    /// whether a commit came (at once if one came since the last call).
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        self.watch.wait(timeout)
    }
}
