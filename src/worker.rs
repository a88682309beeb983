//! The `Worker` trait, `WorkError` (failure, snooze, cancel), and the type-erased registry entry.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::args::JobArgs;
use crate::job::{Job, JobControl, JobRow};

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

/// Why a job did not complete: a failure (retried), a snooze, or a cancel.
///
/// Any `std::error::Error` converts into a failure with `?`. `WorkError`
/// itself does not implement `std::error::Error`, which is what makes that
/// blanket conversion possible (as with anyhow).
pub struct WorkError {
    pub(crate) kind: WorkErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WorkErrorKind {
    Failure(String),
    Snooze(Duration),
    Cancel(String),
}

impl WorkError {
    /// A failure with this message: the job is retried, or discarded once its
    /// attempts are used up.
    pub fn failure(message: impl fmt::Display) -> Self {
        WorkError {
            kind: WorkErrorKind::Failure(message.to_string()),
        }
    }

    /// Run the job again after `delay`, without using up an attempt.
    pub fn snooze(delay: Duration) -> Self {
        WorkError {
            kind: WorkErrorKind::Snooze(delay),
        }
    }

    /// Cancel the job for good, recording `reason`.
    pub fn cancel(reason: &str) -> Self {
        WorkError {
            kind: WorkErrorKind::Cancel(reason.to_string()),
        }
    }

    /// True for a snooze.
    pub fn is_snooze(&self) -> bool {
        matches!(self.kind, WorkErrorKind::Snooze(_))
    }

    /// True for a cancel.
    pub fn is_cancel(&self) -> bool {
        matches!(self.kind, WorkErrorKind::Cancel(_))
    }
}

impl fmt::Debug for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl fmt::Display for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WorkErrorKind::Failure(m) => f.write_str(m),
            WorkErrorKind::Snooze(d) => write!(f, "snoozed for {d:?}"),
            WorkErrorKind::Cancel(r) => write!(f, "cancelled: {r}"),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for WorkError {
    fn from(err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        WorkError::failure(message)
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

/// What one run of a job produced, for the completer.
#[derive(Debug)]
pub(crate) struct WorkOutcome {
    pub result: Result<(), WorkErrorKind>,
    /// The worker's own retry time, if it chose one.
    pub next_retry: Option<DateTime<Utc>>,
    /// True when the job's timeout had passed by the time it returned.
    pub timed_out: bool,
}

/// A worker with its args type erased, as the registry stores it.
pub(crate) trait AnyWorker: Send + Sync {
    fn run(
        &self,
        row: JobRow,
        control: Arc<JobControl>,
        default_timeout: Option<Duration>,
    ) -> (JobRow, WorkOutcome);

    /// The worker's timeout for this job: `None` when it defers to the
    /// client's default (or the args no longer decode).
    fn timeout(&self, row: &JobRow) -> Option<Duration>;
}

/// Adapts a typed `Worker<A>` to `AnyWorker`.
pub(crate) struct Registered<A, W> {
    worker: W,
    _args: PhantomData<fn() -> A>,
}

impl<A: JobArgs, W: Worker<A>> Registered<A, W> {
    pub(crate) fn new(worker: W) -> Self {
        Registered {
            worker,
            _args: PhantomData,
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}

/// An outcome that failed with `message` before or outside the worker.
pub(crate) fn failed(message: String) -> WorkOutcome {
    WorkOutcome {
        result: Err(WorkErrorKind::Failure(message)),
        next_retry: None,
        timed_out: false,
    }
}

impl<A: JobArgs, W: Worker<A>> AnyWorker for Registered<A, W> {
    fn timeout(&self, row: &JobRow) -> Option<Duration> {
        let args: A = serde_json::from_str(&row.args).ok()?;
        let job = Job::new(args, row.clone(), Arc::new(JobControl::default()));
        catch_unwind(AssertUnwindSafe(|| self.worker.timeout(&job)))
            .ok()
            .flatten()
    }

    fn run(
        &self,
        row: JobRow,
        control: Arc<JobControl>,
        default_timeout: Option<Duration>,
    ) -> (JobRow, WorkOutcome) {
        let args: A = match serde_json::from_str(&row.args) {
            Ok(args) => args,
            Err(e) => {
                let message = format!("cannot decode args of kind {:?}: {e}", row.kind);
                return (row, failed(message));
            }
        };
        let job = Job::new(args, row, control.clone());
        let run = catch_unwind(AssertUnwindSafe(|| {
            let timeout = self.worker.timeout(&job).or(default_timeout);
            if let Some(deadline) = timeout.and_then(|t| Instant::now().checked_add(t)) {
                control.set_deadline(deadline);
            }
            let result = self.worker.work(&job).map_err(|e| e.kind);
            let next_retry = match &result {
                Err(WorkErrorKind::Failure(_)) => self.worker.next_retry(&job),
                _ => None,
            };
            (result, next_retry)
        }));
        let timed_out = control.timed_out();
        let outcome = match run {
            Ok((result, next_retry)) => WorkOutcome {
                result,
                next_retry,
                timed_out,
            },
            Err(payload) => WorkOutcome {
                timed_out,
                ..failed(format!("panic: {}", panic_message(payload.as_ref())))
            },
        };
        (job.into_row(), outcome)
    }
}
