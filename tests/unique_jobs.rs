//! Proves that unique jobs are inserted at most once per key (kind, args, period, queue) among their unique states, even under concurrent inserts.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{email, job_count, new_client, raw, Count};
use riverlite::{Error, InsertManyParams, InsertOpts, JobState, UniqueOpts};

fn unique(unique: UniqueOpts) -> Option<InsertOpts> {
    Some(InsertOpts {
        unique: Some(unique),
        ..Default::default()
    })
}

fn by_args() -> Option<InsertOpts> {
    unique(UniqueOpts {
        by_args: true,
        ..Default::default()
    })
}

#[test]
fn concurrent_inserts_of_one_unique_job_insert_it_once() {
    const THREADS: usize = 8;
    let (_dir, path, client) = new_client();
    let client = Arc::new(client);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let client = Arc::clone(&client);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                client.insert(email("a@example.com"), by_args())
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread panicked").expect("insert"))
        .collect();

    assert_eq!(job_count(&path), 1);
    let skipped = results
        .iter()
        .filter(|r| r.unique_skipped_as_duplicate)
        .count();
    assert_eq!(skipped, THREADS - 1);
    let id = results[0].job.id;
    assert!(results.iter().all(|r| r.job.id == id), "{results:?}");
}

#[test]
fn a_duplicate_returns_the_existing_job() {
    let (_dir, _path, client) = new_client();
    let first = client.insert(email("a@example.com"), by_args()).unwrap();
    let second = client.insert(email("a@example.com"), by_args()).unwrap();
    assert!(!first.unique_skipped_as_duplicate);
    assert!(second.unique_skipped_as_duplicate);
    assert_eq!(second.job, client.job_get(first.job.id).unwrap());
}

#[test]
fn by_args_tells_different_args_apart() {
    let (_dir, path, client) = new_client();
    let a = client.insert(email("a@example.com"), by_args()).unwrap();
    let b = client.insert(email("b@example.com"), by_args()).unwrap();
    assert!(!a.unique_skipped_as_duplicate);
    assert!(!b.unique_skipped_as_duplicate);
    assert_ne!(a.job.id, b.job.id);
    assert_eq!(job_count(&path), 2);
}

#[test]
fn without_by_args_the_kind_alone_is_the_key() {
    let (_dir, path, client) = new_client();
    let kind_only = || unique(UniqueOpts::default());
    client.insert(email("a@example.com"), kind_only()).unwrap();
    let b = client.insert(email("b@example.com"), kind_only()).unwrap();
    assert!(b.unique_skipped_as_duplicate);
    // Another kind has its own key.
    let other = client.insert(Count { n: 1 }, kind_only()).unwrap();
    assert!(!other.unique_skipped_as_duplicate);
    assert_eq!(job_count(&path), 2);
}

#[test]
fn by_queue_makes_each_queue_its_own_key() {
    let (_dir, path, client) = new_client();
    let in_queue = |queue: &str, by_queue: bool| {
        Some(InsertOpts {
            queue: Some(queue.into()),
            unique: Some(UniqueOpts {
                by_queue,
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let a = client.insert(Count { n: 1 }, in_queue("a", true)).unwrap();
    let b = client.insert(Count { n: 1 }, in_queue("b", true)).unwrap();
    let a_again = client.insert(Count { n: 1 }, in_queue("a", true)).unwrap();
    assert!(!a.unique_skipped_as_duplicate);
    assert!(!b.unique_skipped_as_duplicate);
    assert!(a_again.unique_skipped_as_duplicate);
    assert_eq!(a_again.job.id, a.job.id);
    assert_eq!(job_count(&path), 2);

    // Without by_queue, another queue is the same key.
    let (_dir, path, client) = new_client();
    client.insert(Count { n: 1 }, in_queue("a", false)).unwrap();
    let b = client.insert(Count { n: 1 }, in_queue("b", false)).unwrap();
    assert!(b.unique_skipped_as_duplicate);
    assert_eq!(job_count(&path), 1);
}

#[test]
fn by_period_collides_within_a_period_only() {
    let (_dir, path, client) = new_client();
    let at = |h: u32, m: u32| {
        Some(InsertOpts {
            scheduled_at: Some(Utc.with_ymd_and_hms(2024, 1, 1, h, m, 0).unwrap()),
            unique: Some(UniqueOpts {
                by_period: Some(Duration::from_secs(3600)),
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let first = client.insert(Count { n: 1 }, at(10, 5)).unwrap();
    let same_hour = client.insert(Count { n: 1 }, at(10, 55)).unwrap();
    let next_hour = client.insert(Count { n: 1 }, at(11, 0)).unwrap();
    assert!(!first.unique_skipped_as_duplicate);
    assert!(same_hour.unique_skipped_as_duplicate);
    assert_eq!(same_hour.job.id, first.job.id);
    assert!(!next_hour.unique_skipped_as_duplicate);
    assert_eq!(job_count(&path), 2);
}

#[test]
fn a_cancelled_job_does_not_block_a_new_one() {
    let (_dir, path, client) = new_client();
    let first = client.insert(email("a@example.com"), by_args()).unwrap();
    let cancelled = client.job_cancel(first.job.id).unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);

    let second = client.insert(email("a@example.com"), by_args()).unwrap();
    assert!(!second.unique_skipped_as_duplicate);
    assert_ne!(second.job.id, first.job.id);
    assert_eq!(job_count(&path), 2);
}

#[test]
fn a_completed_job_blocks_a_new_one_by_default() {
    let (_dir, path, client) = new_client();
    let first = client.insert(email("a@example.com"), by_args()).unwrap();
    raw(&path)
        .execute(
            "UPDATE river_job SET state = 'completed', finalized_at = datetime('now', 'subsec') \
             WHERE id = ?1",
            [first.job.id],
        )
        .unwrap();
    let second = client.insert(email("a@example.com"), by_args()).unwrap();
    assert!(second.unique_skipped_as_duplicate);
    assert_eq!(second.job.id, first.job.id);
    assert_eq!(second.job.state, JobState::Completed);
}

#[test]
fn duplicates_within_one_insert_many_are_skipped() {
    let (_dir, path, client) = new_client();
    let results = client
        .insert_many(vec![
            InsertManyParams::new(email("a@example.com")).opts(by_args().unwrap()),
            InsertManyParams::new(email("a@example.com")).opts(by_args().unwrap()),
            InsertManyParams::new(email("a@example.com")),
            InsertManyParams::new(email("b@example.com")).opts(by_args().unwrap()),
        ])
        .unwrap();
    let skipped: Vec<_> = results
        .iter()
        .map(|r| r.unique_skipped_as_duplicate)
        .collect();
    assert_eq!(skipped, [false, true, false, false]);
    assert_eq!(results[1].job.id, results[0].job.id);
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r.job.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(job_count(&path), 3);
}

#[test]
fn insert_many_skips_a_job_that_already_exists() {
    let (_dir, path, client) = new_client();
    let existing = client.insert(email("a@example.com"), by_args()).unwrap();
    let results = client
        .insert_many(vec![
            InsertManyParams::new(Count { n: 1 }),
            InsertManyParams::new(email("a@example.com")).opts(by_args().unwrap()),
            InsertManyParams::new(Count { n: 2 }),
        ])
        .unwrap();
    let skipped: Vec<_> = results
        .iter()
        .map(|r| r.unique_skipped_as_duplicate)
        .collect();
    assert_eq!(skipped, [false, true, false]);
    assert_eq!(results[1].job.id, existing.job.id);
    assert_eq!(results[0].job.kind, "count");
    assert_eq!(results[2].job.kind, "count");
    assert_eq!(job_count(&path), 3);
}

#[test]
fn by_state_without_running_is_invalid() {
    let (_dir, path, client) = new_client();
    let err = client
        .insert(
            email("a@example.com"),
            unique(UniqueOpts {
                by_state: Some(vec![
                    JobState::Available,
                    JobState::Pending,
                    JobState::Scheduled,
                ]),
                ..Default::default()
            }),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInsert { field: "unique.by_state", reason } if reason.contains("running")),
        "{err:?}"
    );
    assert_eq!(job_count(&path), 0);
}
