//! Wake-ups: the producers' wake channels, and the watcher that turns other connections' commits into wake-ups.
//!
//! There is one wake-up path. An insert in this process wakes its queue's
//! producer directly; a commit by any other connection (another process's
//! insert, a resume, a cancel) changes `PRAGMA data_version`, which the
//! watcher reads every [`WATCH_INTERVAL`] and turns into a wake-up of every
//! producer. The producers' own poll interval is only the fallback.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::db::{self, Db};
use crate::engine::running::RunningJobs;
use crate::error::Result;
use crate::model::timing::WATCH_INTERVAL;
use crate::model::Notification;

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

/// Notices commits by other connections to one database file, through
/// `PRAGMA data_version` on a connection of its own.
pub(crate) struct CommitWatch {
    conn: Connection,
    last: i64,
}

impl CommitWatch {
    /// A watch on `db`'s file, counting from now. `Error::NotFound` for an
    /// in-memory database, which no other connection can write.
    pub(crate) fn open(db: &Db) -> Result<CommitWatch> {
        // Its own connection, outside the pool: it is held for the watch's life.
        let conn = db.dedicated_connection()?;
        let last = db::data_version(&conn)?;
        Ok(CommitWatch { conn, last })
    }

    /// Whether another connection committed since the last call.
    pub(crate) fn changed(&mut self) -> Result<bool> {
        let version = db::data_version(&self.conn)?;
        let changed = version != self.last;
        self.last = version;
        Ok(changed)
    }

    /// Waits until another connection commits, checking every
    /// [`WATCH_INTERVAL`], or until `timeout`; returns whether one did.
    pub(crate) fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let deadline = crossbeam_channel::after(timeout);
        let tick = crossbeam_channel::tick(WATCH_INTERVAL);
        loop {
            if self.changed()? {
                return Ok(true);
            }
            crossbeam_channel::select! {
                recv(tick) -> _ => {}
                recv(deadline) -> _ => return self.changed(),
            }
        }
    }
}

/// River's notifications as the watcher hands them on: insert, pause and
/// resume wake producers; a cancel flags the running job; leadership
/// notices go to the elector.
pub(crate) struct Listener {
    /// Every producer's running jobs, to flag a cancelled one.
    pub running: Vec<Arc<RunningJobs>>,
    /// Where leadership notices go (the elector).
    pub leadership: Sender<Notification>,
}

/// Notifications read per query; more wait for the next commit's pass.
const NOTIFICATIONS_PER_READ: usize = 1_000;

impl Listener {
    /// Reads the notifications since `*seen` and acts on them.
    fn read(&self, conn: &Connection, seen: &mut i64, wakers: &Wakers) -> Result<()> {
        for (id, notification) in db::notifications::after(conn, *seen, NOTIFICATIONS_PER_READ)? {
            *seen = id;
            match notification {
                Some(Notification::Insert { queue } | Notification::Resume { queue }) => {
                    if queue == "*" {
                        wakers.wake_all();
                    } else {
                        wakers.wake(&queue);
                    }
                }
                Some(Notification::Cancel { job_id, .. }) => self.flag_cancelled(job_id),
                Some(notice @ (Notification::RequestResign | Notification::Resigned { .. })) => {
                    let _ = self.leadership.try_send(notice);
                }
                // A paused queue stops at its next claim, which checks paused_at.
                Some(Notification::Pause { .. }) | None => {}
            }
        }
        Ok(())
    }

    fn flag_cancelled(&self, job_id: i64) {
        for running in &self.running {
            if let Some(control) = running.lock().get(&job_id) {
                control.request_cancel();
            }
        }
    }
}

/// Watches for other connections' commits until `stop` closes: each one
/// wakes every producer (the fallback for writers that send no
/// notification), and `listener` acts on the River notifications it brought.
pub(crate) fn watch_database(db: Arc<Db>, wakers: Wakers, stop: Receiver<()>, listener: Listener) {
    let mut watch = match CommitWatch::open(&db) {
        Ok(watch) => watch,
        Err(e) => {
            log::warn!("riverlite: cannot watch the database for changes, polling only: {e}");
            return;
        }
    };
    let mut seen = db::notifications::last_id(&watch.conn).unwrap_or_default();
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(WATCH_INTERVAL)
    {
        match watch.changed() {
            Ok(true) => {
                wakers.wake_all();
                if let Err(e) = listener.read(&watch.conn, &mut seen, &wakers) {
                    log::warn!("riverlite: reading notifications failed: {e}");
                }
            }
            Ok(false) => {}
            Err(e) => log::warn!("riverlite: reading data_version failed: {e}"),
        }
    }
}
