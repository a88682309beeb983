//! `riverlite schedules`: list, show, add, pause, resume and delete durable schedules.

use std::io::Write;

use clap::{ArgGroup, Args, Subcommand};
use riverlite::{Client, InsertOpts, Schedule, ScheduleParams, ScheduleRow};
use serde_json::{json, Value};

use crate::failure::{self, CliResult, Failure};
use crate::json;
use crate::table::{self, Table};

/// The `schedules` commands.
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// List every schedule with its next and last target.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one schedule.
    Get {
        /// The schedule's id.
        id: String,
    },
    /// Create a schedule, or replace the one with this id (its pause and last target are kept).
    Add(AddArgs),
    /// Pause a schedule: it is kept but runs nothing.
    Pause {
        /// The schedule's id.
        id: String,
    },
    /// Resume a paused schedule from its next target.
    Resume {
        /// The schedule's id.
        id: String,
    },
    /// Delete a schedule (jobs it already inserted stay).
    Delete {
        /// The schedule's id.
        id: String,
    },
}

/// Options of `schedules add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["cron", "every"])))]
pub struct AddArgs {
    /// The schedule's id.
    id: String,
    /// A cron spec (5 fields, or 6 with seconds; `CRON_TZ=Area/City ...` for a time zone).
    #[arg(long)]
    cron: Option<String>,
    /// A fixed interval: 30s, 500ms, 5m, 2h.
    #[arg(long)]
    every: Option<String>,
    /// The kind of job to insert.
    #[arg(long)]
    kind: String,
    /// The job's args, a JSON object.
    #[arg(long, default_value = "{}")]
    args: String,
    /// The queue to insert into.
    #[arg(long)]
    queue: Option<String>,
    /// The priority, 1 (highest) to 4.
    #[arg(long)]
    priority: Option<u8>,
    /// Attempts before a job is discarded.
    #[arg(long)]
    max_attempts: Option<u32>,
    /// A tag (repeat for several).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

/// Runs a `schedules` command.
pub fn run(command: SchedulesCommand, client: &Client, out: &mut dyn Write) -> CliResult {
    let missing = |id: &str| failure::not_found(format!("no schedule {id}"));
    match command {
        SchedulesCommand::List { json } => list(json, client, out),
        SchedulesCommand::Get { id } => {
            let row = client.schedule_get(&id).map_err(missing(&id))?;
            writeln!(out, "{:#}", schedule_json(&row))?;
            Ok(())
        }
        SchedulesCommand::Add(args) => {
            let row = client.schedule_upsert(params(args)?)?;
            writeln!(
                out,
                "schedule {}: {} ({})",
                row.id,
                row.schedule,
                next(&row)
            )?;
            Ok(())
        }
        SchedulesCommand::Pause { id } => {
            client.schedule_pause(&id).map_err(missing(&id))?;
            writeln!(out, "schedule {id}: paused")?;
            Ok(())
        }
        SchedulesCommand::Resume { id } => {
            let row = client.schedule_resume(&id).map_err(missing(&id))?;
            writeln!(out, "schedule {id}: resumed ({})", next(&row))?;
            Ok(())
        }
        SchedulesCommand::Delete { id } => {
            client.schedule_delete(&id).map_err(missing(&id))?;
            writeln!(out, "schedule {id}: deleted")?;
            Ok(())
        }
    }
}

fn params(args: AddArgs) -> CliResult<ScheduleParams> {
    let schedule: Schedule = match (&args.cron, &args.every) {
        (Some(spec), _) => Schedule::cron(spec)?,
        (None, Some(every)) => format!("every {every}").parse()?,
        (None, None) => return Err(Failure::msg("give --cron SPEC or --every INTERVAL")),
    };
    let opts = InsertOpts {
        queue: args.queue,
        priority: args.priority,
        max_attempts: args.max_attempts,
        tags: args.tags,
        ..Default::default()
    };
    Ok(ScheduleParams::raw(args.id, schedule, args.kind, args.args).opts(opts))
}

fn next(row: &ScheduleRow) -> String {
    match row.next_target_at {
        Some(at) if !row.paused => format!("next {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        _ if row.paused => "paused".into(),
        _ => "no next target".into(),
    }
}

fn schedule_json(row: &ScheduleRow) -> Value {
    let args: Value = serde_json::from_str(&row.args).unwrap_or(Value::String(row.args.clone()));
    json!({
        "id": row.id,
        "kind": row.kind,
        "schedule": row.schedule,
        "args": args,
        "queue": row.opts.queue,
        "priority": row.opts.priority,
        "max_attempts": row.opts.max_attempts,
        "tags": row.opts.tags,
        "paused": row.paused,
        "from_code": row.from_code,
        "last_target_at": row.last_target_at.map(json::time),
        "next_target_at": row.next_target_at.map(json::time),
        "created_at": json::time(row.created_at),
        "updated_at": json::time(row.updated_at),
    })
}

fn list(as_json: bool, client: &Client, out: &mut dyn Write) -> CliResult {
    let rows = client.schedule_list()?;
    if as_json {
        for row in &rows {
            writeln!(out, "{}", schedule_json(row))?;
        }
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no schedules")?;
        return Ok(());
    }
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        })
    };
    let mut table = Table::new(&[
        "ID",
        "KIND",
        "SCHEDULE",
        "STATUS",
        "NEXT (UTC)",
        "LAST (UTC)",
    ]);
    for row in &rows {
        let status = match (row.paused, row.from_code) {
            (_, true) => "in code",
            (true, _) => "paused",
            _ => "active",
        };
        table.row(vec![
            row.id.clone(),
            row.kind.clone(),
            row.schedule.clone(),
            status.to_string(),
            when(row.next_target_at),
            when(row.last_target_at),
        ]);
    }
    table.write(out, table::line_width())?;
    Ok(())
}
