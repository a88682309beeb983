//! The dashboard (cargo feature `ui`): an HTTP server over one client's database, with server-rendered pages, a JSON API and embedded assets.
//!
//! `riverlite ui --database app.db` runs it from the command line; an
//! application that already has a [`Client`] embeds the same server:
//!
//! ```
//! use riverlite::Client;
//! use riverlite::ui::{Server, UiOptions};
//!
//! let client = Client::builder(":memory:").build()?;
//! let server = Server::bind_with(&client, "127.0.0.1:0", UiOptions::new().read_only(true))?;
//! println!("dashboard at {}", server.url());
//! server.stop();
//! # Ok::<(), riverlite::Error>(())
//! ```
//!
//! Pages: `/` (overview), `/jobs`, `/jobs/{id}`, `/queues`, `/schedules`.
//! Every action is a POST carrying the page's CSRF token; a GET changes
//! nothing. `--read-only` refuses every POST with 403 on the server, and
//! basic auth, when set, covers every route, assets and API included. Only
//! requests whose `Host` is an IP address, `localhost` or a name given to
//! [`UiOptions::allowed_host`] are answered (others get 421), against DNS
//! rebinding.
//!
//! # JSON API
//!
//! Reads are GETs; actions are POSTs that carry the token from
//! `GET /api/session` in an `X-CSRF-Token` header. Errors are
//! `{"error": "..."}` with a 4xx or 5xx status.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/session` | `{"csrf": "...", "read_only": false}` |
//! | `GET /api/overview` | queues with counts per state, jobs finalized per minute over the last hour, the leader, live clients |
//! | `GET /api/jobs?state=&queue=&kind=&tag=&id=&before=&limit=` | `{"jobs": [...], "next_before": id or null}`, newest first; pass `next_before` as `before` for the next page |
//! | `GET /api/jobs/{id}` | one job |
//! | `POST /api/jobs/{id}/retry`, `/cancel`, `/delete` | the job after the action |
//! | `GET /api/queues` | every queue with counts and `paused_at` |
//! | `POST /api/queues/{name}/pause`, `/resume` | the queue after the action |
//! | `GET /api/schedules` | every durable schedule (`null` on a file without riverlite's table) |
//! | `POST /api/schedules/{id}/pause`, `/resume`, `/delete` | the schedule after the action (`{}` after delete) |

mod api;
mod chart;
mod data;
mod http;
mod pages;
mod routes;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, Result};

/// Request threads per server: a page holds a pooled connection only
/// while it reads.
const THREADS: usize = 4;

/// How often an idle request thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// How the dashboard is served: read-only or not, basic auth, and the path
/// prefix it sits under behind a reverse proxy.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    read_only: bool,
    basic_auth: Option<(String, String)>,
    prefix: String,
    allowed_hosts: Vec<String>,
}

impl UiOptions {
    /// Actions allowed, no auth, served at `/`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hides every action and refuses every POST with 403.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Requires HTTP basic auth with this user and password on every route.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Serves under this path (`/jobs` serves `/jobs/`, `/jobs/queues`, …),
    /// for a reverse proxy that forwards the prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Also answers requests whose `Host` is `name` (with any port). By
    /// default the dashboard answers only to IP addresses and `localhost`,
    /// which stops DNS rebinding (a page elsewhere that points its own name
    /// at this machine); a reverse proxy that forwards its public name needs
    /// that name here.
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts.push(name.into().to_ascii_lowercase());
        self
    }

    /// The prefix without a trailing `/`, or a config error saying why it is unusable.
    fn checked_prefix(&self) -> Result<String> {
        let prefix = self.prefix.trim_end_matches('/');
        let usable = prefix.is_empty()
            || (prefix.starts_with('/')
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c)));
        if usable {
            Ok(prefix.to_string())
        } else {
            Err(Error::Config(format!(
                "ui prefix {:?} must start with / and hold only letters, digits and /-_.~",
                self.prefix
            )))
        }
    }
}

/// What every request handler shares.
struct Ui {
    client: Client,
    read_only: bool,
    /// The `Authorization` header basic auth expects.
    auth_header: Option<String>,
    /// Without a trailing `/`; empty at the root.
    prefix: String,
    /// This server's CSRF token, in every page's forms.
    csrf: String,
    /// Host names it answers to besides IP addresses and localhost.
    allowed_hosts: Vec<String>,
}

impl Ui {
    /// Whether a request with this `Host` header is for this dashboard: an
    /// IP address, `localhost`, or a name allowed in the options. A request
    /// without one (HTTP/1.0) is.
    fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        if host.starts_with('[') {
            return host
                .split_once(']')
                .is_some_and(|(ip, _)| ip[1..].parse::<std::net::Ipv6Addr>().is_ok());
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.to_ascii_lowercase();
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || self.allowed_hosts.contains(&name)
    }

    /// A link to `path` (which starts with `/`) under the prefix.
    fn href(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// A running dashboard server. [`Server::stop`] (or dropping it) stops it;
/// the client it serves keeps running.
pub struct Server {
    addr: SocketAddr,
    prefix: String,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Serves `client`'s database on `addr` (port 0 picks a free one), with
    /// actions allowed and no auth.
    pub fn bind(client: &Client, addr: impl ToSocketAddrs) -> Result<Server> {
        Self::bind_with(client, addr, UiOptions::new())
    }

    /// Serves `client`'s database on `addr` with `options`.
    pub fn bind_with(
        client: &Client,
        addr: impl ToSocketAddrs,
        options: UiOptions,
    ) -> Result<Server> {
        let prefix = options.checked_prefix()?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let http = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let ui = Arc::new(Ui {
            client: client.share(),
            read_only: options.read_only,
            auth_header: options
                .basic_auth
                .as_ref()
                .map(|(user, password)| http::basic_auth_header(user, password)),
            prefix: prefix.clone(),
            csrf: http::random_token(),
            allowed_hosts: options.allowed_hosts.clone(),
        });
        let http = Arc::new(http);
        let stopping = Arc::new(AtomicBool::new(false));
        let threads = (0..THREADS)
            .map(|i| {
                let (ui, http, stopping) =
                    (Arc::clone(&ui), Arc::clone(&http), Arc::clone(&stopping));
                std::thread::Builder::new()
                    .name(format!("riverlite-ui-{i}"))
                    .spawn(move || serve(&ui, &http, &stopping))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Server {
            addr,
            prefix,
            stopping,
            threads,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dashboard's URL, prefix included.
    pub fn url(&self) -> String {
        format!("http://{}{}/", self.addr, self.prefix)
    }

    /// Stops serving: requests being answered finish first.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One request thread: answers requests until the server stops.
fn serve(ui: &Ui, http: &tiny_http::Server, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        let mut request = match http.recv_timeout(STOP_POLL) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("riverlite ui: accepting a connection: {e}");
                continue;
            }
        };
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            routes::handle(ui, &mut request)
        }))
        .unwrap_or_else(|_| http::Reply::error(500, "internal error (a bug in riverlite)"));
        if let Err(e) = request.respond(reply.into_response()) {
            log::debug!("riverlite ui: writing a response: {e}");
        }
    }
}
