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
    /// Ids of jobs whose outcome the completer has written.
    pub done: Receiver<Vec<(i64, u64)>>,
    /// Closed when the client stops.
    pub stop: Receiver<()>,
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
        queue: &str,
        max_workers: usize,
        context: Arc<WorkerContext>,
    ) -> Producer {
        Producer {
            index,
            queue: queue.to_string(),
            max_workers,
            running: Arc::new(RunningJobs::default()),
            context,
        }
    }

    /// Its running jobs, for `stop()` to cancel or name.
    pub(crate) fn running(&self) -> Arc<RunningJobs> {
        self.running.clone()
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
                    should_fetch = self.fetch(&mut pool, capacity);
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
                recv(channels.done) -> ids => {
                    let Ok(mut finished) = ids else {
                        // Only a dead completer closes this channel: outcomes
                        // can no longer be written, so claim nothing more.
                        log::error!("riverlite: the completer stopped; producer {:?} stops", self.queue);
                        break;
                    };
                    finished.extend(channels.done.try_iter().flatten());
                    let mut running = self.running.lock();
                    for (id, claim) in finished {
                        if running.get(&id).is_some_and(|control| control.claim() == claim) {
                            running.remove(&id);
                        }
                    }
                }
                recv(channels.wake) -> _ => should_fetch = true,
                recv(stop) -> _ => stopping = true,
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
    fn fetch(&self, pool: &mut WorkerPool, capacity: usize) -> bool {
        let context = &self.context;
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
        let full = jobs.len() == capacity;
        let controls: Vec<Arc<JobControl>> = {
            let mut running = self.running.lock();
            jobs.iter()
                .map(|claimed| {
                    let control = Arc::new(JobControl::for_new_claim());
                    running.insert(claimed.row.id, control.clone());
                    control
                })
                .collect()
        };
        for (claimed, control) in jobs.into_iter().zip(controls) {
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
        full
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
