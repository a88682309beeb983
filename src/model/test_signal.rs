//! Test signals: events a service announces ("the producer fetched") that a test can wait on instead of sleeping. Inert unless a test initialises them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

/// Most signals kept for a test that has not waited for them yet; more are dropped.
const CAPACITY: usize = 10_000;

/// One kind of event a test can wait for. Until [`TestSignal::init`] is
/// called, signalling does nothing (one atomic load), so production code
/// pays nothing for it.
#[derive(Debug, Default)]
pub struct TestSignal {
    channel: OnceLock<(Sender<()>, Receiver<()>)>,
}

impl TestSignal {
    /// Starts recording this signal; later calls do nothing.
    pub fn init(&self) {
        self.channel
            .get_or_init(|| crossbeam_channel::bounded(CAPACITY));
    }

    /// Records one occurrence, if a test initialised the signal.
    pub(crate) fn signal(&self) {
        if let Some((sender, _)) = self.channel.get() {
            let _ = sender.try_send(());
        }
    }

    /// Forgets the occurrences recorded so far, so that the next wait sees
    /// only what happens from now on.
    pub fn clear(&self) {
        if let Some((_, receiver)) = self.channel.get() {
            receiver.try_iter().for_each(drop);
        }
    }

    /// Waits for one occurrence, up to `timeout`. False when none came in
    /// time, or the signal was never initialised.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wait_for(1, timeout)
    }

    /// Waits for `n` occurrences, up to `timeout` in all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let Some((_, receiver)) = self.channel.get() else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        (0..n).all(|_| receiver.recv_deadline(deadline).is_ok())
    }
}

/// The signals a client's services send, for tests.
///
/// ```
/// use std::time::Duration;
/// use riverlite::{work_fn, Client, JobArgs, QueueConfig};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping;
/// impl JobArgs for Ping { const KIND: &'static str = "ping"; }
///
/// let client = Client::builder(":memory:")
///     .queue("default", QueueConfig::new(1))
///     .worker(work_fn::<Ping, _>(|_| Ok(())))
///     .build()?;
/// client.test_signals().producer_fetched.init();
/// client.start()?;
/// assert!(client.test_signals().producer_fetched.wait(Duration::from_secs(30)));
/// client.stop()?;
/// # Ok::<(), riverlite::Error>(())
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct TestSignals {
    /// A producer ran a claim (whether or not it found jobs).
    pub producer_fetched: TestSignal,
    /// The client tried to take the leader lock, and `is_leader()` tells
    /// whether it did (it tries every `election_interval` while it does not lead).
    pub election_attempted: TestSignal,
    /// The cleaner finished a pass.
    pub cleaner_pass: TestSignal,
    /// The rescuer finished a pass.
    pub rescuer_pass: TestSignal,
}
