//! The dashboard on a big file: how long each page and API call takes to answer on 1,000,000 jobs.
//!
//! `cargo bench --bench ui` (`-- --jobs N` for another size). It fills a
//! fresh file in River's schema with one SQL statement (80 % completed, the
//! rest spread over the other states; five queues, eight kinds, one rare
//! tag), serves it with `riverlite::ui::Server`, and times whole HTTP
//! requests from a client on loopback: five rounds, median and slowest.
//! `-- --file PATH` keeps the filled file at PATH and reuses it next time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use riverlite::rusqlite::Connection;
use riverlite::ui::Server;
use riverlite::Client;

const ROUNDS: usize = 5;

/// Fills `river_job` with `jobs` rows in one statement.
fn fill(path: &std::path::Path, jobs: i64) -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1),
         rows AS (
           SELECT i,
             CASE WHEN i % 1000 < 800 THEN 'completed'
                  WHEN i % 1000 < 880 THEN 'available'
                  WHEN i % 1000 < 900 THEN 'discarded'
                  WHEN i % 1000 < 910 THEN 'retryable'
                  WHEN i % 1000 < 950 THEN 'scheduled'
                  WHEN i % 1000 < 970 THEN 'cancelled'
                  WHEN i % 1000 < 971 THEN 'running'
                  ELSE 'pending' END AS state,
             CASE WHEN i % 100 < 60 THEN 'default' WHEN i % 100 < 80 THEN 'email'
                  WHEN i % 100 < 90 THEN 'images' WHEN i % 100 < 99 THEN 'reports'
                  ELSE 'rare' END AS queue
           FROM n)
         INSERT INTO river_job (args, attempt, attempted_at, created_at, errors, finalized_at, kind,
                                max_attempts, metadata, priority, queue, state, scheduled_at, tags)
         SELECT jsonb_object('n', i), 1,
           strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', (?1 - i) / 100)),
           strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', (?1 - i) / 100 + 1)),
           CASE WHEN state = 'discarded' THEN jsonb('[{\"at\":\"2026-01-01T00:00:00Z\",\"attempt\":1,\"error\":\"boom\",\"trace\":\"\"}]') END,
           CASE WHEN state IN ('completed', 'cancelled', 'discarded')
                THEN strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', i % 7200)) END,
           'kind_' || (i % 8), 25, jsonb('{}'), 1 + i % 4, queue, state,
           strftime('%Y-%m-%d %H:%M:%f', 'now',
             printf('%+d seconds', CASE WHEN state = 'scheduled' THEN 3600 ELSE -((?1 - i) / 100) END)),
           CASE WHEN i % 10000 = 7 THEN jsonb('[\"rare\"]') ELSE jsonb('[\"common\"]') END
         FROM rows",
        [jobs],
    )?;
    Ok(())
}

/// One GET, read to the end: its status and how long it took.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let status = String::from_utf8_lossy(&response[..response.len().min(16)])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, started.elapsed()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let jobs = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000i64);
    // `--file PATH` keeps the filled file there, and reuses it if it exists.
    let kept = args
        .iter()
        .position(|a| a == "--file")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let dir = tempfile::tempdir()?;
    let path = kept.unwrap_or_else(|| dir.path().join("ui.db"));
    if !path.exists() {
        drop(Client::builder(&path).build()?); // River's schema, migrated
        let started = Instant::now();
        fill(&path, jobs)?;
        println!(
            "filled {jobs} jobs in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let client = Client::builder(&path).migrate(false).build()?;
    let server = Server::bind(&client, "127.0.0.1:0")?;
    let pages = [
        "/",
        "/api/overview",
        "/jobs",
        "/jobs?state=completed",
        "/jobs?state=available",
        "/jobs?state=running",
        "/jobs?state=pending",
        "/jobs?state=scheduled",
        "/jobs?queue=default",
        "/jobs?queue=rare",
        "/jobs?state=discarded&queue=rare",
        "/jobs?kind=kind_3",
        "/jobs?kind=kind_3&state=retryable",
        "/jobs?state=completed&before=500000",
        "/jobs/500000",
        "/queues",
        "/api/jobs?state=available&limit=100",
        "/jobs?tag=rare",
    ];
    println!("\n{:<40} {:>10} {:>10}", "page", "median ms", "max ms");
    for page in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let (status, took) = get(server.addr(), page)?;
            if status != 200 {
                return Err(format!("{page} answered {status}").into());
            }
            times.push(took.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<40} {:>10.1} {:>10.1}",
            page,
            times[ROUNDS / 2],
            times[ROUNDS - 1]
        );
    }
    server.stop();
    Ok(())
}
