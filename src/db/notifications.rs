//! SQL on `river_notification`: River's notification outbox, written in the transaction of each change it announces and read by the watcher.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::stored_time_cmp;
use crate::error::Result;
use crate::model::notification::TOPICS;
use crate::model::timing::{
    NOTIFICATION_PRUNE_EVERY, NOTIFICATION_RETENTION, NOTIFY_INSERT_COOLDOWN,
};
use crate::model::{time, InsertResult, JobState, NewJob, Notification};

/// Rows deleted per prune statement, so one prune holds the write lock briefly.
const PRUNE_BATCH: usize = 1_000;

/// Writes `notification`, in the caller's transaction.
pub(crate) fn notify(conn: &Connection, notification: &Notification) -> Result<()> {
    conn.prepare_cached("INSERT INTO river_notification (payload, topic) VALUES (?1, ?2)")?
        .execute(params![
            notification.payload().to_string(),
            notification.topic()
        ])?;
    Ok(())
}

/// Which queues' inserts this process announced lately, so that a burst of
/// single inserts writes one `river_insert` row per queue per cooldown (as
/// River limits them), and when it last pruned old rows.
#[derive(Debug, Default)]
pub(crate) struct InsertNotices {
    last: Mutex<HashMap<String, Instant>>,
    pruned: Mutex<Option<Instant>>,
}

impl InsertNotices {
    /// Announces new available jobs in `queues`, in the caller's
    /// transaction, for each queue not announced within the cooldown; and
    /// now and then prunes old notifications.
    pub(crate) fn announce<'a>(
        &self,
        conn: &Connection,
        queues: impl Iterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let due: Vec<String> = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let mut due: Vec<String> = Vec::new();
            for queue in queues {
                let recent = last
                    .get(queue)
                    .is_some_and(|at| at.elapsed() < NOTIFY_INSERT_COOLDOWN);
                if !recent && !due.iter().any(|q| q == queue) {
                    last.insert(queue.to_string(), Instant::now());
                    due.push(queue.to_string());
                }
            }
            due
        };
        for queue in due {
            notify(conn, &Notification::Insert { queue })?;
        }
        if self.prune_due() {
            delete_before(conn, time::before(now, NOTIFICATION_RETENTION))?;
        }
        Ok(())
    }

    fn prune_due(&self) -> bool {
        let mut pruned = self.pruned.lock().unwrap_or_else(|p| p.into_inner());
        match *pruned {
            Some(at) if at.elapsed() < NOTIFICATION_PRUNE_EVERY => false,
            _ => {
                *pruned = Some(Instant::now());
                true
            }
        }
    }
}

/// Inserts `jobs` in the caller's transaction and, in the same transaction,
/// announces the queues that got available jobs to River's clients: every
/// insert path (client inserts, periodic runs, durable schedules) goes
/// through here.
pub(crate) fn insert_announced(
    conn: &Connection,
    notices: &InsertNotices,
    jobs: Vec<NewJob>,
    now: DateTime<Utc>,
) -> Result<Vec<InsertResult>> {
    let results = super::jobs::insert(conn, jobs, now)?;
    let available = results
        .iter()
        .filter(|r| r.job.state == JobState::Available)
        .map(|r| r.job.queue.as_str());
    notices.announce(conn, available, now)?;
    Ok(results)
}

/// Deletes up to a batch of notifications created before `horizon`.
pub(crate) fn delete_before(conn: &Connection, horizon: DateTime<Utc>) -> Result<usize> {
    let sql = format!(
        "DELETE FROM river_notification WHERE id IN (SELECT id FROM river_notification \
           WHERE {} ORDER BY created_at, id LIMIT (SELECT ?2))",
        stored_time_cmp("created_at", "<", "?1")
    );
    Ok(conn
        .prepare_cached(&sql)?
        .execute(params![time::format(horizon), PRUNE_BATCH as i64])?)
}

/// The id of the newest notification (0 if none), where a reader starts.
pub(crate) fn last_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM river_notification")?
        .query_row([], |r| r.get(0))?)
}

/// Notifications after `after` on the topics riverlite reads, oldest first,
/// at most `limit`: each with its id, `None` where riverlite has no use for it.
pub(crate) fn after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Option<Notification>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, topic, payload FROM river_notification \
         WHERE id > ?1 AND topic IN (SELECT value FROM json_each(?2)) ORDER BY id LIMIT (SELECT ?3)",
    )?;
    let rows = stmt.query_map(
        params![after, serde_json::to_string(&TOPICS)?, limit as i64],
        |r| {
            let (id, topic, payload): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((id, Notification::parse(&topic, &payload)))
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::test_connection as conn;

    #[test]
    fn a_burst_of_inserts_announces_each_queue_once_per_cooldown() {
        let conn = conn();
        let notices = InsertNotices::default();
        let now = Utc::now();
        for _ in 0..100 {
            notices
                .announce(&conn, ["a", "b", "a"].into_iter(), now)
                .unwrap();
        }
        let read = after(&conn, 0, 100).unwrap();
        let queues: Vec<_> = read.into_iter().filter_map(|(_, n)| n).collect();
        assert_eq!(
            queues,
            [
                Notification::Insert { queue: "a".into() },
                Notification::Insert { queue: "b".into() }
            ]
        );
    }

    #[test]
    fn old_notifications_are_pruned_and_new_ones_kept() {
        let conn = conn();
        conn.execute(
            "INSERT INTO river_notification (payload, topic, created_at) \
             VALUES ('{}', 'river_insert', datetime('now', '-10 minutes'))",
            [],
        )
        .unwrap();
        notify(&conn, &Notification::RequestResign).unwrap();
        let now = Utc::now();
        assert_eq!(
            delete_before(&conn, time::before(now, NOTIFICATION_RETENTION)).unwrap(),
            1
        );
        assert_eq!(after(&conn, 0, 10).unwrap().len(), 1);
        assert_eq!(last_id(&conn).unwrap(), 2);
    }
}
