//! The examples are documentation: this runs `examples/quickstart.rs` and checks what it prints.

mod common;

#[test]
fn quickstart_runs_the_whole_tour_and_every_job_completes() {
    common::run_example(
        "quickstart",
        &[
            "inserted 10 jobs (one inside an application transaction)",
            "insert-only client with a periodic job is rejected: invalid configuration: periodic jobs need a client that works jobs",
            "to set up a periodic job from this client, store it with schedule_upsert",
            "insert-only client stored durable schedule cleanup (every 1s)",
            "[work] durable schedule cleanup ran for",
            "[work] resized",
            "all jobs completed: true",
        ],
    );
}

/// The dashboard's demo keeps a file with something in every state a page shows.
#[test]
fn the_demo_leaves_a_file_with_every_kind_of_job_for_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let output = std::process::Command::new(common::example("demo"))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("-- ui --database"), "{stdout}");
    let client = riverlite::Client::builder(&path)
        .migrate(false)
        .build()
        .unwrap();
    let counts = client.job_counts().unwrap();
    let has = |queue: &str, state: riverlite::JobState| {
        counts
            .iter()
            .any(|c| c.queue == queue && c.state == state && c.count > 0)
    };
    use riverlite::JobState::*;
    assert!(
        has("email", Completed) && has("email", Cancelled),
        "{counts:?}"
    );
    assert!(
        has("images", Discarded) && has("images", Retryable),
        "{counts:?}"
    );
    assert!(
        has("reports", Available) && has("reports", Scheduled),
        "{counts:?}"
    );
    assert!(client.queue_get("reports").unwrap().paused_at.is_some());
    let discarded = client
        .job_list(riverlite::JobListParams::new().states([Discarded]))
        .unwrap();
    let discarded = discarded
        .jobs
        .first()
        .expect("the demo's broken image was discarded");
    assert_eq!(discarded.errors.len(), 3, "one error per attempt");
    assert_eq!(client.schedule_list().unwrap().len(), 2);
}
