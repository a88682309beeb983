//! The dashboard's reads: jobs finalized per minute, each queue's oldest available job, and job pages that stay fast on files with millions of rows.
//!
//! River's indexes are fixed, so each query is written for one of them:
//! `river_job_state_and_finalized_at_index` for the per-minute series,
//! `river_job_prioritized_fetching_index (state, queue, priority,
//! scheduled_at, id)` for the oldest job and for state and queue filters,
//! and `river_job_kind` (whose entries end in the rowid) for kind filters.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

use super::jobs::{job_from_row, JOB_COLUMNS};
use crate::error::Result;
use crate::model::job::{JobRow, JobState};
use crate::model::time;

/// How many jobs of one final state were finalized in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FinalizedMinute {
    /// Minutes after the first one asked for (0-based).
    pub minute: usize,
    /// Completed, cancelled or discarded.
    pub state: JobState,
    /// How many.
    pub count: i64,
}

/// Jobs finalized in each of `minutes` minutes from `first`, per final
/// state. Each (minute, state) is a count over one range of
/// `river_job_state_and_finalized_at_index`, once for times stored with a
/// space and once for RFC 3339 times (with a `T`), which sort apart; a
/// count over an index range costs far less than grouping the rows.
pub(crate) fn finalized_per_minute(
    conn: &Connection,
    first: DateTime<Utc>,
    minutes: usize,
) -> Result<Vec<FinalizedMinute>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE m(i, lo, hi) AS (
           SELECT 0, strftime('%Y-%m-%d %H:%M:00', ?1), strftime('%Y-%m-%d %H:%M:00', ?1, '+1 minutes')
           UNION ALL
           SELECT i + 1, hi, strftime('%Y-%m-%d %H:%M:00', hi, '+1 minutes') FROM m WHERE i + 1 < ?2
         ),
         s(state) AS (VALUES ('completed'), ('cancelled'), ('discarded'))
         SELECT m.i, s.state,
           (SELECT count(*) FROM river_job WHERE state = s.state AND finalized_at >= m.lo AND finalized_at < m.hi)
           + (SELECT count(*) FROM river_job WHERE state = s.state
                AND finalized_at >= replace(m.lo, ' ', 'T') AND finalized_at < replace(m.hi, ' ', 'T')) AS n
         FROM m, s",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![time::format(first), minutes as i64],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (minute, state, count) = row?;
        if count > 0 {
            out.push(FinalizedMinute {
                minute: usize::try_from(minute).unwrap_or_default(),
                state: state.parse()?,
                count,
            });
        }
    }
    Ok(out)
}

/// When the longest-waiting available job of `queue` was scheduled: one
/// index seek per priority for the earliest stored text, and, because an
/// RFC 3339 time (with a `T`) sorts after its day's other forms, one more
/// for that day's earliest `T` time; the earlier of the two instants wins.
pub(crate) fn oldest_available(conn: &Connection, queue: &str) -> Result<Option<DateTime<Utc>>> {
    let earliest = |extra: &str, day: &str| -> Result<Option<String>> {
        let per_priority: Vec<String> = (1..=4)
            .map(|p| {
                format!(
                    "SELECT min(scheduled_at) AS t FROM river_job \
                     WHERE state = 'available' AND queue = ?1 AND priority = {p} {extra}"
                )
            })
            .collect();
        let sql = format!("SELECT min(t) FROM ({})", per_priority.join(" UNION ALL "));
        let mut stmt = conn.prepare_cached(&sql)?;
        let found = if extra.is_empty() {
            stmt.query_row([queue], |r| r.get(0))
        } else {
            stmt.query_row([queue, day], |r| r.get(0))
        };
        Ok(found.optional()?.flatten())
    };
    let Some(first) = earliest("", "")? else {
        return Ok(None);
    };
    let day: String = first.chars().take(10).collect();
    let same_day_t = earliest(
        "AND scheduled_at >= ?2 || 'T' AND scheduled_at < ?2 || 'U'",
        &day,
    )?;
    Ok([Some(first), same_day_t]
        .into_iter()
        .flatten()
        .filter_map(|s| time::parse(&s))
        .min())
}

/// What the jobs page filters on; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct JobFilter {
    /// Only this id.
    pub id: Option<i64>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
}

/// How a page was read, for the page to say when it had to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// By id, or newest first along the primary key.
    Direct,
    /// Along `river_job_kind`.
    KindIndex,
    /// The few matching ids from `river_job_prioritized_fetching_index`, sorted.
    FewFromIndex,
    /// Newest first along the primary key, skipping rows that do not match
    /// (the matches are common, so few are skipped).
    ManyAlongIds,
    /// Every row is read: tags have no index.
    TagScan,
}

/// One page of jobs, newest first.
#[derive(Debug, Clone)]
pub(crate) struct JobPage {
    /// The jobs, by id descending.
    pub jobs: Vec<JobRow>,
    /// The id to pass as `before` for the next page; `None` on the last.
    pub next_before: Option<i64>,
    /// How it was read.
    pub plan: Plan,
}

/// Up to this many matches count as few: sorting their ids (tens of
/// milliseconds at most) costs less than walking the primary key past the
/// rows that do not match. With more, matches are common enough that the
/// walk finds a page quickly, unless they all sit far below newer rows.
const FEW_MATCHES: usize = 50_000;

/// A page of at most `limit` jobs matching `filter` with ids below
/// `before`, newest first, read along whichever index keeps it cheap.
pub(crate) fn job_page(
    conn: &Connection,
    filter: &JobFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<JobPage> {
    // State and queue: the terms the fetching index serves.
    let mut indexed = Terms::default();
    match (filter.state, &filter.queue) {
        (Some(state), _) => indexed.push("state = ?", Value::Text(state.as_str().into())),
        // Every state, so that the fetching index serves a queue alone.
        (None, Some(_)) => indexed.push_sql(&format!(
            "state IN ({})",
            JobState::ALL
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (None, None) => {}
    }
    if let Some(queue) = &filter.queue {
        indexed.push("queue = ?", Value::Text(queue.clone()));
    }
    let few_in_index = !indexed.sql.is_empty()
        && filter.id.is_none()
        && count_up_to(conn, &indexed, FEW_MATCHES + 1)? <= FEW_MATCHES;
    let plan = if filter.id.is_some() {
        Plan::Direct
    } else if few_in_index {
        Plan::FewFromIndex
    } else if filter.kind.is_some() {
        Plan::KindIndex
    } else if filter.tag.is_some() {
        Plan::TagScan
    } else if !indexed.sql.is_empty() {
        Plan::ManyAlongIds
    } else {
        Plan::Direct
    };
    let mut terms = indexed;
    if let Some(id) = filter.id {
        terms.push("id = ?", Value::Integer(id));
    }
    if let Some(kind) = &filter.kind {
        terms.push("kind = ?", Value::Text(kind.clone()));
    }
    if let Some(tag) = &filter.tag {
        terms.push(
            "EXISTS (SELECT 1 FROM json_each(iif(json_valid(river_job.tags, 10), river_job.tags, '[]')) \
             WHERE value = ?)",
            Value::Text(tag.clone()),
        );
    }
    if let Some(before) = before {
        terms.push("id < ?", Value::Integer(before));
    }
    let fetch = limit + 1;
    let w = terms.where_clause();
    let sql = match plan {
        Plan::FewFromIndex => format!(
            "SELECT {JOB_COLUMNS} FROM river_job WHERE id IN (SELECT id FROM river_job \
             INDEXED BY river_job_prioritized_fetching_index {w} ORDER BY id DESC LIMIT {fetch}) \
             ORDER BY id DESC"
        ),
        Plan::KindIndex => format!(
            "SELECT {JOB_COLUMNS} FROM river_job INDEXED BY river_job_kind {w} \
             ORDER BY id DESC LIMIT {fetch}"
        ),
        Plan::ManyAlongIds | Plan::TagScan => format!(
            "SELECT {JOB_COLUMNS} FROM river_job NOT INDEXED {w} ORDER BY id DESC LIMIT {fetch}"
        ),
        Plan::Direct => {
            format!("SELECT {JOB_COLUMNS} FROM river_job {w} ORDER BY id DESC LIMIT {fetch}")
        }
    };
    let mut jobs = conn
        .prepare(&sql)?
        .query_map(params_from_iter(terms.values), job_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_before = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|job| job.id)
    } else {
        None
    };
    Ok(JobPage {
        jobs,
        next_before,
        plan,
    })
}

/// How many rows of the fetching index match `terms`, counting no further than `cap`.
fn count_up_to(conn: &Connection, terms: &Terms, cap: usize) -> Result<usize> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM river_job INDEXED BY river_job_prioritized_fetching_index \
         {} LIMIT {cap})",
        terms.where_clause()
    );
    let n: i64 = conn.query_row(&sql, params_from_iter(terms.values.iter()), |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(cap))
}

/// WHERE terms joined by AND, with their values in order.
#[derive(Default)]
struct Terms {
    sql: Vec<String>,
    values: Vec<Value>,
}

impl Terms {
    fn push(&mut self, sql: &str, value: Value) {
        self.sql.push(sql.to_string());
        self.values.push(value);
    }

    fn push_sql(&mut self, sql: &str) {
        self.sql.push(sql.to_string());
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_connection;

    /// A fixed time to finalize jobs at, so no minute boundary can pass mid-test.
    const FINALIZED: &str = "2026-06-01 12:30:15.000";

    fn insert(conn: &Connection, state: &str, queue: &str, kind: &str, tags: &str) -> i64 {
        let finalized = if ["completed", "cancelled", "discarded"].contains(&state) {
            format!("'{FINALIZED}'")
        } else {
            "NULL".to_string()
        };
        conn.execute(
            &format!(
                "INSERT INTO river_job (args, kind, max_attempts, queue, state, tags, finalized_at) \
                 VALUES (jsonb('{{}}'), ?1, 25, ?2, ?3, jsonb(?4), {finalized})"
            ),
            rusqlite::params![kind, queue, state, tags],
        )
        .expect("insert");
        conn.last_insert_rowid()
    }

    fn ids(page: &JobPage) -> Vec<i64> {
        page.jobs.iter().map(|j| j.id).collect()
    }

    #[test]
    fn every_plan_returns_the_matching_jobs_newest_first_in_pages() {
        let conn = test_connection();
        let mut expected = Vec::new();
        for i in 0..30 {
            let state = if i % 3 == 0 { "completed" } else { "available" };
            let queue = if i % 2 == 0 { "a" } else { "b" };
            let id = insert(&conn, state, queue, "k", r#"["x"]"#);
            expected.push((id, state, queue));
        }
        let filters = [
            JobFilter::default(),
            JobFilter {
                state: Some(JobState::Completed),
                ..Default::default()
            },
            JobFilter {
                queue: Some("b".into()),
                ..Default::default()
            },
            JobFilter {
                kind: Some("k".into()),
                state: Some(JobState::Available),
                ..Default::default()
            },
            JobFilter {
                tag: Some("x".into()),
                queue: Some("a".into()),
                ..Default::default()
            },
        ];
        for filter in filters {
            let want: Vec<i64> = expected
                .iter()
                .rev()
                .filter(|(_, state, queue)| {
                    filter.state.is_none_or(|s| s.as_str() == *state)
                        && filter.queue.as_deref().is_none_or(|q| q == *queue)
                })
                .map(|(id, _, _)| *id)
                .collect();
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let page = job_page(&conn, &filter, before, 4).expect("page");
                got.extend(ids(&page));
                match page.next_before {
                    Some(next) => before = Some(next),
                    None => break,
                }
            }
            assert_eq!(got, want, "{filter:?}");
        }
    }

    #[test]
    fn the_oldest_available_job_is_found_whatever_form_its_time_is_stored_in() {
        let conn = test_connection();
        let a = insert(&conn, "available", "q", "k", "[]");
        let b = insert(&conn, "available", "q", "k", "[]");
        conn.execute(
            "UPDATE river_job SET scheduled_at = CASE id WHEN ?1 THEN '2026-06-01 12:00:00.000' \
             ELSE '2026-06-01T09:00:00Z' END WHERE id IN (?1, ?2)",
            [a, b],
        )
        .expect("times");
        let oldest = oldest_available(&conn, "q").expect("oldest");
        assert_eq!(oldest, time::parse("2026-06-01T09:00:00Z"));
    }

    #[test]
    fn the_oldest_available_job_and_the_finalized_minutes_are_counted() {
        let conn = test_connection();
        insert(&conn, "available", "a", "k", "[]");
        insert(&conn, "completed", "a", "k", "[]");
        insert(&conn, "completed", "a", "k", "[]");
        insert(&conn, "discarded", "a", "k", "[]");
        assert!(oldest_available(&conn, "a").expect("oldest").is_some());
        assert_eq!(oldest_available(&conn, "b").expect("oldest"), None);
        let first = time::parse("2026-06-01 12:00:00").expect("a time");
        let minutes = finalized_per_minute(&conn, first, 60).expect("minutes");
        assert!(minutes.iter().all(|m| m.minute == 30), "{minutes:?}");
        let count = |state| {
            minutes
                .iter()
                .filter(|m| m.state == state)
                .map(|m| m.count)
                .sum::<i64>()
        };
        assert_eq!(count(JobState::Completed), 2);
        assert_eq!(count(JobState::Discarded), 1);
    }
}
