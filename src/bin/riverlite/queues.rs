//! `riverlite queues`: list queues with their job counts, pause and resume them.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use riverlite::{Client, JobState};
use serde_json::json;

use crate::failure::{self, CliResult};
use crate::json;
use crate::table::{self, Table};

/// The `queues` commands.
#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// List every queue (recorded, or holding jobs) with its job counts by state.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pause a queue (`*` for all): no client claims its jobs until it is resumed.
    Pause {
        /// The queue's name.
        name: String,
    },
    /// Resume a paused queue (`*` for all).
    Resume {
        /// The queue's name.
        name: String,
    },
}

/// Runs a `queues` command.
pub fn run(command: QueuesCommand, client: &Client, out: &mut dyn Write) -> CliResult {
    match command {
        QueuesCommand::List { json } => list(json, client, out),
        QueuesCommand::Pause { name } => {
            client.queue_pause(&name)?;
            writeln!(out, "queue {name}: paused")?;
            Ok(())
        }
        QueuesCommand::Resume { name } => {
            client
                .queue_resume(&name)
                .map_err(failure::not_found(format!("no queue named {name}")))?;
            writeln!(out, "queue {name}: resumed")?;
            Ok(())
        }
    }
}

/// The states in the order `queues list` shows them: live work first, then
/// finished (the table's headers follow this order).
const COLUMNS: [JobState; 8] = [
    JobState::Available,
    JobState::Running,
    JobState::Scheduled,
    JobState::Retryable,
    JobState::Pending,
    JobState::Completed,
    JobState::Cancelled,
    JobState::Discarded,
];

/// One queue as `queues list` shows it.
#[derive(Debug, Default)]
struct QueueSummary {
    paused_at: Option<DateTime<Utc>>,
    counts: BTreeMap<JobState, i64>,
}

impl QueueSummary {
    fn count(&self, state: JobState) -> i64 {
        self.counts.get(&state).copied().unwrap_or(0)
    }
}

/// Every queue with a `river_queue` row or with jobs, by name.
fn summaries(client: &Client) -> CliResult<BTreeMap<String, QueueSummary>> {
    let mut queues: BTreeMap<String, QueueSummary> = BTreeMap::new();
    for queue in client.queue_list()? {
        queues.entry(queue.name).or_default().paused_at = queue.paused_at;
    }
    for riverlite::JobCount {
        queue,
        state,
        count,
    } in client.job_counts()?
    {
        *queues
            .entry(queue)
            .or_default()
            .counts
            .entry(state)
            .or_default() += count;
    }
    Ok(queues)
}

fn list(as_json: bool, client: &Client, out: &mut dyn Write) -> CliResult {
    let queues = summaries(client)?;
    if as_json {
        for (name, queue) in &queues {
            writeln!(out, "{}", queue_json(name, queue))?;
        }
        return Ok(());
    }
    if queues.is_empty() {
        writeln!(out, "no queues")?;
        return Ok(());
    }
    let headers = [
        "QUEUE",
        "STATUS",
        "AVAILABLE",
        "RUNNING",
        "SCHEDULED",
        "RETRYABLE",
        "PENDING",
        "COMPLETED",
        "CANCELLED",
        "DISCARDED",
    ];
    let mut table = Table::new(&headers).right(2..headers.len());
    for (name, queue) in &queues {
        let status = if queue.paused_at.is_some() {
            "paused"
        } else {
            "active"
        };
        let mut row = vec![name.clone(), status.to_string()];
        row.extend(COLUMNS.iter().map(|&s| queue.count(s).to_string()));
        table.row(row);
    }
    table.write(out, table::line_width())?;
    Ok(())
}

fn queue_json(name: &str, queue: &QueueSummary) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = COLUMNS
        .iter()
        .map(|&s| (s.as_str().to_string(), queue.count(s).into()))
        .collect();
    json!({
        "name": name,
        "paused": queue.paused_at.is_some(),
        "paused_at": queue.paused_at.map(json::time),
        "counts": counts,
    })
}
