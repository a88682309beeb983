//! The elector: takes the leader lock, then River's lease in `river_leader`; drives riverlite's own duties under the lock and River's shared ones under the lease.
//!
//! The file lock chooses among riverlite processes on one host, quickly;
//! the lease keeps a River client sharing the file from leading at the
//! same time. River's shared duties (scheduler, horizon rescue, cleaner)
//! need both. riverlite's own (periodic jobs, the rescue of dead riverlite
//! clients' jobs) need only the lock: River's leader never does them, and
//! each is safe beside it.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{select, Receiver};

use crate::db::leader::Term;
use crate::db::{self, Db};
use crate::leader::liveness::{dead_clients, is_known_dead, sweep_dead, try_lock, LockPaths};
use crate::leader::maintenance::Maintenance;
use crate::model::timing::{LEADER_REFRESH, LEADER_TTL, LEASE_MARGIN};
use crate::model::{time, Event, EventBus, EventKind, Notification, TestSignals};

/// A held lease: its term, and until when (on this process's clock) it
/// counts without another refresh.
struct Lease {
    term: Term,
    refreshed: Instant,
}

impl Lease {
    /// A lease written with an expiry counted from `written` (taken before
    /// the time the expiry was computed from, so the local deadline never
    /// runs past the stored one, however long the write waited).
    fn new(term: Term, written: Instant) -> Lease {
        Lease {
            term,
            refreshed: written,
        }
    }

    /// Before the last refresh plus the TTL, less a margin.
    fn is_valid(&self) -> bool {
        self.refreshed.elapsed() < LEADER_TTL.saturating_sub(LEASE_MARGIN)
    }
}

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

    /// Loops until `stop` closes. Every `interval` it tries the leader
    /// lock; holding it, it runs riverlite's own duties, takes or keeps
    /// River's lease, and with the lease runs River's shared duties too (at
    /// once on `nudge`).
    ///
    /// `leadership` brings River's leadership notices: a `request_resign`
    /// makes a leader resign and wait one interval before bidding again; a
    /// `resigned` makes a follower bid at once.
    pub(crate) fn run(
        mut self,
        stop: Receiver<()>,
        nudge: Receiver<()>,
        mut leadership: Receiver<Notification>,
    ) {
        let mut lock: Option<Option<File>> = None;
        let mut lease: Option<Lease> = None;
        let mut bid_after = Instant::now();
        loop {
            if lock.is_none() {
                lock = self.try_lock();
                if lock.is_some() {
                    self.maintenance.on_lock(Utc::now());
                }
            }
            if lock.is_some() {
                if lease.is_some() || Instant::now() >= bid_after {
                    self.keep_lease(&mut lease);
                }
                let dead = self.paths.as_ref().map(dead_clients).unwrap_or_default();
                let leased = lease.as_ref().is_some_and(Lease::is_valid);
                let rescued = self.maintenance.tick(Utc::now(), &dead, leased);
                if let (true, Some(paths)) = (rescued, &self.paths) {
                    sweep_dead(paths, &dead);
                }
            }
            self.signals.election_attempted.signal();
            let timeout = if lock.is_some() {
                self.maintenance.next_due().min(self.interval)
            } else {
                self.interval
            };
            select! {
                recv(stop) -> _ => break,
                recv(nudge) -> _ => self.maintenance.reload_schedules(),
                recv(leadership) -> notice => match notice {
                    Ok(Notification::RequestResign) => {
                        if let Some(held) = lease.take() {
                            log::info!("riverlite: client {} resigns on request", self.client_id);
                            self.resign(&held.term);
                            bid_after = Instant::now() + self.interval;
                        }
                    }
                    Ok(_) => {}
                    // No watcher (an in-memory database): no notices.
                    Err(_) => leadership = crossbeam_channel::never(),
                },
                default(timeout) => {}
            }
        }
        if let Some(lease) = lease {
            self.resign(&lease.term);
        }
        drop(lock);
    }

    /// `Some` once this client holds the leader lock (with no file for an
    /// in-memory database, which no other process can share).
    fn try_lock(&self) -> Option<Option<File>> {
        let Some(paths) = &self.paths else {
            return Some(None);
        };
        match try_lock(&paths.leader) {
            Ok(held) => held.map(Some),
            Err(e) => {
                log::warn!(
                    "riverlite: cannot take the leader lock {:?}: {e}",
                    paths.leader
                );
                None
            }
        }
    }

    /// Takes River's lease if nobody holds it, refreshes it when due, and
    /// gives it up when a refresh finds it gone or its local deadline passes.
    fn keep_lease(&mut self, lease: &mut Option<Lease>) {
        match lease {
            None => {
                let bid = Instant::now();
                if let Some(term) = self.attempt_elect() {
                    *lease = Some(Lease::new(term, bid));
                    self.gained_lease();
                }
            }
            Some(held) if !held.is_valid() => {
                log::warn!(
                    "riverlite: client {} could not refresh its leader lease in time; it stops leading",
                    self.client_id
                );
                *lease = None;
                self.lost_lease();
            }
            Some(held) if held.refreshed.elapsed() >= LEADER_REFRESH => {
                let written = Instant::now();
                let now = Utc::now();
                let expires = time::after(now, LEADER_TTL);
                match self
                    .db
                    .write(|tx| db::leader::reelect(tx, &held.term, now, expires))
                {
                    Ok(true) => *held = Lease::new(held.term.clone(), written),
                    Ok(false) => {
                        log::warn!(
                            "riverlite: client {} lost its leader lease to another client",
                            self.client_id
                        );
                        *lease = None;
                        self.lost_lease();
                    }
                    // Retried next pass; the local deadline bounds it.
                    Err(e) => log::warn!("riverlite: refreshing the leader lease failed: {e}"),
                }
            }
            Some(_) => {}
        }
    }

    /// One bid for the lease. A row of a riverlite client known to be dead
    /// (or of this id's earlier, dead run) is replaced at once; any other
    /// unexpired row wins.
    fn attempt_elect(&self) -> Option<Term> {
        let holder = self
            .db
            .conn()
            .and_then(|conn| db::leader::get(&conn))
            .ok()
            .flatten()
            .map(|row| row.leader_id);
        let replaceable = holder.filter(|id| {
            *id == self.client_id
                || self
                    .paths
                    .as_ref()
                    .is_some_and(|paths| is_known_dead(paths, id))
        });
        let now = Utc::now();
        let expires = time::after(now, LEADER_TTL);
        self.db
            .write(|tx| {
                db::leader::attempt_elect(tx, &self.client_id, replaceable.as_deref(), now, expires)
            })
            .unwrap_or_else(|e| {
                log::warn!("riverlite: bidding for the leader lease failed: {e}");
                None
            })
    }

    fn gained_lease(&mut self) {
        log::info!("riverlite: client {} is now the leader", self.client_id);
        self.is_leader.store(true, Ordering::SeqCst);
        self.maintenance.on_lease();
        self.emit(EventKind::LeaderGained);
    }

    fn lost_lease(&mut self) {
        self.is_leader.store(false, Ordering::SeqCst);
        self.emit(EventKind::LeaderLost);
    }

    fn resign(&mut self, term: &Term) {
        if let Err(e) = self.db.write(|tx| db::leader::resign(tx, term)) {
            log::warn!("riverlite: resigning the leader lease failed: {e}");
        }
        self.lost_lease();
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
