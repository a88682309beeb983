//! What a worker's attempt returned: `WorkError` (failure, snooze, cancel) and the `WorkOutcome` handed to the completer.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

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

/// What one run of a job produced, for the completer.
#[derive(Debug)]
pub(crate) struct WorkOutcome {
    /// `Ok` for success, else the failure, snooze or cancel.
    pub result: Result<(), WorkErrorKind>,
    /// The worker's own retry time, if it chose one.
    pub next_retry: Option<DateTime<Utc>>,
    /// True when the job's timeout had passed by the time it returned.
    pub timed_out: bool,
}

/// An outcome that failed with `message` before or outside the worker.
pub(crate) fn failed(message: String) -> WorkOutcome {
    WorkOutcome {
        result: Err(WorkErrorKind::Failure(message)),
        next_retry: None,
        timed_out: false,
    }
}
