//! Helpers shared by the integration tests: temp databases, job kinds, and waiting with a deadline.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use riverlite::{Client, JobArgs, JobRow, JobState};
use serde::{Deserialize, Serialize};

/// Generous, so a busy 2-core CI machine never flakes; tests finish as soon as the condition holds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh database path in its own temp directory (removed when the guard drops).
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    (dir, path)
}

/// Polls `condition` until it holds or DEADLINE passes; panics with `what` then.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until job `id` is in `state`, and returns it.
pub fn wait_for_state(client: &Client, id: i64, state: JobState) -> JobRow {
    let start = Instant::now();
    loop {
        let job = client.job_get(id).expect("job_get");
        if job.state == state {
            return job;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "job {id} never reached {state}; last seen: {job:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A job that does nothing, or what its worker says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Noop {
    pub n: i64,
}

impl JobArgs for Noop {
    const KIND: &'static str = "noop";
}

/// True when every job in the database is in `state`.
pub fn all_in_state(client: &Client, state: JobState) -> bool {
    client
        .job_counts()
        .unwrap()
        .iter()
        .all(|(_, s, _)| *s == state)
}

/// True when some job is in `state`.
pub fn any_in_state(client: &Client, state: JobState) -> bool {
    client
        .job_counts()
        .unwrap()
        .iter()
        .any(|(_, s, _)| *s == state)
}

/// Inserts `n` Noop jobs in one batch.
pub fn insert_noops(client: &Client, n: i64) {
    let batch = (0..n)
        .map(|n| riverlite::InsertManyParams::new(Noop { n }))
        .collect();
    client.insert_many(batch).unwrap();
}

/// A working client on `path` with one `default` queue running `work`.
pub fn noop_client<F>(path: &std::path::Path, max_workers: usize, work: F) -> Client
where
    F: Fn(&riverlite::Job<Noop>) -> Result<(), riverlite::WorkError> + Send + Sync + 'static,
{
    Client::builder(path)
        .queue("default", riverlite::QueueConfig::new(max_workers))
        .worker(riverlite::work_fn::<Noop, _>(work))
        .build()
        .unwrap()
}
