//! Which handler answers a request: auth, read-only and CSRF checks first, then pages, actions, assets and the API.

use super::http::{percent_encode, same_secret, Reply, Request};
use super::{api, pages, Ui};
use crate::db::dashboard::JobFilter;
use crate::error::Error;
use crate::model::job::JobState;

/// Jobs per page unless `limit` says otherwise.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` a page or the API takes.
pub(crate) const MAX_LIMIT: usize = 500;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// Why a request failed: a status and a message for the person or script
/// that sent it.
#[derive(Debug)]
pub(crate) struct Problem {
    /// The HTTP status (4xx for the request's fault).
    pub status: u16,
    /// What went wrong, in a sentence.
    pub message: String,
}

impl Problem {
    /// A 400 with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Problem {
        Problem {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        let status = match &e {
            Error::NotFound => 404,
            Error::InvalidArgument(_) | Error::InvalidInsert { .. } | Error::Config(_) => 400,
            Error::JobRunning(_) => 409,
            Error::ReadOnly(_) => 403,
            Error::Busy(_) => 503,
            _ => 500,
        };
        Problem {
            status,
            message: e.to_string(),
        }
    }
}

/// What a page handler returns.
pub(crate) type Answer = std::result::Result<Reply, Problem>;

/// Answers one request: the checks in order (host, auth, read-only, body,
/// CSRF), then the route.
pub(crate) fn handle(ui: &Ui, raw: &mut tiny_http::Request) -> Reply {
    let mut req = match Request::read_head(raw, &ui.prefix) {
        Ok(req) => req,
        Err(reply) => return reply,
    };
    if let Err(reply) = check(ui, &mut req, raw) {
        return reply;
    }
    let segments = req.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["api", rest @ ..] = segments.as_slice() {
        return api::handle(ui, &req, rest);
    }
    route(ui, &req, &segments).unwrap_or_else(|problem| pages::problem(ui, &problem))
}

/// Everything a request must pass before any route sees it. The body is
/// read only once the caller is known to be allowed to send one.
fn check(ui: &Ui, req: &mut Request, raw: &mut tiny_http::Request) -> Result<(), Reply> {
    if !ui.host_allowed(req.host.as_deref()) {
        // A name that is not this machine's may be a DNS rebinding attack:
        // a page elsewhere that resolves its own name to loopback.
        return Err(Reply::refuse(
            req,
            421,
            "unknown Host: the dashboard answers to IP addresses and localhost; \
             pass --allowed-host NAME to serve it under a name",
        ));
    }
    if let Some(expected) = &ui.auth_header {
        if !same_secret(req.authorization.as_deref().unwrap_or(""), expected) {
            return Err(
                Reply::refuse(req, 401, "this dashboard needs a user and password")
                    .with_header("WWW-Authenticate", "Basic realm=\"riverlite\"".into()),
            );
        }
    }
    if req.post {
        if ui.read_only {
            return Err(Reply::refuse(
                req,
                403,
                "the dashboard is read-only: actions are refused",
            ));
        }
        req.read_body(raw)?;
        let token = req.form("csrf").or(req.csrf_header.as_deref());
        if !token.is_some_and(|t| same_secret(t, &ui.csrf)) {
            return Err(Reply::refuse(
                req,
                403,
                "missing or wrong CSRF token: reload the page and try again",
            ));
        }
    }
    Ok(())
}

/// The page or action a path names.
fn route(ui: &Ui, req: &Request, segments: &[&str]) -> Answer {
    match (req.post, segments) {
        (false, []) => Ok(pages::overview(ui, &ui.overview()?)),
        (false, ["jobs"]) => jobs_page(ui, req),
        (false, ["jobs", id]) => job_page(ui, req, id),
        (true, ["jobs", "action"]) => job_action(ui, req),
        (false, ["queues"]) => Ok(pages::queues(ui, req, &ui.queue_summaries()?)),
        (true, ["queues", "action"]) => queue_action(ui, req),
        (false, ["schedules"]) => Ok(pages::schedules(ui, req, ui.schedules()?.as_deref())),
        (true, ["schedules", "action"]) => schedule_action(ui, req),
        (false, ["assets", "style.css"]) => Ok(Reply::asset("text/css; charset=utf-8", STYLE)),
        (false, ["assets", "app.js"]) => Ok(Reply::asset("text/javascript; charset=utf-8", SCRIPT)),
        _ => Err(Problem {
            status: 404,
            message: format!("no page at {}", req.path),
        }),
    }
}

/// The jobs page's filter from a query (shared with the API).
pub(crate) fn job_filter(req: &Request) -> std::result::Result<JobFilter, Problem> {
    let state = match req.query("state") {
        None => None,
        Some(s) => Some(s.parse::<JobState>().map_err(|_| {
            Problem::bad_request(format!(
                "unknown state {s:?}: use one of {}",
                JobState::ALL.map(JobState::as_str).join(", ")
            ))
        })?),
    };
    Ok(JobFilter {
        id: parse_id(req.query("id"), "id")?,
        state,
        queue: req.query("queue").map(str::to_string),
        kind: req.query("kind").map(str::to_string),
        tag: req.query("tag").map(str::to_string),
    })
}

/// `before` and `limit` from a query.
pub(crate) fn paging(req: &Request) -> std::result::Result<(Option<i64>, usize), Problem> {
    let before = parse_id(req.query("before"), "before")?;
    let limit = match req.query("limit") {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("limit {s:?} must be 1 to {MAX_LIMIT}")))?,
    };
    Ok((before, limit))
}

/// A job id from a query or form value.
pub(crate) fn parse_id(
    value: Option<&str>,
    name: &str,
) -> std::result::Result<Option<i64>, Problem> {
    value
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| Problem::bad_request(format!("{name} {s:?} is not a job id")))
        })
        .transpose()
}

fn jobs_page(ui: &Ui, req: &Request) -> Answer {
    let filter = job_filter(req)?;
    let (before, limit) = paging(req)?;
    let (page, took) = ui.job_page(&filter, before, limit)?;
    Ok(pages::jobs(ui, req, &filter, &page, took))
}

fn job_page(ui: &Ui, req: &Request, id: &str) -> Answer {
    let id = parse_id(Some(id), "job")?.unwrap_or_default();
    let job = ui.client.job_get(id).map_err(|e| match e {
        Error::NotFound => Problem {
            status: 404,
            message: format!("there is no job {id}"),
        },
        e => e.into(),
    })?;
    Ok(pages::job(ui, req, &job))
}

/// A form's `back` field, if it is a page of this dashboard: under the
/// prefix, and only characters a URL this dashboard builds holds (so no
/// `\\` a browser reads as `/`, and no CR or LF to split a header).
pub(crate) fn safe_back<'a>(ui: &Ui, req: &'a Request) -> Option<&'a str> {
    req.form("back").filter(|back| {
        back.starts_with(&format!("{}/", ui.prefix))
            && !back.starts_with("//")
            && back
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_.~%?&=+-".contains(c))
    })
}

/// A 303 back to the form's page (or `fallback`), showing `notice` there.
fn back_to(ui: &Ui, req: &Request, fallback: &str, notice: &str) -> Reply {
    let back = safe_back(ui, req)
        .map(str::to_string)
        .unwrap_or_else(|| ui.href(fallback));
    let joiner = if back.contains('?') { '&' } else { '?' };
    Reply::see_other(format!("{back}{joiner}notice={}", percent_encode(notice)))
}

/// The action a form names, if it is one of `allowed`.
fn action<'a>(req: &'a Request, allowed: &[&str]) -> std::result::Result<&'a str, Problem> {
    let action = req.form("action").unwrap_or("");
    if allowed.contains(&action) {
        Ok(action)
    } else {
        Err(Problem::bad_request(format!(
            "unknown action {action:?}: use one of {}",
            allowed.join(", ")
        )))
    }
}

fn confirmed(req: &Request) -> bool {
    req.form("confirm") == Some("yes")
}

fn job_action(ui: &Ui, req: &Request) -> Answer {
    let action = action(req, &["retry", "cancel", "delete"])?;
    let ids = req
        .form_all("id")
        .into_iter()
        .map(|s| parse_id(Some(s), "id").map(Option::unwrap_or_default))
        .collect::<std::result::Result<Vec<i64>, Problem>>()?;
    if ids.is_empty() {
        return Err(Problem::bad_request("select at least one job first"));
    }
    if ids.len() > MAX_LIMIT {
        return Err(Problem::bad_request(format!(
            "select at most {MAX_LIMIT} jobs at once"
        )));
    }
    if action == "delete" && !confirmed(req) {
        return Ok(pages::confirm_job_delete(ui, req, &ids));
    }
    let mut failed = Vec::new();
    for id in &ids {
        // One call, one short write transaction, per job.
        let result = match action {
            "retry" => ui.client.job_retry(*id).map(drop),
            "cancel" => ui.client.job_cancel(*id).map(drop),
            _ => ui.client.job_delete(*id).map(drop),
        };
        if let Err(e) = result {
            failed.push(format!("job {id}: {e}"));
        }
    }
    let done = ids.len() - failed.len();
    let verb = match action {
        "retry" => "Retried",
        "cancel" => "Cancelled",
        _ => "Deleted",
    };
    let mut notice = format!("{verb} {done} job(s).");
    if !failed.is_empty() {
        // A notice travels in the redirect's URL: keep it short.
        const NAMED: usize = 5;
        let mut named = failed[..failed.len().min(NAMED)].join("; ");
        if failed.len() > NAMED {
            named.push_str(&format!("; and {} more", failed.len() - NAMED));
        }
        notice.push_str(&format!(" Not done: {named}."));
    }
    let fallback = match (action, ids.as_slice()) {
        ("delete", _) | (_, [_, _, ..]) => "/jobs".to_string(),
        (_, [id]) => format!("/jobs/{id}"),
        _ => "/jobs".to_string(),
    };
    Ok(back_to(ui, req, &fallback, &notice))
}

fn queue_action(ui: &Ui, req: &Request) -> Answer {
    let action = action(req, &["pause", "resume"])?;
    let queue = req
        .form("queue")
        .ok_or_else(|| Problem::bad_request("name a queue"))?;
    if action == "pause" {
        ui.client.queue_pause(queue)?;
    } else {
        ui.client.queue_resume(queue)?;
    }
    let notice = format!("Queue {queue} {action}d.");
    Ok(back_to(ui, req, "/queues", &notice))
}

fn schedule_action(ui: &Ui, req: &Request) -> Answer {
    let action = action(req, &["pause", "resume", "delete"])?;
    let id = req
        .form("schedule")
        .ok_or_else(|| Problem::bad_request("name a schedule"))?;
    match action {
        "pause" => ui.client.schedule_pause(id).map(drop)?,
        "resume" => ui.client.schedule_resume(id).map(drop)?,
        _ if !confirmed(req) => return Ok(pages::confirm_schedule_delete(ui, req, id)),
        _ => ui.client.schedule_delete(id)?,
    }
    let notice = match action {
        "pause" => format!("Schedule {id} paused."),
        "resume" => format!("Schedule {id} resumed."),
        _ => format!("Schedule {id} deleted."),
    };
    Ok(back_to(ui, req, "/schedules", &notice))
}
