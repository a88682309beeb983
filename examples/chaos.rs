//! Chaos check: three worker processes share one database while one of them
//! is SIGKILLed every 0.7 s and restarted. At the end every job is completed,
//! the rescuer has recovered what each killed process was running, and
//! `PRAGMA integrity_check` is ok.
//!
//! `cargo run --release --example chaos` (about 10 s; a database in the temp dir).

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use riverlite::{work_fn, Client, InsertManyParams, JobArgs, JobState, QueueConfig};
use serde::{Deserialize, Serialize};

const JOBS: usize = 20_000;
const KILL_EVERY: Duration = Duration::from_millis(700);
const KILL_FOR: Duration = Duration::from_secs(20);

#[derive(Serialize, Deserialize)]
struct Work {
    n: usize,
}

impl JobArgs for Work {
    const KIND: &'static str = "chaos_work";
}

type Error = Box<dyn std::error::Error>;

/// A worker process: works 25 ms jobs until it is killed.
fn run_worker(database: &str) -> Result<(), Error> {
    let client = Client::builder(database)
        .queue("default", QueueConfig::new(20))
        .worker(work_fn::<Work, _>(|_| {
            std::thread::sleep(Duration::from_millis(25));
            Ok(())
        }))
        .build()?;
    client.start()?;
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

fn completed(client: &Client) -> riverlite::Result<i64> {
    Ok(client
        .job_counts()?
        .iter()
        .filter(|c| c.state == JobState::Completed)
        .map(|c| c.count)
        .sum())
}

/// Jobs that ran more than once: a killed worker's jobs, rescued and run again.
fn count_run_again(client: &Client) -> riverlite::Result<usize> {
    let mut params = riverlite::JobListParams::new().first(riverlite::MAX_PAGE_SIZE);
    let mut count = 0;
    loop {
        let page = client.job_list(&params)?;
        count += page.jobs.iter().filter(|job| job.attempt > 1).count();
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => return Ok(count),
        }
    }
}

fn spawn_worker(database: &Path) -> Result<Child, Error> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("--worker")
        .arg(database)
        .spawn()?)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, database] = args.as_slice() {
        if flag == "--worker" {
            return run_worker(database);
        }
    }
    let dir = std::env::temp_dir().join(format!("riverlite-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = dir.join("chaos.db");
    let client = Client::builder(&database).build()?;
    client.insert_many(
        (0..JOBS)
            .map(|n| InsertManyParams::new(Work { n }))
            .collect(),
    )?;
    println!("inserted {JOBS} jobs; starting 3 workers and killing one every {KILL_EVERY:?}");

    let mut workers = (0..3)
        .map(|_| spawn_worker(&database))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut kills = 0;
    while completed(&client)? < JOBS as i64 {
        if start.elapsed() > Duration::from_secs(120) {
            return Err("not every job completed within 120 s".into());
        }
        std::thread::sleep(KILL_EVERY);
        if start.elapsed() < KILL_FOR {
            let victim = &mut workers[kills % 3];
            victim.kill()?;
            victim.wait()?;
            *victim = spawn_worker(&database)?;
            kills += 1;
        }
    }
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }

    let conn = riverlite::rusqlite::Connection::open(&database)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    let retried = count_run_again(&client)?;
    println!(
        "{kills} kills in {:.1} s: all {JOBS} jobs completed, {retried} of them run again after a kill, integrity_check {integrity}",
        start.elapsed().as_secs_f64()
    );
    drop(client);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
