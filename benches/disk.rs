//! Disk use: insert N jobs, work them, let the cleaner delete them, and report the file sizes.
//!
//! `cargo bench --bench disk` (N defaults to 1,000,000; set RIVERLITE_BENCH_JOBS to change it).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riverlite::{work_fn, Client, InsertManyParams, JobArgs, MaintenanceConfig, QueueConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Noop {
    n: usize,
}

impl JobArgs for Noop {
    const KIND: &'static str = "bench_noop";
}

fn size(path: &Path, suffix: &str) -> u64 {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::fs::metadata(name).map(|m| m.len()).unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: usize = std::env::var("RIVERLITE_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("disk.db");
    let worked = Arc::new(AtomicUsize::new(0));
    let counter = worked.clone();
    let client = Client::builder(&path)
        .queue("default", QueueConfig::new(1000))
        .worker(work_fn::<Noop, _>(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }))
        .maintenance(MaintenanceConfig {
            completed_retention: Some(Duration::from_secs(1)),
            cleaner_interval: Duration::from_secs(1),
            ..MaintenanceConfig::default()
        })
        .build()?;
    let start = Instant::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(10_000) {
        client.insert_many(
            chunk
                .iter()
                .map(|&n| InsertManyParams::new(Noop { n }))
                .collect(),
        )?;
    }
    let inserted = size(&path, "");
    println!(
        "after inserting {jobs} jobs: database {:.1} MiB, WAL {:.1} MiB",
        mib(inserted),
        mib(size(&path, "-wal"))
    );
    client.start()?;
    while worked.load(Ordering::Relaxed) < jobs {
        std::thread::sleep(Duration::from_millis(100));
    }
    let remaining =
        || -> riverlite::Result<i64> { Ok(client.job_counts()?.iter().map(|c| c.count).sum()) };
    while remaining()? > 0 {
        std::thread::sleep(Duration::from_millis(500));
    }
    // One more cleaner pass reclaims what the last deletes freed.
    std::thread::sleep(Duration::from_secs(2));
    client.stop()?;
    println!(
        "after working and cleaning all {jobs} jobs ({:.0} s): database {:.2} MiB, WAL {:.2} MiB",
        start.elapsed().as_secs_f64(),
        mib(size(&path, "")),
        mib(size(&path, "-wal"))
    );
    Ok(())
}
