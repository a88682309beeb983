//! The JSON API under `/api/` (documented in the module above): the same reads and actions as the pages, for scripts.

use serde_json::{json, Value};

use super::data::{state_index, MinuteBar, QueueSummary};
use super::http::{Reply, Request};
use super::routes::{job_filter, paging, Problem};
use super::Ui;
use crate::model::durable_schedule::ScheduleRow;
use crate::model::job::{JobRow, JobState};
use crate::model::time::format_rfc3339;

/// Answers `/api/...`; `rest` is the path after `api`.
pub(crate) fn handle(ui: &Ui, req: &Request, rest: &[&str]) -> Reply {
    match answer(ui, req, rest) {
        Ok(value) => Reply::json(200, &value),
        Err(problem) => Reply::json(problem.status, &json!({ "error": problem.message })),
    }
}

fn answer(ui: &Ui, req: &Request, rest: &[&str]) -> Result<Value, Problem> {
    let client = &ui.client;
    Ok(match (req.post, rest) {
        (false, ["session"]) => json!({ "csrf": ui.csrf, "read_only": ui.read_only }),
        (false, ["overview"]) => {
            let overview = ui.overview()?;
            json!({
                "queues": overview.queues.iter().map(queue_json).collect::<Vec<_>>(),
                "finalized_per_minute": overview.minutes.iter().map(minute_json).collect::<Vec<_>>(),
                "leader": overview.leader.map(|l| json!({
                    "leader_id": l.leader_id,
                    "elected_at": format_rfc3339(l.elected_at),
                    "expires_at": format_rfc3339(l.expires_at),
                })),
                "live_clients": overview.live_clients,
            })
        }
        (false, ["jobs"]) => {
            let filter = job_filter(req)?;
            let (before, limit) = paging(req)?;
            let (page, _) = ui.job_page(&filter, before, limit)?;
            json!({
                "jobs": page.jobs.iter().map(job_json).collect::<Vec<_>>(),
                "next_before": page.next_before,
            })
        }
        (false, ["jobs", id]) => job_json(&client.job_get(job_id(id)?)?),
        (true, ["jobs", id, action]) => {
            let id = job_id(id)?;
            job_json(&match *action {
                "retry" => client.job_retry(id)?,
                "cancel" => client.job_cancel(id)?,
                "delete" => client.job_delete(id)?,
                other => return Err(unknown_action(other, "retry, cancel, delete")),
            })
        }
        (false, ["queues"]) => Value::Array(ui.queue_summaries()?.iter().map(queue_json).collect()),
        (true, ["queues", name, action]) => {
            match *action {
                "pause" => client.queue_pause(name)?,
                "resume" => client.queue_resume(name)?,
                other => return Err(unknown_action(other, "pause, resume")),
            }
            let queue = client.queue_get(name)?;
            json!({
                "name": queue.name,
                "paused_at": queue.paused_at.map(format_rfc3339),
            })
        }
        (false, ["schedules"]) => match ui.schedules()? {
            Some(rows) => Value::Array(rows.iter().map(schedule_json).collect()),
            None => Value::Null,
        },
        (true, ["schedules", id, action]) => match *action {
            "pause" => schedule_json(&client.schedule_pause(id)?),
            "resume" => schedule_json(&client.schedule_resume(id)?),
            "delete" => {
                client.schedule_delete(id)?;
                json!({})
            }
            other => return Err(unknown_action(other, "pause, resume, delete")),
        },
        _ => {
            return Err(Problem {
                status: 404,
                message: format!(
                    "no API route {} {}: see the list in riverlite::ui's documentation",
                    if req.post { "POST" } else { "GET" },
                    req.path
                ),
            })
        }
    })
}

fn job_id(s: &str) -> Result<i64, Problem> {
    s.parse()
        .map_err(|_| Problem::bad_request(format!("{s:?} is not a job id")))
}

fn unknown_action(action: &str, allowed: &str) -> Problem {
    Problem {
        status: 404,
        message: format!("unknown action {action:?}: use one of {allowed}"),
    }
}

/// A job as the API returns it: args and metadata as JSON values (or the
/// stored text, if it is not JSON), times in RFC 3339.
pub(crate) fn job_json(job: &JobRow) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "queue": job.queue,
        "state": job.state.as_str(),
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "args": serde_json::from_str::<Value>(&job.args).unwrap_or_else(|_| Value::String(job.args.clone())),
        "metadata": job.metadata,
        "tags": job.tags,
        "errors": job.errors.iter().map(|e| json!({
            "at": format_rfc3339(e.at),
            "attempt": e.attempt,
            "error": e.error,
            "trace": e.trace,
        })).collect::<Vec<_>>(),
        "attempted_by": job.attempted_by,
        "created_at": format_rfc3339(job.created_at),
        "scheduled_at": format_rfc3339(job.scheduled_at),
        "attempted_at": job.attempted_at.map(format_rfc3339),
        "finalized_at": job.finalized_at.map(format_rfc3339),
        "unique_key": job.unique_key.as_ref().map(|k| k.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    })
}

fn queue_json(queue: &QueueSummary) -> Value {
    let counts: serde_json::Map<String, Value> = JobState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), json!(queue.counts[state_index(*s)])))
        .collect();
    json!({
        "name": queue.name,
        "counts": counts,
        "paused_at": queue.paused_at.map(format_rfc3339),
        "oldest_available_at": queue.oldest_available.map(format_rfc3339),
    })
}

fn minute_json(bar: &MinuteBar) -> Value {
    json!({
        "minute": format_rfc3339(bar.start),
        "completed": bar.completed,
        "cancelled": bar.cancelled,
        "discarded": bar.discarded,
    })
}

fn schedule_json(s: &ScheduleRow) -> Value {
    json!({
        "id": s.id,
        "kind": s.kind,
        "schedule": s.schedule,
        "args": serde_json::from_str::<Value>(&s.args).unwrap_or_else(|_| Value::String(s.args.clone())),
        "queue": s.opts.queue,
        "paused": s.paused,
        "from_code": s.from_code,
        "last_target_at": s.last_target_at.map(format_rfc3339),
        "next_target_at": s.next_target_at.map(format_rfc3339),
    })
}
