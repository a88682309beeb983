//! Two roles of one program sharing one SQLite file.
//!
//! Terminal 1: `cargo run --example insert_only_and_worker -- --role worker --database /tmp/shared.db`
//! Terminal 2: `cargo run --example insert_only_and_worker -- --role inserter --database /tmp/shared.db`
//!
//! The worker runs a working client (which also inserts a periodic heartbeat
//! every 5 s while it leads); the inserter is an insert-only client that
//! inserts a job a second. Start several workers: one leads, and when you
//! stop it (Ctrl-C) or kill it, another takes over.

use std::time::Duration;

use riverlite::{
    work_fn, Client, EventKind, InsertOpts, JobArgs, PeriodicJob, QueueConfig, Schedule,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Resize {
    image: String,
}

impl JobArgs for Resize {
    const KIND: &'static str = "resize";
}

#[derive(Serialize, Deserialize)]
struct Heartbeat {}

impl JobArgs for Heartbeat {
    const KIND: &'static str = "heartbeat";
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run_worker(database: &str) -> riverlite::Result<()> {
    let client = Client::builder(database)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Resize, _>(|job| {
            println!(
                "worker: resized {} (job {}, attempt {})",
                job.args.image, job.id, job.attempt
            );
            Ok(())
        }))
        .worker(work_fn::<Heartbeat, _>(|job| {
            println!("worker: heartbeat for {}", job.scheduled_at);
            Ok(())
        }))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(5)), || {
                Some(Heartbeat {})
            })
            .id("heartbeat"),
        )
        .build()?;
    let leadership = client.subscribe(&[EventKind::LeaderGained, EventKind::LeaderLost]);
    client.start()?;
    println!("worker {} started on {database}", client.id());
    for event in leadership {
        println!("worker: leadership event {:?}", event.kind);
    }
    Ok(())
}

fn run_inserter(database: &str) -> riverlite::Result<()> {
    let client = Client::builder(database).build()?;
    for n in 0.. {
        let job = client
            .insert(
                Resize {
                    image: format!("photo-{n}.jpg"),
                },
                None,
            )?
            .job;
        println!("inserter: inserted job {} ({})", job.id, job.args);
        if n == 0 {
            let opts = InsertOpts {
                priority: Some(4),
                ..Default::default()
            };
            client.insert(
                Resize {
                    image: "low-priority.jpg".into(),
                },
                Some(opts),
            )?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

fn main() {
    let database = arg("--database").unwrap_or_else(|| "shared.db".into());
    let result = match arg("--role").as_deref() {
        Some("worker") => run_worker(&database),
        Some("inserter") => run_inserter(&database),
        _ => {
            eprintln!("usage: insert_only_and_worker --role worker|inserter [--database PATH]");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
