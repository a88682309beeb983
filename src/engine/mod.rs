//! The engine: claim, work, complete. Wake-ups, running jobs, producers, worker pools, the worker registry and the completer.
//!
//! Data flows one way: a producer claims rows, its worker pool runs them,
//! the completer writes what `model::outcome` decided and fans out events.

pub(crate) mod completer;
pub(crate) mod pool;
pub(crate) mod producer;
pub(crate) mod registry;
pub(crate) mod running;
pub(crate) mod wake;

pub(crate) use completer::Completer;
pub(crate) use pool::{is_worker_thread_of, next_owner_token, WorkerContext};
pub(crate) use producer::{Handoff, Producer, ProducerChannels};
pub(crate) use registry::{Registered, WorkerRegistry};
pub(crate) use running::RunningJobs;
pub(crate) use wake::{watch_database, CommitWatch, Listener, Wakers};
