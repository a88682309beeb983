//! `QueueConfig`, the client-level defaults, and the settings a client's services share.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{InsertOpts, MaintenanceConfig, RetryPolicy};

/// Largest `max_workers` a queue accepts.
pub const MAX_WORKERS_LIMIT: usize = 10_000;
/// Default job timeout, as in River.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// Default largest number of pooled connections.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// Default interval at which producers look for due jobs when nothing woke them.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Longest client id (it is recorded in `attempted_by` and names a lock file).
pub const MAX_CLIENT_ID_LEN: usize = 100;
/// Default `busy_timeout` of every connection.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue's settings for a working client.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// How many jobs of this queue may run at once: 1 to 10,000.
    pub max_workers: usize,
}

impl QueueConfig {
    /// A queue that runs at most `max_workers` jobs at once.
    pub fn new(max_workers: usize) -> Self {
        QueueConfig { max_workers }
    }
}

/// Settings shared by the client's services.
#[derive(Clone)]
pub(crate) struct Config {
    pub id: String,
    pub job_timeout: Option<Duration>,
    pub retry_policy: Arc<dyn RetryPolicy>,
    pub insert_defaults: InsertOpts,
    pub poll_interval: Duration,
    pub stop_timeout: Option<Duration>,
    pub maintenance: MaintenanceConfig,
}
