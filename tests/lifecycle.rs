//! Timeouts, cancellation, stopping, wake-ups, pausing and events of a working client.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{
    all_in_state, any_in_state, insert_noops, noop_client, temp_db, wait_for_state, wait_until,
    Noop, DEADLINE,
};
use riverlite::{
    work_fn, Client, Error, EventKind, InsertOpts, Job, JobState, QueueConfig, WorkError, Worker,
};

/// Runs until cancelled, then fails (or completes, if `finish_ok`).
struct UntilCancelled {
    started: mpsc::Sender<()>,
    finish_ok: bool,
    timeout: Option<Duration>,
}

impl Worker<Noop> for UntilCancelled {
    fn work(&self, job: &Job<Noop>) -> Result<(), WorkError> {
        let _ = self.started.send(());
        while !job.is_cancelled() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.finish_ok {
            Ok(())
        } else {
            Err(WorkError::failure("stopped early"))
        }
    }

    fn timeout(&self, _job: &Job<Noop>) -> Option<Duration> {
        self.timeout
    }
}

fn client_with(path: &std::path::Path, worker: UntilCancelled) -> Client {
    Client::builder(path)
        .queue("default", QueueConfig::new(2))
        .worker(worker)
        .build()
        .unwrap()
}

fn until_cancelled(
    finish_ok: bool,
    timeout: Option<Duration>,
) -> (UntilCancelled, mpsc::Receiver<()>) {
    let (started, started_rx) = mpsc::channel();
    (
        UntilCancelled {
            started,
            finish_ok,
            timeout,
        },
        started_rx,
    )
}

#[test]
fn a_timed_out_job_that_fails_is_retried_with_a_timeout_note() {
    let (_dir, path) = temp_db();
    let (worker, _) = until_cancelled(false, Some(Duration::from_millis(200)));
    let client = client_with(&path, worker);
    client.start().unwrap();
    let opts = InsertOpts {
        max_attempts: Some(1),
        ..Default::default()
    };
    let id = client.insert(Noop { n: 1 }, Some(opts)).unwrap().job.id;
    let job = wait_for_state(&client, id, JobState::Discarded);
    assert!(job.errors[0].error.contains("timeout"), "{:?}", job.errors);
}

#[test]
fn a_timed_out_job_that_returns_ok_completes() {
    let (_dir, path) = temp_db();
    let (worker, _) = until_cancelled(true, Some(Duration::from_millis(100)));
    let client = client_with(&path, worker);
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, id, JobState::Completed);
}

#[test]
fn job_cancel_from_another_client_ends_a_running_job_cancelled() {
    let (_dir, path) = temp_db();
    let (worker, started) = until_cancelled(false, None);
    let client = client_with(&path, worker);
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    started.recv_timeout(DEADLINE).expect("the job starts");
    let other = Client::builder(&path).build().unwrap();
    let flagged = other.job_cancel(id).unwrap();
    assert_eq!(flagged.state, JobState::Running);
    assert!(flagged.metadata.get("cancel_attempted_at").is_some());
    let job = wait_for_state(&client, id, JobState::Cancelled);
    assert!(job.finalized_at.is_some());
}

#[test]
fn stop_waits_for_running_jobs_and_leaves_none_running() {
    let (_dir, path) = temp_db();
    let client = started_mid_backlog(&path);
    client.stop().unwrap();
    assert_none_running(&client);
}

/// A started client with slow jobs, some done and many still to run.
fn started_mid_backlog(path: &std::path::Path) -> Client {
    let client = noop_client(path, 8, |_| {
        std::thread::sleep(Duration::from_millis(10));
        Ok(())
    });
    insert_noops(&client, 200);
    client.start().unwrap();
    wait_until(&client, "some jobs to complete", || {
        any_in_state(&client, JobState::Completed)
    });
    client
}

fn assert_none_running(client: &Client) {
    let counts = client.job_counts().unwrap();
    assert!(
        counts.iter().all(|c| c.state != JobState::Running),
        "{counts:?}"
    );
}

#[test]
fn stop_and_cancel_records_failures_as_retries_not_cancellations() {
    let (_dir, path) = temp_db();
    let (worker, started) = until_cancelled(false, None);
    let client = client_with(&path, worker);
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    started.recv_timeout(DEADLINE).expect("the job starts");
    client.stop_and_cancel().unwrap();
    let job = client.job_get(id).unwrap();
    assert!(
        matches!(job.state, JobState::Available | JobState::Retryable),
        "{:?}",
        job.state
    );
    assert_eq!(job.errors.len(), 1);
}

#[test]
fn stop_past_its_deadline_names_the_jobs_still_running() {
    let (_dir, path) = temp_db();
    let (worker, started) = until_cancelled(false, None);
    let client = client_with(&path, worker);
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    started.recv_timeout(DEADLINE).expect("the job starts");
    match client.stop_timeout(Duration::from_millis(100)) {
        Err(Error::StopTimeout { job_ids }) => assert_eq!(job_ids, vec![id]),
        other => panic!("expected StopTimeout, got {other:?}"),
    }
}

#[test]
fn dropping_a_started_client_stops_it_gracefully() {
    let (_dir, path) = temp_db();
    drop(started_mid_backlog(&path));
    assert_none_running(&Client::builder(&path).build().unwrap());
}

/// A working client of no-op jobs that polls every `interval` when not woken.
fn polling_every(path: &std::path::Path, interval: Duration) -> Client {
    Client::builder(path)
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .poll_interval(interval)
        .build()
        .unwrap()
}

#[test]
fn an_insert_from_another_connection_is_noticed_without_polling() {
    let (_dir, path) = temp_db();
    // Polling would take an hour: only the data_version watcher can wake it.
    let client = polling_every(&path, Duration::from_secs(3600));
    client.start().unwrap();
    let inserter = Client::builder(&path).build().unwrap();
    let id = inserter.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, id, JobState::Completed);
}

#[test]
fn a_paused_queue_claims_nothing_until_resumed() {
    let (_dir, path) = temp_db();
    let client = polling_every(&path, Duration::from_millis(50));
    let admin = Client::builder(&path).build().unwrap();
    let paused = client.subscribe(&[EventKind::QueuePaused]);
    admin.queue_pause("default").unwrap();
    client.start().unwrap();
    let fetched = &client.test_signals().producer_fetched;
    fetched.init();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    // The insert wakes the producer, then it polls every 50 ms: after three
    // claims past the insert, the paused queue must still hold the job.
    fetched.clear();
    assert!(fetched.wait_for(3, DEADLINE), "the producer keeps polling");
    assert_eq!(client.job_get(id).unwrap().state, JobState::Available);
    assert!(
        paused.try_recv().is_err(),
        "the event belongs to the client that paused"
    );
    admin.queue_resume("default").unwrap();
    wait_for_state(&client, id, JobState::Completed);
}

#[test]
fn subscribers_get_job_events_with_timings() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|job| match job.args.n {
            0 => Ok(()),
            1 => Err(WorkError::failure("no")),
            2 => Err(WorkError::cancel("stop")),
            _ => Err(WorkError::snooze(Duration::from_secs(60))),
        }))
        .build()
        .unwrap();
    let events = client.subscribe(&[
        EventKind::JobCompleted,
        EventKind::JobFailed,
        EventKind::JobCancelled,
        EventKind::JobSnoozed,
    ]);
    client.start().unwrap();
    let once = InsertOpts {
        max_attempts: Some(1),
        ..Default::default()
    };
    for n in 0..4 {
        client.insert(Noop { n }, Some(once.clone())).unwrap();
    }
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let event = events.recv_timeout(common::DEADLINE).expect("an event");
        let job = event.job.expect("job events carry the job");
        let stats = event.stats.expect("job events carry timings");
        assert!(stats.run_duration < common::DEADLINE);
        kinds.push((job.args.clone(), event.kind, job.state));
    }
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds.iter().map(|k| (k.1, k.2)).collect::<Vec<_>>(),
        vec![
            (EventKind::JobCompleted, JobState::Completed),
            (EventKind::JobFailed, JobState::Discarded),
            (EventKind::JobCancelled, JobState::Cancelled),
            (EventKind::JobSnoozed, JobState::Scheduled),
        ]
    );
}

#[test]
fn a_full_subscription_drops_events_instead_of_blocking_workers() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .build()
        .unwrap();
    let _never_read = client.subscribe(&[EventKind::JobCompleted]);
    let n = riverlite::SUBSCRIPTION_CAPACITY + 500;
    insert_noops(&client, n as i64);
    client.start().unwrap();
    wait_until(&client, "every job to complete", || {
        all_in_state(&client, JobState::Completed)
    });
    client.stop().unwrap();
    assert_eq!(client.dropped_events(), 500);
}

/// Fails (or snoozes) as soon as the test says so.
fn fail_on_signal(
    path: &std::path::Path,
    snooze: bool,
) -> (Client, mpsc::Receiver<()>, Arc<AtomicBool>) {
    let (started, started_rx) = mpsc::channel();
    let go = Arc::new(AtomicBool::new(false));
    let g = go.clone();
    let client = noop_client(path, 1, move |_| {
        let _ = started.send(());
        while !g.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if snooze {
            Err(WorkError::snooze(Duration::ZERO))
        } else {
            Err(WorkError::failure("failed right after the cancel"))
        }
    });
    (client, started_rx, go)
}

#[test]
fn a_job_cancelled_while_running_does_not_run_again_even_if_it_fails_at_once() {
    for snooze in [false, true] {
        let (_dir, path) = temp_db();
        let (client, started, go) = fail_on_signal(&path, snooze);
        client.start().unwrap();
        let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
        started.recv_timeout(DEADLINE).expect("the job starts");
        client.job_cancel(id).unwrap();
        go.store(true, Ordering::SeqCst);
        let job = wait_for_state(&client, id, JobState::Cancelled);
        assert_eq!(job.attempt, if snooze { 0 } else { 1 }, "snooze={snooze}");
        client.stop().unwrap();
    }
}

#[test]
fn a_stopped_client_can_start_again() {
    let (_dir, path) = temp_db();
    let client = noop_client(&path, 2, |_| Ok(()));
    client.start().unwrap();
    assert!(matches!(client.start(), Err(Error::AlreadyStarted)));
    let first = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, first, JobState::Completed);
    client.stop().unwrap();
    client.stop().unwrap();

    client.start().unwrap();
    let second = client.insert(Noop { n: 2 }, None).unwrap().job.id;
    wait_for_state(&client, second, JobState::Completed);
    wait_until(&client, "leadership again", || client.is_leader());
}

#[test]
fn a_restart_with_the_same_id_rescues_what_the_earlier_run_left_running() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    let id = inserter.insert(Noop { n: 1 }, None).unwrap().job.id;
    // An earlier run of "worker-1" claimed the job and never finished it.
    riverlite::rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE river_job SET state = 'running', attempt = 1, attempted_at = '2026-01-01 00:00:00.000', \
             attempted_by = jsonb('[\"worker-1\"]') WHERE id = ?1",
            [id],
        )
        .unwrap();
    let client = Client::builder(&path)
        .id("worker-1")
        .job_timeout(None)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .build()
        .unwrap();
    client.start().unwrap();
    let job = wait_for_state(&client, id, JobState::Completed);
    assert_eq!(job.attempt, 2);
    assert!(
        job.errors[0].error.contains("earlier run"),
        "{:?}",
        job.errors
    );
}

/// A client whose Noop jobs fail on every attempt up to `args.n`, except
/// that attempt 1 of job n = 2 first runs until it is cancelled; retries are
/// due at once.
fn fails_until_attempt_n(path: &std::path::Path) -> Client {
    struct RetryNow;
    impl riverlite::RetryPolicy for RetryNow {
        fn next_retry(
            &self,
            _job: &riverlite::JobRow,
            now: chrono::DateTime<chrono::Utc>,
        ) -> chrono::DateTime<chrono::Utc> {
            now
        }
    }
    Client::builder(path)
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|job| {
            if job.args.n == 2 && job.attempt == 1 {
                while !job.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            if job.attempt <= job.args.n {
                return Err(WorkError::failure("not yet"));
            }
            Ok(())
        }))
        .retry_policy(RetryNow)
        .build()
        .unwrap()
}

#[test]
fn a_retried_cancelled_job_runs_to_completion() {
    let (_dir, path) = temp_db();
    let client = fails_until_attempt_n(&path);
    // Cancelled before it ever ran; its first attempt after the retry fails,
    // and that failure is a retry, not the old cancel request.
    let never_ran = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    assert_eq!(
        client.job_cancel(never_ran).unwrap().state,
        JobState::Cancelled
    );
    client.job_retry(never_ran).unwrap();
    // Cancelled while running, then retried: attempt 2 fails too.
    let ran = client.insert(Noop { n: 2 }, None).unwrap().job.id;
    client.start().unwrap();
    wait_until(&client, "job 2 to start", || {
        client.job_get(ran).unwrap().state == JobState::Running
    });
    client.job_cancel(ran).unwrap();
    wait_for_state(&client, ran, JobState::Cancelled);
    client.job_retry(ran).unwrap();

    let job = wait_for_state(&client, never_ran, JobState::Completed);
    assert_eq!(job.attempt, 2);
    let job = wait_for_state(&client, ran, JobState::Completed);
    assert_eq!(job.attempt, 3);
    assert!(
        job.metadata.get("cancel_attempted_at").is_some(),
        "kept, as River keeps it"
    );
}

#[test]
fn stopping_or_dropping_the_client_inside_its_own_job_does_not_deadlock() {
    for drop_it in [false, true] {
        let (_dir, path) = temp_db();
        let slot: Arc<std::sync::Mutex<Option<Client>>> = Arc::default();
        let (returned, returned_rx) = mpsc::channel();
        let in_job = slot.clone();
        let client = noop_client(&path, 1, move |_| {
            let client = in_job.lock().unwrap().take().expect("the client");
            if drop_it {
                drop(client); // the last handle: Drop stops the client
            } else {
                client.stop().expect("stop from inside a job");
                in_job.lock().unwrap().replace(client);
            }
            let _ = returned.send(());
            Ok(())
        });
        let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
        // Into the slot before it starts: the job may run at once, and
        // takes the client from the slot (waiting for this lock till then).
        let mut held = slot.lock().unwrap();
        held.insert(client).start().unwrap();
        drop(held);
        returned_rx
            .recv_timeout(DEADLINE)
            .expect("stop returns inside the job");
        // The background stop writes the job's outcome.
        let observer = Client::builder(&path).build().unwrap();
        wait_for_state(&observer, id, JobState::Completed);
    }
}

#[test]
fn a_client_id_held_by_a_live_client_cannot_be_started() {
    let (_dir, path) = temp_db();
    let (worker, started) = until_cancelled(true, None);
    let first = Client::builder(&path)
        .id("shared-id")
        .queue("default", QueueConfig::new(1))
        .worker(worker)
        .build()
        .unwrap();
    first.start().unwrap();
    let id = first.insert(Noop { n: 1 }, None).unwrap().job.id;
    started.recv_timeout(DEADLINE).expect("the job starts");

    let second = Client::builder(&path)
        .id("shared-id")
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .build()
        .unwrap();
    match second.start() {
        Err(Error::ClientIdInUse(held)) => assert_eq!(held, "shared-id"),
        other => panic!("expected ClientIdInUse, got {other:?}"),
    }
    // Nothing was rescued: the first client's job is still its first attempt.
    let job = first.job_get(id).unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Running, 1));
    assert!(job.errors.is_empty());
    first.stop_and_cancel().unwrap();
    // Once the first has stopped, the id is free again.
    second.start().unwrap();
    second.stop().unwrap();
}

#[test]
fn an_overlapping_restart_with_the_same_id_keeps_the_new_clients_lock_file() {
    let (_dir, path) = temp_db();
    let build = || {
        Client::builder(&path)
            .id("restarted")
            .queue("default", QueueConfig::new(1))
            .worker(work_fn::<Noop, _>(|_| Ok(())))
            .build()
            .unwrap()
    };
    let old = build();
    old.start().unwrap();
    let new = build();
    std::thread::scope(|scope| {
        let stopping = scope.spawn(|| old.stop().unwrap());
        // As a restart script would: retry until the old run has stopped.
        let start = std::time::Instant::now();
        loop {
            match new.start() {
                Ok(()) => break,
                Err(Error::ClientIdInUse(_)) => assert!(start.elapsed() < DEADLINE),
                Err(e) => panic!("{e}"),
            }
            std::thread::yield_now();
        }
        stopping.join().unwrap();
    });
    let lock = format!(
        "{}.clients/restarted.lock",
        path.canonicalize().unwrap().display()
    );
    assert!(
        std::path::Path::new(&lock).exists(),
        "the new client's liveness file must survive the old one's stop"
    );
    // And it is live: a third client with the id is refused.
    assert!(matches!(build().start(), Err(Error::ClientIdInUse(_))));
    new.stop().unwrap();
}
