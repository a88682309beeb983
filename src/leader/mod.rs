//! Leadership and maintenance: liveness locks, the leader loop, and one file per maintenance service.
//!
//! Of the processes sharing a database, the one holding the leader file
//! lock runs riverlite's own duties (periodic jobs in code, durable
//! schedules, the rescue of dead clients' jobs), and with River's lease
//! also the scheduler, the horizon rescue and the cleaner. Each started working client holds a liveness lock of its own,
//! so the leader can tell a dead client's jobs from a live one's.

pub(crate) mod cleaner;
pub(crate) mod durable_schedules;
pub(crate) mod elector;
pub(crate) mod liveness;
pub(crate) mod maintenance;
pub(crate) mod periodic_enqueuer;
pub(crate) mod periodic_registry;
pub(crate) mod rescuer;
pub(crate) mod scheduler;

pub(crate) use cleaner::Cleaner;
pub(crate) use durable_schedules::DurableSchedules;
pub(crate) use elector::Elector;
pub(crate) use liveness::{is_alive, LivenessLock, LockPaths};
pub(crate) use maintenance::Maintenance;
pub(crate) use periodic_enqueuer::PeriodicEnqueuer;
pub(crate) use periodic_registry::PeriodicRegistry;
pub(crate) use rescuer::{rescue_leftovers_of, Rescuer};
pub(crate) use scheduler::Scheduler;
