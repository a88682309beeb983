//! Helpers for users' tests: run a worker without a database, and check what code under test inserted.

use std::sync::Arc;

use chrono::Utc;
use rusqlite::Connection;

use crate::args::JobArgs;
use crate::db::jobs;
use crate::error::{Error, Result};
use crate::job::{Job, JobControl, JobRow, JobState};
use crate::worker::{WorkError, Worker};

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
    let row = row_for(A::KIND, encoded, Utc::now());
    worker.work(&Job::new(args, row, Arc::new(JobControl::default())))
}

/// A running first attempt of a job of `kind`, as a worker would see it.
pub(crate) fn row_for(kind: &str, args: String, now: chrono::DateTime<Utc>) -> JobRow {
    JobRow {
        id: 0,
        args,
        attempt: 1,
        attempted_at: Some(now),
        attempted_by: vec!["riverlite-testing".into()],
        created_at: now,
        errors: Vec::new(),
        finalized_at: None,
        kind: kind.to_string(),
        max_attempts: i64::from(crate::insert::DEFAULT_MAX_ATTEMPTS),
        metadata: serde_json::json!({}),
        priority: i64::from(crate::insert::DEFAULT_PRIORITY),
        queue: crate::insert::DEFAULT_QUEUE.to_string(),
        state: JobState::Running,
        scheduled_at: now,
        tags: Vec::new(),
        unique_key: None,
        unique_states: None,
    }
}

/// The most recently inserted job of `kind`, read through `conn` (which may
/// be inside the test's open transaction). `Error::NotFound` if none exists.
pub fn require_inserted(conn: &Connection, kind: &str) -> Result<JobRow> {
    jobs::latest_of_kind(conn, kind)
}

/// Like [`require_inserted`], decoding the args too.
pub fn require_inserted_args<A: JobArgs>(conn: &Connection) -> Result<(JobRow, A)> {
    let row = jobs::latest_of_kind(conn, A::KIND)?;
    let args = serde_json::from_str(&row.args).map_err(Error::Serialization)?;
    Ok((row, args))
}
