//! `PeriodicJob`: a job the leader inserts on a `Schedule`, and the handle that names one added at run time.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::args::JobArgs;
use crate::model::insert_opts::{InsertManyParams, InsertOpts, MAX_NAME_LEN};
use crate::model::schedule::Schedule;

type Constructor = dyn Fn() -> Option<InsertManyParams> + Send + Sync;

/// A job inserted on a schedule by the leader.
///
/// ```
/// use riverlite::{JobArgs, PeriodicJob, Schedule};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct Cleanup;
/// impl JobArgs for Cleanup { const KIND: &'static str = "cleanup"; }
///
/// let job = PeriodicJob::new(Schedule::every(Duration::from_secs(60)), || Some(Cleanup))
///     .id("cleanup")
///     .run_on_start(true);
/// ```
#[derive(Clone)]
pub struct PeriodicJob {
    pub(crate) schedule: Schedule,
    pub(crate) kind: &'static str,
    pub(crate) constructor: Arc<Constructor>,
    pub(crate) id: Option<String>,
    pub(crate) run_on_start: bool,
}

impl fmt::Debug for PeriodicJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicJob")
            .field("schedule", &self.schedule)
            .field("id", &self.id)
            .field("run_on_start", &self.run_on_start)
            .finish()
    }
}

impl PeriodicJob {
    /// A periodic job whose `constructor` makes the args of each run, or
    /// returns `None` to skip that run.
    pub fn new<A, F>(schedule: Schedule, constructor: F) -> Self
    where
        A: JobArgs,
        F: Fn() -> Option<A> + Send + Sync + 'static,
    {
        Self::with_opts(schedule, move || {
            constructor().map(|a| (a, InsertOpts::default()))
        })
    }

    /// Like [`PeriodicJob::new`], with insert options for each run.
    pub fn with_opts<A, F>(schedule: Schedule, constructor: F) -> Self
    where
        A: JobArgs,
        F: Fn() -> Option<(A, InsertOpts)> + Send + Sync + 'static,
    {
        PeriodicJob {
            schedule,
            kind: A::KIND,
            constructor: Arc::new(move || {
                constructor().map(|(args, opts)| InsertManyParams::new(args).opts(opts))
            }),
            id: None,
            run_on_start: false,
        }
    }

    /// A stable id (at most 127 characters, unique per client). With an id,
    /// each target time is inserted once, even across a leader change.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Insert one run at once each time a client becomes leader (and when
    /// the job is added to a leading client), as River does. That run is not
    /// a target's: it is scheduled now, keyed by the election, and leaves the
    /// targets' schedule alone (a restart within a period inserts it again).
    pub fn run_on_start(mut self, run_on_start: bool) -> Self {
        self.run_on_start = run_on_start;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        match &self.id {
            Some(id) if id.is_empty() || id.len() > MAX_NAME_LEN => Err(Error::Config(format!(
                "periodic job id {id:?} must be 1 to {MAX_NAME_LEN} characters"
            ))),
            _ => Ok(()),
        }
    }
}

/// Identifies a periodic job added to a running client, for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeriodicJobHandle(pub(crate) u64);
