//! The one error type of the crate, with variants a user can match on.

use std::path::PathBuf;

/// Everything that can go wrong in riverlite.
///
/// Each variant names the problem; its message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is invalid (detected by `build()` or a config constructor).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An insert was rejected before anything was written.
    #[error("invalid insert: {field}: {reason}")]
    InvalidInsert {
        /// The option or field at fault, such as `priority` or `queue`.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// An argument to an administration call is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A job in the database has a kind that no worker of this client handles.
    #[error("unknown job kind {0:?}: register a worker for it")]
    UnknownJobKind(String),

    /// Job args could not be encoded or decoded as JSON.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),

    /// The database file could not be opened.
    #[error("cannot open database {path:?}: {reason}")]
    CannotOpen {
        /// The path that was given.
        path: PathBuf,
        /// What SQLite or the OS said.
        reason: String,
    },

    /// The file exists but is not a SQLite database.
    #[error("{path:?} is not a SQLite database")]
    NotADatabase {
        /// The path that was given.
        path: PathBuf,
    },

    /// The database may not be written (read-only file, directory or `mode=ro`).
    #[error("the database is read-only: {0}")]
    ReadOnly(String),

    /// The database stayed locked by another connection past `busy_timeout`.
    ///
    /// In `insert_tx` this usually means the caller's transaction was opened
    /// DEFERRED: open it with `TransactionBehavior::Immediate`.
    #[error("the database is busy (locked by another connection): {0}; retry, or open your transaction with TransactionBehavior::Immediate")]
    Busy(String),

    /// The database's `river_migration` records a newer schema than this code knows.
    #[error("the database schema (line {line}, version {found}) is newer than this riverlite knows ({known}): upgrade riverlite")]
    SchemaTooNew {
        /// The migration line (`main`).
        line: String,
        /// The version found in the database.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },

    /// The database is not migrated far enough: empty with `.migrate(false)`,
    /// or at a `main` version older than riverlite works (7), which it does
    /// not migrate from.
    #[error("the database is not migrated far enough (line {line}: {}; riverlite needs version {need} or later): run `riverlite migrate` (or build with .migrate(true)), or River's migrations on a file older than main version 7", found_version(*.found))]
    NotMigrated {
        /// The migration line: `main` (River's) or `riverlite` (riverlite's own tables).
        line: String,
        /// The version of that line found, if any.
        found: Option<i64>,
        /// The version this code needs.
        need: i64,
    },

    /// The call needs a working client (with queues and workers).
    #[error("this is an insert-only client (no queues or workers): {0}")]
    InsertOnly(&'static str),

    /// No row matched (job id, queue name).
    #[error("not found")]
    NotFound,

    /// The operation is refused because the job is running.
    #[error("job {0} is running; cancel it first")]
    JobRunning(i64),

    /// `stop()` passed its deadline with jobs still running; the rescuer will recover them.
    #[error("stop timed out with {} job(s) still running: {job_ids:?}", job_ids.len())]
    StopTimeout {
        /// The ids of jobs still running.
        job_ids: Vec<i64>,
    },

    /// The client was already started.
    #[error("the client is already started")]
    AlreadyStarted,

    /// `start()` found the client id held by a live client: another process,
    /// or an earlier run of this client whose stop timed out with jobs still
    /// running. Nothing was started, renamed or rescued.
    #[error("client id {0:?} is held by a live client: give this client another id, or start it once the other has stopped")]
    ClientIdInUse(String),

    /// A file-system error outside SQLite (lock files).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    /// Any other SQLite error; the rusqlite error is its source.
    #[error("database: {0}")]
    Database(#[source] rusqlite::Error),

    /// The connection pool could not hand out a connection.
    #[error("connection pool: {0}")]
    Pool(String),
}

/// `Result` with riverlite's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidInsert`] for `field`.
    pub(crate) fn invalid_insert(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidInsert {
            field,
            reason: reason.into(),
        }
    }

    /// True when the same call may succeed if tried again later: the
    /// database was busy or locked ([`Error::Busy`], or a busy or locked
    /// [`Error::Database`]), the pool had no free connection
    /// ([`Error::Pool`]), or a file-system call failed ([`Error::Io`]).
    ///
    /// This is not the opposite of an error caused by the data: a full disk
    /// or an I/O failure inside SQLite is neither transient nor the data's
    /// fault. Retry transient errors with a backoff; report the rest.
    ///
    /// ```
    /// let busy = riverlite::Error::Busy("database is locked".into());
    /// assert!(busy.is_transient());
    /// assert!(!riverlite::Error::NotFound.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            Error::Busy(_) | Error::Pool(_) | Error::Io(_) => true,
            Error::Database(e) => matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }

    /// True when retrying the same operation cannot help: the statement or
    /// the data is at fault, not a lock, the pool or the disk.
    pub(crate) fn is_caused_by_data(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            Error::Serialization(_) | Error::InvalidInsert { .. } | Error::InvalidArgument(_) => {
                true
            }
            Error::Database(e) => !matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::SystemIoFailure
                        | ErrorCode::DiskFull
                        | ErrorCode::CannotOpen
                        | ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::OutOfMemory
                )
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                Error::Busy(err.to_string())
            }
            Some(ErrorCode::ReadOnly) => Error::ReadOnly(err.to_string()),
            _ => Error::Database(err),
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(err: r2d2::Error) -> Self {
        Error::Pool(err.to_string())
    }
}

fn found_version(found: Option<i64>) -> String {
    match found {
        Some(v) => format!("it is at version {v}"),
        None => "it has none of it".into(),
    }
}
