//! Chaos check: three worker processes share one database while one of them
//! is SIGKILLed about every second and restarted. At the end no job is lost
//! (every one completed), none ran twice outside a rescue (each attempt
//! started once, and every extra attempt was a rescue of a killed process's
//! job), and `PRAGMA integrity_check` is ok. Exits non-zero otherwise.
//!
//! `cargo run --release --example chaos` (about 15 s; a database in the temp dir).
//! `tests/reliability.rs` runs it too.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use riverlite::{
    work_fn, Client, InsertManyParams, JobArgs, JobRow, JobState, MaintenanceConfig, QueueConfig,
};
use serde::{Deserialize, Serialize};

const JOBS: usize = 20_000;
const WORKERS: usize = 3;
const KILL_EVERY: Duration = Duration::from_secs(1);
/// Kills stop after this long, so the run ends even on a slow machine.
const KILL_FOR: Duration = Duration::from_secs(12);
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

#[derive(Serialize, Deserialize)]
struct Work {
    n: usize,
}

impl JobArgs for Work {
    const KIND: &'static str = "chaos_work";
}

type Error = Box<dyn std::error::Error>;

/// Where a worker process records each attempt it starts, one line per
/// attempt (`id attempt`), each in one unbuffered append so a SIGKILL
/// loses none.
fn starts_log(database: &Path, pid: u32) -> PathBuf {
    database.with_file_name(format!("starts-{pid}.log"))
}

/// A worker process: works 25 ms jobs until it is killed. The leader's
/// rescuer looks every half second, so a killed process's jobs come back soon.
fn run_worker(database: &Path) -> Result<(), Error> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(starts_log(database, std::process::id()))?;
    let client = Client::builder(database)
        .queue("default", QueueConfig::new(20))
        .worker(work_fn::<Work, _>(move |job| {
            (&log).write_all(format!("{} {}\n", job.id, job.attempt).as_bytes())?;
            std::thread::sleep(Duration::from_millis(25));
            Ok(())
        }))
        .maintenance(MaintenanceConfig {
            rescuer_interval: Duration::from_millis(500),
            ..MaintenanceConfig::default()
        })
        .build()?;
    client.start()?;
    loop {
        std::thread::park();
    }
}

fn completed(client: &Client) -> riverlite::Result<i64> {
    Ok(client
        .job_counts()?
        .iter()
        .filter(|c| c.state == JobState::Completed)
        .map(|c| c.count)
        .sum())
}

fn all_jobs(client: &Client) -> riverlite::Result<Vec<JobRow>> {
    let mut params = riverlite::JobListParams::new().first(riverlite::MAX_PAGE_SIZE);
    let mut jobs = Vec::new();
    loop {
        let page = client.job_list(&params)?;
        jobs.extend(page.jobs);
        match page.next {
            Some(cursor) => params = params.after(cursor),
            None => return Ok(jobs),
        }
    }
}

/// How many times each (job id, attempt) was started, from every worker's log.
fn attempts_started(dir: &Path) -> Result<HashMap<(i64, i64), usize>, Error> {
    let mut started = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("starts-"));
        if !is_log {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let mut fields = line.split(' ').map(str::parse::<i64>);
            if let (Some(Ok(id)), Some(Ok(attempt))) = (fields.next(), fields.next()) {
                *started.entry((id, attempt)).or_default() += 1;
            }
        }
    }
    Ok(started)
}

fn spawn_worker(database: &Path) -> Result<Child, Error> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("--worker")
        .arg(database)
        .spawn()?)
}

/// Kills the workers on drop, so a failed run leaves no process behind.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.0 {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

/// What the run found wrong: jobs not completed, attempts started twice,
/// and extra attempts no rescue explains.
struct Findings {
    lost: usize,
    started_twice: usize,
    run_again_without_rescue: usize,
    rescued: usize,
}

fn check(client: &Client, dir: &Path) -> Result<Findings, Error> {
    let jobs = all_jobs(client)?;
    let started = attempts_started(dir)?;
    let rescues = |job: &JobRow| job.metadata["river:rescue_count"].as_i64().unwrap_or(0);
    Ok(Findings {
        lost: JOBS
            - jobs
                .iter()
                .filter(|j| j.state == JobState::Completed)
                .count(),
        started_twice: started.values().filter(|&&n| n > 1).count(),
        run_again_without_rescue: jobs.iter().filter(|j| j.attempt != 1 + rescues(j)).count(),
        rescued: jobs.iter().filter(|j| rescues(j) > 0).count(),
    })
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, database] = args.as_slice() {
        if flag == "--worker" {
            return run_worker(Path::new(database));
        }
    }
    let dir = std::env::temp_dir().join(format!("riverlite-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = dir.join("chaos.db");
    let client = Client::builder(&database).build()?;
    client.insert_many(
        (0..JOBS)
            .map(|n| InsertManyParams::new(Work { n }))
            .collect(),
    )?;
    println!(
        "inserted {JOBS} jobs; starting {WORKERS} workers and killing one every {KILL_EVERY:?}"
    );

    let mut workers = Workers(
        (0..WORKERS)
            .map(|_| spawn_worker(&database))
            .collect::<Result<_, _>>()?,
    );
    let start = Instant::now();
    let mut kills = 0;
    while completed(&client)? < JOBS as i64 {
        if start.elapsed() > GIVE_UP_AFTER {
            return Err(format!("not every job completed within {GIVE_UP_AFTER:?}").into());
        }
        std::thread::sleep(KILL_EVERY);
        if start.elapsed() < KILL_FOR {
            let victim = &mut workers.0[kills % WORKERS];
            victim.kill()?;
            victim.wait()?;
            *victim = spawn_worker(&database)?;
            kills += 1;
        }
    }
    let elapsed = start.elapsed();
    drop(workers);

    let conn = riverlite::rusqlite::Connection::open(&database)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    let found = check(&client, &dir)?;
    println!(
        "{kills} kills in {:.1} s: {} of {JOBS} jobs lost, {} rescued and run again, \
         {} attempts started twice, {} run again without a rescue, integrity_check {integrity}",
        elapsed.as_secs_f64(),
        found.lost,
        found.rescued,
        found.started_twice,
        found.run_again_without_rescue,
    );
    drop(client);
    drop(conn);
    std::fs::remove_dir_all(&dir)?;
    if found.lost + found.started_twice + found.run_again_without_rescue > 0 || integrity != "ok" {
        return Err("the chaos run lost work or ran it twice".into());
    }
    Ok(())
}
