//! The worker registry: each kind's `Worker` with its args type erased, and how one attempt is run (decode, deadline, catch panics).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::args::decode;
use crate::model::{failed, Job, JobArgs, JobControl, JobRow, WorkErrorKind, WorkOutcome, Worker};

/// The registered workers of a client, by kind.
pub(crate) type WorkerRegistry = HashMap<&'static str, Arc<dyn AnyWorker>>;

/// A worker with its args type erased, as the registry stores it.
pub(crate) trait AnyWorker: Send + Sync {
    fn run(
        &self,
        row: JobRow,
        control: Arc<JobControl>,
        default_timeout: Option<Duration>,
    ) -> (JobRow, WorkOutcome);
}

/// Adapts a typed `Worker<A>` to `AnyWorker`.
pub(crate) struct Registered<A, W> {
    worker: W,
    _args: PhantomData<fn() -> A>,
}

impl<A: JobArgs, W: Worker<A>> Registered<A, W> {
    pub(crate) fn new(worker: W) -> Self {
        Registered {
            worker,
            _args: PhantomData,
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}

impl<A: JobArgs, W: Worker<A>> AnyWorker for Registered<A, W> {
    fn run(
        &self,
        row: JobRow,
        control: Arc<JobControl>,
        default_timeout: Option<Duration>,
    ) -> (JobRow, WorkOutcome) {
        let args: A = match decode(&row.args) {
            Ok(args) => args,
            Err(e) => {
                let message = format!("cannot decode args of kind {:?}: {e}", row.kind);
                return (row, failed(message));
            }
        };
        let job = Job::new(args, row, control.clone());
        let run = catch_unwind(AssertUnwindSafe(|| {
            let timeout = self.worker.timeout(&job).or(default_timeout);
            if let Some(deadline) = timeout.and_then(|t| Instant::now().checked_add(t)) {
                control.set_deadline(deadline);
            }
            let result = self.worker.work(&job).map_err(|e| e.kind);
            let next_retry = match &result {
                Err(WorkErrorKind::Failure(_)) => self.worker.next_retry(&job),
                _ => None,
            };
            (result, next_retry)
        }));
        let timed_out = control.timed_out();
        let outcome = match run {
            Ok((result, next_retry)) => WorkOutcome {
                result,
                next_retry,
                timed_out,
            },
            Err(payload) => WorkOutcome {
                timed_out,
                ..failed(format!("panic: {}", panic_message(payload.as_ref())))
            },
        };
        (job.into_row(), outcome)
    }
}
