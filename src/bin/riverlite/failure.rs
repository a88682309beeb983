//! Failures of a command, reported as one `error: ...` line with a non-zero exit.

use std::io;
use std::path::Path;
use std::process::ExitCode;

use riverlite::Error;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A message for the user.
    Message(String),
    /// Stdout was closed early (`riverlite jobs list | head`): not an error.
    BrokenPipe,
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, Failure>;

impl Failure {
    /// A failure with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Failure::Message(message.into())
    }

    /// Prints the failure and returns the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Message(message) => {
                eprintln!("error: {}", one_line(&message));
                ExitCode::FAILURE
            }
            Failure::BrokenPipe => ExitCode::SUCCESS,
        }
    }
}

/// Joins a message's lines, so that the report stays one line.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
            _ => Failure::Message(format!("writing output: {err}")),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Message(describe(&err))
    }
}

/// The user-facing message of a library error.
pub fn describe(err: &Error) -> String {
    match err {
        Error::Busy(_) => "the database is locked by another connection and stayed locked past \
             the busy timeout; try again, or wait longer with --busy-timeout-ms"
            .into(),
        Error::NotMigrated { found: None, .. } => {
            "the database is not migrated; run `riverlite migrate` first".into()
        }
        Error::NotMigrated {
            found: Some(v),
            need,
            ..
        } => format!(
            "the database is at schema version {v} (line main) and this riverlite needs {need}; \
             riverlite only creates the schema in a new database, so upgrade this one with \
             River's migrations first"
        ),
        Error::NotFound => "not found".into(),
        other => other.to_string(),
    }
}

/// A library error met while opening the database at `path`, naming the path.
pub fn opening(path: &Path, err: Error) -> Failure {
    match err {
        Error::CannotOpen { .. } | Error::NotADatabase { .. } => err.into(),
        other => Failure::Message(format!("{}: {}", path.display(), describe(&other))),
    }
}

/// Turns `Error::NotFound` into `what` (such as "no job with id 7").
pub fn not_found(what: impl Into<String>) -> impl FnOnce(Error) -> Failure {
    let what = what.into();
    move |err| match err {
        Error::NotFound => Failure::Message(what),
        other => other.into(),
    }
}
