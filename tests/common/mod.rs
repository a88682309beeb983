//! Helpers shared by the integration tests: temporary databases, job types,
//! raw SQL access, waiting with a deadline, and a dump of everything a test
//! may compare before/after.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riverlite::rusqlite::types::Value;
use riverlite::rusqlite::Connection;
use riverlite::{Client, JobArgs, JobRow, JobState};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

/// A fresh temporary directory and the path of a (not yet created) database in it.
/// Keep the `TempDir` alive for as long as the database is used.
pub fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let path = dir.path().join("jobs.db");
    (dir, path)
}

/// An insert-only client on a new database in a temporary directory.
pub fn new_client() -> (TempDir, PathBuf, Client) {
    let (dir, path) = temp_db();
    let client = Client::builder(&path).build().expect("build client");
    (dir, path, client)
}

/// A raw rusqlite connection to the database, for setting up states and
/// reading what is stored.
pub fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open raw connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy_timeout");
    conn
}

/// Every row of a table as text, ordered by its first column, so that two
/// dumps compare equal exactly when the stored content is the same.
pub fn dump_table(conn: &Connection, table: &str) -> Vec<Vec<String>> {
    let sql = format!("SELECT * FROM {table} ORDER BY 1");
    let mut stmt = conn.prepare(&sql).expect("prepare dump");
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns)
            .map(|i| row.get::<_, Value>(i).map(|v| format!("{v:?}")))
            .collect()
    })
    .expect("query dump")
    .collect::<Result<_, _>>()
    .expect("read dump")
}

/// The stored jobs and queues.
#[derive(Debug, PartialEq)]
pub struct Dump {
    pub jobs: Vec<Vec<String>>,
    pub queues: Vec<Vec<String>>,
}

/// Dumps every `river_job` and `river_queue` row.
pub fn dump(path: &Path) -> Dump {
    let conn = raw(path);
    Dump {
        jobs: dump_table(&conn, "river_job"),
        queues: dump_table(&conn, "river_queue"),
    }
}

/// Number of rows in `river_job`.
pub fn job_count(path: &Path) -> i64 {
    raw(path)
        .query_row("SELECT count(*) FROM river_job", [], |r| r.get(0))
        .expect("count jobs")
}

/// Everything in `river_migration` as (line, version).
pub fn migrations(path: &Path) -> Vec<(String, i64)> {
    let conn = raw(path);
    let mut stmt = conn
        .prepare("SELECT line, version FROM river_migration ORDER BY line, version")
        .expect("prepare migrations");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query migrations")
        .collect::<Result<_, _>>()
        .expect("read migrations")
}

/// Marks a job running, as a producer that claimed it would.
pub fn set_running(path: &Path, id: i64) {
    let n = raw(path)
        .execute(
            "UPDATE river_job SET state = 'running', attempt = attempt + 1, \
             attempted_at = datetime('now', 'subsec') WHERE id = ?1",
            [id],
        )
        .expect("set running");
    assert_eq!(n, 1, "job {id} exists");
}

/// A job with a string payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendEmail {
    pub to: String,
}

impl JobArgs for SendEmail {
    const KIND: &'static str = "send_email";
}

/// `SendEmail` args for `to`.
pub fn email(to: &str) -> SendEmail {
    SendEmail { to: to.into() }
}

/// A job with a numeric payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub n: i64,
}

impl JobArgs for Count {
    const KIND: &'static str = "count";
}

/// Generous, so a busy 2-core CI machine never flakes; tests finish as soon as the condition holds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, checking it again after each commit to
/// `client`'s database (by any connection or process), and panics with
/// `what` once DEADLINE passes. No sleeping: every condition a test waits on
/// becomes true through a commit, and each commit wakes the wait.
pub fn wait_until(client: &Client, what: &str, condition: impl FnMut() -> bool) {
    wait_until_within(client, what, DEADLINE, condition);
}

/// Like [`wait_until`], with a deadline of `within`.
pub fn wait_until_within(
    client: &Client,
    what: &str,
    within: Duration,
    mut condition: impl FnMut() -> bool,
) {
    let start = Instant::now();
    let mut commits = riverlite::testing::CommitWaiter::of(client).expect("a file database");
    while !condition() {
        let left = within.saturating_sub(start.elapsed());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        commits.wait(left).expect("watching the database");
    }
}

/// Waits until job `id` is in `state`, and returns it.
pub fn wait_for_state(client: &Client, id: i64, state: JobState) -> JobRow {
    let mut job = client.job_get(id).expect("job_get");
    wait_until(client, &format!("job {id} to reach {state}"), || {
        job = client.job_get(id).expect("job_get");
        job.state == state
    });
    job
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
        .all(|c| c.state == state)
}

/// True when some job is in `state`.
pub fn any_in_state(client: &Client, state: JobState) -> bool {
    client
        .job_counts()
        .unwrap()
        .iter()
        .any(|c| c.state == state)
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

/// An example's binary, which `cargo test` builds beside the test binaries
/// (`target/<profile>/examples/`); built here if it is missing.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

/// Runs example `name`, which must succeed, and checks that its output
/// contains each of `expected`.
pub fn run_example(name: &str, expected: &[&str]) {
    let output = std::process::Command::new(example(name)).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in expected {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// River's schema fingerprint of the database at `path`, by
/// `tests/fixtures/fingerprint.py` (River's own format check).
pub fn fingerprint(path: &Path) -> serde_json::Value {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new("python3")
        .arg(format!("{manifest}/tests/fixtures/fingerprint.py"))
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "fingerprint.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A JSON file from `tests/fixtures/`.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read(format!("{manifest}/tests/fixtures/{name}")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// Turns a riverlite (version 8) database into one at River's main version
/// 7, as River 0.40 to 0.47 left it: `river_job` without AUTOINCREMENT, and
/// no version 8 in `river_migration`. Its rows keep their ids.
pub fn make_version_7(path: &Path) {
    let conn = raw(path);
    let create: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'river_job'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'river_job' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let create_v7 = create.replace("PRIMARY KEY AUTOINCREMENT", "PRIMARY KEY");
    assert_ne!(create, create_v7, "river_job had AUTOINCREMENT");
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         ALTER TABLE river_job RENAME TO river_job_v8;
         {create_v7};
         INSERT INTO river_job SELECT * FROM river_job_v8;
         DROP TABLE river_job_v8;
         {};
         DELETE FROM river_migration WHERE line = 'main' AND version = 8;
         COMMIT;",
        indexes.join(";\n")
    ))
    .unwrap();
}

/// Maintenance with short intervals, so tests of the leader's services wait little.
pub fn fast_maintenance() -> riverlite::MaintenanceConfig {
    riverlite::MaintenanceConfig {
        scheduler_interval: Duration::from_millis(100),
        rescuer_interval: Duration::from_millis(100),
        cleaner_interval: Duration::from_millis(100),
        election_interval: Duration::from_millis(50),
        ..riverlite::MaintenanceConfig::default()
    }
}

/// Sends one raw HTTP/1.1 request (which should say `Connection: close`)
/// and reads the whole answer: its status, its head and its body.
pub fn http_exchange(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}
