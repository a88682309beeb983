//! The database layer: connection pool, pragmas, migrations, and all of riverlite's SQL.
//!
//! No module outside `db` writes SQL; they call the typed functions here.
//!
//! Cached statements bind a row limit as `LIMIT (SELECT ?N)`, never a bare
//! `LIMIT ?N`: SQLite's planner reads a bare limit parameter, and such a
//! statement expires on every bind, so it would be compiled again at every
//! run. For a claim of 8 jobs that compile cost 3.5 times the claim itself.

mod checkpointer;
#[cfg(feature = "ui")]
pub(crate) mod dashboard;
pub(crate) mod jobs;
pub(crate) mod leader;
pub(crate) mod maintenance;
pub(crate) mod migrate;
pub(crate) mod notifications;
pub(crate) mod queues;
pub(crate) mod schedules;

/// A migrated in-memory database, for the SQL modules' unit tests.
#[cfg(test)]
pub(crate) fn test_connection() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    migrate::prepare(&mut conn, true).expect("schema");
    conn
}

/// `column op param` on a stored time, for every form River's drivers write.
///
/// Times compare as text: riverlite's `YYYY-MM-DD HH:MM:SS.fff` and Go's
/// `time.Time.String()` share that prefix, so text order holds to the
/// second. RFC 3339 puts a `T` where the space is, so a time written that
/// way sorts after every space-separated time of its day. The second branch
/// catches exactly those rows (a range on the column's same day, so an
/// index on it still serves) and compares them as instants.
pub(crate) fn stored_time_cmp(column: &str, op: &str, param: &str) -> String {
    format!(
        "({column} {op} {param} OR ({column} >= substr({param}, 1, 10) || 'T' \
         AND {column} < substr({param}, 1, 10) || 'U' AND julianday({column}) {op} julianday({param})))"
    )
}

use crossbeam_channel::{Receiver, Sender};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// The pool type riverlite uses (and accepts in `Client::builder_with_pool`).
pub type SqlitePool = Pool<SqliteConnectionManager>;

/// A connection checked out of the pool.
pub(crate) type Conn = PooledConnection<SqliteConnectionManager>;

/// How connections are opened and set up.
#[derive(Debug, Clone)]
pub(crate) struct DbOptions {
    pub busy_timeout: Duration,
    pub synchronous_full: bool,
    pub pool_size: u32,
    pub migrate: bool,
}

/// The pool, plus an in-process write lock so that this process's writers
/// queue on a mutex instead of sleeping in SQLite's busy handler.
pub(crate) struct Db {
    pool: SqlitePool,
    busy_timeout: Duration,
    /// The in-process write lock: a channel holding one token.
    write_token: (Sender<()>, Receiver<()>),
    file: Option<PathBuf>,
    /// Which queues' inserts this process announced lately.
    pub(crate) insert_notices: notifications::InsertNotices,
    /// Copies the WAL into the file off the write path (file databases only).
    checkpointer: Option<checkpointer::Checkpointer>,
}

fn is_memory(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s == ":memory:" || s.starts_with("file::memory:") || s.contains("mode=memory")
}

/// The file behind a path or a `file:` URI (`file:/x`, `file:///x`,
/// `file://localhost/x`), for lock files next to it.
fn file_of(path: &Path) -> Result<PathBuf> {
    let s = path.to_string_lossy();
    let Some(rest) = s.strip_prefix("file:") else {
        return Ok(path.to_path_buf());
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = match rest.strip_prefix("//") {
        Some(authority_and_path) => match authority_and_path.find('/') {
            Some(at) if matches!(&authority_and_path[..at], "" | "localhost") => {
                &authority_and_path[at..]
            }
            _ => {
                return Err(Error::Config(format!(
                    "{s:?}: a file: URI may name only localhost as its host"
                )))
            }
        },
        None => rest,
    };
    Ok(PathBuf::from(rest))
}

/// The path every connection opens, fixed once: empty is refused, and a
/// relative file path is made absolute, so that a program that changes
/// directory later keeps using the same file (and the same lock files).
fn resolve(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(Error::Config(
            "the database path is empty: give a file path, or \":memory:\"".into(),
        ));
    }
    let uri = path.to_string_lossy().starts_with("file:");
    if uri || is_memory(path) || path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}

fn set_up_connection(conn: &Connection, opts: &DbOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(opts.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    // auto_vacuum only takes effect on a database with no tables yet, so it
    // must come before migrations create them. Setting it runs a write
    // transaction (it rewrites a header field even when the value is
    // unchanged), so it is set only on a database that has no tables: opening
    // an existing database must not write to it, wait for another writer's
    // lock, or fail on a read-only file.
    let auto_vacuum: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if auto_vacuum != 2 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables == 0 {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
        }
    }
    enable_wal(conn, opts.busy_timeout)?;
    let sync = if opts.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    // journal_size_limit lets checkpoints shrink a WAL that a burst grew.
    // The background checkpointer copies the WAL every few hundred commits; the
    // automatic checkpoint, at a large threshold, only finishes its copy and
    // so starts the WAL over (the cleaner checkpoints after large deletes).
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 10000;"
    ))?;
    Ok(())
}

/// Switches the database to WAL. The switch needs an exclusive lock and
/// SQLite does not call the busy handler for it, so when several connections
/// open a new file at once, all but one get SQLITE_BUSY at once: retry until
/// `busy_timeout`, as the busy handler would. On a database already in WAL
/// this is a no-op.
fn enable_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_mode) => return Ok(()),
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && start.elapsed() < busy_timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(err) => return Err(err),
        }
    }
}

fn open_error(path: &Path, err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotADatabase {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => Error::CannotOpen {
            path: path.to_path_buf(),
            reason: err.to_string(),
        },
        _ => Error::from(err),
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`, migrating it unless
    /// `opts.migrate` is false.
    pub(crate) fn open(path: &Path, opts: &DbOptions) -> Result<Db> {
        let path = &resolve(path)?;
        let memory = is_memory(path);
        let file = if memory { None } else { Some(file_of(path)?) };
        if !memory {
            // Open once outside the pool, so that a bad path or file gives a
            // typed error at once instead of r2d2 retrying until its timeout.
            let mut conn = Connection::open(path).map_err(|e| open_error(path, e))?;
            set_up_connection(&conn, opts).map_err(|e| open_error(path, e))?;
            migrate::prepare(&mut conn, opts.migrate)?;
        }
        let setup = opts.clone();
        let manager =
            SqliteConnectionManager::file(path).with_init(move |c| set_up_connection(c, &setup));
        let size = if memory { 1 } else { opts.pool_size.max(2) };
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| Error::CannotOpen {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let db = Db::new(pool, opts.busy_timeout, file);
        if memory {
            migrate::prepare(&mut *db.conn()?, opts.migrate)?;
        }
        Ok(db)
    }

    /// Wraps a pool the user built; the connections must already be set up.
    pub(crate) fn from_pool(pool: SqlitePool, opts: &DbOptions) -> Result<Db> {
        let migrate = opts.migrate;
        let mut conn = pool.get()?;
        migrate::prepare(&mut conn, migrate)?;
        let file: Option<String> = conn
            .query_row(
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
                [],
                |r| r.get(0),
            )
            .ok();
        drop(conn);
        let file = file.filter(|f| !f.is_empty()).map(PathBuf::from);
        Ok(Db::new(pool, opts.busy_timeout, file))
    }

    fn new(pool: SqlitePool, busy_timeout: Duration, file: Option<PathBuf>) -> Db {
        let checkpointer = file.as_deref().and_then(|file| {
            start_checkpointer(file, busy_timeout)
                .map_err(|err| {
                    log::warn!(
                        "no background checkpointer, SQLite's automatic checkpoint remains: {err}"
                    )
                })
                .ok()
        });
        Db {
            pool,
            busy_timeout,
            write_token: write_token(),
            file,
            insert_notices: Default::default(),
            checkpointer,
        }
    }

    /// The database file, or `None` for an in-memory database.
    pub(crate) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// A connection of its own, outside the pool, for a thread that keeps
    /// one for its whole life (the data_version watcher).
    pub(crate) fn dedicated_connection(&self) -> Result<Connection> {
        let file = self.file.as_deref().ok_or(Error::NotFound)?;
        Ok(open_dedicated(file, self.busy_timeout)?)
    }

    /// A pooled connection for reads (or a caller-managed transaction).
    pub(crate) fn conn(&self) -> Result<Conn> {
        Ok(self.pool.get()?)
    }

    /// Takes the in-process write lock, waiting at most `busy_timeout`.
    /// The time left of that budget is what SQLite may then wait for other
    /// processes' locks, so a call fails within about `busy_timeout` however
    /// many of this process's threads wait to write.
    fn lock_writes(&self) -> Result<WriteGuard<'_>> {
        let deadline = Instant::now() + self.busy_timeout;
        self.write_token.1.recv_deadline(deadline).map_err(|_| {
            Error::Busy(format!(
                "this process's other writers held the database for longer than busy_timeout ({:?})",
                self.busy_timeout
            ))
        })?;
        Ok(WriteGuard { db: self, deadline })
    }

    /// Runs `f` on a connection while holding the in-process write lock,
    /// outside any transaction (for PRAGMAs such as checkpoints).
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let _guard = self.lock_writes()?;
        f(&*self.conn()?)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits it, all
    /// within `busy_timeout` of waiting for locks.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let guard = self.lock_writes()?;
        let mut conn = self.conn()?;
        let left = guard.deadline.saturating_duration_since(Instant::now());
        conn.busy_timeout(left.max(Duration::from_millis(1)))?;
        let out = Self::in_transaction(&mut conn, f);
        conn.busy_timeout(self.busy_timeout)?;
        if let (Ok(_), Some(checkpointer)) = (&out, &self.checkpointer) {
            checkpointer.nudge();
        }
        out
    }

    fn in_transaction<T>(
        conn: &mut Connection,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// The background checkpointer of `file`, on a connection of its own.
fn start_checkpointer(file: &Path, busy_timeout: Duration) -> Result<checkpointer::Checkpointer> {
    let conn = open_dedicated(file, busy_timeout)?;
    Ok(checkpointer::Checkpointer::start(conn)?)
}

/// A connection to `file` outside the pool, for a thread that keeps it.
fn open_dedicated(file: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(file)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// A channel holding the one token of the in-process write lock.
fn write_token() -> (Sender<()>, Receiver<()>) {
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let _ = sender.try_send(());
    (sender, receiver)
}

/// Holds the in-process write lock; gives the token back when dropped
/// (also when a writer panics: the database rolled back, nothing to poison).
struct WriteGuard<'a> {
    db: &'a Db,
    /// When this write's `busy_timeout` budget ends.
    deadline: Instant,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = self.db.write_token.0.try_send(());
    }
}

/// SQLite's `PRAGMA data_version`: changes whenever another connection commits.
pub(crate) fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}
