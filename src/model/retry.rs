//! `RetryPolicy` and River's default backoff: (errors + 1)^4 seconds, ±10 % jitter.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::job::JobRow;

/// Decides when a failed job runs again.
pub trait RetryPolicy: Send + Sync + 'static {
    /// The time of the next attempt of `job`, which just failed at `now`.
    /// `job.errors` holds the errors recorded before this failure.
    fn next_retry(&self, job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc>;
}

/// River's backoff: (errors recorded before this failure + 1)^4 seconds,
/// with ±10 % jitter: 1 s after the first failure, 16 s after the second,
/// 81 s after the third, and so on.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRetryPolicy;

/// The longest delay the default policy uses (River caps it near 24 h).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

impl DefaultRetryPolicy {
    /// The delay before jitter for a job that had `previous_errors` errors before this one.
    pub fn base_delay(previous_errors: usize) -> Duration {
        let n = u64::try_from(previous_errors)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        Duration::from_secs(n.saturating_pow(4)).min(MAX_RETRY_DELAY)
    }
}

/// A cheap pseudo-random value in [-1, 1], good enough for jitter.
fn jitter_unit(seed: u64) -> f64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 2001) as f64 / 1000.0 - 1.0
}

impl RetryPolicy for DefaultRetryPolicy {
    fn next_retry(&self, job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc> {
        let base = Self::base_delay(job.errors.len()).as_secs_f64();
        let seed = (job.id as u64)
            .wrapping_mul(31)
            .wrapping_add(job.attempt as u64)
            .wrapping_add(now.timestamp_subsec_nanos() as u64);
        let delay = base * (1.0 + 0.1 * jitter_unit(seed));
        now + chrono::Duration::milliseconds((delay * 1000.0) as i64)
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
        for attempt in 0..2_000 {
            let job = JobRow {
                attempt,
                ..JobRow::first_attempt("k", "{}".into(), now)
            };
            let delay = (DefaultRetryPolicy.next_retry(&job, now) - now).num_milliseconds();
            assert!((900..=1100).contains(&delay), "{delay} ms");
        }
    }
}
