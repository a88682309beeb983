//! Lock files next to the database: the leader lock, and each started working client's liveness lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

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

/// Whether some process holds the lock on the existing file at `path`.
/// Opened read-only and never created: an onlooker (the dashboard, on a
/// file it may not write) must not leave a file behind that looks like a
/// dead client's. `flock` works on a read-only descriptor.
#[cfg_attr(not(feature = "ui"), allow(dead_code))]
fn held_by_someone(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(path) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
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

    /// A clean stop: remove the file, then unlock. Only this lock's own
    /// file is removed: in an overlapping restart with the same id, the path
    /// may already name the new process's file.
    pub(crate) fn release(self) {
        if self.still_names_our_file() {
            let _ = std::fs::remove_file(&self.path);
        }
        drop(self.file);
    }

    /// Whether `path` is still the file this lock holds (same device and inode).
    fn still_names_our_file(&self) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (std::fs::metadata(&self.path), self.file.metadata()) {
                (Ok(at_path), Ok(ours)) => {
                    at_path.dev() == ours.dev() && at_path.ino() == ours.ino()
                }
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            // Elsewhere a locked file cannot be replaced by a rename.
            true
        }
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

/// Each liveness file's client id and path.
fn client_files(paths: &LockPaths) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(&paths.clients) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = name.strip_suffix(".lock")?.to_string();
            Some((id, entry.path()))
        })
        .collect()
}

/// Ids of clients whose liveness file exists but is not locked: their
/// process died without a clean stop.
pub(crate) fn dead_clients(paths: &LockPaths) -> Vec<String> {
    client_files(paths)
        .into_iter()
        .filter(|(_, path)| matches!(try_lock(path), Ok(Some(_))))
        .map(|(id, _)| id)
        .collect()
}

/// Ids of the started riverlite clients whose process holds their liveness
/// lock, sorted.
#[cfg_attr(not(feature = "ui"), allow(dead_code))]
pub(crate) fn live_clients(paths: &LockPaths) -> Vec<String> {
    let mut ids: Vec<String> = client_files(paths)
        .into_iter()
        .filter(|(_, path)| held_by_someone(path))
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids
}

/// Whether `client_id` holds its liveness lock: its file exists and cannot
/// be locked by us.
pub(crate) fn is_alive(paths: &LockPaths, client_id: &str) -> bool {
    let path = paths.client_file(client_id);
    path.exists() && matches!(try_lock(&path), Ok(None))
}

/// Whether `client_id` is a riverlite client known to be dead: its liveness
/// file exists and nobody holds its lock. A missing file proves nothing (the
/// id may be a River client's).
pub(crate) fn is_known_dead(paths: &LockPaths, client_id: &str) -> bool {
    let path = paths.client_file(client_id);
    path.exists() && matches!(try_lock(&path), Ok(Some(_)))
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
