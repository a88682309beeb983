//! The dashboard in a real browser: Debian's chromium, headless, driven by
//! headless_chrome against a server on a temporary file with real jobs.
//!
//! Screenshots of each page go to `$RIVERLITE_SCREENSHOTS` if set, else to
//! `target/tmp/ui-screenshots/` (cargo's temporary directory for tests; the
//! path is printed), where they stay to be looked at. If chromium cannot
//! start, every test here fails with a message saying so; none is skipped.
#![cfg(feature = "ui")]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{email, SendEmail};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use riverlite::ui::{Server, UiOptions};
use riverlite::{
    work_fn, Client, InsertOpts, JobArgs, JobListParams, JobRow, JobState, QueueConfig,
    RetryPolicy, WorkError,
};
use serde::{Deserialize, Serialize};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Serialize, Deserialize)]
struct Resize {
    image: String,
}
impl JobArgs for Resize {
    const KIND: &'static str = "resize";
}

/// Retries at once, so that a failing job is discarded within the seeding.
struct AtOnce;
impl RetryPolicy for AtOnce {
    fn next_retry(&self, _job: &JobRow, now: DateTime<Utc>) -> DateTime<Utc> {
        now
    }
}

/// The error every `resize` attempt fails with.
const RESIZE_ERROR: &str = "decoding broken.png: unexpected end of data";
/// Args that would run script if the page did not escape them.
const SCRIPT_ARGS: &str =
    "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">";

/// One browser for every test of this binary.
fn browser() -> &'static Browser {
    static BROWSER: OnceLock<Browser> = OnceLock::new();
    BROWSER.get_or_init(|| {
        let path = std::env::var_os("CHROME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        // As root (CI), chromium runs only without its sandbox; the network
        // flags keep it from calling home on a machine with no internet.
        let args: Vec<&OsStr> = [
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(path.clone()))
            .sandbox(false)
            .headless(true)
            .window_size(Some((1280, 900)))
            .idle_browser_timeout(Duration::from_secs(600))
            .args(args)
            .build()
            .expect("launch options");
        Browser::new(options).unwrap_or_else(|e| {
            panic!(
                "cannot start chromium at {} ({e}): install Debian's `chromium` package \
                 (.ci/run does), or point CHROME at a Chromium binary",
                path.display()
            )
        })
    })
}

/// A database with real jobs, and an insert-only client on it, as `riverlite ui` opens it.
struct Fixture {
    /// Holds the database file for the test's length.
    _dir: tempfile::TempDir,
    client: Client,
    discarded: i64,
    script: i64,
}

fn seed() -> Result<Fixture, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ui.db");
    let worker = Client::builder(&path)
        .queue("default", QueueConfig::new(2))
        .queue("email", QueueConfig::new(2))
        .retry_policy(AtOnce)
        .worker(work_fn::<SendEmail, _>(|_| Ok(())))
        .worker(work_fn::<Resize, _>(|_| {
            Err(WorkError::failure(RESIZE_ERROR))
        }))
        .build()?;
    worker.start()?;
    for i in 0..5 {
        worker.insert(email(&format!("d{i}@example.com")), None)?;
    }
    for i in 0..3 {
        let opts = InsertOpts {
            queue: Some("email".into()),
            ..Default::default()
        };
        worker.insert(email(&format!("e{i}@example.com")), Some(opts))?;
    }
    let discarded = worker
        .insert(
            Resize {
                image: "broken.png".into(),
            },
            Some(InsertOpts {
                max_attempts: Some(2),
                ..Default::default()
            }),
        )?
        .job
        .id;
    let later = |queue: &str| InsertOpts {
        queue: Some(queue.into()),
        scheduled_at: Some(Utc::now() + chrono::Duration::days(1)),
        ..Default::default()
    };
    worker.insert(email("later@example.com"), Some(later("email")))?;
    let script = worker
        .insert(email(SCRIPT_ARGS), Some(later("default")))?
        .job
        .id;
    common::wait_until(&worker, "the seeded jobs finish", || {
        let done = worker.job_list(JobListParams::new().states([JobState::Completed]));
        let failed = worker.job_get(discarded);
        done.is_ok_and(|d| d.jobs.len() == 8)
            && failed.is_ok_and(|f| f.state == JobState::Discarded)
    });
    worker.stop()?;
    drop(worker);
    let client = Client::builder(&path).migrate(false).build()?;
    Ok(Fixture {
        _dir: dir,
        client,
        discarded,
        script,
    })
}

impl Fixture {
    /// The ids of the completed jobs of queue `email`, as the database has them.
    fn completed_email_ids(&self) -> Result<Vec<i64>, riverlite::Error> {
        let params = JobListParams::new()
            .states([JobState::Completed])
            .queues(["email"]);
        Ok(self
            .client
            .job_list(params)?
            .jobs
            .iter()
            .map(|j| j.id)
            .collect())
    }

    fn serve(&self, options: UiOptions) -> Result<Server, riverlite::Error> {
        Server::bind_with(&self.client, "127.0.0.1:0", options)
    }

    /// Saves a screenshot of `tab` as `name`.png and says where.
    fn screenshot(&self, tab: &Tab, name: &str) -> TestResult {
        let dir = std::env::var_os("RIVERLITE_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"));
        std::fs::create_dir_all(&dir)?;
        let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)?;
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png)?;
        eprintln!("screenshot: {}", file.display());
        Ok(())
    }
}

/// One test drives the browser at a time: a tab in the background may not
/// paint, and a screenshot or click there can wait forever.
fn browser_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A browser tab, closed when dropped (its page's timers stop with it).
struct Page(Arc<Tab>);

impl std::ops::Deref for Page {
    type Target = Tab;
    fn deref(&self) -> &Tab {
        &self.0
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.0.close(false);
    }
}

/// A new tab on `url`, with live updates off, so that no refresh replaces
/// an element between finding and clicking it (the refresh test turns them on).
fn open(url: &str) -> Result<Page, Box<dyn std::error::Error + Send + Sync>> {
    let tab = browser().new_tab()?;
    tab.activate()?;
    tab.set_default_timeout(Duration::from_secs(30));
    tab.navigate_to(url)?.wait_until_navigated()?;
    js(&tab, "window.localStorage.setItem('riverlite.live', 'off')")?;
    Ok(Page(tab))
}

/// Clicks `selector` and waits until the page it leads to has loaded: the
/// old document carries a mark, and the new one does not.
fn click_and_wait(tab: &Tab, selector: &str) -> TestResult {
    js(tab, "window.__riverliteOldPage = true")?;
    tab.wait_for_element(selector)?.click()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Evaluating while the page changes may fail; that is not an answer yet.
        let loaded = js(
            tab,
            "typeof window.__riverliteOldPage === 'undefined' && document.readyState === 'complete'",
        );
        if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("clicking {selector} led to no new page within 30 s").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(tab: &Tab, selector: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tab.wait_for_element(selector)?.get_inner_text()?)
}

fn js(
    tab: &Tab,
    expression: &str,
) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tab
        .evaluate(expression, true)?
        .value
        .unwrap_or(serde_json::Value::Null))
}

/// A raw HTTP/1.1 request, for what a browser would not send: the status line's code.
fn status_of(addr: std::net::SocketAddr, request: &str) -> std::io::Result<u16> {
    Ok(common::http_exchange(addr, request).0)
}

#[test]
fn the_overview_loads_and_its_counts_match_the_database() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&server.url())?;
    tab.wait_for_element("#ov-counts table")?;
    for state in JobState::ALL {
        let in_db: i64 = f
            .client
            .job_counts()?
            .iter()
            .filter(|c| c.state == state)
            .map(|c| c.count)
            .sum();
        let shown = text(&tab, &format!("tfoot th[data-total={}]", state.as_str()))?;
        assert_eq!(shown.trim(), in_db.to_string(), "total of {state}");
    }
    for count in f.client.job_counts()? {
        let cell = format!(
            "#ov-counts tbody tr:has(a[href$='queue={}']) td[data-state={}]",
            count.queue,
            count.state.as_str()
        );
        assert_eq!(text(&tab, &cell)?.trim(), count.count.to_string(), "{cell}");
    }
    // Every job of the seed was finalized within the last few seconds.
    let finalized: i64 = f
        .client
        .job_counts()?
        .iter()
        .filter(|c| c.state.is_finalized())
        .map(|c| c.count)
        .sum();
    let label = js(
        &tab,
        "document.querySelector('#ov-chart svg').getAttribute('aria-label')",
    )?;
    assert_eq!(
        label,
        format!("{finalized} jobs finalized in the last 60 minutes"),
        "the chart counts what the database holds"
    );
    f.screenshot(&tab, "overview")?;
    Ok(())
}

#[test]
fn filtering_jobs_by_state_and_queue_shows_exactly_the_matching_rows() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&format!("{}jobs", server.url()))?;
    f.screenshot(&tab, "jobs")?;
    js(
        &tab,
        "document.querySelector('select[name=state]').value = 'completed'",
    )?;
    tab.wait_for_element("input[name=queue]")?
        .type_into("email")?;
    click_and_wait(&tab, "form.filters button[type=submit]")?;
    tab.wait_for_element("#jobs-table")?;
    let mut shown: Vec<i64> = tab
        .find_elements("#jobs-table tr[data-job-id]")?
        .iter()
        .map(|row| row.get_attribute_value("data-job-id"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .map(|id| id.parse().expect("an id"))
        .collect();
    shown.sort();
    let mut expected = f.completed_email_ids()?;
    expected.sort();
    assert_eq!(expected.len(), 3);
    assert_eq!(shown, expected);
    f.screenshot(&tab, "jobs-filtered")?;
    Ok(())
}

#[test]
fn a_discarded_job_shows_its_errors_and_retry_makes_it_available() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&format!("{}jobs/{}", server.url(), f.discarded))?;
    let errors = tab.find_elements("ol.timeline pre.error")?;
    assert_eq!(errors.len(), 2, "one error per attempt");
    for error in &errors {
        assert_eq!(error.get_inner_text()?.trim(), RESIZE_ERROR);
    }
    assert!(text(&tab, "ol.timeline")?.contains("Discarded"));
    f.screenshot(&tab, "job")?;
    click_and_wait(&tab, "#retry")?;
    assert!(text(&tab, ".notice")?.contains("Retried 1 job"));
    assert_eq!(f.client.job_get(f.discarded)?.state, JobState::Available);
    Ok(())
}

#[test]
fn pausing_a_queue_sets_paused_at() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&format!("{}queues", server.url()))?;
    assert_eq!(f.client.queue_get("email")?.paused_at, None);
    click_and_wait(&tab, "tr[data-queue=email] button[value=pause]")?;
    assert!(f.client.queue_get("email")?.paused_at.is_some());
    tab.wait_for_element("tr[data-queue=email] button[value=resume]")?;
    f.screenshot(&tab, "queues")?;
    let tab = open(&format!("{}schedules", server.url()))?;
    tab.wait_for_element("#schedules-table")?;
    f.screenshot(&tab, "schedules")?;
    Ok(())
}

#[test]
fn script_in_args_renders_as_text_and_runs_nothing() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&format!("{}jobs/{}", server.url(), f.script))?;
    let args = text(&tab, "#args")?;
    assert!(
        args.contains(r#"<script>window.__xss = 1</script>"#),
        "{args}"
    );
    assert!(args.contains(r#"onerror=\"window.__xss = 2\""#), "{args}");
    assert_eq!(js(&tab, "typeof window.__xss")?, "undefined");
    assert_eq!(
        js(
            &tab,
            "document.querySelectorAll('main script, main img').length"
        )?,
        0
    );
    // The jobs list shows the same job; nothing runs there either.
    let tab = open(&format!("{}jobs?state=scheduled", server.url()))?;
    tab.wait_for_element(&format!("tr[data-job-id='{}']", f.script))?;
    assert_eq!(js(&tab, "typeof window.__xss")?, "undefined");
    Ok(())
}

#[test]
fn a_read_only_dashboard_refuses_a_post_with_403_and_shows_no_actions() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new().read_only(true))?;
    let tab = open(&format!("{}jobs/{}", server.url(), f.discarded))?;
    assert_eq!(
        js(
            &tab,
            "document.querySelectorAll('#retry, #cancel, #delete').length"
        )?,
        0
    );
    assert_eq!(
        js(
            &tab,
            "document.querySelectorAll('form[method=post]').length"
        )?,
        0
    );
    let status = js(
        &tab,
        &format!(
            "fetch('/jobs/action', {{method: 'POST', headers: {{'Content-Type': \
             'application/x-www-form-urlencoded'}}, body: 'action=retry&id={}'}}).then(r => r.status)",
            f.discarded
        ),
    )?;
    assert_eq!(status, 403);
    let api = js(
        &tab,
        &format!(
            "fetch('/api/jobs/{}/retry', {{method: 'POST'}}).then(r => r.status)",
            f.discarded
        ),
    )?;
    assert_eq!(api, 403);
    assert_eq!(f.client.job_get(f.discarded)?.state, JobState::Discarded);
    Ok(())
}

#[test]
fn basic_auth_covers_every_route_and_a_wrong_password_gets_401() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new().basic_auth("admin", "s3cret"))?;
    let wrong = format!(
        "Authorization: Basic {}\r\n",
        "YWRtaW46d3Jvbmc=" // admin:wrong
    );
    for path in [
        "/",
        "/jobs",
        "/api/overview",
        "/assets/style.css",
        "/assets/app.js",
    ] {
        for auth in ["", wrong.as_str()] {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
            );
            assert_eq!(
                status_of(server.addr(), &request)?,
                401,
                "{path} with {auth:?}"
            );
        }
    }
    // The browser with the right password sees the overview.
    let tab = Page(browser().new_tab()?);
    tab.activate()?;
    tab.set_default_timeout(Duration::from_secs(30));
    tab.enable_fetch(None, Some(true))?;
    tab.authenticate(Some("admin".into()), Some("s3cret".into()))?;
    tab.navigate_to(&server.url())?.wait_until_navigated()?;
    tab.wait_for_element("#ov-counts")?;
    Ok(())
}

#[test]
fn a_malformed_request_gets_a_4xx_with_a_message() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(status_of(server.addr(), &get("/jobs/not-a-number"))?, 400);
    assert_eq!(status_of(server.addr(), &get("/jobs?state=bogus"))?, 400);
    assert_eq!(status_of(server.addr(), &get("/jobs?limit=0"))?, 400);
    assert_eq!(status_of(server.addr(), &get("/jobs/999999"))?, 404);
    assert_eq!(status_of(server.addr(), &get("/api/nothing"))?, 404);
    let post = "POST /jobs/action HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9\r\nConnection: close\r\n\r\naction=no";
    assert_eq!(status_of(server.addr(), post)?, 403, "no CSRF token");
    Ok(())
}

#[test]
fn deleting_selected_jobs_asks_first_then_deletes_exactly_those() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&format!("{}jobs?state=completed&queue=email", server.url()))?;
    let ids = f.completed_email_ids()?;
    let (chosen, kept) = ids.split_at(2);
    for id in chosen {
        tab.wait_for_element(&format!("input[name=id][value='{id}']"))?
            .click()?;
    }
    click_and_wait(&tab, "button[value=delete]")?;
    assert!(text(&tab, "h1")?.contains("Delete 2 job(s)?"));
    for id in ids.iter() {
        f.client.job_get(*id)?; // nothing deleted before the confirmation
    }
    click_and_wait(&tab, "#confirm-delete")?;
    assert!(text(&tab, ".notice")?.contains("Deleted 2 job(s)"));
    for id in chosen {
        assert!(matches!(
            f.client.job_get(*id),
            Err(riverlite::Error::NotFound)
        ));
    }
    for id in kept {
        f.client.job_get(*id)?;
    }
    Ok(())
}

#[test]
fn the_overview_refreshes_itself_until_live_updates_are_paused() -> TestResult {
    let f = seed()?;
    let _turn = browser_turn();
    let server = f.serve(UiOptions::new())?;
    let tab = open(&server.url())?;
    js(&tab, "window.localStorage.setItem('riverlite.live', 'on')")?;
    let available =
        |tab: &Tab| text(tab, "tfoot th[data-total=available]").map(|t| t.trim().to_string());
    assert_eq!(available(&tab)?, "0");
    f.client.insert(email("fresh@example.com"), None)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while available(&tab)? != "1" {
        assert!(
            Instant::now() < deadline,
            "the overview did not refresh within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tab.wait_for_element("#live-toggle")?.click()?;
    assert_eq!(text(&tab, "#live-toggle")?, "Live updates: paused");
    assert_eq!(
        js(&tab, "window.localStorage.getItem('riverlite.live')")?,
        "off"
    );
    Ok(())
}
