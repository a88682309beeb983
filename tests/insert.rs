//! Proves what inserts store: defaults, states, tags and metadata, option precedence, inserts inside a caller's transaction, and insert_many.

mod common;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use common::{email, job_count, new_client, raw, Count, SendEmail};
use riverlite::rusqlite::{Connection, TransactionBehavior};
use riverlite::{Client, Error, InsertManyParams, InsertOpts, JobArgs, JobState};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[test]
fn insert_returns_the_stored_row_with_rivers_defaults() {
    let (_dir, _path, client) = new_client();
    let res = client.insert(email("a@example.com"), None).unwrap();
    assert!(!res.unique_skipped_as_duplicate);
    let job = res.job;
    assert_eq!(job.kind, "send_email");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&job.args).unwrap(),
        json!({"to": "a@example.com"})
    );
    assert_eq!(job.queue, "default");
    assert_eq!(job.priority, 1);
    assert_eq!(job.max_attempts, 25);
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.attempt, 0);
    assert_eq!(job.attempted_at, None);
    assert!(job.attempted_by.is_empty());
    assert!(job.errors.is_empty());
    assert_eq!(job.finalized_at, None);
    assert_eq!(job.metadata, json!({}));
    assert!(job.tags.is_empty());
    assert_eq!(job.unique_key, None);
    assert_eq!(job.unique_states, None);
    assert_eq!(client.job_get(job.id).unwrap(), job);
}

#[test]
fn a_future_scheduled_at_makes_the_job_scheduled() {
    let (_dir, _path, client) = new_client();
    let at: DateTime<Utc> = Utc::now() + chrono::Duration::hours(1);
    let job = client
        .insert(
            email("a@example.com"),
            Some(InsertOpts {
                scheduled_at: Some(at),
                ..Default::default()
            }),
        )
        .unwrap()
        .job;
    assert_eq!(job.state, JobState::Scheduled);
    assert_eq!(job.scheduled_at, at.trunc_subsecs(3), "stored to the ms");
}

#[test]
fn a_past_scheduled_at_makes_the_job_available() {
    let (_dir, _path, client) = new_client();
    let at = Utc::now() - chrono::Duration::hours(1);
    let job = client
        .insert(
            email("a@example.com"),
            Some(InsertOpts {
                scheduled_at: Some(at),
                ..Default::default()
            }),
        )
        .unwrap()
        .job;
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.scheduled_at, at.trunc_subsecs(3));
}

#[test]
fn pending_inserts_a_pending_job() {
    let (_dir, _path, client) = new_client();
    let job = client
        .insert(
            email("a@example.com"),
            Some(InsertOpts {
                pending: true,
                ..Default::default()
            }),
        )
        .unwrap()
        .job;
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(client.job_get(job.id).unwrap().state, JobState::Pending);
}

#[test]
fn tags_and_metadata_are_stored() {
    let (_dir, _path, client) = new_client();
    let metadata = json!({"tenant": 42, "nested": {"a": [1, 2]}});
    let id = client
        .insert(
            email("a@example.com"),
            Some(InsertOpts {
                tags: vec!["billing".into(), "eu-west_1".into()],
                metadata: Some(metadata.clone()),
                ..Default::default()
            }),
        )
        .unwrap()
        .job
        .id;
    let job = client.job_get(id).unwrap();
    assert_eq!(job.tags, ["billing", "eu-west_1"]);
    assert_eq!(job.metadata, metadata);
}

/// A kind with its own insert defaults.
#[derive(Serialize, Deserialize)]
struct Report {
    day: u32,
}

impl JobArgs for Report {
    const KIND: &'static str = "report";

    fn insert_opts() -> InsertOpts {
        InsertOpts {
            queue: Some("reports".into()),
            priority: Some(2),
            max_attempts: Some(7),
            tags: vec!["kind".into()],
            ..Default::default()
        }
    }
}

fn client_with_defaults() -> (tempfile::TempDir, Client) {
    let (dir, path) = common::temp_db();
    let client = Client::builder(&path)
        .insert_defaults(InsertOpts {
            queue: Some("client_queue".into()),
            priority: Some(3),
            max_attempts: Some(9),
            tags: vec!["client".into()],
            metadata: Some(json!({"from": "client"})),
            ..Default::default()
        })
        .build()
        .unwrap();
    (dir, client)
}

#[test]
fn per_call_options_override_the_kinds_which_override_the_clients() {
    let (_dir, client) = client_with_defaults();

    // Only the client's defaults apply to a kind without its own.
    let job = client.insert(email("a@example.com"), None).unwrap().job;
    assert_eq!(
        (job.queue.as_str(), job.priority, job.max_attempts),
        ("client_queue", 3, 9)
    );
    assert_eq!(job.tags, ["client"]);
    assert_eq!(job.metadata, json!({"from": "client"}));

    // The kind's defaults override the client's; unset ones fall through.
    let job = client.insert(Report { day: 1 }, None).unwrap().job;
    assert_eq!(
        (job.queue.as_str(), job.priority, job.max_attempts),
        ("reports", 2, 7)
    );
    assert_eq!(job.tags, ["kind"]);
    assert_eq!(job.metadata, json!({"from": "client"}));

    // Per-call options override both.
    let job = client
        .insert(
            Report { day: 2 },
            Some(InsertOpts {
                queue: Some("call_queue".into()),
                priority: Some(4),
                tags: vec!["call".into()],
                metadata: Some(json!({"from": "call"})),
                ..Default::default()
            }),
        )
        .unwrap()
        .job;
    assert_eq!(
        (job.queue.as_str(), job.priority, job.max_attempts),
        ("call_queue", 4, 7)
    );
    assert_eq!(job.tags, ["call"]);
    assert_eq!(job.metadata, json!({"from": "call"}));
}

#[test]
fn insert_many_uses_the_same_precedence() {
    let (_dir, client) = client_with_defaults();
    let results = client
        .insert_many(vec![
            InsertManyParams::new(email("a@example.com")),
            InsertManyParams::new(Report { day: 1 }),
            InsertManyParams::new(Report { day: 2 }).opts(InsertOpts {
                priority: Some(4),
                ..Default::default()
            }),
        ])
        .unwrap();
    let got: Vec<_> = results
        .iter()
        .map(|r| (r.job.queue.as_str(), r.job.priority, r.job.max_attempts))
        .collect();
    assert_eq!(
        got,
        [("client_queue", 3, 9), ("reports", 2, 7), ("reports", 4, 7)]
    );
}

/// Inserts a job in the caller's transaction, then commits or rolls back.
fn insert_in_tx(path: &std::path::Path, client: &riverlite::Client, commit: bool) -> i64 {
    let mut conn = Connection::open(path).unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let id = client
        .insert_tx(&tx, email("a@example.com"), None)
        .unwrap()
        .job
        .id;
    if commit {
        tx.commit().unwrap();
    } else {
        tx.rollback().unwrap();
    }
    id
}

#[test]
fn insert_tx_job_exists_after_commit() {
    let (_dir, path, client) = new_client();
    let id = insert_in_tx(&path, &client, true);
    assert_eq!(client.job_get(id).unwrap().kind, "send_email");
}

#[test]
fn insert_tx_job_is_gone_after_rollback() {
    let (_dir, path, client) = new_client();
    let id = insert_in_tx(&path, &client, false);
    assert!(matches!(client.job_get(id), Err(Error::NotFound)));
    assert_eq!(job_count(&path), 0);
}

#[test]
fn insert_tx_in_a_deferred_transaction_that_meets_a_writer_is_busy() {
    let (_dir, path) = common::temp_db();
    let client = Client::builder(&path)
        .busy_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let blocker = raw(&path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let mut conn = Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_millis(50)).unwrap();
    let tx = conn.transaction().unwrap(); // DEFERRED
    let err = client
        .insert_tx(&tx, email("a@example.com"), None)
        .unwrap_err();
    assert!(matches!(err, Error::Busy(_)), "{err:?}");
    assert!(err.to_string().contains("Immediate"), "{err}");
    drop(tx);

    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(job_count(&path), 0);
}

#[test]
fn insert_many_returns_results_in_input_order() {
    let (_dir, _path, client) = new_client();
    let params = vec![
        InsertManyParams::new(email("first@example.com")),
        InsertManyParams::new(Count { n: 2 }),
        InsertManyParams::new(email("third@example.com")).opts(InsertOpts {
            queue: Some("other".into()),
            ..Default::default()
        }),
    ];
    let results = client.insert_many(params).unwrap();
    let kinds: Vec<_> = results.iter().map(|r| r.job.kind.as_str()).collect();
    assert_eq!(kinds, ["send_email", "count", "send_email"]);
    let first: SendEmail = serde_json::from_str(&results[0].job.args).unwrap();
    let third: SendEmail = serde_json::from_str(&results[2].job.args).unwrap();
    assert_eq!(first, email("first@example.com"));
    assert_eq!(third, email("third@example.com"));
    assert_eq!(results[2].job.queue, "other");
    assert!(results.iter().all(|r| !r.unique_skipped_as_duplicate));
}

#[test]
fn insert_many_inserts_every_job_across_statement_chunks() {
    const N: i64 = 2_500;
    let (_dir, path, client) = new_client();
    let params = (0..N).map(|n| InsertManyParams::new(Count { n })).collect();
    let results = client.insert_many(params).unwrap();
    assert_eq!(results.len(), N as usize);
    for (n, res) in (0..N).zip(&results) {
        let args: Count = serde_json::from_str(&res.job.args).unwrap();
        assert_eq!(args.n, n, "result {n} is the job given at index {n}");
    }
    assert!(results.windows(2).all(|w| w[0].job.id < w[1].job.id));
    assert_eq!(job_count(&path), N);
}

#[test]
fn insert_many_tx_commits_and_rolls_back_with_the_caller() {
    let (_dir, path, client) = new_client();
    let mut conn = Connection::open(&path).unwrap();

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let params = (0..3).map(|n| InsertManyParams::new(Count { n })).collect();
    client.insert_many_tx(&tx, params).unwrap();
    tx.rollback().unwrap();
    assert_eq!(job_count(&path), 0);

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let params = (0..3).map(|n| InsertManyParams::new(Count { n })).collect();
    let results = client.insert_many_tx(&tx, params).unwrap();
    tx.commit().unwrap();
    assert_eq!(job_count(&path), 3);
    for res in results {
        assert_eq!(client.job_get(res.job.id).unwrap(), res.job);
    }
}

/// Args whose JSON has escapes, non-ASCII text, floats and nesting.
#[derive(Serialize, Deserialize)]
struct Awkward {
    text: String,
    float: f64,
    big: u64,
    nested: serde_json::Value,
}

impl JobArgs for Awkward {
    const KIND: &'static str = "awkward";
}

fn awkward(n: u64) -> (Awkward, InsertOpts) {
    let args = Awkward {
        text: format!("quote \" backslash \\ tab \t newline \n nul \u{0} é ☃ 😀 {n}"),
        float: 1.5e300 / (n as f64 + 1.0),
        big: u64::MAX - n,
        nested: json!({"z": [1, 2.25, -0.0, null, true], "a": {"ü": "x"}}),
    };
    let opts = InsertOpts {
        tags: vec!["café".into(), format!("t{n}")],
        metadata: Some(json!({"f": 0.1, "s": "ß\u{1}", "arr": [[], {}]})),
        ..Default::default()
    };
    (args, opts)
}

#[test]
fn insert_results_equal_the_stored_rows() {
    let (_dir, _path, client) = new_client();
    let (args, opts) = awkward(0);
    let res = client.insert(args, Some(opts)).unwrap();
    assert_eq!(client.job_get(res.job.id).unwrap(), res.job);

    let params = (1..=3)
        .map(|n| {
            let (args, opts) = awkward(n);
            InsertManyParams::new(args).opts(opts)
        })
        .collect();
    for res in client.insert_many(params).unwrap() {
        assert_eq!(client.job_get(res.job.id).unwrap(), res.job);
    }
}
