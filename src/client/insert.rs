//! Inserting jobs: one, many, in the client's transaction or the caller's; each insert wakes this client's producers of the queues it fills.

use rusqlite::Transaction;

use super::Client;
use crate::db;
use crate::error::{Error, Result};
use crate::model::{
    new_job, InsertManyParams, InsertOpts, InsertResult, JobArgs, JobState, NewJob,
};

impl Client {
    fn prepare<A: JobArgs>(&self, args: &A, opts: Option<InsertOpts>) -> Result<NewJob> {
        let encoded = serde_json::to_string(args).map_err(|e| e.to_string());
        new_job::prepare(
            A::KIND,
            encoded,
            opts,
            &A::insert_opts(),
            &self.inner.config.insert_defaults,
            self.now(),
        )
    }

    fn prepare_many(&self, params: Vec<InsertManyParams>) -> Result<Vec<NewJob>> {
        if params.is_empty() {
            return Err(Error::InvalidInsert {
                field: "params",
                reason: "insert_many needs at least one job".into(),
            });
        }
        let now = self.now();
        params
            .into_iter()
            .map(|p| {
                new_job::prepare(
                    p.kind,
                    p.args,
                    p.opts,
                    &p.kind_opts,
                    &self.inner.config.insert_defaults,
                    now,
                )
            })
            .collect()
    }

    fn insert_rows(&self, rows: Vec<NewJob>) -> Result<Vec<InsertResult>> {
        let results = self.inner.db.write(|tx| self.insert_in(tx, rows))?;
        self.wake_producers(&results);
        Ok(results)
    }

    /// Inserts `rows` in `tx` and, in the same transaction, announces the
    /// queues that got available jobs to River's clients (`river_insert`).
    fn insert_in(&self, tx: &Transaction<'_>, rows: Vec<NewJob>) -> Result<Vec<InsertResult>> {
        let notices = &self.inner.db.insert_notices;
        db::notifications::insert_announced(tx, notices, rows, self.now())
    }

    /// Wakes this client's producers of queues that just got available jobs:
    /// the in-process half of the one wake-up path.
    fn wake_producers(&self, results: &[InsertResult]) {
        for result in results
            .iter()
            .filter(|r| r.job.state == JobState::Available)
        {
            self.inner.wakers.wake(&result.job.queue);
        }
    }

    /// Inserts one job in its own transaction.
    ///
    /// ```
    /// # use riverlite::{Client, JobArgs};
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Serialize, Deserialize)]
    /// struct SendEmail { to: String }
    /// impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
    ///
    /// let client = Client::builder(":memory:").build()?;
    /// let res = client.insert(SendEmail { to: "a@example.com".into() }, None)?;
    /// assert_eq!(res.job.kind, "send_email");
    /// # Ok::<(), riverlite::Error>(())
    /// ```
    pub fn insert<A: JobArgs>(&self, args: A, opts: Option<InsertOpts>) -> Result<InsertResult> {
        let row = self.prepare(&args, opts)?;
        let mut results = self.insert_rows(vec![row])?;
        results.pop().ok_or(Error::NotFound)
    }

    /// Inserts one job in the caller's transaction: it exists only if the
    /// caller commits. Open the transaction with
    /// `TransactionBehavior::Immediate`; a deferred one can run into a lock
    /// held by another writer, which is `Error::Busy`.
    ///
    /// ```
    /// # use riverlite::{Client, JobArgs};
    /// # use riverlite::rusqlite::TransactionBehavior;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)]
    /// # struct SendEmail { to: String }
    /// # impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
    /// let dir = std::env::temp_dir().join(format!("riverlite-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("insert_tx.db");
    /// let client = Client::builder(&path).build()?;
    /// let mut conn = riverlite::rusqlite::Connection::open(&path)?;
    /// let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    /// tx.execute_batch("CREATE TABLE IF NOT EXISTS users (email TEXT)")?;
    /// tx.execute("INSERT INTO users (email) VALUES (?1)", ["a@example.com"])?;
    /// client.insert_tx(&tx, SendEmail { to: "a@example.com".into() }, None)?;
    /// tx.commit()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_tx<A: JobArgs>(
        &self,
        tx: &Transaction<'_>,
        args: A,
        opts: Option<InsertOpts>,
    ) -> Result<InsertResult> {
        let row = self.prepare(&args, opts)?;
        let mut results = self.insert_in(tx, vec![row])?;
        self.wake_producers(&results);
        results.pop().ok_or(Error::NotFound)
    }

    /// Inserts many jobs in one transaction, with multi-row statements. If
    /// any job is invalid, nothing is inserted.
    pub fn insert_many(&self, params: Vec<InsertManyParams>) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        self.insert_rows(rows)
    }

    /// Inserts many jobs in the caller's transaction.
    pub fn insert_many_tx(
        &self,
        tx: &Transaction<'_>,
        params: Vec<InsertManyParams>,
    ) -> Result<Vec<InsertResult>> {
        let rows = self.prepare_many(params)?;
        let results = self.insert_in(tx, rows)?;
        self.wake_producers(&results);
        Ok(results)
    }
}
