//! The elector: takes the leader lock, records the lease in `river_leader`, and while leading drives the maintenance services.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossbeam_channel::{select, Receiver};

use crate::db::{self, Db};
use crate::leader::liveness::{dead_clients, sweep_dead, try_lock, LockPaths};
use crate::leader::maintenance::Maintenance;
use crate::model::timing::{LEADER_REFRESH, LEADER_TTL};
use crate::model::{time, Event, EventBus, EventKind, TestSignals};

/// Runs the election and, while leading, the maintenance services.
pub(crate) struct Elector {
    client_id: String,
    db: Arc<Db>,
    /// `None` for an in-memory database: no lock file, always the leader.
    paths: Option<LockPaths>,
    interval: Duration,
    is_leader: Arc<AtomicBool>,
    events: Arc<EventBus>,
    signals: Arc<TestSignals>,
    maintenance: Maintenance,
}

impl Drop for Elector {
    /// Even if the loop panicked, this client no longer leads.
    fn drop(&mut self) {
        self.is_leader.store(false, Ordering::SeqCst);
    }
}

impl Elector {
    /// The elector of client `client_id`: it tries the lock every
    /// `interval`, shows whether it leads in `is_leader`, reports gaining
    /// and losing the lead to `events`, and runs `maintenance` while leading.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client_id: &str,
        db: Arc<Db>,
        paths: Option<LockPaths>,
        interval: Duration,
        is_leader: Arc<AtomicBool>,
        events: Arc<EventBus>,
        signals: Arc<TestSignals>,
        maintenance: Maintenance,
    ) -> Elector {
        Elector {
            client_id: client_id.to_string(),
            db,
            paths,
            interval,
            is_leader,
            events,
            signals,
            maintenance,
        }
    }

    /// Loops until `stop` closes: tries the lock every `interval` while not
    /// leading; while leading, runs due services (and at once on `nudge`).
    pub(crate) fn run(mut self, stop: Receiver<()>, nudge: Receiver<()>) {
        let mut lock: Option<File> = None;
        let mut leading = false;
        let mut last_refresh = std::time::Instant::now();
        loop {
            if !leading {
                leading = match &self.paths {
                    None => true,
                    Some(paths) => match try_lock(&paths.leader) {
                        Ok(held) => {
                            lock = held;
                            lock.is_some()
                        }
                        Err(e) => {
                            log::warn!(
                                "riverlite: cannot take the leader lock {:?}: {e}",
                                paths.leader
                            );
                            false
                        }
                    },
                };
                if leading {
                    self.become_leader();
                    last_refresh = std::time::Instant::now();
                }
                self.signals.election_attempted.signal();
            }
            if leading {
                if last_refresh.elapsed() >= LEADER_REFRESH {
                    last_refresh = std::time::Instant::now();
                    self.write_record(false);
                }
                let dead = self.paths.as_ref().map(dead_clients).unwrap_or_default();
                let rescued = self.maintenance.tick(Utc::now(), &dead);
                if let (true, Some(paths)) = (rescued, &self.paths) {
                    sweep_dead(paths, &dead);
                }
            }
            let timeout = if leading {
                self.maintenance.next_due().min(self.interval)
            } else {
                self.interval
            };
            select! {
                recv(stop) -> _ => break,
                recv(nudge) -> _ => {}
                default(timeout) => {}
            }
        }
        if leading {
            self.resign();
        }
        drop(lock);
    }

    fn write_record(&self, elected: bool) {
        let now = Utc::now();
        let expires = time::after(now, LEADER_TTL);
        let written = self.db.write(|tx| {
            if elected {
                db::leader::record(tx, &self.client_id, now, expires)
            } else {
                db::leader::refresh(tx, &self.client_id, expires)
            }
        });
        if let Err(e) = written {
            log::warn!("riverlite: recording leadership failed: {e}");
        }
    }

    fn become_leader(&mut self) {
        log::info!("riverlite: client {} is now the leader", self.client_id);
        self.is_leader.store(true, Ordering::SeqCst);
        self.write_record(true);
        self.maintenance.on_elected(Utc::now());
        self.emit(EventKind::LeaderGained);
    }

    fn resign(&mut self) {
        if let Err(e) = self.db.write(|tx| db::leader::resign(tx, &self.client_id)) {
            log::warn!("riverlite: clearing the leader record failed: {e}");
        }
        self.is_leader.store(false, Ordering::SeqCst);
        self.emit(EventKind::LeaderLost);
    }

    fn emit(&self, kind: EventKind) {
        self.events.emit(Event {
            kind,
            job: None,
            stats: None,
            queue: None,
        });
    }
}
