//! Subscriptions cost memory only for the events they hold, whatever their receivers do.

use riverlite::{Client, EventKind};

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
