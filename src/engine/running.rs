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
#[derive(Default)]
pub(crate) struct RunningJobs(Mutex<HashMap<i64, Arc<JobControl>>>);

impl RunningJobs {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<i64, Arc<JobControl>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
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
