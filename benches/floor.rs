//! The SQLite floor: what River's SQL costs on its own (bare statements on River's schema, no queue code), in jobs per second.
//!
//! `cargo bench --bench floor` prints a table; `-- --json` prints one JSON
//! line instead; `-- --jobs N` sets the number of jobs (default 100,000).
//!
//! Each measurement runs on a fresh file in a temp dir:
//! - `insert`: N jobs in batches of 1,000, one statement and one
//!   transaction per batch;
//! - `work_1000`: N available jobs inserted first (untimed), then, until none
//!   is left: claim up to 1,000 in one transaction, mark them completed in a
//!   second;
//! - `work_8`: the same, 8 at a time.
//!
//! riverlite's own figures (`benches/insert.rs`, `benches/work.rs`) are read
//! against these: the gap is what the queue code costs on top of its SQL.
//! The statements are written here, not taken from riverlite, so the floor
//! stays put while riverlite's SQL changes.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection, Statement, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::value::RawValue;

/// River's schema (main line v8) plus riverlite's own table, as riverlite applies it.
const SCHEMA: &str = include_str!("../schema.sql");

/// Jobs per insert statement (and transaction), as riverlite chunks `insert_many`.
const INSERT_BATCH: usize = 1_000;

// Every job is alike apart from its args: River's defaults, one queue.
const KIND: &str = "send_email";
const MAX_ATTEMPTS: i64 = 25;
const PRIORITY: i64 = 1;
const QUEUE: &str = "default";
/// The client id a claim appends to `attempted_by`.
const CLIENT_ID: &str = "floor";

/// What the command line asked for.
struct Options {
    jobs: usize,
    json: bool,
}

/// Reads `--jobs N` and `--json`; anything else is ignored, since
/// `cargo bench` passes `--bench` (and may pass more) to every target.
fn parse_options() -> Options {
    let mut options = Options {
        jobs: 100_000,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--jobs" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => options.jobs = n,
                _ => eprintln!(
                    "floor: --jobs wants a positive number; keeping {}",
                    options.jobs
                ),
            },
            _ => {}
        }
    }
    options
}

/// A fresh database file in `dir`, set up as riverlite's
/// `set_up_connection` (`src/db/mod.rs`) sets up every connection:
/// - `busy_timeout` 5 s, riverlite's default (nothing else opens this file);
/// - a prepared statement cache of 64 (every statement here is cached);
/// - `PRAGMA auto_vacuum = INCREMENTAL` first, while there are no tables
///   (it takes effect only on an empty database);
/// - `PRAGMA journal_mode = WAL`;
/// - `PRAGMA synchronous = NORMAL` (riverlite's default; FULL is an option);
/// - `PRAGMA foreign_keys = ON`;
/// - `PRAGMA journal_size_limit = 67108864`;
/// - `PRAGMA wal_autocheckpoint = 10000`.
///
/// Then the schema, in one batch inside one `BEGIN IMMEDIATE` transaction,
/// as riverlite's migration applies it.
fn open_database(dir: &tempfile::TempDir) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(dir.path().join("floor.db"))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 10000;",
    )?;
    let tx = write_transaction(&mut conn)?;
    tx.execute_batch(SCHEMA)?;
    tx.commit()?;
    Ok(conn)
}

/// A `BEGIN IMMEDIATE` transaction, as every riverlite write takes: the
/// write lock is taken at BEGIN, never upgraded midway.
fn write_transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// Now as River's SQLite driver stores times: UTC text
/// `YYYY-MM-DD HH:MM:SS.fff`, which compares correctly as text.
fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// A job's args, the same shape as `benches/insert.rs`'s.
#[derive(Serialize)]
struct SendEmail {
    to: String,
    n: usize,
}

/// Job `n`'s args as JSON text, serialized per job as a real insert does.
fn args_json(n: usize) -> String {
    let args = SendEmail {
        to: format!("user{n}@example.com"),
        n,
    };
    serde_json::to_string(&args).expect("args serialize")
}

/// The insert statements' shape. Both write the same columns (the others
/// keep their defaults), args, metadata and tags as JSONB.
#[derive(Clone, Copy)]
enum InsertForm {
    /// `VALUES` with 10 bound parameters per row, 1,000 rows per
    /// statement: the fastest form tried, so it is the floor's `insert`.
    Values,
    /// One JSON array parameter per batch, unpacked with `json_each`; shown
    /// in the table for reference (about 30% slower than `Values`).
    JsonEach,
}

/// The columns every insert writes.
const INSERT_INTO: &str = "INSERT INTO river_job (args, kind, max_attempts, metadata, priority, \
     queue, scheduled_at, state, tags, created_at)";

/// One row of [`InsertForm::Values`], in [`INSERT_INTO`] order.
const VALUES_ROW: &str = "(jsonb(?),?,?,jsonb(?),?,?,?,?,jsonb(?),?)";

/// Parameters per row of [`VALUES_ROW`].
const VALUES_PER_ROW: usize = 10;

/// [`InsertForm::Values`] for `rows` rows.
fn values_sql(rows: usize) -> String {
    format!("{INSERT_INTO} VALUES {}", vec![VALUES_ROW; rows].join(","))
}

/// [`InsertForm::JsonEach`]: each element of `?1` is one job's array, in
/// [`INSERT_INTO`] order, with args, metadata and tags nested as JSON.
/// `jsonb_extract` turns those straight into JSONB; the forms tried that
/// went through text (`jsonb(value -> 0)`, or args sent as a JSON string
/// and read with `jsonb(value ->> 0)`) were a little slower, and objects
/// with named keys (`value ->> '$.kind'`) about 30% slower.
const JSON_EACH_SELECT: &str = "SELECT jsonb_extract(value, '$[0]'), value ->> 1, value ->> 2, \
     jsonb_extract(value, '$[3]'), value ->> 4, value ->> 5, value ->> 6, value ->> 7, \
     jsonb_extract(value, '$[8]'), value ->> 9 FROM json_each(?1)";

/// Binds one job's values at `at` (1-based), in [`INSERT_INTO`] order.
fn bind_job(stmt: &mut Statement<'_>, at: usize, args: &str, now: &str) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at, args)?;
    stmt.raw_bind_parameter(at + 1, KIND)?;
    stmt.raw_bind_parameter(at + 2, MAX_ATTEMPTS)?;
    stmt.raw_bind_parameter(at + 3, "{}")?;
    stmt.raw_bind_parameter(at + 4, PRIORITY)?;
    stmt.raw_bind_parameter(at + 5, QUEUE)?;
    stmt.raw_bind_parameter(at + 6, now)?;
    stmt.raw_bind_parameter(at + 7, "available")?;
    stmt.raw_bind_parameter(at + 8, "[]")?;
    stmt.raw_bind_parameter(at + 9, now)
}

/// Inserts jobs `jobs` with one [`InsertForm::Values`] statement.
fn insert_values(tx: &Transaction<'_>, jobs: std::ops::Range<usize>, now: &str) -> usize {
    let mut stmt = tx.prepare_cached(&values_sql(jobs.len())).expect("prepare");
    for (i, n) in jobs.enumerate() {
        bind_job(&mut stmt, 1 + i * VALUES_PER_ROW, &args_json(n), now).expect("bind");
    }
    stmt.raw_execute().expect("insert")
}

/// The `json_each` parameter for jobs `jobs`: built with serde, as a real
/// insert must (values escaped, args embedded as they were serialized).
fn batch_json(jobs: std::ops::Range<usize>, now: &str) -> String {
    let empty_object = RawValue::from_string("{}".into()).expect("JSON");
    let empty_array = RawValue::from_string("[]".into()).expect("JSON");
    let mut json = Vec::with_capacity(jobs.len() * 200);
    json.push(b'[');
    for n in jobs {
        if json.len() > 1 {
            json.push(b',');
        }
        let args = RawValue::from_string(args_json(n)).expect("args are JSON");
        let row = (
            &args,
            KIND,
            MAX_ATTEMPTS,
            &empty_object,
            PRIORITY,
            QUEUE,
            now,
            "available",
            &empty_array,
            now,
        );
        serde_json::to_writer(&mut json, &row).expect("row serializes");
    }
    json.push(b']');
    String::from_utf8(json).expect("serde_json writes UTF-8")
}

/// Inserts jobs `jobs` with one [`InsertForm::JsonEach`] statement.
fn insert_json_each(tx: &Transaction<'_>, jobs: std::ops::Range<usize>, now: &str) -> usize {
    let json = batch_json(jobs, now);
    tx.prepare_cached(&format!("{INSERT_INTO} {JSON_EACH_SELECT}"))
        .expect("prepare")
        .execute([json])
        .expect("insert")
}

/// Inserts jobs `jobs` in a transaction of their own.
fn insert_batch(conn: &mut Connection, form: InsertForm, jobs: std::ops::Range<usize>) {
    let now = now_text();
    let count = jobs.len();
    let tx = write_transaction(conn).expect("begin");
    let inserted = match form {
        InsertForm::Values => insert_values(&tx, jobs, &now),
        InsertForm::JsonEach => insert_json_each(&tx, jobs, &now),
    };
    assert_eq!(inserted, count, "every job inserted");
    tx.commit().expect("commit");
}

/// Inserts `jobs` available jobs, [`INSERT_BATCH`] at a time.
fn insert_jobs(conn: &mut Connection, form: InsertForm, jobs: usize) {
    for first in (0..jobs).step_by(INSERT_BATCH) {
        insert_batch(conn, form, first..jobs.min(first + INSERT_BATCH));
    }
}

/// riverlite's claim, bare: the same UPDATE of the same columns, finding
/// the jobs with `river_job_prioritized_fetching_index` in the same order,
/// without riverlite's leniency (no check that `attempted_by` is JSON or
/// under 100 entries, no paused-queue check, a plain text comparison of
/// `scheduled_at`). It returns what running a job needs (args as JSON
/// text, for the worker's deserializer), not the whole row. The limit is
/// `(SELECT ?2)` as in riverlite: a bare `LIMIT ?2` has SQLite compile the
/// statement again on every bind.
const CLAIM: &str = "UPDATE river_job SET state = 'running', attempt = attempt + 1, \
       attempted_at = ?3, \
       attempted_by = jsonb_insert(coalesce(attempted_by, jsonb('[]')), '$[#]', ?4) \
     WHERE id IN (SELECT id FROM river_job \
       WHERE state = 'available' AND queue = ?1 AND scheduled_at <= ?3 \
       ORDER BY priority, scheduled_at, id LIMIT (SELECT ?2)) \
     RETURNING id, kind, json(args), attempt";

/// A claimed job: what a worker is handed.
struct Claimed {
    id: i64,
    kind: String,
    args: String,
    attempt: i64,
}

/// Claims up to `limit` due jobs in a transaction of their own.
fn claim_batch(conn: &mut Connection, limit: usize) -> Vec<Claimed> {
    let tx = write_transaction(conn).expect("begin");
    let claimed = tx
        .prepare_cached(CLAIM)
        .expect("prepare")
        .query_map(params![QUEUE, limit as i64, now_text(), CLIENT_ID], |r| {
            Ok(Claimed {
                id: r.get(0)?,
                kind: r.get(1)?,
                args: r.get(2)?,
                attempt: r.get(3)?,
            })
        })
        .expect("claim")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("claim");
    tx.commit().expect("commit");
    claimed
}

/// riverlite's plain completion, bare: one UPDATE for the whole batch,
/// rows found by primary key from a JSON id list. The `running` guard
/// stays (a queue must not finish a job rescued meanwhile); the unary `+`
/// keeps SQLite on the primary key rather than the state index. riverlite
/// also guards each row's attempt; a floor need not.
const COMPLETE: &str = "UPDATE river_job SET state = 'completed', finalized_at = ?2 \
     WHERE id IN (SELECT value FROM json_each(?1)) AND +state = 'running'";

/// Marks `claimed` completed in a transaction of its own.
fn complete_batch(conn: &mut Connection, claimed: &[Claimed]) {
    let ids: Vec<i64> = claimed.iter().map(|job| job.id).collect();
    let ids = serde_json::to_string(&ids).expect("ids serialize");
    let tx = write_transaction(conn).expect("begin");
    let completed = tx
        .prepare_cached(COMPLETE)
        .expect("prepare")
        .execute(params![ids, now_text()])
        .expect("complete");
    assert_eq!(completed, claimed.len(), "every claimed job completed");
    tx.commit().expect("commit");
}

/// Stands in for running a job: looks at what a worker would read, so
/// the claim's results are used, at no real cost.
fn run(job: &Claimed) {
    assert!(job.attempt == 1 && job.kind == KIND && job.args.starts_with('{'));
}

/// Claims and completes `batch` jobs at a time until none is left; returns
/// how many were worked.
fn work_all(conn: &mut Connection, batch: usize) -> usize {
    let mut worked = 0;
    loop {
        let claimed = claim_batch(conn, batch);
        if claimed.is_empty() {
            return worked;
        }
        claimed.iter().for_each(run);
        complete_batch(conn, &claimed);
        worked += claimed.len();
    }
}

fn per_sec(jobs: usize, elapsed: Duration) -> f64 {
    jobs as f64 / elapsed.as_secs_f64()
}

/// Jobs per second inserting `jobs` jobs with `form`.
fn measure_insert(form: InsertForm, jobs: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = open_database(&dir).expect("database");
    let start = Instant::now();
    insert_jobs(&mut conn, form, jobs);
    let elapsed = start.elapsed();
    check_last_job(&conn, jobs);
    per_sec(jobs, elapsed)
}

/// Checks (untimed) that the last job was stored as riverlite stores one,
/// JSON columns as JSONB blobs, so that every form did the same work.
fn check_last_job(conn: &Connection, jobs: usize) {
    let stored: (String, String, String, String, String) = conn
        .query_row(
            "SELECT json(args), json(metadata), json(tags), typeof(args), scheduled_at \
             FROM river_job ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("last job");
    let (args, metadata, tags, args_type, scheduled_at) = stored;
    assert_eq!(args, args_json(jobs - 1));
    assert_eq!((metadata.as_str(), tags.as_str()), ("{}", "[]"));
    assert_eq!(args_type, "blob", "args stored as JSONB");
    assert_eq!(scheduled_at.len(), "YYYY-MM-DD HH:MM:SS.fff".len());
}

/// Jobs per second working `jobs` jobs, `batch` per claim; the insert
/// before it is not timed.
fn measure_work(batch: usize, jobs: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = open_database(&dir).expect("database");
    insert_jobs(&mut conn, InsertForm::Values, jobs);
    let start = Instant::now();
    let worked = work_all(&mut conn, batch);
    let elapsed = start.elapsed();
    assert_eq!(worked, jobs, "every job worked");
    per_sec(jobs, elapsed)
}

/// One run's figures, in jobs per second.
struct Figures {
    insert: f64,
    insert_json_each: f64,
    work_1000: f64,
    work_8: f64,
}

fn measure_all(jobs: usize) -> Figures {
    Figures {
        insert: measure_insert(InsertForm::Values, jobs),
        insert_json_each: measure_insert(InsertForm::JsonEach, jobs),
        work_1000: measure_work(1_000, jobs),
        work_8: measure_work(8, jobs),
    }
}

fn print_table(figures: &Figures, jobs: usize) {
    println!("SQLite floor: River's SQL alone, {jobs} jobs per measurement");
    println!("{:<22} {:>10}", "measurement", "jobs/s");
    let rows = [
        ("insert", figures.insert),
        ("insert (json_each)", figures.insert_json_each),
        ("work_1000", figures.work_1000),
        ("work_8", figures.work_8),
    ];
    for (name, per_sec) in rows {
        println!("{name:<22} {per_sec:>10.0}");
    }
}

/// The one JSON line scripts read (the json_each reference is left out).
fn print_json(figures: &Figures, jobs: usize) {
    println!(
        "{{\"floor_insert_jobs_per_sec\": {:.0}, \"floor_work_1000_jobs_per_sec\": {:.0}, \
         \"floor_work_8_jobs_per_sec\": {:.0}, \"jobs\": {jobs}}}",
        figures.insert, figures.work_1000, figures.work_8
    );
}

fn main() {
    let options = parse_options();
    let figures = measure_all(options.jobs);
    if options.json {
        print_json(&figures, options.jobs);
    } else {
        print_table(&figures, options.jobs);
    }
}
