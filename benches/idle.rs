//! Idle cost: CPU used by a started client with 10 queues and no jobs, over 10 s.
//!
//! `cargo bench --bench idle` (Linux: reads the process's CPU time from /proc/self/stat).

use std::time::{Duration, Instant};

use riverlite::{work_fn, Client, JobArgs, QueueConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Noop {}

impl JobArgs for Noop {
    const KIND: &'static str = "bench_noop";
}

/// User + system CPU time of this process, in clock ticks (1/100 s on Linux).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut builder = Client::builder(dir.path().join("idle.db"));
    for i in 0..10 {
        builder = builder.queue(format!("queue_{i}"), QueueConfig::new(10));
    }
    let client = builder.worker(work_fn::<Noop, _>(|_| Ok(()))).build()?;
    client.start()?;
    std::thread::sleep(Duration::from_secs(1));

    let (Some(before), start) = (cpu_ticks(), Instant::now()) else {
        println!("idle: /proc/self/stat is not available on this system");
        return Ok(());
    };
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu_ticks().unwrap_or(before) - before;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "idle client, 10 queues: {:.2} % of one core ({} ticks of CPU in {wall:.1} s)",
        used as f64 / (wall * 100.0) * 100.0,
        used
    );
    client.stop()?;
    Ok(())
}
