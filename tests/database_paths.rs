//! The forms of database path `build()` accepts: plain (relative paths are made absolute once), in-memory, and `file:` URIs; the rest is a typed error.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use riverlite::{work_fn, Client, Error, EventKind, JobArgs, QueueConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Ping {}
impl JobArgs for Ping {
    const KIND: &'static str = "ping";
}

const DEADLINE: Duration = Duration::from_secs(30);
const CHILD_DIR: &str = "RIVERLITE_TEST_PATHS_DIR";

/// A working client on `path` with one queue of Ping jobs.
fn ping_client(path: impl AsRef<Path>) -> Client {
    Client::builder(path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Ping, _>(|_| Ok(())))
        .build()
        .unwrap()
}

/// Builds a working client on `path` and works one job with it.
fn works_a_job(path: impl AsRef<Path>) {
    work_one_job(&ping_client(path));
}

/// Inserts a job, starts `client`, waits for the job, and stops.
fn work_one_job(client: &Client) {
    let completed = client.subscribe(&[EventKind::JobCompleted]);
    client.insert(Ping {}, None).unwrap();
    client.start().unwrap();
    completed.recv_timeout(DEADLINE).expect("the job completes");
    client.stop().unwrap();
}

#[test]
fn an_empty_path_is_a_config_error() {
    let err = Client::builder("").build().unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("empty")),
        "{err:?}"
    );
}

#[test]
fn a_shared_cache_memory_uri_is_an_in_memory_database() {
    works_a_job("file::memory:?cache=shared");
}

#[test]
fn a_file_uri_with_localhost_works_and_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    works_a_job(format!(
        "file://localhost{}",
        dir.path().join("a.db").display()
    ));
    works_a_job(format!("file://{}", dir.path().join("b.db").display()));
    let err = Client::builder("file://example.com/tmp/x.db")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

/// Runs in a child process (the test binary again), since it changes the
/// process's working directory.
#[test]
#[ignore = "entry point of a_relative_path_stays_on_its_file_after_a_chdir's child"]
fn child_relative_path() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    std::env::set_current_dir(dir.join("a")).unwrap();
    let client = ping_client("jobs.db");
    std::env::set_current_dir(dir.join("b")).unwrap();
    work_one_job(&client);
}

#[test]
fn a_relative_path_stays_on_its_file_after_a_chdir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_relative_path",
            "--include-ignored",
            "--quiet",
        ])
        .env(CHILD_DIR, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the child failed");
    assert!(dir.path().join("a").join("jobs.db").exists());
    assert!(
        !dir.path().join("b").join("jobs.db").exists(),
        "no second file"
    );
}
