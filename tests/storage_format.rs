//! Proves that riverlite creates River's SQLite schema (main line, version 8), works a version 7 file as it is or upgrades it, migrates a new file exactly once, and leaves an existing database alone.

mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};

use common::{
    dump_table, email, fingerprint, fixture_json, make_version_7, migrations, raw, temp_db,
};
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

/// River's main line up to `version`, then riverlite's own line.
fn main_migrations_to(version: i64) -> Vec<(String, i64)> {
    (1..=version)
        .map(|v| ("main".to_string(), v))
        .chain([("riverlite".to_string(), 1)])
        .collect()
}

fn main_migrations() -> Vec<(String, i64)> {
    main_migrations_to(8)
}

#[test]
fn a_new_database_has_rivers_schema() {
    let (_dir, path) = temp_db();
    let _client = Client::builder(&path).build().unwrap();
    assert_eq!(fingerprint(&path), fixture_json("river_sqlite_v8.json"));
}

#[test]
fn a_new_database_records_main_migrations_1_to_8() {
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
                need: 7,
                ..
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
            "INSERT INTO river_migration (line, version) VALUES ('main', 9)",
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
            Error::SchemaTooNew { line, found: 9, known: 8 } if line == "main"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("version 9"), "{err}");
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

/// A file at version 7 with three jobs, the last one deleted.
fn version_7_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    for to in ["a@example.com", "b@example.com", "c@example.com"] {
        client.insert(email(to), None).unwrap();
    }
    client.job_delete(3).unwrap();
    drop(client);
    make_version_7(&path);
    assert_eq!(fingerprint(&path), fixture_json("river_sqlite_v7.json"));
    (dir, path)
}

#[test]
fn a_version_7_file_is_worked_as_it_is_without_migrations() {
    let (_dir, path) = version_7_file();
    let client = Client::builder(&path).migrate(false).build().unwrap();
    let id = client.insert(email("d@example.com"), None).unwrap().job.id;
    assert_eq!(
        client.job_get(id).unwrap().args,
        r#"{"to":"d@example.com"}"#
    );
    drop(client);
    assert_eq!(migrations(&path), main_migrations_to(7));
    assert_eq!(fingerprint(&path), fixture_json("river_sqlite_v7.json"));
}

#[test]
fn build_brings_a_version_7_file_to_8_keeping_every_job() {
    let (_dir, path) = version_7_file();
    let before = dump_table(&raw(&path), "river_job");
    let client = Client::builder(&path).build().unwrap();
    assert_eq!(migrations(&path), main_migrations());
    assert_eq!(fingerprint(&path), fixture_json("river_sqlite_v8.json"));
    assert_eq!(dump_table(&raw(&path), "river_job"), before);

    // From now on the largest id is never handed out again once deleted.
    let id = client.insert(email("d@example.com"), None).unwrap().job.id;
    client.job_delete(id).unwrap();
    let next = client.insert(email("e@example.com"), None).unwrap().job.id;
    assert_eq!(next, id + 1);
}

#[test]
fn a_file_older_than_version_7_is_not_migrated_and_names_the_version() {
    let (_dir, path) = temp_db();
    drop(Client::builder(&path).build().unwrap());
    raw(&path)
        .execute("DELETE FROM river_migration WHERE version >= 7", [])
        .unwrap();
    for migrate in [false, true] {
        let err = Client::builder(&path).migrate(migrate).build().unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotMigrated {
                    found: Some(6),
                    need: 7,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("version 6"), "{err}");
    }
}
