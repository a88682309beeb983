//! Migrations: River's `main` line up to version 7, applied from `schema.sql`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};
use crate::model::Migration;

/// The whole schema after `main` version 7.
pub(crate) const SCHEMA: &str = include_str!("../../schema.sql");

/// The newest `main` version this code knows.
pub(crate) const MAIN_VERSION: i64 = 7;

/// The migration line riverlite's schema belongs to.
pub(crate) const MAIN_LINE: &str = "main";

/// Applies the schema if the database is empty; checks it otherwise.
///
/// An up-to-date database is only read. A newer one is `SchemaTooNew`, and
/// nothing is written.
pub(crate) fn prepare(conn: &mut Connection, migrate: bool) -> Result<()> {
    match check(conn) {
        Err(Error::NotMigrated { found: None, .. }) if migrate => apply(conn),
        other => other,
    }
}

/// Errs unless the database is at exactly `MAIN_VERSION`.
pub(crate) fn check(conn: &Connection) -> Result<()> {
    match main_version(conn)? {
        Some(v) if v == MAIN_VERSION => Ok(()),
        Some(v) if v > MAIN_VERSION => Err(Error::SchemaTooNew {
            line: MAIN_LINE.into(),
            found: v,
            known: MAIN_VERSION,
        }),
        found => Err(Error::NotMigrated {
            found,
            need: MAIN_VERSION,
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

/// Creates the schema in one `BEGIN IMMEDIATE` transaction, so that several
/// processes opening a new file at once migrate it exactly once.
fn apply(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated between our check and our lock.
    match main_version(&tx)? {
        None => {
            tx.execute_batch(SCHEMA)?;
            let mut insert =
                tx.prepare("INSERT INTO river_migration (line, version) VALUES (?1, ?2)")?;
            for version in 1..=MAIN_VERSION {
                insert.execute(rusqlite::params![MAIN_LINE, version])?;
            }
        }
        Some(_) => {
            drop(tx);
            return check(conn);
        }
    }
    tx.commit()?;
    Ok(())
}
