//! Proves the administration API: job_get, job_list filters, order and cursor pagination, cancel, retry, delete, and queue pause/resume/list.

mod common;

use std::collections::HashSet;

use chrono::{Duration, Utc};
use common::{email, job_count, new_client, raw, set_running, Count};
use riverlite::rusqlite::{Connection, TransactionBehavior};
use riverlite::{
    Client, Error, EventKind, InsertManyParams, InsertOpts, JobListOrderBy, JobListParams, JobRow,
    JobState,
};

fn ids(client: &Client, params: JobListParams) -> Vec<i64> {
    let page = client.job_list(&params).unwrap();
    page.jobs.iter().map(|j| j.id).collect()
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

#[test]
fn job_get_of_a_missing_id_is_not_found() {
    let (_dir, _path, client) = new_client();
    assert!(matches!(client.job_get(12345), Err(Error::NotFound)));
}

struct Fixture {
    a: i64,
    b: i64,
    c: i64,
    d: i64,
}

/// a: send_email, default, p1, [red]           available
/// b: count,      q2,      p2, [red, blue]     available
/// c: count,      q2,      p3, [blue]          scheduled
/// d: send_email, default, p4, [green]         pending
fn fixture(client: &Client) -> Fixture {
    let opts = |queue: &str, priority: u8, tags: &[&str]| InsertOpts {
        queue: Some(queue.into()),
        priority: Some(priority),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    let insert = |res: riverlite::Result<riverlite::InsertResult>| res.unwrap().job.id;
    Fixture {
        a: insert(client.insert(email("a"), Some(opts("default", 1, &["red"])))),
        b: insert(client.insert(Count { n: 1 }, Some(opts("q2", 2, &["red", "blue"])))),
        c: insert(client.insert(
            Count { n: 2 },
            Some(InsertOpts {
                scheduled_at: Some(Utc::now() + Duration::hours(1)),
                ..opts("q2", 3, &["blue"])
            }),
        )),
        d: insert(client.insert(
            email("d"),
            Some(InsertOpts {
                pending: true,
                ..opts("default", 4, &["green"])
            }),
        )),
    }
}

#[test]
fn job_list_filters_by_each_field() {
    let (_dir, _path, client) = new_client();
    let Fixture { a, b, c, d } = fixture(&client);
    let list = |params| sorted(ids(&client, params));

    assert_eq!(list(JobListParams::new()), [a, b, c, d]);
    assert_eq!(
        list(JobListParams::new().states([JobState::Scheduled, JobState::Pending])),
        [c, d]
    );
    assert_eq!(list(JobListParams::new().queues(["q2"])), [b, c]);
    assert_eq!(list(JobListParams::new().kinds(["count"])), [b, c]);
    assert_eq!(list(JobListParams::new().priorities([1, 4])), [a, d]);
    assert_eq!(list(JobListParams::new().ids([a, c, 999])), [a, c]);
    assert_eq!(
        list(JobListParams::new().tags_any(["red", "green"])),
        [a, b, d]
    );
    assert_eq!(list(JobListParams::new().tags_all(["red", "blue"])), [b]);
    assert_eq!(list(JobListParams::new().tags_all(["red"])), [a, b]);
    assert_eq!(
        list(
            JobListParams::new()
                .kinds(["count"])
                .states([JobState::Available])
        ),
        [b]
    );
    assert!(list(JobListParams::new().queues(["nowhere"])).is_empty());
}

#[test]
fn job_list_orders_by_id_and_by_scheduled_at() {
    let (_dir, _path, client) = new_client();
    // Inserted in order, scheduled in reverse order.
    let base = Utc::now() - Duration::hours(1);
    let inserted: Vec<i64> = (0..5)
        .map(|n| {
            let opts = InsertOpts {
                scheduled_at: Some(base - Duration::minutes(n)),
                ..Default::default()
            };
            client.insert(Count { n }, Some(opts)).unwrap().job.id
        })
        .collect();
    let reversed: Vec<i64> = inserted.iter().rev().copied().collect();

    assert_eq!(ids(&client, JobListParams::new()), inserted);
    assert_eq!(
        ids(&client, JobListParams::new().descending(true)),
        reversed
    );
    let by_time = JobListParams::new().order_by(JobListOrderBy::ScheduledAt);
    assert_eq!(ids(&client, by_time.clone()), reversed);
    assert_eq!(ids(&client, by_time.descending(true)), inserted);
}

/// Follows `next` cursors to the end, returning every id in the order seen.
fn all_pages(client: &Client, params: JobListParams) -> (Vec<i64>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut params = params;
    loop {
        let page = client.job_list(&params).unwrap();
        pages += 1;
        assert!(!page.jobs.is_empty(), "page {pages} is empty");
        seen.extend(page.jobs.iter().map(|j| j.id));
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => return (seen, pages),
        }
    }
}

#[test]
fn cursor_pagination_visits_every_job_once_in_order() {
    const N: i64 = 250;
    let (_dir, _path, client) = new_client();
    // Only five distinct times, so most neighbours tie on scheduled_at; and
    // the times do not follow the ids.
    let base = Utc::now() - Duration::hours(1);
    let params = (0..N)
        .map(|n| {
            InsertManyParams::new(Count { n }).opts(InsertOpts {
                scheduled_at: Some(base - Duration::minutes((n * 3) % 5)),
                ..Default::default()
            })
        })
        .collect();
    let jobs: Vec<JobRow> = client
        .insert_many(params)
        .unwrap()
        .into_iter()
        .map(|r| r.job)
        .collect();

    for order_by in [JobListOrderBy::Id, JobListOrderBy::ScheduledAt] {
        for descending in [false, true] {
            let mut expected = jobs.clone();
            match order_by {
                JobListOrderBy::Id => expected.sort_by_key(|j| j.id),
                _ => expected.sort_by_key(|j| (j.scheduled_at, j.id)),
            }
            if descending {
                expected.reverse();
            }
            let expected: Vec<i64> = expected.iter().map(|j| j.id).collect();

            let params = JobListParams::new()
                .order_by(order_by)
                .descending(descending)
                .first(7);
            let (seen, pages) = all_pages(&client, params);
            assert_eq!(seen, expected, "{order_by:?} descending={descending}");
            assert_eq!(pages, (N as usize).div_ceil(7));
            assert_eq!(seen.iter().collect::<HashSet<_>>().len(), N as usize);
        }
    }
}

#[test]
fn a_full_last_page_has_no_next_cursor() {
    let (_dir, _path, client) = new_client();
    let params = (0..14)
        .map(|n| InsertManyParams::new(Count { n }))
        .collect();
    client.insert_many(params).unwrap();
    let (seen, pages) = all_pages(&client, JobListParams::new().first(7));
    assert_eq!((seen.len(), pages), (14, 2));
}

#[test]
fn cancelling_an_available_job_finalizes_it() {
    let (_dir, _path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    let job = client.job_cancel(id).unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finalized_at.is_some());
    assert_eq!(client.job_get(id).unwrap(), job);
}

#[test]
fn cancelling_a_running_job_flags_it_and_leaves_it_running() {
    let (_dir, path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    set_running(&path, id);
    let job = client.job_cancel(id).unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.finalized_at, None);
    assert!(
        job.metadata.get("cancel_attempted_at").is_some(),
        "{}",
        job.metadata
    );
    assert_eq!(client.job_get(id).unwrap(), job);
}

#[test]
fn cancelling_a_completed_job_changes_nothing() {
    let (_dir, path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    raw(&path)
        .execute(
            "UPDATE river_job SET state = 'completed', finalized_at = datetime('now', 'subsec') \
             WHERE id = ?1",
            [id],
        )
        .unwrap();
    let before = client.job_get(id).unwrap();
    assert_eq!(client.job_cancel(id).unwrap(), before);
    assert_eq!(client.job_get(id).unwrap(), before);
}

#[test]
fn cancel_retry_and_delete_of_a_missing_job_are_not_found() {
    let (_dir, _path, client) = new_client();
    assert!(matches!(client.job_cancel(42), Err(Error::NotFound)));
    assert!(matches!(client.job_retry(42), Err(Error::NotFound)));
    assert!(matches!(client.job_delete(42), Err(Error::NotFound)));
}

#[test]
fn job_cancel_tx_follows_the_callers_transaction() {
    let (_dir, path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    let mut conn = Connection::open(&path).unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    assert_eq!(
        client.job_cancel_tx(&tx, id).unwrap().state,
        JobState::Cancelled
    );
    tx.rollback().unwrap();
    assert_eq!(client.job_get(id).unwrap().state, JobState::Available);
}

#[test]
fn retrying_a_discarded_job_makes_it_available_with_one_more_attempt() {
    let (_dir, path, client) = new_client();
    let id = client
        .insert(
            email("a"),
            Some(InsertOpts {
                max_attempts: Some(3),
                ..Default::default()
            }),
        )
        .unwrap()
        .job
        .id;
    raw(&path)
        .execute(
            "UPDATE river_job SET state = 'discarded', attempt = 3, \
             attempted_at = datetime('now', 'subsec'), finalized_at = datetime('now', 'subsec') \
             WHERE id = ?1",
            [id],
        )
        .unwrap();
    let job = client.job_retry(id).unwrap();
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.max_attempts, 4);
    assert_eq!(job.attempt, 3);
    assert_eq!(job.finalized_at, None);
    assert_eq!(client.job_get(id).unwrap(), job);
}

#[test]
fn retrying_a_scheduled_job_makes_it_available_now() {
    let (_dir, _path, client) = new_client();
    let later = Utc::now() + Duration::hours(1);
    let id = client
        .insert(
            email("a"),
            Some(InsertOpts {
                scheduled_at: Some(later),
                ..Default::default()
            }),
        )
        .unwrap()
        .job
        .id;
    let job = client.job_retry(id).unwrap();
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.max_attempts, 25);
    assert!(job.scheduled_at < later);
}

#[test]
fn retrying_a_running_job_changes_nothing() {
    let (_dir, path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    set_running(&path, id);
    let before = client.job_get(id).unwrap();
    assert_eq!(client.job_retry(id).unwrap(), before);
    assert_eq!(client.job_get(id).unwrap(), before);
}

#[test]
fn deleting_a_job_removes_it() {
    let (_dir, _path, client) = new_client();
    let job = client.insert(email("a"), None).unwrap().job;
    assert_eq!(client.job_delete(job.id).unwrap(), job);
    assert!(matches!(client.job_get(job.id), Err(Error::NotFound)));
}

#[test]
fn deleting_a_running_job_is_refused() {
    let (_dir, path, client) = new_client();
    let id = client.insert(email("a"), None).unwrap().job.id;
    set_running(&path, id);
    assert!(matches!(client.job_delete(id), Err(Error::JobRunning(i)) if i == id));
    assert_eq!(client.job_get(id).unwrap().state, JobState::Running);
}

fn paused(client: &Client) -> Vec<(String, bool)> {
    client
        .queue_list()
        .unwrap()
        .into_iter()
        .map(|q| (q.name, q.paused_at.is_some()))
        .collect()
}

#[test]
fn pausing_an_unknown_queue_creates_it_paused() {
    let (_dir, _path, client) = new_client();
    assert!(client.queue_list().unwrap().is_empty());
    client.queue_pause("email").unwrap();
    let queue = client.queue_get("email").unwrap();
    assert!(queue.paused_at.is_some());
    assert_eq!(paused(&client), [("email".to_string(), true)]);
}

#[test]
fn pausing_twice_keeps_the_first_pause() {
    let (_dir, _path, client) = new_client();
    let events = client.subscribe(&[EventKind::QueuePaused]);
    client.queue_pause("email").unwrap();
    let first = client.queue_get("email").unwrap();
    client.queue_pause("email").unwrap();
    assert_eq!(client.queue_get("email").unwrap(), first);
    let event = events.try_recv().expect("one QueuePaused event");
    assert_eq!(event.queue.as_deref(), Some("email"));
    assert!(events.try_recv().is_err(), "a second pause is not an event");
}

#[test]
fn resuming_a_paused_queue_clears_paused_at() {
    let (_dir, _path, client) = new_client();
    client.queue_pause("email").unwrap();
    client.queue_resume("email").unwrap();
    assert_eq!(client.queue_get("email").unwrap().paused_at, None);
}

#[test]
fn star_pauses_and_resumes_every_queue() {
    let (_dir, _path, client) = new_client();
    for name in ["a", "b", "c"] {
        client.queue_pause(name).unwrap();
    }
    client.queue_resume("b").unwrap();
    client.queue_resume("c").unwrap();
    assert_eq!(
        paused(&client),
        [("a".into(), true), ("b".into(), false), ("c".into(), false)]
    );

    client.queue_pause("*").unwrap();
    assert!(paused(&client).iter().all(|(_, p)| *p));
    client.queue_resume("*").unwrap();
    assert!(paused(&client).iter().all(|(_, p)| !*p));
    assert_eq!(client.queue_list().unwrap().len(), 3, "'*' is not a queue");
}

#[test]
fn resuming_an_unknown_queue_is_not_found() {
    let (_dir, _path, client) = new_client();
    assert!(matches!(
        client.queue_resume("nowhere"),
        Err(Error::NotFound)
    ));
    assert!(matches!(client.queue_get("nowhere"), Err(Error::NotFound)));
    assert!(client.queue_list().unwrap().is_empty());
}

#[test]
fn queue_list_returns_every_queue_by_name() {
    let (_dir, _path, client) = new_client();
    for name in ["zeta", "alpha", "mid"] {
        client.queue_pause(name).unwrap();
    }
    let names: Vec<String> = client
        .queue_list()
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[test]
fn job_retry_leaves_an_available_job_in_its_place() {
    let (_dir, _path, client) = common::new_client();
    let job = client
        .insert(common::email("a@example.com"), None)
        .unwrap()
        .job;
    let retried = client.job_retry(job.id).unwrap();
    assert_eq!(retried, job);
}

#[test]
fn the_tx_forms_act_inside_the_callers_transaction() {
    let (_dir, path, client) = new_client();
    let mut conn = raw(&path);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let id = client
        .insert_tx(&tx, email("a@example.com"), None)
        .unwrap()
        .job
        .id;
    assert_eq!(client.job_get_tx(&tx, id).unwrap().id, id);
    assert_eq!(
        client
            .job_list_tx(&tx, JobListParams::new())
            .unwrap()
            .jobs
            .len(),
        1
    );
    assert_eq!(
        client.job_cancel_tx(&tx, id).unwrap().state,
        JobState::Cancelled
    );
    assert_eq!(
        client.job_retry_tx(&tx, id).unwrap().state,
        JobState::Available
    );
    client.queue_pause_tx(&tx, "default").unwrap();
    client.queue_resume_tx(&tx, "default").unwrap();
    assert_eq!(client.job_delete_tx(&tx, id).unwrap().id, id);
    tx.rollback().unwrap();
    // Nothing of it reached the database.
    assert!(client.queue_list().unwrap().is_empty());
    assert_eq!(job_count(&path), 0);
}

#[test]
fn job_list_takes_its_params_by_value_or_by_reference() {
    let (_dir, _path, client) = new_client();
    client.insert(email("a@example.com"), None).unwrap();
    let params = JobListParams::new().kinds(["send_email"]);
    assert_eq!(client.job_list(&params).unwrap().jobs.len(), 1);
    assert_eq!(client.job_list(params).unwrap().jobs.len(), 1);
}
