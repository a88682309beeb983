//! The worker pool of one queue: threads started on demand up to max_workers, each running jobs and sending their outcomes to the completer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::db::Db;
use crate::engine::completer::{Attempted, Completion};
use crate::engine::registry::WorkerRegistry;
use crate::error::Error;
use crate::model::timing::GROW_AFTER;
use crate::model::{failed, JobControl, JobRow, TestSignals};

std::thread_local! {
    /// The owner token of the client run whose worker this thread is (0: none).
    static WORKER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A token no other started client run has, for [`WorkerContext::owner`].
pub(crate) fn next_owner_token() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether the calling thread is a worker thread of the run with this token
/// (so a `stop()` from it must not wait for its own job).
pub(crate) fn is_worker_thread_of(owner: usize) -> bool {
    WORKER_OF.with(|current| current.get() == owner)
}

/// What a client's producers and worker threads share.
pub(crate) struct WorkerContext {
    /// This client run's token, carried by its worker threads.
    pub owner: usize,
    /// The database.
    pub db: Arc<Db>,
    /// The client's id, recorded in `attempted_by` of each claim.
    pub client_id: String,
    /// How often producers look for due jobs when nothing woke them.
    pub poll_interval: Duration,
    /// The workers, by kind.
    pub workers: Arc<WorkerRegistry>,
    /// The client's job timeout, for workers that do not choose one.
    pub default_timeout: Option<Duration>,
    /// Where finished attempts go.
    pub completer: Sender<Completion>,
    /// Signals for tests.
    pub signals: Arc<TestSignals>,
}

struct Dispatch {
    row: JobRow,
    control: Arc<JobControl>,
}

/// What the worker threads of one queue share.
struct PoolShared {
    receiver: Receiver<Dispatch>,
    idle: AtomicUsize,
    threads: AtomicUsize,
    max: usize,
    producer_index: usize,
    queue: String,
    context: Arc<WorkerContext>,
    /// Each thread holds a clone; the pool has shut down once all are gone.
    alive: Mutex<Option<Sender<()>>>,
}

/// Worker threads of one queue: started on demand, up to max_workers.
pub(crate) struct WorkerPool {
    sender: Option<Sender<Dispatch>>,
    shared: Arc<PoolShared>,
    all_exited: Receiver<()>,
    /// Since when jobs have waited with no idle thread.
    starved_since: Option<Instant>,
}

impl WorkerPool {
    pub(crate) fn new(
        producer: usize,
        queue: &str,
        max: usize,
        context: Arc<WorkerContext>,
    ) -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (alive, all_exited) = crossbeam_channel::bounded(0);
        WorkerPool {
            sender: Some(sender),
            shared: Arc::new(PoolShared {
                receiver,
                idle: AtomicUsize::new(0),
                threads: AtomicUsize::new(0),
                max,
                producer_index: producer,
                queue: queue.to_string(),
                context,
                alive: Mutex::new(Some(alive)),
            }),
            all_exited,
            starved_since: None,
        }
    }

    /// Whether jobs wait with no idle thread to take them.
    fn is_starved(&self) -> bool {
        !self.shared.receiver.is_empty() && self.shared.idle.load(Ordering::Acquire) == 0
    }

    /// Grows the pool when jobs have been starved for GROW_AFTER; returns
    /// how soon to check again (None when nothing waits).
    pub(crate) fn grow_if_starved(&mut self) -> Option<Duration> {
        if !self.is_starved() {
            self.starved_since = None;
            return None;
        }
        let since = *self.starved_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= GROW_AFTER {
            let threads = self.shared.threads.load(Ordering::Acquire).max(1);
            for _ in 0..threads.min(self.shared.receiver.len()) {
                spawn_worker(&self.shared);
            }
            self.starved_since = Some(Instant::now());
        }
        Some(GROW_AFTER)
    }

    pub(crate) fn dispatch(&mut self, row: JobRow, control: Arc<JobControl>) {
        if let Some(sender) = &self.sender {
            // The pool holds the receiver, so the channel cannot be closed here.
            let _ = sender.send(Dispatch { row, control });
        }
        if self.shared.idle.load(Ordering::Acquire) == 0
            && self.shared.threads.load(Ordering::Acquire) == 0
        {
            spawn_worker(&self.shared);
        }
    }

    /// Closes the job channel and waits for the (idle) threads to exit.
    pub(crate) fn shut_down(&mut self) {
        self.sender = None;
        let alive = self
            .shared
            .alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(alive);
        let _ = self.all_exited.recv();
    }
}

/// Starts one more worker thread, unless the pool is at max_workers.
fn spawn_worker(shared: &Arc<PoolShared>) {
    let reserved = shared
        .threads
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < shared.max).then_some(n + 1)
        });
    let Ok(n) = reserved else { return };
    let Some(alive) = shared
        .alive
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    else {
        return;
    };
    let pool = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("riverlite-{}-{n}", shared.queue))
        .spawn(move || {
            work_loop(&pool);
            drop(alive);
        });
    if let Err(e) = spawned {
        shared.threads.fetch_sub(1, Ordering::AcqRel);
        log::error!("riverlite: cannot start a worker thread: {e}");
    }
}

fn work_loop(pool: &Arc<PoolShared>) {
    let context = &pool.context;
    WORKER_OF.with(|current| current.set(context.owner));
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let next = pool.receiver.recv();
        pool.idle.fetch_sub(1, Ordering::AcqRel);
        let Ok(job) = next else { return };
        let started = Instant::now();
        let control = job.control.clone();
        let (row, outcome) = match context.workers.get(job.row.kind.as_str()) {
            Some(worker) => worker.run(job.row, job.control, context.default_timeout),
            None => {
                let message = Error::UnknownJobKind(job.row.kind.clone()).to_string();
                (job.row, failed(message))
            }
        };
        let completion = Completion {
            producer_index: pool.producer_index,
            row,
            outcome: Attempted::Worked(outcome),
            cancel_requested: control.cancel_requested(),
            claim: control.claim(),
            started,
            finished: Instant::now(),
        };
        if context.completer.send(completion).is_err() {
            log::error!("riverlite: the completer is gone; the rescuer will recover this job");
        }
    }
}
