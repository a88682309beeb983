//! SQL on `riverlite_periodic_job`: durable schedules (written by any client, run by the leader) and the target records of periodic jobs in code.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::migrate::require_riverlite_line;
use crate::error::{Error, Result};
use crate::model::durable_schedule::{ScheduleRow, StoredOpts};
use crate::model::{time, InsertOpts};

/// Every column, read so that a hand-edited value cannot fail the query
/// (one bad row would hide every schedule from the leader).
const COLUMNS: &str = "id, kind, iif(json_valid(args, 10), json(args), '{}'), schedule, \
     iif(json_valid(opts, 10), json(opts), '{}'), from_code IS NOT 0, paused IS NOT 0, \
     last_target_at, next_target_at, created_at, updated_at";

fn stored_time(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row
        .get::<_, Option<String>>(col)?
        .as_deref()
        .and_then(time::parse))
}

fn schedule_from_row(row: &Row<'_>) -> rusqlite::Result<ScheduleRow> {
    let opts: String = row.get(4)?;
    let opts: StoredOpts = serde_json::from_str(&opts).unwrap_or_default();
    Ok(ScheduleRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        args: row.get(2)?,
        schedule: row.get(3)?,
        opts: opts.into_opts(),
        from_code: row.get(5)?,
        paused: row.get(6)?,
        last_target_at: stored_time(row, 7)?,
        next_target_at: stored_time(row, 8)?,
        created_at: stored_time(row, 9)?.unwrap_or(DateTime::UNIX_EPOCH),
        updated_at: stored_time(row, 10)?.unwrap_or(DateTime::UNIX_EPOCH),
    })
}

/// A durable schedule to write: what `ScheduleParams` validated.
pub(crate) struct Upsert<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub args: &'a str,
    pub schedule: &'a str,
    pub opts: &'a InsertOpts,
    /// The next target from now, stored when the schedule is new or changed.
    pub next_target_at: Option<DateTime<Utc>>,
    /// The new schedule's latest target at or before now: a changed
    /// schedule starts after it, so the change itself runs nothing.
    pub latest_target_at: Option<DateTime<Utc>>,
}

/// Creates the schedule, or replaces what the caller states (kind, args,
/// schedule, options), keeping `created_at`, `last_target_at` and `paused`.
/// A changed schedule gets the new `next_target_at`, and skips the new
/// schedule's targets up to now. A periodic job in code
/// holding the id is `Error::Config`.
pub(crate) fn upsert(conn: &Connection, s: &Upsert<'_>, now: DateTime<Utc>) -> Result<ScheduleRow> {
    refuse_code_jobs(conn, s.id)?;
    let opts = serde_json::to_string(&StoredOpts::from_opts(s.opts))?;
    let sql = format!(
        "INSERT INTO riverlite_periodic_job \
           (id, kind, args, schedule, opts, next_target_at, created_at, updated_at) \
         VALUES (?1, ?2, jsonb(?3), ?4, jsonb(?5), ?6, ?7, ?7) \
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, args = excluded.args, \
           opts = excluded.opts, updated_at = excluded.updated_at, \
           next_target_at = CASE WHEN schedule = excluded.schedule THEN next_target_at \
                                 ELSE excluded.next_target_at END, \
           last_target_at = CASE WHEN schedule = excluded.schedule OR ?8 IS NULL THEN last_target_at \
                                 WHEN last_target_at IS NULL OR last_target_at < ?8 THEN ?8 \
                                 ELSE last_target_at END, \
           schedule = excluded.schedule \
         RETURNING {COLUMNS}"
    );
    Ok(conn.prepare_cached(&sql)?.query_row(
        params![
            s.id,
            s.kind,
            s.args,
            s.schedule,
            opts,
            s.next_target_at.map(time::format),
            time::format(now),
            s.latest_target_at.map(time::format)
        ],
        schedule_from_row,
    )?)
}

/// `Error::Config` if a periodic job in code holds `id`.
fn refuse_code_jobs(conn: &Connection, id: &str) -> Result<()> {
    match get(conn, id) {
        Ok(row) if row.from_code => Err(Error::Config(format!(
            "schedule {id:?} is a periodic job defined in code; change it in the code that defines it"
        ))),
        Ok(_) | Err(Error::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// One schedule; `Error::NotFound` if there is none.
pub(crate) fn get(conn: &Connection, id: &str) -> Result<ScheduleRow> {
    require_riverlite_line(conn)?;
    let sql = format!("SELECT {COLUMNS} FROM riverlite_periodic_job WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], schedule_from_row)
        .optional()?
        .ok_or(Error::NotFound)
}

/// Every schedule, by id (periodic jobs in code included, flagged).
pub(crate) fn list(conn: &Connection) -> Result<Vec<ScheduleRow>> {
    require_riverlite_line(conn)?;
    list_unchecked(conn)
}

/// [`list`] without checking for riverlite's line first, for the leader's
/// frequent reads: `None` when the table does not exist.
pub(crate) fn list_if_any(conn: &Connection) -> Result<Option<Vec<ScheduleRow>>> {
    match list_unchecked(conn) {
        Err(Error::Database(rusqlite::Error::SqliteFailure(_, Some(message))))
            if message.contains("no such table") =>
        {
            Ok(None)
        }
        other => other.map(Some),
    }
}

fn list_unchecked(conn: &Connection) -> Result<Vec<ScheduleRow>> {
    let sql = format!("SELECT {COLUMNS} FROM riverlite_periodic_job ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], schedule_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Pauses or resumes a schedule. A resume of a paused schedule moves
/// `last_target_at` up to `skip_to` (the latest target now), so targets
/// that passed while it was paused do not run on resume; a resume of one
/// that is not paused changes nothing.
pub(crate) fn set_paused(
    conn: &Connection,
    id: &str,
    paused: bool,
    skip_to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ScheduleRow> {
    refuse_code_jobs(conn, id)?;
    get(conn, id)?;
    let sql = format!(
        "UPDATE riverlite_periodic_job SET paused = ?2, updated_at = ?3, \
           last_target_at = CASE WHEN paused AND ?4 IS NOT NULL \
                                   AND (last_target_at IS NULL OR last_target_at < ?4) \
                                 THEN ?4 ELSE last_target_at END \
         WHERE id = ?1 RETURNING {COLUMNS}"
    );
    Ok(conn.prepare_cached(&sql)?.query_row(
        params![id, paused, time::format(now), skip_to.map(time::format)],
        schedule_from_row,
    )?)
}

/// Deletes a schedule; `Error::NotFound` if there is none.
pub(crate) fn delete(conn: &Connection, id: &str) -> Result<()> {
    refuse_code_jobs(conn, id)?;
    get(conn, id)?;
    conn.prepare_cached("DELETE FROM riverlite_periodic_job WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Whether durable schedule `id` exists and is not paused, as stored now.
pub(crate) fn is_active(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT NOT paused FROM riverlite_periodic_job WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Records that `target` of schedule `id` was enqueued (in the insert's
/// transaction); false if it, or a later one, already was.
pub(crate) fn record_target(
    conn: &Connection,
    id: &str,
    target: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Result<bool> {
    let updated = conn
        .prepare_cached(
            "UPDATE riverlite_periodic_job SET last_target_at = ?2, next_target_at = ?3 \
             WHERE id = ?1 AND (last_target_at IS NULL OR last_target_at < ?2)",
        )?
        .execute(params![id, time::format(target), next.map(time::format)])?;
    Ok(updated == 1)
}

/// Records a periodic job defined in code (with an id), keeping its
/// `last_target_at`; returns that. `None` on a file without riverlite's
/// line, where the job runs without a record.
pub(crate) fn register_code_job(
    conn: &Connection,
    id: &str,
    kind: &str,
    schedule: &str,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<Option<DateTime<Utc>>>> {
    if require_riverlite_line(conn).is_err() {
        return Ok(None);
    }
    let sql = format!(
        "INSERT INTO riverlite_periodic_job \
           (id, kind, schedule, from_code, next_target_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5) \
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, schedule = excluded.schedule, \
           next_target_at = excluded.next_target_at, updated_at = excluded.updated_at \
         WHERE from_code \
         RETURNING {COLUMNS}"
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(
            params![
                id,
                kind,
                schedule,
                next.map(time::format),
                time::format(now)
            ],
            schedule_from_row,
        )
        .optional()?;
    match row {
        Some(row) => Ok(Some(row.last_target_at)),
        // A durable schedule holds the id: the code job never takes it over.
        None => {
            log::error!(
                "riverlite: periodic job {id:?} in code has the id of a durable schedule; \
                 it runs without a durable record until one of them is renamed"
            );
            Ok(None)
        }
    }
}
