//! `riverlite ui`: serves the dashboard on a database until the process is stopped.

use std::io::Write;

use clap::Args;
use riverlite::ui::{Server, UiOptions};

use crate::failure::{CliResult, Failure};
use crate::Target;

/// The `ui` command's options.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Hide every action, and refuse every POST with 403.
    #[arg(long)]
    read_only: bool,
    /// Require HTTP basic auth on every route, as USER:PASSWORD.
    #[arg(
        long,
        env = "RIVERLITE_UI_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    basic_auth: Option<String>,
    /// Serve under this path, behind a reverse proxy (for example /jobs).
    #[arg(long, default_value = "", value_name = "PATH")]
    prefix: String,
    /// Also answer to this Host name (repeatable); by default only IP
    /// addresses and localhost, against DNS rebinding.
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
}

/// Serves the dashboard; returns only if it cannot start.
pub fn run(args: &UiArgs, target: &Target, out: &mut dyn Write) -> CliResult {
    let mut options = UiOptions::new()
        .read_only(args.read_only)
        .prefix(args.prefix.as_str());
    if let Some(auth) = &args.basic_auth {
        let (user, password) = auth
            .split_once(':')
            .filter(|(user, password)| !user.is_empty() && !password.is_empty())
            .ok_or_else(|| Failure::msg("--basic-auth needs USER:PASSWORD, both non-empty"))?;
        options = options.basic_auth(user, password);
    }
    for host in &args.allowed_hosts {
        options = options.allowed_host(host.as_str());
    }
    // An insert-only client that never migrates: the file's schema is left as it is.
    let client = target.open_existing()?;
    let server = Server::bind_with(&client, args.listen.as_str(), options).map_err(|e| {
        Failure::msg(format!(
            "cannot serve the dashboard on {}: {e}",
            args.listen
        ))
    })?;
    if args.basic_auth.is_none() && !server.addr().ip().is_loopback() {
        eprintln!(
            "warning: the dashboard listens on {} with no --basic-auth: anyone who reaches it can act on jobs",
            server.addr()
        );
    }
    // Best effort: with its stdout closed (`riverlite ui | head -1`), the
    // server keeps serving.
    let _ = writeln!(
        out,
        "riverlite dashboard for {} at {}\npress Ctrl-C to stop",
        target.path()?.display(),
        server.url()
    )
    .and_then(|()| out.flush());
    loop {
        std::thread::park();
    }
}
