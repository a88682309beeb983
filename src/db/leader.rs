//! SQL on `river_leader`: the elected leader, recorded for visibility.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::model::{time, LeaderRow};

/// Records `leader_id` as leader from `now` until `expires_at`.
pub(crate) fn record(
    conn: &Connection,
    leader_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO river_leader (name, leader_id, elected_at, expires_at) VALUES ('default', ?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET leader_id = excluded.leader_id, \
           elected_at = excluded.elected_at, expires_at = excluded.expires_at",
    )?
    .execute(params![leader_id, time::format(now), time::format(expires_at)])?;
    Ok(())
}

/// Pushes the leader's expiry forward.
pub(crate) fn refresh(conn: &Connection, leader_id: &str, expires_at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE river_leader SET expires_at = ?2 WHERE leader_id = ?1")?
        .execute(params![leader_id, time::format(expires_at)])?;
    Ok(())
}

/// Removes the record if `leader_id` holds it (a leader resigning).
pub(crate) fn resign(conn: &Connection, leader_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM river_leader WHERE leader_id = ?1")?
        .execute([leader_id])?;
    Ok(())
}

/// The recorded leader, if any.
pub(crate) fn get(conn: &Connection) -> Result<Option<LeaderRow>> {
    let row = conn
        .prepare_cached(
            "SELECT leader_id, elected_at, expires_at FROM river_leader WHERE name = 'default'",
        )?
        .query_row([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(leader_id, elected, expires)| {
        Some(LeaderRow {
            leader_id,
            elected_at: time::parse(&elected)?,
            expires_at: time::parse(&expires)?,
        })
    }))
}
