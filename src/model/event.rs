//! Events (`Event`, `EventKind`) and the subscriptions that fan them out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::model::job::JobRow;

/// Room in each subscription channel; when full, events are dropped and counted.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A job completed.
    JobCompleted,
    /// A job failed (it will be retried, or was discarded).
    JobFailed,
    /// A job was cancelled (by its worker, or by `job_cancel` while running).
    JobCancelled,
    /// A job snoozed.
    JobSnoozed,
    /// A queue was paused through this client.
    QueuePaused,
    /// A queue was resumed through this client.
    QueueResumed,
    /// This client became the leader.
    LeaderGained,
    /// This client stopped being the leader.
    LeaderLost,
}

/// How long a job spent where.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobStats {
    /// From `scheduled_at` to the start of this attempt.
    pub queue_wait: Duration,
    /// How long `work` ran.
    pub run_duration: Duration,
    /// From `work` returning to the outcome being committed.
    pub complete_duration: Duration,
}

/// One event. Job events carry the job as it was recorded, and its timings.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The job, for job events.
    pub job: Option<JobRow>,
    /// Timings, for job events.
    pub stats: Option<JobStats>,
    /// The queue, for queue events.
    pub queue: Option<String>,
}

struct Subscription {
    kinds: Vec<EventKind>,
    sender: Sender<Event>,
}

/// Fans events out to subscribers without ever blocking the sender.
#[derive(Default)]
pub(crate) struct EventBus {
    subscriptions: Mutex<Vec<Subscription>>,
    dropped: AtomicU64,
}

impl EventBus {
    /// A new subscription. Its channel is unbounded in type but holds at
    /// most [`SUBSCRIPTION_CAPACITY`] events (`emit` counts and drops the
    /// rest): a bounded channel would allocate every slot up front, and a
    /// subscription whose receiver was dropped is only noticed at its next
    /// event, so each abandoned one would keep that memory. This way one
    /// costs a few hundred bytes until then.
    pub(crate) fn subscribe(&self, kinds: &[EventKind]) -> Receiver<Event> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        self.lock().push(Subscription {
            kinds: kinds.to_vec(),
            sender,
        });
        receiver
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscription>> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kinds anyone listens for, so callers can skip building the rest
    /// (read once per batch of outcomes, not per job).
    pub(crate) fn wanted(&self) -> Vec<EventKind> {
        let mut kinds: Vec<EventKind> = self
            .lock()
            .iter()
            .flat_map(|s| s.kinds.iter().copied())
            .collect();
        kinds.sort_unstable_by_key(|k| *k as u8);
        kinds.dedup();
        kinds
    }

    /// Sends to every interested subscriber; a full channel drops the event
    /// (counted), and a closed one is unsubscribed.
    pub(crate) fn emit(&self, event: Event) {
        let mut subs = self.lock();
        subs.retain(|sub| {
            if !sub.kinds.contains(&event.kind) {
                return true;
            }
            if sub.sender.len() >= SUBSCRIPTION_CAPACITY {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            match sub.sender.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed() -> Event {
        Event {
            kind: EventKind::JobCompleted,
            job: None,
            stats: None,
            queue: None,
        }
    }

    #[test]
    fn a_full_subscription_drops_and_counts_and_is_pruned_once_its_receiver_goes() {
        let bus = EventBus::default();
        let receiver = bus.subscribe(&[EventKind::JobCompleted]);
        for _ in 0..SUBSCRIPTION_CAPACITY + 10 {
            bus.emit(completed());
        }
        assert_eq!(receiver.len(), SUBSCRIPTION_CAPACITY);
        assert_eq!(bus.dropped(), 10);
        drop(receiver); // its queued events go with it
        bus.emit(completed());
        assert!(bus.lock().is_empty(), "pruned at the next event");
    }
}
