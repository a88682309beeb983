//! What `riverlite bench` measured, and how it is printed: a table for people, one JSON object for scripts.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::phases::{BATCH_SIZE, LATENCY_SPACING};
use crate::table::thousands;

/// A number of jobs handled in some time.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rate {
    pub(super) jobs: u64,
    pub(super) elapsed: Duration,
}

impl Rate {
    pub(super) fn per_sec(&self) -> f64 {
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
pub(super) struct Latency {
    pub(super) samples: u64,
    pub(super) p50: Duration,
    pub(super) p99: Duration,
}

/// Everything `bench` measured.
#[derive(Debug)]
pub(super) struct Summary {
    pub(super) database: String,
    pub(super) workers: u64,
    pub(super) duration: Option<Duration>,
    pub(super) single: Rate,
    pub(super) batch: Rate,
    pub(super) work: Rate,
    pub(super) latency: Latency,
}

/// The nearest-rank percentile `p` of sorted `samples`.
pub(super) fn percentile(samples: &[Duration], p: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples[rank.min(samples.len()) - 1]
}

pub(super) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The summary as one JSON object.
pub(super) fn summary_json(s: &Summary) -> serde_json::Value {
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
pub(super) fn rate_line(
    out: &mut dyn Write,
    label: &str,
    rate: Rate,
    note: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{label:<15} {:>9} jobs in {:>7.3} s  {:>9} jobs/s  {note}",
        thousands(rate.jobs),
        rate.elapsed.as_secs_f64(),
        thousands(rate.per_sec().round() as u64),
    )
}

/// The summary for people.
pub(super) fn write_summary(s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
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
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
