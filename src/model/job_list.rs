//! `JobListParams`: filters, order and cursor pagination for `Client::job_list`.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::job::{JobRow, JobState};

/// Default page size of `job_list`.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size `job_list` accepts.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// The column a job list is ordered by (ties broken by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobListOrderBy {
    /// By id.
    #[default]
    Id,
    /// By scheduled_at, then id.
    ScheduledAt,
}

/// Where a page ends, to fetch the next one with [`JobListParams::after`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobListCursor {
    pub(crate) id: i64,
    pub(crate) scheduled_at: DateTime<Utc>,
}

impl JobListCursor {
    /// The cursor just past `job`.
    pub fn from_job(job: &JobRow) -> Self {
        JobListCursor {
            id: job.id,
            scheduled_at: job.scheduled_at,
        }
    }
}

/// Filters and paging for `Client::job_list`. Empty filters match everything.
///
/// ```
/// use riverlite::{JobListParams, JobState};
/// let params = JobListParams::new()
///     .states([JobState::Available, JobState::Retryable])
///     .queues(["default"])
///     .first(50);
/// ```
#[derive(Debug, Clone, Default)]
pub struct JobListParams {
    pub(crate) states: Vec<JobState>,
    pub(crate) queues: Vec<String>,
    pub(crate) kinds: Vec<String>,
    pub(crate) priorities: Vec<u8>,
    pub(crate) ids: Vec<i64>,
    pub(crate) tags: Vec<String>,
    pub(crate) tags_match_all: bool,
    pub(crate) order_by: JobListOrderBy,
    pub(crate) descending: bool,
    pub(crate) first: Option<usize>,
    pub(crate) after: Option<JobListCursor>,
}

impl JobListParams {
    /// Matches every job, ordered by id ascending, 100 per page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only jobs in these states.
    pub fn states(mut self, states: impl IntoIterator<Item = JobState>) -> Self {
        self.states = states.into_iter().collect();
        self
    }

    /// Only jobs in these queues.
    pub fn queues<S: Into<String>>(mut self, queues: impl IntoIterator<Item = S>) -> Self {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Only jobs of these kinds.
    pub fn kinds<S: Into<String>>(mut self, kinds: impl IntoIterator<Item = S>) -> Self {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Only jobs with these priorities.
    pub fn priorities(mut self, priorities: impl IntoIterator<Item = u8>) -> Self {
        self.priorities = priorities.into_iter().collect();
        self
    }

    /// Only jobs with these ids.
    pub fn ids(mut self, ids: impl IntoIterator<Item = i64>) -> Self {
        self.ids = ids.into_iter().collect();
        self
    }

    /// Only jobs carrying at least one of these tags.
    pub fn tags_any<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self.tags_match_all = false;
        self
    }

    /// Only jobs carrying all of these tags.
    pub fn tags_all<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self.tags_match_all = true;
        self
    }

    /// Order by this column (then id).
    pub fn order_by(mut self, order_by: JobListOrderBy) -> Self {
        self.order_by = order_by;
        self
    }

    /// Order descending instead of ascending.
    pub fn descending(mut self, descending: bool) -> Self {
        self.descending = descending;
        self
    }

    /// Page size: 1 to 10,000 (default 100).
    pub fn first(mut self, n: usize) -> Self {
        self.first = Some(n);
        self
    }

    /// Start after this cursor (from [`JobListPage::next`]).
    pub fn after(mut self, cursor: JobListCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    pub(crate) fn page_size(&self) -> Result<usize> {
        match self.first.unwrap_or(DEFAULT_PAGE_SIZE) {
            n @ 1..=MAX_PAGE_SIZE => Ok(n),
            n => Err(Error::InvalidArgument(format!(
                "first({n}) is out of range: use 1 to {MAX_PAGE_SIZE}"
            ))),
        }
    }
}

/// One page of `job_list`.
#[derive(Debug, Clone)]
pub struct JobListPage {
    /// The jobs of this page, in the requested order.
    pub jobs: Vec<JobRow>,
    /// The cursor for the next page; `None` when this page was the last.
    pub next: Option<JobListCursor>,
}
