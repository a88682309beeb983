//! Durable schedules as data: `ScheduleParams` (what a client asks for), `ScheduleRow` (what is stored), and the stored form of their insert options.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::args::JobArgs;
use crate::model::insert_opts::{merge, InsertOpts, UniqueOpts, MAX_NAME_LEN};
use crate::model::job::JobState;
use crate::model::new_job;
use crate::model::schedule::Schedule;

/// A durable schedule to create or replace with `Client::schedule_upsert`:
/// a periodic job stored in the database, which whichever working client
/// leads runs.
///
/// ```
/// use riverlite::{InsertOpts, JobArgs, Schedule, ScheduleParams};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct NightlyReport { full: bool }
/// impl JobArgs for NightlyReport { const KIND: &'static str = "nightly_report"; }
///
/// let params = ScheduleParams::new("nightly_report", Schedule::cron("0 3 * * *")?, NightlyReport { full: true })
///     .opts(InsertOpts { queue: Some("reports".into()), ..Default::default() });
/// # Ok::<(), riverlite::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScheduleParams {
    pub(crate) id: String,
    pub(crate) schedule: Schedule,
    pub(crate) kind: String,
    pub(crate) args: std::result::Result<String, String>,
    pub(crate) kind_opts: InsertOpts,
    pub(crate) opts: InsertOpts,
}

impl ScheduleParams {
    /// A schedule `id` running `args` on `schedule`. The kind's
    /// [`JobArgs::insert_opts`] go under [`ScheduleParams::opts`] when the
    /// schedule is written: the leader may not know the type, so what is
    /// stored is what is inserted.
    pub fn new<A: JobArgs>(id: impl Into<String>, schedule: Schedule, args: A) -> ScheduleParams {
        ScheduleParams {
            id: id.into(),
            schedule,
            kind: A::KIND.to_string(),
            args: serde_json::to_string(&args).map_err(|e| e.to_string()),
            kind_opts: A::insert_opts(),
            opts: InsertOpts::default(),
        }
    }

    /// A schedule of any `kind`, with its args as JSON text (an object).
    pub fn raw(
        id: impl Into<String>,
        schedule: Schedule,
        kind: impl Into<String>,
        args_json: impl Into<String>,
    ) -> ScheduleParams {
        ScheduleParams {
            id: id.into(),
            schedule,
            kind: kind.into(),
            args: Ok(args_json.into()),
            kind_opts: InsertOpts::default(),
            opts: InsertOpts::default(),
        }
    }

    /// Options for each job it inserts: queue, priority, max_attempts,
    /// tags, metadata, unique. `scheduled_at` and `pending` are refused:
    /// the schedule decides when.
    pub fn opts(mut self, opts: InsertOpts) -> ScheduleParams {
        self.opts = opts;
        self
    }

    /// Checks everything and returns what to store: the args as stored
    /// (`{}` for a unit struct) and the merged options.
    pub(crate) fn validated(&self, now: DateTime<Utc>) -> Result<(String, InsertOpts)> {
        validate_schedule_id(&self.id)?;
        self.schedule
            .validate()
            .map_err(|e| Error::invalid_insert("schedule", e.to_string()))?;
        if self.opts.scheduled_at.is_some() {
            return Err(Error::invalid_insert(
                "scheduled_at",
                "a schedule decides when its jobs run",
            ));
        }
        if self.opts.pending {
            return Err(Error::invalid_insert(
                "pending",
                "a schedule's jobs are inserted to run",
            ));
        }
        let opts = merge(
            Some(self.opts.clone()),
            &self.kind_opts,
            &InsertOpts::default(),
        );
        // The checks of a real insert: kind, args, queue, priority, tags, metadata, unique.
        let job = new_job::prepare(
            &self.kind,
            self.args.clone(),
            Some(opts.clone()),
            &InsertOpts::default(),
            &InsertOpts::default(),
            now,
        )?;
        Ok((job.args, opts))
    }
}

/// A schedule id: 1 to 127 characters.
pub(crate) fn validate_schedule_id(id: &str) -> Result<()> {
    if id.is_empty() || id.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid_insert(
            "id",
            format!("schedule id {id:?} must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

/// A durable schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    /// Its id, chosen by whoever created it.
    pub id: String,
    /// The kind of job it inserts.
    pub kind: String,
    /// `Schedule`'s Display: the cron spec as given, or `every 30s`.
    pub schedule: String,
    /// JSON text of an object: each job's args.
    pub args: String,
    /// Each job's options: queue, priority, max_attempts, tags, metadata, unique.
    pub opts: InsertOpts,
    /// Kept, but runs nothing, while true.
    pub paused: bool,
    /// The latest target enqueued.
    pub last_target_at: Option<DateTime<Utc>>,
    /// The next target it will enqueue.
    pub next_target_at: Option<DateTime<Utc>>,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// A periodic job defined in a working client's code (with an id),
    /// whose targets are recorded here; `schedule_*` calls refuse it.
    pub from_code: bool,
}

/// Insert options as stored in `riverlite_periodic_job.opts` (JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoredOpts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unique: Option<StoredUnique>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredUnique {
    #[serde(default)]
    by_args: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by_period_ms: Option<u64>,
    #[serde(default)]
    by_queue: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by_state: Option<Vec<String>>,
    #[serde(default)]
    exclude_kind: bool,
}

impl StoredOpts {
    pub(crate) fn from_opts(opts: &InsertOpts) -> StoredOpts {
        StoredOpts {
            queue: opts.queue.clone(),
            priority: opts.priority,
            max_attempts: opts.max_attempts,
            tags: opts.tags.clone(),
            metadata: opts.metadata.clone(),
            unique: opts.unique.as_ref().map(|u| StoredUnique {
                by_args: u.by_args,
                by_period_ms: u.by_period.map(|d| d.as_millis() as u64),
                by_queue: u.by_queue,
                by_state: u
                    .by_state
                    .as_ref()
                    .map(|s| s.iter().map(|s| s.as_str().to_string()).collect()),
                exclude_kind: u.exclude_kind,
            }),
        }
    }

    pub(crate) fn into_opts(self) -> InsertOpts {
        InsertOpts {
            queue: self.queue,
            priority: self.priority,
            max_attempts: self.max_attempts,
            tags: self.tags,
            metadata: self.metadata,
            unique: self.unique.map(|u| UniqueOpts {
                by_args: u.by_args,
                by_period: u.by_period_ms.map(Duration::from_millis),
                by_queue: u.by_queue,
                by_state: u.by_state.map(|s| {
                    s.iter()
                        .filter_map(|s| s.parse::<JobState>().ok())
                        .collect()
                }),
                exclude_kind: u.exclude_kind,
            }),
            ..InsertOpts::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_options_read_back_as_written() {
        let opts = InsertOpts {
            queue: Some("reports".into()),
            priority: Some(2),
            max_attempts: Some(3),
            tags: vec!["nightly".into()],
            metadata: Some(serde_json::json!({"team": "data"})),
            unique: Some(UniqueOpts {
                by_args: true,
                by_period: Some(Duration::from_secs(60)),
                by_state: Some(vec![
                    JobState::Available,
                    JobState::Pending,
                    JobState::Running,
                    JobState::Scheduled,
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = serde_json::to_string(&StoredOpts::from_opts(&opts)).unwrap();
        let back: StoredOpts = serde_json::from_str(&text).unwrap();
        assert_eq!(back.into_opts(), opts);
    }
}
