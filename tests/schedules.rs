//! Durable schedules: any client (insert-only included) stores a periodic job, whichever working client leads runs it once per target, and pause, resume, delete and failover apply without a restart.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{dump, fast_maintenance, raw, temp_db, wait_until, wait_until_within, DEADLINE};
use riverlite::{
    work_fn, Client, Error, InsertOpts, JobArgs, JobListParams, MaintenanceConfig, PeriodicJob,
    QueueConfig, Schedule, ScheduleParams,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    full: bool,
}
impl JobArgs for Report {
    const KIND: &'static str = "report";
}

fn every_second(id: &str) -> ScheduleParams {
    ScheduleParams::new(
        id,
        Schedule::every(Duration::from_secs(1)),
        Report { full: true },
    )
}

/// The targets (scheduled_at) of the jobs schedule `id` inserted, oldest first.
fn targets(client: &Client, id: &str) -> Vec<DateTime<Utc>> {
    let params = JobListParams::new().kinds(["report"]).first(10_000);
    let mut targets: Vec<DateTime<Utc>> = client
        .job_list(&params)
        .unwrap()
        .jobs
        .into_iter()
        .filter(|j| j.metadata["river:periodic_job_id"] == id)
        .map(|j| j.scheduled_at)
        .collect();
    targets.sort();
    targets
}

fn assert_distinct(targets: &[DateTime<Utc>]) {
    let mut unique = targets.to_vec();
    unique.dedup();
    assert_eq!(
        unique.len(),
        targets.len(),
        "a target ran twice: {targets:?}"
    );
}

/// A working client whose `report` jobs record the target they ran for.
fn recording_worker(path: &Path, id: &str, ran: Arc<Mutex<Vec<DateTime<Utc>>>>) -> Client {
    Client::builder(path)
        .id(id)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Report, _>(move |job| {
            ran.lock().unwrap().push(job.scheduled_at);
            Ok(())
        }))
        .maintenance(fast_maintenance())
        .build()
        .unwrap()
}

const CHILD_DB: &str = "RIVERLITE_TEST_SCHEDULES_DB";
const CHILD_ID: &str = "RIVERLITE_TEST_SCHEDULES_ID";

/// A working client in its own process, until killed.
#[test]
#[ignore = "entry point of the schedule tests' worker processes"]
fn worker_process_entry() {
    let (Ok(path), Ok(id)) = (std::env::var(CHILD_DB), std::env::var(CHILD_ID)) else {
        return;
    };
    let client = recording_worker(Path::new(&path), &id, Default::default());
    client.start().unwrap();
    loop {
        std::thread::park();
    }
}

struct Worker(Child);

impl Worker {
    fn spawn(path: &Path, id: &str) -> Worker {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "worker_process_entry",
                "--include-ignored",
                "--quiet",
            ])
            .env(CHILD_DB, path)
            .env(CHILD_ID, id)
            .spawn()
            .unwrap();
        Worker(child)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_insert_only_clients_schedule_runs_in_another_process_once_per_target() {
    let (_dir, path) = temp_db();
    let inserter = Client::builder(&path).build().unwrap();
    let row = inserter.schedule_upsert(every_second("tick")).unwrap();
    assert_eq!(
        (row.schedule.as_str(), row.kind.as_str()),
        ("every 1s", "report")
    );
    let _worker = Worker::spawn(&path, "worker-a");

    wait_until(&inserter, "three runs", || {
        targets(&inserter, "tick").len() >= 3
    });
    let runs = targets(&inserter, "tick");
    assert_distinct(&runs);
    let row = inserter.schedule_get("tick").unwrap();
    assert!(row.last_target_at.is_some_and(|at| runs.contains(&at)));
}

#[test]
fn pause_resume_and_delete_apply_without_a_restart() {
    let (_dir, path) = temp_db();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let worker = recording_worker(&path, "worker", ran.clone());
    worker.start().unwrap();
    // Another client (as another process's would) manages the schedule.
    let admin = Client::builder(&path).build().unwrap();
    admin.schedule_upsert(every_second("tick")).unwrap();
    wait_until(&admin, "a first run", || {
        !targets(&admin, "tick").is_empty()
    });

    let paused = admin.schedule_pause("tick").unwrap();
    assert!(paused.paused);
    // A run already due may still land; after that, nothing.
    let attempts = &worker.test_signals().election_attempted;
    attempts.init();
    assert!(attempts.wait_for(4, DEADLINE));
    let at_pause = targets(&admin, "tick").len();
    assert!(attempts.wait_for(6, DEADLINE), "leader passes over 3 s");
    assert_eq!(targets(&admin, "tick").len(), at_pause, "ran while paused");

    // An upsert at boot does not undo the pause.
    let again = admin.schedule_upsert(every_second("tick")).unwrap();
    assert!(again.paused && again.created_at == paused.created_at);

    admin.schedule_resume("tick").unwrap();
    wait_until(&admin, "runs after resume", || {
        targets(&admin, "tick").len() > at_pause
    });
    admin.schedule_delete("tick").unwrap();
    assert!(matches!(admin.schedule_get("tick"), Err(Error::NotFound)));
    attempts.clear();
    assert!(attempts.wait_for(4, DEADLINE));
    let at_delete = targets(&admin, "tick").len();
    assert!(attempts.wait_for(6, DEADLINE));
    assert_eq!(targets(&admin, "tick").len(), at_delete, "ran after delete");
    assert_distinct(&targets(&admin, "tick"));
    worker.stop().unwrap();
}

#[test]
fn a_sigkilled_leader_enqueues_no_target_twice_and_misses_none_beyond_one_catch_up() {
    let (_dir, path) = temp_db();
    let admin = Client::builder(&path).build().unwrap();
    admin.schedule_upsert(every_second("tick")).unwrap();
    let mut first = Worker::spawn(&path, "worker-a");
    wait_until(&admin, "worker-a leads", || {
        admin
            .leader()
            .unwrap()
            .is_some_and(|l| l.leader_id == "worker-a")
    });
    let _second = Worker::spawn(&path, "worker-b");
    wait_until(&admin, "three runs", || targets(&admin, "tick").len() >= 3);

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let before = targets(&admin, "tick").len();
    wait_until_within(
        &admin,
        "runs under the new leader",
        Duration::from_secs(60),
        || targets(&admin, "tick").len() >= before + 3,
    );
    let runs = targets(&admin, "tick");
    assert_distinct(&runs);
    // The failover takes a few seconds; then one catch-up, then every target.
    let longest_gap = runs.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest_gap <= chrono::Duration::seconds(20),
        "a gap of {longest_gap} between runs"
    );
    let tail = &runs[runs.len() - 3..];
    assert!(tail
        .windows(2)
        .all(|w| w[1] - w[0] == chrono::Duration::seconds(1)));
}

#[test]
fn a_target_that_ran_is_not_run_again_after_the_cleaner_and_a_failover() {
    let (_dir, path) = temp_db();
    let admin = Client::builder(&path).build().unwrap();
    let every_ten = Schedule::every(Duration::from_secs(10));
    admin
        .schedule_upsert(ScheduleParams::new(
            "durable",
            every_ten.clone(),
            Report { full: false },
        ))
        .unwrap();
    // An older run of the code job survives (discarded, retained longer);
    // the latest run will be cleaned away.
    let ran = Arc::new(Mutex::new(Vec::new()));
    let leader = |id: &str| {
        let ran = ran.clone();
        Client::builder(&path)
            .id(id)
            .queue("default", QueueConfig::new(4))
            .worker(work_fn::<Report, _>(move |job| {
                ran.lock().unwrap().push((
                    job.metadata["river:periodic_job_id"].clone(),
                    job.scheduled_at,
                ));
                Ok(())
            }))
            .periodic_job(
                PeriodicJob::new(every_ten.clone(), || Some(Report { full: true })).id("code"),
            )
            .maintenance(MaintenanceConfig {
                completed_retention: Some(Duration::from_millis(1)),
                ..fast_maintenance()
            })
            .build()
            .unwrap()
    };
    let first = leader("first");
    first.start().unwrap();
    wait_until_within(&admin, "both ran a target", Duration::from_secs(60), || {
        ran.lock().unwrap().len() >= 2
    });
    wait_until(&admin, "their jobs cleaned away", || {
        admin
            .job_list(JobListParams::new().kinds(["report"]))
            .unwrap()
            .jobs
            .is_empty()
    });
    let old = (Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    raw(&path)
        .execute(
            "INSERT INTO river_job (kind, args, state, scheduled_at, finalized_at, metadata) \
             VALUES ('report', jsonb('{}'), 'discarded', ?1, ?1, jsonb('{\"river:periodic_job_id\":\"code\"}'))",
            [old],
        )
        .unwrap();
    first.stop().unwrap();

    let second = leader("second");
    let attempts = &second.test_signals().election_attempted;
    attempts.init();
    second.start().unwrap();
    assert!(attempts.wait_for(4, DEADLINE));
    second.stop().unwrap();
    let ran = ran.lock().unwrap().clone();
    let mut seen = ran.clone();
    seen.sort_by_key(|(id, at)| (id.to_string(), *at));
    seen.dedup();
    assert_eq!(seen.len(), ran.len(), "a target ran twice: {ran:?}");
}

#[test]
fn upsert_keeps_what_the_caller_does_not_state_and_recomputes_a_changed_schedule() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let first = client
        .schedule_upsert(
            ScheduleParams::new(
                "nightly",
                Schedule::cron("0 3 * * *").unwrap(),
                Report { full: true },
            )
            .opts(InsertOpts {
                queue: Some("reports".into()),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(first.opts.queue.as_deref(), Some("reports"));
    assert_eq!(first.args, r#"{"full":true}"#);
    client.schedule_pause("nightly").unwrap();
    let changed = client
        .schedule_upsert(ScheduleParams::new(
            "nightly",
            Schedule::cron("CRON_TZ=Europe/Berlin 0 5 * * *").unwrap(),
            Report { full: false },
        ))
        .unwrap();
    assert!(changed.paused, "the pause is kept");
    assert_eq!(changed.created_at, first.created_at);
    assert_eq!(changed.args, r#"{"full":false}"#);
    assert_eq!(changed.schedule, "CRON_TZ=Europe/Berlin 0 5 * * *");
    assert_ne!(changed.next_target_at, first.next_target_at);
    assert_eq!(changed.opts.queue, None, "the options are the caller's");
    let list = client.schedule_list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(client.schedule_get("nightly").unwrap(), changed);
}

#[test]
fn periodic_jobs_in_code_are_listed_flagged_and_refuse_schedule_calls() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Report, _>(|_| Ok(())))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(3600)), || {
                Some(Report { full: true })
            })
            .id("hourly"),
        )
        .build()
        .unwrap();
    client.start().unwrap();
    wait_until(&client, "the code job recorded", || {
        client
            .schedule_list()
            .unwrap()
            .iter()
            .any(|r| r.id == "hourly" && r.from_code)
    });
    for err in [
        client.schedule_pause("hourly").unwrap_err(),
        client.schedule_resume("hourly").unwrap_err(),
        client.schedule_delete("hourly").unwrap_err(),
        client.schedule_upsert(every_second("hourly")).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Config(m) if m.contains("defined in code")),
            "{err:?}"
        );
    }
    client.stop().unwrap();
}

/// Runs `op`, which must fail, and checks nothing was written.
fn refused(
    path: &Path,
    client: &Client,
    op: impl FnOnce(&Client) -> riverlite::Result<riverlite::ScheduleRow>,
) -> Error {
    let before = dump(path);
    let schedules_before = common::dump_table(&raw(path), "riverlite_periodic_job");
    let err = op(client).expect_err("bad input was accepted");
    assert_eq!(dump(path), before, "{err:?}");
    assert_eq!(
        common::dump_table(&raw(path), "riverlite_periodic_job"),
        schedules_before
    );
    err
}

fn field(err: &Error) -> &'static str {
    match err {
        Error::InvalidInsert { field, .. } => field,
        other => panic!("expected InvalidInsert, got {other:?}"),
    }
}

#[test]
fn bad_schedules_get_typed_errors_and_write_nothing() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    client.schedule_upsert(every_second("existing")).unwrap();

    for spec in ["not a spec", "61 * * * *", "CRON_TZ=Mars/Olympus 0 9 * * *"] {
        assert!(
            matches!(Schedule::cron(spec), Err(Error::Config(_))),
            "{spec}"
        );
        assert!(
            matches!(spec.parse::<Schedule>(), Err(Error::Config(_))),
            "{spec}"
        );
    }
    assert!(matches!(
        Schedule::cron_in("0 9 * * *", "Nowhere/Else"),
        Err(Error::Config(_))
    ));
    let every = |d: Duration| ScheduleParams::new("s", Schedule::every(d), Report { full: true });
    let cases: Vec<(ScheduleParams, &str)> = vec![
        (every(Duration::from_millis(500)), "schedule"),
        (every_second(""), "id"),
        (every_second(&"x".repeat(128)), "id"),
        (
            ScheduleParams::raw(
                "s",
                Schedule::every(Duration::from_secs(1)),
                "report",
                "[1,2]",
            ),
            "args",
        ),
        (
            ScheduleParams::raw("s", Schedule::every(Duration::from_secs(1)), "", "{}"),
            "kind",
        ),
        (
            every_second("s").opts(InsertOpts {
                queue: Some("Bad Queue".into()),
                ..Default::default()
            }),
            "queue",
        ),
        (
            every_second("s").opts(InsertOpts {
                priority: Some(9),
                ..Default::default()
            }),
            "priority",
        ),
        (
            every_second("s").opts(InsertOpts {
                max_attempts: Some(0),
                ..Default::default()
            }),
            "max_attempts",
        ),
        (
            every_second("s").opts(InsertOpts {
                scheduled_at: Some(Utc::now()),
                ..Default::default()
            }),
            "scheduled_at",
        ),
        (
            every_second("s").opts(InsertOpts {
                pending: true,
                ..Default::default()
            }),
            "pending",
        ),
    ];
    for (params, expected) in cases {
        let err = refused(&path, &client, |c| c.schedule_upsert(params));
        assert_eq!(field(&err), expected, "{err:?}");
    }
    for op in [
        Client::schedule_pause,
        Client::schedule_resume,
        Client::schedule_get,
    ] {
        let err = refused(&path, &client, |c| op(c, "missing"));
        assert!(matches!(err, Error::NotFound), "{err:?}");
    }
    assert!(matches!(
        client.schedule_delete("missing"),
        Err(Error::NotFound)
    ));
}

#[test]
fn a_river_file_without_riverlites_line_refuses_schedules_and_a_newer_line_is_refused() {
    let (_dir, path) = temp_db();
    drop(Client::builder(&path).build().unwrap());
    // As River leaves a file: no riverlite line.
    raw(&path)
        .execute_batch("DROP TABLE riverlite_periodic_job; DELETE FROM river_migration WHERE line = 'riverlite';")
        .unwrap();
    let reader = Client::builder(&path).migrate(false).build().unwrap();
    let err = reader.schedule_list().unwrap_err();
    assert!(
        matches!(&err, Error::NotMigrated { line, .. } if line == "riverlite"),
        "{err:?}"
    );
    drop(reader);
    // With migrations, riverlite adds its line and leaves River's alone.
    let client = Client::builder(&path).build().unwrap();
    assert!(client.schedule_list().unwrap().is_empty());
    drop(client);

    raw(&path)
        .execute(
            "INSERT INTO river_migration (line, version) VALUES ('riverlite', 2)",
            [],
        )
        .unwrap();
    let err = Client::builder(&path).build().unwrap_err();
    assert!(
        matches!(&err, Error::SchemaTooNew { line, found: 2, known: 1 } if line == "riverlite"),
        "{err:?}"
    );
}

#[test]
fn resuming_a_running_schedule_or_changing_it_runs_nothing_by_itself() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let daily = Schedule::cron("0 3 * * *").unwrap();
    let created = client
        .schedule_upsert(ScheduleParams::new("nightly", daily, Report { full: true }))
        .unwrap();
    // Not paused: a resume ("ensure enabled") keeps a due catch-up due.
    let resumed = client.schedule_resume("nightly").unwrap();
    assert_eq!(resumed.last_target_at, created.last_target_at);

    // A new schedule starts after its own latest target, so the change
    // itself enqueues no run of a time that has passed.
    let hourly = Schedule::cron("0 * * * *").unwrap();
    let latest = hourly.latest_at_or_before(Utc::now());
    let changed = client
        .schedule_upsert(ScheduleParams::new(
            "nightly",
            hourly,
            Report { full: true },
        ))
        .unwrap();
    assert_eq!(changed.last_target_at, latest);
}

#[test]
fn a_periodic_job_in_code_never_takes_over_a_durable_schedule_with_its_id() {
    let (_dir, path) = temp_db();
    let admin = Client::builder(&path).build().unwrap();
    admin.schedule_upsert(every_second("shared")).unwrap();
    let worker = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Report, _>(|_| Ok(())))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(3600)), || {
                Some(Report { full: false })
            })
            .id("shared"),
        )
        .build()
        .unwrap();
    let attempts = &worker.test_signals().election_attempted;
    attempts.init();
    worker.start().unwrap();
    assert!(attempts.wait_for(3, DEADLINE));
    let row = admin.schedule_get("shared").unwrap();
    assert!(!row.from_code, "still the durable schedule");
    assert_eq!(row.schedule, "every 1s");
    worker.stop().unwrap();
}
