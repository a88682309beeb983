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
