//! Rows the administration calls return besides jobs: queues, the leader, job counts, migrations.

use chrono::{DateTime, Utc};

use crate::model::job::JobState;

/// A queue as stored in `river_queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    /// The queue's name.
    pub name: String,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// Free-form JSON object.
    pub metadata: serde_json::Value,
    /// When the queue was paused; `None` while it runs.
    pub paused_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// The leader as recorded in `river_leader`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderRow {
    /// The leader's client id.
    pub leader_id: String,
    /// When it was elected.
    pub elected_at: DateTime<Utc>,
    /// Until when its record is valid unless refreshed.
    pub expires_at: DateTime<Utc>,
}

/// How many jobs one queue has in one state (from `Client::job_counts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: JobState,
    /// How many jobs of `queue` are in `state`.
    pub count: i64,
}

/// One applied migration, as recorded in `river_migration` (from `Client::migrations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The migration line: `main` for River's schema.
    pub line: String,
    /// The version within the line.
    pub version: i64,
    /// When it was applied, as stored.
    pub created_at: String,
}
