//! riverlite: a background job queue for Rust, stored in one SQLite file.
//!
//! Jobs are rows in River's SQLite format, inserted in the same transaction
//! as your own data, worked by threads, retried with backoff, and scheduled
//! by cron. Everything is synchronous: threads and channels, no async runtime.
//!
//! ```
//! use riverlite::{Client, InsertOpts, JobArgs, JobListParams, JobState};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SendEmail { to: String }
//!
//! impl JobArgs for SendEmail {
//!     const KIND: &'static str = "send_email";
//! }
//!
//! // An insert-only client: no queues, no workers.
//! let client = Client::builder(":memory:").build()?;
//! client.insert(SendEmail { to: "a@example.com".into() }, None)?;
//! client.insert(
//!     SendEmail { to: "b@example.com".into() },
//!     Some(InsertOpts { queue: Some("email".into()), priority: Some(2), ..Default::default() }),
//! )?;
//!
//! let page = client.job_list(&JobListParams::new().states([JobState::Available]))?;
//! assert_eq!(page.jobs.len(), 2);
//! # Ok::<(), riverlite::Error>(())
//! ```
//!
//! A working client has queues and workers; it claims jobs, runs them on
//! threads, retries failures with River's backoff, and reports outcomes:
//!
//! ```
//! use std::time::Duration;
//! use riverlite::{Client, EventKind, Job, JobArgs, QueueConfig, Worker, WorkError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SendEmail { to: String }
//! impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
//!
//! struct SendEmailWorker;
//! impl Worker<SendEmail> for SendEmailWorker {
//!     fn work(&self, job: &Job<SendEmail>) -> Result<(), WorkError> {
//!         if job.args.to.is_empty() {
//!             return Err(WorkError::cancel("no recipient"));
//!         }
//!         Ok(()) // send it; any std error converts into a retried failure with `?`
//!     }
//! }
//!
//! let client = Client::builder(":memory:")
//!     .queue("default", QueueConfig::new(4))
//!     .worker(SendEmailWorker)
//!     .build()?;
//! let completed = client.subscribe(&[EventKind::JobCompleted]);
//! client.start()?;
//! let id = client.insert(SendEmail { to: "a@example.com".into() }, None)?.job.id;
//! let event = completed.recv_timeout(Duration::from_secs(30)).expect("the job completes");
//! assert_eq!(event.job.map(|job| job.id), Some(id));
//! client.stop()?; // waits for running jobs and writes their outcomes
//! # Ok::<(), riverlite::Error>(())
//! ```

#![warn(missing_docs)]

mod client;
mod db;
mod engine;
mod error;
mod leader;
mod model;
pub mod testing;
#[cfg(feature = "ui")]
pub mod ui;

/// The rusqlite riverlite is built on, for `insert_tx` transactions.
pub use rusqlite;

/// The r2d2 and r2d2_sqlite riverlite is built on, to build a pool to share
/// with `Client::builder_with_pool`.
pub use {r2d2, r2d2_sqlite};

pub use client::{
    Client, ClientBuilder, PeriodicJobs, QueueConfig, DEFAULT_BUSY_TIMEOUT, DEFAULT_JOB_TIMEOUT,
    DEFAULT_POLL_INTERVAL, DEFAULT_POOL_SIZE, MAX_CLIENT_ID_LEN, MAX_WORKERS_LIMIT,
};
pub use db::SqlitePool;
pub use error::{Error, Result};
pub use model::args::JobArgs;
pub use model::durable_schedule::{ScheduleParams, ScheduleRow};
pub use model::event::{Event, EventKind, JobStats, SUBSCRIPTION_CAPACITY};
pub use model::insert_opts::{
    InsertManyParams, InsertOpts, InsertResult, UniqueOpts, DEFAULT_MAX_ATTEMPTS, DEFAULT_PRIORITY,
    DEFAULT_QUEUE, MAX_NAME_LEN, MIN_UNIQUE_PERIOD,
};
pub use model::job::{AttemptError, Job, JobRow, JobState};
pub use model::job_list::{
    JobListCursor, JobListOrderBy, JobListPage, JobListParams, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use model::maintenance_config::{
    MaintenanceConfig, DEFAULT_CANCELLED_RETENTION, DEFAULT_CLEANER_INTERVAL,
    DEFAULT_COMPLETED_RETENTION, DEFAULT_DISCARDED_RETENTION, DEFAULT_ELECTION_INTERVAL,
    DEFAULT_RESCUER_INTERVAL, DEFAULT_RESCUE_STUCK_JOBS_AFTER, DEFAULT_SCHEDULER_INTERVAL,
};
pub use model::periodic_job::{PeriodicJob, PeriodicJobHandle};
pub use model::retry::{DefaultRetryPolicy, RetryPolicy, MAX_RETRY_DELAY};
pub use model::rows::{JobCount, LeaderRow, Migration, QueueRow};
pub use model::schedule::Schedule;
pub use model::work_error::WorkError;
pub use model::worker::{work_fn, FnWorker, Worker};

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
