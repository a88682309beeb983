//! The dashboard's server without a browser: `riverlite ui` on the command
//! line, the prefix, the JSON API with its CSRF token, and files that River
//! created (never migrated, never changed by reading).
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use riverlite::ui::{Server, UiOptions};
use riverlite::JobState;

/// Status and body of one HTTP request, sent to Host 127.0.0.1 unless
/// `headers` names another.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path, headers, body);
    (status, body)
}

/// Status, headers and body of one HTTP request.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let host = if headers.contains("Host:") {
        ""
    } else {
        "Host: 127.0.0.1\r\n"
    };
    common::http_exchange(
        addr,
        &format!(
            "{method} {path} HTTP/1.1\r\n{host}Connection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, "", "")
}

/// `riverlite ui` on `path` with `args`, on a free port; its address once it listens.
struct UiProcess(Child, SocketAddr);

impl UiProcess {
    fn start(path: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> UiProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_riverlite"))
            .arg("--database")
            .arg(path)
            .args(["ui", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RIVERLITE_UI_AUTH")
            .env_remove("RIVERLITE_DATABASE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn riverlite ui");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the first line");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"));
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("an address");
        UiProcess(child, addr)
    }
}

impl Drop for UiProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn riverlite_ui_serves_a_file_under_a_prefix_with_auth_from_the_environment() {
    let (_dir, path, client) = common::new_client();
    client.insert(common::email("a@example.com"), None).unwrap();
    let ui = UiProcess::start(
        &path,
        &["--prefix", "/jobs-ui/"],
        &[("RIVERLITE_UI_AUTH", "ops:pw")],
    );
    let auth = "Authorization: Basic b3BzOnB3\r\n"; // ops:pw
    assert_eq!(get(ui.1, "/jobs-ui/").0, 401);
    let (status, page) = request(ui.1, "GET", "/jobs-ui/", auth, "");
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"/jobs-ui/jobs\""),
        "links carry the prefix"
    );
    assert_eq!(
        request(ui.1, "GET", "/", auth, "").0,
        404,
        "nothing outside the prefix"
    );
    assert_eq!(request(ui.1, "GET", "/jobs-uiother", auth, "").0, 404);
    let (status, jobs) = request(ui.1, "GET", "/jobs-ui/api/jobs?state=available", auth, "");
    assert_eq!(status, 200);
    assert!(jobs.contains("a@example.com"), "{jobs}");
}

#[test]
fn riverlite_ui_refuses_bad_options_and_missing_files_with_one_line() {
    let (_dir, path, _client) = common::new_client();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_riverlite"))
            .arg("--database")
            .arg(&path)
            .arg("ui")
            .args(args)
            .output()
            .expect("run")
    };
    let out = run(&["--basic-auth", "nopassword"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("USER:PASSWORD"));
    let out = run(&["--prefix", "no-slash", "--listen", "127.0.0.1:0"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("prefix"),
        "{out:?}"
    );
    let out = run(&["--listen", "not an address"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot serve"),
        "{out:?}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_riverlite"))
        .args(["--database", "/nonexistent/x.db", "ui"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));
}

#[test]
fn the_api_acts_only_with_the_sessions_csrf_token_and_a_get_changes_nothing() {
    let (_dir, path, client) = common::new_client();
    let id = client
        .insert(common::email("a@example.com"), None)
        .unwrap()
        .job
        .id;
    let server = Server::bind(&client, "127.0.0.1:0").unwrap();
    let before = common::dump(&path);
    for page in [
        "/",
        "/jobs",
        &format!("/jobs/{id}"),
        "/queues",
        "/schedules",
        "/api/overview",
        "/api/jobs/1/cancel",
    ] {
        get(server.addr(), page);
    }
    assert_eq!(common::dump(&path), before, "GETs changed nothing");
    let post = |headers: &str| {
        request(
            server.addr(),
            "POST",
            &format!("/api/jobs/{id}/cancel"),
            headers,
            "",
        )
    };
    assert_eq!(post("").0, 403);
    assert_eq!(post("X-CSRF-Token: wrong\r\n").0, 403);
    let (_, session) = get(server.addr(), "/api/session");
    let session: serde_json::Value = serde_json::from_str(&session).unwrap();
    let token = session["csrf"].as_str().unwrap();
    let (status, body) = post(&format!("X-CSRF-Token: {token}\r\n"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(client.job_get(id).unwrap().state, JobState::Cancelled);
    let (status, body) = request(
        server.addr(),
        "POST",
        "/api/jobs/999999/retry",
        &format!("X-CSRF-Token: {token}\r\n"),
        "",
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    server.stop();
}

#[test]
fn a_file_river_created_is_served_as_it_is_and_its_schema_never_changes() {
    let (_dir, path, client) = common::new_client();
    for i in 0..3 {
        client
            .insert(common::email(&format!("{i}@example.com")), None)
            .unwrap();
    }
    drop(client);
    // As River 0.47 leaves a file: main at version 7, no riverlite line.
    common::make_version_7(&path);
    common::raw(&path)
        .execute_batch("DROP TABLE riverlite_periodic_job; DELETE FROM river_migration WHERE line = 'riverlite';")
        .unwrap();
    let schema = || -> Vec<String> {
        let conn = common::raw(&path);
        let mut stmt = conn
            .prepare("SELECT coalesce(sql, name) FROM sqlite_master ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (before, migrations) = (schema(), common::migrations(&path));
    let ui = UiProcess::start(&path, &[], &[]);
    for page in [
        "/",
        "/jobs",
        "/jobs?state=available",
        "/queues",
        "/schedules",
        "/api/schedules",
    ] {
        let (status, body) = get(ui.1, page);
        assert_eq!(status, 200, "{page}: {body}");
        if page == "/schedules" {
            assert!(body.contains("no durable schedules table"), "{body}");
        }
    }
    drop(ui);
    assert_eq!(schema(), before);
    assert_eq!(common::migrations(&path), migrations);
}

#[test]
fn an_embedded_server_stops_and_leaves_its_client_working() {
    let (_dir, _path, client) = common::new_client();
    let server =
        Server::bind_with(&client, "127.0.0.1:0", UiOptions::new().read_only(true)).unwrap();
    let addr = server.addr();
    assert_eq!(get(addr, "/").0, 200);
    server.stop();
    client
        .insert(common::email("after@example.com"), None)
        .unwrap();
    let bad = Server::bind_with(
        &client,
        "127.0.0.1:0",
        UiOptions::new().prefix("bad prefix"),
    );
    assert!(matches!(bad, Err(riverlite::Error::Config(_))));
}

#[test]
fn the_overview_names_the_leader_and_the_live_clients() {
    let (_dir, path, client) = common::new_client();
    let worker = common::noop_client(&path, 1, |_| Ok(()));
    worker.start().unwrap();
    common::wait_until(&worker, "the worker leads", || worker.is_leader());
    let server = Server::bind(&client, "127.0.0.1:0").unwrap();
    let (_, overview) = get(server.addr(), "/api/overview");
    let overview: serde_json::Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["leader"]["leader_id"], worker.id());
    assert_eq!(overview["live_clients"], serde_json::json!([worker.id()]));
    let (_, page) = get(server.addr(), "/");
    assert!(page.contains(worker.id()), "{page}");
    worker.stop().unwrap();
    let (_, overview) = get(server.addr(), "/api/overview");
    let overview: serde_json::Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["live_clients"], serde_json::json!([]));
}

#[test]
fn only_ip_addresses_localhost_and_allowed_names_are_answered_against_dns_rebinding() {
    let (_dir, _path, client) = common::new_client();
    let options = UiOptions::new().allowed_host("jobs.example.com");
    let server = Server::bind_with(&client, "127.0.0.1:0", options).unwrap();
    let host = |name: &str| {
        request(
            server.addr(),
            "GET",
            "/api/session",
            &format!("Host: {name}\r\n"),
            "",
        )
    };
    for allowed in [
        "127.0.0.1",
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST",
        "[::1]:8080",
        "jobs.example.com",
        "Jobs.Example.Com:443",
    ] {
        assert_eq!(host(allowed).0, 200, "{allowed}");
    }
    for refused in [
        "attacker.example",
        "attacker.example:8080",
        "localhost.attacker.example",
        "[::1",
    ] {
        let (status, body) = host(refused);
        assert_eq!(status, 421, "{refused}");
        assert!(body.contains("\"error\""), "API errors are JSON: {body}");
    }
}

#[test]
fn a_form_goes_back_only_to_this_dashboards_own_pages() {
    let (_dir, _path, client) = common::new_client();
    client.queue_pause("mail").unwrap();
    let server = Server::bind_with(&client, "127.0.0.1:0", UiOptions::new().prefix("/ui")).unwrap();
    let (_, session) = get(server.addr(), "/ui/api/session");
    let session: serde_json::Value = serde_json::from_str(&session).unwrap();
    let token = session["csrf"].as_str().unwrap();
    let form_headers = "Content-Type: application/x-www-form-urlencoded\r\n";
    for (back, expected) in [
        ("%2Fui%2Fqueues%3Fx%3D1", "/ui/queues?x=1&notice="),
        ("%2F%5Cevil.example", "/ui/queues?notice="),
        ("%2F%2Fevil.example", "/ui/queues?notice="),
        ("%2Fui%2Fq%0D%0ASet-Cookie%3A+x", "/ui/queues?notice="),
        ("%2Fqueues", "/ui/queues?notice="),
    ] {
        let body = format!("csrf={token}&queue=mail&action=resume&back={back}");
        let (status, head, _) = exchange(
            server.addr(),
            "POST",
            "/ui/queues/action",
            form_headers,
            &body,
        );
        assert_eq!(status, 303, "{back}: {head}");
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap_or_default();
        assert!(location.starts_with(expected), "{back} went to {location}");
        assert!(!head.contains("Set-Cookie"), "{head}");
        client.queue_pause("mail").unwrap();
    }
    // A path with empty segments is read as its canonical form: its links stay on this host.
    let (status, page) = get(server.addr(), "/ui//jobs");
    assert_eq!(status, 200);
    assert!(!page.contains("href=\"//"), "no link leaves the host");
}
