//! The completer: writes job outcomes in batches, then tells producers and subscribers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};

use crate::db::jobs::{self, JobUpdate};
use crate::db::time::after;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::event::{Event, EventBus, EventKind, JobStats};
use crate::job::{AttemptError, JobRow, JobState};
use crate::retry::{next_retry_or_default, RetryPolicy};
use crate::worker::{WorkErrorKind, WorkOutcome};

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 4096;

/// How long the completer keeps retrying a batch the database refuses before
/// it gives up and leaves those jobs to the rescuer.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// One finished attempt, sent by a worker thread.
pub(crate) struct Completion {
    /// Index of the producer (queue) that owns the job.
    pub producer_index: usize,
    pub row: JobRow,
    pub outcome: WorkOutcome,
    /// Someone called `job_cancel` on the job while it ran.
    pub cancel_requested: bool,
    /// The claim's token, handed back with the id when the outcome is written.
    pub claim: u64,
    pub started: Instant,
    pub finished: Instant,
}

/// Writes job outcomes in batches, then frees the producers' capacity and
/// sends events.
pub(crate) struct Completer {
    pub db: Arc<Db>,
    pub events: Arc<EventBus>,
    pub retry_policy: Arc<dyn RetryPolicy>,
    /// Retries due within this go straight to `available` (the scheduler's interval).
    pub available_within: Duration,
    /// One sender per producer, to hand back the (id, attempt) of finished jobs.
    pub done: Vec<Sender<Vec<(i64, u64)>>>,
    /// Set when outcomes could not be written (those jobs stay `running`
    /// for the rescuer), so a stop keeps this client's liveness file.
    pub outcomes_lost: Arc<AtomicBool>,
}

fn error_entry(now: DateTime<Utc>, attempt: i64, error: String) -> Option<AttemptError> {
    Some(AttemptError::new(now, attempt, error))
}

impl Completer {
    /// Runs until every sender of `rx` is gone, then returns.
    pub(crate) fn run(self, rx: Receiver<Completion>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(MAX_BATCH - 1));
            self.complete_batch(batch);
        }
    }

    fn complete_batch(&self, batch: Vec<Completion>) {
        let now = crate::db::time::to_stored_precision(Utc::now());
        let (updates, kinds): (Vec<JobUpdate>, Vec<EventKind>) =
            batch.iter().map(|c| self.decide(c, now)).unzip();
        let written = self.write(&updates, now);
        let committed = Instant::now();

        let mut done: Vec<Vec<(i64, u64)>> = vec![Vec::new(); self.done.len()];
        for c in &batch {
            if let Some(ids) = done.get_mut(c.producer_index) {
                ids.push((c.row.id, c.claim));
            }
        }
        for (sender, ids) in self.done.iter().zip(done) {
            if !ids.is_empty() {
                let _ = sender.send(ids);
            }
        }
        // Events only for what was written, in the state that was written.
        let wanted = self.events.wanted();
        if wanted.is_empty() {
            return;
        }
        for (((c, update), kind), state) in batch.into_iter().zip(updates).zip(kinds).zip(written) {
            let Some(state) = state else { continue };
            let kind = if state == JobState::Cancelled {
                EventKind::JobCancelled
            } else {
                kind
            };
            if wanted.contains(&kind) {
                let mut job = c.row.clone();
                update.apply_to(&mut job, state, now);
                self.events.emit(event(&c, job, kind, committed));
            }
        }
    }

    /// Writes a batch: the state written for each update, or `None` where
    /// the guard let it pass or the write was given up.
    fn write(&self, updates: &[JobUpdate], now: DateTime<Utc>) -> Vec<Option<JobState>> {
        let deadline = Instant::now() + GIVE_UP_AFTER;
        match self.write_retrying(updates, now, deadline) {
            Ok(states) => states,
            // Some row cannot be written: write them one by one, so that
            // one bad row does not hold back the others.
            Err(e) if updates.len() > 1 && e.is_caused_by_data() => updates
                .iter()
                .flat_map(|u| self.write_or_give_up(std::slice::from_ref(u), now, deadline))
                .collect(),
            Err(e) => self.give_up(updates, &e),
        }
    }

    fn write_or_give_up(
        &self,
        updates: &[JobUpdate],
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Vec<Option<JobState>> {
        self.write_retrying(updates, now, deadline)
            .unwrap_or_else(|e| self.give_up(updates, &e))
    }

    /// Past GIVE_UP_AFTER those jobs stay `running`; the client's stop then
    /// leaves its liveness file for the rescuer, which recovers them.
    fn give_up(&self, updates: &[JobUpdate], e: &Error) -> Vec<Option<JobState>> {
        self.outcomes_lost.store(true, Ordering::SeqCst);
        log::error!(
            "riverlite: giving up writing {} job outcome(s) ({e}); the rescuer will retry those jobs",
            updates.len()
        );
        vec![None; updates.len()]
    }

    /// Retries what may pass (a lock held by another process, an exhausted
    /// pool, an I/O error) until `deadline`; errors caused by the data
    /// return at once.
    fn write_retrying(
        &self,
        updates: &[JobUpdate],
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Vec<Option<JobState>>> {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.db.write(|tx| jobs::complete(tx, updates, now)) {
                Err(e) if !e.is_caused_by_data() && Instant::now() < deadline => {
                    log::warn!(
                        "riverlite: writing {} job outcomes failed, retrying: {e}",
                        updates.len()
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// Turns one outcome into the row update River's semantics call for.
    fn decide(&self, c: &Completion, now: DateTime<Utc>) -> (JobUpdate, EventKind) {
        let row = &c.row;
        let mut update = JobUpdate {
            id: row.id,
            attempt: row.attempt,
            state: JobState::Completed,
            scheduled_at: None,
            finalized_at: Some(now),
            error: None,
            snoozed: false,
        };
        let failure = match &c.outcome.result {
            Ok(()) => return (update, EventKind::JobCompleted),
            Err(WorkErrorKind::Snooze(delay)) => {
                update.state = self.waiting_state(*delay);
                update.scheduled_at = Some(after(now, *delay));
                update.finalized_at = None;
                update.snoozed = true;
                return (update, EventKind::JobSnoozed);
            }
            Err(WorkErrorKind::Cancel(reason)) => {
                update.state = JobState::Cancelled;
                update.error = error_entry(now, row.attempt, format!("cancelled: {reason}"));
                return (update, EventKind::JobCancelled);
            }
            Err(WorkErrorKind::Failure(message)) => message,
        };
        if c.cancel_requested {
            update.state = JobState::Cancelled;
            update.error =
                error_entry(now, row.attempt, format!("cancelled by request: {failure}"));
            return (update, EventKind::JobCancelled);
        }
        let message = if c.outcome.timed_out {
            format!("{failure} (the job's timeout had passed)")
        } else {
            failure.clone()
        };
        update.error = error_entry(now, row.attempt, message.clone());
        if row.attempt >= row.max_attempts {
            log::error!(
                "riverlite: job {} ({}) discarded after {} attempts: {message}",
                row.id,
                row.kind,
                row.attempt
            );
            update.state = JobState::Discarded;
            return (update, EventKind::JobFailed);
        }
        let retry_at = c
            .outcome
            .next_retry
            .unwrap_or_else(|| next_retry_or_default(&*self.retry_policy, row, now));
        log::warn!(
            "riverlite: job {} ({}) attempt {} failed, retrying at {retry_at}: {message}",
            row.id,
            row.kind,
            row.attempt
        );
        let delay = (retry_at - now).to_std().unwrap_or_default();
        update.state = self.waiting_state(delay);
        if update.state == JobState::Scheduled {
            update.state = JobState::Retryable;
        }
        update.scheduled_at = Some(retry_at);
        update.finalized_at = None;
        (update, EventKind::JobFailed)
    }

    /// A job due soon goes straight to `available` (claims only take due
    /// jobs); a later one waits for the scheduler.
    fn waiting_state(&self, delay: Duration) -> JobState {
        if delay <= self.available_within {
            JobState::Available
        } else {
            JobState::Scheduled
        }
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
