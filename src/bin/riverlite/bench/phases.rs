//! The phases of `riverlite bench`: single inserts, batch inserts, the burn-down (or a timed run), and insert-to-start latency.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use riverlite::{
    work_fn, Client, Event, EventKind, InsertManyParams, InsertOpts, JobArgs, QueueConfig,
};
use serde::{Deserialize, Serialize};

use super::report::{percentile, Latency, Rate};
use crate::failure::{CliResult, Failure};
use crate::progress::Progress;

/// The queue the bench inserts into and works.
pub(super) const QUEUE: &str = "riverlite_bench";
/// Jobs per `insert_many` call.
pub(super) const BATCH_SIZE: u64 = 1_000;
/// Most jobs inserted one at a time in phase 1 (never more than a tenth of `--jobs`).
pub(super) const SINGLE_INSERTS: u64 = 5_000;
/// The pause between two inserts of the latency phase.
pub(super) const LATENCY_SPACING: Duration = Duration::from_millis(1);
/// Most jobs a `--duration` run lets pile up before its inserter waits.
pub(super) const BACKLOG_CAP: u64 = 20 * BATCH_SIZE;
/// How often progress is updated.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// A phase with no job started for this long has stalled (a paused queue?).
pub(super) const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The no-op job the throughput phases insert and work.
#[derive(Serialize, Deserialize)]
pub(super) struct BenchJob {
    pub(super) n: u64,
}

impl JobArgs for BenchJob {
    const KIND: &'static str = "riverlite_bench";

    fn insert_opts() -> InsertOpts {
        bench_queue()
    }
}

/// A job of the latency phase: when, on the probe's clock, its insert began.
#[derive(Serialize, Deserialize)]
pub(super) struct LatencyJob {
    pub(super) sent_ns: u64,
}

impl JobArgs for LatencyJob {
    const KIND: &'static str = "riverlite_bench_latency";

    fn insert_opts() -> InsertOpts {
        bench_queue()
    }
}

pub(super) fn bench_queue() -> InsertOpts {
    InsertOpts {
        queue: Some(QUEUE.into()),
        ..Default::default()
    }
}

/// What the workers report back: jobs worked, and latencies of probe jobs.
pub(super) struct Probe {
    pub(super) worked: Arc<AtomicU64>,
    /// The monotonic clock that `LatencyJob::sent_ns` counts from.
    pub(super) base: Instant,
    pub(super) latency_tx: Sender<Duration>,
    pub(super) latency_rx: Receiver<Duration>,
}

impl Probe {
    pub(super) fn new() -> Self {
        let (latency_tx, latency_rx) = crossbeam_channel::unbounded();
        Probe {
            worked: Arc::new(AtomicU64::new(0)),
            base: Instant::now(),
            latency_tx,
            latency_rx,
        }
    }

    pub(super) fn worked(&self) -> u64 {
        self.worked.load(Ordering::Relaxed)
    }

    /// Nanoseconds since `base`, for a `LatencyJob` about to be inserted.
    pub(super) fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A working client with one queue and the two bench workers.
pub(super) fn build_client(
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
pub(super) fn check_queue_is_idle(client: &Client) -> CliResult {
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
pub(super) fn insert_singles(client: &Client, n: u64) -> CliResult<Rate> {
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
pub(super) fn insert_batches(client: &Client, range: std::ops::Range<u64>) -> CliResult<Rate> {
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

pub(super) fn insert_batch(client: &Client, range: std::ops::Range<u64>) -> riverlite::Result<()> {
    let params = range
        .map(|n| InsertManyParams::new(BenchJob { n }))
        .collect();
    client.insert_many(params).map(drop)
}

/// Waits until `probe` has seen `target` jobs worked, calling `on_tick`
/// with the count each tick; fails if no job starts for [`STALL_TIMEOUT`].
pub(super) fn wait_for_worked(
    probe: &Probe,
    target: u64,
    mut on_tick: impl FnMut(u64),
) -> CliResult {
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

pub(super) fn stalled(worked: u64, target: u64) -> Failure {
    Failure::msg(format!(
        "no job was worked for {} s ({worked} of {target} done); is queue {QUEUE} paused?",
        STALL_TIMEOUT.as_secs()
    ))
}

/// Phase 3: starts the client and times it working off all `total` jobs,
/// until their outcomes are written.
pub(super) fn burn_down(
    client: &Client,
    probe: &Probe,
    outcomes: &mut Outcomes,
    total: u64,
) -> CliResult<Rate> {
    let mut progress = Progress::new("work", total, "worked");
    let start = Instant::now();
    client.start()?;
    // Ends at the last outcome's event, not at a progress tick.
    outcomes.wait_for_with_progress(client, total, |done| progress.update(done, probe.worked()))?;
    progress.finish();
    Ok(Rate {
        jobs: total,
        elapsed: start.elapsed(),
    })
}

/// The outcomes the client has written, counted from its events: the
/// bench subscribes instead of polling job counts.
pub(super) struct Outcomes {
    events: Receiver<Event>,
    seen: u64,
}

impl Outcomes {
    /// Subscribes to every outcome `client` writes from now on.
    pub(super) fn subscribe(client: &Client) -> Outcomes {
        let kinds = [
            EventKind::JobCompleted,
            EventKind::JobFailed,
            EventKind::JobCancelled,
            EventKind::JobSnoozed,
        ];
        Outcomes {
            events: client.subscribe(&kinds),
            seen: 0,
        }
    }

    /// Waits until `total` outcomes were written since the subscription.
    /// Events a full channel dropped count too (the client counts them), so
    /// a slow reader never waits for an event that will not come.
    pub(super) fn wait_for(&mut self, client: &Client, total: u64) -> CliResult {
        self.wait_for_with_progress(client, total, |_| {})
    }

    /// Like [`Outcomes::wait_for`], calling `on_tick` with the count every
    /// [`TICK`]; fails if no outcome is written for [`STALL_TIMEOUT`].
    pub(super) fn wait_for_with_progress(
        &mut self,
        client: &Client,
        total: u64,
        mut on_tick: impl FnMut(u64),
    ) -> CliResult {
        let mut last_tick = Instant::now();
        let mut last_outcome = Instant::now();
        loop {
            let done = self.seen + client.dropped_events();
            if done >= total {
                return Ok(());
            }
            if last_tick.elapsed() >= TICK {
                on_tick(done);
                last_tick = Instant::now();
            }
            match self.events.recv_timeout(TICK) {
                Ok(_) => {
                    self.seen += 1;
                    last_outcome = Instant::now();
                }
                Err(_) if last_outcome.elapsed() > STALL_TIMEOUT => {
                    return Err(stalled(done, total));
                }
                Err(_) => {}
            }
        }
    }
}

/// Phase 2 and 3 of `--duration`: starts the client, inserts batches from a
/// second thread (keeping at most [`BACKLOG_CAP`] jobs waiting) and works at
/// once for `duration`. Returns the batch insert rate and the work rate over
/// the duration, after letting the client work off what is left.
pub(super) fn run_for(
    client: &Client,
    probe: &Probe,
    outcomes: &mut Outcomes,
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
    let total = already_inserted + batch.jobs;
    wait_for_worked(probe, total, |_| {})?;
    outcomes.wait_for(client, total)?;
    Ok((batch, work))
}

/// Shows progress of a timed run until `duration` has passed since `start`.
pub(super) fn show_timed_progress(probe: &Probe, duration: Duration, start: Instant) {
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
pub(super) fn insert_until(
    client: &Client,
    probe: &Probe,
    stop: &AtomicBool,
    first: u64,
) -> CliResult<Rate> {
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
pub(super) fn measure_latency(client: &Client, probe: &Probe, n: u64) -> CliResult<Latency> {
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
