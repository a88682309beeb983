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

pub mod args;
pub mod client;
mod completer;
mod db;
pub mod error;
pub mod event;
pub mod insert;
pub mod job;
pub mod job_list;
mod leader;
mod maintenance;
pub mod periodic;
mod producer;
pub mod retry;
pub mod testing;
pub mod worker;

/// The rusqlite riverlite is built on, for `insert_tx` transactions.
pub use rusqlite;

/// The r2d2 and r2d2_sqlite riverlite is built on, to build a pool to share
/// with `Client::builder_with_pool`.
pub use {r2d2, r2d2_sqlite};

pub use args::JobArgs;
pub use client::{Client, ClientBuilder, LeaderRow, MaintenanceConfig, QueueConfig, QueueRow};
pub use db::SqlitePool;
pub use error::{Error, Result};
pub use event::{Event, EventKind, JobStats};
pub use insert::{InsertManyParams, InsertOpts, InsertResult, UniqueOpts};
pub use job::{AttemptError, Job, JobRow, JobState};
pub use job_list::{JobListCursor, JobListOrderBy, JobListPage, JobListParams};
pub use periodic::{PeriodicJob, PeriodicJobHandle, PeriodicJobs, Schedule};
pub use retry::{DefaultRetryPolicy, RetryPolicy};
pub use worker::{work_fn, FnWorker, WorkError, Worker};
