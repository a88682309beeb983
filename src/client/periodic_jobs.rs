//! `PeriodicJobs`: adds and removes a working client's periodic jobs at run time.

use crate::error::{Error, Result};
use crate::leader::PeriodicRegistry;
use crate::model::periodic_job::{PeriodicJob, PeriodicJobHandle};

/// Adds and removes periodic jobs of a running client; changes take effect
/// at once. Get it from `Client::periodic_jobs()`.
pub struct PeriodicJobs<'a> {
    pub(crate) registry: &'a std::sync::Mutex<PeriodicRegistry>,
    pub(crate) nudge: &'a crossbeam_channel::Sender<()>,
    pub(crate) insert_only: bool,
}

impl PeriodicJobs<'_> {
    fn edit<T>(&self, f: impl FnOnce(&mut PeriodicRegistry) -> T) -> T {
        let out = f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = self.nudge.try_send(());
        out
    }

    /// Adds a periodic job; a duplicate id or a bad schedule is
    /// `Error::Config`, and an insert-only client is `Error::InsertOnly`.
    pub fn add(&self, job: PeriodicJob) -> Result<PeriodicJobHandle> {
        if self.insert_only {
            return Err(Error::InsertOnly(
                "periodic jobs need a client that works jobs: add a queue and a worker",
            ));
        }
        self.edit(|r| r.add(job))
    }

    /// Removes a job by handle; returns whether it was there.
    pub fn remove(&self, handle: PeriodicJobHandle) -> bool {
        self.edit(|r| r.retain(|(h, _)| *h != handle))
    }

    /// Removes the job with this id; returns whether it was there.
    pub fn remove_by_id(&self, id: &str) -> bool {
        self.edit(|r| r.retain(|(_, j)| j.id.as_deref() != Some(id)))
    }

    /// Removes every periodic job.
    pub fn clear(&self) {
        self.edit(|r| r.retain(|_| false));
    }

    /// How many periodic jobs are configured.
    pub fn len(&self) -> usize {
        self.edit(|r| r.entries.len())
    }

    /// True when no periodic job is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
