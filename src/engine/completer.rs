//! The completer: writes job outcomes in batches, then tells producers and subscribers.
//!
//! It only writes: what each outcome means is `model::outcome`'s decision.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};

use crate::db::jobs::{self, Claimed, Written};
use crate::db::Db;
use crate::engine::producer::Handoff;
use crate::engine::running::RunningJobs;
use crate::error::{Error, Result};
use crate::model::outcome::{self, Outcome, OutcomeRules};
use crate::model::timing::COMPLETER_MAX_BACKOFF;
use crate::model::{
    time, Event, EventBus, EventKind, JobRow, JobState, JobStats, JobUpdate, RetryPolicy,
    WorkOutcome,
};

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 4096;

/// One finished attempt, sent by a worker thread.
pub(crate) struct Completion {
    /// Index of the producer (queue) that owns the job.
    pub producer_index: usize,
    /// The row as claimed (after the worker ran, with its final `attempt`).
    pub row: JobRow,
    /// What the worker returned, or why the job was not run.
    pub outcome: Attempted,
    /// Someone called `job_cancel` on the job while it ran.
    pub cancel_requested: bool,
    /// The claim's token, handed back with the id when the outcome is written.
    pub claim: u64,
    /// When the worker thread took the job.
    pub started: Instant,
    /// When `work` returned.
    pub finished: Instant,
}

/// What became of a claimed job.
pub(crate) enum Attempted {
    /// A worker ran it (or it failed before running, for want of a worker).
    Worked(WorkOutcome),
    /// Its row cannot be read (malformed JSON; the reason says where), so it
    /// was never run.
    Unreadable(String),
}

/// Writes job outcomes in batches, then frees the producers' capacity and
/// sends events.
pub(crate) struct Completer {
    db: Arc<Db>,
    events: Arc<EventBus>,
    retry_policy: Arc<dyn RetryPolicy>,
    available_within: Duration,
    /// Each producer's running jobs, whose claims it ends and fills.
    running: Vec<Arc<RunningJobs>>,
    /// One sender per producer, in the same order, for the jobs it claimed for it.
    done: Vec<Sender<Handoff>>,
    /// Who claims (for `attempted_by`).
    client_id: String,
    /// Set when outcomes could not be written (those jobs stay `running`
    /// for the rescuer), so a stop keeps this client's liveness file.
    outcomes_lost: Arc<AtomicBool>,
    /// Set when a stop begins: from then on, an outcome the database still
    /// refuses after one more try is left to the rescuer.
    stopping: Arc<AtomicBool>,
}

impl Completer {
    /// A completer writing to `db` and reporting to `events`. Retries and
    /// snoozes due within `available_within` (the scheduler's interval) go
    /// straight to `available`; `producers` has each producer's running
    /// jobs and hand-off channel, in order.
    pub(crate) fn new(
        db: Arc<Db>,
        events: Arc<EventBus>,
        retry_policy: Arc<dyn RetryPolicy>,
        available_within: Duration,
        producers: Vec<(Arc<RunningJobs>, Sender<Handoff>)>,
        client_id: &str,
    ) -> Completer {
        let (running, done) = producers.into_iter().unzip();
        Completer {
            db,
            events,
            retry_policy,
            available_within,
            running,
            done,
            client_id: client_id.to_string(),
            outcomes_lost: Arc::new(AtomicBool::new(false)),
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Turns true if outcomes could not be written.
    pub(crate) fn outcomes_lost(&self) -> Arc<AtomicBool> {
        self.outcomes_lost.clone()
    }

    /// Set to true to make refused outcomes give up after one more try
    /// (see [`Completer::write_retrying`]).
    pub(crate) fn stopping(&self) -> Arc<AtomicBool> {
        self.stopping.clone()
    }

    /// Runs until every sender of `rx` is gone, then returns.
    pub(crate) fn run(self, rx: Receiver<Completion>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(MAX_BATCH - 1));
            self.complete_batch(batch);
        }
    }

    fn complete_batch(&self, batch: Vec<Completion>) {
        let now = time::to_stored_precision(Utc::now());
        let rules = OutcomeRules {
            retry_policy: &*self.retry_policy,
            available_within: self.available_within,
        };
        let updates: Vec<JobUpdate> = batch
            .iter()
            .map(|c| {
                let outcome = match &c.outcome {
                    Attempted::Worked(worked) => Outcome::Worked(worked),
                    Attempted::Unreadable(why) => Outcome::Unreadable { why },
                };
                outcome::decide(&c.row, outcome, c.cancel_requested, &rules, now)
            })
            .collect();
        for (c, update) in batch.iter().zip(&updates) {
            log_failure(&c.row, update);
        }
        let mut finished: Vec<Vec<(i64, u64)>> = vec![Vec::new(); self.done.len()];
        for c in &batch {
            if let Some(ids) = finished.get_mut(c.producer_index) {
                ids.push((c.row.id, c.claim));
            }
        }
        let written = self.write_and_claim_next(&updates, &finished, now);
        let committed = Instant::now();
        // Events only for what was written, with the row as written.
        let wanted = self.events.wanted();
        if wanted.is_empty() {
            return;
        }
        for ((c, update), written) in batch.into_iter().zip(updates).zip(written) {
            let Some(state) = written.state() else {
                continue;
            };
            let kind = update.event_for(state);
            if !wanted.contains(&kind) {
                continue;
            }
            let job = match written {
                Written::Row(row) => *row,
                // A plain completion changes only these two columns.
                _ => JobRow {
                    state,
                    finalized_at: update.finalized_at,
                    ..c.row.clone()
                },
            };
            self.events.emit(event(&c, job, kind, committed));
        }
    }

    /// Writes a batch and, in the same transaction, claims the next jobs of
    /// the queues it frees capacity in, while they have more waiting: one
    /// write transaction per cycle of work instead of two. Under each
    /// queue's claim lock, the finished claims end and the new ones start,
    /// then the producers get the claimed jobs to run.
    fn write_and_claim_next(
        &self,
        updates: &[JobUpdate],
        finished: &[Vec<(i64, u64)>],
        now: DateTime<Utc>,
    ) -> Vec<Written> {
        // Claim locks in producer order (a producer takes only its own).
        let mut states: Vec<_> = self
            .running
            .iter()
            .zip(finished)
            .map(|(running, ids)| (!ids.is_empty()).then(|| running.claiming()))
            .collect();
        let plans: Vec<(usize, usize)> = states
            .iter()
            .enumerate()
            .filter_map(|(i, state)| {
                let state = state.as_ref()?;
                let capacity = self.running[i].capacity(&finished[i]);
                (state.more_waiting && !state.stopping && capacity > 0).then_some((i, capacity))
            })
            .collect();
        let (written, claimed) = self.write(updates, &plans, now);
        let mut claimed_for: Vec<Vec<Claimed>> =
            (0..self.running.len()).map(|_| Vec::new()).collect();
        for (i, jobs) in claimed {
            claimed_for[i] = jobs;
        }
        for (i, state) in states.iter_mut().enumerate() {
            let Some(state) = state else { continue };
            let jobs = std::mem::take(&mut claimed_for[i]);
            if let Some(&(_, capacity)) = plans.iter().find(|(p, _)| *p == i) {
                state.more_waiting = jobs.len() == capacity;
            }
            let ids: Vec<i64> = jobs.iter().map(|c| c.row.id).collect();
            let controls = self.running[i].hand_over(&finished[i], &ids);
            let _ = self.done[i].send(Handoff {
                claimed: jobs.into_iter().zip(controls).collect(),
            });
        }
        written
    }

    /// Writes a batch, and claims per `plans` (producer, capacity) in the
    /// same transaction: what was written for each update (nothing where the
    /// guard let it pass or the write was given up), and the jobs claimed.
    fn write(
        &self,
        updates: &[JobUpdate],
        plans: &[(usize, usize)],
        now: DateTime<Utc>,
    ) -> (Vec<Written>, Vec<(usize, Vec<Claimed>)>) {
        let claims = |tx: &rusqlite::Transaction<'_>| -> Result<Vec<(usize, Vec<Claimed>)>> {
            plans
                .iter()
                .map(|&(i, capacity)| {
                    let queue = &self.running[i].queue;
                    Ok((
                        i,
                        jobs::claim(tx, queue, &self.client_id, capacity, Utc::now())?,
                    ))
                })
                .collect()
        };
        match self.write_retrying(|tx| Ok((jobs::complete(tx, updates, now)?, claims(tx)?))) {
            Ok(done) => done,
            Err(e) if e.is_caused_by_data() => (self.write_outcomes(updates, now), Vec::new()),
            Err(e) => (self.give_up(updates, &e), Vec::new()),
        }
    }

    /// Writes a batch alone: what was written for each update.
    fn write_outcomes(&self, updates: &[JobUpdate], now: DateTime<Utc>) -> Vec<Written> {
        match self.write_retrying(|tx| jobs::complete(tx, updates, now)) {
            Ok(states) => states,
            // Some row cannot be written: write them one by one, so that
            // one bad row does not hold back the others.
            Err(e) if updates.len() > 1 && e.is_caused_by_data() => updates
                .iter()
                .flat_map(|u| self.write_or_give_up(std::slice::from_ref(u), now))
                .collect(),
            Err(e) => self.give_up(updates, &e),
        }
    }

    fn write_or_give_up(&self, updates: &[JobUpdate], now: DateTime<Utc>) -> Vec<Written> {
        self.write_retrying(|tx| jobs::complete(tx, updates, now))
            .unwrap_or_else(|e| self.give_up(updates, &e))
    }

    /// Only for outcomes the database cannot take (an error caused by the
    /// data), or refuses during a stop: those jobs stay `running`, and the
    /// stop leaves this client's liveness file unlocked for the rescuer,
    /// which recovers them at once.
    fn give_up(&self, updates: &[JobUpdate], e: &Error) -> Vec<Written> {
        self.outcomes_lost.store(true, Ordering::SeqCst);
        log::error!(
            "riverlite: giving up writing {} job outcome(s) ({e}); the rescuer will retry those jobs",
            updates.len()
        );
        vec![Written::Nothing; updates.len()]
    }

    /// Retries what may pass (a lock held by another process, an exhausted
    /// pool, an I/O error) for as long as the client runs: its jobs keep
    /// their place (and their capacity) until the outcome is written, since
    /// no rescuer recovers the jobs of a live client. Once the client is
    /// stopping, one more refusal ends it. Errors caused by the data return
    /// at once.
    fn write_retrying<T>(
        &self,
        mut write: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut backoff = Duration::from_millis(10);
        let mut refusals = 0u64;
        loop {
            let last_try = self.stopping.load(Ordering::SeqCst);
            match self.db.write(&mut write) {
                Err(e) if !e.is_caused_by_data() && !last_try => {
                    refusals += 1;
                    // Once per doubling, so a lock held for an hour logs a dozen lines.
                    if refusals.is_power_of_two() {
                        log::warn!(
                            "riverlite: writing job outcomes refused {refusals} time(s), \
                             still retrying: {e}"
                        );
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(COMPLETER_MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }
}

/// Logs a failure: a warning for a retry, an error for a discard.
fn log_failure(row: &JobRow, update: &JobUpdate) {
    let Some(error) = &update.error else { return };
    match (update.state, update.scheduled_at) {
        (JobState::Discarded, _) => log::error!(
            "riverlite: job {} ({}) discarded after {} attempts: {}",
            update.id,
            row.kind,
            update.attempt,
            error.error
        ),
        (_, Some(at)) => log::warn!(
            "riverlite: job {} ({}) attempt {} failed, retrying at {at}: {}",
            update.id,
            row.kind,
            update.attempt,
            error.error
        ),
        _ => {}
    }
}

/// The event for one written outcome; `job` is the row as written.
fn event(c: &Completion, job: JobRow, kind: EventKind, committed: Instant) -> Event {
    // Waiting time of the attempt that just ran, from the row as claimed.
    let queue_wait = c
        .row
        .attempted_at
        .and_then(|at| (at - c.row.scheduled_at).to_std().ok())
        .unwrap_or_default();
    Event {
        kind,
        stats: Some(JobStats {
            queue_wait,
            run_duration: c.finished.duration_since(c.started),
            complete_duration: committed.duration_since(c.finished),
        }),
        queue: Some(job.queue.clone()),
        job: Some(job),
    }
}
