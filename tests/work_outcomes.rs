//! A working client records every outcome River's way: complete, retry, discard, snooze, cancel, panic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{all_in_state, insert_noops, noop_client, temp_db, wait_for_state, wait_until, Noop};
use riverlite::{
    work_fn, Client, InsertOpts, JobArgs, JobRow, JobState, QueueConfig, RetryPolicy, WorkError,
};
use serde::{Deserialize, Serialize};

/// Retries at once, so retry tests need no waiting.
struct RetryNow;
impl RetryPolicy for RetryNow {
    fn next_retry(&self, _job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc> {
        now
    }
}

fn working_client<F>(path: &std::path::Path, f: F) -> Client
where
    F: Fn(&riverlite::Job<Noop>) -> Result<(), WorkError> + Send + Sync + 'static,
{
    let client = Client::builder(path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(f))
        .retry_policy(RetryNow)
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    client.start().unwrap();
    client
}

/// Inserts `args` with a single attempt, waits for the discard, and
/// returns the recorded error.
fn discarded_error<A: JobArgs>(client: &Client, args: A) -> String {
    let once = InsertOpts {
        max_attempts: Some(1),
        ..Default::default()
    };
    let id = client.insert(args, Some(once)).unwrap().job.id;
    let job = wait_for_state(client, id, JobState::Discarded);
    assert_eq!(job.errors.len(), 1);
    job.errors[0].error.clone()
}

/// The client still completes a plain job.
fn assert_keeps_working(client: &Client) {
    let good = client.insert(Noop { n: 2 }, None).unwrap().job.id;
    wait_for_state(client, good, JobState::Completed);
}

#[test]
fn a_job_that_fails_twice_then_succeeds_completes_on_attempt_three() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |job| {
        if job.attempt < 3 {
            Err(WorkError::failure(format!("failure {}", job.attempt)))
        } else {
            Ok(())
        }
    });
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Completed);
    assert_eq!(job.attempt, 3);
    assert_eq!(job.errors.len(), 2);
    assert_eq!(job.errors[0].error, "failure 1");
    assert_eq!(job.errors[1].attempt, 2);
    assert!(job.finalized_at.is_some());
    client.stop().unwrap();
}

#[test]
fn a_failure_with_max_attempts_one_is_discarded() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |_| Err(WorkError::failure("boom")));
    let opts = InsertOpts {
        max_attempts: Some(1),
        ..Default::default()
    };
    let id = client.insert(Noop { n: 1 }, Some(opts)).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Discarded);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.errors.len(), 1);
    assert!(job.finalized_at.is_some());
}

#[test]
fn the_default_backoff_retries_after_about_one_second_then_sixteen() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Err(WorkError::failure("nope"))))
        .build()
        .unwrap();
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_until(&client, "the first failure", || {
        client.job_get(id).unwrap().errors.len() == 1
    });
    let job = client.job_get(id).unwrap();
    let delay = (job.scheduled_at - job.errors[0].at).num_milliseconds();
    assert!(
        (850..=1150).contains(&delay),
        "first retry after {delay} ms"
    );
    // Due within the scheduler interval: available at once with a future scheduled_at.
    assert!(
        matches!(job.state, JobState::Available | JobState::Running),
        "{:?}",
        job.state
    );

    wait_until(&client, "the second failure", || {
        client.job_get(id).unwrap().errors.len() == 2
    });
    let job = client.job_get(id).unwrap();
    let delay = (job.scheduled_at - job.errors[1].at).num_milliseconds();
    assert!(
        (14_000..=18_000).contains(&delay),
        "second retry after {delay} ms"
    );
    assert_eq!(job.state, JobState::Retryable);
    client.stop().unwrap();
}

#[test]
fn a_snoozed_job_keeps_its_attempt_and_counts_snoozes() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |job| {
        let snoozes = job
            .metadata
            .get("snoozes")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        if snoozes < 2 {
            Err(WorkError::snooze(Duration::from_millis(1)))
        } else {
            Ok(())
        }
    });
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Completed);
    assert_eq!(job.attempt, 1, "snoozes give their attempt back");
    assert_eq!(job.metadata["snoozes"], 2);
    assert!(job.errors.is_empty());
}

#[test]
fn a_long_snooze_schedules_the_job() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |_| Err(WorkError::snooze(Duration::from_secs(3600))));
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Scheduled);
    assert_eq!(job.attempt, 0);
    assert!(job.scheduled_at > Utc::now() + chrono::Duration::minutes(59));
}

#[test]
fn work_error_cancel_cancels_the_job() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |_| Err(WorkError::cancel("not needed")));
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Cancelled);
    assert!(job.finalized_at.is_some());
    assert!(job.errors[0].error.contains("not needed"));
}

#[test]
fn a_panic_is_recorded_and_the_client_keeps_working() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |job| {
        if job.args.n == 1 {
            panic!("worker exploded on {}", job.args.n);
        }
        Ok(())
    });
    let error = discarded_error(&client, Noop { n: 1 });
    assert!(error.contains("worker exploded on 1"), "{error}");
    assert_keeps_working(&client);
}

#[derive(Serialize, Deserialize)]
struct Orphan {
    id: i64,
}
impl JobArgs for Orphan {
    const KIND: &'static str = "orphan_kind";
}

#[test]
fn an_unknown_kind_gets_an_error_and_the_client_keeps_working() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |_| Ok(()));
    let error = discarded_error(&client, Orphan { id: 7 });
    assert!(error.contains("orphan_kind"), "{error}");
    assert_keeps_working(&client);
}

#[derive(Serialize, Deserialize)]
struct OldNoop {
    count: i64,
}
impl JobArgs for OldNoop {
    const KIND: &'static str = "noop";
}

#[test]
fn args_that_no_longer_decode_get_an_error_naming_the_field() {
    let (_dir, path) = temp_db();
    let client = working_client(&path, |_| Ok(()));
    let error = discarded_error(&client, OldNoop { count: 1 });
    assert!(error.contains("`n`"), "{error}");
}

#[test]
fn priority_order_holds_within_a_queue() {
    let (_dir, path) = temp_db();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = order.clone();
    let client = noop_client(&path, 1, move |job| {
        seen.lock().unwrap().push(job.priority);
        Ok(())
    });
    for priority in [4u8, 2, 3, 1, 4, 1] {
        let opts = InsertOpts {
            priority: Some(priority),
            ..Default::default()
        };
        client.insert(Noop { n: 0 }, Some(opts)).unwrap();
    }
    client.start().unwrap();
    wait_until(&client, "all six jobs", || order.lock().unwrap().len() == 6);
    assert_eq!(*order.lock().unwrap(), vec![1, 1, 2, 3, 4, 4]);
}

#[test]
fn max_workers_is_never_exceeded() {
    let (_dir, path) = temp_db();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let client = noop_client(&path, 20, move |_| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        r.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    });
    insert_noops(&client, 500);
    client.start().unwrap();
    wait_until(&client, "all jobs completed", || {
        all_in_state(&client, JobState::Completed)
    });
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 20, "peak concurrency {peak}");
    assert!(peak > 1, "jobs ran concurrently");
}

struct PanickingPolicy;
impl RetryPolicy for PanickingPolicy {
    fn next_retry(&self, _job: &JobRow, _now: DateTime<Utc>) -> DateTime<Utc> {
        panic!("policy bug");
    }
}

#[test]
fn a_panicking_retry_policy_falls_back_to_the_default_backoff() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|job| match job.args.n {
            0 => Err(WorkError::failure("retry me")),
            _ => Ok(()),
        }))
        .retry_policy(PanickingPolicy)
        .build()
        .unwrap();
    client.start().unwrap();
    let failing = client.insert(Noop { n: 0 }, None).unwrap().job.id;
    wait_until(&client, "the failure", || {
        client.job_get(failing).unwrap().errors.len() == 1
    });
    let job = client.job_get(failing).unwrap();
    let delay = (job.scheduled_at - job.errors[0].at).num_milliseconds();
    assert!(
        (850..=1150).contains(&delay),
        "default backoff of ~1 s, got {delay} ms"
    );
    let fine = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, fine, JobState::Completed);
}

#[test]
fn a_row_with_values_riverlite_cannot_read_does_not_stall_its_queue() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    let odd = inserter.insert(Noop { n: 1 }, None).unwrap().job.id;
    let fine = inserter.insert(Noop { n: 2 }, None).unwrap().job.id;
    riverlite::rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE river_job SET errors = jsonb('[{\"message\":\"from another driver\"}]'), \
             tags = jsonb('{\"not\":\"a list\"}') WHERE id = ?1",
            [odd],
        )
        .unwrap();
    let client = working_client(&path, |_| Ok(()));
    wait_for_state(&client, odd, JobState::Completed);
    wait_for_state(&client, fine, JobState::Completed);
}

#[test]
fn rows_with_malformed_json_are_discarded_naming_the_column_and_the_queue_keeps_working() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    // Each bad row comes first in line, so a claim that fails on it would
    // take the good jobs down with it.
    let first = InsertOpts {
        priority: Some(1),
        ..Default::default()
    };
    let bad = [
        ("args", "'{\"n\": oops'"),
        ("metadata", "'{not json'"),
        ("attempted_by", "x'00ff'"),
    ]
    .map(|(column, value)| {
        let id = inserter
            .insert(Noop { n: 1 }, Some(first.clone()))
            .unwrap()
            .job
            .id;
        riverlite::rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                &format!("UPDATE river_job SET {column} = {value} WHERE id = ?1"),
                [id],
            )
            .unwrap();
        (column, id)
    });
    let good: Vec<i64> = (0..3)
        .map(|n| inserter.insert(Noop { n }, None).unwrap().job.id)
        .collect();

    let client = working_client(&path, |_| Ok(()));
    for id in good {
        wait_for_state(&client, id, JobState::Completed);
    }
    for (column, id) in bad {
        let job = wait_for_state(&client, id, JobState::Discarded);
        let errors: Vec<&str> = job.errors.iter().map(|e| e.error.as_str()).collect();
        assert_eq!(errors.len(), 1, "{column}: {errors:?}");
        assert!(
            errors[0].contains(&format!("column {column} is not valid JSON")),
            "{column}: {errors:?}"
        );
    }
    // The row still reads, showing what it holds.
    let (_, args_id) = bad[0];
    assert_eq!(client.job_get(args_id).unwrap().args, "{\"n\": oops");
    assert_eq!(
        client
            .job_list(riverlite::JobListParams::default())
            .unwrap()
            .jobs
            .len(),
        6,
        "every row lists"
    );
}

#[test]
fn a_malformed_row_claimed_along_with_an_outcome_is_discarded_and_the_queue_keeps_working() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    let insert_in_line = |n, priority| {
        let opts = InsertOpts {
            priority: Some(priority),
            ..Default::default()
        };
        inserter.insert(Noop { n }, Some(opts)).unwrap().job.id
    };
    // With one worker, the first job's outcome is written in the same
    // transaction that claims the bad row, and the bad row's discard in
    // the one that claims the last job.
    let first = insert_in_line(1, 1);
    let bad = insert_in_line(2, 2);
    let last = insert_in_line(3, 3);
    riverlite::rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE river_job SET args = '{oops' WHERE id = ?1", [bad])
        .unwrap();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .poll_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    client.start().unwrap();
    wait_for_state(&client, first, JobState::Completed);
    let discarded = wait_for_state(&client, bad, JobState::Discarded);
    assert!(discarded.errors[0]
        .error
        .contains("column args is not valid JSON"));
    wait_for_state(&client, last, JobState::Completed);
}

/// Args with no fields: serializes to JSON `null`.
#[derive(Serialize, Deserialize)]
struct Cleanup;
impl JobArgs for Cleanup {
    const KIND: &'static str = "cleanup";
}

#[test]
fn unit_struct_args_are_stored_as_an_object_and_worked() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Cleanup, _>(|_| Ok(())))
        .periodic_job(
            riverlite::PeriodicJob::new(riverlite::Schedule::every(Duration::from_secs(1)), || {
                Some(Cleanup)
            })
            .id("cleanup")
            .run_on_start(true),
        )
        .build()
        .unwrap();
    let inserted = client.insert(Cleanup, None).unwrap().job;
    assert_eq!(inserted.args, "{}", "River's args are always an object");
    client.start().unwrap();
    let job = wait_for_state(&client, inserted.id, JobState::Completed);
    assert_eq!(job.args, "{}");
    wait_until(
        &client,
        "a periodic run of a unit struct to complete",
        || {
            client
                .job_list(riverlite::JobListParams::new().kinds(["cleanup"]))
                .unwrap()
                .jobs
                .iter()
                .any(|j| j.id != inserted.id && j.state == JobState::Completed)
        },
    );
}
