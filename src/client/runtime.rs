//! The working lifecycle of a client: starting producers, the completer, the watcher and the elector, and stopping them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::Client;
use crate::completer::Completer;
use crate::db;
use crate::error::{Error, Result};
use crate::job::JobState;
use crate::leader::{Elector, LivenessLock, LockPaths};
use crate::maintenance::{
    rescue_leftovers_of, Cleaner, Maintenance, PeriodicEnqueuer, Rescuer, Scheduler, Timer,
};
use crate::producer::{Producer, ProducerChannels, RunningJobs, WorkerContext};

/// How often a started client checks `PRAGMA data_version` for other
/// connections' writes (a cheap read; it bounds cross-process wake-up latency).
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

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
        // Jobs this id left running in an earlier run are orphans now,
        // unless that run still holds its liveness lock (a stop that timed
        // out, its jobs still working in this process).
        if let Some(paths) = &lock_paths {
            if !crate::leader::is_alive(paths, &inner.config.id) {
                rescue_leftovers_of(&inner.db, &inner.config.id, now)?;
            }
        }
        let liveness = match &lock_paths {
            Some(paths) => Some(LivenessLock::acquire(paths, &inner.config.id)?),
            None => None,
        };

        // Dropping stop_tx (at stop, or on an early return here) ends every thread.
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let outcomes_lost = Arc::new(AtomicBool::new(false));
        let (completion_tx, completion_rx) = crossbeam_channel::unbounded();
        let (done_txs, done_rxs) = inner
            .queues
            .iter()
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        let completer = Completer {
            db: inner.db.clone(),
            events: inner.events.clone(),
            retry_policy: inner.config.retry_policy.clone(),
            available_within: inner.config.maintenance.scheduler_interval,
            done: done_txs,
            outcomes_lost: outcomes_lost.clone(),
        };
        let mut threads = vec![spawn("riverlite-completer", move || {
            completer.run(completion_rx)
        })?];
        let context = WorkerContext {
            workers: inner.workers.clone(),
            default_timeout: inner.config.job_timeout,
            completer: completion_tx,
        };
        let (running, producers_alive) =
            self.spawn_producers(context, done_rxs, &stop_rx, &mut threads)?;
        if inner.db.file().is_some() {
            let (db, wakers, stop) = (inner.db.clone(), inner.wakers.clone(), stop_rx.clone());
            threads.push(spawn("riverlite-watcher", move || {
                crate::producer::watch_database(db, wakers, WATCH_INTERVAL, stop)
            })?);
        }
        let elector = self.elector(lock_paths);
        let nudge = inner.nudge.1.clone();
        threads.push(spawn("riverlite-leader", move || {
            elector.run(stop_rx, nudge)
        })?);
        *runtime = Some(Runtime {
            stop: stop_tx,
            producers_alive,
            running,
            threads,
            liveness,
            outcomes_lost,
        });
        Ok(())
    }

    /// Starts one producer per queue. Returns each one's running jobs and a
    /// channel that disconnects once every producer has exited.
    fn spawn_producers(
        &self,
        context: WorkerContext,
        done: Vec<Receiver<Vec<(i64, u64)>>>,
        stop: &Receiver<()>,
        threads: &mut Vec<JoinHandle<()>>,
    ) -> Result<(Vec<Arc<RunningJobs>>, Receiver<()>)> {
        let inner = &self.inner;
        let context = Arc::new(context);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        let mut running = Vec::new();
        for (index, ((queue, config), done)) in inner.queues.iter().zip(done).enumerate() {
            let jobs = Arc::new(RunningJobs::default());
            running.push(jobs.clone());
            let producer = Producer {
                index,
                queue: queue.clone(),
                max_workers: config.max_workers,
                client_id: inner.config.id.clone(),
                db: inner.db.clone(),
                poll_interval: inner.config.poll_interval,
                running: jobs,
                context: context.clone(),
            };
            let channels = ProducerChannels {
                wake: inner.wake_receivers[index].clone(),
                done,
                stop: stop.clone(),
            };
            let alive = alive_tx.clone();
            threads.push(spawn(&format!("riverlite-producer-{queue}"), move || {
                producer.run(channels);
                drop(alive);
            })?);
        }
        Ok((running, alive_rx))
    }

    /// Stops gracefully: stops claiming, waits for running jobs to finish and
    /// their outcomes to be written, then returns. With a `stop_timeout`
    /// configured, returns `Error::StopTimeout` naming the jobs still running
    /// once it passes (the rescuer recovers them if the process exits).
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
        drop(runtime.stop);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let waited = match deadline {
            Some(deadline) => runtime
                .producers_alive
                .recv_deadline(deadline)
                .is_err_and(|e| e.is_disconnected()),
            None => runtime.producers_alive.recv().is_err(),
        };
        if !waited {
            if let Some(liveness) = runtime.liveness {
                liveness.keep_until_exit();
            }
            let job_ids = runtime.running.iter().flat_map(|r| r.ids()).collect();
            return Err(Error::StopTimeout { job_ids });
        }
        // A thread that panicked may have left outcomes unwritten.
        let panicked = runtime.threads.into_iter().any(|t| t.join().is_err());
        if let Some(liveness) = runtime.liveness {
            if panicked || runtime.outcomes_lost.load(Ordering::SeqCst) {
                // Jobs may still be `running`: unlock without removing the
                // file, so the leader sees them orphaned and rescues them.
                liveness.unlock_for_rescue();
            } else {
                liveness.release();
            }
        }
        Ok(())
    }

    fn elector(&self, paths: Option<LockPaths>) -> Elector {
        let inner = &self.inner;
        let m = &inner.config.maintenance;
        let wakers = inner.wakers.clone();
        Elector {
            client_id: inner.config.id.clone(),
            db: inner.db.clone(),
            paths: paths.clone(),
            interval: m.election_interval,
            is_leader: inner.is_leader.clone(),
            events: inner.events.clone(),
            maintenance: Maintenance {
                scheduler: Scheduler {
                    db: inner.db.clone(),
                    timer: Timer::new(m.scheduler_interval),
                },
                rescuer: Rescuer {
                    db: inner.db.clone(),
                    timer: Timer::new(m.rescuer_interval),
                    rescue_after: m.rescue_stuck_jobs_after,
                    default_timeout: inner.config.job_timeout,
                    workers: inner.workers.clone(),
                    retry_policy: inner.config.retry_policy.clone(),
                    is_alive: {
                        let (paths, own_id) = (paths.clone(), inner.config.id.clone());
                        Box::new(move |id: &str| {
                            id == own_id
                                || paths
                                    .as_ref()
                                    .is_some_and(|p| crate::leader::is_alive(p, id))
                        })
                    },
                },
                cleaner: Cleaner {
                    db: inner.db.clone(),
                    timer: Timer::new(m.cleaner_interval),
                    retention: [
                        (JobState::Completed, m.completed_retention),
                        (JobState::Cancelled, m.cancelled_retention),
                        (JobState::Discarded, m.discarded_retention),
                    ],
                },
                periodic: PeriodicEnqueuer::new(
                    inner.db.clone(),
                    inner.periodic.clone(),
                    inner.config.insert_defaults.clone(),
                    wakers,
                ),
            },
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)?)
}
