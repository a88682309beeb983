//! The leader's services together: when each is due, and one tick that runs what is.
//!
//! The elector drives them from its thread while this client leads; each
//! runs on its own interval and logs (never propagates) its errors, since a
//! failed pass is simply retried on the next one.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::leader::cleaner::Cleaner;
use crate::leader::durable_schedules::DurableSchedules;
use crate::leader::periodic_enqueuer::PeriodicEnqueuer;
use crate::leader::rescuer::Rescuer;
use crate::leader::scheduler::Scheduler;

/// When a service next runs.
#[derive(Debug)]
pub(crate) struct Timer {
    interval: Duration,
    next: Instant,
}

impl Timer {
    pub(crate) fn new(interval: Duration) -> Self {
        Timer {
            interval,
            next: Instant::now(),
        }
    }

    /// True (and re-armed) when the interval has passed.
    pub(crate) fn fire(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        // An interval too long to add means "practically never".
        self.next = now
            .checked_add(self.interval)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        true
    }

    pub(crate) fn run_now(&mut self) {
        self.next = Instant::now();
    }

    pub(crate) fn until_next(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
}

/// The leader's services.
pub(crate) struct Maintenance {
    scheduler: Scheduler,
    rescuer: Rescuer,
    cleaner: Cleaner,
    periodic: PeriodicEnqueuer,
    durable: DurableSchedules,
}

impl Maintenance {
    /// The services a leader runs.
    pub(crate) fn new(
        scheduler: Scheduler,
        rescuer: Rescuer,
        cleaner: Cleaner,
        periodic: PeriodicEnqueuer,
        durable: DurableSchedules,
    ) -> Self {
        Maintenance {
            scheduler,
            rescuer,
            cleaner,
            periodic,
            durable,
        }
    }

    /// On taking the leader lock: catch up periodic jobs (riverlite's own
    /// duty, which needs only the lock).
    pub(crate) fn on_lock(&mut self, now: DateTime<Utc>) {
        self.periodic.on_elected(now);
    }

    /// On taking River's lease: run River's shared duties at once.
    pub(crate) fn on_lease(&mut self) {
        self.scheduler.timer.run_now();
        self.rescuer.timer.run_now();
        self.cleaner.timer.run_now();
    }

    /// Runs what is due. Clients in `dead_clients` had their liveness lock
    /// released, so their jobs are rescued at once, lease or not; with
    /// `leased` (River's lease held) the shared duties run too: the
    /// scheduler, the rescue of jobs past the horizon, and the cleaner.
    /// Returns whether the dead clients' jobs were rescued (so their lock
    /// files may go).
    pub(crate) fn tick(
        &mut self,
        now: DateTime<Utc>,
        dead_clients: &[String],
        leased: bool,
    ) -> bool {
        let mut rescued = true;
        let rescue_due = leased && self.rescuer.timer.fire();
        if rescue_due || !dead_clients.is_empty() {
            match self.rescuer.run(now, dead_clients, leased) {
                // Orphans were rescued as due now: schedule them at once.
                Ok(n) if n > 0 => self.scheduler.timer.run_now(),
                Ok(_) => {}
                Err(e) => {
                    rescued = false;
                    log::warn!("riverlite: rescuer pass failed: {e}");
                }
            }
        }
        if leased && self.scheduler.timer.fire() {
            if let Err(e) = self.scheduler.run(now) {
                log::warn!("riverlite: scheduler pass failed: {e}");
            }
        }
        if leased && self.cleaner.timer.fire() {
            if let Err(e) = self.cleaner.run(now) {
                log::warn!("riverlite: cleaner pass failed: {e}");
            }
        }
        self.periodic.tick(now);
        self.durable.tick(now);
        rescued
    }

    /// This process changed a durable schedule: read them again now.
    pub(crate) fn reload_schedules(&mut self) {
        self.durable.reload();
    }

    /// How long until some service is due.
    pub(crate) fn next_due(&self) -> Duration {
        self.scheduler
            .timer
            .until_next()
            .min(self.rescuer.timer.until_next())
            .min(self.cleaner.timer.until_next())
            .min(self.periodic.until_next())
    }
}
