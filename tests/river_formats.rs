//! Rows River's drivers wrote, in every time form they use, decode to the instants written and become due, stuck or expired when they are.

mod common;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{raw, temp_db, wait_for_state, wait_until, Noop};
use riverlite::rusqlite::params;
use riverlite::{
    work_fn, Client, JobListOrderBy, JobListParams, JobState, MaintenanceConfig, QueueConfig,
};

/// `t` in each form River's drivers store: riverlite's own, SQLite's
/// `CURRENT_TIMESTAMP`, Go's `time.Time.String()` (with and without the
/// monotonic clock), RFC 3339 with `Z` or `+00:00`, and SQL text with an
/// attached offset.
fn forms(t: DateTime<Utc>) -> Vec<String> {
    let go = t.format("%Y-%m-%d %H:%M:%S%.9f +0000 UTC").to_string();
    vec![
        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        t.format("%Y-%m-%d %H:%M:%S").to_string(),
        go.clone(),
        format!("{go} m=+0.006196433"),
        t.to_rfc3339_opts(SecondsFormat::Nanos, true),
        t.to_rfc3339_opts(SecondsFormat::Millis, false),
        t.format("%Y-%m-%d %H:%M:%S%.3f+00:00").to_string(),
    ]
}

/// Inserts one Noop job per form and sets `column` (and `state`) to it.
fn job_per_form(client: &Client, path: &std::path::Path, t: DateTime<Utc>) -> Vec<(String, i64)> {
    forms(t)
        .into_iter()
        .map(|form| {
            let id = client.insert(Noop { n: 0 }, None).unwrap().job.id;
            (form, id)
        })
        .inspect(|(form, id)| {
            raw(path)
                .execute(
                    "UPDATE river_job SET scheduled_at = ?2 WHERE id = ?1",
                    params![id, form],
                )
                .unwrap();
        })
        .collect()
}

fn fast() -> MaintenanceConfig {
    common::fast_maintenance()
}

fn working(path: &std::path::Path, maintenance: MaintenanceConfig) -> Client {
    Client::builder(path)
        .queue("default", QueueConfig::new(4))
        .worker(work_fn::<Noop, _>(|_| Ok(())))
        .maintenance(maintenance)
        .build()
        .unwrap()
}

#[test]
fn every_form_decodes_to_the_instant_written() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let t = DateTime::parse_from_rfc3339("2026-12-01T19:22:06.985Z")
        .unwrap()
        .with_timezone(&Utc);
    for (form, id) in job_per_form(&client, &path, t) {
        raw(&path)
            .execute(
                "UPDATE river_job SET state = 'completed', finalized_at = ?2, attempted_at = ?2 \
                 WHERE id = ?1",
                params![id, form],
            )
            .unwrap();
        let job = client.job_get(id).unwrap();
        // CURRENT_TIMESTAMP's form has whole seconds only.
        let expected = if form.len() == 19 {
            t.with_timezone(&Utc) - chrono::Duration::milliseconds(985)
        } else {
            t
        };
        assert_eq!(job.scheduled_at, expected, "scheduled_at {form}");
        assert_eq!(job.finalized_at, Some(expected), "finalized_at {form}");
        assert_eq!(job.attempted_at, Some(expected), "attempted_at {form}");
    }
}

/// Times a few seconds apart on the same UTC day, where text order and
/// time order part for RFC 3339's `T`.
fn ago(seconds: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(seconds)
}

#[test]
fn a_job_another_driver_scheduled_runs_once_due_and_not_before() {
    let (_dir, path) = temp_db();
    let client = working(&path, fast());
    client.queue_pause("default").unwrap();
    let due = job_per_form(&client, &path, ago(20));
    let later = job_per_form(&client, &path, Utc::now() + chrono::Duration::hours(1));
    let retry_due = job_per_form(&client, &path, ago(20));
    for (_, id) in &retry_due {
        raw(&path)
            .execute(
                "UPDATE river_job SET state = 'retryable' WHERE id = ?1",
                [id],
            )
            .unwrap();
    }
    client.start().unwrap();
    client.queue_resume("default").unwrap();

    for (form, id) in due.iter().chain(&retry_due) {
        let job = wait_for_state(&client, *id, JobState::Completed);
        assert_eq!(job.attempt, 1, "{form}");
    }
    for (form, id) in &later {
        assert_eq!(
            client.job_get(*id).unwrap().state,
            JobState::Available,
            "{form} is an hour ahead"
        );
    }
    client.stop().unwrap();
}

#[test]
fn stuck_and_expired_rows_are_found_in_every_form() {
    let (_dir, path) = temp_db();
    let client = working(
        &path,
        MaintenanceConfig {
            rescue_stuck_jobs_after: Duration::from_secs(10),
            completed_retention: Some(Duration::from_secs(10)),
            ..fast()
        },
    );
    client.queue_pause("default").unwrap();
    let mark = |t: DateTime<Utc>, sql: &str| -> Vec<(String, i64)> {
        job_per_form(&client, &path, t)
            .into_iter()
            .inspect(|(form, id)| {
                raw(&path).execute(sql, params![id, form]).unwrap();
            })
            .collect()
    };
    let running = "UPDATE river_job SET state = 'running', attempt = 1, attempted_at = ?2, \
                   attempted_by = jsonb_array('some-river-client') WHERE id = ?1";
    let completed = "UPDATE river_job SET state = 'completed', finalized_at = ?2 WHERE id = ?1";
    let stuck = mark(ago(30), running);
    let still_running = mark(ago(1), running);
    let expired = mark(ago(30), completed);
    let kept = mark(ago(1), completed);
    client.start().unwrap();

    for (form, id) in &stuck {
        let job = wait_for_state(&client, *id, JobState::Retryable);
        assert_eq!(job.metadata["river:rescue_count"], 1, "{form}");
    }
    wait_until(&client, "expired jobs deleted", || {
        expired.iter().all(|(_, id)| client.job_get(*id).is_err())
    });
    for (form, id) in &still_running {
        assert_eq!(
            client.job_get(*id).unwrap().state,
            JobState::Running,
            "{form}"
        );
    }
    for (form, id) in &kept {
        assert!(client.job_get(*id).is_ok(), "{form} is within retention");
    }
    client.stop().unwrap();
}

#[test]
fn pages_by_scheduled_time_list_every_row_once_whatever_its_form() {
    let (_dir, path) = temp_db();
    let client = Client::builder(&path).build().unwrap();
    let mut ids: Vec<i64> = (0..5)
        .flat_map(|s| job_per_form(&client, &path, ago(s)))
        .map(|(_, id)| id)
        .collect();
    let mut params = JobListParams::new()
        .order_by(JobListOrderBy::ScheduledAt)
        .first(3);
    let mut listed = Vec::new();
    loop {
        let page = client.job_list(&params).unwrap();
        listed.extend(page.jobs.iter().map(|j| j.id));
        assert!(listed.len() <= ids.len(), "pages repeat rows: {listed:?}");
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => break,
        }
    }
    listed.sort_unstable();
    ids.sort_unstable();
    assert_eq!(listed, ids);
}
