//! The leader's services, each on its own with short intervals: election, scheduler, rescuer, cleaner, periodic jobs.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{temp_db, wait_for_state, wait_until, Noop, DEADLINE};
use riverlite::rusqlite::{params, Connection};
use riverlite::{
    work_fn, Client, ClientBuilder, Error, EventKind, InsertOpts, JobArgs, JobListParams, JobState,
    MaintenanceConfig, PeriodicJob, QueueConfig, Schedule, UniqueOpts,
};
use serde::{Deserialize, Serialize};

fn fast() -> MaintenanceConfig {
    common::fast_maintenance()
}

fn working(path: &std::path::Path) -> ClientBuilder {
    Client::builder(path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(fast())
}

#[test]
fn two_clients_in_one_process_exclude_each_other_on_the_leader_lock() {
    let (_dir, path) = temp_db();
    let a = working(&path).build().unwrap();
    let b = working(&path).build().unwrap();
    let gained = b.subscribe(&[EventKind::LeaderGained]);
    a.start().unwrap();
    wait_until(&a, "a to lead", || a.is_leader());
    let attempts = &b.test_signals().election_attempted;
    attempts.init();
    b.start().unwrap();
    // b tries every 50 ms; it must not lead while a holds the lock.
    assert!(attempts.wait_for(5, DEADLINE), "b keeps trying");
    assert!(!b.is_leader());
    assert_eq!(a.leader().unwrap().unwrap().leader_id, a.id());

    a.stop().unwrap();
    assert!(!a.is_leader());
    gained.recv_timeout(DEADLINE).expect("b gains leadership");
    assert!(b.is_leader());
    assert_eq!(b.leader().unwrap().unwrap().leader_id, b.id());
}

#[test]
fn insert_only_clients_never_lead_and_memory_databases_always_do() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    assert!(!inserter.is_leader());
    let every = Schedule::every(Duration::from_secs(1));
    assert!(matches!(
        inserter
            .periodic_jobs()
            .add(PeriodicJob::new(every, || Some(Noop { n: 1 }))),
        Err(Error::InsertOnly(_))
    ));

    let memory = working(std::path::Path::new(":memory:")).build().unwrap();
    let gained = memory.subscribe(&[EventKind::LeaderGained]);
    memory.start().unwrap();
    gained
        .recv_timeout(DEADLINE)
        .expect("the in-memory client leads");
    assert!(memory.is_leader());
}

#[test]
fn the_scheduler_makes_due_jobs_available() {
    let (_dir, path) = temp_db();
    let client = working(&path).build().unwrap();
    let opts = InsertOpts {
        scheduled_at: Some(Utc::now() + chrono::Duration::milliseconds(300)),
        ..Default::default()
    };
    let job = client.insert(Noop { n: 1 }, Some(opts)).unwrap().job;
    assert_eq!(job.state, JobState::Scheduled);
    client.start().unwrap();
    wait_for_state(&client, job.id, JobState::Completed);
}

#[test]
fn the_scheduler_discards_a_job_whose_unique_key_is_taken() {
    let (_dir, path) = temp_db();
    let client = working(&path).build().unwrap();
    client.queue_pause("default").unwrap();
    // Unique in every state but retryable: a retryable job lets a twin in.
    let unique = UniqueOpts {
        by_state: Some(vec![
            JobState::Available,
            JobState::Pending,
            JobState::Running,
            JobState::Scheduled,
        ]),
        ..Default::default()
    };
    let opts = InsertOpts {
        unique: Some(unique),
        ..Default::default()
    };
    let first = client
        .insert(Noop { n: 1 }, Some(opts.clone()))
        .unwrap()
        .job;
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE river_job SET state = 'retryable', attempt = 1, scheduled_at = '2000-01-01 00:00:00.000' WHERE id = ?1",
        [first.id],
    )
    .unwrap();
    let twin = client.insert(Noop { n: 1 }, Some(opts)).unwrap();
    assert!(!twin.unique_skipped_as_duplicate);
    client.start().unwrap();
    let first = wait_for_state(&client, first.id, JobState::Discarded);
    assert!(first.errors.last().unwrap().error.contains("unique"));
    assert_eq!(
        client.job_get(twin.job.id).unwrap().state,
        JobState::Available
    );
}

/// Marks a job as running since `ago`, owned by a client that has no lock file.
fn make_running(conn: &Connection, id: i64, ago: chrono::Duration, metadata: &str, attempt: i64) {
    make_running_by(conn, id, ago, metadata, attempt, "some-river-client");
}

/// Marks a job as running since `ago`, owned by `owner`, in one statement
/// (a running rescuer must never see it half set up).
fn make_running_by(
    conn: &Connection,
    id: i64,
    ago: chrono::Duration,
    metadata: &str,
    attempt: i64,
    owner: &str,
) {
    let at = (Utc::now() - ago)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    conn.execute(
        "UPDATE river_job SET state = 'running', attempt = ?2, attempted_at = ?3, \
         attempted_by = jsonb_array(?5), metadata = jsonb(?4) WHERE id = ?1",
        params![id, attempt, at, metadata, owner],
    )
    .unwrap();
}

#[test]
fn the_rescuer_recovers_jobs_stuck_past_the_horizon() {
    let (_dir, path) = temp_db();
    let client = working(&path).build().unwrap();
    client.queue_pause("default").unwrap();
    let ids: Vec<i64> = (0..4)
        .map(|n| {
            let opts = InsertOpts {
                max_attempts: Some(3),
                ..Default::default()
            };
            client.insert(Noop { n }, Some(opts)).unwrap().job.id
        })
        .collect();
    let conn = Connection::open(&path).unwrap();
    let two_hours = chrono::Duration::hours(2);
    make_running(&conn, ids[0], two_hours, "{}", 1);
    // Cancelled an hour into its attempt (a request older than the attempt
    // would belong to an earlier one).
    let cancelled_at = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    make_running(
        &conn,
        ids[1],
        two_hours,
        &format!(r#"{{"cancel_attempted_at":"{cancelled_at}"}}"#),
        1,
    );
    make_running(&conn, ids[2], two_hours, "{}", 3);
    make_running(&conn, ids[3], chrono::Duration::minutes(5), "{}", 1);
    client.start().unwrap();

    let stuck = wait_for_state(&client, ids[0], JobState::Retryable);
    assert_eq!(stuck.metadata["river:rescue_count"], 1);
    assert!(stuck.errors[0].error.contains("stuck"));
    wait_for_state(&client, ids[1], JobState::Cancelled);
    wait_for_state(&client, ids[2], JobState::Discarded);
    // Within the 1 h horizon, with an owner that may be alive: left running.
    assert_eq!(client.job_get(ids[3]).unwrap().state, JobState::Running);
}

/// Several services may share one file, each working its own kinds: that
/// the leader has no worker for a kind says nothing about the job.
#[test]
fn a_rescued_job_of_a_kind_the_leader_does_not_know_is_retried_not_discarded() {
    let (_dir, path) = temp_db();
    let client = working(&path).build().unwrap();
    let id = client.insert(common::Count { n: 1 }, None).unwrap().job.id;
    let conn = Connection::open(&path).unwrap();
    make_running(&conn, id, chrono::Duration::hours(2), "{}", 1);
    client.start().unwrap();

    let rescued = wait_for_state(&client, id, JobState::Retryable);
    assert_eq!(rescued.metadata["river:rescue_count"], 1);
    assert_eq!(rescued.kind, "count");
}

#[test]
fn the_cleaner_deletes_finished_jobs_past_their_retention() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(|job| match job.args.n {
            0 => Ok(()),
            _ => Err(riverlite::WorkError::cancel("no")),
        }))
        .maintenance(MaintenanceConfig {
            completed_retention: Some(Duration::from_millis(1)),
            cancelled_retention: None,
            ..fast()
        })
        .build()
        .unwrap();
    let completed = client.insert(Noop { n: 0 }, None).unwrap().job.id;
    let cancelled = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    client.start().unwrap();
    wait_until(&client, "the completed job to be deleted", || {
        matches!(client.job_get(completed), Err(Error::NotFound))
    });
    wait_for_state(&client, cancelled, JobState::Cancelled);
    let passes = &client.test_signals().cleaner_pass;
    passes.init();
    assert!(passes.wait_for(2, DEADLINE), "two more cleaner passes");
    assert_eq!(
        client.job_get(cancelled).unwrap().state,
        JobState::Cancelled,
        "kept forever"
    );
}

#[derive(Serialize, Deserialize)]
struct Report {
    day: u32,
}
impl JobArgs for Report {
    const KIND: &'static str = "report";
}

fn report_jobs(client: &Client) -> Vec<riverlite::JobRow> {
    client
        .job_list(JobListParams::new().kinds(["report"]))
        .unwrap()
        .jobs
}

#[test]
fn periodic_jobs_run_on_start_skip_none_and_change_at_run_time() {
    let (_dir, path) = temp_db();
    let (made, made_rx) = std::sync::mpsc::channel();
    let hourly = Schedule::cron("0 * * * *").unwrap();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Report, _>(|_| Ok(())))
        .maintenance(fast())
        .periodic_job(
            PeriodicJob::new(hourly.clone(), || Some(Report { day: 1 }))
                .id("hourly")
                .run_on_start(true),
        )
        .periodic_job(
            PeriodicJob::new(hourly.clone(), move || {
                let _ = made.send(());
                None::<Report>
            })
            .run_on_start(true),
        )
        .build()
        .unwrap();
    let started = Utc::now() - chrono::Duration::seconds(1);
    client.start().unwrap();
    wait_until(&client, "the run_on_start insert", || {
        report_jobs(&client).len() == 1
    });
    let job = &report_jobs(&client)[0];
    assert_eq!(job.metadata["periodic"], true);
    assert_eq!(job.metadata["river:periodic_job_id"], "hourly");
    // River's run_on_start: a run now, not the hour's target.
    assert!(
        job.scheduled_at >= started && job.scheduled_at <= Utc::now(),
        "{job:?}"
    );
    made_rx
        .recv_timeout(DEADLINE)
        .expect("the skipping constructor is called");

    let periodic = client.periodic_jobs();
    assert!(matches!(
        periodic.add(PeriodicJob::new(hourly.clone(), || Some(Report { day: 2 })).id("hourly")),
        Err(Error::Config(_))
    ));
    let handle = periodic
        .add(
            PeriodicJob::new(Schedule::every(Duration::from_secs(1)), || {
                Some(Report { day: 3 })
            })
            .id("every"),
        )
        .unwrap();
    wait_until(&client, "the added job's first run", || {
        report_jobs(&client).iter().any(|j| j.args.contains("3"))
    });
    assert!(periodic.remove(handle));
    assert!(periodic.remove_by_id("hourly"));
    assert_eq!(periodic.len(), 1);
    periodic.clear();
    assert!(periodic.is_empty());
}

#[test]
fn a_new_leader_catches_up_the_latest_missed_run_once() {
    let (_dir, path) = temp_db();
    let minutely = || {
        PeriodicJob::new(Schedule::cron("* * * * *").unwrap(), || {
            Some(Report { day: 9 })
        })
        .id("minutely")
    };
    // A previous leader ran this job long ago (an hour-old run).
    let seed = Client::builder(&path).build().unwrap();
    let old = seed.insert(Report { day: 9 }, None).unwrap().job.id;
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE river_job SET metadata = jsonb('{\"periodic\":true,\"river:periodic_job_id\":\"minutely\"}'), \
             state = 'completed', finalized_at = scheduled_at, \
             scheduled_at = strftime('%Y-%m-%d %H:%M:00.000', 'now', '-1 hour') WHERE id = ?1",
            [old],
        )
        .unwrap();
    let a = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Report, _>(|_| Ok(())))
        .maintenance(fast())
        .periodic_job(minutely())
        .build()
        .unwrap();
    a.start().unwrap();
    wait_until(&a, "the catch-up run", || report_jobs(&a).len() == 2);
    let latest = Schedule::cron("* * * * *")
        .unwrap()
        .latest_at_or_before(Utc::now())
        .unwrap();
    let targets: Vec<_> = report_jobs(&a).iter().map(|j| j.scheduled_at).collect();
    assert!(
        targets.contains(&latest) || targets.contains(&(latest - chrono::Duration::minutes(1))),
        "{targets:?}"
    );
}

#[test]
fn a_job_with_no_timeout_is_rescued_past_the_horizon_unless_its_owner_is_alive() {
    let (_dir, path) = temp_db();
    let client = working(&path).job_timeout(None).build().unwrap();
    client.queue_pause("default").unwrap();
    // Another started client, alive (it holds its liveness lock).
    let live = working(&path).job_timeout(None).build().unwrap();
    live.start().unwrap();
    let unknown_owner = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    let live_owner = client.insert(Noop { n: 2 }, None).unwrap().job.id;
    let conn = Connection::open(&path).unwrap();
    make_running(&conn, unknown_owner, chrono::Duration::hours(2), "{}", 1);
    make_running_by(
        &conn,
        live_owner,
        chrono::Duration::hours(2),
        "{}",
        1,
        live.id(),
    );
    client.start().unwrap();
    wait_for_state(&client, unknown_owner, JobState::Retryable);
    assert_eq!(client.job_get(live_owner).unwrap().state, JobState::Running);
}

#[test]
fn a_panicking_periodic_constructor_leaves_the_leader_working() {
    let (_dir, path) = temp_db();
    let client = working(&path)
        .periodic_job(
            PeriodicJob::new(
                Schedule::every(Duration::from_secs(1)),
                || -> Option<Noop> { panic!("constructor bug") },
            )
            .run_on_start(true),
        )
        .build()
        .unwrap();
    client.start().unwrap();
    wait_until(&client, "leadership", || client.is_leader());
    let opts = InsertOpts {
        scheduled_at: Some(Utc::now() + chrono::Duration::milliseconds(1500)),
        ..Default::default()
    };
    let id = client.insert(Noop { n: 1 }, Some(opts)).unwrap().job.id;
    wait_for_state(&client, id, JobState::Completed);
    assert!(client.is_leader());
}

#[test]
fn a_live_riverlite_owners_job_is_never_rescued_whatever_the_leaders_timeouts() {
    let (_dir, path) = temp_db();
    // The leader has a job timeout (the default, 1 min) and would once have
    // used it for a job whose owner it cannot see.
    let leader = working(&path).build().unwrap();
    leader.queue_pause("default").unwrap();
    leader.start().unwrap();
    wait_until(&leader, "the leader to lead", || leader.is_leader());
    let live = working(&path).job_timeout(None).build().unwrap();
    live.start().unwrap();
    let id = leader.insert(Noop { n: 1 }, None).unwrap().job.id;
    let passes = &leader.test_signals().rescuer_pass;
    passes.init();
    // Running for two hours, past the 1 h horizon, by a live client.
    let conn = Connection::open(&path).unwrap();
    make_running_by(&conn, id, chrono::Duration::hours(2), "{}", 1, live.id());
    passes.clear();
    assert!(passes.wait_for(3, DEADLINE), "three rescuer passes");
    let job = leader.job_get(id).unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Running, 1), "{job:?}");
    assert!(job.errors.is_empty());
}

#[test]
fn run_on_start_inserts_a_run_at_each_election_even_within_one_period() {
    let (_dir, path) = temp_db();
    let daily = Schedule::cron("0 0 * * *").unwrap();
    let build = || {
        Client::builder(&path)
            .queue("default", QueueConfig::new(4))
            .worker(work_fn::<Report, _>(|_| Ok(())))
            .maintenance(fast())
            .periodic_job(
                PeriodicJob::new(daily.clone(), || Some(Report { day: 1 }))
                    .id("daily")
                    .run_on_start(true),
            )
            .build()
            .unwrap()
    };
    for elections in 1..=2 {
        let client = build();
        client.start().unwrap();
        wait_until(&client, "this election's run", || {
            report_jobs(&client).len() == elections
        });
        client.stop().unwrap();
    }
}
