//! The background checkpointer: copies the WAL into the database file off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, on the thread that committed: for riverlite that is mostly the
//! completer, whose every stall holds up every worker, or an inserting
//! caller. This thread does the copying instead, on its own connection, once
//! every [`COMMITS_PER_CHECKPOINT`] commits of its client. Its checkpoints are PASSIVE: they never wait for
//! or block a writer, so the copy overlaps the next transactions.
//!
//! `wal_autocheckpoint` stays set on every connection, and it is what starts
//! the WAL over: a WAL restarts from its first frame only when a write begins
//! while every frame is copied, a moment that steady writes may never leave
//! this thread. When the WAL reaches that threshold, the committing thread
//! checkpoints inline as before, but finds nearly everything copied already,
//! and its next write restarts the WAL. The same bound holds should this
//! thread fall behind or another process write a lot, so the file stays
//! bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

/// How long the thread lets writes gather once nudged. Each checkpoint syncs
/// the WAL and the database file (a few milliseconds on a virtual disk), so
/// this also caps the syncs at twenty a second under the heaviest load.
/// Measured on the 8-worker burn-down, 5 ms was slower than 50 ms: the syncs
/// then compete with the WAL writes of the commits themselves.
const GATHER: Duration = Duration::from_millis(50);

/// Commits to let land between checkpoints. A checkpoint's syncs delay the
/// commits that write the WAL meanwhile: checkpointing after every few
/// single inserts raised the idle client's insert-to-start p99 from 2.4 to
/// 7 ms. Under load this many commits take a fraction of a second.
const COMMITS_PER_CHECKPOINT: u64 = 256;

/// The handle a [`super::Db`] keeps: nudges the thread after each commit;
/// dropping it ends the thread and waits for it.
pub(crate) struct Checkpointer {
    nudge: Option<Sender<()>>,
    /// Commits so far; every [`COMMITS_PER_CHECKPOINT`]th nudges the thread.
    commits: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread, which checkpoints through `conn`, its own connection.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (nudge, nudged) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("riverlite-checkpointer".into())
            .spawn(move || run(&conn, &nudged))?;
        Ok(Checkpointer {
            nudge: Some(nudge),
            commits: AtomicU64::new(0),
            thread: Some(thread),
        })
    }

    /// Tells the thread that a write committed. Never blocks.
    pub(crate) fn nudge(&self) {
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !commits.is_multiple_of(COMMITS_PER_CHECKPOINT) {
            return;
        }
        if let Some(nudge) = &self.nudge {
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Ends the thread before the database closes, so that no connection of
    /// this client outlives it.
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, nudged: &Receiver<()>) {
    while nudged.recv().is_ok() {
        // Let the writes of the next moments join this checkpoint.
        if let Err(RecvTimeoutError::Disconnected) = nudged.recv_timeout(GATHER) {
            return;
        }
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            log::debug!("background checkpoint: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::db::{Db, DbOptions};

    #[test]
    fn writes_reach_the_database_file_without_waiting_for_the_automatic_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let opts = DbOptions {
            busy_timeout: std::time::Duration::from_secs(5),
            synchronous_full: false,
            pool_size: 2,
            migrate: true,
        };
        let db = Db::open(&path, &opts).unwrap();
        let size_before = std::fs::metadata(&path).unwrap().len();
        // About 500 pages in all, far below the automatic checkpoint's
        // threshold, in enough commits to call for a checkpoint.
        db.write(|tx| Ok(tx.execute_batch("CREATE TABLE filler(b BLOB)")?))
            .unwrap();
        for _ in 0..super::COMMITS_PER_CHECKPOINT {
            db.write(|tx| {
                tx.execute_batch(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8)
                     INSERT INTO filler SELECT randomblob(1000) FROM n;",
                )?;
                Ok(())
            })
            .unwrap();
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::metadata(&path).unwrap().len() < size_before + 2_000_000 {
            assert!(
                Instant::now() < deadline,
                "the committed pages never reached the database file"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
