//! `MaintenanceConfig`: the timings of the leader's services, with River's defaults as named constants.

use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// Default [`MaintenanceConfig::scheduler_interval`]: 5 s, as in River.
pub const DEFAULT_SCHEDULER_INTERVAL: Duration = Duration::from_secs(5);
/// Default [`MaintenanceConfig::rescuer_interval`]: 30 s, as in River.
pub const DEFAULT_RESCUER_INTERVAL: Duration = Duration::from_secs(30);
/// Default [`MaintenanceConfig::rescue_stuck_jobs_after`]: 1 h, as in River.
pub const DEFAULT_RESCUE_STUCK_JOBS_AFTER: Duration = HOUR;
/// Default [`MaintenanceConfig::cleaner_interval`]: 30 s, as in River.
pub const DEFAULT_CLEANER_INTERVAL: Duration = Duration::from_secs(30);
/// Default [`MaintenanceConfig::completed_retention`]: 24 h, as in River.
pub const DEFAULT_COMPLETED_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default [`MaintenanceConfig::cancelled_retention`]: 24 h, as in River.
pub const DEFAULT_CANCELLED_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default [`MaintenanceConfig::discarded_retention`]: 7 days, as in River.
pub const DEFAULT_DISCARDED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default [`MaintenanceConfig::election_interval`]: 500 ms (the file lock
/// is cheap to try, so failover among riverlite processes stays near a second).
pub const DEFAULT_ELECTION_INTERVAL: Duration = Duration::from_millis(500);

/// Timings of the leader-only maintenance services. Every field has River's
/// default, named by a `DEFAULT_*` constant; see each one.
///
/// ```
/// use std::time::Duration;
/// use riverlite::MaintenanceConfig;
///
/// let config = MaintenanceConfig {
///     completed_retention: Some(Duration::from_secs(3600)), // keep completed jobs an hour
///     discarded_retention: None,                            // keep discarded jobs forever
///     ..MaintenanceConfig::default()
/// };
/// assert_eq!(config.scheduler_interval, riverlite::DEFAULT_SCHEDULER_INTERVAL);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceConfig {
    /// How often the scheduler makes due scheduled and retryable jobs
    /// available. The default is [`DEFAULT_SCHEDULER_INTERVAL`] (5 s). Retries
    /// and snoozes due within this interval go straight to `available`.
    pub scheduler_interval: Duration,
    /// How often the rescuer looks for stuck and orphaned running jobs. The
    /// default is [`DEFAULT_RESCUER_INTERVAL`] (30 s).
    pub rescuer_interval: Duration,
    /// How long a running job of an owner that is not a riverlite client (a
    /// River client sharing the file) may run before the rescuer makes it
    /// retryable. The default is [`DEFAULT_RESCUE_STUCK_JOBS_AFTER`] (1 h).
    ///
    /// The rescuer goes by the job's owner, the last client in
    /// `attempted_by`:
    /// - a live riverlite client (it holds its liveness lock): never rescued;
    ///   the owner handles its jobs' timeouts itself, cooperatively;
    /// - a riverlite client that died (its liveness lock is free): rescued at
    ///   once, without waiting for this horizon;
    /// - any other owner: rescued once it has run this long.
    ///
    /// A rescued job is retried (or discarded at its `max_attempts`, or
    /// cancelled if that was asked for) whatever its kind, even one the
    /// leader has no worker for. River's rescuer discards such a job; here
    /// several services may share one file, each working its own kinds, so
    /// the leader's workers say nothing about whether the kind exists.
    pub rescue_stuck_jobs_after: Duration,
    /// How often the cleaner deletes finished jobs past their retention. The
    /// default is [`DEFAULT_CLEANER_INTERVAL`] (30 s).
    pub cleaner_interval: Duration,
    /// Retention of completed jobs. The default is
    /// [`DEFAULT_COMPLETED_RETENTION`] (24 h); `None` keeps them forever.
    pub completed_retention: Option<Duration>,
    /// Retention of cancelled jobs. The default is
    /// [`DEFAULT_CANCELLED_RETENTION`] (24 h); `None` keeps them forever.
    pub cancelled_retention: Option<Duration>,
    /// Retention of discarded jobs. The default is
    /// [`DEFAULT_DISCARDED_RETENTION`] (7 days); `None` keeps them forever.
    pub discarded_retention: Option<Duration>,
    /// How often a client that does not lead tries to take the leader lock.
    /// The default is [`DEFAULT_ELECTION_INTERVAL`] (500 ms).
    pub election_interval: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            scheduler_interval: DEFAULT_SCHEDULER_INTERVAL,
            rescuer_interval: DEFAULT_RESCUER_INTERVAL,
            rescue_stuck_jobs_after: DEFAULT_RESCUE_STUCK_JOBS_AFTER,
            cleaner_interval: DEFAULT_CLEANER_INTERVAL,
            completed_retention: Some(DEFAULT_COMPLETED_RETENTION),
            cancelled_retention: Some(DEFAULT_CANCELLED_RETENTION),
            discarded_retention: Some(DEFAULT_DISCARDED_RETENTION),
            election_interval: DEFAULT_ELECTION_INTERVAL,
        }
    }
}
