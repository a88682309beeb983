//! `effectum-peer`: times one workload on the effectum job queue in a fresh
//! database and prints one JSON line, for `bench/peers.sh`.
//!
//! Usage: `effectum-peer --workload insert_many|single_insert|burn_down
//! --jobs N [--concurrency C] [--batch B]`
//!
//! - insert_many: N jobs with `add_jobs`, B (1,000) a call; only the inserts are timed.
//! - single_insert: N jobs with `add_job`, one call (and transaction) each.
//! - burn_down: N jobs inserted untimed, then a worker with max_concurrency C
//!   (8) runs them as no-ops; timed from building the worker until effectum
//!   counts all N finished (its count moves only once a job's completion is
//!   written). The queue's shutdown is not timed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use effectum::{Job, JobRunner, Queue, RunningJob, Worker};
use serde_json::json;

const JOB_TYPE: &str = "bench_noop";

struct Cli {
    workload: String,
    jobs: u64,
    concurrency: u16,
    batch: u64,
}

fn parse_cli() -> Result<Cli, String> {
    let mut cli = Cli {
        workload: String::new(),
        jobs: 0,
        concurrency: 8,
        batch: 1_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| text.parse().map_err(|_| format!("bad number {text:?}"));
        match flag.as_str() {
            "--workload" => cli.workload = value()?,
            "--jobs" => cli.jobs = number(value()?)?,
            "--concurrency" => cli.concurrency = number(value()?)? as u16,
            "--batch" => cli.batch = number(value()?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !["insert_many", "single_insert", "burn_down"].contains(&cli.workload.as_str()) {
        return Err("--workload must be insert_many, single_insert or burn_down".into());
    }
    if cli.jobs == 0 || cli.batch == 0 || cli.concurrency == 0 {
        return Err("--jobs, --batch and --concurrency must be positive".into());
    }
    Ok(cli)
}

fn job(n: u64) -> Job {
    Job::builder(JOB_TYPE)
        .json_payload(&json!({ "n": n }))
        .expect("a JSON payload")
        .build()
}

/// Creates the file in WAL mode, which persists in it: effectum asks for
/// `PRAGMA journal=wal`, a misspelling SQLite ignores. (It does set
/// synchronous=NORMAL on its one write connection itself.)
fn create_wal_database(path: &Path) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    assert_eq!(mode, "wal", "SQLite refused WAL");
    Ok(())
}

async fn insert_many(queue: &Queue, jobs: u64, batch: u64) -> effectum::Result<()> {
    let mut next = 0;
    while next < jobs {
        let end = (next + batch).min(jobs);
        queue.add_jobs((next..end).map(job).collect()).await?;
        next = end;
    }
    Ok(())
}

async fn noop(_job: RunningJob, worked: Arc<AtomicU64>) -> Result<(), effectum::Error> {
    worked.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Runs the workload and returns the timed part's duration.
async fn run(cli: &Cli, path: &Path) -> effectum::Result<Duration> {
    let queue = Queue::new(path).await?;
    let elapsed = match cli.workload.as_str() {
        "insert_many" => {
            let start = Instant::now();
            insert_many(&queue, cli.jobs, cli.batch).await?;
            start.elapsed()
        }
        "single_insert" => {
            let start = Instant::now();
            for n in 0..cli.jobs {
                queue.add_job(job(n)).await?;
            }
            start.elapsed()
        }
        _ => {
            insert_many(&queue, cli.jobs, cli.batch).await?;
            let worked = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let worker: Worker = Worker::builder(&queue, worked.clone())
                .max_concurrency(cli.concurrency)
                .jobs([JobRunner::builder(JOB_TYPE, noop).build()])
                .build()
                .await?;
            while worker.counts().finished < cli.jobs {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let elapsed = start.elapsed();
            assert_eq!(worked.load(Ordering::Relaxed), cli.jobs, "jobs run more than once");
            worker.unregister(Some(Duration::from_secs(10))).await?;
            elapsed
        }
    };
    queue.close(Duration::from_secs(10)).await?;
    Ok(elapsed)
}

fn scratch_dir() -> std::io::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("effectum-peer-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

#[tokio::main]
async fn main() {
    let cli = parse_cli().unwrap_or_else(|error| {
        eprintln!("effectum-peer: {error}");
        std::process::exit(2);
    });
    let dir = scratch_dir().expect("a temp dir");
    let path = dir.join("effectum.db");
    create_wal_database(&path).expect("creating the database");
    let result = run(&cli, &path).await;
    let _ = std::fs::remove_dir_all(&dir);
    let elapsed = result.unwrap_or_else(|error| {
        eprintln!("effectum-peer: {error}");
        std::process::exit(1);
    });
    // Written by hand to keep the keys in this order.
    let concurrency = if cli.workload == "burn_down" { cli.concurrency } else { 1 };
    println!(
        r#"{{"peer":"effectum","workload":"{}","jobs":{},"concurrency":{concurrency},"jobs_per_sec":{:.1}}}"#,
        cli.workload,
        cli.jobs,
        cli.jobs as f64 / elapsed.as_secs_f64(),
    );
}
