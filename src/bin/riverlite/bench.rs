//! `riverlite bench`: insert and work throughput, and insert-to-start latency,
//! modelled on `river bench`.
//!
//! Phases, on one working client with one queue:
//! 1. single inserts: some of the jobs, one `insert` (one transaction) each;
//! 2. batch inserts: the rest, with `insert_many`, 1,000 per batch;
//! 3. work: start the client and burn the backlog down (or, with
//!    `--duration`, insert batches from a second thread and work at once);
//! 4. latency: into the running, idle client, insert jobs one at a time,
//!    1 ms apart, and measure from just before `insert` to the start of `work`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use crossbeam_channel::{Receiver, Sender};
use riverlite::{work_fn, Client, InsertManyParams, InsertOpts, JobArgs, QueueConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::failure::{CliResult, Failure};
use crate::progress::Progress;
use crate::table::thousands;
use crate::Target;

/// The queue the bench inserts into and works.
const QUEUE: &str = "riverlite_bench";
/// Jobs per `insert_many` call.
const BATCH_SIZE: u64 = 1_000;
/// Most jobs inserted one at a time in phase 1 (never more than a tenth of `--jobs`).
const SINGLE_INSERTS: u64 = 5_000;
/// The pause between two inserts of the latency phase.
const LATENCY_SPACING: Duration = Duration::from_millis(1);
/// Most jobs a `--duration` run lets pile up before its inserter waits.
const BACKLOG_CAP: u64 = 20 * BATCH_SIZE;
/// How often progress is updated.
const TICK: Duration = Duration::from_millis(100);
/// A phase with no job started for this long has stalled (a paused queue?).
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Jobs to insert and then burn down.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: u64,

    /// Worker threads of the one queue (its max_workers).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    workers: u64,

    /// Insert and work at once for this long (e.g. 10s, 500ms, 2m) instead of burning down a backlog.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Jobs inserted one at a time, 1 ms apart, to measure insert-to-start latency.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    latency_jobs: u64,

    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("{text:?} is not a duration: use e.g. 10s, 500ms or 2m");
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(invalid()),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("{text:?}: the duration must be greater than zero")),
    }
}

/// The no-op job the throughput phases insert and work.
#[derive(Serialize, Deserialize)]
struct BenchJob {
    n: u64,
}

impl JobArgs for BenchJob {
    const KIND: &'static str = "riverlite_bench";

    fn insert_opts() -> InsertOpts {
        bench_queue()
    }
}

/// A job of the latency phase: when, on the probe's clock, its insert began.
#[derive(Serialize, Deserialize)]
struct LatencyJob {
    sent_ns: u64,
}

impl JobArgs for LatencyJob {
    const KIND: &'static str = "riverlite_bench_latency";

    fn insert_opts() -> InsertOpts {
        bench_queue()
    }
}

fn bench_queue() -> InsertOpts {
    InsertOpts {
        queue: Some(QUEUE.into()),
        ..Default::default()
    }
}

/// What the workers report back: jobs worked, and latencies of probe jobs.
struct Probe {
    worked: Arc<AtomicU64>,
    /// The monotonic clock that `LatencyJob::sent_ns` counts from.
    base: Instant,
    latency_tx: Sender<Duration>,
    latency_rx: Receiver<Duration>,
}

impl Probe {
    fn new() -> Self {
        let (latency_tx, latency_rx) = crossbeam_channel::unbounded();
        Probe {
            worked: Arc::new(AtomicU64::new(0)),
            base: Instant::now(),
            latency_tx,
            latency_rx,
        }
    }

    fn worked(&self) -> u64 {
        self.worked.load(Ordering::Relaxed)
    }

    /// Nanoseconds since `base`, for a `LatencyJob` about to be inserted.
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A number of jobs handled in some time.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    jobs: u64,
    elapsed: Duration,
}

impl Rate {
    fn per_sec(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.jobs as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Insert-to-start latency percentiles.
#[derive(Debug, Clone, Copy)]
struct Latency {
    samples: u64,
    p50: Duration,
    p99: Duration,
}

/// Everything `bench` measured.
#[derive(Debug)]
struct Summary {
    database: String,
    workers: u64,
    duration: Option<Duration>,
    single: Rate,
    batch: Rate,
    work: Rate,
    latency: Latency,
}

/// Runs the benchmark and prints its summary.
pub fn run(args: &BenchArgs, target: &Target, out: &mut dyn Write) -> CliResult {
    // Declared first so that it is removed last, after the client has stopped.
    let scratch = match target.explicit_path() {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("riverlite-bench")
                .tempdir()?,
        ),
    };
    let path: PathBuf = match (&scratch, target.explicit_path()) {
        (Some(dir), _) => dir.path().join("bench.db"),
        (None, Some(path)) => path.to_path_buf(),
        (None, None) => return Err(Failure::msg("no database for the bench")),
    };
    let database = match scratch {
        Some(_) => "a new file in a temp dir".to_string(),
        None => path.display().to_string(),
    };
    let summary = measure(args, target, &path, database)?;
    if args.json {
        writeln!(out, "{}", summary_json(&summary))?;
    } else {
        write_summary(&summary, out)?;
    }
    Ok(())
}

/// Builds the client, runs every phase and stops the client.
fn measure(args: &BenchArgs, target: &Target, path: &Path, database: String) -> CliResult<Summary> {
    let probe = Probe::new();
    let client = build_client(path, args.workers, target.busy_timeout, &probe)
        .map_err(|e| crate::failure::opening(path, e))?;
    check_queue_is_idle(&client)?;
    let singles = SINGLE_INSERTS.min(args.jobs / 10);
    let single = insert_singles(&client, singles)?;
    let (batch, work) = match args.duration {
        None => {
            let batch = insert_batches(&client, singles..args.jobs)?;
            (batch, burn_down(&client, &probe, args.jobs)?)
        }
        Some(duration) => run_for(&client, &probe, duration, singles)?,
    };
    let latency = measure_latency(&client, &probe, args.latency_jobs)?;
    client.stop()?;
    Ok(Summary {
        database,
        workers: args.workers,
        duration: args.duration,
        single,
        batch,
        work,
        latency,
    })
}

/// A working client with one queue and the two bench workers.
fn build_client(
    path: &Path,
    workers: u64,
    busy_timeout: Duration,
    probe: &Probe,
) -> riverlite::Result<Client> {
    let worked = probe.worked.clone();
    let (base, latencies) = (probe.base, probe.latency_tx.clone());
    Client::builder(path)
        .busy_timeout(busy_timeout)
        .queue(
            QUEUE,
            QueueConfig::new(usize::try_from(workers).unwrap_or(usize::MAX)),
        )
        .worker(work_fn::<BenchJob, _>(move |_job| {
            worked.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }))
        .worker(work_fn::<LatencyJob, _>(move |job| {
            let started = base.elapsed();
            let sent = Duration::from_nanos(job.args.sent_ns);
            let _ = latencies.send(started.saturating_sub(sent));
            Ok(())
        }))
        .build()
}

/// Refuses a database whose bench queue still has unfinished jobs (from an
/// interrupted run), which would skew the counts.
fn check_queue_is_idle(client: &Client) -> CliResult {
    let unfinished: i64 = client
        .job_counts()?
        .into_iter()
        .filter(|c| c.queue == QUEUE && !c.state.is_finalized())
        .map(|c| c.count)
        .sum();
    if unfinished > 0 {
        return Err(Failure::msg(format!(
            "queue {QUEUE} already has {unfinished} unfinished jobs; bench on a fresh database \
             (leave out --database)"
        )));
    }
    Ok(())
}

/// Phase 1: `n` jobs, one `insert` call (and transaction) each.
fn insert_singles(client: &Client, n: u64) -> CliResult<Rate> {
    let mut progress = Progress::new("insert single", n, "inserted");
    let start = Instant::now();
    for i in 0..n {
        client.insert(BenchJob { n: i }, None)?;
        progress.update(i + 1, i + 1);
    }
    progress.finish();
    Ok(Rate {
        jobs: n,
        elapsed: start.elapsed(),
    })
}

/// Phase 2: the jobs numbered `range`, with `insert_many` in batches.
fn insert_batches(client: &Client, range: std::ops::Range<u64>) -> CliResult<Rate> {
    let total = range.end - range.start;
    let mut progress = Progress::new("insert batch", total, "inserted");
    let start = Instant::now();
    let mut next = range.start;
    while next < range.end {
        let end = (next + BATCH_SIZE).min(range.end);
        insert_batch(client, next..end)?;
        next = end;
        progress.update(next - range.start, next - range.start);
    }
    progress.finish();
    Ok(Rate {
        jobs: range.end - range.start,
        elapsed: start.elapsed(),
    })
}

fn insert_batch(client: &Client, range: std::ops::Range<u64>) -> riverlite::Result<()> {
    let params = range
        .map(|n| InsertManyParams::new(BenchJob { n }))
        .collect();
    client.insert_many(params).map(drop)
}

/// Waits until `probe` has seen `target` jobs worked, calling `on_tick`
/// with the count each tick; fails if no job starts for [`STALL_TIMEOUT`].
fn wait_for_worked(probe: &Probe, target: u64, mut on_tick: impl FnMut(u64)) -> CliResult {
    let mut last = (probe.worked(), Instant::now());
    while probe.worked() < target {
        std::thread::sleep(TICK);
        let worked = probe.worked();
        on_tick(worked);
        if worked != last.0 {
            last = (worked, Instant::now());
        } else if last.1.elapsed() > STALL_TIMEOUT {
            return Err(stalled(worked, target));
        }
    }
    Ok(())
}

fn stalled(worked: u64, target: u64) -> Failure {
    Failure::msg(format!(
        "no job was worked for {} s ({worked} of {target} done); is queue {QUEUE} paused?",
        STALL_TIMEOUT.as_secs()
    ))
}

/// Phase 3: starts the client and times it working off all `total` jobs,
/// until their outcomes are written.
fn burn_down(client: &Client, probe: &Probe, total: u64) -> CliResult<Rate> {
    let mut progress = Progress::new("work", total, "worked");
    let start = Instant::now();
    client.start()?;
    wait_for_worked(probe, total, |worked| progress.update(worked, worked))?;
    progress.finish();
    wait_for_outcomes(client)?;
    Ok(Rate {
        jobs: total,
        elapsed: start.elapsed(),
    })
}

/// Waits until no job of the bench queue is available or running, so the
/// completer has written every outcome.
fn wait_for_outcomes(client: &Client) -> CliResult {
    let start = Instant::now();
    loop {
        let pending = client
            .job_counts()?
            .into_iter()
            .any(|c| c.queue == QUEUE && !c.state.is_finalized() && c.count > 0);
        if !pending {
            return Ok(());
        }
        if start.elapsed() > STALL_TIMEOUT {
            return Err(Failure::msg(
                "job outcomes were not written within 30 s of the jobs being worked",
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Phase 2 and 3 of `--duration`: starts the client, inserts batches from a
/// second thread (keeping at most [`BACKLOG_CAP`] jobs waiting) and works at
/// once for `duration`. Returns the batch insert rate and the work rate over
/// the duration, after letting the client work off what is left.
fn run_for(
    client: &Client,
    probe: &Probe,
    duration: Duration,
    already_inserted: u64,
) -> CliResult<(Rate, Rate)> {
    let stop = AtomicBool::new(false);
    client.start()?;
    let start = Instant::now();
    let (batch, work) = std::thread::scope(|scope| {
        let inserter = scope.spawn(|| insert_until(client, probe, &stop, already_inserted));
        show_timed_progress(probe, duration, start);
        let work = Rate {
            jobs: probe.worked(),
            elapsed: start.elapsed(),
        };
        stop.store(true, Ordering::Relaxed);
        let batch = inserter
            .join()
            .unwrap_or_else(|_| Err(Failure::msg("the inserter thread panicked")));
        batch.map(|batch| (batch, work))
    })?;
    // Work off the rest, so that the latency phase finds the client idle.
    wait_for_worked(probe, already_inserted + batch.jobs, |_| {})?;
    wait_for_outcomes(client)?;
    Ok((batch, work))
}

/// Shows progress of a timed run until `duration` has passed since `start`.
fn show_timed_progress(probe: &Probe, duration: Duration, start: Instant) {
    let len = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let mut progress = Progress::new("run", len, "worked");
    while start.elapsed() < duration {
        std::thread::sleep(TICK.min(duration.saturating_sub(start.elapsed())));
        let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        progress.update(elapsed, probe.worked());
    }
    progress.finish();
}

/// Inserts batches until `stop`, pausing while the backlog is over the cap.
/// Returns the jobs inserted and the time spent in `insert_many`.
fn insert_until(client: &Client, probe: &Probe, stop: &AtomicBool, first: u64) -> CliResult<Rate> {
    let mut rate = Rate::default();
    let mut next = first;
    while !stop.load(Ordering::Relaxed) {
        if next.saturating_sub(probe.worked()) > BACKLOG_CAP {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let start = Instant::now();
        insert_batch(client, next..next + BATCH_SIZE)?;
        rate.elapsed += start.elapsed();
        rate.jobs += BATCH_SIZE;
        next += BATCH_SIZE;
    }
    Ok(rate)
}

/// Phase 4: `n` jobs inserted one at a time into the idle, running client;
/// the latency from just before each `insert` to the start of its `work`.
fn measure_latency(client: &Client, probe: &Probe, n: u64) -> CliResult<Latency> {
    let mut progress = Progress::new("latency", n, "started");
    let mut samples = Vec::new();
    for i in 0..n {
        client.insert(
            LatencyJob {
                sent_ns: probe.now_ns(),
            },
            None,
        )?;
        std::thread::sleep(LATENCY_SPACING);
        samples.extend(probe.latency_rx.try_iter());
        progress.update(i + 1, samples.len() as u64);
    }
    progress.finish();
    while (samples.len() as u64) < n {
        let sample = probe
            .latency_rx
            .recv_timeout(STALL_TIMEOUT)
            .map_err(|_| stalled(samples.len() as u64, n))?;
        samples.push(sample);
    }
    samples.sort_unstable();
    Ok(Latency {
        samples: n,
        p50: percentile(&samples, 50),
        p99: percentile(&samples, 99),
    })
}

/// The nearest-rank percentile `p` of sorted `samples`.
fn percentile(samples: &[Duration], p: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples[rank.min(samples.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The summary as one JSON object.
fn summary_json(s: &Summary) -> serde_json::Value {
    json!({
        "mode": if s.duration.is_some() { "duration" } else { "burn_down" },
        "database": s.database,
        "queues": 1,
        "workers": s.workers,
        "duration_seconds": s.duration.map(|d| d.as_secs_f64()),
        "insert_single_jobs": s.single.jobs,
        "insert_single_seconds": s.single.elapsed.as_secs_f64(),
        "insert_single_jobs_per_sec": s.single.per_sec(),
        "insert_batch_size": BATCH_SIZE,
        "insert_batch_jobs": s.batch.jobs,
        "insert_batch_seconds": s.batch.elapsed.as_secs_f64(),
        "insert_batch_jobs_per_sec": s.batch.per_sec(),
        "work_jobs": s.work.jobs,
        "work_seconds": s.work.elapsed.as_secs_f64(),
        "work_jobs_per_sec": s.work.per_sec(),
        "latency_jobs": s.latency.samples,
        "latency_p50_ms": millis(s.latency.p50),
        "latency_p99_ms": millis(s.latency.p99),
    })
}

/// One aligned line of the text summary.
fn rate_line(out: &mut dyn Write, label: &str, rate: Rate, note: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{label:<15} {:>9} jobs in {:>7.3} s  {:>9} jobs/s  {note}",
        thousands(rate.jobs),
        rate.elapsed.as_secs_f64(),
        thousands(rate.per_sec().round() as u64),
    )
}

/// The summary for people.
fn write_summary(s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "riverlite bench: 1 queue, {} workers, {}",
        thousands(s.workers),
        s.database
    )?;
    rate_line(out, "insert single", s.single, "one insert per transaction")?;
    let batch_note = match s.duration {
        None => format!("insert_many, {} per batch", thousands(BATCH_SIZE)),
        Some(_) => format!(
            "insert_many, {} per batch, while working",
            thousands(BATCH_SIZE)
        ),
    };
    rate_line(out, "insert batch", s.batch, &batch_note)?;
    let work_note = match s.duration {
        None => "burn-down of the backlog".to_string(),
        Some(d) => format!("inserting and working for {:.1} s", d.as_secs_f64()),
    };
    rate_line(out, "work", s.work, &work_note)?;
    writeln!(
        out,
        "{:<15} {:>9} jobs: insert to work start p50 {:.3} ms, p99 {:.3} ms (idle client, one insert every {} ms)",
        "latency",
        thousands(s.latency.samples),
        millis(s.latency.p50),
        millis(s.latency.p99),
        LATENCY_SPACING.as_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
