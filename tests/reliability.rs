//! Work is never lost or run twice at once: outcomes survive a write lock held elsewhere, many processes share one file without `Busy`, and SIGKILLed workers lose nothing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{raw, temp_db, wait_for_state, Noop, DEADLINE};
use crossbeam_channel::Receiver;
use riverlite::{work_fn, Client, ClientBuilder, JobState, MaintenanceConfig, QueueConfig};

/// A working client on `path` whose Noop jobs each return once the test
/// sends on `finish`. Its writes give up on a held lock after 100 ms.
fn gated_client(path: &Path, id: &str, finish: Receiver<()>) -> ClientBuilder {
    Client::builder(path)
        .id(id)
        .busy_timeout(Duration::from_millis(100))
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(move |_| {
            let _ = finish.recv();
            Ok(())
        }))
}

/// Takes the database's write lock, as another process's long transaction
/// would, until `COMMIT`.
fn hold_write_lock(path: &Path) -> rusqlite::Connection {
    let blocker = raw(path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    blocker
}

/// The completer used to give up on an outcome after 60 s, leaving the job
/// `running` under a live owner, which no rescuer recovers.
#[test]
fn an_outcome_refused_for_over_a_minute_is_written_once_the_lock_frees() {
    const LONGER_THAN_THE_OLD_LIMIT: Duration = Duration::from_secs(65);
    let (_dir, path) = temp_db();
    let (finish, finish_rx) = crossbeam_channel::unbounded();
    let client = gated_client(&path, "owner", finish_rx).build().unwrap();
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, id, JobState::Running);

    let blocker = hold_write_lock(&path);
    finish.send(()).unwrap();
    // The scenario itself is the wait: the lock stays held past the old limit.
    std::thread::sleep(LONGER_THAN_THE_OLD_LIMIT);
    assert_eq!(client.job_get(id).unwrap().state, JobState::Running);
    blocker.execute_batch("COMMIT").unwrap();

    let job = wait_for_state(&client, id, JobState::Completed);
    assert_eq!((job.attempt, job.errors.len()), (1, 0));
    client.stop().unwrap();
}

#[test]
fn a_stop_that_cannot_write_an_outcome_leaves_the_job_to_the_rescuer_at_once() {
    let (_dir, path) = temp_db();
    let (finish, finish_rx) = crossbeam_channel::unbounded();
    let owner = gated_client(&path, "owner", finish_rx).build().unwrap();
    owner.start().unwrap();
    let id = owner.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&owner, id, JobState::Running);
    // rescue_stuck_jobs_after keeps its default of an hour: only the
    // owner's released liveness lock can explain a quick rescue.
    let heir = Client::builder(&path)
        .id("heir")
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(MaintenanceConfig {
            rescuer_interval: Duration::from_millis(100),
            election_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    heir.start().unwrap();

    let blocker = hold_write_lock(&path);
    finish.send(()).unwrap();
    let (stopped_tx, stopped) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = stopped_tx.send(owner.stop());
    });
    let stopped = stopped
        .recv_timeout(DEADLINE)
        .expect("stop returns while the lock is held");
    assert!(stopped.is_ok(), "{stopped:?}");
    blocker.execute_batch("COMMIT").unwrap();

    let job = wait_for_state(&heir, id, JobState::Completed);
    assert_eq!(job.attempt, 2);
    assert_eq!(job.metadata["river:rescue_count"], 1);
    assert_eq!(job.attempted_by, ["owner", "heir"]);
    heir.stop().unwrap();
}

#[test]
fn chaos_sigkilled_workers_lose_no_job_and_run_none_twice_outside_a_rescue() {
    common::run_example(
        "chaos",
        &[
            " 0 of 20000 jobs lost",
            " 0 attempts started twice",
            " 0 run again without a rescue",
            "integrity_check ok",
        ],
    );
}

const STRESS_DB: &str = "RIVERLITE_TEST_STRESS_DB";
const STRESS_PROCESSES: usize = 8;
/// Each process inserts this many jobs one by one, and after every tenth
/// a batch of STRESS_BATCH more, while it works jobs.
const STRESS_SINGLES: i64 = 500;
const STRESS_BATCH: i64 = 50;
const STRESS_PER_PROCESS: i64 = STRESS_SINGLES + STRESS_SINGLES / 10 * STRESS_BATCH;
const STRESS_JOBS: i64 = STRESS_PER_PROCESS * STRESS_PROCESSES as i64;
/// Eight processes on two cores: generous.
const STRESS_DEADLINE: Duration = Duration::from_secs(240);

fn worked_file(path: &Path, pid: u32) -> std::path::PathBuf {
    path.with_file_name(format!("worked-{pid}.txt"))
}

fn completed_jobs(client: &Client) -> i64 {
    let counts = client.job_counts().expect("job_counts");
    counts
        .iter()
        .filter(|c| c.state == JobState::Completed)
        .map(|c| c.count)
        .sum()
}

/// One process of the stress test (the test binary re-executes itself):
/// inserts and works jobs until every process's jobs are done, then writes
/// the ids it worked. Any error, `Busy` included, fails the process.
#[test]
#[ignore = "entry point of the stress test's processes"]
fn stress_process_entry() {
    let Ok(path) = std::env::var(STRESS_DB) else {
        return;
    };
    let worked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = worked.clone();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(10))
        .worker(work_fn::<Noop, _>(move |job| {
            record.lock().unwrap().push(job.id);
            Ok(())
        }))
        .build()
        .expect("build");
    client.start().expect("start");
    for n in 0..STRESS_SINGLES {
        client.insert(Noop { n }, None).expect("insert");
        if n % 10 == 9 {
            let batch = (0..STRESS_BATCH)
                .map(|n| riverlite::InsertManyParams::new(Noop { n }))
                .collect();
            client.insert_many(batch).expect("insert_many");
        }
    }
    common::wait_until_within(&client, "every job completed", STRESS_DEADLINE, || {
        completed_jobs(&client) == STRESS_JOBS
    });
    client.stop().expect("stop");
    let ids: Vec<String> = worked.lock().unwrap().iter().map(i64::to_string).collect();
    std::fs::write(
        worked_file(Path::new(&path), std::process::id()),
        ids.join("\n"),
    )
    .unwrap();
}

#[test]
fn eight_processes_share_one_file_without_busy_and_run_each_job_once() {
    let (_dir, path) = temp_db();
    // The schema exists before the processes race to open the file.
    let reader = Client::builder(&path).build().unwrap();
    let children: Vec<std::process::Child> = (0..STRESS_PROCESSES)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "stress_process_entry", "--include-ignored"])
                .env(STRESS_DB, &path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut worked: Vec<i64> = Vec::new();
    for child in children {
        let pid = child.id();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "process {pid} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ids = std::fs::read_to_string(worked_file(&path, pid)).unwrap();
        worked.extend(ids.lines().map(|l| l.parse::<i64>().unwrap()));
    }

    worked.sort_unstable();
    let distinct = {
        let mut d = worked.clone();
        d.dedup();
        d
    };
    assert_eq!(distinct.len() as i64, STRESS_JOBS, "distinct jobs worked");
    assert_eq!(worked.len(), distinct.len(), "no job worked twice");
    assert_eq!(completed_jobs(&reader), STRESS_JOBS);
    let conn = raw(&path);
    let first_attempts: i64 = conn
        .query_row(
            "SELECT count(*) FROM river_job WHERE state = 'completed' AND attempt = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        first_attempts, STRESS_JOBS,
        "each completed on its first attempt"
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
