//! The examples are documentation: this runs `examples/quickstart.rs` and checks what it prints.

use std::path::PathBuf;
use std::process::Command;

/// The example's binary, which `cargo test` builds beside the test binaries
/// (`target/<profile>/examples/`); built here if it is missing.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

#[test]
fn quickstart_runs_the_whole_tour_and_every_job_completes() {
    let output = Command::new(example("quickstart")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "inserted 10 jobs (one inside an application transaction)",
        "insert-only client with a periodic job is rejected: invalid configuration: periodic jobs need a client that works jobs",
        "[work] resized",
        "all jobs completed: true",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}
