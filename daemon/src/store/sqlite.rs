//! The store on SQLite: one file in WAL mode (readers never wait for the writer), writers
//! serialized by `BEGIN IMMEDIATE` (which waits up to the busy timeout for another writer,
//! in this process or another).
//!
//! The file holds every tenant's directory and admin token hashes, so it is readable by its
//! owner only: created `0600` before SQLite opens it (SQLite gives the `-wal` and `-shm` files
//! the database file's mode), and tightened to `0600` if an older daemon left it wider.

use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, SqlitePool, Transaction};

use super::StoreError;
use super::rows::Rows;
use sql::{Conn, head, load_rows};

type Db = Sqlite;

/// How long a writer waits for another to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating it if missing) the database at `url` and applies the migrations.
pub(super) async fn open(url: &str) -> Result<SqlitePool, StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::BadUrl(url.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    owner_only(options.get_filename()).map_err(|e| {
        tracing::error!(error = %e, url, "cannot create the SQLite store's file");
        StoreError::Database(sqlx::Error::Io(e))
    })?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(BUSY_TIMEOUT)
        // A connection still inside a transaction when it is handed out again is closed, not
        // used: when a COMMIT fails on a full disk SQLite rolls the transaction back itself,
        // sqlx's own ROLLBACK then fails and leaves the connection counted as in a
        // transaction, and every later write on it would be refused until a restart.
        .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, url, "cannot open the SQLite store");
            StoreError::Database(e)
        })?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&pool)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(pool)
}

/// The database file and its `-wal` and `-shm` companions, as far as they exist: each one
/// created (the database file, if missing) or tightened to mode `0600`.
fn owner_only(db: &Path) -> io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut companions = [db.as_os_str().to_owned(), db.as_os_str().to_owned()];
    for (name, suffix) in companions.iter_mut().zip(["-wal", "-shm"]) {
        name.push(suffix);
    }
    for file in std::iter::once(db.as_os_str()).chain(companions.iter().map(|c| c.as_os_str())) {
        let meta = match std::fs::metadata(file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = ?file, "the store's file was readable by others; making it owner-only (0600)");
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// A write transaction holding SQLite's write lock, and the revision it starts from.
async fn begin_write(pool: &SqlitePool) -> Result<(Transaction<'static, Db>, u64), sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let revision = head(&mut tx).await?;
    Ok((tx, revision))
}

/// A read transaction: in WAL mode its first read fixes the snapshot every later read sees.
async fn begin_read(pool: &SqlitePool) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// Nothing to do: followers poll `meta`.
async fn announce(_conn: &mut Conn, _revision: u64) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Every tenant's rows, in `tx`'s snapshot: one table after another (SQLite reads are cheap
/// next to assembling them).
async fn load_all_rows(_pool: &SqlitePool, tx: &mut Conn) -> Result<Rows, sqlx::Error> {
    load_rows(tx, None).await
}

/// How a load aggregates a table's columns per tenant: a JSON array of arrays, as text.
const AGGREGATE: (&str, &str) = ("json_group_array(json_array(", "))");

// The shared statements, compiled once for each database on purpose (see its doc).
#[allow(clippy::duplicate_mod, reason = "one module per database, by design")]
#[path = "sql.rs"]
mod sql;

pub(super) use sql::*;
