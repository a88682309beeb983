//! A database to look at with the dashboard: runs a working client for a
//! few seconds and keeps the file. It ends with jobs completed, failed with
//! errors and discarded, cancelled, retryable, scheduled for later, waiting
//! in a paused queue, and two durable schedules (one paused).
//!
//! ```text
//! cargo run --release --example demo                        # writes riverlite-demo.db here
//! cargo run --release -- ui --database riverlite-demo.db    # then open http://127.0.0.1:8080/
//! ```
//!
//! A path argument writes elsewhere; an existing file at that path is replaced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverlite::{
    work_fn, Client, InsertManyParams, InsertOpts, JobArgs, JobListParams, JobRow, JobState,
    QueueConfig, RetryPolicy, Schedule, ScheduleParams, WorkError,
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
    width: u32,
}
impl JobArgs for ResizeImage {
    const KIND: &'static str = "resize_image";
}

#[derive(Serialize, Deserialize)]
struct MonthlyReport {
    month: String,
}
impl JobArgs for MonthlyReport {
    const KIND: &'static str = "monthly_report";
}

/// Retries after 200 ms, so that the demo's failing jobs use up their
/// attempts within its run; the last failure of `broken.png` waits an hour.
struct QuickRetries;
impl RetryPolicy for QuickRetries {
    fn next_retry(&self, job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc> {
        if job.args.contains("slow-retry") {
            return now + chrono::Duration::hours(1);
        }
        now + chrono::Duration::milliseconds(200)
    }
}

type Error = Box<dyn std::error::Error>;

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
}

fn insert_jobs(client: &Client) -> Result<(), Error> {
    let email = |to: &str, tag: &str| {
        InsertManyParams::new(SendEmail { to: to.into() }).opts(InsertOpts {
            queue: Some("email".into()),
            tags: vec![tag.into()],
            ..Default::default()
        })
    };
    let mut batch: Vec<InsertManyParams> = (0..40)
        .map(|i| email(&format!("user{i}@example.com"), "welcome"))
        .collect();
    // The dashboard shows this as text; it never runs in the page.
    batch.push(email("<script>alert(1)</script>", "xss-check"));
    batch.push(email("nobody", "invalid"));
    client.insert_many(batch)?;

    for (i, image) in ["cat.png", "dog.png", "broken.png", "slow-retry.png"]
        .iter()
        .enumerate()
    {
        client.insert(
            ResizeImage {
                image: image.to_string(),
                width: 320 * (i as u32 + 1),
            },
            Some(InsertOpts {
                queue: Some("images".into()),
                max_attempts: Some(3),
                tags: vec!["thumbnails".into()],
                ..Default::default()
            }),
        )?;
    }
    for days in [1, 7] {
        client.insert(
            MonthlyReport {
                month: format!("in {days} day(s)"),
            },
            Some(InsertOpts {
                queue: Some("reports".into()),
                scheduled_at: Some(Utc::now() + chrono::Duration::days(days)),
                ..Default::default()
            }),
        )?;
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("riverlite-demo.db"));
    remove_database(&path);

    let client = Client::builder(&path)
        .id("demo-worker")
        .queue("email", QueueConfig::new(4))
        .queue("images", QueueConfig::new(2))
        .queue("reports", QueueConfig::new(1))
        .retry_policy(QuickRetries)
        .worker(work_fn::<SendEmail, _>(|job| {
            if !job.args.to.contains('@') {
                return Err(WorkError::cancel("no such address"));
            }
            std::thread::sleep(Duration::from_millis(20));
            Ok(())
        }))
        .worker(work_fn::<ResizeImage, _>(|job| {
            if job.args.image == "broken.png" || job.args.image == "slow-retry.png" {
                return Err(WorkError::failure(format!(
                    "decoding {}: unexpected end of PNG data at byte 4096",
                    job.args.image
                )));
            }
            Ok(())
        }))
        .worker(work_fn::<MonthlyReport, _>(|_| Ok(())))
        .build()?;
    // Paused before it starts: its jobs wait, and the page shows the queue paused.
    client.queue_pause("reports")?;
    client.start()?;
    insert_jobs(&client)?;
    for month in ["2026-10", "2026-11"] {
        client.insert(
            MonthlyReport {
                month: month.into(),
            },
            Some(InsertOpts {
                queue: Some("reports".into()),
                ..Default::default()
            }),
        )?;
    }
    client.schedule_upsert(ScheduleParams::new(
        "nightly-report",
        Schedule::cron("0 2 * * *")?,
        MonthlyReport {
            month: "current".into(),
        },
    ))?;
    client.schedule_upsert(ScheduleParams::new(
        "hourly-digest",
        Schedule::every(Duration::from_secs(3600)),
        SendEmail {
            to: "digest@example.com".into(),
        },
    ))?;
    client.schedule_pause("hourly-digest")?;

    // Wait for the failing image to use up its three attempts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let discarded = client.job_list(JobListParams::new().states([JobState::Discarded]))?;
        if !discarded.jobs.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    client.stop()?;

    println!("wrote {}:", path.display());
    for count in client.job_counts()? {
        println!("  {:<8} {:<10} {}", count.queue, count.state, count.count);
    }
    println!(
        "\nlook at it: cargo run --release -- ui --database {}",
        path.display()
    );
    Ok(())
}
