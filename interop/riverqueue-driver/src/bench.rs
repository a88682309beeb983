//! `riverqueue-driver bench`: times one workload on riverqueue in a new
//! SQLite file and prints one JSON line, for `bench/peers.sh`.
//!
//! Usage: `riverqueue-driver bench --database PATH --workload
//! insert_many|single_insert|burn_down --jobs N [--workers C]`
//!
//! - insert_many: N `interop_noop` jobs with `insert_many`, 1,000 a call;
//!   only the inserts are timed.
//! - single_insert: N jobs, one `insert` call (and transaction) each.
//! - burn_down: N jobs inserted untimed, then a client with one queue of C
//!   (1,000) workers and a 2 ms fetch cooldown works them as no-ops; timed
//!   from `start` until the workers have run all N (completions may still be
//!   in flight then; the stop that writes them is not timed).
//!
//! The pool is the driver's: WAL, synchronous=NORMAL, 5 s busy timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use riverqueue::migrate::SqliteMigrator;
use riverqueue::sqlx::SqlitePool;
use riverqueue::{BoxError, Client, InsertOpts, Job, QueueConfig, WorkContext, WorkOutcome, Workers};

use crate::{FETCH_COOLDOWN, InteropNoop, err, open_pool};

const BATCH_SIZE: i64 = 1_000;
const QUEUE: &str = "default";

struct BenchCli {
    database: String,
    workload: String,
    jobs: i64,
    workers: usize,
}

const USAGE: &str = "usage: riverqueue-driver bench --database PATH \
    --workload insert_many|single_insert|burn_down --jobs N [--workers C]";

fn parse_bench_cli(args: impl Iterator<Item = String>) -> Result<BenchCli, String> {
    let (mut database, mut workload, mut jobs, mut workers) = (None, None, None, 1_000);
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| text.parse::<usize>().map_err(|_| format!("bad number {text:?}"));
        match flag.as_str() {
            "--database" => database = Some(value()?),
            "--workload" => workload = Some(value()?),
            "--jobs" => jobs = Some(number(value()?)?),
            "--workers" => workers = number(value()?)?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let workload = workload.ok_or_else(|| USAGE.to_owned())?;
    if !["insert_many", "single_insert", "burn_down"].contains(&workload.as_str()) {
        return Err(USAGE.to_owned());
    }
    let jobs = jobs.filter(|&jobs| jobs > 0).ok_or("--jobs N (N > 0) is required")?;
    if workers == 0 {
        return Err("--workers must be positive".to_owned());
    }
    Ok(BenchCli {
        database: database.ok_or("--database PATH is required")?,
        workload,
        jobs: i64::try_from(jobs).map_err(err)?,
        workers,
    })
}

fn noop_args(n: i64) -> InteropNoop {
    InteropNoop {
        n,
        sleep_ms: None,
        fail: None,
    }
}

async fn insert_batches(client: &Client, jobs: i64) -> Result<(), String> {
    let opts = InsertOpts::default().with_queue(QUEUE);
    let mut next = 0;
    while next < jobs {
        let end = (next + BATCH_SIZE).min(jobs);
        let items: Vec<_> = (next..end).map(|n| (noop_args(n), opts.clone())).collect();
        client.insert_many(items).await.map_err(err)?;
        next = end;
    }
    Ok(())
}

async fn noop(worked: Arc<AtomicU64>) -> Result<WorkOutcome, BoxError> {
    worked.fetch_add(1, Ordering::Relaxed);
    Ok(WorkOutcome::Complete)
}

/// Runs the workload and returns how long its timed part took.
async fn measure(cli: &BenchCli, pool: &SqlitePool) -> Result<Duration, String> {
    SqliteMigrator::new(pool.clone()).migrate_up().await.map_err(err)?;
    let insert_client = Client::builder(pool.clone())
        .fetch_cooldown(FETCH_COOLDOWN)
        .build()
        .map_err(err)?;
    match cli.workload.as_str() {
        "insert_many" => {
            let start = Instant::now();
            insert_batches(&insert_client, cli.jobs).await?;
            Ok(start.elapsed())
        }
        "single_insert" => {
            let opts = InsertOpts::default().with_queue(QUEUE);
            let start = Instant::now();
            for n in 0..cli.jobs {
                insert_client.insert(noop_args(n)).opts(opts.clone()).await.map_err(err)?;
            }
            Ok(start.elapsed())
        }
        _ => {
            insert_batches(&insert_client, cli.jobs).await?;
            let worked = Arc::new(AtomicU64::new(0));
            let mut workers = Workers::new();
            let counter = worked.clone();
            workers
                .add_fn(move |_: WorkContext, _: Job<InteropNoop>| noop(counter.clone()))
                .map_err(err)?;
            let client = Client::builder(pool.clone())
                .fetch_cooldown(FETCH_COOLDOWN)
                .workers(workers)
                .queue(QUEUE, QueueConfig::new(cli.workers))
                .build()
                .map_err(err)?;
            let target = u64::try_from(cli.jobs).map_err(err)?;
            let start = Instant::now();
            let mut run = client.start().map_err(err)?;
            while worked.load(Ordering::Relaxed) < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let elapsed = start.elapsed();
            run.stop().await.map_err(err)?;
            Ok(elapsed)
        }
    }
}

/// Entry point of `riverqueue-driver bench ARGS`.
pub async fn run_bench(args: impl Iterator<Item = String>) -> Result<(), String> {
    let cli = parse_bench_cli(args)?;
    if std::path::Path::new(&cli.database).exists() {
        return Err(format!("{}: bench needs a new database file", cli.database));
    }
    let pool = open_pool(&cli.database).await?;
    let result = measure(&cli, &pool).await;
    pool.close().await;
    let elapsed = result?;
    let concurrency = if cli.workload == "burn_down" { cli.workers } else { 1 };
    // Written by hand to keep the keys in this order.
    println!(
        r#"{{"peer":"riverqueue","workload":"{}","jobs":{},"concurrency":{concurrency},"jobs_per_sec":{:.1}}}"#,
        cli.workload,
        cli.jobs,
        cli.jobs as f64 / elapsed.as_secs_f64(),
    );
    Ok(())
}
