//! Several working clients on one database, in one process or two: every job runs exactly once.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{temp_db, wait_until, Noop};
use riverlite::{work_fn, Client, InsertManyParams, JobListParams, JobState, QueueConfig};

const JOBS: i64 = 10_000;

fn insert_jobs(path: &Path) {
    let client = Client::builder(path).build().unwrap();
    let batch = (0..JOBS)
        .map(|n| InsertManyParams::new(Noop { n }))
        .collect();
    client.insert_many(batch).unwrap();
}

/// A working client that records each job id it works in `seen`.
fn recording_client(path: &Path, seen: Arc<Mutex<Vec<i64>>>) -> Client {
    let client = Client::builder(path)
        .queue("default", QueueConfig::new(50))
        .worker(work_fn::<Noop, _>(move |job| {
            seen.lock().unwrap().push(job.id);
            Ok(())
        }))
        .build()
        .unwrap();
    client.start().unwrap();
    client
}

fn all_completed(client: &Client) -> bool {
    client
        .job_counts()
        .unwrap()
        .iter()
        .all(|c| c.state == JobState::Completed)
}

/// Every job completed on its first and only attempt.
fn assert_each_job_ran_once(client: &Client, seen: &[i64]) {
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), JOBS as usize, "jobs worked (with repeats)");
    assert_eq!(unique.len(), JOBS as usize, "distinct jobs worked");
    let mut params = JobListParams::new().first(10_000);
    loop {
        let page = client.job_list(&params).unwrap();
        for job in &page.jobs {
            assert_eq!(
                (job.state, job.attempt),
                (JobState::Completed, 1),
                "job {}",
                job.id
            );
        }
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => break,
        }
    }
}

#[test]
fn two_clients_in_one_process_run_every_job_once() {
    let (_dir, path) = temp_db();
    insert_jobs(&path);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = recording_client(&path, seen.clone());
    let b = recording_client(&path, seen.clone());
    wait_until(&a, "every job completed", || all_completed(&a));
    a.stop().unwrap();
    b.stop().unwrap();
    assert_each_job_ran_once(&a, &seen.lock().unwrap());
}

const CHILD_ENV: &str = "RIVERLITE_TEST_CHILD_DB";

fn seen_file(path: &Path, pid: u32) -> PathBuf {
    path.with_file_name(format!("worked-{pid}.txt"))
}

/// Entry point of the second process of the two-process test (the test
/// binary re-executes itself with RIVERLITE_TEST_CHILD_DB set).
#[test]
#[ignore = "entry point for the child process of two_processes_run_every_job_once"]
fn child_process_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = recording_client(&path, seen.clone());
    wait_until(&client, "every job completed", || all_completed(&client));
    client.stop().unwrap();
    let mut file = std::fs::File::create(seen_file(&path, std::process::id())).unwrap();
    for id in seen.lock().unwrap().iter() {
        writeln!(file, "{id}").unwrap();
    }
}

#[test]
fn two_processes_run_every_job_once() {
    let (_dir, path) = temp_db();
    insert_jobs(&path);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--include-ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, &path)
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = recording_client(&path, seen.clone());
    wait_until(&client, "every job completed", || all_completed(&client));
    client.stop().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child exited with {status}");

    let mut all = seen.lock().unwrap().clone();
    let child_seen = std::fs::read_to_string(seen_file(&path, child.id())).unwrap();
    all.extend(child_seen.lines().map(|l| l.parse::<i64>().unwrap()));
    assert_each_job_ran_once(&client, &all);
}
