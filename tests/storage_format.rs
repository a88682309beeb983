//! Proves that riverlite creates River's SQLite schema (main line, version 7), migrates a new file exactly once, and leaves an existing database alone.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use common::{dump_table, email, migrations, raw, temp_db};
use riverlite::rusqlite::Connection;
use riverlite::{Client, Error};

/// Everything stored in the database: its schema and every river_ table's rows.
fn content(path: &Path) -> Vec<Vec<Vec<String>>> {
    let conn = raw(path);
    let mut tables = vec![dump_table(
        &conn,
        "(SELECT name, type, tbl_name, sql FROM sqlite_master)",
    )];
    for table in [
        "river_job",
        "river_leader",
        "river_migration",
        "river_notification",
        "river_queue",
    ] {
        tables.push(dump_table(&conn, table));
    }
    tables
}

fn data_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .expect("data_version")
}

fn main_migrations() -> Vec<(String, i64)> {
    (1..=7).map(|v| ("main".to_string(), v)).collect()
}

#[test]
fn a_new_database_has_rivers_schema() {
    let (_dir, path) = temp_db();
    let _client = Client::builder(&path).build().unwrap();

    let manifest = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .arg(format!("{manifest}/tests/fixtures/fingerprint.py"))
        .arg(&path)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "fingerprint.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let actual: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let fixture = std::fs::read(format!("{manifest}/tests/fixtures/river_sqlite_v7.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&fixture).unwrap();
    assert_eq!(actual, expected);
}

#[test]
fn a_new_database_records_main_migrations_1_to_7() {
    let (_dir, path) = temp_db();
    let _client = Client::builder(&path).build().unwrap();
    assert_eq!(migrations(&path), main_migrations());
}

#[test]
fn a_new_database_uses_wal_and_incremental_auto_vacuum() {
    let (_dir, path) = temp_db();
    let _client = Client::builder(&path).build().unwrap();
    let conn = raw(&path);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(auto_vacuum, 2, "incremental");
}

#[test]
fn opening_a_migrated_database_changes_nothing() {
    let (_dir, path) = temp_db();
    let first = Client::builder(&path).build().unwrap();
    first.insert(email("a@example.com"), None).unwrap();
    first.queue_pause("email").unwrap();
    drop(first);

    let before = content(&path);
    let watcher = raw(&path);
    let version_before = data_version(&watcher);

    let second = Client::builder(&path).build().unwrap();
    let jobs = second
        .job_list(riverlite::JobListParams::new())
        .unwrap()
        .jobs;
    assert_eq!(jobs.len(), 1);
    drop(second);

    assert_eq!(
        data_version(&watcher),
        version_before,
        "opening the database wrote to it"
    );
    assert_eq!(content(&path), before);
}

#[test]
fn migrate_false_on_a_new_file_is_not_migrated() {
    let (_dir, path) = temp_db();
    let err = Client::builder(&path).migrate(false).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotMigrated {
                found: None,
                need: 7
            }
        ),
        "{err:?}"
    );
}

#[test]
fn migrate_false_on_a_migrated_file_builds() {
    let (_dir, path) = temp_db();
    drop(Client::builder(&path).build().unwrap());
    let client = Client::builder(&path).migrate(false).build().unwrap();
    client.insert(email("a@example.com"), None).unwrap();
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let (_dir, path) = temp_db();
    drop(Client::builder(&path).build().unwrap());
    raw(&path)
        .execute(
            "INSERT INTO river_migration (line, version) VALUES ('main', 8)",
            [],
        )
        .unwrap();
    let before = content(&path);
    let watcher = raw(&path);
    let version_before = data_version(&watcher);

    let err = Client::builder(&path).build().unwrap_err();
    assert!(
        matches!(
            &err,
            Error::SchemaTooNew { line, found: 8, known: 7 } if line == "main"
        ),
        "{err:?}"
    );
    assert_eq!(
        data_version(&watcher),
        version_before,
        "the refused open wrote to the database"
    );
    assert_eq!(content(&path), before);
}

#[test]
fn clients_built_at_once_on_a_new_file_migrate_it_once() {
    const THREADS: usize = 8;
    let (_dir, path) = temp_db();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                Client::builder(&path).build().map(|_client| ())
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread panicked").expect("build");
    }
    assert_eq!(migrations(&path), main_migrations());
    let auto_vacuum: i64 = raw(&path)
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "incremental");
}
