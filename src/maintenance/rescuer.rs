//! The rescuer: recovers running jobs whose client died (liveness lock released) or that ran past their rescue horizon.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Timer;
use crate::db::{maintenance, time, Db};
use crate::error::Result;
use crate::job::{AttemptError, JobRow, JobState};
use crate::retry::{next_retry_or_default, RetryPolicy};
use crate::worker::AnyWorker;

/// Makes stuck and orphaned running jobs retryable (or discarded once their
/// attempts are used up, or cancelled if a cancel was asked for).
pub(crate) struct Rescuer {
    pub db: Arc<Db>,
    pub timer: Timer,
    pub rescue_after: Duration,
    pub default_timeout: Option<Duration>,
    pub workers: Arc<HashMap<&'static str, Arc<dyn AnyWorker>>>,
    pub retry_policy: Arc<dyn RetryPolicy>,
    /// Whether a client id holds its liveness lock (or is this client).
    pub is_alive: Box<dyn Fn(&str) -> bool + Send>,
}

impl Rescuer {
    /// One pass; returns how many jobs were rescued.
    pub(crate) fn run(&self, now: DateTime<Utc>, dead_clients: &[String]) -> Result<usize> {
        let stuck_before = time::before(now, self.rescue_after);
        let candidates = self
            .db
            .conn()
            .and_then(|conn| maintenance::rescue_candidates(&conn, stuck_before, dead_clients))?;
        let mut rescued = 0;
        for job in candidates {
            let orphaned = job
                .attempted_by
                .last()
                .is_some_and(|owner| dead_clients.contains(owner));
            let Some(reason) = self.rescue_reason(&job, orphaned, now) else {
                continue;
            };
            let (state, scheduled_at) = self.rescued_state(&job, orphaned, now);
            if rescue_one(&self.db, &job, state, scheduled_at, reason, now)? {
                rescued += 1;
            }
        }
        Ok(rescued)
    }

    /// Why `job` should be rescued now, or `None` to leave it running.
    fn rescue_reason(&self, job: &JobRow, orphaned: bool, now: DateTime<Utc>) -> Option<String> {
        let owner = job.attempted_by.last().map(String::as_str).unwrap_or("?");
        if orphaned {
            return Some(format!(
                "orphaned: client {owner} exited while working the job; rescued"
            ));
        }
        // Past the horizon, which is never shorter than the job's own
        // timeout. A job with no timeout is left alone while its owner is
        // known to be alive; an unknown owner (a River client) gets the horizon.
        let timeout = self
            .workers
            .get(job.kind.as_str())
            .and_then(|w| w.timeout(job))
            .or(self.default_timeout)
            .filter(|t| *t != Duration::MAX);
        if timeout.is_none() && (self.is_alive)(owner) {
            return None;
        }
        let horizon = timeout.map_or(self.rescue_after, |t| self.rescue_after.max(t));
        let attempted_at = job.attempted_at?;
        (attempted_at < time::before(now, horizon))
            .then(|| format!("stuck: running for longer than {horizon:?}; rescued"))
    }

    fn rescued_state(
        &self,
        job: &JobRow,
        orphaned: bool,
        now: DateTime<Utc>,
    ) -> (JobState, DateTime<Utc>) {
        match final_state(job) {
            Some(state) => (state, job.scheduled_at),
            // The job did not fail, its process died: run it again at once.
            None if orphaned => (JobState::Retryable, now),
            None => (
                JobState::Retryable,
                next_retry_or_default(&*self.retry_policy, job, now),
            ),
        }
    }
}

/// Where a rescued job ends for good: cancelled if someone asked, discarded
/// once its attempts are used up; `None` when it should run again.
fn final_state(job: &JobRow) -> Option<JobState> {
    if job.metadata.get("cancel_attempted_at").is_some() {
        Some(JobState::Cancelled)
    } else if job.attempt >= job.max_attempts {
        Some(JobState::Discarded)
    } else {
        None
    }
}

/// Writes one rescue (guarded by state and attempt); returns whether it took.
fn rescue_one(
    db: &Db,
    job: &JobRow,
    state: JobState,
    scheduled_at: DateTime<Utc>,
    reason: String,
    now: DateTime<Utc>,
) -> Result<bool> {
    let error = AttemptError::new(now, job.attempt, reason);
    let written = db.write(|tx| maintenance::rescue(tx, job, state, scheduled_at, &error, now))?;
    if written {
        log::warn!(
            "riverlite: rescued job {} ({}) as {state}: {}",
            job.id,
            job.kind,
            error.error
        );
    }
    Ok(written)
}

/// Rescues the jobs an earlier run of `client_id` left running. A client
/// that is only now starting runs nothing, so they are orphans whatever
/// their liveness file says (a restart with the same id would otherwise
/// make them look owned by a live client).
pub(crate) fn rescue_leftovers_of(db: &Db, client_id: &str, now: DateTime<Utc>) -> Result<usize> {
    let owners = [client_id.to_string()];
    let leftovers = db
        .conn()
        .and_then(|conn| maintenance::rescue_candidates(&conn, DateTime::UNIX_EPOCH, &owners))?;
    let mut rescued = 0;
    for job in leftovers {
        let state = final_state(&job).unwrap_or(JobState::Retryable);
        let scheduled_at = if state == JobState::Retryable {
            now
        } else {
            job.scheduled_at
        };
        let reason = format!(
            "orphaned: an earlier run of client {client_id} stopped while working the job; rescued"
        );
        if rescue_one(db, &job, state, scheduled_at, reason, now)? {
            rescued += 1;
        }
    }
    Ok(rescued)
}
