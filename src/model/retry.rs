//! `RetryPolicy` and River's default backoff: (errors + 1)^4 seconds, ±10 % jitter, no cap.

use std::time::Duration;

use chrono::{DateTime, Utc};

use sha2::{Digest, Sha256};

use crate::model::job::JobRow;
use crate::model::time;

/// Decides when a failed job runs again.
pub trait RetryPolicy: Send + Sync + 'static {
    /// The time of the next attempt of `job`, which just failed at `now`.
    /// `job.errors` holds the errors recorded before this failure.
    fn next_retry(&self, job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc>;
}

/// River's backoff: (errors recorded before this failure + 1)^4 seconds,
/// with ±10 % jitter: 1 s after the first failure, 16 s after the second,
/// 81 s after the third, and so on, with no cap short of River's own (Go's
/// longest `time.Duration`, about 292 years): 25 attempts span about 20 days.
///
/// The jitter is River's conformance jitter (its `retry_cases` fixture):
/// the first four bytes of SHA-256 over the seed, the job's id, the error
/// count and the time in nanoseconds, all big-endian, scale the delay by
/// 0.9 to 1.1. The default policy's seed is 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRetryPolicy;

/// River's longest delay: Go's `time.Duration` range, about 292 years.
pub const MAX_RETRY_DELAY: Duration = Duration::from_nanos(i64::MAX as u64);

impl DefaultRetryPolicy {
    /// The delay before jitter for a job that had `previous_errors` errors
    /// before this one, at most [`MAX_RETRY_DELAY`].
    pub fn base_delay(previous_errors: usize) -> Duration {
        let n = u128::try_from(previous_errors)
            .unwrap_or(u128::MAX)
            .saturating_add(1);
        let seconds = n.saturating_pow(4);
        match u64::try_from(seconds) {
            Ok(s) if seconds.saturating_mul(1_000_000_000) < MAX_RETRY_DELAY.as_nanos() => {
                Duration::from_secs(s)
            }
            _ => MAX_RETRY_DELAY,
        }
    }

    /// River's jittered delay for job `job_id` failing at `now` after
    /// `previous_errors` earlier errors, with jitter `seed`.
    pub fn delay(job_id: i64, previous_errors: usize, now: DateTime<Utc>, seed: u64) -> Duration {
        let base = Self::base_delay(previous_errors);
        if base == MAX_RETRY_DELAY {
            return base;
        }
        let error_count = u32::try_from(previous_errors.saturating_add(1)).unwrap_or(u32::MAX);
        let mut hash = Sha256::new();
        hash.update(seed.to_be_bytes());
        hash.update(job_id.to_be_bytes());
        hash.update(error_count.to_be_bytes());
        hash.update(now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
        let digest = hash.finalize();
        let sample = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let ratio = f64::from(sample) / f64::from(u32::MAX);
        base.mul_f64(0.9 + ratio * 0.2).min(MAX_RETRY_DELAY)
    }
}

impl RetryPolicy for DefaultRetryPolicy {
    fn next_retry(&self, job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc> {
        time::after(now, Self::delay(job.id, job.errors.len(), now, 0))
    }
}

/// `policy`'s retry time; a panicking policy falls back to the default
/// backoff (logged), so a bug in user code never takes a service thread down.
pub(crate) fn next_retry_or_default(
    policy: &dyn RetryPolicy,
    job: &JobRow,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.next_retry(job, now)))
        .unwrap_or_else(|_| {
            log::error!(
                "riverlite: the retry policy panicked for job {}; using the default backoff",
                job.id
            );
            DefaultRetryPolicy.next_retry(job, now)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_delay_is_count_plus_one_to_the_fourth() {
        assert_eq!(DefaultRetryPolicy::base_delay(0), Duration::from_secs(1));
        assert_eq!(DefaultRetryPolicy::base_delay(1), Duration::from_secs(16));
        assert_eq!(DefaultRetryPolicy::base_delay(2), Duration::from_secs(81));
        assert_eq!(DefaultRetryPolicy::base_delay(10_000), MAX_RETRY_DELAY);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let now = Utc::now();
        let delays: Vec<i64> = (0..2_000)
            .map(|id| {
                let job = JobRow {
                    id,
                    ..JobRow::first_attempt("k", "{}".into(), now)
                };
                (DefaultRetryPolicy.next_retry(&job, now) - now).num_milliseconds()
            })
            .collect();
        assert!(
            delays.iter().all(|d| (900..=1100).contains(d)),
            "{delays:?}"
        );
        assert!(delays.iter().any(|&d| d < 950) && delays.iter().any(|&d| d > 1050));
    }

    #[test]
    fn delays_are_not_capped_at_a_day_so_25_attempts_span_about_20_days() {
        assert_eq!(
            DefaultRetryPolicy::base_delay(24),
            Duration::from_secs(25u64.pow(4))
        );
        let total: Duration = (0..24).map(DefaultRetryPolicy::base_delay).sum();
        let days = total.as_secs_f64() / 86_400.0;
        assert!((19.0..21.0).contains(&days), "{days} days");
    }
}
