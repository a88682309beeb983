//! Several processes share one database: one leads; when it is SIGKILLed another takes over within 2 s, periodic runs are inserted once, and a crashed process's running jobs are rescued through its liveness lock.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{temp_db, wait_until, Noop};
use riverlite::testing::CommitWaiter;
use riverlite::{
    work_fn, Client, InsertManyParams, JobArgs, JobListParams, JobState, PeriodicJob, QueueConfig,
    Schedule,
};
use serde::{Deserialize, Serialize};

const CHILD_DB: &str = "RIVERLITE_TEST_LEADER_DB";
const CHILD_ID: &str = "RIVERLITE_TEST_LEADER_ID";
const CHILD_HOLD: &str = "RIVERLITE_TEST_LEADER_HOLD";

#[derive(Serialize, Deserialize)]
struct Tick {}
impl JobArgs for Tick {
    const KIND: &'static str = "tick";
}

/// Entry point of the child processes (the test binary re-executes itself).
/// Runs a working client with a periodic job every second until killed.
/// With HOLD set, its Noop jobs never finish, as if stuck in a long call.
#[test]
#[ignore = "entry point for the child processes of the leader tests"]
fn child_process_entry() {
    let (Ok(path), Ok(id)) = (std::env::var(CHILD_DB), std::env::var(CHILD_ID)) else {
        return;
    };
    let hold = std::env::var(CHILD_HOLD).is_ok();
    let client = Client::builder(&path)
        .id(id)
        .queue("default", QueueConfig::new(50))
        .worker(work_fn::<Tick, _>(|_| Ok(())))
        .worker(work_fn::<Noop, _>(move |_| {
            if hold {
                // Stuck until the process is killed.
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Ok(())
        }))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(1)), || Some(Tick {})).id("tick"),
        )
        .build()
        .unwrap();
    client.start().unwrap();
    // Runs until the test kills this process.
    loop {
        std::thread::park();
    }
}

fn spawn_child(path: &Path, id: &str, hold: bool) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--include-ignored",
        "--nocapture",
        "--quiet",
    ])
    .env(CHILD_DB, path)
    .env(CHILD_ID, id);
    if hold {
        cmd.env(CHILD_HOLD, "1");
    }
    cmd.spawn().unwrap()
}

/// Kills every child on drop, so a failing test leaves no process behind.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Children {
    fn kill(&mut self, id: &str) {
        let (_, child) = self.0.iter_mut().find(|(i, _)| i == id).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

fn recorded_leader(reader: &Client) -> Option<String> {
    reader.leader().unwrap().map(|l| l.leader_id)
}

/// Waits (up to `within`) for a recorded leader other than `not`; returns it.
/// The new leader's record is a commit, which wakes the wait.
fn wait_for_new_leader(reader: &Client, not: Option<&str>, within: Duration) -> String {
    let start = Instant::now();
    let mut commits = CommitWaiter::of(reader).unwrap();
    loop {
        if let Some(id) = recorded_leader(reader).filter(|id| Some(id.as_str()) != not) {
            return id;
        }
        let left = within.saturating_sub(start.elapsed());
        assert!(
            !left.is_zero(),
            "no new leader within {within:?} (previous {not:?})"
        );
        commits.wait(left).unwrap();
    }
}

/// The target times of the periodic runs (their scheduled_at), and how many
/// runs were rescued from a killed leader mid-run: a rescue reschedules a
/// job, so its scheduled_at no longer tells its target.
fn periodic_targets_and_rescued(reader: &Client) -> (Vec<DateTime<Utc>>, usize) {
    let params = JobListParams::new().kinds(["tick"]).first(10_000);
    let jobs = reader.job_list(&params).unwrap().jobs;
    for job in &jobs {
        assert_eq!(job.metadata["periodic"], true);
        assert_eq!(job.metadata["river:periodic_job_id"], "tick");
    }
    let (rescued, runs): (Vec<_>, Vec<_>) = jobs
        .iter()
        .partition(|j| j.metadata.get("river:rescue_count").is_some());
    (runs.iter().map(|j| j.scheduled_at).collect(), rescued.len())
}

fn periodic_runs(reader: &Client) -> usize {
    let (targets, rescued) = periodic_targets_and_rescued(reader);
    targets.len() + rescued
}

#[test]
fn the_leader_fails_over_twice_and_periodic_runs_are_inserted_once() {
    let (_dir, path) = temp_db();
    let reader = Client::builder(&path).build().unwrap();
    let ids = ["proc-a", "proc-b", "proc-c"];
    let mut children = Children(
        ids.iter()
            .map(|id| (id.to_string(), spawn_child(&path, id, false)))
            .collect(),
    );

    let first = wait_for_new_leader(&reader, None, common::DEADLINE);
    wait_until(&reader, "a few periodic runs", || {
        periodic_runs(&reader) >= 3
    });

    children.kill(&first);
    let second = wait_for_new_leader(&reader, Some(&first), Duration::from_secs(2));
    assert_ne!(second, first);
    let before = periodic_runs(&reader);
    wait_until(&reader, "periodic runs from the second leader", || {
        periodic_runs(&reader) >= before + 2
    });

    children.kill(&second);
    let third = wait_for_new_leader(&reader, Some(&second), Duration::from_secs(2));
    assert!(![first.as_str(), second.as_str()].contains(&third.as_str()));
    let before = periodic_runs(&reader);
    wait_until(&reader, "periodic runs from the last leader", || {
        periodic_runs(&reader) >= before + 2
    });
    drop(children);

    let (mut targets, rescued) = periodic_targets_and_rescued(&reader);
    let distinct: HashSet<_> = targets.iter().collect();
    assert_eq!(
        distinct.len(),
        targets.len(),
        "a target time was inserted twice: {targets:?}"
    );
    targets.sort();
    for pair in targets.windows(2) {
        assert_eq!(
            pair[0].timestamp_subsec_millis(),
            0,
            "targets are whole seconds"
        );
        // A failover may skip one target; a rescued run hides one more.
        let gap = pair[1] - pair[0];
        assert!(
            gap <= chrono::Duration::seconds(3 + rescued as i64),
            "gap of {gap} between {} and {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn a_killed_process_running_jobs_are_rescued_through_its_liveness_lock() {
    let (_dir, path) = temp_db();
    let reader = Client::builder(&path).build().unwrap();
    let batch = (0..50).map(|n| InsertManyParams::new(Noop { n })).collect();
    reader.insert_many(batch).unwrap();

    let mut children = Children(vec![("victim".into(), spawn_child(&path, "victim", true))]);
    let running = || {
        let params = JobListParams::new()
            .kinds(["noop"])
            .states([JobState::Running]);
        reader.job_list(&params).unwrap().jobs.len()
    };
    wait_until(&reader, "the victim to hold all 50 jobs", || {
        running() == 50
    });

    children
        .0
        .push(("survivor".into(), spawn_child(&path, "survivor", false)));
    children.kill("victim");
    // rescue_stuck_jobs_after is its default of 1 h: only the liveness lock can explain a quick rescue.
    wait_until(&reader, "every job completed by the survivor", || {
        let params = JobListParams::new()
            .kinds(["noop"])
            .states([JobState::Completed]);
        reader.job_list(&params).unwrap().jobs.len() == 50
    });
    let jobs = reader
        .job_list(JobListParams::new().kinds(["noop"]))
        .unwrap()
        .jobs;
    for job in jobs {
        assert_eq!(
            job.attempted_by,
            vec!["victim".to_string(), "survivor".to_string()]
        );
        assert_eq!(job.metadata["river:rescue_count"], 1);
        assert!(job.errors[0].error.contains("victim"), "{:?}", job.errors);
    }
    drop(children);
    let conn = riverlite::rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
