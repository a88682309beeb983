//! The HTML pages, rendered with maud (which escapes everything interpolated): overview, jobs, job, queues, schedules, confirmations and errors.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::chart;
use super::data::{Overview, QueueSummary};
use super::http::{percent_encode, Reply, Request};
use super::routes::{safe_back, Problem};
use super::Ui;
use crate::db::dashboard::{JobFilter, JobPage, Plan};
use crate::model::durable_schedule::ScheduleRow;
use crate::model::job::{JobRow, JobState};

/// The sections of the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Overview,
    Jobs,
    Queues,
    Schedules,
    None,
}

/// Every page's frame: the head, the navigation, a notice, and `body`.
fn layout(ui: &Ui, req: Option<&Request>, title: &str, section: Section, body: Markup) -> Markup {
    let nav = [
        (Section::Overview, "/", "Overview"),
        (Section::Jobs, "/jobs", "Jobs"),
        (Section::Queues, "/queues", "Queues"),
        (Section::Schedules, "/schedules", "Schedules"),
    ];
    let notice = req.and_then(|r| r.query("notice"));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · riverlite" }
                link rel="stylesheet" href=(ui.href("/assets/style.css"));
                script src=(ui.href("/assets/app.js")) defer {}
            }
            body {
                header.top {
                    a.brand href=(ui.href("/")) { "riverlite" }
                    nav {
                        @for (s, path, label) in nav {
                            a href=(ui.href(path)) class=[(s == section).then_some("active")] { (label) }
                        }
                    }
                    span.spacer {}
                    @if ui.read_only { span.badge.readonly title="Actions are refused on the server" { "read-only" } }
                    button #live-toggle type="button" aria-pressed="true" { "Live updates: on" }
                }
                main {
                    @if let Some(notice) = notice { p.notice role="status" { (notice) } }
                    (body)
                }
            }
        }
    }
}

fn page(ui: &Ui, req: Option<&Request>, title: &str, section: Section, body: Markup) -> Reply {
    Reply::html(200, layout(ui, req, title, section, body))
}

/// The page for a failed request.
pub(crate) fn problem(ui: &Ui, problem: &Problem) -> Reply {
    let body = html! {
        h1 { "Error " (problem.status) }
        p.error { (problem.message) }
        p { a href=(ui.href("/")) { "Back to the overview" } }
    };
    Reply::html(
        problem.status,
        layout(ui, None, "Error", Section::None, body),
    )
}

fn state_badge(state: JobState) -> Markup {
    html! { span class=(format!("state state-{}", state.as_str())) { (state.as_str()) } }
}

/// A time, as "3 min ago" with the exact UTC time on hover.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S%.3f UTC")) { (relative(t, now)) }
    }
}

fn when_opt(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match t {
        Some(t) => when(t, now),
        None => html! { span.muted { "—" } },
    }
}

fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=86_399 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

fn csrf(ui: &Ui) -> Markup {
    html! { input type="hidden" name="csrf" value=(ui.csrf); }
}

/// This page's own URL (without its notice), for a form to come back to.
fn here(ui: &Ui, req: &Request) -> String {
    same_page(ui, req, &[], None)
}

/// This page's URL without its notice and the `skip` parameters, plus `add`.
fn same_page(ui: &Ui, req: &Request, skip: &[&str], add: Option<(&str, String)>) -> String {
    let kept = req
        .query
        .iter()
        .filter(|(k, v)| k != "notice" && !skip.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.clone()));
    let query: Vec<String> = kept
        .chain(add)
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(&v)))
        .collect();
    if query.is_empty() {
        ui.href(&req.path)
    } else {
        format!("{}?{}", ui.href(&req.path), query.join("&"))
    }
}

/// A link to the jobs page with these filters.
fn jobs_link(ui: &Ui, queue: Option<&str>, state: Option<JobState>) -> String {
    let mut query = Vec::new();
    if let Some(state) = state {
        query.push(format!("state={}", state.as_str()));
    }
    if let Some(queue) = queue {
        query.push(format!("queue={}", percent_encode(queue)));
    }
    format!("{}?{}", ui.href("/jobs"), query.join("&"))
}

/// The overview: counts per queue and state, the chart, the leader and clients.
pub(crate) fn overview(ui: &Ui, o: &Overview) -> Reply {
    let body = html! {
        h1 { "Overview" }
        section #ov-counts data-live {
            h2 { "Jobs by state" }
            @if o.queues.is_empty() {
                p.muted { "No jobs and no queues yet." }
            } @else {
                table.counts {
                    thead { tr {
                        th { "Queue" }
                        @for state in JobState::ALL { th.num { (state.as_str()) } }
                        th { "Oldest available" }
                    } }
                    tbody {
                        @for q in &o.queues {
                            tr {
                                td {
                                    a href=(jobs_link(ui, Some(&q.name), None)) { (q.name) }
                                    @if q.paused_at.is_some() { " " span.badge.paused { "paused" } }
                                }
                                @for state in JobState::ALL {
                                    td.num data-state=(state.as_str()) {
                                        @let n = q.count(state);
                                        @if n > 0 { a href=(jobs_link(ui, Some(&q.name), Some(state))) { (n) } }
                                        @else { span.muted { "0" } }
                                    }
                                }
                                td { (when_opt(q.oldest_available, o.now)) }
                            }
                        }
                    }
                    tfoot { tr {
                        th { "All queues" }
                        @for state in JobState::ALL {
                            th.num data-total=(state.as_str()) { (o.queues.iter().map(|q| q.count(state)).sum::<i64>()) }
                        }
                        th {}
                    } }
                }
            }
        }
        section #ov-chart data-live {
            h2 { "Finalized per minute, last hour" }
            (chart::finalized_per_minute(&o.minutes))
            p.legend {
                span.key.completed {} "completed " span.key.cancelled {} "cancelled " span.key.discarded {} "discarded"
            }
        }
        section #ov-leader data-live {
            h2 { "Leader and clients" }
            @match &o.leader {
                Some(l) => p { "Leader: " strong.leader { (l.leader_id) } ", elected " (when(l.elected_at, o.now))
                    ", lease until " (when(l.expires_at, o.now)) @if l.expires_at < o.now { " " span.badge.paused { "expired" } } },
                None => p.muted { "No leader recorded: no working client is running." },
            }
            @if o.live_clients.is_empty() {
                p.muted { "No riverlite client holds a liveness lock on this file." }
            } @else {
                p { "Live riverlite clients (" (o.live_clients.len()) "):" }
                ul.clients { @for id in &o.live_clients { li { code { (id) } } } }
            }
            p.muted.small { "River's own clients keep no liveness lock; the leader row names one of them when it leads." }
        }
    };
    page(ui, None, "Overview", Section::Overview, body)
}

/// The jobs page: filters, one page of jobs with bulk actions, and paging links.
pub(crate) fn jobs(
    ui: &Ui,
    req: &Request,
    filter: &JobFilter,
    p: &JobPage,
    took: std::time::Duration,
) -> Reply {
    let now = Utc::now();
    let next = p
        .next_before
        .map(|before| same_page(ui, req, &["before"], Some(("before", before.to_string()))));
    let first_page = same_page(ui, req, &["before"], None);
    let body = html! {
        h1 { "Jobs" }
        form.filters method="get" action=(ui.href("/jobs")) {
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for state in JobState::ALL {
                        option value=(state.as_str()) selected[filter.state == Some(state)] { (state.as_str()) }
                    }
                }
            }
            label { "Queue " input type="text" name="queue" value=[filter.queue.as_deref()] size="12"; }
            label { "Kind " input type="text" name="kind" value=[filter.kind.as_deref()] size="14"; }
            label { "Tag " input type="text" name="tag" value=[filter.tag.as_deref()] size="10"; }
            label { "ID " input type="text" name="id" inputmode="numeric" value=[filter.id] size="8"; }
            button type="submit" { "Filter" }
            a href=(ui.href("/jobs")) { "Clear" }
        }
        @if p.plan == Plan::TagScan {
            p.note { "Tags have no index in River's schema, so this page read jobs one by one to find these ("
                (format!("{:.0} ms", took.as_secs_f64() * 1000.0)) ")." }
        }
        section #jobs-table data-live {
            form method="post" action=(ui.href("/jobs/action")) {
                (csrf(ui))
                input type="hidden" name="back" value=(here(ui, req));
                @if !ui.read_only {
                    div.actions {
                        "Selected: "
                        button type="submit" name="action" value="retry" { "Retry" }
                        button type="submit" name="action" value="cancel" { "Cancel" }
                        button.danger type="submit" name="action" value="delete" { "Delete…" }
                    }
                }
                @if p.jobs.is_empty() {
                    p.muted.empty { "No jobs match." }
                } @else {
                    table.jobs {
                        thead { tr {
                            @if !ui.read_only { th { input #select-all type="checkbox" aria-label="Select all"; } }
                            th { "ID" } th { "Kind" } th { "Queue" } th { "State" } th.num { "Attempt" }
                            th.num { "Priority" } th { "Scheduled" } th { "Finalized" } th { "Tags" }
                        } }
                        tbody {
                            @for job in &p.jobs {
                                tr data-job-id=(job.id) data-state=(job.state.as_str()) data-queue=(job.queue) {
                                    @if !ui.read_only { td { input type="checkbox" name="id" value=(job.id) aria-label=(format!("Select job {}", job.id)); } }
                                    td { a href=(ui.href(&format!("/jobs/{}", job.id))) { (job.id) } }
                                    td { code { (job.kind) } }
                                    td { (job.queue) }
                                    td { (state_badge(job.state)) }
                                    td.num { (job.attempt) " / " (job.max_attempts) }
                                    td.num { (job.priority) }
                                    td { (when(job.scheduled_at, now)) }
                                    td { (when_opt(job.finalized_at, now)) }
                                    td { @for tag in &job.tags { span.tag { (tag) } " " } }
                                }
                            }
                        }
                    }
                }
            }
        }
        nav.paging {
            @if req.query("before").is_some() { a href=(first_page) { "← Newest" } }
            @if let Some(next) = next { a href=(next) rel="next" { "Older →" } }
        }
    };
    page(ui, Some(req), "Jobs", Section::Jobs, body)
}

fn pretty(json_text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json_text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json_text.to_string())
}

/// One entry of a job's timeline.
struct Moment {
    at: DateTime<Utc>,
    what: String,
    detail: Option<(String, String)>,
}

/// What the row records, in time order.
fn timeline(job: &JobRow) -> Vec<Moment> {
    let mut moments = vec![Moment {
        at: job.created_at,
        what: "Created".into(),
        detail: None,
    }];
    if job.scheduled_at != job.created_at {
        moments.push(Moment {
            at: job.scheduled_at,
            what: match job.state {
                JobState::Scheduled | JobState::Retryable => "Scheduled to run".into(),
                _ => "Scheduled".into(),
            },
            detail: None,
        });
    }
    for e in &job.errors {
        moments.push(Moment {
            at: e.at,
            what: format!("Attempt {} failed", e.attempt),
            detail: Some((e.error.clone(), e.trace.clone())),
        });
    }
    if let Some(at) = job.attempted_at {
        let by = job
            .attempted_by
            .last()
            .map(String::as_str)
            .unwrap_or("unknown");
        moments.push(Moment {
            at,
            what: format!("Attempt {} started by {by}", job.attempt),
            detail: None,
        });
    }
    if let Some(at) = job.finalized_at {
        let what = match job.state {
            JobState::Completed => "Completed",
            JobState::Cancelled => "Cancelled",
            JobState::Discarded => "Discarded",
            _ => "Finalized",
        };
        moments.push(Moment {
            at,
            what: what.into(),
            detail: None,
        });
    }
    moments.sort_by_key(|m| m.at);
    moments
}

/// One job: its fields, args and metadata, timeline, and actions.
pub(crate) fn job(ui: &Ui, req: &Request, job: &JobRow) -> Reply {
    let now = Utc::now();
    let body = html! {
        h1 { "Job " (job.id) " " (state_badge(job.state)) }
        @if !ui.read_only {
            form.actions method="post" action=(ui.href("/jobs/action")) {
                (csrf(ui))
                input type="hidden" name="id" value=(job.id);
                input type="hidden" name="back" value=(here(ui, req));
                @if job.state != JobState::Running {
                    button #retry type="submit" name="action" value="retry" { "Retry" }
                }
                @if !job.state.is_finalized() {
                    button #cancel type="submit" name="action" value="cancel" { "Cancel" }
                }
                @if job.state != JobState::Running {
                    button.danger #delete type="submit" name="action" value="delete" { "Delete…" }
                }
            }
        }
        section #job-detail data-live {
            dl.fields {
                dt { "Kind" } dd { code { (job.kind) } }
                dt { "Queue" } dd { a href=(jobs_link(ui, Some(&job.queue), None)) { (job.queue) } }
                dt { "Attempt" } dd { (job.attempt) " of " (job.max_attempts) }
                dt { "Priority" } dd { (job.priority) }
                dt { "Tags" } dd { @for tag in &job.tags { span.tag { (tag) } " " } @if job.tags.is_empty() { span.muted { "none" } } }
                dt { "Attempted by" } dd { @if job.attempted_by.is_empty() { span.muted { "nobody yet" } } @else { @for (i, id) in job.attempted_by.iter().enumerate() { @if i > 0 { ", " } code { (id) } } } }
                @if let Some(key) = &job.unique_key {
                    dt { "Unique key" } dd { code { (key.iter().map(|b| format!("{b:02x}")).collect::<String>()) } }
                }
            }
            h2 { "Timeline" }
            ol.timeline {
                @for m in timeline(job) {
                    li {
                        (when(m.at, now)) " · " strong { (m.what) }
                        @if let Some((error, trace)) = &m.detail {
                            pre.error { (error) }
                            @if !trace.is_empty() { details { summary { "Trace" } pre { (trace) } } }
                        }
                    }
                }
            }
        }
        h2 { "Args" }
        pre.json #args { (pretty(&job.args)) }
        h2 { "Metadata" }
        pre.json #metadata { (serde_json::to_string_pretty(&job.metadata).unwrap_or_default()) }
    };
    page(
        ui,
        Some(req),
        &format!("Job {}", job.id),
        Section::Jobs,
        body,
    )
}

/// The confirmation before deleting jobs.
pub(crate) fn confirm_job_delete(ui: &Ui, req: &Request, ids: &[i64]) -> Reply {
    let body = html! {
        h1 { "Delete " (ids.len()) " job(s)?" }
        p { "These rows are removed from the database; this cannot be undone. Running jobs are refused." }
        p { @for id in ids { code { (id) } " " } }
        form method="post" action=(ui.href("/jobs/action")) {
            (csrf(ui))
            input type="hidden" name="action" value="delete";
            input type="hidden" name="confirm" value="yes";
            @if let Some(back) = safe_back(ui, req) { input type="hidden" name="back" value=(back); }
            @for id in ids { input type="hidden" name="id" value=(id); }
            button.danger #confirm-delete type="submit" { "Delete" }
            " "
            a href=(safe_back(ui, req).map(str::to_string).unwrap_or_else(|| ui.href("/jobs"))) { "Keep them" }
        }
    };
    page(ui, None, "Delete jobs", Section::Jobs, body)
}

/// The confirmation before deleting a schedule.
pub(crate) fn confirm_schedule_delete(ui: &Ui, _req: &Request, id: &str) -> Reply {
    let body = html! {
        h1 { "Delete schedule " code { (id) } "?" }
        p { "It stops inserting jobs; jobs it already inserted stay." }
        form method="post" action=(ui.href("/schedules/action")) {
            (csrf(ui))
            input type="hidden" name="action" value="delete";
            input type="hidden" name="confirm" value="yes";
            input type="hidden" name="schedule" value=(id);
            button.danger #confirm-delete type="submit" { "Delete" }
            " "
            a href=(ui.href("/schedules")) { "Keep it" }
        }
    };
    page(ui, None, "Delete schedule", Section::Schedules, body)
}

/// The queues page: counts, paused or not, pause and resume.
pub(crate) fn queues(ui: &Ui, req: &Request, queues: &[QueueSummary]) -> Reply {
    let now = Utc::now();
    let shown = JobState::ALL;
    let body = html! {
        h1 { "Queues" }
        section #queues-table data-live {
            @if queues.is_empty() { p.muted { "No queues yet." } } @else {
                table.queues {
                    thead { tr {
                        th { "Queue" } @for s in shown { th.num { (s.as_str()) } } th { "Status" } th { "Oldest available" }
                        @if !ui.read_only { th {} }
                    } }
                    tbody {
                        @for q in queues {
                            tr data-queue=(q.name) {
                                td { a href=(jobs_link(ui, Some(&q.name), None)) { (q.name) } }
                                @for s in shown { td.num { (q.count(s)) } }
                                td { @match q.paused_at {
                                    Some(at) => { span.badge.paused { "paused" } " " (when(at, now)) },
                                    None => span.running { "running" },
                                } }
                                td { (when_opt(q.oldest_available, now)) }
                                @if !ui.read_only {
                                    td {
                                        form method="post" action=(ui.href("/queues/action")) {
                                            (csrf(ui))
                                            input type="hidden" name="queue" value=(q.name);
                                            input type="hidden" name="back" value=(here(ui, req));
                                            @if q.paused_at.is_some() {
                                                button type="submit" name="action" value="resume" { "Resume" }
                                            } @else {
                                                button type="submit" name="action" value="pause" { "Pause" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(ui, Some(req), "Queues", Section::Queues, body)
}

/// The schedules page: every durable schedule, its targets, and actions.
pub(crate) fn schedules(ui: &Ui, req: &Request, schedules: Option<&[ScheduleRow]>) -> Reply {
    let now = Utc::now();
    let body = html! {
        h1 { "Schedules" }
        section #schedules-table data-live {
            @match schedules {
                None => p.muted { "This file has no durable schedules table: it was created by a River client. riverlite adds it when it migrates the file." },
                Some([]) => p.muted { "No durable schedules. Add one with " code { "riverlite schedules add" } " or " code { "Client::schedule_upsert" } "." },
                Some(rows) => table.schedules {
                    thead { tr {
                        th { "ID" } th { "Kind" } th { "Schedule" } th { "Queue" } th { "Status" }
                        th { "Last target" } th { "Next target" } @if !ui.read_only { th {} }
                    } }
                    tbody {
                        @for s in rows {
                            tr data-schedule=(s.id) {
                                td { code { (s.id) } }
                                td { code { (s.kind) } }
                                td { code { (s.schedule) } }
                                td { (s.opts.queue.as_deref().unwrap_or(crate::model::insert_opts::DEFAULT_QUEUE)) }
                                td {
                                    @if s.paused { span.badge.paused { "paused" } } @else { span.running { "active" } }
                                    @if s.from_code { " " span.badge title="Defined in a working client's code" { "code" } }
                                }
                                td { (when_opt(s.last_target_at, now)) }
                                td { @if s.paused { span.muted { "—" } } @else { (when_opt(s.next_target_at, now)) } }
                                @if !ui.read_only {
                                    td {
                                        @if s.from_code {
                                            span.muted.small { "defined in a working client's code: change it there" }
                                        } @else {
                                            form method="post" action=(ui.href("/schedules/action")) {
                                                (csrf(ui))
                                                input type="hidden" name="schedule" value=(s.id);
                                                input type="hidden" name="back" value=(here(ui, req));
                                                @if s.paused {
                                                    button type="submit" name="action" value="resume" { "Resume" }
                                                } @else {
                                                    button type="submit" name="action" value="pause" { "Pause" }
                                                }
                                                " "
                                                button.danger type="submit" name="action" value="delete" { "Delete…" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            }
        }
    };
    page(ui, Some(req), "Schedules", Section::Schedules, body)
}
