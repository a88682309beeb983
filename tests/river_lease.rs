//! riverlite leads only while it holds both its leader lock and River's lease in `river_leader`: it never takes a live River client's lease, gives it up when it is taken or cannot be refreshed, and replaces a dead riverlite leader's lease at once.

mod common;

use std::time::Duration;

use common::{fast_maintenance, raw, temp_db, wait_for_state, wait_until, Noop, DEADLINE};
use riverlite::rusqlite::params;
use riverlite::{
    work_fn, Client, EventKind, JobArgs, JobState, PeriodicJob, QueueConfig, Schedule,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Tick {}
impl JobArgs for Tick {
    const KIND: &'static str = "tick";
}

fn working(path: &std::path::Path) -> Client {
    Client::builder(path)
        .id("lite")
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .worker(work_fn::<Tick, _>(|_| Ok(())))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(1)), || Some(Tick {})).id("tick"),
        )
        .maintenance(fast_maintenance())
        .build()
        .unwrap()
}

/// Writes a lease for `leader_id`, elected now, expiring in `seconds`.
fn write_lease(path: &std::path::Path, leader_id: &str, seconds: i64) -> Vec<String> {
    let conn = raw(path);
    conn.execute(
        "INSERT OR REPLACE INTO river_leader (name, leader_id, elected_at, expires_at) \
         VALUES ('default', ?1, datetime('now', 'subsec'), datetime('now', 'subsec', ?2))",
        params![leader_id, format!("{seconds} seconds")],
    )
    .unwrap();
    lease_row(path)
}

fn lease_row(path: &std::path::Path) -> Vec<String> {
    common::dump_table(&raw(path), "river_leader")
        .into_iter()
        .flatten()
        .collect()
}

/// A retryable job due now, which only River's shared duty (the scheduler) makes available.
fn due_retry(client: &Client, path: &std::path::Path) -> i64 {
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    raw(path)
        .execute(
            "UPDATE river_job SET state = 'retryable', scheduled_at = datetime('now', 'subsec', '-1 seconds') \
             WHERE id = ?1",
            [id],
        )
        .unwrap();
    id
}

fn ticks(client: &Client) -> usize {
    let params = riverlite::JobListParams::new().kinds(["tick"]);
    client.job_list(&params).unwrap().jobs.len()
}

#[test]
fn a_live_river_lease_is_never_taken_and_only_riverlites_own_duties_run_meanwhile() {
    let (_dir, path) = temp_db();
    let client = working(&path);
    let retry = due_retry(&client, &path);
    let river = write_lease(&path, "river-go-client", 60);
    let attempts = &client.test_signals().election_attempted;
    attempts.init();
    let gained = client.subscribe(&[EventKind::LeaderGained]);
    client.start().unwrap();

    // The lock holder runs its periodic job (riverlite's own duty) ...
    wait_until(&client, "a periodic run", || ticks(&client) > 0);
    assert!(attempts.wait_for(10, DEADLINE), "election attempts");
    // ... but never touches River's lease nor runs River's shared duties.
    assert_eq!(lease_row(&path), river);
    assert!(!client.is_leader());
    assert_eq!(client.job_get(retry).unwrap().state, JobState::Retryable);

    // Once the lease expires, riverlite takes it and the scheduler runs.
    raw(&path)
        .execute(
            "UPDATE river_leader SET expires_at = datetime('now', 'subsec', '-1 seconds')",
            [],
        )
        .unwrap();
    gained
        .recv_timeout(DEADLINE)
        .expect("leadership after expiry");
    assert_eq!(client.leader().unwrap().unwrap().leader_id, "lite");
    wait_for_state(&client, retry, JobState::Completed);
    client.stop().unwrap();
    assert_eq!(lease_row(&path), Vec::<String>::new(), "resigned on stop");
}

#[test]
fn a_lease_taken_away_ends_leadership_at_the_next_refresh() {
    let (_dir, path) = temp_db();
    let client = working(&path);
    let lost = client.subscribe(&[EventKind::LeaderLost]);
    client.start().unwrap();
    wait_until(&client, "leadership", || client.is_leader());

    let river = write_lease(&path, "river-go-client", 60);
    lost.recv_timeout(DEADLINE).expect("leadership lost");
    assert!(!client.is_leader());
    assert_eq!(lease_row(&path), river, "the other lease is left alone");
    client.stop().unwrap();
    assert_eq!(lease_row(&path), river, "stop resigns only its own term");
}

#[test]
fn a_dead_riverlite_leaders_lease_is_replaced_at_once() {
    let (_dir, path) = temp_db();
    let client = working(&path);
    // A riverlite leader that died: its liveness file is there, unlocked.
    let clients_dir = {
        let mut dir = path.clone().into_os_string();
        dir.push(".clients");
        std::path::PathBuf::from(dir)
    };
    std::fs::create_dir_all(&clients_dir).unwrap();
    std::fs::write(clients_dir.join("dead-lite.lock"), "").unwrap();
    write_lease(&path, "dead-lite", 3600);
    let gained = client.subscribe(&[EventKind::LeaderGained]);
    client.start().unwrap();
    // DEADLINE is far shorter than the hour the dead leader's lease had left.
    gained.recv_timeout(DEADLINE).expect("leadership");
    assert_eq!(client.leader().unwrap().unwrap().leader_id, "lite");
    client.stop().unwrap();
}

#[test]
fn a_leader_that_cannot_refresh_its_lease_stops_leading_by_its_deadline() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .busy_timeout(Duration::from_millis(100))
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(fast_maintenance())
        .build()
        .unwrap();
    let lost = client.subscribe(&[EventKind::LeaderLost]);
    client.start().unwrap();
    wait_until(&client, "leadership", || client.is_leader());

    // Another process holds the write lock past the lease's TTL (15 s).
    let blocker = raw(&path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    lost.recv_timeout(Duration::from_secs(60))
        .expect("leadership ends while the lease cannot be refreshed");
    assert!(!client.is_leader());
    blocker.execute_batch("COMMIT").unwrap();
    client.stop().unwrap();
}
