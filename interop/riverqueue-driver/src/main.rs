//! `riverqueue-driver`: a line-delimited JSON driver around River's official
//! Rust client (`riverqueue`) on SQLite, for interop tests that run it as a
//! subprocess against a shared database file.
//!
//! Usage: `riverqueue-driver --database PATH [--id CLIENT_ID]`, or
//! `riverqueue-driver bench ...` for the non-interactive bench mode of
//! [`bench`] (one workload, one JSON line, no protocol).
//!
//! Commands arrive on stdin, one JSON object a line. Each gets exactly one
//! response line on stdout, `{"ok":true,...}` or `{"ok":false,"error":"..."}`.
//! Asynchronous job events are separate lines carrying an `"event"` key and
//! never an `"ok"` key. Every line is flushed as it is written. Diagnostics go
//! to stderr. When stdin closes, a started client is stopped gracefully and
//! the process exits 0.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use riverqueue::jiff::Timestamp;
use riverqueue::migrate::SqliteMigrator;
use riverqueue::sqlx::SqlitePool;
use riverqueue::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use riverqueue::{
    BoxError, Client, InsertOpts, Job, JobArgs, JobRow, QueueConfig, RunHandle, UniqueOpts,
    WorkCancelled, WorkContext, WorkOutcome, Workers,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

mod bench;

/// Minimum delay between fetches, and between insert notifications per queue.
const FETCH_COOLDOWN: Duration = Duration::from_millis(2);

/// Arguments of the `interop_noop` job kind. Optional fields are serialized
/// only when set, so `{"n":1}` round-trips as `{"n":1}`.
#[derive(Clone, Debug, Deserialize, JobArgs, Serialize)]
#[river(kind = "interop_noop")]
struct InteropNoop {
    n: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sleep_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail: Option<bool>,
}

/// The error an `interop_noop` job with `fail: true` returns.
#[derive(Debug)]
struct RequestedFailure;

impl std::fmt::Display for RequestedFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("interop_noop: failure requested by args")
    }
}

impl std::error::Error for RequestedFailure {}

/// Sends finished lines to the stdout writer thread, which writes and
/// flushes each one in order.
#[derive(Clone)]
struct Out(mpsc::Sender<String>);

impl Out {
    fn send(&self, value: &Value) {
        // The writer only goes away at exit; a lost line then doesn't matter.
        let _ = self.0.send(value.to_string());
    }
}

fn spawn_writer() -> (Out, std::thread::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel::<String>();
    let handle = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        for line in receiver {
            let mut lock = stdout.lock();
            if writeln!(lock, "{line}").and_then(|()| lock.flush()).is_err() {
                // stdout closed: nobody is listening any more.
                return;
            }
        }
    });
    (Out(sender), handle)
}

struct Driver {
    pool: SqlitePool,
    client_id: Option<String>,
    /// Insert-only client (no workers, no queues), used while no working
    /// client is started.
    insert_client: Client,
    /// The working client and its run handle, between `start` and `stop`.
    running: Option<(Client, RunHandle)>,
    out: Out,
}

#[derive(Debug, Deserialize)]
struct InsertCommand {
    args: InteropNoop,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    unique_by_args: bool,
    #[serde(default)]
    scheduled_in_ms: u64,
}

#[derive(Debug, Deserialize)]
struct InsertManyCommand {
    count: i64,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    start_n: i64,
}

#[derive(Debug, Deserialize)]
struct StartCommand {
    queues: BTreeMap<String, usize>,
}

#[derive(Debug, Deserialize)]
struct QueueCommand {
    queue: String,
}

#[derive(Debug, Deserialize)]
struct IdCommand {
    id: i64,
}

type CommandResult = Result<serde_json::Map<String, Value>, String>;

fn parse<T: serde::de::DeserializeOwned>(command: &Value) -> Result<T, String> {
    serde_json::from_value(command.clone()).map_err(|error| format!("invalid command: {error}"))
}

fn fields(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn err(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn unix_ns_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|duration| duration.as_nanos())
        .unwrap_or(0)
}

fn timestamp_json(timestamp: Option<Timestamp>) -> Value {
    // jiff's Display for Timestamp is RFC 3339 in UTC with a `Z` suffix.
    timestamp.map_or(Value::Null, |timestamp| Value::String(timestamp.to_string()))
}

fn job_json(row: &JobRow) -> Value {
    let args: Value = serde_json::from_str(row.encoded_args.get()).unwrap_or(Value::Null);
    let metadata: Value = serde_json::from_str(row.metadata.as_raw().get()).unwrap_or(Value::Null);
    let errors: Vec<Value> = row
        .errors
        .iter()
        .map(|error| {
            json!({
                "at": error.at.to_string(),
                "attempt": error.attempt,
                "error": error.error,
            })
        })
        .collect();
    json!({
        "id": row.id,
        "state": row.state.as_str(),
        "attempt": row.attempt,
        "max_attempts": row.max_attempts,
        "queue": row.queue,
        "kind": row.kind,
        "priority": row.priority,
        "args": args,
        "metadata": metadata,
        "tags": row.tags,
        "errors": errors,
        "attempted_by": row.attempted_by,
        "created_at": timestamp_json(Some(row.created_at)),
        "scheduled_at": timestamp_json(Some(row.scheduled_at)),
        "attempted_at": timestamp_json(row.attempted_at),
        "finalized_at": timestamp_json(row.finalized_at),
    })
}

/// Works one `interop_noop` job, reporting its start and end on stdout.
async fn work_noop(
    out: Out,
    context: WorkContext,
    job: Job<InteropNoop>,
) -> Result<WorkOutcome, BoxError> {
    let id = job.row.id;
    let attempt = job.row.attempt;
    out.send(&json!({
        "event": "started",
        "id": id,
        "attempt": attempt,
        "at_unix_ns": unix_ns_now(),
    }));
    let result: Result<WorkOutcome, BoxError> = async {
        if let Some(ms) = job.args.sleep_ms {
            tokio::select! {
                biased;
                () = context.cancellation_token().cancelled() => {
                    return Err(Box::new(WorkCancelled) as BoxError);
                }
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            }
        }
        if job.args.fail == Some(true) {
            return Err(Box::new(RequestedFailure) as BoxError);
        }
        Ok(WorkOutcome::Complete)
    }
    .await;
    let label = match &result {
        Ok(_) => "ok",
        Err(error) if WorkCancelled::is_in_chain(error.as_ref()) => "cancelled",
        Err(_) => "error",
    };
    out.send(&json!({
        "event": "finished",
        "id": id,
        "attempt": attempt,
        "result": label,
    }));
    result
}

impl Driver {
    /// The client that serves work commands: the working client while one is
    /// started, the insert-only client otherwise.
    fn client(&self) -> &Client {
        self.running
            .as_ref()
            .map_or(&self.insert_client, |(client, _)| client)
    }

    async fn handle(&mut self, command: &Value) -> CommandResult {
        let name = command
            .get("cmd")
            .and_then(Value::as_str)
            .ok_or_else(|| "missing \"cmd\"".to_owned())?;
        match name {
            "migrate" => self.migrate().await,
            "insert" => self.insert(parse(command)?).await,
            "insert_many" => self.insert_many(parse(command)?).await,
            "start" => self.start(parse(command)?).await,
            "stop" => self.stop().await,
            "pause" => {
                let QueueCommand { queue } = parse(command)?;
                self.client().queues().pause(queue).await.map_err(err)?;
                Ok(serde_json::Map::new())
            }
            "resume" => {
                let QueueCommand { queue } = parse(command)?;
                self.client().queues().resume(queue).await.map_err(err)?;
                Ok(serde_json::Map::new())
            }
            "cancel" => {
                let IdCommand { id } = parse(command)?;
                self.client().jobs().cancel(id).await.map_err(err)?;
                Ok(serde_json::Map::new())
            }
            "get" => {
                let IdCommand { id } = parse(command)?;
                let job = self.client().jobs().get(id).await.map_err(err)?;
                Ok(fields(json!({ "job": job_json(&job) })))
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }

    async fn migrate(&mut self) -> CommandResult {
        let migrator = SqliteMigrator::new(self.pool.clone());
        migrator.migrate_up().await.map_err(err)?;
        let versions = migrator.existing_versions().await.map_err(err)?;
        let version = versions.iter().copied().max().unwrap_or(0);
        Ok(fields(json!({ "version": version })))
    }

    fn insert_opts(queue: Option<&str>) -> InsertOpts {
        InsertOpts::default().with_queue(queue.unwrap_or("default"))
    }

    async fn insert(&mut self, command: InsertCommand) -> CommandResult {
        let mut opts = Self::insert_opts(command.queue.as_deref());
        if command.unique_by_args {
            opts = opts.with_unique(UniqueOpts::new().with_by_args(true));
        }
        if command.scheduled_in_ms > 0 {
            let at = Timestamp::now()
                .checked_add(Duration::from_millis(command.scheduled_in_ms))
                .map_err(err)?;
            opts = opts.with_scheduled_at(at);
        }
        let result = self
            .client()
            .insert(command.args)
            .opts(opts)
            .await
            .map_err(err)?;
        Ok(fields(json!({
            "id": result.job.row.id,
            "skipped": result.unique_skipped_as_duplicate,
        })))
    }

    async fn insert_many(&mut self, command: InsertManyCommand) -> CommandResult {
        if command.count < 0 {
            return Err("count must not be negative".to_owned());
        }
        if command.count == 0 {
            // riverqueue rejects an empty batch; an empty request inserts nothing.
            return Ok(fields(json!({ "count": 0 })));
        }
        let opts = Self::insert_opts(command.queue.as_deref());
        let items: Vec<(InteropNoop, InsertOpts)> = (command.start_n
            ..command.start_n + command.count)
            .map(|n| {
                (
                    InteropNoop {
                        n,
                        sleep_ms: None,
                        fail: None,
                    },
                    opts.clone(),
                )
            })
            .collect();
        let results = self.client().insert_many(items).await.map_err(err)?;
        Ok(fields(json!({ "count": results.len() })))
    }

    async fn start(&mut self, command: StartCommand) -> CommandResult {
        if self.running.is_some() {
            return Err("client already started".to_owned());
        }
        let mut workers = Workers::new();
        let out = self.out.clone();
        workers
            .add_fn(move |context: WorkContext, job: Job<InteropNoop>| {
                work_noop(out.clone(), context, job)
            })
            .map_err(err)?;
        let mut builder = Client::builder(self.pool.clone())
            .fetch_cooldown(FETCH_COOLDOWN)
            .workers(workers);
        if let Some(id) = &self.client_id {
            builder = builder.id(id.clone());
        }
        for (queue, max_workers) in command.queues {
            builder = builder.queue(queue, QueueConfig::new(max_workers));
        }
        let client = builder.build().map_err(err)?;
        let mut run = client.start().map_err(err)?;
        if let Err(error) = run.wait_ready().await {
            let stop = run.stop().await;
            return Err(match stop {
                Err(stop_error) => format!("{error}: {stop_error}"),
                Ok(()) => error.to_string(),
            });
        }
        self.running = Some((client, run));
        Ok(serde_json::Map::new())
    }

    async fn stop(&mut self) -> CommandResult {
        let Some((_client, mut run)) = self.running.take() else {
            return Err("client not started".to_owned());
        };
        run.stop().await.map_err(err)?;
        Ok(serde_json::Map::new())
    }
}

struct Cli {
    database: String,
    id: Option<String>,
}

fn parse_cli() -> Result<Cli, String> {
    let mut database = None;
    let mut id = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--database" => database = Some(value("--database")?),
            "--id" => id = Some(value("--id")?),
            "-h" | "--help" => {
                return Err("usage: riverqueue-driver --database PATH [--id CLIENT_ID]".to_owned());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Cli {
        database: database.ok_or_else(|| "--database PATH is required".to_owned())?,
        id,
    })
}

/// The pool both modes use: WAL, synchronous=NORMAL, a 5 s busy timeout.
async fn open_pool(database: &str) -> Result<SqlitePool, String> {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .map_err(|error| format!("opening {database}: {error}"))
}

async fn run(cli: Cli, out: Out) -> Result<(), String> {
    let pool = open_pool(&cli.database).await?;
    let mut insert_builder = Client::builder(pool.clone()).fetch_cooldown(FETCH_COOLDOWN);
    if let Some(id) = &cli.id {
        insert_builder = insert_builder.id(id.clone());
    }
    let insert_client = insert_builder.build().map_err(err)?;
    let mut driver = Driver {
        pool: pool.clone(),
        client_id: cli.id,
        insert_client,
        running: None,
        out: out.clone(),
    };

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                eprintln!("riverqueue-driver: reading stdin: {error}");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Value>(&line) {
            Ok(command) => driver.handle(&command).await,
            Err(error) => Err(format!("invalid JSON: {error}")),
        };
        let response = match result {
            Ok(mut map) => {
                map.insert("ok".to_owned(), Value::Bool(true));
                Value::Object(map)
            }
            Err(error) => {
                eprintln!("riverqueue-driver: command {line} failed: {error}");
                json!({ "ok": false, "error": error })
            }
        };
        out.send(&response);
    }

    if let Some((_client, mut run)) = driver.running.take() {
        if let Err(error) = run.stop().await {
            eprintln!("riverqueue-driver: stopping client: {error}");
        }
    }
    drop(driver);
    pool.close().await;
    Ok(())
}

/// `riverqueue-driver bench ...`: the same runtime, no stdin or writer thread.
fn bench_main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| {
            eprintln!("riverqueue-driver: starting runtime: {error}");
            std::process::exit(1);
        });
    let result = runtime.block_on(bench::run_bench(std::env::args().skip(2)));
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Err(error) = result {
        eprintln!("riverqueue-driver bench: {error}");
        std::process::exit(1);
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("bench") {
        bench_main();
        return;
    }
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("riverqueue-driver: {error}");
            std::process::exit(2);
        }
    };
    let (out, writer) = spawn_writer();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("riverqueue-driver: starting runtime: {error}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli, out));
    // Let stray tasks go without waiting on them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Every sender is gone now, so the writer drains its queue and returns.
    let _ = writer.join();
    if let Err(error) = result {
        eprintln!("riverqueue-driver: {error}");
        std::process::exit(1);
    }
}
