//! `riverlite jobs`: list, show, cancel, retry and delete jobs.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use riverlite::MAX_PAGE_SIZE;
use riverlite::{Client, JobListParams, JobRow, JobState};
use serde_json::Value;

use crate::failure::{self, CliResult};
use crate::json;
use crate::table::{self, Table};

/// The `jobs` commands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, by id (oldest first unless --desc), as a table or JSON lines.
    List(ListArgs),
    /// Show one job in full: every column, with args, metadata and errors pretty-printed.
    Get {
        /// The job's id.
        id: i64,
        /// Print the job as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job: one not yet running becomes cancelled; a running one is asked to stop.
    Cancel {
        /// The job's id.
        id: i64,
    },
    /// Make a job that is not running available now (one more attempt if it had used them all).
    Retry {
        /// The job's id.
        id: i64,
    },
    /// Delete a job that is not running.
    Delete {
        /// The job's id.
        id: i64,
    },
}

/// The job states clap offers (and checks) for `--state`: River's names.
fn state_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(JobState::ALL.map(JobState::as_str))
}

/// Filters and output of `jobs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only jobs in this state (repeat for several).
    #[arg(long, value_parser = state_names())]
    state: Vec<String>,
    /// Only jobs in this queue (repeat for several).
    #[arg(long)]
    queue: Vec<String>,
    /// Only jobs of this kind (repeat for several).
    #[arg(long)]
    kind: Vec<String>,
    /// Show at most this many jobs.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    /// Newest first.
    #[arg(long)]
    desc: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs a `jobs` command.
pub fn run(command: JobsCommand, client: &Client, out: &mut dyn Write) -> CliResult {
    match command {
        JobsCommand::List(args) => list(&args, client, out),
        JobsCommand::Get { id, json } => get(id, json, client, out),
        JobsCommand::Cancel { id } => cancel(id, client, out),
        JobsCommand::Retry { id } => retry(id, client, out),
        JobsCommand::Delete { id } => delete(id, client, out),
    }
}

fn no_job(id: i64) -> String {
    format!("no job with id {id}")
}

/// Up to `args.limit` matching jobs, page by page, and whether more match.
fn fetch(args: &ListArgs, client: &Client) -> CliResult<(Vec<JobRow>, bool)> {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut params = JobListParams::new()
        // clap admitted only valid names, so every one parses.
        .states(args.state.iter().filter_map(|s| s.parse::<JobState>().ok()))
        .queues(args.queue.iter().cloned())
        .kinds(args.kind.iter().cloned())
        .descending(args.desc);
    let mut jobs = Vec::new();
    loop {
        let page_size = (limit - jobs.len()).min(MAX_PAGE_SIZE);
        let page = client.job_list(params.clone().first(page_size))?;
        jobs.extend(page.jobs);
        match page.next {
            Some(cursor) if jobs.len() < limit => params = params.after(cursor),
            next => return Ok((jobs, next.is_some())),
        }
    }
}

fn list(args: &ListArgs, client: &Client, out: &mut dyn Write) -> CliResult {
    let (jobs, more) = fetch(args, client)?;
    if args.json {
        for job in &jobs {
            writeln!(out, "{}", json::job(job))?;
        }
        return Ok(());
    }
    if jobs.is_empty() {
        writeln!(out, "no jobs")?;
        return Ok(());
    }
    job_table(&jobs).write(out, table::line_width())?;
    if more {
        writeln!(
            out,
            "(more jobs match; showing the first {}: raise --limit)",
            jobs.len()
        )?;
    }
    Ok(())
}

fn job_table(jobs: &[JobRow]) -> Table {
    let mut table = Table::new(&[
        "ID",
        "KIND",
        "QUEUE",
        "STATE",
        "ATTEMPT",
        "SCHEDULED_AT (UTC)",
        "LAST_ERROR",
    ])
    .right([0, 4]);
    for job in jobs {
        table.row(vec![
            job.id.to_string(),
            job.kind.clone(),
            job.queue.clone(),
            job.state.to_string(),
            format!("{}/{}", job.attempt, job.max_attempts),
            job.scheduled_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            job.errors
                .last()
                .map(|e| e.error.clone())
                .unwrap_or_default(),
        ]);
    }
    table
}

fn get(id: i64, as_json: bool, client: &Client, out: &mut dyn Write) -> CliResult {
    let job = client.job_get(id).map_err(failure::not_found(no_job(id)))?;
    if as_json {
        writeln!(out, "{}", pretty(&json::job(&job)))?;
    } else {
        write_job(&job, out)?;
    }
    Ok(())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".into(), time)
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// Writes a job as `field: value` lines, then its JSON values indented.
fn write_job(job: &JobRow, out: &mut dyn Write) -> std::io::Result<()> {
    let unique = json::job(job);
    let fields = [
        ("id", job.id.to_string()),
        ("kind", job.kind.clone()),
        ("queue", job.queue.clone()),
        ("state", job.state.to_string()),
        ("priority", job.priority.to_string()),
        (
            "attempt",
            format!("{} of {}", job.attempt, job.max_attempts),
        ),
        ("created_at", time(job.created_at)),
        ("scheduled_at", time(job.scheduled_at)),
        ("attempted_at", optional_time(job.attempted_at)),
        ("finalized_at", optional_time(job.finalized_at)),
        ("attempted_by", list_or_dash(&job.attempted_by)),
        ("tags", list_or_dash(&job.tags)),
        (
            "unique_key",
            unique["unique_key"].as_str().unwrap_or("-").into(),
        ),
        (
            "unique_states",
            unique_states_text(&unique["unique_states"]),
        ),
    ];
    for (name, value) in fields {
        writeln!(out, "{:<14} {value}", format!("{name}:"))?;
    }
    for (name, value) in [
        ("args", &unique["args"]),
        ("metadata", &unique["metadata"]),
        ("errors", &unique["errors"]),
    ] {
        writeln!(out, "{name}:")?;
        for line in pretty(value).lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

fn unique_states_text(states: &Value) -> String {
    match states.as_array() {
        Some(names) => names
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => "-".into(),
    }
}

fn cancel(id: i64, client: &Client, out: &mut dyn Write) -> CliResult {
    let before = client.job_get(id).map_err(failure::not_found(no_job(id)))?;
    let job = client
        .job_cancel(id)
        .map_err(failure::not_found(no_job(id)))?;
    let note = match job.state {
        JobState::Running => " (cancellation requested: its worker is asked to stop)",
        _ if before.state.is_finalized() => " (already finished: unchanged)",
        _ => "",
    };
    writeln!(out, "job {id}: {}{note}", job.state)?;
    Ok(())
}

fn retry(id: i64, client: &Client, out: &mut dyn Write) -> CliResult {
    let job = client
        .job_retry(id)
        .map_err(failure::not_found(no_job(id)))?;
    let note = match job.state {
        JobState::Running => " (running jobs are not retried: unchanged)",
        _ => "",
    };
    writeln!(out, "job {id}: {}{note}", job.state)?;
    Ok(())
}

fn delete(id: i64, client: &Client, out: &mut dyn Write) -> CliResult {
    let job = client
        .job_delete(id)
        .map_err(failure::not_found(no_job(id)))?;
    writeln!(out, "job {id}: deleted (was {})", job.state)?;
    Ok(())
}
