//! SQL of the leader-only services: scheduling, rescuing, cleaning, periodic look-ups.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::jobs::{job_from_row, JOB_COLUMNS};
use super::stored_time_cmp;
use crate::error::Result;
use crate::model::{time, JobRow, JobState};

/// Moves up to `limit` due scheduled and retryable jobs to available. A job
/// whose unique key now collides with a live job is discarded, as River does.
/// Returns (made available, discarded).
pub(crate) fn schedule_due(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<(usize, usize)> {
    let now = time::format(now);
    let sql = format!(
        "SELECT id FROM river_job WHERE state IN ('retryable', 'scheduled') AND {} \
         ORDER BY scheduled_at, id LIMIT (SELECT ?2)",
        stored_time_cmp("scheduled_at", "<=", "?1")
    );
    let due: Vec<i64> = conn
        .prepare_cached(&sql)?
        .query_map(params![now, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if due.is_empty() {
        return Ok((0, 0));
    }
    let due = serde_json::to_string(&due)?;
    // OR IGNORE skips exactly the rows that would break the unique index.
    let available = conn
        .prepare_cached(
            "UPDATE OR IGNORE river_job SET state = 'available' \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('retryable', 'scheduled')",
        )?
        .execute([&due])?;
    let discarded = conn
        .prepare_cached(
            "UPDATE river_job SET state = 'discarded', finalized_at = ?2, \
               errors = jsonb_insert(coalesce(errors, jsonb('[]')), '$[#]', jsonb(json_object( \
                 'at', strftime('%Y-%m-%dT%H:%M:%fZ', ?2), 'attempt', attempt, \
                 'error', 'discarded: a job with the same unique key is already live', 'trace', ''))) \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('retryable', 'scheduled')",
        )?
        .execute(params![due, now])?;
    Ok((available, discarded))
}

/// Running jobs attempted before `stuck_before`, or last attempted by one of
/// `dead_clients`.
pub(crate) fn rescue_candidates(
    conn: &Connection,
    stuck_before: DateTime<Utc>,
    dead_clients: &[String],
) -> Result<Vec<JobRow>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM river_job WHERE state = 'running' AND ({stuck} \
           OR iif(json_valid(attempted_by, 10), attempted_by ->> '$[#-1]', NULL) \
              IN (SELECT value FROM json_each(?2)))",
        stuck = stored_time_cmp("attempted_at", "<", "?1")
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                time::format(stuck_before),
                serde_json::to_string(dead_clients)?
            ],
            job_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Deletes up to `limit` jobs in `state` finalized before `before`; returns how many.
pub(crate) fn delete_finalized(
    conn: &Connection,
    state: JobState,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<usize> {
    let sql = format!(
        "DELETE FROM river_job WHERE id IN (SELECT id FROM river_job \
           WHERE state = ?1 AND {} LIMIT (SELECT ?3))",
        stored_time_cmp("finalized_at", "<", "?2")
    );
    Ok(conn.prepare_cached(&sql)?.execute(params![
        state.as_str(),
        time::format(before),
        limit as i64
    ])?)
}

/// Returns free pages to the file system and checkpoints the WAL, after large deletes.
pub(crate) fn reclaim_space(conn: &Connection) -> Result<()> {
    // incremental_vacuum frees one page per step: step it to the end.
    let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// The latest scheduled_at of jobs a periodic job with `id` inserted.
pub(crate) fn last_periodic_run(
    conn: &Connection,
    kind: &str,
    id: &str,
) -> Result<Option<DateTime<Utc>>> {
    let last: Option<String> = conn
        .prepare_cached(
            "SELECT max(scheduled_at) FROM river_job \
             WHERE kind = ?1 AND iif(json_valid(metadata, 10), \
               metadata ->> '$.\"river:periodic_job_id\"', NULL) = ?2",
        )?
        .query_row(params![kind, id], |r| r.get(0))?;
    Ok(last.as_deref().and_then(time::parse))
}
