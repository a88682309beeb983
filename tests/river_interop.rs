//! riverlite and River's official Rust client (`riverqueue` 0.5, SQLite) on one file, River's side run as a subprocess (`interop/riverqueue-driver`): each works the other's jobs, neither steals the other's lease, and each hears the other's inserts, pauses, resumes and cancels.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use common::{fingerprint, fixture_json, temp_db, wait_until, DEADLINE};
use crossbeam_channel::Receiver;
use riverlite::{
    work_fn, Client, InsertManyParams, InsertOpts, JobArgs, JobListParams, JobRow, JobState,
    QueueConfig, UniqueOpts, WorkError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The driver's job kind and args.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InteropNoop {
    n: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sleep_ms: Option<u64>,
}

impl JobArgs for InteropNoop {
    const KIND: &'static str = "interop_noop";
}

fn noop(n: i64) -> InteropNoop {
    InteropNoop { n, sleep_ms: None }
}

/// The driver binary, built once per test run (its own cargo project and
/// lockfile: riverqueue links another SQLite than riverlite).
fn driver_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/riverqueue-driver");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--locked", "--manifest-path"])
            .arg(project.join("Cargo.toml"))
            .status()
            .expect("run cargo for the riverqueue driver");
        assert!(
            status.success(),
            "building interop/riverqueue-driver failed"
        );
        project.join("target/debug/riverqueue-driver")
    })
}

/// One riverqueue process on the test's file, spoken to in JSON lines.
struct River {
    child: Child,
    stdin: ChildStdin,
    responses: Receiver<Value>,
    events: Receiver<Value>,
    unclaimed: Vec<Value>,
}

impl River {
    fn spawn(path: &Path, id: &str) -> River {
        let mut child = Command::new(driver_binary())
            .arg("--database")
            .arg(path)
            .args(["--id", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the riverqueue driver");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (responses_tx, responses) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let to = if value.get("event").is_some() {
                    &events_tx
                } else {
                    &responses_tx
                };
                let _ = to.send(value);
            }
        });
        River {
            child,
            stdin,
            responses,
            events,
            unclaimed: Vec::new(),
        }
    }

    /// Sends one command and returns its (successful) response.
    fn call(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let response = self
            .responses
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no response to {command}"));
        assert_eq!(response["ok"], true, "{command}: {response}");
        response
    }

    fn insert(&mut self, n: i64) -> i64 {
        self.call(json!({"cmd": "insert", "args": {"n": n}}))["id"]
            .as_i64()
            .unwrap()
    }

    fn start(&mut self, workers: u32) {
        self.call(json!({"cmd": "start", "queues": {"default": workers}}));
    }

    fn get(&mut self, id: i64) -> Value {
        self.call(json!({"cmd": "get", "id": id}))["job"].clone()
    }

    /// The first event of `kind` for job `id`, whether it came already
    /// (others wait in `unclaimed`) or comes within the deadline.
    fn event_for(&mut self, kind: &str, id: i64) -> Value {
        let matches = |e: &Value| e["event"] == kind && e["id"] == id;
        if let Some(at) = self.unclaimed.iter().position(matches) {
            return self.unclaimed.remove(at);
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let event = self
                .events
                .recv_deadline(deadline)
                .unwrap_or_else(|_| panic!("no {kind} event for job {id}"));
            if matches(&event) {
                return event;
            }
            self.unclaimed.push(event);
        }
    }

    /// Every event so far, claimed by `event_for` or not.
    fn all_events(&mut self) -> Vec<Value> {
        let mut all = std::mem::take(&mut self.unclaimed);
        all.extend(self.events.try_iter());
        all
    }
}

impl Drop for River {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A working riverlite client for interop_noop jobs, recording the ids it
/// starts and when (wall clock). A job with sleep_ms waits that long, or
/// until it is cancelled.
/// The jobs a worker started, with when.
type Starts = Arc<Mutex<Vec<(i64, SystemTime)>>>;

fn riverlite_worker(path: &Path, workers: usize) -> (Client, Starts) {
    let started = Arc::new(Mutex::new(Vec::new()));
    let record = started.clone();
    let client = Client::builder(path)
        .id("riverlite-interop")
        .queue("default", QueueConfig::new(workers))
        .worker(work_fn::<InteropNoop, _>(move |job| {
            record.lock().unwrap().push((job.id, SystemTime::now()));
            if let Some(ms) = job.args.sleep_ms {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until {
                    if job.is_cancelled() {
                        return Err(WorkError::cancel("cancelled from River"));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Ok(())
        }))
        .build()
        .unwrap();
    (client, started)
}

fn state_of(client: &Client, id: i64) -> JobState {
    client.job_get(id).unwrap().state
}

fn wait_state(client: &Client, id: i64, state: JobState) {
    wait_until(client, &format!("job {id} {state}"), || {
        state_of(client, id) == state
    });
}

fn unix_ns(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn a_file_riverqueue_migrated_is_rivers_v8_and_riverlite_works_it_as_it_is() {
    let (_dir, path) = temp_db();
    let mut river = River::spawn(&path, "river-interop");
    assert_eq!(river.call(json!({"cmd": "migrate"}))["version"], 8);
    assert_eq!(fingerprint(&path), fixture_json("river_sqlite_v8.json"));
    let ids: Vec<i64> = (0..3).map(|n| river.insert(n)).collect();
    drop(river);

    let (client, _) = riverlite_worker(&path, 4);
    client.start().unwrap();
    for id in ids {
        wait_state(&client, id, JobState::Completed);
    }
    client.stop().unwrap();
    // River's line is left as River wrote it; riverlite adds only its own.
    let lines = common::migrations(&path);
    assert_eq!(lines.iter().filter(|(l, _)| l == "main").count(), 8);
    assert!(lines.contains(&("riverlite".to_string(), 1)));
}

#[test]
fn riverlites_inserts_are_worked_by_riverqueue() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let ids: Vec<i64> = (0..3)
        .map(|n| client.insert(noop(n), None).unwrap().job.id)
        .collect();
    let mut river = River::spawn(&path, "river-interop");
    river.start(10);
    for id in ids {
        river.event_for("finished", id);
        wait_state(&client, id, JobState::Completed);
    }
}

#[test]
fn both_work_one_file_at_once_and_each_job_completes_once_at_attempt_one() {
    const JOBS: i64 = 20_000;
    let (_dir, path) = temp_db();
    let (client, started) = riverlite_worker(&path, 100);
    client
        .insert_many((0..JOBS).map(|n| InsertManyParams::new(noop(n))).collect())
        .unwrap();
    let mut river = River::spawn(&path, "river-interop");
    river.start(100);
    client.start().unwrap();
    common::wait_until_within(
        &client,
        "every job completed",
        Duration::from_secs(300),
        || {
            client
                .job_counts()
                .unwrap()
                .iter()
                .all(|c| c.state == JobState::Completed)
        },
    );
    client.stop().unwrap();

    let by_riverlite: Vec<i64> = started.lock().unwrap().iter().map(|(id, _)| *id).collect();
    let by_river: Vec<i64> = river
        .all_events()
        .iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let lite: HashSet<i64> = by_riverlite.iter().copied().collect();
    let rq: HashSet<i64> = by_river.iter().copied().collect();
    assert_eq!(lite.len(), by_riverlite.len(), "riverlite ran a job twice");
    assert_eq!(rq.len(), by_river.len(), "riverqueue ran a job twice");
    assert!(lite.is_disjoint(&rq), "a job ran in both");
    assert_eq!((lite.len() + rq.len()) as i64, JOBS);
    let mut params = JobListParams::new().first(riverlite::MAX_PAGE_SIZE);
    loop {
        let page = client.job_list(&params).unwrap();
        assert!(page
            .jobs
            .iter()
            .all(|j| j.attempt == 1 && j.state == JobState::Completed));
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => break,
        }
    }
    println!(
        "split of {JOBS} jobs: riverlite {}, riverqueue {}",
        lite.len(),
        rq.len()
    );
}

#[test]
fn a_unique_job_inserted_from_both_sides_is_one_row() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let mut river = River::spawn(&path, "river-interop");
    let by_args = InsertOpts {
        unique: Some(UniqueOpts {
            by_args: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    // riverlite first, then River.
    let first = client.insert(noop(7), Some(by_args.clone())).unwrap();
    let second = river.call(json!({"cmd": "insert", "args": {"n": 7}, "unique_by_args": true}));
    assert_eq!(second["skipped"], true);
    assert_eq!(second["id"], first.job.id);
    // River first, then riverlite.
    let first = river.call(json!({"cmd": "insert", "args": {"n": 8}, "unique_by_args": true}));
    let second = client.insert(noop(8), Some(by_args)).unwrap();
    assert!(second.unique_skipped_as_duplicate);
    assert_eq!(second.job.id, first["id"].as_i64().unwrap());
    let rows = client
        .job_list(JobListParams::new().kinds(["interop_noop"]))
        .unwrap()
        .jobs;
    assert_eq!(rows.len(), 2);
}

fn leader_id(client: &Client) -> Option<String> {
    client.leader().unwrap().map(|l| l.leader_id)
}

#[test]
fn one_leader_at_a_time_and_riverqueue_takes_over_when_riverlite_stops() {
    let (_dir, path) = temp_db();
    let (client, _) = riverlite_worker(&path, 4);
    client.start().unwrap();
    wait_until(&client, "riverlite leads", || client.is_leader());
    let mut river = River::spawn(&path, "river-interop");
    river.start(4);
    // Over several of River's election attempts, the lease stays riverlite's.
    let attempts = &client.test_signals().election_attempted;
    attempts.init();
    assert!(attempts.wait_for(10, DEADLINE));
    assert_eq!(leader_id(&client).as_deref(), Some("riverlite-interop"));
    assert!(client.is_leader());

    client.stop().unwrap();
    let reader = Client::builder(&path).migrate(false).build().unwrap();
    wait_until(&reader, "riverqueue leads", || {
        leader_id(&reader).as_deref() == Some("river-interop")
    });

    // Now riverqueue leads, and a riverlite client started beside it defers.
    let (client, _) = riverlite_worker(&path, 4);
    let attempts = &client.test_signals().election_attempted;
    attempts.init();
    client.start().unwrap();
    assert!(attempts.wait_for(10, DEADLINE));
    assert!(!client.is_leader());
    assert_eq!(leader_id(&client).as_deref(), Some("river-interop"));
    client.stop().unwrap();
}

#[test]
fn each_side_starts_the_others_inserts_well_before_its_poll_interval() {
    const SAMPLES: usize = 15;
    let (_dir, path) = temp_db();
    let (client, started) = riverlite_worker(&path, 4);
    let mut river = River::spawn(&path, "river-interop");
    river.call(json!({"cmd": "migrate"}));
    river.start(4);
    // riverlite inserts, an idle riverqueue worker (1 s poll) starts it.
    let mut to_river = Vec::new();
    for n in 0..SAMPLES as i64 {
        let inserted = unix_ns(SystemTime::now());
        let id = client.insert(noop(n), None).unwrap().job.id;
        let at = river.event_for("started", id)["at_unix_ns"]
            .as_i64()
            .unwrap();
        to_river.push((at - inserted) as f64 / 1e6);
        river.event_for("finished", id);
    }
    river.call(json!({"cmd": "stop"}));
    // riverqueue inserts, an idle riverlite worker starts it.
    client.start().unwrap();
    let mut to_riverlite = Vec::new();
    for n in 0..SAMPLES as i64 {
        let inserted = unix_ns(SystemTime::now());
        let id = river.insert(n);
        wait_state(&client, id, JobState::Completed);
        let at = started
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, at)| unix_ns(*at))
            .unwrap();
        to_riverlite.push((at - inserted) as f64 / 1e6);
    }
    client.stop().unwrap();
    let (to_river, to_riverlite) = (median(to_river), median(to_riverlite));
    println!("insert-to-start p50: riverlite to riverqueue {to_river:.1} ms, riverqueue to riverlite {to_riverlite:.1} ms");
    // Polling alone would give a median near half the 1 s poll interval.
    assert!(
        to_river < 350.0,
        "riverlite to riverqueue p50 {to_river} ms"
    );
    assert!(
        to_riverlite < 350.0,
        "riverqueue to riverlite p50 {to_riverlite} ms"
    );
}

/// Waits `for_at_least` and checks `id` is still available: the negative
/// half of a pause test, with a wait longer than River's 1 s poll interval.
fn stays_available(client: &Client, id: i64, for_at_least: Duration) {
    let until = Instant::now() + for_at_least;
    while Instant::now() < until {
        assert_eq!(
            state_of(client, id),
            JobState::Available,
            "job {id} ran while paused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pause_resume_and_cancel_from_each_side_are_obeyed_by_the_other() {
    let (_dir, path) = temp_db();
    let (client, _) = riverlite_worker(&path, 4);
    let mut river = River::spawn(&path, "river-interop");
    river.call(json!({"cmd": "migrate"}));
    river.start(4);

    // riverlite pauses and resumes; riverqueue works.
    client.queue_pause("default").unwrap();
    let id = client.insert(noop(1), None).unwrap().job.id;
    stays_available(&client, id, Duration::from_millis(2_500));
    client.queue_resume("default").unwrap();
    river.event_for("finished", id);

    // riverlite cancels a job running in riverqueue.
    let id = river.call(json!({"cmd": "insert", "args": {"n": 2, "sleep_ms": 30_000}}))["id"]
        .as_i64()
        .unwrap();
    river.event_for("started", id);
    client.job_cancel(id).unwrap();
    assert_eq!(river.event_for("finished", id)["result"], "cancelled");
    wait_state(&client, id, JobState::Cancelled);
    river.call(json!({"cmd": "stop"}));

    // riverqueue pauses and resumes; riverlite works.
    client.start().unwrap();
    river.call(json!({"cmd": "pause", "queue": "default"}));
    let id = client.insert(noop(3), None).unwrap().job.id;
    stays_available(&client, id, Duration::from_millis(2_500));
    river.call(json!({"cmd": "resume", "queue": "default"}));
    wait_state(&client, id, JobState::Completed);

    // riverqueue cancels a job running in riverlite.
    let id = client
        .insert(
            InteropNoop {
                n: 4,
                sleep_ms: Some(30_000),
            },
            None,
        )
        .unwrap()
        .job
        .id;
    wait_state(&client, id, JobState::Running);
    river.call(json!({"cmd": "cancel", "id": id}));
    wait_state(&client, id, JobState::Cancelled);
    client.stop().unwrap();
}

fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

/// The row as riverqueue decoded it equals the row as riverlite decodes it.
fn assert_same_row(river: &Value, lite: &JobRow) {
    let id = lite.id;
    assert_eq!(river["id"], id);
    assert_eq!(river["state"], lite.state.as_str(), "job {id} state");
    assert_eq!(river["attempt"], lite.attempt, "job {id} attempt");
    assert_eq!(river["max_attempts"], lite.max_attempts, "job {id}");
    assert_eq!(river["queue"], lite.queue.as_str(), "job {id}");
    assert_eq!(river["kind"], lite.kind.as_str(), "job {id}");
    assert_eq!(river["priority"], lite.priority, "job {id}");
    let args: Value = serde_json::from_str(&lite.args).unwrap();
    assert_eq!(river["args"], args, "job {id} args");
    assert_eq!(river["metadata"], lite.metadata, "job {id} metadata");
    assert_eq!(river["tags"], json!(lite.tags), "job {id} tags");
    assert_eq!(river["attempted_by"], json!(lite.attempted_by), "job {id}");
    let errors = river["errors"].as_array().unwrap();
    assert_eq!(errors.len(), lite.errors.len(), "job {id} errors");
    for (theirs, ours) in errors.iter().zip(&lite.errors) {
        assert_eq!(theirs["attempt"], ours.attempt, "job {id}");
        assert_eq!(theirs["error"], ours.error.as_str(), "job {id}");
        assert_eq!(instant(&theirs["at"]), Some(ours.at), "job {id} error at");
    }
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    assert_eq!(
        ms(instant(&river["created_at"])),
        ms(Some(lite.created_at)),
        "job {id} created_at"
    );
    assert_eq!(
        ms(instant(&river["scheduled_at"])),
        ms(Some(lite.scheduled_at)),
        "job {id} scheduled_at"
    );
    assert_eq!(
        ms(instant(&river["attempted_at"])),
        ms(lite.attempted_at),
        "job {id} attempted_at"
    );
    assert_eq!(
        ms(instant(&river["finalized_at"])),
        ms(lite.finalized_at),
        "job {id} finalized_at"
    );
}

#[test]
fn every_row_riverqueue_wrote_decodes_in_riverlite_as_riverqueue_wrote_it() {
    let (_dir, path) = temp_db();
    let mut river = River::spawn(&path, "river-interop");
    river.call(json!({"cmd": "migrate"}));
    let completed = river.insert(1);
    let failed = river.call(json!({"cmd": "insert", "args": {"n": 2, "fail": true}}))["id"]
        .as_i64()
        .unwrap();
    let cancelled = river.call(json!({"cmd": "insert", "args": {"n": 3, "sleep_ms": 30_000}}))
        ["id"]
        .as_i64()
        .unwrap();
    let scheduled = river
        .call(json!({"cmd": "insert", "args": {"n": 4}, "scheduled_in_ms": 3_600_000}))["id"]
        .as_i64()
        .unwrap();
    river.start(4);
    river.event_for("finished", completed);
    river.event_for("finished", failed);
    river.event_for("started", cancelled);
    river.call(json!({"cmd": "cancel", "id": cancelled}));
    river.event_for("finished", cancelled);
    river.call(json!({"cmd": "stop"}));

    let reader = Client::builder(&path).migrate(false).build().unwrap();
    wait_until(&reader, "riverqueue's outcomes written", || {
        state_of(&reader, completed) == JobState::Completed
            && state_of(&reader, cancelled) == JobState::Cancelled
            && state_of(&reader, failed) != JobState::Running
    });
    for id in [completed, failed, cancelled, scheduled] {
        let theirs = river.get(id);
        let ours = reader.job_get(id).unwrap();
        assert_same_row(&theirs, &ours);
    }
}
