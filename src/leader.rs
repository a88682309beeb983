//! Leader election by file lock, liveness locks of working clients, and the leader's service loop.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossbeam_channel::{select, Receiver};

use crate::db::{self, Db};
use crate::event::{Event, EventBus, EventKind};
use crate::maintenance::Maintenance;

/// How long the `river_leader` record stays valid without a refresh. River
/// clients sharing the file see a live leader and defer to it.
const LEADER_TTL: Duration = Duration::from_secs(15);
/// How often the leader pushes its record's expiry forward.
const LEADER_REFRESH: Duration = Duration::from_secs(5);

/// Where the lock files of one database live.
#[derive(Debug, Clone)]
pub(crate) struct LockPaths {
    /// `<canonical db path>.leader.lock`: its holder is the leader.
    pub leader: PathBuf,
    /// `<canonical db path>.clients/`: one `<client id>.lock` per started working client.
    pub clients: PathBuf,
}

impl LockPaths {
    /// The liveness file of one client.
    pub(crate) fn client_file(&self, client_id: &str) -> PathBuf {
        self.clients.join(format!("{client_id}.lock"))
    }

    pub(crate) fn for_database(file: &Path) -> io::Result<LockPaths> {
        let canonical = file.canonicalize()?;
        let with_suffix = |suffix: &str| {
            let mut s = canonical.clone().into_os_string();
            s.push(suffix);
            PathBuf::from(s)
        };
        Ok(LockPaths {
            leader: with_suffix(".leader.lock"),
            clients: with_suffix(".clients"),
        })
    }
}

/// Opens (creating) `path` and takes an exclusive lock without waiting.
/// `Ok(None)` when another open file description holds it, in this process
/// or another.
pub(crate) fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// A started working client's liveness lock: held while the client lives,
/// released by the OS if its process dies.
#[derive(Debug)]
pub(crate) struct LivenessLock {
    path: PathBuf,
    file: File,
}

impl LivenessLock {
    /// Takes `<clients dir>/<client id>.lock`. The file is locked under a
    /// temporary name and renamed into place, so no other process can see
    /// it unlocked and mistake this client for a dead one.
    pub(crate) fn acquire(paths: &LockPaths, client_id: &str) -> io::Result<LivenessLock> {
        std::fs::create_dir_all(&paths.clients)?;
        let path = paths.client_file(client_id);
        let temporary = paths.clients.join(format!("{client_id}.lock.tmp"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&temporary)?;
        file.lock()?;
        std::fs::rename(&temporary, &path)?;
        Ok(LivenessLock { path, file })
    }

    /// A clean stop: remove the file, then unlock.
    pub(crate) fn release(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }

    /// Unlocks but leaves the file, marking this client dead: the leader
    /// rescues whatever it left running, then sweeps the file.
    pub(crate) fn unlock_for_rescue(self) {
        drop(self.file);
    }

    /// Keeps the lock until the process exits (a stop that timed out with
    /// jobs still running: they are alive, so they must not look orphaned).
    pub(crate) fn keep_until_exit(self) {
        std::mem::forget(self.file);
    }
}

/// Ids of clients whose liveness file exists but is not locked: their
/// process died without a clean stop.
pub(crate) fn dead_clients(paths: &LockPaths) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&paths.clients) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = name.strip_suffix(".lock")?.to_string();
            matches!(try_lock(&entry.path()), Ok(Some(_))).then_some(id)
        })
        .collect()
}

/// Whether `client_id` holds its liveness lock: its file exists and cannot
/// be locked by us.
pub(crate) fn is_alive(paths: &LockPaths, client_id: &str) -> bool {
    let path = paths.client_file(client_id);
    path.exists() && matches!(try_lock(&path), Ok(None))
}

/// Removes the liveness files of dead clients, once their jobs are rescued.
pub(crate) fn sweep_dead(paths: &LockPaths, ids: &[String]) {
    for id in ids {
        let path = paths.client_file(id);
        // Re-check under the lock, so a live file is never removed.
        if let Ok(Some(_held)) = try_lock(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Runs the election and, while leading, the maintenance services.
pub(crate) struct Elector {
    pub client_id: String,
    pub db: Arc<Db>,
    /// `None` for an in-memory database: no lock file, always the leader.
    pub paths: Option<LockPaths>,
    pub interval: Duration,
    pub is_leader: Arc<AtomicBool>,
    pub events: Arc<EventBus>,
    pub maintenance: Maintenance,
}

impl Drop for Elector {
    /// Even if the loop panicked, this client no longer leads.
    fn drop(&mut self) {
        self.is_leader.store(false, Ordering::SeqCst);
    }
}

impl Elector {
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
        let expires = db::time::after(now, LEADER_TTL);
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
