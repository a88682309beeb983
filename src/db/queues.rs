//! SQL on `river_queue`: pause, resume, list, register.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::notifications::notify;
use crate::error::{Error, Result};
use crate::model::{time, Notification, QueueRow};

fn parse_time(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    time::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad timestamp {s:?}").into(),
        )
    })
}

fn queue_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueueRow> {
    let metadata: String = row.get(2)?;
    let paused_at: Option<String> = row.get(3)?;
    Ok(QueueRow {
        name: row.get(0)?,
        created_at: parse_time(&row.get::<_, String>(1)?)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        paused_at: paused_at.as_deref().map(parse_time).transpose()?,
        updated_at: parse_time(&row.get::<_, String>(4)?)?,
    })
}

const QUEUE_COLUMNS: &str = "name, created_at, json(metadata), paused_at, updated_at";

/// Makes sure a row exists for each queue a client works.
pub(crate) fn register(conn: &Connection, name: &str, now: DateTime<Utc>) -> Result<()> {
    let now = time::format(now);
    conn.prepare_cached(
        "INSERT INTO river_queue (name, created_at, updated_at) VALUES (?1, ?2, ?2) \
         ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, now])?;
    Ok(())
}

/// Pauses one queue (creating its row) or, with `"*"`, every known queue.
/// Returns the names that went from running to paused.
pub(crate) fn pause(conn: &Connection, name: &str, now: DateTime<Utc>) -> Result<Vec<String>> {
    if name != "*" {
        register(conn, name, now)?;
    }
    let now = time::format(now);
    let mut stmt = conn.prepare_cached(
        "UPDATE river_queue SET paused_at = ?2, updated_at = ?2 \
         WHERE (?1 = '*' OR name = ?1) AND paused_at IS NULL RETURNING name",
    )?;
    let names: Vec<String> = stmt
        .query_map(params![name, now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !names.is_empty() {
        let queue = name.to_string();
        notify(conn, &Notification::Pause { queue })?;
    }
    Ok(names)
}

/// Resumes one queue or, with `"*"`, every queue. Returns the names that were
/// paused. An unknown queue is `NotFound`.
pub(crate) fn resume(conn: &Connection, name: &str, now: DateTime<Utc>) -> Result<Vec<String>> {
    if name != "*" {
        get(conn, name)?;
    }
    let mut stmt = conn.prepare_cached(
        "UPDATE river_queue SET paused_at = NULL, updated_at = ?2 \
         WHERE (?1 = '*' OR name = ?1) AND paused_at IS NOT NULL RETURNING name",
    )?;
    let names: Vec<String> = stmt
        .query_map(params![name, time::format(now)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !names.is_empty() {
        let queue = name.to_string();
        notify(conn, &Notification::Resume { queue })?;
    }
    Ok(names)
}

/// One queue by name.
pub(crate) fn get(conn: &Connection, name: &str) -> Result<QueueRow> {
    let sql = format!("SELECT {QUEUE_COLUMNS} FROM river_queue WHERE name = ?1");
    conn.prepare_cached(&sql)?
        .query_row([name], queue_from_row)
        .optional()?
        .ok_or(Error::NotFound)
}

/// Every queue, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<QueueRow>> {
    let sql = format!("SELECT {QUEUE_COLUMNS} FROM river_queue ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], queue_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
