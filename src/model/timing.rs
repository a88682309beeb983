//! The internal timing constants, in one table: what each one bounds, and why it has its value.
//!
//! None of these is configurable; the configurable timings are the
//! builder's (`poll_interval`, `job_timeout`, `busy_timeout`, ...) and
//! [`MaintenanceConfig`](crate::MaintenanceConfig)'s.
//!
//! | constant | value | used by | what it bounds |
//! |---|---|---|---|
//! | [`WATCH_INTERVAL`] | 50 ms | engine: wake-ups | how soon another process's commit wakes the producers |
//! | [`CANCEL_CHECK_INTERVAL`] | 400 ms | engine: producer | how soon a `job_cancel` from elsewhere reaches a running job |
//! | [`FETCH_COOLDOWN`] | 20 ms | engine: producer | how long a small claim waits for capacity to gather |
//! | [`GROW_AFTER`] | 2 ms | engine: worker pool | how long jobs wait with no idle thread before the pool grows |
//! | [`COMPLETER_MAX_BACKOFF`] | 1 s | engine: completer | the longest pause between retries of an outcome the database refuses |
//! | [`LEADER_TTL`] | 15 s | leader | how long the `river_leader` lease lasts without a refresh |
//! | [`LEADER_REFRESH`] | 5 s | leader | how often the leader extends its lease |
//! | [`LEASE_MARGIN`] | 2 s | leader | how long before the lease's expiry, counted from the last refresh, a leader that could not refresh stops leading |
//! | [`NOTIFY_INSERT_COOLDOWN`] | 100 ms | db: notifications | at most one `river_insert` notification per queue per process in this time (River's fetch cooldown) |
//! | [`NOTIFICATION_RETENTION`] | 5 min | leader: cleaner; db: notifications | how long `river_notification` rows are kept (River's) |
//! | [`NOTIFICATION_PRUNE_EVERY`] | 1 min | db: notifications | how often a process that writes notifications also prunes old ones, so a file with no leader stays bounded |
//! | [`SCHEDULES_RELOAD`] | 1 s | leader: durable schedules | how soon a schedule another process changed takes effect on the leader |
//! | [`RETRY_FAILED_INSERT`] | 1 s | leader: periodic enqueuer | how soon a periodic insert that failed for a passing reason is tried again |

use std::time::Duration;

/// How often a started client checks `PRAGMA data_version` for other
/// connections' commits: a cheap read that bounds cross-process wake-up latency.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// How often a producer asks the database whether someone cancelled one of
/// its running jobs, so a remote cancel is seen within half a second.
pub(crate) const CANCEL_CHECK_INTERVAL: Duration = Duration::from_millis(400);

/// Longest a producer holds back a small claim while capacity gathers:
/// each claim is a write transaction, so many tiny ones cost throughput.
pub(crate) const FETCH_COOLDOWN: Duration = Duration::from_millis(20);

/// Jobs waiting this long for a thread, with none idle, make the worker
/// pool grow (doubling each time). Short jobs then run on a few busy threads
/// with no hand-off per job, and slow ones reach max_workers within tens of
/// milliseconds.
pub(crate) const GROW_AFTER: Duration = Duration::from_millis(2);

/// The longest pause between two attempts to write outcomes the database
/// refuses for a passing reason (locked, pool exhausted, I/O).
pub(crate) const COMPLETER_MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long the `river_leader` record stays valid without a refresh. River
/// clients sharing the file see a live leader and defer to it.
pub(crate) const LEADER_TTL: Duration = Duration::from_secs(15);

/// How often the leader pushes its record's expiry forward.
pub(crate) const LEADER_REFRESH: Duration = Duration::from_secs(5);

/// A leader stops leading this long before its lease would expire, counted
/// on its own clock from the last refresh that succeeded: with clocks a
/// little apart, another client may take an expired-looking lease early.
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(2);

/// How soon a periodic insert that failed for a passing reason (a busy
/// database, an exhausted pool) is tried again.
pub(crate) const RETRY_FAILED_INSERT: Duration = Duration::from_secs(1);

/// At most one `river_insert` notification per queue per process in this
/// time, as River limits them to one per fetch cooldown: single inserts
/// stay one row each, and a waiting River worker still hears of them.
pub(crate) const NOTIFY_INSERT_COOLDOWN: Duration = Duration::from_millis(100);

/// How long notification rows are kept (River's SQLite notification cleaner).
pub(crate) const NOTIFICATION_RETENTION: Duration = Duration::from_secs(5 * 60);

/// How often a process that writes notifications prunes old ones itself, so
/// that a file with only insert-only clients (no leader) stays bounded.
pub(crate) const NOTIFICATION_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often the leader reads the durable schedules again: how soon a
/// change another process made takes effect (this process's own changes
/// apply at once).
pub(crate) const SCHEDULES_RELOAD: Duration = Duration::from_secs(1);
