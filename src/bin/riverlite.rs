//! `riverlite`: the command line of a riverlite database.
//!
//! It migrates a database, lists and administers jobs, queues and durable
//! schedules, shows the
//! leader, serves the web dashboard (`riverlite ui`), and benchmarks
//! riverlite on this machine (`riverlite bench`).
//! Every command but `migrate` and `bench` opens an existing, migrated
//! database and never creates one. Failures print one `error: ...` line on
//! stderr and exit non-zero.
//!
//! ```text
//! riverlite --database app.db migrate
//! riverlite --database app.db jobs list --state available --limit 20
//! RIVERLITE_DATABASE=app.db riverlite queues list
//! riverlite bench --jobs 100000 --workers 1000
//! riverlite ui --database app.db --read-only
//! ```
//!
//! It uses the public `Client` API only; all SQL stays in the library. Its
//! modules live in `src/bin/riverlite/`, one file per command group.

#[path = "riverlite/admin.rs"]
mod admin;
#[path = "riverlite/bench/mod.rs"]
mod bench;
#[path = "riverlite/failure.rs"]
mod failure;
#[path = "riverlite/jobs.rs"]
mod jobs;
#[path = "riverlite/json.rs"]
mod json;
#[path = "riverlite/progress.rs"]
mod progress;
#[path = "riverlite/queues.rs"]
mod queues;
#[path = "riverlite/schedules.rs"]
mod schedules;
#[path = "riverlite/table.rs"]
mod table;
#[path = "riverlite/ui.rs"]
mod ui;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use riverlite::Client;

use failure::{CliResult, Failure};

/// The command line: global flags, then one command.
#[derive(Debug, Parser)]
#[command(
    name = "riverlite",
    version,
    about = "Administer and benchmark a riverlite job queue (one SQLite file, River's schema)",
    propagate_version = true
)]
struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, env = "RIVERLITE_DATABASE", value_name = "PATH")]
    database: Option<PathBuf>,

    /// How long to wait for another connection's write lock before giving up, in milliseconds.
    #[arg(long, global = true, default_value_t = riverlite::DEFAULT_BUSY_TIMEOUT.as_millis() as u64, value_name = "MS")]
    busy_timeout_ms: u64,

    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the schema (creates the file), or show what is applied.
    Migrate(admin::MigrateArgs),
    /// List, show, cancel, retry or delete jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// List, pause or resume queues.
    #[command(subcommand)]
    Queues(queues::QueuesCommand),
    /// List, show, add, pause, resume or delete durable schedules.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Show which client holds leadership.
    Leader,
    /// Measure insert and work throughput and insert-to-start latency.
    Bench(bench::BenchArgs),
    /// Serve the web dashboard (overview, jobs, queues, schedules) on 127.0.0.1:8080.
    Ui(ui::UiArgs),
}

/// Where the database is, and how to open it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `--database` or `RIVERLITE_DATABASE`.
    path: Option<PathBuf>,
    /// True when the path came from `--database` itself, not the environment.
    from_command_line: bool,
    /// `--busy-timeout-ms`.
    busy_timeout: Duration,
}

impl Target {
    /// The database path, or a failure saying how to give one.
    pub fn path(&self) -> CliResult<&Path> {
        self.path.as_deref().ok_or_else(|| {
            Failure::msg("no database given: pass --database PATH or set RIVERLITE_DATABASE")
        })
    }

    /// The path given with `--database` on the command line, ignoring the
    /// environment (for `bench`, which must not fill a real database by accident).
    pub fn explicit_path(&self) -> Option<&Path> {
        self.path.as_deref().filter(|_| self.from_command_line)
    }

    /// A client on an existing, migrated database; never creates the file.
    pub fn open_existing(&self) -> CliResult<Client> {
        let path = self.path()?;
        self.try_open_existing()?
            .map_err(|e| failure::opening(path, e))
    }

    /// Like [`Target::open_existing`], but hands back the library's error
    /// (such as `NotMigrated`) for the caller to interpret. A missing file is
    /// the outer failure.
    pub fn try_open_existing(&self) -> CliResult<riverlite::Result<Client>> {
        let path = self.path()?;
        if !path.exists() {
            return Err(Failure::msg(format!(
                "no database at {}; run `riverlite migrate` first",
                path.display()
            )));
        }
        Ok(Client::builder(path)
            .migrate(false)
            .busy_timeout(self.busy_timeout)
            .build())
    }

    /// A client on the database, creating and migrating it if needed.
    pub fn open_or_create(&self) -> CliResult<Client> {
        let path = self.path()?;
        Client::builder(path)
            .busy_timeout(self.busy_timeout)
            .build()
            .map_err(|e| failure::opening(path, e))
    }
}

/// Parses the command line, keeping track of where `--database` came from.
fn parse() -> (Cli, Target) {
    let matches = Cli::command().get_matches();
    let from_command_line = matches.value_source("database") == Some(ValueSource::CommandLine);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let target = Target {
        path: cli.database.clone(),
        from_command_line,
        busy_timeout: Duration::from_millis(cli.busy_timeout_ms),
    };
    (cli, target)
}

/// Runs one command, writing its normal output to `out`.
fn run(command: Command, target: &Target, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Migrate(args) => admin::migrate(&args, target, out),
        Command::Jobs(command) => jobs::run(command, &target.open_existing()?, out),
        Command::Queues(command) => queues::run(command, &target.open_existing()?, out),
        Command::Schedules(command) => schedules::run(command, &target.open_existing()?, out),
        Command::Leader => admin::leader(&target.open_existing()?, out),
        Command::Bench(args) => bench::run(&args, target, out),
        Command::Ui(args) => ui::run(&args, target, out),
    }
}

/// A panic is a bug; still report it as one line, without a backtrace.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown cause");
        eprintln!("error: internal error (a bug in riverlite): {message}");
    }));
}

fn main() -> ExitCode {
    quiet_panics();
    let (cli, target) = parse();
    // Not locked: the bench's progress bar draws on stdout too.
    let mut stdout = std::io::stdout();
    let result = run(cli.command, &target, &mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
