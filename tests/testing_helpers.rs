//! `riverlite::testing` lets users test workers without a database, and check what their code inserted.

mod common;

use common::{temp_db, Noop};
use riverlite::rusqlite::{Connection, TransactionBehavior};
use riverlite::testing::{require_inserted, require_inserted_args, work_job};
use riverlite::{work_fn, Client, Error, WorkError};

#[test]
fn work_job_runs_a_worker_without_a_database() {
    let worker = work_fn::<Noop, _>(|job| {
        if job.args.n < 0 {
            Err(WorkError::failure("negative"))
        } else {
            Ok(())
        }
    });
    assert!(work_job(&worker, Noop { n: 1 }).is_ok());
    assert_eq!(
        work_job(&worker, Noop { n: -1 }).unwrap_err().to_string(),
        "negative"
    );
}

#[test]
fn require_inserted_sees_jobs_inside_the_test_transaction() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let mut conn = Connection::open(&path).unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    assert!(matches!(
        require_inserted(&tx, "noop"),
        Err(Error::NotFound)
    ));
    client.insert_tx(&tx, Noop { n: 42 }, None).unwrap();
    assert_eq!(require_inserted(&tx, "noop").unwrap().kind, "noop");
    let (_, args) = require_inserted_args::<Noop>(&tx).unwrap();
    assert_eq!(args, Noop { n: 42 });
}
