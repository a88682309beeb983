//! Jobs as stored (`JobRow`, `JobState`, `AttemptError`) and as a worker sees them (`Job<A>`).

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::insert_opts::{DEFAULT_MAX_ATTEMPTS, DEFAULT_PRIORITY, DEFAULT_QUEUE};
use crate::model::time;

/// The state of a job, as stored in `river_job.state`.
///
/// The order of the variants is alphabetical, which is also the bit order of
/// `river_job.unique_states` (available = bit 0 ... scheduled = bit 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Ready to be claimed once `scheduled_at` has passed.
    Available,
    /// Cancelled by a user or by the worker; final.
    Cancelled,
    /// Worked successfully; final.
    Completed,
    /// Failed with its attempts used up; final.
    Discarded,
    /// Inserted with `pending: true`; not worked until retried or moved.
    Pending,
    /// Failed and waiting for its retry time.
    Retryable,
    /// Claimed by a client and being worked.
    Running,
    /// Waiting for a future `scheduled_at`.
    Scheduled,
}

impl JobState {
    /// Every state, in alphabetical (bit) order.
    pub const ALL: [JobState; 8] = [
        JobState::Available,
        JobState::Cancelled,
        JobState::Completed,
        JobState::Discarded,
        JobState::Pending,
        JobState::Retryable,
        JobState::Running,
        JobState::Scheduled,
    ];

    /// The name stored in the database (`"available"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Cancelled => "cancelled",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Pending => "pending",
            JobState::Retryable => "retryable",
            JobState::Running => "running",
            JobState::Scheduled => "scheduled",
        }
    }

    /// The state's bit in `river_job.unique_states`.
    pub fn unique_bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether the state is final (cancelled, completed or discarded).
    pub fn is_finalized(self) -> bool {
        matches!(
            self,
            JobState::Cancelled | JobState::Completed | JobState::Discarded
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown job state {s:?}")))
    }
}

/// One failed attempt, as recorded in `river_job.errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    /// When the attempt failed.
    pub at: DateTime<Utc>,
    /// The attempt number that failed (1-based).
    pub attempt: i64,
    /// The error message.
    pub error: String,
    /// A trace, where one exists (a panic location); empty otherwise.
    #[serde(default)]
    pub trace: String,
}

impl AttemptError {
    /// An error for `attempt`, failed at `at`, with no trace.
    pub fn new(at: DateTime<Utc>, attempt: i64, error: impl Into<String>) -> Self {
        AttemptError {
            at,
            attempt,
            error: error.into(),
            trace: String::new(),
        }
    }
}

/// A job row as stored in `river_job`, with fields named after the columns.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// The job's id.
    pub id: i64,
    /// The args as JSON text (see [`Job::args`] for the decoded value).
    pub args: String,
    /// Attempts started so far.
    pub attempt: i64,
    /// When the last attempt started.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Ids of the clients that worked the job, oldest first (at most 100).
    pub attempted_by: Vec<String>,
    /// When the job was inserted.
    pub created_at: DateTime<Utc>,
    /// One entry per failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// When the job reached a final state.
    pub finalized_at: Option<DateTime<Utc>>,
    /// The job's kind, the `JobArgs::KIND` of its args.
    pub kind: String,
    /// Attempts allowed before the job is discarded.
    pub max_attempts: i64,
    /// Free-form JSON object; riverlite's own keys start with `river:`.
    pub metadata: serde_json::Value,
    /// 1 (highest) to 4.
    pub priority: i64,
    /// The queue it runs in.
    pub queue: String,
    /// Its current state.
    pub state: JobState,
    /// When it may run.
    pub scheduled_at: DateTime<Utc>,
    /// Tags given at insert.
    pub tags: Vec<String>,
    /// SHA-256 of the unique key, for unique jobs.
    pub unique_key: Option<Vec<u8>>,
    /// The unique-states bit mask, for unique jobs.
    pub unique_states: Option<u8>,
}

/// The `metadata` key that records a `job_cancel` of a running job (River's).
pub(crate) const CANCEL_ATTEMPTED_AT: &str = "cancel_attempted_at";

impl JobRow {
    /// A running first attempt of a job of `kind`, as a worker would see it
    /// (for tests, which run workers without a database).
    pub(crate) fn first_attempt(kind: &str, args: String, now: DateTime<Utc>) -> JobRow {
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
            max_attempts: i64::from(DEFAULT_MAX_ATTEMPTS),
            metadata: serde_json::json!({}),
            priority: i64::from(DEFAULT_PRIORITY),
            queue: DEFAULT_QUEUE.to_string(),
            state: JobState::Running,
            scheduled_at: now,
            tags: Vec::new(),
            unique_key: None,
            unique_states: None,
        }
    }

    /// Whether someone asked to cancel this job's current attempt
    /// (`job_cancel` while it ran). A request older than the attempt's start
    /// belongs to an earlier attempt; one whose time does not parse counts.
    pub(crate) fn cancel_requested(&self) -> bool {
        let Some(requested) = self.metadata.get(CANCEL_ATTEMPTED_AT) else {
            return false;
        };
        let requested = requested.as_str().and_then(time::parse);
        match (requested, self.attempted_at) {
            (Some(requested), Some(started)) => requested >= started,
            _ => true,
        }
    }
}

/// Cancellation and deadline of one running job, shared by the worker thread
/// and the client that owns the job.
#[derive(Debug, Default)]
pub(crate) struct JobControl {
    /// Which claim this is (unique per client): a job snoozed or rescued
    /// and claimed again must not be ended by the older claim's outcome.
    claim: u64,
    cancelled: AtomicBool,
    cancel_requested: AtomicBool,
    deadline: std::sync::OnceLock<Instant>,
}

impl JobControl {
    /// The control of a new claim; each gets a token no other claim has.
    pub(crate) fn for_new_claim() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        JobControl {
            claim: NEXT.fetch_add(1, Ordering::Relaxed),
            ..Self::default()
        }
    }

    pub(crate) fn claim(&self) -> u64 {
        self.claim
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Cancellation asked for through `job_cancel` (not a stop or a timeout).
    pub(crate) fn request_cancel(&self) {
        self.cancel_requested.store(true, Ordering::Relaxed);
        self.cancel();
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    pub(crate) fn set_deadline(&self, deadline: Instant) {
        let _ = self.deadline.set(deadline);
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.get().copied()
    }

    pub(crate) fn timed_out(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.timed_out()
    }
}

/// A job as a worker sees it: the decoded args plus the stored row.
///
/// `Job<A>` derefs to [`JobRow`], so `job.id`, `job.attempt` and
/// `job.metadata` work; `job.args` is the decoded `A`.
#[derive(Debug)]
pub struct Job<A> {
    /// The decoded args.
    pub args: A,
    row: JobRow,
    control: Arc<JobControl>,
}

impl<A> Job<A> {
    pub(crate) fn new(args: A, row: JobRow, control: Arc<JobControl>) -> Self {
        Job { args, row, control }
    }

    pub(crate) fn into_row(self) -> JobRow {
        self.row
    }

    /// The stored row.
    pub fn row(&self) -> &JobRow {
        &self.row
    }

    /// True once the job was cancelled (by `job_cancel`, a stop, or its
    /// timeout passing). Long jobs should check it and return early.
    pub fn is_cancelled(&self) -> bool {
        self.control.is_cancelled()
    }

    /// When the job's timeout passes, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.control.deadline()
    }
}

impl<A> Deref for Job<A> {
    type Target = JobRow;

    fn deref(&self) -> &JobRow {
        &self.row
    }
}
