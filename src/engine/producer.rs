//! Producers: one per queue, claiming jobs as capacity frees and handing them to the worker pool.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use crossbeam_channel::{select, Receiver};

use crate::db::jobs::{self, Claimed};
use crate::engine::completer::{Attempted, Completion};
use crate::engine::pool::{WorkerContext, WorkerPool};
use crate::engine::running::RunningJobs;
use crate::model::timing::{CANCEL_CHECK_INTERVAL, FETCH_COOLDOWN};
use crate::model::{JobControl, JobRow};

/// Channels a producer listens on.
pub(crate) struct ProducerChannels {
    /// Something may be available: an insert, another process's write, a resume.
    pub wake: Receiver<()>,
    /// The completer wrote outcomes of this queue's jobs (and ended their
    /// claims), and may have claimed the next jobs in the same transaction.
    pub done: Receiver<Handoff>,
    /// Closed when the client stops.
    pub stop: Receiver<()>,
}

/// What the completer hands a producer after writing outcomes of its jobs:
/// jobs it claimed for it in the same transaction, already counted as running.
pub(crate) struct Handoff {
    pub claimed: Vec<(Claimed, Arc<JobControl>)>,
}

/// One queue's producer.
pub(crate) struct Producer {
    index: usize,
    queue: String,
    max_workers: usize,
    running: Arc<RunningJobs>,
    context: Arc<WorkerContext>,
}

impl Producer {
    /// The producer of queue `queue`, the `index`-th of its client, running
    /// at most `max_workers` jobs at once.
    pub(crate) fn new(
        index: usize,
        running: Arc<RunningJobs>,
        context: Arc<WorkerContext>,
    ) -> Producer {
        Producer {
            index,
            queue: running.queue.clone(),
            max_workers: running.max_workers,
            running,
            context,
        }
    }

    /// Claims and dispatches until stopped, then waits for its running jobs'
    /// outcomes to be written and its worker threads to exit.
    pub(crate) fn run(self, channels: ProducerChannels) {
        let mut pool = WorkerPool::new(
            self.index,
            &self.queue,
            self.max_workers,
            self.context.clone(),
        );
        let mut stopping = false;
        let mut should_fetch = true;
        let mut last_fetch = Instant::now();
        let mut last_cancel_check = Instant::now();
        loop {
            let mut running = self.running.lock().len();
            let capacity = self.max_workers - running.min(self.max_workers);
            let mut timeout = if running > 0 {
                CANCEL_CHECK_INTERVAL.min(self.context.poll_interval)
            } else {
                self.context.poll_interval
            };
            if !stopping && should_fetch && capacity > 0 {
                // Small claims cost a transaction each: while jobs are
                // running, let capacity gather to a quarter of max_workers,
                // or for FETCH_COOLDOWN, before claiming again.
                if capacity >= self.min_claim()
                    || running == 0
                    || last_fetch.elapsed() >= FETCH_COOLDOWN
                {
                    should_fetch = self.fetch(&mut pool);
                    last_fetch = Instant::now();
                    running = self.running.lock().len();
                } else {
                    timeout = timeout.min(FETCH_COOLDOWN.saturating_sub(last_fetch.elapsed()));
                }
            }
            if stopping && running == 0 {
                break;
            }
            if let Some(recheck) = pool.grow_if_starved() {
                timeout = timeout.min(recheck);
            }
            let stop = if stopping {
                crossbeam_channel::never()
            } else {
                channels.stop.clone()
            };
            select! {
                recv(channels.done) -> handoff => {
                    let Ok(handoff) = handoff else {
                        // Only a dead completer closes this channel: outcomes
                        // can no longer be written, so claim nothing more.
                        log::error!("riverlite: the completer stopped; producer {:?} stops", self.queue);
                        break;
                    };
                    let handoffs = std::iter::once(handoff).chain(channels.done.try_iter());
                    for (claimed, control) in handoffs.flat_map(|h| h.claimed) {
                        self.start(&mut pool, claimed, control);
                    }
                    should_fetch = self.running.claiming().more_waiting;
                }
                recv(channels.wake) -> _ => should_fetch = true,
                recv(stop) -> _ => {
                    // Under the claim lock: the completer then claims nothing more.
                    self.running.claiming().stopping = true;
                    stopping = true;
                }
                default(timeout) => should_fetch = true,
            }
            if running > 0 && last_cancel_check.elapsed() >= CANCEL_CHECK_INTERVAL {
                last_cancel_check = Instant::now();
                self.flag_cancel_requests();
            }
        }
        pool.shut_down();
    }

    /// Claims up to the free capacity. Returns whether more may be waiting
    /// (the claim was full), so finishing jobs should trigger another claim.
    fn fetch(&self, pool: &mut WorkerPool) -> bool {
        let context = &self.context;
        let mut state = self.running.claiming();
        // Counted again under the claim lock: the completer may have claimed meanwhile.
        let capacity = self.running.capacity(&[]);
        if state.stopping || capacity == 0 {
            return state.more_waiting;
        }
        let claimed = context
            .db
            .write(|tx| jobs::claim(tx, &self.queue, &context.client_id, capacity, Utc::now()));
        context.signals.producer_fetched.signal();
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(e) => {
                log::warn!(
                    "riverlite: claiming from queue {:?} failed: {e}",
                    self.queue
                );
                return false;
            }
        };
        state.more_waiting = jobs.len() == capacity;
        let ids: Vec<i64> = jobs.iter().map(|c| c.row.id).collect();
        let controls = self.running.hand_over(&[], &ids);
        drop(state);
        for (claimed, control) in jobs.into_iter().zip(controls) {
            self.start(pool, claimed, control);
        }
        self.running.claiming().more_waiting
    }

    /// Runs a claimed job, or discards it if its row cannot be read.
    fn start(&self, pool: &mut WorkerPool, claimed: Claimed, control: Arc<JobControl>) {
        match claimed {
            Claimed {
                row,
                unreadable: None,
            } => pool.dispatch(row, control),
            Claimed {
                row,
                unreadable: Some(why),
            } => self.skip_unreadable(row, &control, why),
        }
    }

    /// Hands a job whose row cannot be read straight to the completer, which
    /// discards it: no worker could run it, and it must not hold up the queue.
    fn skip_unreadable(&self, row: JobRow, control: &JobControl, why: String) {
        log::error!(
            "riverlite: job {} ({}) cannot be read and is discarded: {why}",
            row.id,
            row.kind
        );
        let now = Instant::now();
        let completion = Completion {
            producer_index: self.index,
            row,
            outcome: Attempted::Unreadable(why),
            cancel_requested: false,
            claim: control.claim(),
            started: now,
            finished: now,
        };
        if self.context.completer.send(completion).is_err() {
            log::error!("riverlite: the completer is gone; the rescuer will recover this job");
        }
    }

    fn min_claim(&self) -> usize {
        (self.max_workers / 4).max(1)
    }

    /// Flags running jobs that someone cancelled through `job_cancel`.
    fn flag_cancel_requests(&self) {
        let ids = self.running.ids();
        if ids.is_empty() {
            return;
        }
        let requested = self
            .context
            .db
            .conn()
            .and_then(|conn| jobs::cancel_requested(&conn, &ids));
        match requested {
            Ok(ids) => {
                let running = self.running.lock();
                for id in ids {
                    if let Some(control) = running.get(&id) {
                        control.request_cancel();
                    }
                }
            }
            Err(e) => log::warn!("riverlite: checking for cancelled jobs failed: {e}"),
        }
    }
}
