//! Burn-down benchmark: insert N no-op jobs, start one queue with 1,000 workers, time until all are completed.
//!
//! `cargo bench --bench work` (N defaults to 100,000; set RIVERLITE_BENCH_JOBS to change it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riverlite::{work_fn, Client, InsertManyParams, JobArgs, QueueConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Noop {
    n: usize,
}

impl JobArgs for Noop {
    const KIND: &'static str = "bench_noop";
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: usize = std::env::var("RIVERLITE_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");

    let done = Arc::new(AtomicUsize::new(0));
    let (finished_tx, finished_rx) = crossbeam_channel::bounded(1);
    let counter = done.clone();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1000))
        .worker(work_fn::<Noop, _>(move |_| {
            if counter.fetch_add(1, Ordering::Relaxed) + 1 == jobs {
                let _ = finished_tx.try_send(());
            }
            Ok(())
        }))
        .build()?;

    let insert_start = Instant::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|&n| InsertManyParams::new(Noop { n }))
            .collect();
        client.insert_many(batch)?;
    }
    let insert_time = insert_start.elapsed();

    let work_start = Instant::now();
    client.start()?;
    finished_rx.recv_timeout(Duration::from_secs(600))?;
    client.stop()?;
    let work_time = work_start.elapsed();

    let completed: i64 = client
        .job_counts()?
        .iter()
        .filter(|c| c.state == riverlite::JobState::Completed)
        .map(|c| c.count)
        .sum();
    assert_eq!(completed as usize, jobs, "every job completed");
    println!(
        "insert_many: {jobs} jobs in {:.3} s = {:.0} jobs/s",
        insert_time.as_secs_f64(),
        jobs as f64 / insert_time.as_secs_f64()
    );
    println!(
        "burn-down:   {jobs} jobs in {:.3} s = {:.0} jobs/s (1 queue, max_workers 1000, file database, WAL)",
        work_time.as_secs_f64(),
        jobs as f64 / work_time.as_secs_f64()
    );
    Ok(())
}
