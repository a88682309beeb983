//! `riverlite bench`: insert and work throughput, and insert-to-start latency,
//! modelled on `river bench`.
//!
//! Phases, on one working client with one queue:
//! 1. single inserts: some of the jobs, one `insert` (one transaction) each;
//! 2. batch inserts: the rest, with `insert_many`, 1,000 per batch;
//! 3. work: start the client and burn the backlog down (or, with
//!    `--duration`, insert batches from a second thread and work at once);
//! 4. latency: into the running, idle client, insert jobs one at a time,
//!    1 ms apart, and measure from just before `insert` to the start of `work`.

//!
//! `args` parses the options, `phases` runs the phases, `report` prints what
//! they measured.

mod args;
mod phases;
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use args::BenchArgs;
use phases::{
    build_client, burn_down, check_queue_is_idle, insert_batches, insert_singles, measure_latency,
    run_for, Outcomes, Probe, SINGLE_INSERTS,
};
use report::{summary_json, write_summary, Summary};

use crate::failure::{CliResult, Failure};
use crate::Target;

/// Runs the benchmark and prints its summary.
pub fn run(args: &BenchArgs, target: &Target, out: &mut dyn Write) -> CliResult {
    // Declared first so that it is removed last, after the client has stopped.
    let scratch = match target.explicit_path() {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("riverlite-bench")
                .tempdir()?,
        ),
    };
    let path: PathBuf = match (&scratch, target.explicit_path()) {
        (Some(dir), _) => dir.path().join("bench.db"),
        (None, Some(path)) => path.to_path_buf(),
        (None, None) => return Err(Failure::msg("no database for the bench")),
    };
    let database = match scratch {
        Some(_) => "a new file in a temp dir".to_string(),
        None => path.display().to_string(),
    };
    let summary = measure(args, target, &path, database)?;
    if args.json {
        writeln!(out, "{}", summary_json(&summary))?;
    } else {
        write_summary(&summary, out)?;
    }
    Ok(())
}

/// Builds the client, runs every phase and stops the client.
fn measure(args: &BenchArgs, target: &Target, path: &Path, database: String) -> CliResult<Summary> {
    let probe = Probe::new();
    let client = build_client(path, args.workers, target.busy_timeout, &probe)
        .map_err(|e| crate::failure::opening(path, e))?;
    let mut outcomes = Outcomes::subscribe(&client);
    check_queue_is_idle(&client)?;
    let singles = SINGLE_INSERTS.min(args.jobs / 10);
    let single = insert_singles(&client, singles)?;
    let (batch, work) = match args.duration {
        None => {
            let batch = insert_batches(&client, singles..args.jobs)?;
            (batch, burn_down(&client, &probe, &mut outcomes, args.jobs)?)
        }
        Some(duration) => run_for(&client, &probe, &mut outcomes, duration, singles)?,
    };
    let latency = measure_latency(&client, &probe, args.latency_jobs)?;
    client.stop()?;
    Ok(Summary {
        database,
        workers: args.workers,
        duration: args.duration,
        single,
        batch,
        work,
        latency,
    })
}
