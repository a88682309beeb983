//! SQL on `river_job`: insert, read, list, administer; claim and complete (for workers).

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::stored_time_cmp;
use crate::error::{Error, Result};
use crate::model::time;
use crate::model::{
    AttemptError, InsertResult, JobCount, JobListCursor, JobListOrderBy, JobListPage,
    JobListParams, JobRow, JobState, JobUpdate, NewJob, Notification,
};

/// A JSON column as JSON text, or its raw value as text when it is not
/// valid JSON (or JSONB): `json()` would fail the whole statement, so one bad
/// row would break every query that returns it, a queue's claim included.
macro_rules! json_or_raw {
    ($column:literal) => {
        concat!(
            "iif(json_valid(",
            $column,
            ", 10), json(",
            $column,
            "), CAST(",
            $column,
            " AS TEXT))"
        )
    };
}

/// The columns every job query returns, in `job_from_row` order.
pub(crate) const JOB_COLUMNS: &str = concat!(
    "id, ",
    json_or_raw!("args"),
    ", attempt, attempted_at, ",
    json_or_raw!("attempted_by"),
    ", created_at, ",
    json_or_raw!("errors"),
    ", finalized_at, kind, max_attempts, ",
    json_or_raw!("metadata"),
    ", priority, queue, state, scheduled_at, ",
    json_or_raw!("tags"),
    ", unique_key, unique_states"
);

/// The first of a claimed row's JSON columns that a job cannot run without
/// and that holds malformed JSON, or NULL. Follows [`JOB_COLUMNS`] in a claim.
const UNREADABLE_COLUMN: &str = "CASE WHEN NOT json_valid(args, 10) THEN 1 \
     WHEN NOT json_valid(metadata, 10) THEN 10 WHEN NOT json_valid(attempted_by, 10) THEN 4 END";

/// The column names of [`JOB_COLUMNS`] that [`UNREADABLE_COLUMN`] may name.
fn column_name(index: usize) -> &'static str {
    match index {
        1 => "args",
        4 => "attempted_by",
        10 => "metadata",
        _ => "a JSON column",
    }
}

fn conversion_error(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, msg.into())
}

// Rows are decoded leniently: a value another driver (or a hand edit) wrote
// in a form riverlite does not read must not stall a queue whose claim
// returns that row. It decodes as a default, with a warning.

fn lenient<T>(row: &Row<'_>, col: usize, what: &str, value: Option<T>, raw: &str) -> Option<T> {
    if value.is_none() {
        let id: i64 = row.get(0).unwrap_or_default();
        log::warn!(
            "riverlite: job {id}: cannot read column {col} ({what}) {raw:?}; using a default"
        );
    }
    value
}

/// A timestamp column's text; another type (an INTEGER or REAL some other
/// writer stored) reads as unreadable text, so it decodes leniently too.
fn timestamp_text(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<String>> {
    lossy_text(row, col)
}

/// A column as text, whatever it holds: text that is not UTF-8 is repaired,
/// and another type reads as its debug form.
fn lossy_text(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(col)? {
        rusqlite::types::ValueRef::Null => None,
        rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        other => Some(format!("{other:?}")),
    })
}

fn timestamp(row: &Row<'_>, col: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s = timestamp_text(row, col)?.unwrap_or_default();
    Ok(lenient(row, col, "timestamp", time::parse(&s), &s).unwrap_or(DateTime::UNIX_EPOCH))
}

fn opt_timestamp(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(match timestamp_text(row, col)? {
        None => None,
        Some(s) => lenient(row, col, "timestamp", time::parse(&s), &s),
    })
}

fn json_column<T: serde::de::DeserializeOwned + Default>(
    row: &Row<'_>,
    col: usize,
) -> rusqlite::Result<T> {
    Ok(match lossy_text(row, col)? {
        None => T::default(),
        Some(s) => lenient(row, col, "JSON", serde_json::from_str(&s).ok(), &s).unwrap_or_default(),
    })
}

/// Maps a row selected with [`JOB_COLUMNS`].
pub(crate) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRow> {
    let state: String = row.get(13)?;
    Ok(JobRow {
        id: row.get(0)?,
        args: lossy_text(row, 1)?.unwrap_or_default(),
        attempt: row.get(2)?,
        attempted_at: opt_timestamp(row, 3)?,
        attempted_by: json_column(row, 4)?,
        created_at: timestamp(row, 5)?,
        errors: json_column::<Vec<AttemptError>>(row, 6)?,
        finalized_at: opt_timestamp(row, 7)?,
        kind: row.get(8)?,
        max_attempts: row.get(9)?,
        metadata: json_column(row, 10)?,
        priority: row.get(11)?,
        queue: row.get(12)?,
        state: state
            .parse()
            .map_err(|_| conversion_error(13, format!("unknown state {state:?}")))?,
        scheduled_at: timestamp(row, 14)?,
        tags: json_column(row, 15)?,
        unique_key: row.get(16)?,
        unique_states: row.get(17)?,
    })
}

/// Rows per multi-row INSERT (12 parameters each, well under SQLite's limit).
const INSERT_CHUNK: usize = 1000;

/// The columns every insert binds, in [`bind_job`] order.
const INSERT_INTO: &str = "INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, \
     priority, queue, scheduled_at, state, tags, unique_key, unique_states)";
/// One row of placeholders for [`INSERT_INTO`].
const INSERT_ROW: &str = "(jsonb(?),?,?,?,jsonb(?),?,?,?,?,jsonb(?),?,?)";

fn insert_sql(rows: usize) -> String {
    let values = vec![INSERT_ROW; rows].join(",");
    // Only the id (and unique key, to match rows up) comes back: the rest of
    // the row is what was bound, so reading it back (and converting JSONB to
    // text and parsing it again) would be wasted work.
    format!("{INSERT_INTO} VALUES {values} ON CONFLICT DO NOTHING RETURNING id, unique_key")
}

/// The SQL for a full chunk, built once.
fn full_chunk_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| insert_sql(INSERT_CHUNK))
}

/// The row as stored by [`insert`]: the bound values plus the columns' defaults.
fn inserted_row(job: NewJob, id: i64, created_at: DateTime<Utc>) -> JobRow {
    JobRow {
        id,
        args: job.args,
        attempt: 0,
        attempted_at: None,
        attempted_by: Vec::new(),
        created_at,
        errors: Vec::new(),
        finalized_at: None,
        kind: job.kind,
        max_attempts: job.max_attempts,
        metadata: job.metadata,
        priority: job.priority,
        queue: job.queue,
        state: job.state,
        scheduled_at: job.scheduled_at,
        tags: job.tags,
        unique_key: job.unique_key,
        unique_states: job.unique_states,
    }
}

/// Binds one job's 12 values after parameter `at` (0-based; parameters are 1-based).
fn bind_job(
    stmt: &mut rusqlite::Statement<'_>,
    at: usize,
    job: &NewJob,
    created_at: &str,
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at + 1, &job.args)?;
    stmt.raw_bind_parameter(at + 2, created_at)?;
    stmt.raw_bind_parameter(at + 3, &job.kind)?;
    stmt.raw_bind_parameter(at + 4, job.max_attempts)?;
    stmt.raw_bind_parameter(at + 5, &job.metadata_json)?;
    stmt.raw_bind_parameter(at + 6, job.priority)?;
    stmt.raw_bind_parameter(at + 7, &job.queue)?;
    stmt.raw_bind_parameter(at + 8, &job.scheduled_at_text)?;
    stmt.raw_bind_parameter(at + 9, job.state.as_str())?;
    stmt.raw_bind_parameter(at + 10, &job.tags_json)?;
    stmt.raw_bind_parameter(at + 11, &job.unique_key)?;
    stmt.raw_bind_parameter(at + 12, job.unique_states)
}

/// One job, without RETURNING (which costs a temporary table per statement):
/// the connection's change count and last rowid say what happened.
fn insert_one(
    conn: &Connection,
    job: NewJob,
    created_text: &str,
    created_at: DateTime<Utc>,
) -> Result<InsertResult> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql =
        SQL.get_or_init(|| format!("{INSERT_INTO} VALUES {INSERT_ROW} ON CONFLICT DO NOTHING"));
    let mut stmt = conn.prepare_cached(sql)?;
    bind_job(&mut stmt, 0, &job, created_text)?;
    if stmt.raw_execute()? == 1 {
        Ok(InsertResult {
            job: inserted_row(job, conn.last_insert_rowid(), created_at),
            unique_skipped_as_duplicate: false,
        })
    } else {
        Ok(InsertResult {
            job: existing_unique(conn, &job)?,
            unique_skipped_as_duplicate: true,
        })
    }
}

/// Inserts `jobs` with multi-row statements. A unique job whose key exists in
/// one of its unique states is skipped, and the existing row is returned.
pub(crate) fn insert(
    conn: &Connection,
    jobs: Vec<NewJob>,
    now: DateTime<Utc>,
) -> Result<Vec<InsertResult>> {
    let created_text = time::format(now);
    let created_at = time::parse(&created_text).unwrap_or(now);
    let mut results = Vec::with_capacity(jobs.len());
    if jobs.len() == 1 {
        for job in jobs {
            results.push(insert_one(conn, job, &created_text, created_at)?);
        }
        return Ok(results);
    }
    // Rows move into the results: no copy of their strings per job.
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let chunk: Vec<NewJob> = jobs.by_ref().take(INSERT_CHUNK).collect();
        // Only the full chunk's statement is cached: one cached statement per
        // distinct batch size would hold megabytes per connection.
        let (mut cached, mut fresh);
        let stmt: &mut rusqlite::Statement<'_> = if chunk.len() == INSERT_CHUNK {
            cached = conn.prepare_cached(full_chunk_sql())?;
            &mut cached
        } else {
            fresh = conn.prepare(&insert_sql(chunk.len()))?;
            &mut fresh
        };
        for (i, job) in chunk.iter().enumerate() {
            bind_job(stmt, i * 12, job, &created_text)?;
        }
        let mut inserted: Vec<(i64, Option<Vec<u8>>)> = Vec::with_capacity(chunk.len());
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            inserted.push((row.get(0)?, row.get(1)?));
        }
        drop(rows);
        // Ids grow in VALUES order, so sorting by id restores the input order
        // of the rows that were inserted; the rest were skipped as duplicates.
        inserted.sort_unstable_by_key(|(id, _)| *id);
        let mut inserted = inserted.into_iter().peekable();
        for job in chunk {
            let is_this_one = inserted
                .peek()
                .is_some_and(|(_, key)| job.unique_key.is_none() || *key == job.unique_key);
            match inserted.next_if(|_| is_this_one) {
                Some((id, _)) => results.push(InsertResult {
                    job: inserted_row(job, id, created_at),
                    unique_skipped_as_duplicate: false,
                }),
                None => results.push(InsertResult {
                    job: existing_unique(conn, &job)?,
                    unique_skipped_as_duplicate: true,
                }),
            }
        }
    }
    Ok(results)
}

/// The row that made a unique insert a duplicate.
fn existing_unique(conn: &Connection, job: &NewJob) -> Result<JobRow> {
    let key = job.unique_key.as_deref().ok_or(Error::NotFound)?;
    // The WHERE repeats river_job_unique_idx's own condition, so that SQLite
    // searches that partial index instead of scanning the table.
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM river_job WHERE unique_key = ?1 \
         AND unique_key IS NOT NULL AND unique_states IS NOT NULL AND CASE state \
           WHEN 'available' THEN unique_states & (1 << 0) \
           WHEN 'cancelled' THEN unique_states & (1 << 1) \
           WHEN 'completed' THEN unique_states & (1 << 2) \
           WHEN 'discarded' THEN unique_states & (1 << 3) \
           WHEN 'pending'   THEN unique_states & (1 << 4) \
           WHEN 'retryable' THEN unique_states & (1 << 5) \
           WHEN 'running'   THEN unique_states & (1 << 6) \
           WHEN 'scheduled' THEN unique_states & (1 << 7) \
           ELSE 0 END >= 1"
    );
    conn.prepare_cached(&sql)?
        .query_row([key], job_from_row)
        .optional()?
        .ok_or(Error::NotFound)
}

/// One job by id.
pub(crate) fn get(conn: &Connection, id: i64) -> Result<JobRow> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM river_job WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], job_from_row)
        .optional()?
        .ok_or(Error::NotFound)
}

fn json_array<T: serde::Serialize>(items: &[T]) -> Result<Value> {
    Ok(Value::Text(serde_json::to_string(items)?))
}

/// A page of jobs matching `params`.
pub(crate) fn list(conn: &Connection, params: &JobListParams) -> Result<JobListPage> {
    let limit = params.page_size()?;
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut filter = |column: &str, items: Value| {
        values.push(items);
        clauses.push(format!(
            "{column} IN (SELECT value FROM json_each(?{}))",
            values.len()
        ));
    };
    if !params.states.is_empty() {
        filter("state", json_array(&params.states)?);
    }
    if !params.queues.is_empty() {
        filter("queue", json_array(&params.queues)?);
    }
    if !params.kinds.is_empty() {
        filter("kind", json_array(&params.kinds)?);
    }
    if !params.priorities.is_empty() {
        filter("priority", json_array(&params.priorities)?);
    }
    if !params.ids.is_empty() {
        filter("id", json_array(&params.ids)?);
    }
    if !params.tags.is_empty() {
        values.push(json_array(&params.tags)?);
        let n = values.len();
        clauses.push(if params.tags_match_all {
            format!(
                "NOT EXISTS (SELECT 1 FROM json_each(?{n}) wanted WHERE wanted.value NOT IN \
                 (SELECT value FROM json_each(iif(json_valid(river_job.tags, 10), river_job.tags, '[]'))))"
            )
        } else {
            format!(
                "EXISTS (SELECT 1 FROM json_each(iif(json_valid(river_job.tags, 10), river_job.tags, '[]')) t WHERE t.value IN \
                 (SELECT value FROM json_each(?{n})))"
            )
        });
    }
    let (cmp, dir) = if params.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &params.after {
        values.push(Value::Integer(cursor.id));
        let n = values.len();
        clauses.push(match params.order_by {
            JobListOrderBy::Id => format!("id {cmp} ?{n}"),
            // The cursor row's stored text, where it still exists: the
            // order is the column's text order, whatever form another
            // driver wrote it in.
            JobListOrderBy::ScheduledAt => {
                values.push(Value::Text(time::format(cursor.scheduled_at)));
                format!(
                    "(scheduled_at, id) {cmp} (coalesce((SELECT scheduled_at FROM river_job \
                     WHERE id = ?{n}), ?{}), ?{n})",
                    n + 1
                )
            }
        });
    }
    let order = match params.order_by {
        JobListOrderBy::Id => format!("id {dir}"),
        JobListOrderBy::ScheduledAt => format!("scheduled_at {dir}, id {dir}"),
    };
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    // One extra row tells whether another page follows.
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM river_job {where_clause} ORDER BY {order} LIMIT {}",
        limit + 1
    );
    let mut jobs = conn
        .prepare(&sql)?
        .query_map(params_from_iter(values), job_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(JobListCursor::from_job)
    } else {
        None
    };
    Ok(JobListPage { jobs, next })
}

/// Cancels a job: not-yet-running ones become cancelled; a running one is
/// marked with `metadata.cancel_attempted_at` for its owner to see; a
/// finished one is returned unchanged.
pub(crate) fn cancel(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<JobRow> {
    let job = get(conn, id)?;
    if job.state.is_finalized() {
        return Ok(job);
    }
    // River writes and parses the request's time in RFC 3339.
    let sql = format!(
        "UPDATE river_job SET \
           metadata = jsonb_set(metadata, '$.cancel_attempted_at', ?3), \
           state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END, \
           finalized_at = CASE WHEN state = 'running' THEN finalized_at ELSE ?2 END \
         WHERE id = ?1 RETURNING {JOB_COLUMNS}"
    );
    let job = conn.prepare_cached(&sql)?.query_row(
        params![id, time::format(now), time::format_rfc3339(now)],
        job_from_row,
    )?;
    if job.state == JobState::Running {
        // Its owner may be a River client, which hears of it this way.
        let cancel = Notification::Cancel {
            job_id: job.id,
            queue: job.queue.clone(),
        };
        super::notifications::notify(conn, &cancel)?;
    }
    Ok(job)
}

/// Makes a job available now, unless it is running (then it is returned
/// unchanged). A job with its attempts used up gets one more.
pub(crate) fn retry(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<JobRow> {
    let job = get(conn, id)?;
    // Running, or already available and due: nothing to do (River's rule,
    // which keeps an available job's place in line).
    if job.state == JobState::Running
        || (job.state == JobState::Available && job.scheduled_at <= now)
    {
        return Ok(job);
    }
    let sql = format!(
        "UPDATE river_job SET state = 'available', scheduled_at = ?2, finalized_at = NULL, \
           max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END \
         WHERE id = ?1 RETURNING {JOB_COLUMNS}"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, time::format(now)], job_from_row)?)
}

/// Deletes a job that is not running, returning it.
pub(crate) fn delete(conn: &Connection, id: i64) -> Result<JobRow> {
    let job = get(conn, id)?;
    if job.state == JobState::Running {
        return Err(Error::JobRunning(id));
    }
    conn.prepare_cached("DELETE FROM river_job WHERE id = ?1 AND state != 'running'")?
        .execute([id])?;
    Ok(job)
}

/// Job counts per (queue, state).
pub(crate) fn count_by_queue_and_state(conn: &Connection) -> Result<Vec<JobCount>> {
    // Grouped in the fetching index's own order (state, queue), so SQLite
    // counts along it with no sort; the few groups are sorted here.
    let mut stmt =
        conn.prepare_cached("SELECT queue, state, count(*) FROM river_job GROUP BY state, queue")?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(1)?;
        Ok((r.get(0)?, state, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (queue, state, count) = row?;
        out.push(JobCount {
            queue,
            state: state.parse()?,
            count,
        });
    }
    out.sort_by(|a: &JobCount, b: &JobCount| {
        (a.queue.as_str(), a.state.as_str()).cmp(&(b.queue.as_str(), b.state.as_str()))
    });
    Ok(out)
}

/// A claimed job, and why it cannot run if its row is unreadable.
#[derive(Debug)]
pub(crate) struct Claimed {
    /// The row as claimed.
    pub row: JobRow,
    /// Which JSON column is malformed, and what it holds: such a job is
    /// never run (see `Outcome::Unreadable`).
    pub unreadable: Option<String>,
}

/// Raw values quoted in an unreadable row's error are cut to this many characters.
const RAW_QUOTED: usize = 200;

fn claimed_from_row(row: &Row<'_>) -> rusqlite::Result<Claimed> {
    let unreadable = match row.get::<_, Option<u8>>(18)? {
        None => None,
        Some(col) => {
            let col = usize::from(col);
            let raw = lossy_text(row, col)?.unwrap_or_default();
            let raw: String = raw.chars().take(RAW_QUOTED).collect();
            Some(format!(
                "column {} is not valid JSON: {raw:?}",
                column_name(col)
            ))
        }
    };
    Ok(Claimed {
        row: job_from_row(row)?,
        unreadable,
    })
}

/// Claims up to `limit` due jobs of `queue` for `client_id`, unless the queue
/// is paused, in one statement. Rows come back sorted by (priority,
/// scheduled_at, id), since `RETURNING` has no set order.
///
/// A row with malformed JSON is claimed like any other (its `attempted_by`
/// left as it is), and comes back marked unreadable: failing the statement
/// instead would fail every claim of the queue.
///
/// The limit is `(SELECT ?2)`, so the cached statement is not compiled
/// again at each claim (see the `db` module).
pub(crate) fn claim(
    conn: &Connection,
    queue: &str,
    client_id: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>> {
    let mut jobs = conn
        .prepare_cached(claim_sql())?
        .query_map(
            params![queue, limit as i64, time::format(now), client_id],
            claimed_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    jobs.sort_unstable_by_key(|c| (c.row.priority, c.row.scheduled_at, c.row.id));
    Ok(jobs)
}

/// The claim's SQL, built once: it runs at every cycle of work.
fn claim_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = ?3, \
               attempted_by = CASE WHEN json_valid(attempted_by, 10) IS 0 THEN attempted_by \
                 ELSE jsonb_insert( \
                   CASE WHEN json_array_length(attempted_by) >= 100 THEN jsonb_remove(attempted_by, '$[0]') \
                        ELSE coalesce(attempted_by, jsonb('[]')) END, '$[#]', ?4) END \
             WHERE id IN ( \
               SELECT id FROM river_job \
               WHERE state = 'available' AND queue = ?1 AND {due} \
                 AND NOT EXISTS (SELECT 1 FROM river_queue WHERE name = ?1 AND paused_at IS NOT NULL) \
               ORDER BY priority, scheduled_at, id LIMIT (SELECT ?2)) \
             RETURNING {JOB_COLUMNS}, {UNREADABLE_COLUMN}",
            due = stored_time_cmp("scheduled_at", "<=", "?3")
        )
    })
}

/// What [`complete`] wrote for one update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Written {
    /// Nothing: the guard let it pass (the job was rescued, finished or
    /// claimed again meanwhile).
    Nothing,
    /// A plain completion.
    Completed,
    /// Any other outcome, with the row as written.
    Row(Box<JobRow>),
}

impl Written {
    /// The state written, if anything was.
    pub(crate) fn state(&self) -> Option<JobState> {
        match self {
            Written::Nothing => None,
            Written::Completed => Some(JobState::Completed),
            Written::Row(row) => Some(row.state),
        }
    }
}

/// Writes outcomes as `model::outcome` decided them, in the caller's
/// transaction. Each is guarded by `state = 'running'` and its attempt, so
/// a job that was rescued or finished elsewhere is never overwritten.
///
/// An update's `if_cancel_requested` alternative is written instead when
/// the row records a cancel request (`metadata.cancel_attempted_at`) at
/// this moment (a snooze still gives its attempt back).
///
/// Plain completions, the bulk of any batch, go in one statement; other
/// outcomes take one cached statement per row.
pub(crate) fn complete(
    conn: &Connection,
    updates: &[JobUpdate],
    now: DateTime<Utc>,
) -> Result<Vec<Written>> {
    let plain: Vec<&JobUpdate> = updates.iter().filter(|u| u.is_plain_completion()).collect();
    let completed = complete_plain(conn, &plain, now)?;
    // An update's alternative (`?9`) applies when the row records a cancel request.
    let take_alternative = format!("?9 IS NOT NULL AND {CANCEL_REQUESTED}");
    let sql = format!(
        "UPDATE river_job SET \
           state = CASE WHEN {take_alternative} THEN ?9 ELSE ?3 END, \
           finalized_at = CASE WHEN {take_alternative} THEN ?10 ELSE ?5 END, \
           scheduled_at = CASE WHEN {take_alternative} THEN scheduled_at \
                               ELSE coalesce(?4, scheduled_at) END, \
           errors = CASE WHEN ?6 IS NULL THEN errors \
                         WHEN json_valid(errors, 10) IS 0 THEN jsonb_array(jsonb(?6)) \
                         ELSE jsonb_insert(coalesce(errors, jsonb('[]')), '$[#]', jsonb(?6)) END, \
           attempt = CASE WHEN ?7 THEN attempt - 1 ELSE attempt END, \
           metadata = CASE \
             WHEN json_valid(metadata, 10) IS 0 THEN metadata \
             WHEN ?7 THEN \
               jsonb_set(metadata, '$.snoozes', coalesce(metadata ->> 'snoozes', 0) + 1) \
             WHEN ?8 THEN jsonb_set(metadata, '$.\"river:rescue_count\"', \
                                    coalesce(metadata ->> '$.\"river:rescue_count\"', 0) + 1) \
             ELSE metadata END \
         WHERE id = ?1 AND attempt = ?2 AND state = 'running' \
         RETURNING {JOB_COLUMNS}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut written = Vec::with_capacity(updates.len());
    for u in updates {
        if u.is_plain_completion() {
            written.push(if completed.contains(&(u.id, u.attempt)) {
                Written::Completed
            } else {
                Written::Nothing
            });
            continue;
        }
        let error = u.error.as_ref().map(serde_json::to_string).transpose()?;
        let alternative = u.if_cancel_requested;
        let row = stmt
            .query_row(
                params![
                    u.id,
                    u.attempt,
                    u.state.as_str(),
                    u.scheduled_at.map(time::format),
                    u.finalized_at.map(time::format),
                    error,
                    u.snoozed,
                    u.rescued,
                    alternative.map(|a| a.state.as_str()),
                    alternative.map(|a| time::format(a.finalized_at)),
                ],
                job_from_row,
            )
            .optional()?;
        written.push(row.map_or(Written::Nothing, |row| Written::Row(Box::new(row))));
    }
    Ok(written)
}

/// True when the row records a cancel request of its current attempt: one
/// made at or after the attempt started. A request made before (the job was
/// cancelled, then retried, by riverlite or by River) belongs to an earlier
/// attempt. A time that does not parse counts as a request, so a cancel is
/// never lost; metadata that is not JSON records none.
const CANCEL_REQUESTED: &str = "(CASE WHEN json_valid(metadata, 10) THEN \
     metadata ->> 'cancel_attempted_at' IS NOT NULL AND \
     coalesce(julianday(metadata ->> 'cancel_attempted_at') >= julianday(attempted_at), 1) END)";

/// Marks plain completions in one statement; returns the (id, attempt)
/// pairs written. `id IN ids` finds the rows by primary key (the unary `+`
/// keeps SQLite from preferring the state index instead), and
/// `id:attempt IN keys` is each row's attempt guard.
fn complete_plain(
    conn: &Connection,
    updates: &[&JobUpdate],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<(i64, i64)>> {
    if updates.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
    let keys: Vec<String> = updates
        .iter()
        .map(|u| format!("{}:{}", u.id, u.attempt))
        .collect();
    let mut stmt = conn.prepare_cached(
        "UPDATE river_job SET state = 'completed', finalized_at = ?3 \
         WHERE id IN (SELECT value FROM json_each(?1)) \
           AND (id || ':' || attempt) IN (SELECT value FROM json_each(?2)) \
           AND +state = 'running' \
         RETURNING id, attempt",
    )?;
    let written = stmt.query_map(
        params![
            serde_json::to_string(&ids)?,
            serde_json::to_string(&keys)?,
            time::format(now)
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(written.collect::<rusqlite::Result<_>>()?)
}

/// Of the given running jobs, those someone asked to cancel during their
/// current attempt (see [`CANCEL_REQUESTED`]).
pub(crate) fn cancel_requested(conn: &Connection, ids: &[i64]) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT id FROM river_job WHERE id IN (SELECT value FROM json_each(?1)) \
           AND state = 'running' AND {CANCEL_REQUESTED}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt.query_map([serde_json::to_string(ids)?], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

/// The most recently inserted job of `kind`.
pub(crate) fn latest_of_kind(conn: &Connection, kind: &str) -> Result<JobRow> {
    let sql =
        format!("SELECT {JOB_COLUMNS} FROM river_job WHERE kind = ?1 ORDER BY id DESC LIMIT 1");
    conn.prepare_cached(&sql)?
        .query_row([kind], job_from_row)
        .optional()?
        .ok_or(Error::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::{self, Outcome, OutcomeRules};
    use crate::model::{failed, DefaultRetryPolicy, WorkOutcome};

    #[test]
    fn claims_of_any_size_reuse_one_compiled_statement() {
        let conn = crate::db::test_connection();
        for n in 0..3 {
            conn.execute(
                "INSERT INTO river_job (args, kind, queue, state) \
                 VALUES (jsonb(?1), 'k', 'default', 'available')",
                [format!("{{\"n\":{n}}}")],
            )
            .unwrap();
        }
        let now = Utc::now() + chrono::Duration::seconds(1);
        for limit in [1, 2, 5] {
            claim(&conn, "default", "me", limit, now).unwrap();
        }
        let stmt = conn.prepare_cached(claim_sql()).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "a bound limit must not make SQLite compile the claim again"
        );
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::Run), 3);
    }

    /// A database with one job running its second attempt.
    fn running_job(metadata: &str) -> (Connection, i64) {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate::prepare(&mut conn, true).unwrap();
        conn.execute(
            "INSERT INTO river_job (args, kind, state, attempt, attempted_at, metadata) \
             VALUES (jsonb('{}'), 'k', 'running', 2, '2026-01-01 00:00:00.000', jsonb(?1))",
            [metadata],
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        (conn, id)
    }

    /// The update `model::outcome` decides for attempt `attempt` of job `id`
    /// completing (`failure: None`) or failing with a message.
    fn update(conn: &Connection, id: i64, attempt: i64, failure: Option<&str>) -> JobUpdate {
        let row = JobRow {
            attempt,
            ..get(conn, id).unwrap()
        };
        let outcome = match failure {
            None => WorkOutcome {
                result: Ok(()),
                next_retry: None,
                timed_out: false,
            },
            Some(message) => failed(message.into()),
        };
        let rules = OutcomeRules {
            retry_policy: &DefaultRetryPolicy,
            available_within: std::time::Duration::from_secs(5),
        };
        outcome::decide(&row, Outcome::Worked(&outcome), false, &rules, Utc::now())
    }

    #[test]
    fn outcomes_only_touch_the_running_attempt_they_belong_to() {
        let (conn, id) = running_job("{}");
        let now = Utc::now();
        let stale_and_current = [update(&conn, id, 1, None), update(&conn, id, 2, None)];
        let written = complete(&conn, &stale_and_current, now).unwrap();
        assert_eq!(written, vec![Written::Nothing, Written::Completed]);
        // No longer running: a late retry of the same attempt changes nothing.
        let retry = update(&conn, id, 2, Some("failed"));
        let written = complete(&conn, &[retry], now).unwrap();
        assert_eq!(written, vec![Written::Nothing]);
        assert_eq!(get(&conn, id).unwrap().state, JobState::Completed);
    }

    #[test]
    fn a_retry_of_a_job_someone_cancelled_is_written_cancelled() {
        let (conn, id) = running_job(r#"{"cancel_attempted_at":"2026-01-01T00:00:00Z"}"#);
        let now = Utc::now();
        let retry = update(&conn, id, 2, Some("failed"));
        assert_eq!(
            retry.state,
            JobState::Available,
            "decided without the request"
        );
        let written = complete(&conn, &[retry], now).unwrap();
        assert_eq!(written[0].state(), Some(JobState::Cancelled));
        let job = get(&conn, id).unwrap();
        assert_eq!(job.state, JobState::Cancelled);
        assert!(job.finalized_at.is_some());
    }

    #[test]
    fn rows_with_unreadable_values_still_decode() {
        let (conn, id) = running_job("{}");
        conn.execute(
            "UPDATE river_job SET attempted_at = 12345, errors = jsonb('[{\"x\":1}]') WHERE id = ?1",
            [id],
        )
        .unwrap();
        let job = get(&conn, id).unwrap();
        assert_eq!(job.attempted_at, None);
        assert!(job.errors.is_empty());
    }
}
