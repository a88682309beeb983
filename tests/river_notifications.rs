//! River's notifications: riverlite writes `river_insert`, `river_control` and `river_leadership` rows in the transaction of each change, acts on the ones River's clients write, and keeps the table bounded.

mod common;

use std::time::Duration;

use common::{fast_maintenance, raw, temp_db, wait_for_state, wait_until, Noop, DEADLINE};
use riverlite::rusqlite::TransactionBehavior;
use riverlite::{work_fn, Client, EventKind, JobState, QueueConfig, WorkError};
use serde_json::{json, Value};

/// Every notification row as (topic, payload).
fn notifications(path: &std::path::Path) -> Vec<(String, Value)> {
    let conn = raw(path);
    let mut stmt = conn
        .prepare("SELECT topic, payload FROM river_notification ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        let payload: String = r.get(1)?;
        Ok((r.get(0)?, serde_json::from_str(&payload).unwrap()))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Writes a notification as a River client would.
fn river_notifies(path: &std::path::Path, topic: &str, payload: Value) {
    raw(path)
        .execute(
            "INSERT INTO river_notification (topic, payload) VALUES (?1, ?2)",
            [topic, &payload.to_string()],
        )
        .unwrap();
}

#[test]
fn inserts_announce_their_queue_once_per_cooldown_and_only_if_committed() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    for n in 0..50 {
        client.insert(Noop { n }, None).unwrap();
    }
    let inserts = notifications(&path);
    assert!(!inserts.is_empty() && inserts.len() < 50, "{inserts:?}");
    assert!(inserts
        .iter()
        .all(|n| *n == ("river_insert".to_string(), json!({"queue": "default"}))));

    // In the caller's transaction (a queue not announced yet): the
    // announcement is part of it, and goes with its rollback.
    let other = riverlite::InsertOpts {
        queue: Some("other".into()),
        ..Default::default()
    };
    let before = notifications(&path);
    let mut conn = raw(&path);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    client.insert_tx(&tx, Noop { n: 99 }, Some(other)).unwrap();
    let in_tx: i64 = tx
        .query_row("SELECT count(*) FROM river_notification", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_tx as usize, before.len() + 1);
    tx.rollback().unwrap();
    assert_eq!(notifications(&path), before);
}

#[test]
fn cancel_pause_and_resume_are_announced_to_river() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    common::set_running(&path, id);
    raw(&path)
        .execute("DELETE FROM river_notification", [])
        .unwrap();
    client.job_cancel(id).unwrap();
    client.queue_pause("default").unwrap();
    client.queue_resume("default").unwrap();
    assert_eq!(
        notifications(&path),
        [
            (
                "river_control".to_string(),
                json!({"action": "cancel", "job_id": id, "queue": "default"})
            ),
            (
                "river_control".to_string(),
                json!({"action": "pause", "queue": "default"})
            ),
            (
                "river_control".to_string(),
                json!({"action": "resume", "queue": "default"})
            ),
        ]
    );
}

#[test]
fn a_cancel_notification_from_river_reaches_the_running_job() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|job| {
            while !job.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(WorkError::cancel("cancelled remotely"))
        }))
        .build()
        .unwrap();
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, id, JobState::Running);
    // Only the notification: no cancel_attempted_at for the cancel poll to find.
    river_notifies(
        &path,
        "river_control",
        json!({"action": "cancel", "job_id": id, "queue": "default"}),
    );
    wait_for_state(&client, id, JobState::Cancelled);
    client.stop().unwrap();
}

#[test]
fn the_leader_resigns_when_river_asks_and_says_so_when_it_stops() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path)
        .id("lite")
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(fast_maintenance())
        .build()
        .unwrap();
    let events = client.subscribe(&[EventKind::LeaderGained, EventKind::LeaderLost]);
    client.start().unwrap();
    let kinds = |n: usize| -> Vec<EventKind> {
        (0..n)
            .map(|_| events.recv_timeout(DEADLINE).expect("event").kind)
            .collect()
    };
    assert_eq!(kinds(1), [EventKind::LeaderGained]);

    river_notifies(
        &path,
        "river_leadership",
        json!({"action": "request_resign", "leader_id": ""}),
    );
    // It resigns, waits an election interval, and (alone) is elected again.
    assert_eq!(kinds(2), [EventKind::LeaderLost, EventKind::LeaderGained]);
    let resigned = json!({"action": "resigned", "leader_id": "lite"});
    let said = |path: &std::path::Path| {
        notifications(path)
            .iter()
            .filter(|n| *n == &("river_leadership".to_string(), resigned.clone()))
            .count()
    };
    assert_eq!(said(&path), 1);
    client.stop().unwrap();
    assert_eq!(said(&path), 2);
}

#[test]
fn an_insert_only_deployment_prunes_old_notifications() {
    let (_dir, path) = temp_db();
    drop(Client::builder(&path).build().unwrap());
    raw(&path)
        .execute(
            "INSERT INTO river_notification (topic, payload, created_at) \
             SELECT 'river_insert', '{\"queue\":\"old\"}', datetime('now', '-10 minutes') \
             FROM json_each('[1,2,3,4,5]')",
            [],
        )
        .unwrap();
    let client = Client::builder(&path).build().unwrap();
    client.insert(Noop { n: 1 }, None).unwrap();
    wait_until(&client, "old notifications pruned", || {
        notifications(&path)
            .iter()
            .all(|(_, payload)| payload["queue"] != "old")
    });
    assert_eq!(notifications(&path).len(), 1);
}
