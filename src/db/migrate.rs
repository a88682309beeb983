//! Migrations: River's `main` line up to version 8, applied from `schema.sql`; files at version 7 are worked as they are, or upgraded.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};
use crate::model::Migration;

/// The whole schema after `main` version 8.
pub(crate) const SCHEMA: &str = include_str!("../../schema.sql");

/// The newest `main` version this code knows, and creates.
pub(crate) const MAIN_VERSION: i64 = 8;

/// The oldest `main` version this code works as it is. Version 8 only
/// rebuilds `river_job` with AUTOINCREMENT ids; every statement riverlite
/// runs means the same on 7.
pub(crate) const OLDEST_WORKABLE: i64 = 7;

/// The migration line riverlite's schema belongs to.
pub(crate) const MAIN_LINE: &str = "main";

/// Creates the schema on an empty database, or brings a version 7 file to
/// 8, when `migrate` is set; checks the database otherwise.
///
/// A database at version 8 is only read. A newer one is `SchemaTooNew`, and
/// nothing is written.
pub(crate) fn prepare(conn: &mut Connection, migrate: bool) -> Result<()> {
    match main_version(conn)? {
        None if migrate => apply(conn, None),
        Some(v) if migrate && (OLDEST_WORKABLE..MAIN_VERSION).contains(&v) => apply(conn, Some(v)),
        _ => check(conn),
    }
}

/// Errs unless the database is at a version this code works:
/// `OLDEST_WORKABLE` to `MAIN_VERSION`.
pub(crate) fn check(conn: &Connection) -> Result<()> {
    match main_version(conn)? {
        Some(v) if v > MAIN_VERSION => Err(Error::SchemaTooNew {
            line: MAIN_LINE.into(),
            found: v,
            known: MAIN_VERSION,
        }),
        Some(v) if v >= OLDEST_WORKABLE => Ok(()),
        found => Err(Error::NotMigrated {
            found,
            need: OLDEST_WORKABLE,
        }),
    }
}

/// The versions applied, per migration line.
pub(crate) fn status(conn: &Connection) -> Result<Vec<Migration>> {
    if !has_migration_table(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT line, version, created_at FROM river_migration ORDER BY line, version")?;
    let rows = stmt.query_map([], |r| {
        Ok(Migration {
            line: r.get(0)?,
            version: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn has_migration_table(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'river_migration'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn main_version(conn: &Connection) -> Result<Option<i64>> {
    if !has_migration_table(conn)? {
        return Ok(None);
    }
    Ok(conn.query_row(
        "SELECT max(version) FROM river_migration WHERE line = ?1",
        [MAIN_LINE],
        |r| r.get(0),
    )?)
}

/// Creates the schema, or upgrades it `from` an older version, in one
/// `BEGIN IMMEDIATE` transaction, so that several processes opening a file
/// at once migrate it exactly once.
fn apply(conn: &mut Connection, from: Option<i64>) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated between our check and our lock.
    if main_version(&tx)? != from {
        drop(tx);
        return check(conn);
    }
    match from {
        None => tx.execute_batch(SCHEMA)?,
        Some(_) => rebuild_job_table(&tx)?,
    }
    let mut insert = tx.prepare("INSERT INTO river_migration (line, version) VALUES (?1, ?2)")?;
    for version in from.map_or(1, |v| v + 1)..=MAIN_VERSION {
        insert.execute(rusqlite::params![MAIN_LINE, version])?;
    }
    drop(insert);
    tx.commit()?;
    Ok(())
}

/// Version 8: `river_job` again, with `id integer PRIMARY KEY AUTOINCREMENT`.
/// SQLite cannot change a primary key in place, so the table is renamed, the
/// new one created from `schema.sql`'s river_job part, every row copied with
/// its id, and the old table dropped. Its indexes keep their names through
/// the rename, so they go first.
fn rebuild_job_table(conn: &Connection) -> Result<()> {
    const COLUMNS: &str = "id, args, attempt, attempted_at, attempted_by, created_at, errors, \
        finalized_at, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, \
        unique_key, unique_states";
    conn.execute_batch(
        "DROP INDEX river_job_kind; \
         DROP INDEX river_job_state_and_finalized_at_index; \
         DROP INDEX river_job_prioritized_fetching_index; \
         DROP INDEX river_job_unique_idx; \
         ALTER TABLE river_job RENAME TO river_job_v7;",
    )?;
    conn.execute_batch(job_table_part())?;
    conn.execute_batch(&format!(
        "INSERT INTO river_job ({COLUMNS}) SELECT {COLUMNS} FROM river_job_v7; \
         DROP TABLE river_job_v7;"
    ))?;
    Ok(())
}

/// `schema.sql`'s river_job table and indexes, between its markers.
fn job_table_part() -> &'static str {
    let start = SCHEMA.find("-- >>> river_job").unwrap_or(0);
    let end = SCHEMA.find("-- <<< river_job").unwrap_or(SCHEMA.len());
    &SCHEMA[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_table_part_is_river_job_and_its_indexes_only() {
        let part = job_table_part();
        assert_eq!(part.matches("CREATE TABLE").count(), 1);
        assert!(part.contains("CREATE TABLE river_job ("));
        assert!(part.contains("AUTOINCREMENT"));
        assert_eq!(part.matches("CREATE INDEX").count(), 3);
        assert_eq!(part.matches("CREATE UNIQUE INDEX").count(), 1);
    }
}
