//! Work is never lost or run twice at once: outcomes survive a write lock held elsewhere, many processes share one file without `Busy`, and SIGKILLed workers lose nothing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{raw, temp_db, wait_for_state, Noop, DEADLINE};
use crossbeam_channel::Receiver;
use riverlite::{work_fn, Client, ClientBuilder, JobState, MaintenanceConfig, QueueConfig};

/// A working client on `path` whose Noop jobs each return once the test
/// sends on `finish`. Its writes give up on a held lock after 100 ms.
fn gated_client(path: &Path, id: &str, finish: Receiver<()>) -> ClientBuilder {
    Client::builder(path)
        .id(id)
        .busy_timeout(Duration::from_millis(100))
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(move |_| {
            let _ = finish.recv();
            Ok(())
        }))
}

/// Takes the database's write lock, as another process's long transaction
/// would, until `COMMIT`.
fn hold_write_lock(path: &Path) -> rusqlite::Connection {
    let blocker = raw(path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    blocker
}

/// The completer used to give up on an outcome after 60 s, leaving the job
/// `running` under a live owner, which no rescuer recovers.
#[test]
fn an_outcome_refused_for_over_a_minute_is_written_once_the_lock_frees() {
    const LONGER_THAN_THE_OLD_LIMIT: Duration = Duration::from_secs(65);
    let (_dir, path) = temp_db();
    let (finish, finish_rx) = crossbeam_channel::unbounded();
    let client = gated_client(&path, "owner", finish_rx).build().unwrap();
    client.start().unwrap();
    let id = client.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&client, id, JobState::Running);

    let blocker = hold_write_lock(&path);
    finish.send(()).unwrap();
    // The scenario itself is the wait: the lock stays held past the old limit.
    std::thread::sleep(LONGER_THAN_THE_OLD_LIMIT);
    assert_eq!(client.job_get(id).unwrap().state, JobState::Running);
    blocker.execute_batch("COMMIT").unwrap();

    let job = wait_for_state(&client, id, JobState::Completed);
    assert_eq!((job.attempt, job.errors.len()), (1, 0));
    client.stop().unwrap();
}

#[test]
fn a_stop_that_cannot_write_an_outcome_leaves_the_job_to_the_rescuer_at_once() {
    let (_dir, path) = temp_db();
    let (finish, finish_rx) = crossbeam_channel::unbounded();
    let owner = gated_client(&path, "owner", finish_rx).build().unwrap();
    owner.start().unwrap();
    let id = owner.insert(Noop { n: 1 }, None).unwrap().job.id;
    wait_for_state(&owner, id, JobState::Running);
    // rescue_stuck_jobs_after keeps its default of an hour: only the
    // owner's released liveness lock can explain a quick rescue.
    let heir = Client::builder(&path)
        .id("heir")
        .queue("default", QueueConfig::new(2))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(MaintenanceConfig {
            rescuer_interval: Duration::from_millis(100),
            election_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    heir.start().unwrap();

    let blocker = hold_write_lock(&path);
    finish.send(()).unwrap();
    let (stopped_tx, stopped) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = stopped_tx.send(owner.stop());
    });
    let stopped = stopped
        .recv_timeout(DEADLINE)
        .expect("stop returns while the lock is held");
    assert!(stopped.is_ok(), "{stopped:?}");
    blocker.execute_batch("COMMIT").unwrap();

    let job = wait_for_state(&heir, id, JobState::Completed);
    assert_eq!(job.attempt, 2);
    assert_eq!(job.metadata["river:rescue_count"], 1);
    assert_eq!(job.attempted_by, ["owner", "heir"]);
    heir.stop().unwrap();
}
