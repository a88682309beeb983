//! Memory stays bounded whatever callers do: subscriptions cost only the events they hold, and batch inserts of many sizes cache one statement.

use riverlite::{Client, EventKind, InsertManyParams, JobArgs};
use serde::{Deserialize, Serialize};

/// This process's resident memory, from /proc (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn subscribing_and_dropping_the_receiver_keeps_memory_bounded() {
    // An insert-only client sends no events, so nothing ever prunes these.
    let client = Client::builder(":memory:").build().unwrap();
    let Some(before) = resident_bytes() else {
        return; // not Linux: nothing to measure
    };
    for _ in 0..1_000 {
        drop(client.subscribe(&[EventKind::JobCompleted, EventKind::QueuePaused]));
    }
    let grown = resident_bytes().unwrap().saturating_sub(before);
    // A channel that allocated its 4,096 slots up front grew this by ~1.5 GiB.
    assert!(grown < 64 << 20, "grew by {} MiB", grown >> 20);
}

#[derive(Serialize, Deserialize)]
struct Item {
    n: usize,
}
impl JobArgs for Item {
    const KIND: &'static str = "item";
}

#[test]
fn batch_inserts_of_many_sizes_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder(dir.path().join("jobs.db")).build().unwrap();
    // Warm up: the pool's connections and the full-chunk statement.
    client
        .insert_many(
            (0..1_000)
                .map(|n| InsertManyParams::new(Item { n }))
                .collect(),
        )
        .unwrap();
    let Some(before) = resident_bytes() else {
        return;
    };
    for size in 2..=200 {
        let batch = (0..size)
            .map(|n| InsertManyParams::new(Item { n }))
            .collect();
        client.insert_many(batch).unwrap();
    }
    let grown = resident_bytes().unwrap().saturating_sub(before);
    // A cached statement per size grew it by ~24 MiB here; now ~2 MiB.
    assert!(grown < 12 << 20, "grew by {} MiB", grown >> 20);
}
