//! The examples are documentation: this runs `examples/quickstart.rs` and checks what it prints.

mod common;

#[test]
fn quickstart_runs_the_whole_tour_and_every_job_completes() {
    common::run_example(
        "quickstart",
        &[
            "inserted 10 jobs (one inside an application transaction)",
            "insert-only client with a periodic job is rejected: invalid configuration: periodic jobs need a client that works jobs",
            "[work] resized",
            "all jobs completed: true",
        ],
    );
}
