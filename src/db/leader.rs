//! SQL on `river_leader`: River's leader lease, taken, kept and given up the way River's clients do.
//!
//! A term is the pair (leader id, `elected_at`): re-election and
//! resignation match both, so a process that reuses an id never touches a
//! later term's row.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::stored_time_cmp;
use crate::error::Result;
use crate::model::{time, LeaderRow, Notification};

/// One held lease: whose, and since when (the text stored, to match it exactly).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    /// The leader's client id.
    pub leader_id: String,
    /// `elected_at` as stored.
    pub elected_at: String,
}

/// Tries to take the lease for `leader_id` until `expires_at`, in the
/// caller's transaction: expired rows go first (River's
/// `LeaderDeleteExpired`), as does the row of `replaceable` (a leader known
/// to be dead), then the insert does nothing if someone else holds it.
pub(crate) fn attempt_elect(
    conn: &Connection,
    leader_id: &str,
    replaceable: Option<&str>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Term>> {
    let now_text = time::format(now);
    conn.prepare_cached(&format!(
        "DELETE FROM river_leader WHERE {}",
        stored_time_cmp("expires_at", "<", "?1")
    ))?
    .execute([&now_text])?;
    if let Some(dead) = replaceable {
        conn.prepare_cached("DELETE FROM river_leader WHERE leader_id = ?1")?
            .execute([dead])?;
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO river_leader (leader_id, elected_at, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![leader_id, now_text, time::format(expires_at)])?;
    Ok((inserted == 1).then(|| Term {
        leader_id: leader_id.to_string(),
        elected_at: now_text,
    }))
}

/// Extends `term`'s lease to `expires_at`, if the row is still that term's
/// and unexpired at `now`. False means the lease is lost.
pub(crate) fn reelect(
    conn: &Connection,
    term: &Term,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let sql = format!(
        "UPDATE river_leader SET expires_at = ?3 \
         WHERE leader_id = ?1 AND elected_at = ?2 AND NOT {}",
        stored_time_cmp("expires_at", "<", "?4")
    );
    let updated = conn.prepare_cached(&sql)?.execute(params![
        term.leader_id,
        term.elected_at,
        time::format(expires_at),
        time::format(now)
    ])?;
    Ok(updated == 1)
}

/// Gives up `term`'s lease, and tells River's clients (`river_leadership`)
/// so one can take over at once; true if its row was still there.
pub(crate) fn resign(conn: &Connection, term: &Term) -> Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM river_leader WHERE leader_id = ?1 AND elected_at = ?2")?
        .execute(params![term.leader_id, term.elected_at])?;
    if deleted == 1 {
        let leader_id = term.leader_id.clone();
        super::notifications::notify(conn, &Notification::Resigned { leader_id })?;
    }
    Ok(deleted == 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::test_connection as conn;

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[test]
    fn an_unexpired_lease_is_never_taken_and_an_expired_one_is() {
        let conn = conn();
        let now = Utc::now();
        let river = attempt_elect(&conn, "river", None, now, now + secs(15)).unwrap();
        assert!(river.is_some());
        assert_eq!(
            attempt_elect(&conn, "lite", None, now + secs(1), now + secs(16)).unwrap(),
            None
        );
        assert_eq!(get(&conn).unwrap().unwrap().leader_id, "river");
        let later = now + secs(20);
        let lite = attempt_elect(&conn, "lite", None, later, later + secs(15)).unwrap();
        assert_eq!(lite.map(|t| t.leader_id).as_deref(), Some("lite"));
    }

    #[test]
    fn a_known_dead_leaders_row_is_replaced_at_once() {
        let conn = conn();
        let now = Utc::now();
        attempt_elect(&conn, "dead", None, now, now + secs(15)).unwrap();
        let term = attempt_elect(&conn, "lite", Some("dead"), now, now + secs(15)).unwrap();
        assert!(term.is_some());
    }

    #[test]
    fn reelection_and_resignation_touch_only_their_own_term() {
        let conn = conn();
        let now = Utc::now();
        let old = attempt_elect(&conn, "same-id", None, now, now + secs(1))
            .unwrap()
            .unwrap();
        let later = now + secs(5);
        let new = attempt_elect(&conn, "same-id", None, later, later + secs(15))
            .unwrap()
            .unwrap();
        assert_ne!(old, new);
        assert!(!reelect(&conn, &old, later, later + secs(15)).unwrap());
        assert!(!resign(&conn, &old).unwrap());
        assert_eq!(
            get(&conn).unwrap().unwrap().elected_at,
            time::parse(&new.elected_at).unwrap()
        );
        assert!(reelect(&conn, &new, later, later + secs(30)).unwrap());
        assert!(resign(&conn, &new).unwrap());
        assert_eq!(get(&conn).unwrap(), None);
    }

    #[test]
    fn an_expired_lease_is_not_refreshed() {
        let conn = conn();
        let now = Utc::now();
        let term = attempt_elect(&conn, "lite", None, now, now + secs(1))
            .unwrap()
            .unwrap();
        assert!(!reelect(&conn, &term, now + secs(2), now + secs(17)).unwrap());
    }
}
