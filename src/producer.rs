//! Producers: one per queue, claiming jobs as capacity frees and handing them to worker threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{select, Receiver, Sender};

use crate::completer::Completion;
use crate::db::{jobs, Db};
use crate::job::{JobControl, JobRow};
use crate::worker::{failed, AnyWorker};

/// How often a producer asks the database whether someone cancelled one of
/// its running jobs (so remote cancellation is seen within a second).
const CANCEL_CHECK_INTERVAL: Duration = Duration::from_millis(400);

/// Longest a producer holds back a small claim while it lets capacity gather.
const FETCH_COOLDOWN: Duration = Duration::from_millis(20);

/// The jobs a producer has running, shared with `stop()` (to cancel them,
/// or to name them when a stop times out).
///
/// Each entry's control carries its claim token: a job snoozed or rescued
/// and claimed again by this client is a new claim, which the old claim's
/// outcome must not end.
#[derive(Default)]
pub(crate) struct RunningJobs(Mutex<HashMap<i64, Arc<JobControl>>>);

impl RunningJobs {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<i64, Arc<JobControl>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flags every running job as cancelled (for `stop_and_cancel`).
    pub(crate) fn cancel_all(&self) {
        self.lock().values().for_each(|control| control.cancel());
    }

    pub(crate) fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

/// What worker threads share.
pub(crate) struct WorkerContext {
    pub workers: Arc<HashMap<&'static str, Arc<dyn AnyWorker>>>,
    pub default_timeout: Option<Duration>,
    pub completer: Sender<Completion>,
}

struct Dispatch {
    row: JobRow,
    control: Arc<JobControl>,
}

/// Jobs waiting this long for a thread, with none idle, make the pool grow
/// (doubling each time). Short jobs then run on a few busy threads with no
/// hand-off per job, and slow ones reach max_workers threads within tens of
/// milliseconds.
const GROW_AFTER: Duration = Duration::from_millis(2);

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
struct WorkerPool {
    sender: Option<Sender<Dispatch>>,
    shared: Arc<PoolShared>,
    all_exited: Receiver<()>,
    /// Since when jobs have waited with no idle thread.
    starved_since: Option<Instant>,
}

impl WorkerPool {
    fn new(producer: usize, queue: &str, max: usize, context: Arc<WorkerContext>) -> Self {
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
    fn grow_if_starved(&mut self) -> Option<Duration> {
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

    fn dispatch(&mut self, row: JobRow, control: Arc<JobControl>) {
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
    fn shut_down(&mut self) {
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
                let message = crate::error::Error::UnknownJobKind(job.row.kind.clone()).to_string();
                (job.row, failed(message))
            }
        };
        let completion = Completion {
            producer_index: pool.producer_index,
            row,
            outcome,
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
    pub index: usize,
    pub queue: String,
    pub max_workers: usize,
    pub client_id: String,
    pub db: Arc<Db>,
    pub poll_interval: Duration,
    pub running: Arc<RunningJobs>,
    pub context: Arc<WorkerContext>,
}

impl Producer {
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
                CANCEL_CHECK_INTERVAL.min(self.poll_interval)
            } else {
                self.poll_interval
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
        let claimed = self
            .db
            .write(|tx| jobs::claim(tx, &self.queue, &self.client_id, capacity, Utc::now()));
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
                .map(|row| {
                    let control = Arc::new(JobControl::for_new_claim());
                    running.insert(row.id, control.clone());
                    control
                })
                .collect()
        };
        for (row, control) in jobs.into_iter().zip(controls) {
            pool.dispatch(row, control);
        }
        full
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

/// The wake channels of a client's producers, one per queue: what an
/// insert, the watcher or the periodic enqueuer uses to say "jobs may be
/// available now".
#[derive(Clone, Default)]
pub(crate) struct Wakers(Arc<[(String, Sender<()>)]>);

impl Wakers {
    /// One channel per queue; the receivers go to the producers, in order.
    pub(crate) fn for_queues<'a>(
        queues: impl Iterator<Item = &'a str>,
    ) -> (Wakers, Vec<Receiver<()>>) {
        let (senders, receivers): (Vec<_>, Vec<_>) = queues
            .map(|queue| {
                let (tx, rx) = crossbeam_channel::bounded(1);
                ((queue.to_string(), tx), rx)
            })
            .unzip();
        (Wakers(senders.into()), receivers)
    }

    /// Wakes the producer of `queue`, if this client works it.
    pub(crate) fn wake(&self, queue: &str) {
        if let Some((_, waker)) = self.0.iter().find(|(q, _)| q == queue) {
            let _ = waker.try_send(());
        }
    }

    /// Wakes every producer.
    pub(crate) fn wake_all(&self) {
        for (_, waker) in self.0.iter() {
            let _ = waker.try_send(());
        }
    }
}

/// Wakes every producer when another connection (an insert from another
/// process, a resume, a cancel) commits, by watching `PRAGMA data_version`
/// on one connection: the cross-process half of the one wake-up path.
pub(crate) fn watch_database(db: Arc<Db>, wakers: Wakers, interval: Duration, stop: Receiver<()>) {
    // Its own connection, outside the pool: it is held for the client's life.
    let conn = match db.dedicated_connection() {
        Ok(conn) => conn,
        Err(e) => {
            log::warn!("riverlite: cannot watch the database for changes, polling only: {e}");
            return;
        }
    };
    let mut last = crate::db::data_version(&conn).unwrap_or_default();
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        match crate::db::data_version(&conn) {
            Ok(version) if version != last => {
                last = version;
                wakers.wake_all();
            }
            Ok(_) => {}
            Err(e) => log::warn!("riverlite: reading data_version failed: {e}"),
        }
    }
}
