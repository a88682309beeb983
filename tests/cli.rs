//! The `riverlite` binary: migrate, jobs, queues, leader and bench, and how it reports errors.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{noop_client, temp_db, wait_until, Noop};
use predicates::prelude::*;
use riverlite::rusqlite::Connection;
use riverlite::{Client, InsertOpts, JobState};
use serde_json::Value;

/// `riverlite --database <path>`, ignoring any RIVERLITE_DATABASE of the caller.
fn riverlite(db: &Path) -> Command {
    let mut cmd = bare();
    cmd.arg("--database").arg(db);
    cmd
}

/// `riverlite` with no database flag and no RIVERLITE_DATABASE.
fn bare() -> Command {
    let mut cmd = Command::cargo_bin("riverlite").expect("the riverlite binary");
    cmd.env_remove("RIVERLITE_DATABASE");
    cmd
}

/// Runs `riverlite --database db args..`, expects success, and returns stdout.
fn stdout_of(db: &Path, args: &[&str]) -> String {
    let output = riverlite(db)
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// A fresh database migrated by `riverlite migrate`.
fn migrated() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = temp_db();
    riverlite(&path).arg("migrate").assert().success();
    (dir, path)
}

/// Inserts three jobs through the library: two in `default`, one in `mail`.
/// Returns their ids in insert order.
fn insert_jobs(path: &Path) -> Vec<i64> {
    let client = Client::builder(path).build().unwrap();
    let mail = InsertOpts {
        queue: Some("mail".into()),
        tags: vec!["welcome".into()],
        ..Default::default()
    };
    vec![
        client.insert(Noop { n: 1 }, None).unwrap().job.id,
        client.insert(Noop { n: 2 }, None).unwrap().job.id,
        client.insert(Noop { n: 3 }, Some(mail)).unwrap().job.id,
    ]
}

fn state_of(path: &Path, id: i64) -> JobState {
    let client = Client::builder(path).migrate(false).build().unwrap();
    client.job_get(id).unwrap().state
}

/// Asserts a failed run: non-zero exit and exactly one `error:` line on stderr, no panic.
fn assert_one_line_error(assert: assert_cmd::assert::Assert) -> String {
    let output = assert.failure().get_output().clone();
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr:?}");
    stderr
}

#[test]
fn migrate_creates_the_schema_and_status_lists_versions() {
    let (_dir, path) = temp_db();
    let out = stdout_of(&path, &["migrate"]);
    assert!(out.contains("main: 1, 2, 3, 4, 5, 6, 7, 8"), "{out}");
    assert!(path.exists());
    let status = stdout_of(&path, &["migrate", "--status"]);
    assert_eq!(status, "main: 1, 2, 3, 4, 5, 6, 7, 8\nriverlite: 1\n");
    // Migrating again changes nothing.
    stdout_of(&path, &["migrate"]);
    assert_eq!(
        stdout_of(&path, &["migrate", "--status"]),
        "main: 1, 2, 3, 4, 5, 6, 7, 8\nriverlite: 1\n"
    );
}

#[test]
fn a_version_7_file_is_read_as_it_is_and_migrate_brings_it_to_8() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    common::make_version_7(&path);
    assert_eq!(
        stdout_of(&path, &["migrate", "--status"]),
        "main: 1, 2, 3, 4, 5, 6, 7\nriverlite: 1\n"
    );
    let listed = stdout_of(&path, &["jobs", "list"]);
    assert!(listed.contains(&ids[2].to_string()), "{listed}");
    assert_eq!(
        stdout_of(&path, &["migrate", "--status"]),
        "main: 1, 2, 3, 4, 5, 6, 7\nriverlite: 1\n",
        "reading changed nothing"
    );
    let out = stdout_of(&path, &["migrate"]);
    assert!(out.contains("main: 1, 2, 3, 4, 5, 6, 7, 8"), "{out}");
    assert_eq!(state_of(&path, ids[2]), JobState::Available);
}

#[test]
fn migrate_status_on_an_empty_file_says_it_is_not_migrated() {
    let (_dir, path) = temp_db();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE other (x INTEGER)")
        .unwrap();
    let status = stdout_of(&path, &["migrate", "--status"]);
    assert!(status.starts_with("main: none"), "{status}");
}

#[test]
fn commands_on_an_unmigrated_file_tell_to_migrate() {
    let (_dir, path) = temp_db();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE other (x INTEGER)")
        .unwrap();
    let stderr = assert_one_line_error(riverlite(&path).args(["jobs", "list"]).assert());
    assert!(stderr.contains("riverlite migrate"), "{stderr}");
}

#[test]
fn jobs_list_on_an_empty_database() {
    let (_dir, path) = migrated();
    assert_eq!(stdout_of(&path, &["jobs", "list"]), "no jobs\n");
    assert_eq!(stdout_of(&path, &["jobs", "list", "--json"]), "");
}

#[test]
fn jobs_list_prints_a_table_and_filters() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    let out = stdout_of(&path, &["jobs", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for column in ["ID", "KIND", "QUEUE", "STATE", "ATTEMPT", "SCHEDULED_AT"] {
        assert!(lines[0].contains(column), "{out}");
    }
    assert!(lines[1].trim_start().starts_with(&ids[0].to_string()));
    assert!(lines[1].contains("noop") && lines[1].contains("available"));
    assert!(lines[1].contains("0/25"), "{out}");
    assert!(lines[3].contains("mail"), "{out}");

    let mail = stdout_of(&path, &["jobs", "list", "--queue", "mail"]);
    assert_eq!(mail.lines().count(), 2, "{mail}");
    let none = stdout_of(&path, &["jobs", "list", "--state", "completed"]);
    assert_eq!(none, "no jobs\n");
    let some = stdout_of(
        &path,
        &[
            "jobs",
            "list",
            "--state",
            "completed",
            "--state",
            "available",
        ],
    );
    assert_eq!(some.lines().count(), 4, "{some}");
    let other_kind = stdout_of(&path, &["jobs", "list", "--kind", "other"]);
    assert_eq!(other_kind, "no jobs\n");
    let limited = stdout_of(&path, &["jobs", "list", "--limit", "2"]);
    assert_eq!(
        limited.lines().count(),
        4,
        "two rows, header, note: {limited}"
    );
    assert!(limited.contains("raise --limit"), "{limited}");
}

#[test]
fn jobs_list_json_prints_one_object_per_line() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    let out = stdout_of(&path, &["jobs", "list", "--json"]);
    let jobs: Vec<Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["id"], ids[0]);
    assert_eq!(jobs[0]["kind"], "noop");
    assert_eq!(jobs[0]["state"], "available");
    assert_eq!(jobs[0]["args"]["n"], 1);
    assert_eq!(jobs[0]["max_attempts"], 25);
    assert!(jobs[0]["scheduled_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(jobs[2]["queue"], "mail");
    assert_eq!(jobs[2]["tags"][0], "welcome");
    assert!(jobs[2]["errors"].as_array().unwrap().is_empty());

    let desc = stdout_of(&path, &["jobs", "list", "--json", "--desc", "--limit", "1"]);
    let newest: Value = serde_json::from_str(desc.trim()).unwrap();
    assert_eq!(newest["id"], ids[2]);
}

#[test]
fn jobs_get_prints_the_whole_row() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    let out = stdout_of(&path, &["jobs", "get", &ids[2].to_string()]);
    for field in [
        "id:",
        "kind:",
        "queue:",
        "state:",
        "attempt:",
        "scheduled_at:",
        "args:",
        "metadata:",
        "errors:",
    ] {
        assert!(out.contains(field), "missing {field}: {out}");
    }
    assert!(out.contains("\"n\": 3"), "args pretty-printed: {out}");
    assert!(out.contains("welcome"), "{out}");

    let json = stdout_of(&path, &["jobs", "get", "--json", &ids[0].to_string()]);
    let job: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(job["id"], ids[0]);
}

#[test]
fn jobs_get_of_a_missing_id_is_an_error() {
    let (_dir, path) = migrated();
    let stderr = assert_one_line_error(riverlite(&path).args(["jobs", "get", "999"]).assert());
    assert!(stderr.contains("no job with id 999"), "{stderr}");
}

#[test]
fn jobs_cancel_retry_delete_print_the_resulting_state() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    let id = ids[0].to_string();

    let out = stdout_of(&path, &["jobs", "cancel", &id]);
    assert_eq!(out, format!("job {id}: cancelled\n"));
    assert_eq!(state_of(&path, ids[0]), JobState::Cancelled);

    let out = stdout_of(&path, &["jobs", "retry", &id]);
    assert_eq!(out, format!("job {id}: available\n"));
    assert_eq!(state_of(&path, ids[0]), JobState::Available);

    let out = stdout_of(&path, &["jobs", "delete", &id]);
    assert_eq!(out, format!("job {id}: deleted (was available)\n"));
    let list = stdout_of(&path, &["jobs", "list", "--json"]);
    assert_eq!(list.lines().count(), 2);

    assert_one_line_error(riverlite(&path).args(["jobs", "cancel", &id]).assert());
}

#[test]
fn queues_pause_list_and_resume() {
    let (_dir, path) = migrated();
    insert_jobs(&path);
    let out = stdout_of(&path, &["queues", "pause", "mail"]);
    assert_eq!(out, "queue mail: paused\n");

    let list = stdout_of(&path, &["queues", "list"]);
    let row = |name: &str| -> Vec<String> {
        list.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {list}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert!(list.lines().next().unwrap().contains("AVAILABLE"), "{list}");
    // `default` has jobs but no river_queue row: it is listed all the same.
    assert_eq!(row("default")[..3], ["default", "active", "2"]);
    assert_eq!(row("mail")[..3], ["mail", "paused", "1"]);

    let json = stdout_of(&path, &["queues", "list", "--json"]);
    let queues: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(queues.len(), 2);
    assert_eq!(queues[1]["name"], "mail");
    assert_eq!(queues[1]["paused"], true);
    assert_eq!(queues[1]["counts"]["available"], 1);

    assert_eq!(
        stdout_of(&path, &["queues", "resume", "mail"]),
        "queue mail: resumed\n"
    );
    let list = stdout_of(&path, &["queues", "list"]);
    assert!(list
        .lines()
        .any(|l| l.starts_with("mail") && l.contains("active")));
}

#[test]
fn resuming_an_unknown_queue_is_an_error() {
    let (_dir, path) = migrated();
    let stderr =
        assert_one_line_error(riverlite(&path).args(["queues", "resume", "nope"]).assert());
    assert!(stderr.contains("no queue named nope"), "{stderr}");
}

#[test]
fn leader_says_no_leader_without_a_working_client() {
    let (_dir, path) = migrated();
    assert_eq!(stdout_of(&path, &["leader"]), "no leader\n");
}

#[test]
fn leader_names_the_working_client_that_leads() {
    let (_dir, path) = migrated();
    let client = noop_client(&path, 1, |_| Ok(()));
    client.start().unwrap();
    wait_until(&client, "the client leads", || client.is_leader());
    wait_until(&client, "the leader is recorded", || {
        client.leader().unwrap().is_some()
    });
    let out = stdout_of(&path, &["leader"]);
    assert!(
        out.contains(&format!("leader_id:  {}", client.id())),
        "{out}"
    );
    assert!(
        out.contains("elected_at:") && out.contains("expires_at:"),
        "{out}"
    );
    client.stop().unwrap();
}

#[test]
fn a_missing_database_is_an_error_and_is_not_created() {
    let (_dir, path) = temp_db();
    for args in [
        &["jobs", "list"][..],
        &["migrate", "--status"],
        &["queues", "list"],
        &["leader"],
    ] {
        let stderr = assert_one_line_error(riverlite(&path).args(args).assert());
        assert!(stderr.contains("no database at"), "{stderr}");
        assert!(stderr.contains("riverlite migrate"), "{stderr}");
    }
    assert!(!path.exists(), "the CLI must not create the database");
}

#[test]
fn no_database_given_is_an_error() {
    let stderr = assert_one_line_error(bare().args(["jobs", "list"]).assert());
    assert!(stderr.contains("--database"), "{stderr}");
}

#[test]
fn a_locked_database_is_a_busy_error() {
    let (_dir, path) = migrated();
    let ids = insert_jobs(&path);
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let stderr = assert_one_line_error(
        riverlite(&path)
            .args(["--busy-timeout-ms", "100", "jobs", "cancel"])
            .arg(ids[0].to_string())
            .assert(),
    );
    assert!(stderr.contains("locked"), "{stderr}");
    assert!(stderr.contains("--busy-timeout-ms"), "{stderr}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(state_of(&path, ids[0]), JobState::Available);
}

#[test]
fn a_bad_argument_is_a_usage_error() {
    let (_dir, path) = migrated();
    riverlite(&path)
        .args(["jobs", "get", "notanumber"])
        .assert()
        .failure()
        .code(2)
        .stderr(
            predicate::str::contains("invalid value")
                .and(predicate::str::contains("panicked").not()),
        );
    riverlite(&path)
        .args(["jobs", "list", "--state", "sleeping"])
        .assert()
        .failure()
        .code(2);
}

#[test]
fn the_database_can_come_from_the_environment() {
    let (_dir, path) = migrated();
    insert_jobs(&path);
    let output = bare()
        .env("RIVERLITE_DATABASE", &path)
        .args(["jobs", "list", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 3);
}

#[test]
fn the_database_flag_is_accepted_after_the_subcommand_too() {
    let (_dir, path) = migrated();
    bare()
        .args(["jobs", "list", "--database"])
        .arg(&path)
        .assert()
        .success()
        .stdout("no jobs\n");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["migrate", "--help"],
        &["jobs", "--help"],
        &["jobs", "list", "--help"],
        &["jobs", "get", "--help"],
        &["jobs", "cancel", "--help"],
        &["jobs", "retry", "--help"],
        &["jobs", "delete", "--help"],
        &["queues", "--help"],
        &["queues", "list", "--help"],
        &["queues", "pause", "--help"],
        &["queues", "resume", "--help"],
        &["schedules", "--help"],
        &["schedules", "add", "--help"],
        &["leader", "--help"],
        &["bench", "--help"],
    ] {
        bare()
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage:"));
    }
}

/// The keys `bench --json` promises.
const BENCH_KEYS: [&str; 8] = [
    "insert_single_jobs_per_sec",
    "insert_batch_jobs_per_sec",
    "work_jobs",
    "work_jobs_per_sec",
    "latency_p50_ms",
    "latency_p99_ms",
    "workers",
    "mode",
];

fn bench_json(cmd: &mut Command) -> Value {
    let output = cmd.assert().success().get_output().clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(stdout.trim()).expect("bench --json prints one JSON object")
}

#[test]
fn bench_burns_down_and_prints_json() {
    // The environment's database is never used by bench: only --database is.
    let (_dir, untouched) = temp_db();
    let summary = bench_json(bare().env("RIVERLITE_DATABASE", &untouched).args([
        "bench",
        "--jobs",
        "2000",
        "--workers",
        "50",
        "--json",
    ]));
    for key in BENCH_KEYS {
        assert!(summary.get(key).is_some(), "missing {key}: {summary}");
    }
    assert_eq!(summary["mode"], "burn_down");
    assert_eq!(summary["work_jobs"], 2000);
    assert_eq!(summary["workers"], 50);
    assert!(
        summary["insert_single_jobs"].as_u64().unwrap()
            + summary["insert_batch_jobs"].as_u64().unwrap()
            == 2000
    );
    assert!(!untouched.exists());
}

#[test]
fn bench_with_a_duration_inserts_and_works_at_once() {
    let (_dir, path) = temp_db();
    let summary = bench_json(riverlite(&path).args([
        "bench",
        "--duration",
        "1s",
        "--jobs",
        "2000",
        "--workers",
        "20",
        "--latency-jobs",
        "50",
        "--json",
    ]));
    for key in BENCH_KEYS {
        assert!(summary.get(key).is_some(), "missing {key}: {summary}");
    }
    assert_eq!(summary["mode"], "duration");
    assert_eq!(summary["duration_seconds"], 1.0);
    // It ran on the given database, and left every job completed.
    let client = Client::builder(&path).migrate(false).build().unwrap();
    let counts = client.job_counts().unwrap();
    assert!(counts.iter().all(|c| c.state == JobState::Completed));
}

#[test]
fn schedules_add_list_get_pause_resume_and_delete() {
    let (_dir, path) = migrated();
    let out = stdout_of(
        &path,
        &[
            "schedules",
            "add",
            "nightly",
            "--cron",
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "--kind",
            "report",
            "--args",
            r#"{"full":true}"#,
            "--queue",
            "reports",
            "--tag",
            "nightly",
        ],
    );
    assert!(
        out.starts_with("schedule nightly: CRON_TZ=Europe/Berlin 0 3 * * * (next "),
        "{out}"
    );
    stdout_of(
        &path,
        &[
            "schedules",
            "add",
            "tick",
            "--every",
            "30s",
            "--kind",
            "report",
        ],
    );

    let table = stdout_of(&path, &["schedules", "list"]);
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert!(
        table.contains("every 30s") && table.contains("active"),
        "{table}"
    );
    let rows: Vec<Value> = stdout_of(&path, &["schedules", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "nightly");
    assert_eq!(rows[0]["args"]["full"], true);
    assert_eq!(rows[0]["queue"], "reports");
    assert_eq!(rows[0]["tags"][0], "nightly");
    assert!(rows[0]["next_target_at"].is_string());

    assert_eq!(
        stdout_of(&path, &["schedules", "pause", "tick"]),
        "schedule tick: paused\n"
    );
    let got: Value =
        serde_json::from_str(&stdout_of(&path, &["schedules", "get", "tick"])).unwrap();
    assert_eq!(got["paused"], true);
    assert!(
        stdout_of(&path, &["schedules", "resume", "tick"]).starts_with("schedule tick: resumed")
    );
    stdout_of(&path, &["schedules", "delete", "tick"]);
    stdout_of(&path, &["schedules", "delete", "nightly"]);
    assert_eq!(stdout_of(&path, &["schedules", "list"]), "no schedules\n");
}

#[test]
fn schedules_with_bad_input_fail_with_one_line_and_write_nothing() {
    let (_dir, path) = migrated();
    for args in [
        &[
            "schedules",
            "add",
            "s",
            "--cron",
            "not a spec",
            "--kind",
            "k",
        ][..],
        &["schedules", "add", "s", "--every", "10ms", "--kind", "k"],
        &[
            "schedules",
            "add",
            "s",
            "--every",
            "30s",
            "--kind",
            "k",
            "--args",
            "[1]",
        ],
        &[
            "schedules",
            "add",
            "s",
            "--every",
            "30s",
            "--kind",
            "k",
            "--priority",
            "9",
        ],
        &["schedules", "pause", "missing"],
        &["schedules", "delete", "missing"],
    ] {
        let stderr = assert_one_line_error(riverlite(&path).args(args).assert());
        assert!(!stderr.is_empty(), "{args:?}");
    }
    assert_eq!(stdout_of(&path, &["schedules", "list"]), "no schedules\n");
}
