//! The periodic jobs of a client, shared by the client (which edits them) and the leader's enqueuer (which follows the edits).

use crate::error::{Error, Result};
use crate::model::periodic_job::{PeriodicJob, PeriodicJobHandle};

/// The periodic jobs of a client and a change counter.
#[derive(Default)]
pub(crate) struct PeriodicRegistry {
    pub entries: Vec<(PeriodicJobHandle, PeriodicJob)>,
    next_handle: u64,
    /// Bumped on every change, so the enqueuer knows to look again.
    pub version: u64,
}

impl PeriodicRegistry {
    pub(crate) fn add(&mut self, job: PeriodicJob) -> Result<PeriodicJobHandle> {
        job.validate()?;
        if let Some(id) = &job.id {
            if self.entries.iter().any(|(_, j)| j.id.as_ref() == Some(id)) {
                return Err(Error::Config(format!(
                    "two periodic jobs have the id {id:?}"
                )));
            }
        }
        self.next_handle += 1;
        let handle = PeriodicJobHandle(self.next_handle);
        self.entries.push((handle, job));
        self.version += 1;
        Ok(handle)
    }

    pub(crate) fn retain(
        &mut self,
        keep: impl Fn(&(PeriodicJobHandle, PeriodicJob)) -> bool,
    ) -> bool {
        let before = self.entries.len();
        self.entries.retain(keep);
        let changed = self.entries.len() != before;
        if changed {
            self.version += 1;
        }
        changed
    }
}
