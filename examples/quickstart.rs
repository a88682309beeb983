//! riverlite's tour, in one run of a few seconds: a working client with two
//! queues, a flaky worker that is retried, a periodic job every 2 s, an
//! insert-only client (inserting alone, in batches, and inside an
//! application transaction), the error a periodic job on an insert-only
//! client gets, the durable schedule it stores instead (which the working
//! client then runs), and a final table of job states.
//!
//! `cargo run --release --example quickstart`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riverlite::rusqlite::{Connection, TransactionBehavior};
use riverlite::{
    work_fn, Client, EventKind, InsertManyParams, InsertOpts, JobArgs, JobListParams, JobState,
    PeriodicJob, QueueConfig, Schedule, ScheduleParams, WorkError,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SendEmail {
    to: String,
}

impl JobArgs for SendEmail {
    const KIND: &'static str = "send_email";
}

#[derive(Serialize, Deserialize)]
struct ResizeImage {
    image: String,
}

impl JobArgs for ResizeImage {
    const KIND: &'static str = "resize_image";
}

#[derive(Serialize, Deserialize)]
struct Heartbeat {}

impl JobArgs for Heartbeat {
    const KIND: &'static str = "heartbeat";
}

#[derive(Serialize, Deserialize)]
struct Cleanup {
    older_than_days: u32,
}

impl JobArgs for Cleanup {
    const KIND: &'static str = "cleanup";
}

type Error = Box<dyn std::error::Error>;

fn working_client(path: &std::path::Path, cleaned: Arc<AtomicBool>) -> Result<Client, Error> {
    let client = Client::builder(path)
        .queue("default", QueueConfig::new(4))
        .queue("images", QueueConfig::new(2))
        .worker(work_fn::<SendEmail, _>(|job| {
            // A flaky mail server: every third address fails its first attempt.
            if job.attempt == 1 && job.id % 3 == 0 {
                return Err(WorkError::failure(format!(
                    "mail server refused {}",
                    job.args.to
                )));
            }
            println!(
                "  [work] sent email to {} (attempt {})",
                job.args.to, job.attempt
            );
            Ok(())
        }))
        .worker(work_fn::<ResizeImage, _>(|job| {
            std::thread::sleep(Duration::from_millis(50));
            println!("  [work] resized {} in queue {}", job.args.image, job.queue);
            Ok(())
        }))
        .worker(work_fn::<Cleanup, _>(move |job| {
            println!(
                "  [work] durable schedule cleanup ran for {} (older than {} days)",
                job.scheduled_at.format("%H:%M:%S"),
                job.args.older_than_days
            );
            cleaned.store(true, Ordering::SeqCst);
            Ok(())
        }))
        .worker(work_fn::<Heartbeat, _>(|job| {
            println!(
                "  [work] periodic heartbeat for {}",
                job.scheduled_at.format("%H:%M:%S")
            );
            Ok(())
        }))
        .periodic_job(
            PeriodicJob::new(Schedule::every(Duration::from_secs(2)), || {
                Some(Heartbeat {})
            })
            .id("heartbeat")
            .run_on_start(true),
        )
        .build()?;
    Ok(client)
}

fn insert_jobs(path: &std::path::Path) -> Result<(), Error> {
    let inserter = Client::builder(path).build()?;
    inserter.insert(
        SendEmail {
            to: "ada@example.com".into(),
        },
        None,
    )?;
    let images = ["cat.png", "dog.png", "owl.png"]
        .iter()
        .map(|image| {
            InsertManyParams::new(ResizeImage {
                image: image.to_string(),
            })
            .opts(InsertOpts {
                queue: Some("images".into()),
                ..Default::default()
            })
        })
        .collect();
    inserter.insert_many(images)?;
    let emails = (1..=5)
        .map(|i| {
            InsertManyParams::new(SendEmail {
                to: format!("user{i}@example.com"),
            })
        })
        .collect();
    inserter.insert_many(emails)?;

    // A job inserted in the same transaction as the application's own row:
    // both exist, or neither does.
    let mut conn = Connection::open(path)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS users (email TEXT NOT NULL)")?;
    tx.execute(
        "INSERT INTO users (email) VALUES (?1)",
        ["grace@example.com"],
    )?;
    inserter.insert_tx(
        &tx,
        SendEmail {
            to: "grace@example.com".into(),
        },
        None,
    )?;
    tx.commit()?;
    println!("inserted 10 jobs (one inside an application transaction)");
    Ok(())
}

fn show_periodic_rejection(path: &std::path::Path) {
    let result = Client::builder(path)
        .periodic_job(PeriodicJob::new(
            Schedule::every(Duration::from_secs(2)),
            || Some(Heartbeat {}),
        ))
        .build();
    match result {
        Err(e) => println!("insert-only client with a periodic job is rejected: {e}"),
        Ok(_) => println!("unexpected: the insert-only client accepted a periodic job"),
    }
}

/// What the insert-only client does instead: store the schedule in the
/// database, where whichever working client leads runs it.
fn store_durable_schedule(path: &std::path::Path) -> Result<(), Error> {
    let inserter = Client::builder(path).build()?;
    let every_second = Schedule::every(Duration::from_secs(1));
    let row = inserter.schedule_upsert(ScheduleParams::new(
        "cleanup",
        every_second,
        Cleanup {
            older_than_days: 30,
        },
    ))?;
    println!(
        "insert-only client stored durable schedule {} ({})",
        row.id, row.schedule
    );
    Ok(())
}

fn print_states(client: &Client) -> Result<(), Error> {
    println!(
        "\n{:>3}  {:<13} {:<8} {:<10} {:>7}  errors",
        "id", "kind", "queue", "state", "attempt"
    );
    for job in client.job_list(JobListParams::new())?.jobs {
        let error = job.errors.last().map(|e| e.error.as_str()).unwrap_or("");
        let attempts = format!("{}/{}", job.attempt, job.max_attempts);
        println!(
            "{:>3}  {:<13} {:<8} {:<10} {:>7}  {}",
            job.id, job.kind, job.queue, job.state, attempts, error
        );
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("riverlite-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quickstart.db");
    println!("database: {}", path.display());

    let cleaned = Arc::new(AtomicBool::new(false));
    let worker = working_client(&path, cleaned.clone())?;
    let completed = worker.subscribe(&[EventKind::JobCompleted]);
    worker.start()?;
    insert_jobs(&path)?;
    show_periodic_rejection(&path);
    store_durable_schedule(&path)?;

    // Wait for the ten jobs (the retried ones too), a few heartbeats and a
    // run of the durable schedule.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut done = 0;
    while (done < 13 || !cleaned.load(Ordering::SeqCst)) && Instant::now() < deadline {
        if completed.recv_timeout(Duration::from_millis(200)).is_ok() {
            done += 1;
        }
    }
    worker.stop()?;
    print_states(&worker)?;
    let all_done = worker
        .job_counts()?
        .iter()
        .all(|c| c.state == JobState::Completed);
    println!("\nall jobs completed: {all_done}");
    drop(worker);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
