//! The rescuer: recovers running jobs whose client died (liveness lock released) or that ran past their rescue horizon.
//!
//! What a rescued job becomes is `model::outcome`'s decision (retryable,
//! discarded at its last attempt, cancelled if a cancel was asked for), and
//! it is written through the same guarded statement as every outcome.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::jobs;
use crate::db::{maintenance, Db};
use crate::error::Result;
use crate::leader::maintenance::Timer;
use crate::model::outcome::{self, Outcome, OutcomeRules};
use crate::model::{time, JobRow, MaintenanceConfig, RetryPolicy, TestSignals};

/// Whether a client id holds its liveness lock (or is this client).
pub(crate) type IsAlive = Box<dyn Fn(&str) -> bool + Send>;

/// Makes stuck and orphaned running jobs retryable (or discarded once their
/// attempts are used up, or cancelled if a cancel was asked for).
pub(crate) struct Rescuer {
    db: Arc<Db>,
    pub(super) timer: Timer,
    rescue_after: Duration,
    available_within: Duration,
    retry_policy: Arc<dyn RetryPolicy>,
    is_alive: IsAlive,
    signals: Arc<TestSignals>,
}

impl Rescuer {
    /// A rescuer on `db` with `config`'s interval and horizon; `is_alive`
    /// tells whether a client id is a live riverlite client.
    pub(crate) fn new(
        db: Arc<Db>,
        config: &MaintenanceConfig,
        retry_policy: Arc<dyn RetryPolicy>,
        is_alive: IsAlive,
        signals: Arc<TestSignals>,
    ) -> Self {
        Rescuer {
            db,
            timer: Timer::new(config.rescuer_interval),
            rescue_after: config.rescue_stuck_jobs_after,
            available_within: config.scheduler_interval,
            retry_policy,
            is_alive,
            signals,
        }
    }

    /// One pass; returns how many jobs were rescued. Jobs of `dead_clients`
    /// are always looked at; jobs past the horizon only with `horizon`
    /// (River's lease held, since River's leader rescues those too).
    pub(crate) fn run(
        &self,
        now: DateTime<Utc>,
        dead_clients: &[String],
        horizon: bool,
    ) -> Result<usize> {
        let stuck_before = if horizon {
            time::before(now, self.rescue_after)
        } else {
            DateTime::UNIX_EPOCH
        };
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
            if rescue(&self.db, &job, &reason, orphaned, self.rules(), now)? {
                rescued += 1;
            }
        }
        self.signals.rescuer_pass.signal();
        Ok(rescued)
    }

    fn rules(&self) -> OutcomeRules<'_> {
        OutcomeRules {
            retry_policy: &*self.retry_policy,
            available_within: self.available_within,
        }
    }

    /// Why `job` should be rescued now, or `None` to leave it running.
    ///
    /// The owner decides: a dead riverlite client's jobs are rescued at once;
    /// a live riverlite client's never (it handles its own timeouts, and the
    /// leader need not know the job's kind or timeout); any other owner's (a
    /// River client sharing the file) past the rescue horizon, as River does.
    fn rescue_reason(&self, job: &JobRow, orphaned: bool, now: DateTime<Utc>) -> Option<String> {
        let owner = job.attempted_by.last().map(String::as_str).unwrap_or("?");
        if orphaned {
            return Some(format!(
                "orphaned: client {owner} exited while working the job; rescued"
            ));
        }
        if (self.is_alive)(owner) {
            return None;
        }
        let attempted_at = job.attempted_at?;
        let horizon = self.rescue_after;
        (attempted_at < time::before(now, horizon))
            .then(|| format!("stuck: running for longer than {horizon:?}; rescued"))
    }
}

/// Rescues one job as `model::outcome` decides; returns whether the write
/// took (it is guarded by state and attempt, so a job that finished
/// meanwhile keeps its outcome).
fn rescue(
    db: &Db,
    job: &JobRow,
    reason: &str,
    orphaned: bool,
    rules: OutcomeRules<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let outcome = Outcome::Rescued { reason, orphaned };
    let update = outcome::decide(job, outcome, job.cancel_requested(), &rules, now);
    let written = db.write(|tx| jobs::complete(tx, std::slice::from_ref(&update), now))?;
    let state = written.first().and_then(|w| w.state());
    if let Some(state) = state {
        log::warn!(
            "riverlite: rescued job {} ({}) as {state}: {reason}",
            job.id,
            job.kind
        );
    }
    Ok(state.is_some())
}

/// Rescues the jobs an earlier run of `client_id` left running. A client
/// that is only now starting runs nothing, so they are orphans whatever
/// their liveness file says (a restart with the same id would otherwise
/// make them look owned by a live client).
pub(crate) fn rescue_leftovers_of(
    db: &Db,
    client_id: &str,
    rules: OutcomeRules<'_>,
    now: DateTime<Utc>,
) -> Result<usize> {
    let owners = [client_id.to_string()];
    let leftovers = db
        .conn()
        .and_then(|conn| maintenance::rescue_candidates(&conn, DateTime::UNIX_EPOCH, &owners))?;
    let reason = format!(
        "orphaned: an earlier run of client {client_id} stopped while working the job; rescued"
    );
    let mut rescued = 0;
    for job in leftovers {
        if rescue(db, &job, &reason, true, rules, now)? {
            rescued += 1;
        }
    }
    Ok(rescued)
}
