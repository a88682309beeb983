//! The working lifecycle of a client: starting producers, the completer, the watcher and the elector, and stopping them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::Client;
use crate::db;
use crate::engine::{
    is_worker_thread_of, next_owner_token, watch_database, Completer, Handoff, Listener, Producer,
    ProducerChannels, RunningJobs, WorkerContext,
};
use crate::error::{Error, Result};
use crate::leader::{
    is_alive, rescue_leftovers_of, Cleaner, DurableSchedules, Elector, LivenessLock, LockPaths,
    Maintenance, PeriodicEnqueuer, Rescuer, Scheduler,
};
use crate::model::OutcomeRules;

/// The threads of a started client.
pub(super) struct Runtime {
    /// Dropped to tell every service to stop.
    stop: Sender<()>,
    /// Disconnects once every producer has exited.
    producers_alive: Receiver<()>,
    running: Vec<Arc<RunningJobs>>,
    threads: Vec<JoinHandle<()>>,
    /// Held while started (file databases only).
    liveness: Option<LivenessLock>,
    /// Set by the completer if it gave up writing outcomes.
    outcomes_lost: Arc<AtomicBool>,
    /// Tells the completer the client is stopping (see `Completer::stopping`).
    completer_stopping: Arc<AtomicBool>,
    /// The token this run's worker threads carry (see `is_worker_thread_of`).
    owner: usize,
}

impl Client {
    fn runtime(&self) -> MutexGuard<'_, Option<Runtime>> {
        self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts working: a producer per queue, worker threads, the completer,
    /// and the watcher that notices other processes' inserts.
    /// `Error::InsertOnly` on an insert-only client.
    pub fn start(&self) -> Result<()> {
        if self.is_insert_only() {
            return Err(Error::InsertOnly(
                "start() needs queues and workers; build the client with .queue(..) and .worker(..)",
            ));
        }
        let mut runtime = self.runtime();
        if runtime.is_some() {
            return Err(Error::AlreadyStarted);
        }
        let inner = &self.inner;
        let now = self.now();
        inner.db.write(|tx| {
            inner
                .queues
                .iter()
                .try_for_each(|(name, _)| db::queues::register(tx, name, now))
        })?;
        let lock_paths = match inner.db.file() {
            Some(file) => Some(LockPaths::for_database(file)?),
            None => None,
        };
        if let Some(paths) = &lock_paths {
            // A live client holds this id (another process, or a stop here
            // that timed out with its jobs still running): sharing it would
            // make one client's jobs look like the other's.
            if is_alive(paths, &inner.config.id) {
                return Err(Error::ClientIdInUse(inner.config.id.clone()));
            }
            // Jobs this id left running in an earlier run are orphans now.
            let rules = OutcomeRules {
                retry_policy: &*inner.config.retry_policy,
                available_within: inner.config.maintenance.scheduler_interval,
            };
            rescue_leftovers_of(&inner.db, &inner.config.id, rules, now)?;
        }
        let liveness = match &lock_paths {
            Some(paths) => Some(LivenessLock::acquire(paths, &inner.config.id)?),
            None => None,
        };

        // Dropping stop_tx (at stop, or on an early return here) ends every thread.
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (completion_tx, completion_rx) = crossbeam_channel::unbounded();
        let running: Vec<Arc<RunningJobs>> = inner
            .queues
            .iter()
            .map(|(queue, config)| Arc::new(RunningJobs::new(queue, config.max_workers)))
            .collect();
        let (done_txs, done_rxs): (Vec<_>, Vec<_>) = inner
            .queues
            .iter()
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        let completer = Completer::new(
            inner.db.clone(),
            inner.events.clone(),
            inner.config.retry_policy.clone(),
            inner.config.maintenance.scheduler_interval,
            running.iter().cloned().zip(done_txs).collect(),
            &inner.config.id,
        );
        let outcomes_lost = completer.outcomes_lost();
        let completer_stopping = completer.stopping();
        let mut threads = vec![spawn("riverlite-completer", move || {
            completer.run(completion_rx)
        })?];
        let owner = next_owner_token();
        let context = WorkerContext {
            owner,
            db: inner.db.clone(),
            client_id: inner.config.id.clone(),
            poll_interval: inner.config.poll_interval,
            workers: inner.workers.clone(),
            default_timeout: inner.config.job_timeout,
            completer: completion_tx,
            signals: inner.signals.clone(),
        };
        let producers_alive =
            self.spawn_producers(context, &running, done_rxs, &stop_rx, &mut threads)?;
        let (leadership_tx, leadership_rx) = crossbeam_channel::bounded(16);
        if inner.db.file().is_some() {
            let (db, wakers, stop) = (inner.db.clone(), inner.wakers.clone(), stop_rx.clone());
            let listener = Listener {
                running: running.clone(),
                leadership: leadership_tx,
            };
            threads.push(spawn("riverlite-watcher", move || {
                watch_database(db, wakers, stop, listener)
            })?);
        }
        let elector = self.elector(lock_paths);
        let nudge = inner.nudge.1.clone();
        threads.push(spawn("riverlite-leader", move || {
            elector.run(stop_rx, nudge, leadership_rx)
        })?);
        *runtime = Some(Runtime {
            stop: stop_tx,
            producers_alive,
            running,
            threads,
            liveness,
            outcomes_lost,
            completer_stopping,
            owner,
        });
        Ok(())
    }

    /// Starts one producer per queue, over its `running` jobs. Returns a
    /// channel that disconnects once every producer has exited.
    fn spawn_producers(
        &self,
        context: WorkerContext,
        running: &[Arc<RunningJobs>],
        done: Vec<Receiver<Handoff>>,
        stop: &Receiver<()>,
        threads: &mut Vec<JoinHandle<()>>,
    ) -> Result<Receiver<()>> {
        let inner = &self.inner;
        let context = Arc::new(context);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        for (index, (running, done)) in running.iter().zip(done).enumerate() {
            let producer = Producer::new(index, running.clone(), context.clone());
            let channels = ProducerChannels {
                wake: inner.wake_receivers[index].clone(),
                done,
                stop: stop.clone(),
            };
            let alive = alive_tx.clone();
            let queue = &running.queue;
            threads.push(spawn(&format!("riverlite-producer-{queue}"), move || {
                producer.run(channels);
                drop(alive);
            })?);
        }
        Ok(alive_rx)
    }

    /// Stops gracefully: stops claiming, waits for running jobs to finish and
    /// their outcomes to be written, then returns. With a `stop_timeout`
    /// configured, returns `Error::StopTimeout` naming the jobs still running
    /// once it passes (the rescuer recovers them if the process exits).
    ///
    /// While a client runs, an outcome the database refuses (another process
    /// holds the write lock) is kept and retried until it is written. During
    /// a stop, an outcome still refused after one more wait of `busy_timeout`
    /// is left: its job stays `running`, and the stop releases this client's
    /// liveness lock, so the leader rescues the job at once.
    ///
    /// Called from inside one of this client's own jobs (directly, or by
    /// dropping the last `Client` there), `stop` cannot wait for that job:
    /// it returns `Ok` at once, and the client finishes stopping in the
    /// background once its running jobs have returned and their outcomes are
    /// written.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(false, self.inner.config.stop_timeout)
    }

    /// Like [`Client::stop`], with a deadline for this call.
    pub fn stop_timeout(&self, timeout: Duration) -> Result<()> {
        self.stop_with(false, Some(timeout))
    }

    /// Flags every running job as cancelled (`job.is_cancelled()` turns
    /// true), then stops like [`Client::stop`]. A job that then returns an
    /// error is recorded as a failure and retried, not cancelled.
    pub fn stop_and_cancel(&self) -> Result<()> {
        self.stop_with(true, self.inner.config.stop_timeout)
    }

    fn stop_with(&self, cancel: bool, timeout: Option<Duration>) -> Result<()> {
        let Some(runtime) = self.runtime().take() else {
            return Ok(());
        };
        if cancel {
            runtime.running.iter().for_each(|r| r.cancel_all());
        }
        if is_worker_thread_of(runtime.owner) {
            // Called from one of this client's own jobs (or by dropping the
            // last handle there): waiting would wait for that very job.
            // Stop in the background instead; it finishes once the job
            // returns and its outcome is written.
            let stopper = move || {
                if let Err(e) = runtime.finish(None) {
                    log::error!("riverlite: stopping from inside a job: {e}");
                }
            };
            return spawn("riverlite-stopper", stopper).map(drop);
        }
        runtime.finish(timeout)
    }
}

impl Runtime {
    /// Tells every thread to stop, waits for running jobs (until `timeout`,
    /// if any) and their outcomes, then releases the liveness lock.
    fn finish(self, timeout: Option<Duration>) -> Result<()> {
        drop(self.stop);
        // A stop must end, and an outcome the database refuses (another
        // process holds the write lock) might never pass: from now on each
        // gets one more try, after which the rescuer takes its job.
        self.completer_stopping.store(true, Ordering::SeqCst);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let waited = match deadline {
            Some(deadline) => self
                .producers_alive
                .recv_deadline(deadline)
                .is_err_and(|e| e.is_disconnected()),
            None => self.producers_alive.recv().is_err(),
        };
        if !waited {
            if let Some(liveness) = self.liveness {
                liveness.keep_until_exit();
            }
            let job_ids = self.running.iter().flat_map(|r| r.ids()).collect();
            return Err(Error::StopTimeout { job_ids });
        }
        // A thread that panicked may have left outcomes unwritten.
        let panicked = self.threads.into_iter().any(|t| t.join().is_err());
        if let Some(liveness) = self.liveness {
            if panicked || self.outcomes_lost.load(Ordering::SeqCst) {
                // Jobs may still be `running`: unlock without removing the
                // file, so the leader sees them orphaned and rescues them.
                liveness.unlock_for_rescue();
            } else {
                liveness.release();
            }
        }
        Ok(())
    }
}

impl Client {
    fn elector(&self, paths: Option<LockPaths>) -> Elector {
        let inner = &self.inner;
        let m = &inner.config.maintenance;
        let is_alive = {
            let (paths, own_id) = (paths.clone(), inner.config.id.clone());
            Box::new(move |id: &str| {
                id == own_id || paths.as_ref().is_some_and(|p| is_alive(p, id))
            })
        };
        let maintenance = Maintenance::new(
            Scheduler::new(inner.db.clone(), m.scheduler_interval),
            Rescuer::new(
                inner.db.clone(),
                m,
                inner.config.retry_policy.clone(),
                is_alive,
                inner.signals.clone(),
            ),
            Cleaner::new(inner.db.clone(), m, inner.signals.clone()),
            PeriodicEnqueuer::new(
                inner.db.clone(),
                inner.periodic.clone(),
                inner.config.insert_defaults.clone(),
                inner.wakers.clone(),
            ),
            DurableSchedules::new(
                inner.db.clone(),
                inner.config.insert_defaults.clone(),
                inner.wakers.clone(),
            ),
        );
        Elector::new(
            &inner.config.id,
            inner.db.clone(),
            paths,
            m.election_interval,
            inner.is_leader.clone(),
            inner.events.clone(),
            inner.signals.clone(),
            maintenance,
        )
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)?)
}
