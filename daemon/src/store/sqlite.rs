//! The store on SQLite: one file in WAL mode (readers never wait for the writer), writers
//! serialized by `BEGIN IMMEDIATE` (which waits up to the busy timeout for another writer,
//! in this process or another).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool, Transaction};

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
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(BUSY_TIMEOUT)
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

include!("sql.rs");
