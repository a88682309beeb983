//! The periodic enqueuer: inserts each periodic job at its target times, once per target even across leader changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::db::{maintenance, notifications, schedules, Db};
use crate::engine::Wakers;
use crate::error::Result;
use crate::leader::periodic_registry::PeriodicRegistry;
use crate::model::timing::RETRY_FAILED_INSERT;
use crate::model::{new_job, time, unique};
use crate::model::{InsertOpts, PeriodicJob, PeriodicJobHandle};

/// Inserts periodic jobs while this client leads.
pub(crate) struct PeriodicEnqueuer {
    db: Arc<Db>,
    registry: Arc<Mutex<PeriodicRegistry>>,
    insert_defaults: InsertOpts,
    /// Wakes this client's producers after an insert.
    wakers: Wakers,
    seen_version: Option<u64>,
    jobs: HashMap<PeriodicJobHandle, Entry>,
}

/// One periodic job as the enqueuer follows it.
struct Entry {
    job: PeriodicJob,
    /// The next target time.
    next: Option<DateTime<Utc>>,
    /// Set after a failed insert: when to try the same target again.
    retry_at: Option<DateTime<Utc>>,
    /// The election (or addition) whose `run_on_start` run is not inserted yet.
    start_pending: Option<DateTime<Utc>>,
}

/// One run of a periodic job.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Run {
    /// The run for a target time, keyed by (id, target).
    Target(DateTime<Utc>),
    /// The `run_on_start` run of the election at this time, keyed by (id,
    /// election): River inserts one at each election, whatever the targets.
    OnStart(DateTime<Utc>),
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Run::Target(at) => write!(f, "target {at}"),
            Run::OnStart(at) => write!(f, "the start at {at}"),
        }
    }
}

impl PeriodicEnqueuer {
    /// An enqueuer of the jobs in `registry`, inserted into `db` with the
    /// client's `insert_defaults`; it wakes `wakers` after inserting.
    pub(crate) fn new(
        db: Arc<Db>,
        registry: Arc<Mutex<PeriodicRegistry>>,
        insert_defaults: InsertOpts,
        wakers: Wakers,
    ) -> Self {
        PeriodicEnqueuer {
            db,
            registry,
            insert_defaults,
            wakers,
            seen_version: None,
            jobs: HashMap::new(),
        }
    }

    /// A new leader: start every job afresh, with at most one catch-up.
    pub(crate) fn on_elected(&mut self, now: DateTime<Utc>) {
        self.jobs.clear();
        self.seen_version = None;
        self.sync(now, true);
    }

    /// Inserts every job whose target time has come.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        self.sync(now, false);
        let mut inserted = false;
        for entry in self.jobs.values_mut() {
            if entry.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            if let Some(started) = entry.start_pending {
                if !enqueue(
                    &self.db,
                    &self.insert_defaults,
                    &entry.job,
                    Run::OnStart(started),
                    now,
                ) {
                    entry.retry_at = Some(time::after(now, RETRY_FAILED_INSERT));
                    continue;
                }
                entry.start_pending = None;
                entry.retry_at = None;
                inserted = true;
            }
            let Some(due) = entry.next else { continue };
            if due > now {
                continue;
            }
            // After a stall, only the latest missed target runs.
            let job = &entry.job;
            let target = job
                .schedule
                .latest_at_or_before(now)
                .unwrap_or(due)
                .max(due);
            if enqueue(
                &self.db,
                &self.insert_defaults,
                job,
                Run::Target(target),
                now,
            ) {
                entry.next = job.schedule.next_after(target);
                entry.retry_at = None;
                inserted = true;
            } else {
                // The database was busy: try this target again shortly.
                entry.retry_at = Some(time::after(now, RETRY_FAILED_INSERT));
            }
        }
        if inserted {
            self.wake_producers();
        }
    }

    fn wake_producers(&self) {
        self.wakers.wake_all();
    }

    /// How long until the next target.
    pub(crate) fn until_next(&self) -> Duration {
        let now = Utc::now();
        self.jobs
            .values()
            .filter_map(|e| e.retry_at.max(e.next))
            .map(|next| (next - now).to_std().unwrap_or_default())
            .min()
            .unwrap_or(Duration::from_secs(3600))
    }

    /// Follows additions and removals made through `Client::periodic_jobs()`.
    fn sync(&mut self, now: DateTime<Utc>, elected: bool) {
        let (version, entries) = {
            let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            if Some(registry.version) == self.seen_version {
                return;
            }
            (registry.version, registry.entries.clone())
        };
        self.seen_version = Some(version);
        self.jobs
            .retain(|handle, _| entries.iter().any(|(h, _)| h == handle));
        for (handle, job) in entries {
            if self.jobs.contains_key(&handle) {
                continue;
            }
            let mut entry = Entry {
                next: job.schedule.next_after(now),
                retry_at: None,
                start_pending: job.run_on_start.then_some(now),
                job,
            };
            let record = entry
                .job
                .id
                .as_deref()
                .and_then(|id| self.register(&entry.job, id, now));
            if let Some(target) = self.catch_up_target(&entry.job, now, elected, record) {
                if enqueue(
                    &self.db,
                    &self.insert_defaults,
                    &entry.job,
                    Run::Target(target),
                    now,
                ) {
                    self.wake_producers();
                } else {
                    // Keep the start target and try it again shortly.
                    entry.next = Some(target);
                    entry.retry_at = Some(time::after(now, RETRY_FAILED_INSERT));
                }
            }
            self.jobs.insert(handle, entry);
        }
    }

    /// The target to insert when a new leader starts a job with an id that
    /// has no `run_on_start`: the latest one missed since the job's last run
    /// (the id makes the insert idempotent across leaders).
    fn catch_up_target(
        &self,
        job: &PeriodicJob,
        now: DateTime<Utc>,
        elected: bool,
        record: Option<Option<DateTime<Utc>>>,
    ) -> Option<DateTime<Utc>> {
        if job.run_on_start {
            return None;
        }
        let latest = job.schedule.latest_at_or_before(now)?;
        let id = job.id.as_deref().filter(|_| elected)?;
        // The durable record's last target, where it has one: it survives
        // the cleaner and is not moved by a retry or snooze of a run. A
        // record made just now (or a file without riverlite's line) falls
        // back to the job rows.
        let last = match record {
            Some(Some(last)) => last,
            _ => self
                .db
                .conn()
                .and_then(|conn| maintenance::last_periodic_run(&conn, job.kind, id))
                .ok()
                .flatten()?,
        };
        (last < latest).then_some(latest)
    }

    /// Records a periodic job in code in `riverlite_periodic_job` (flagged
    /// as from code), and returns its last target: `None` without riverlite's
    /// line (or if the write failed), `Some(None)` for a new record.
    fn register(
        &self,
        job: &PeriodicJob,
        id: &str,
        now: DateTime<Utc>,
    ) -> Option<Option<DateTime<Utc>>> {
        let next = job.schedule.next_after(now);
        let schedule = job.schedule.to_string();
        self.db
            .write(|tx| schedules::register_code_job(tx, id, job.kind, &schedule, next, now))
            .unwrap_or_else(|e| {
                log::warn!("riverlite: recording periodic job {id:?} failed: {e}");
                None
            })
    }
}

/// Inserts one run of `job`; returns false if it should be tried again
/// (the insert failed for a passing reason).
fn enqueue(
    db: &Db,
    defaults: &InsertOpts,
    job: &PeriodicJob,
    target: Run,
    now: DateTime<Utc>,
) -> bool {
    let constructed = catch_unwind(AssertUnwindSafe(|| (job.constructor)()));
    let Ok(params) = constructed else {
        log::error!(
            "riverlite: the constructor of periodic job {:?} panicked; skipping {target}",
            job.id
        );
        return true;
    };
    let Some(params) = params else { return true };
    let run = PeriodicRun {
        id: job.id.as_deref(),
        kind: params.kind,
        args: params.args,
        opts: params.opts.unwrap_or_default(),
        kind_opts: &params.kind_opts,
        run: target,
        next: match target {
            Run::Target(at) => job.schedule.next_after(at),
            Run::OnStart(_) => None,
        },
        durable: false,
    };
    match insert_run(db, defaults, run, now) {
        Ok(true) => log::debug!("riverlite: periodic job {:?} inserted for {target}", job.id),
        Ok(false) => log::debug!(
            "riverlite: periodic job {:?} for {target} already inserted",
            job.id
        ),
        Err(e) if e.is_caused_by_data() => {
            log::error!(
                "riverlite: periodic job {:?} for {target} is invalid: {e}",
                job.id
            );
        }
        Err(e) => {
            log::error!(
                "riverlite: inserting periodic job {:?} for {target} failed, will retry: {e}",
                job.id
            );
            return false;
        }
    }
    true
}

/// One periodic run to insert: from a periodic job in code or a durable schedule.
pub(crate) struct PeriodicRun<'a> {
    /// The periodic job's id: its runs are unique per target, and its
    /// target is recorded in `riverlite_periodic_job`.
    pub id: Option<&'a str>,
    pub kind: &'a str,
    pub args: std::result::Result<String, String>,
    pub opts: InsertOpts,
    pub kind_opts: &'a InsertOpts,
    pub run: Run,
    /// The target after this one, recorded with it.
    pub next: Option<DateTime<Utc>>,
    /// A durable schedule's run: inserted only if, inside the insert's
    /// transaction, its stored row still exists and is not paused. The
    /// leader's copy of the schedules may be up to a reload old, and a pause
    /// or delete must stop every run that starts after it commits.
    pub durable: bool,
}

/// Inserts one run and, in the same transaction, records its target (so a
/// target is enqueued once whoever leads) and tells River's clients.
/// Returns whether a row was inserted (false: that run existed already, or
/// its durable schedule was paused or deleted meanwhile).
pub(crate) fn insert_run(
    db: &Db,
    defaults: &InsertOpts,
    run: PeriodicRun<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut opts = run.opts;
    opts.scheduled_at = match run.run {
        Run::Target(target) => Some(target),
        Run::OnStart(_) => None,
    };
    let mut metadata = opts
        .metadata
        .take()
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(object) = metadata.as_object_mut() {
        object.insert("periodic".into(), true.into());
        if let Some(id) = run.id {
            object.insert("river:periodic_job_id".into(), id.into());
        }
    }
    opts.metadata = Some(metadata);
    let mut row = new_job::prepare(run.kind, run.args, Some(opts), run.kind_opts, defaults, now)?;
    if let Some(id) = run.id {
        let (key, states) = match run.run {
            Run::Target(target) => unique::periodic_unique_key(id, target),
            Run::OnStart(elected) => unique::run_on_start_key(id, elected),
        };
        (row.unique_key, row.unique_states) = (Some(key), Some(states));
    }
    let results = db.write(|tx| {
        if let (true, Some(id)) = (run.durable, run.id) {
            if !schedules::is_active(tx, id)? {
                return Ok(Vec::new());
            }
        }
        let results = notifications::insert_announced(tx, &db.insert_notices, vec![row], now)?;
        if let (Some(id), Run::Target(target)) = (run.id, run.run) {
            schedules::record_target(tx, id, target, run.next)?;
        }
        Ok(results)
    })?;
    Ok(results.iter().any(|r| !r.unique_skipped_as_duplicate))
}
