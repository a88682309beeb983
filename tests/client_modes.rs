//! Proves that build() accepts an insert-only or a working configuration and rejects a mixed or invalid one with Error::Config, and that Client is Send + Sync.

mod common;

use std::time::Duration;

use common::{temp_db, Count};
use riverlite::{work_fn, Client, ClientBuilder, Error, PeriodicJob, QueueConfig, Schedule};

fn builder() -> (tempfile::TempDir, ClientBuilder) {
    let (dir, path) = temp_db();
    (dir, Client::builder(path))
}

fn worker() -> impl riverlite::Worker<Count> {
    work_fn::<Count, _>(|_job| Ok(()))
}

fn config_error(builder: ClientBuilder) -> String {
    match builder.build() {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected Error::Config, got {other:?}"),
        Ok(client) => panic!("expected Error::Config, got {client:?}"),
    }
}

#[test]
fn a_periodic_job_on_an_insert_only_client_is_a_config_error() {
    let (_dir, builder) = builder();
    let job = PeriodicJob::new(Schedule::every(Duration::from_secs(60)), || {
        Some(Count { n: 1 })
    });
    let message = config_error(builder.periodic_job(job));
    assert!(
        message.contains("periodic jobs need a client that works jobs"),
        "{message}"
    );
}

#[test]
fn a_queue_without_a_worker_is_a_config_error() {
    let (_dir, builder) = builder();
    let message = config_error(builder.queue("default", QueueConfig::new(4)));
    assert!(message.contains("worker"), "{message}");
}

#[test]
fn a_worker_without_a_queue_is_a_config_error() {
    let (_dir, builder) = builder();
    let message = config_error(builder.worker(worker()));
    assert!(message.contains("queue"), "{message}");
}

#[test]
fn max_workers_out_of_range_is_a_config_error() {
    for max_workers in [0, 10_001] {
        let (_dir, builder) = builder();
        let message = config_error(
            builder
                .queue("default", QueueConfig::new(max_workers))
                .worker(worker()),
        );
        assert!(message.contains("max_workers"), "{max_workers}: {message}");
    }
}

#[test]
fn an_invalid_queue_name_is_a_config_error() {
    let (_dir, builder) = builder();
    let message = config_error(
        builder
            .queue("Not A Queue", QueueConfig::new(1))
            .worker(worker()),
    );
    assert!(message.contains("Not A Queue"), "{message}");
}

#[test]
fn a_queue_added_twice_is_a_config_error() {
    let (_dir, builder) = builder();
    let message = config_error(
        builder
            .queue("default", QueueConfig::new(1))
            .queue("default", QueueConfig::new(2))
            .worker(worker()),
    );
    assert!(message.contains("default"), "{message}");
}

#[test]
fn a_config_error_creates_no_database() {
    let (_dir, path) = temp_db();
    let builder = Client::builder(&path).queue("default", QueueConfig::new(1));
    assert!(matches!(builder.build(), Err(Error::Config(_))));
    assert!(!path.exists());
}

#[test]
fn start_on_an_insert_only_client_is_an_error() {
    let (_dir, builder) = builder();
    let client = builder.build().unwrap();
    assert!(client.is_insert_only());
    assert!(matches!(client.start(), Err(Error::InsertOnly(_))));
}

#[test]
fn client_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
}

#[test]
fn a_queue_with_a_worker_builds_a_working_client() {
    let (_dir, builder) = builder();
    let client = builder
        .queue("default", QueueConfig::new(4))
        .worker(worker())
        .build()
        .unwrap();
    assert!(!client.is_insert_only());
}

#[test]
fn a_client_can_share_the_applications_pool() {
    let (_dir, path) = common::temp_db();
    let pool_of = |size: u32| {
        let manager = riverlite::r2d2_sqlite::SqliteConnectionManager::file(&path).with_init(|c| {
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
        });
        riverlite::r2d2::Pool::builder()
            .max_size(size)
            .build(manager)
            .unwrap()
    };
    let small = pool_of(2);
    let too_small = Client::builder_with_pool(small.clone())
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<common::Count, _>(|_| Ok(())))
        .build();
    assert!(matches!(too_small, Err(Error::Config(m)) if m.contains("pool")));

    let inserter = Client::builder_with_pool(small).build().unwrap();
    let id = inserter
        .insert(common::Count { n: 1 }, None)
        .unwrap()
        .job
        .id;
    let worker = Client::builder_with_pool(pool_of(8))
        .queue("default", QueueConfig::new(1))
        .worker(work_fn::<common::Count, _>(|_| Ok(())))
        .build()
        .unwrap();
    worker.start().unwrap();
    common::wait_for_state(&worker, id, riverlite::JobState::Completed);
}
