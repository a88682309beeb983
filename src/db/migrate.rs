//! Migrations: River's `main` line up to version 8 and riverlite's own `riverlite` line, applied from `schema.sql`; files at version 7 are worked as they are, or upgraded.

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

/// riverlite's own migration line, for its `riverlite_*` tables.
pub(crate) const RIVERLITE_LINE: &str = "riverlite";

/// The newest `riverlite` line version this code knows.
pub(crate) const RIVERLITE_VERSION: i64 = 1;

/// Creates the schema on an empty database, brings a version 7 file to 8,
/// and adds riverlite's own line where it is missing, when `migrate` is
/// set; checks the database otherwise.
///
/// An up-to-date database is only read. A newer one is `SchemaTooNew`, and
/// nothing is written.
pub(crate) fn prepare(conn: &mut Connection, migrate: bool) -> Result<()> {
    let main = line_version(conn, MAIN_LINE)?;
    let own = line_version(conn, RIVERLITE_LINE)?;
    let main_due = match main {
        None => true,
        Some(v) => (OLDEST_WORKABLE..MAIN_VERSION).contains(&v),
    };
    let workable = main.is_none_or(|v| v >= OLDEST_WORKABLE);
    if migrate && workable && (main_due || own.is_none()) {
        apply(conn, main, own)
    } else {
        check(conn)
    }
}

/// Errs unless the database is at a version this code works: main
/// `OLDEST_WORKABLE` to `MAIN_VERSION`, and riverlite's own line (if any)
/// no newer than this code knows.
pub(crate) fn check(conn: &Connection) -> Result<()> {
    let too_new = |line: &str, found: i64, known: i64| Error::SchemaTooNew {
        line: line.into(),
        found,
        known,
    };
    if let Some(v) = line_version(conn, RIVERLITE_LINE)?.filter(|&v| v > RIVERLITE_VERSION) {
        return Err(too_new(RIVERLITE_LINE, v, RIVERLITE_VERSION));
    }
    match line_version(conn, MAIN_LINE)? {
        Some(v) if v > MAIN_VERSION => Err(too_new(MAIN_LINE, v, MAIN_VERSION)),
        Some(v) if v >= OLDEST_WORKABLE => Ok(()),
        found => Err(Error::NotMigrated {
            line: MAIN_LINE.into(),
            found,
            need: OLDEST_WORKABLE,
        }),
    }
}

/// Errs with `NotMigrated` naming riverlite's own line if the database
/// lacks it: a River file opened with `.migrate(false)` has no schedules table.
pub(crate) fn require_riverlite_line(conn: &Connection) -> Result<()> {
    match line_version(conn, RIVERLITE_LINE)? {
        Some(_) => Ok(()),
        None => Err(Error::NotMigrated {
            line: RIVERLITE_LINE.into(),
            found: None,
            need: RIVERLITE_VERSION,
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

/// The latest version of `line` recorded, if any.
fn line_version(conn: &Connection, line: &str) -> Result<Option<i64>> {
    if !has_migration_table(conn)? {
        return Ok(None);
    }
    Ok(conn.query_row(
        "SELECT max(version) FROM river_migration WHERE line = ?1",
        [line],
        |r| r.get(0),
    )?)
}

/// Creates the schema, or upgrades main `from` an older version, and adds
/// riverlite's line if `own` is missing, in one `BEGIN IMMEDIATE`
/// transaction, so that several processes opening a file at once migrate
/// it exactly once.
fn apply(conn: &mut Connection, main: Option<i64>, own: Option<i64>) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated between our check and our lock.
    if line_version(&tx, MAIN_LINE)? != main || line_version(&tx, RIVERLITE_LINE)? != own {
        drop(tx);
        return prepare(conn, true);
    }
    let record = |line: &str, versions: std::ops::RangeInclusive<i64>| -> Result<()> {
        let mut insert =
            tx.prepare("INSERT INTO river_migration (line, version) VALUES (?1, ?2)")?;
        for version in versions {
            insert.execute(rusqlite::params![line, version])?;
        }
        Ok(())
    };
    match main {
        None => {
            tx.execute_batch(part(MAIN_PART))?;
            record(MAIN_LINE, 1..=MAIN_VERSION)?;
        }
        Some(v) if v < MAIN_VERSION => {
            rebuild_job_table(&tx)?;
            record(MAIN_LINE, v + 1..=MAIN_VERSION)?;
        }
        Some(_) => {}
    }
    if own.is_none() {
        tx.execute_batch(part(RIVERLITE_PART))?;
        record(RIVERLITE_LINE, 1..=RIVERLITE_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// The markers of `schema.sql`'s parts.
const MAIN_PART: (&str, &str) = ("", "-- >>> riverlite line 1");
const JOB_TABLE_PART: (&str, &str) = ("-- >>> river_job", "-- <<< river_job");
const RIVERLITE_PART: (&str, &str) = ("-- >>> riverlite line 1", "-- <<< riverlite line 1");

/// The part of `schema.sql` between two markers (an empty start marker is
/// the file's start).
fn part((start, end): (&str, &str)) -> &'static str {
    let from = SCHEMA.find(start).unwrap_or(0);
    let to = SCHEMA[from..]
        .find(end)
        .map_or(SCHEMA.len(), |at| from + at);
    &SCHEMA[from..to]
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
    conn.execute_batch(part(JOB_TABLE_PART))?;
    conn.execute_batch(&format!(
        "INSERT INTO river_job ({COLUMNS}) SELECT {COLUMNS} FROM river_job_v7; \
         DROP TABLE river_job_v7;"
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_part_has_rivers_tables_and_the_riverlite_part_riverlites() {
        let main = part(MAIN_PART);
        assert!(main.contains("CREATE TABLE river_job (") && !main.contains("riverlite_"));
        let own = part(RIVERLITE_PART);
        assert_eq!(own.matches("CREATE TABLE").count(), 1);
        assert!(own.contains("CREATE TABLE riverlite_periodic_job ("));
    }

    #[test]
    fn the_job_table_part_is_river_job_and_its_indexes_only() {
        let part = part(JOB_TABLE_PART);
        assert_eq!(part.matches("CREATE TABLE").count(), 1);
        assert!(part.contains("CREATE TABLE river_job ("));
        assert!(part.contains("AUTOINCREMENT"));
        assert_eq!(part.matches("CREATE INDEX").count(), 3);
        assert_eq!(part.matches("CREATE UNIQUE INDEX").count(), 1);
    }
}
