//! The model: plain data and River's rules, with no SQL and no threads.
//!
//! Everything else builds on it; it imports nothing of the crate but itself
//! and `error` (`tests/architecture.rs` checks that).

pub(crate) mod args;
pub(crate) mod durable_schedule;
pub(crate) mod event;
pub(crate) mod insert_opts;
pub(crate) mod job;
pub(crate) mod job_list;
pub(crate) mod maintenance_config;
pub(crate) mod new_job;
pub(crate) mod notification;
pub(crate) mod outcome;
pub(crate) mod periodic_job;
pub(crate) mod retry;
pub(crate) mod rows;
pub(crate) mod schedule;
pub(crate) mod test_signal;
pub(crate) mod time;
pub(crate) mod timing;
pub(crate) mod unique;
pub(crate) mod work_error;
pub(crate) mod worker;

pub(crate) use args::JobArgs;
pub(crate) use event::{Event, EventBus, EventKind, JobStats};
pub(crate) use insert_opts::{InsertManyParams, InsertOpts, InsertResult};
pub(crate) use job::{AttemptError, Job, JobControl, JobRow, JobState};
pub(crate) use job_list::{JobListCursor, JobListOrderBy, JobListPage, JobListParams};
pub(crate) use maintenance_config::MaintenanceConfig;
pub(crate) use new_job::NewJob;
pub(crate) use notification::Notification;
pub(crate) use outcome::{JobUpdate, OutcomeRules};
pub(crate) use periodic_job::{PeriodicJob, PeriodicJobHandle};
pub(crate) use retry::{DefaultRetryPolicy, RetryPolicy};
pub(crate) use rows::{JobCount, LeaderRow, Migration, QueueRow};
pub(crate) use test_signal::TestSignals;
pub(crate) use work_error::{failed, WorkError, WorkErrorKind, WorkOutcome};
pub(crate) use worker::Worker;
