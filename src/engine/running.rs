//! The jobs a client has running, per queue: each one's claim token and cancellation, shared by the producer, the worker threads and `stop()`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::JobControl;

/// The jobs a producer has running, shared with `stop()` (to cancel them,
/// or to name them when a stop times out).
///
/// Each entry's control carries its claim token: a job snoozed or rescued
/// and claimed again by this client is a new claim, which the old claim's
/// outcome must not end.
pub(crate) struct RunningJobs {
    jobs: Mutex<HashMap<i64, Arc<JobControl>>>,
    /// Held while claiming for this queue, by its producer or the completer:
    /// the free capacity is counted, claimed and filled under it.
    claiming: Mutex<ClaimState>,
    /// The queue.
    pub queue: String,
    /// Its most jobs at once.
    pub max_workers: usize,
}

/// What whoever claims for a queue needs to know.
#[derive(Debug, Default)]
pub(crate) struct ClaimState {
    /// The producer is stopping: claim nothing more.
    pub stopping: bool,
    /// The last claim was full, so more jobs may be waiting.
    pub more_waiting: bool,
}

impl RunningJobs {
    /// The running jobs of `queue`, at most `max_workers` at once.
    pub(crate) fn new(queue: &str, max_workers: usize) -> RunningJobs {
        RunningJobs {
            jobs: Mutex::default(),
            claiming: Mutex::default(),
            queue: queue.to_string(),
            max_workers,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<i64, Arc<JobControl>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The claim lock (see the field).
    pub(crate) fn claiming(&self) -> MutexGuard<'_, ClaimState> {
        self.claiming.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Free capacity, not counting the `finishing` claims (id and claim
    /// token) whose outcomes are being written. Only claims still held
    /// count: an old attempt's outcome frees nothing once the job was
    /// claimed again.
    pub(crate) fn capacity(&self, finishing: &[(i64, u64)]) -> usize {
        let jobs = self.lock();
        let held = finishing
            .iter()
            .filter(|(id, claim)| jobs.get(id).is_some_and(|c| c.claim() == *claim))
            .count();
        self.max_workers
            .saturating_sub(jobs.len().saturating_sub(held))
    }

    /// Ends these claims (id and claim token) and starts `claimed`, returning
    /// their controls in order.
    pub(crate) fn hand_over(
        &self,
        finished: &[(i64, u64)],
        claimed: &[i64],
    ) -> Vec<Arc<JobControl>> {
        let mut jobs = self.lock();
        for (id, claim) in finished {
            if jobs
                .get(id)
                .is_some_and(|control| control.claim() == *claim)
            {
                jobs.remove(id);
            }
        }
        claimed
            .iter()
            .map(|id| {
                let control = Arc::new(JobControl::for_new_claim());
                jobs.insert(*id, control.clone());
                control
            })
            .collect()
    }

    /// Flags every running job as cancelled (for `stop_and_cancel`).
    pub(crate) fn cancel_all(&self) {
        self.lock().values().for_each(|control| control.cancel());
    }

    pub(crate) fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}
