//! Proves that bad input gets a typed error and leaves the database exactly as it was.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{dump, email, job_count, temp_db, Count};
use riverlite::{Client, Error, InsertManyParams, InsertOpts, JobArgs, JobListParams, UniqueOpts};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;

/// A client on a database that already holds two jobs and a paused queue.
fn populated() -> (tempfile::TempDir, std::path::PathBuf, Client) {
    let (dir, path, client) = common::new_client();
    client.insert(email("a@example.com"), None).unwrap();
    client.insert(Count { n: 1 }, None).unwrap();
    client.queue_pause("existing").unwrap();
    (dir, path, client)
}

/// Runs `op`, which must fail, and checks that the stored jobs and queues did not change.
fn rejected<T: std::fmt::Debug>(
    path: &Path,
    client: &Client,
    op: impl FnOnce(&Client) -> riverlite::Result<T>,
) -> Error {
    let before = dump(path);
    let err = op(client).expect_err("bad input was accepted");
    assert_eq!(dump(path), before, "the database changed after {err:?}");
    err
}

fn invalid_field(err: &Error) -> &'static str {
    match err {
        Error::InvalidInsert { field, .. } => field,
        other => panic!("expected InvalidInsert, got {other:?}"),
    }
}

fn with(opts: InsertOpts) -> Option<InsertOpts> {
    Some(opts)
}

#[test]
fn priority_out_of_range_is_rejected() {
    let (_dir, path, client) = populated();
    for priority in [0, 5] {
        let err = rejected(&path, &client, |c| {
            c.insert(
                email("x"),
                with(InsertOpts {
                    priority: Some(priority),
                    ..Default::default()
                }),
            )
        });
        assert_eq!(invalid_field(&err), "priority", "{priority}");
    }
}

#[test]
fn zero_max_attempts_is_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| {
        c.insert(
            email("x"),
            with(InsertOpts {
                max_attempts: Some(0),
                ..Default::default()
            }),
        )
    });
    assert_eq!(invalid_field(&err), "max_attempts");
}

#[derive(Serialize, Deserialize)]
struct EmptyKind {}
impl JobArgs for EmptyKind {
    const KIND: &'static str = "";
}

const KIND_127: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
const KIND_128: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

#[derive(Serialize, Deserialize)]
struct LongestKind {}
impl JobArgs for LongestKind {
    const KIND: &'static str = KIND_127;
}

#[derive(Serialize, Deserialize)]
struct TooLongKind {}
impl JobArgs for TooLongKind {
    const KIND: &'static str = KIND_128;
}

#[test]
fn empty_and_too_long_kinds_are_rejected() {
    assert_eq!((KIND_127.len(), KIND_128.len()), (127, 128));
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| c.insert(EmptyKind {}, None));
    assert_eq!(invalid_field(&err), "kind");
    let err = rejected(&path, &client, |c| c.insert(TooLongKind {}, None));
    assert_eq!(invalid_field(&err), "kind");
    // 127 characters is the longest kind River accepts.
    client.insert(LongestKind {}, None).unwrap();
}

#[test]
fn an_invalid_queue_name_is_rejected() {
    let (_dir, path, client) = populated();
    for queue in ["", "Bad Queue", "a__b", "_a"] {
        let err = rejected(&path, &client, |c| {
            c.insert(
                email("x"),
                with(InsertOpts {
                    queue: Some(queue.into()),
                    ..Default::default()
                }),
            )
        });
        assert_eq!(invalid_field(&err), "queue", "{queue:?}");
    }
}

#[test]
fn a_bad_tag_is_rejected() {
    let (_dir, path, client) = populated();
    for tag in ["", "has space", "-leading"] {
        let err = rejected(&path, &client, |c| {
            c.insert(
                email("x"),
                with(InsertOpts {
                    tags: vec!["good".into(), tag.into()],
                    ..Default::default()
                }),
            )
        });
        assert_eq!(invalid_field(&err), "tags", "{tag:?}");
    }
}

#[test]
fn metadata_that_is_not_an_object_is_rejected() {
    let (_dir, path, client) = populated();
    for metadata in [json!([1, 2]), json!("text"), json!(null), json!(3)] {
        let err = rejected(&path, &client, |c| {
            c.insert(
                email("x"),
                with(InsertOpts {
                    metadata: Some(metadata.clone()),
                    ..Default::default()
                }),
            )
        });
        assert_eq!(invalid_field(&err), "metadata", "{metadata}");
    }
}

/// Args whose `Serialize` always fails.
#[derive(Deserialize)]
struct Unserializable {}
impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot be serialized"))
    }
}
impl JobArgs for Unserializable {
    const KIND: &'static str = "unserializable";
}

/// Args with a map whose keys JSON cannot represent.
#[derive(Serialize, Deserialize)]
struct TupleKeys {
    map: BTreeMap<(i32, i32), i32>,
}
impl JobArgs for TupleKeys {
    const KIND: &'static str = "tuple_keys";
}

#[test]
fn args_that_fail_to_serialize_are_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| c.insert(Unserializable {}, None));
    assert_eq!(invalid_field(&err), "args");
    let map = BTreeMap::from([((1, 2), 3)]);
    let err = rejected(&path, &client, |c| c.insert(TupleKeys { map }, None));
    assert_eq!(invalid_field(&err), "args");
}

/// Args that serialize to a number, not an object.
#[derive(Serialize, Deserialize)]
struct Number(i64);
impl JobArgs for Number {
    const KIND: &'static str = "number";
}

#[test]
fn args_that_are_not_a_json_object_are_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| c.insert(Number(7), None));
    assert_eq!(invalid_field(&err), "args");
}

#[test]
fn an_empty_insert_many_is_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| c.insert_many(Vec::new()));
    assert!(matches!(err, Error::InvalidInsert { .. }), "{err:?}");
}

#[test]
fn a_unique_period_under_a_second_is_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| {
        c.insert(
            email("x"),
            with(InsertOpts {
                unique: Some(UniqueOpts {
                    by_period: Some(std::time::Duration::from_millis(500)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        )
    });
    assert_eq!(invalid_field(&err), "unique.by_period");
}

#[test]
fn insert_many_with_one_invalid_job_inserts_nothing() {
    let (_dir, path, client) = populated();
    let mut params: Vec<_> = (0..100)
        .map(|n| InsertManyParams::new(Count { n }))
        .collect();
    params.insert(
        50,
        InsertManyParams::new(Count { n: -1 }).opts(InsertOpts {
            priority: Some(9),
            ..Default::default()
        }),
    );
    let err = rejected(&path, &client, |c| c.insert_many(params));
    assert_eq!(invalid_field(&err), "priority");

    let params = vec![
        InsertManyParams::new(Count { n: 1 }),
        InsertManyParams::new(Number(2)),
    ];
    let err = rejected(&path, &client, |c| c.insert_many(params));
    assert_eq!(invalid_field(&err), "args");
}

#[test]
fn a_path_in_a_missing_directory_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("dir");
    let err = Client::builder(missing.join("jobs.db"))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::CannotOpen { .. }), "{err:?}");
    assert!(!missing.exists());
}

fn read_only_uri(path: &Path) -> String {
    format!("file:{}?mode=ro", path.display())
}

#[test]
fn a_read_only_database_refuses_writes() {
    let (_dir, path, client) = populated();
    drop(client);
    let before = dump(&path);

    let client = Client::builder(read_only_uri(&path)).build().unwrap();
    assert_eq!(client.job_list(JobListParams::new()).unwrap().jobs.len(), 2);
    let err = client.insert(email("x"), None).unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
    let err = client
        .insert_many(vec![InsertManyParams::new(Count { n: 1 })])
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
    let err = client.queue_pause("other").unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
    drop(client);
    assert_eq!(dump(&path), before);
}

#[test]
fn a_read_only_database_without_riverlites_schema_cannot_be_built() {
    let (_dir, path) = temp_db();
    riverlite::rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE users (email TEXT)")
        .unwrap();
    let err = Client::builder(read_only_uri(&path)).build().unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
    let river_tables: i64 = common::raw(&path)
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'river%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(river_tables, 0);
}

#[test]
fn a_file_that_is_not_a_database_is_reported() {
    let (_dir, path) = temp_db();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Client::builder(&path).build().unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was changed"
    );
}

#[test]
fn a_newer_schema_is_reported() {
    let (_dir, path, client) = populated();
    drop(client);
    common::raw(&path)
        .execute(
            "INSERT INTO river_migration (line, version) VALUES ('main', 9)",
            [],
        )
        .unwrap();
    let before = dump(&path);
    let err = Client::builder(&path).build().unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 9, .. }),
        "{err:?}"
    );
    assert_eq!(dump(&path), before);
    assert_eq!(job_count(&path), 2);
}

#[test]
fn job_list_page_size_out_of_range_is_rejected() {
    let (_dir, path, client) = populated();
    for first in [0, 10_001] {
        let err = rejected(&path, &client, |c| {
            c.job_list(JobListParams::new().first(first))
        });
        assert!(matches!(err, Error::InvalidArgument(_)), "{first}: {err:?}");
    }
    assert_eq!(
        client
            .job_list(JobListParams::new().first(10_000))
            .unwrap()
            .jobs
            .len(),
        2
    );
}

#[test]
fn pausing_or_resuming_an_invalid_queue_name_is_rejected() {
    let (_dir, path, client) = populated();
    let err = rejected(&path, &client, |c| c.queue_pause("Bad Name"));
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let err = rejected(&path, &client, |c| c.queue_resume("Bad Name"));
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[test]
fn concurrent_writers_each_fail_within_about_busy_timeout_of_a_held_lock() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .busy_timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    // Another process's writer holds the lock throughout.
    let mut other = riverlite::rusqlite::Connection::open(&path).unwrap();
    let held = other
        .transaction_with_behavior(riverlite::rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let start = std::time::Instant::now();
    let slowest = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..5)
            .map(|_| {
                scope.spawn(|| {
                    let err = client.insert(email("a@example.com"), None).unwrap_err();
                    assert!(matches!(err, Error::Busy(_)), "{err:?}");
                    start.elapsed()
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap()
    });
    drop(held);
    // Queued one after another, the fifth used to fail after 5 x 500 ms.
    assert!(
        slowest < std::time::Duration::from_millis(2_000),
        "the slowest writer failed after {slowest:?}"
    );
    assert_eq!(job_count(&path), 0);
}
