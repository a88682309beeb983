//! The `Worker` trait, and `work_fn` for workers made from closures.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::args::JobArgs;
use crate::model::job::Job;
use crate::model::work_error::WorkError;

/// Works jobs of one kind.
///
/// ```
/// use riverlite::{Job, JobArgs, Worker, WorkError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
/// impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
///
/// struct SendEmailWorker;
/// impl Worker<SendEmail> for SendEmailWorker {
///     fn work(&self, job: &Job<SendEmail>) -> Result<(), WorkError> {
///         if job.args.to.is_empty() {
///             return Err(WorkError::cancel("no recipient"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Worker<A: JobArgs>: Send + Sync + 'static {
    /// Works one job. Return `Ok` to complete it, or a [`WorkError`] to retry,
    /// snooze or cancel it. A panic is caught and recorded as a failure.
    fn work(&self, job: &Job<A>) -> Result<(), WorkError>;

    /// This job's timeout. `None` uses the client's `job_timeout` (1 min by default);
    /// `Some(Duration::MAX)` means no timeout. Timeouts are cooperative: the
    /// job sees `is_cancelled()` turn true and should return.
    fn timeout(&self, _job: &Job<A>) -> Option<Duration> {
        None
    }

    /// When to retry this job after a failure. `None` uses the client's
    /// [`RetryPolicy`](crate::RetryPolicy).
    fn next_retry(&self, _job: &Job<A>) -> Option<DateTime<Utc>> {
        None
    }
}

/// A worker made from a closure; see [`work_fn`].
pub struct FnWorker<A, F> {
    f: F,
    _args: PhantomData<fn() -> A>,
}

/// Makes a worker from a closure.
///
/// ```
/// use riverlite::{work_fn, JobArgs};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping;
/// impl JobArgs for Ping { const KIND: &'static str = "ping"; }
///
/// let worker = work_fn::<Ping, _>(|_job| Ok(()));
/// ```
pub fn work_fn<A, F>(f: F) -> FnWorker<A, F>
where
    A: JobArgs,
    F: Fn(&Job<A>) -> Result<(), WorkError> + Send + Sync + 'static,
{
    FnWorker {
        f,
        _args: PhantomData,
    }
}

impl<A, F> Worker<A> for FnWorker<A, F>
where
    A: JobArgs,
    F: Fn(&Job<A>) -> Result<(), WorkError> + Send + Sync + 'static,
{
    fn work(&self, job: &Job<A>) -> Result<(), WorkError> {
        (self.f)(job)
    }
}
