//! The store on Postgres: writers serialized by locking the `meta` row (`FOR UPDATE`), readers
//! in `REPEATABLE READ` snapshots, and each new revision announced with
//! `NOTIFY callgate_changes, '<revision>'` in the transaction that made it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::StoreError;
use super::rows::{self, Rows};
use sql::{Conn, from_db, load_parts, load_rows, load_rows_of};

type Db = Postgres;

/// The channel new revisions are announced on.
pub(super) const CHANNEL: &str = "callgate_changes";

/// How long an operation waits for a connection (so a write fails soon when the server is
/// down, instead of hanging).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to `url` and applies the migrations.
pub(super) async fn open(url: &str) -> Result<PgPool, StoreError> {
    let options =
        PgConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl(url.to_string()))?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot connect to the Postgres store");
            StoreError::Database(e)
        })?;
    sqlx::migrate!("../migrations/postgres")
        .run(&pool)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(pool)
}

/// A write transaction holding the `meta` row's lock, and the revision it starts from.
async fn begin_write(pool: &PgPool) -> Result<(Transaction<'static, Db>, u64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (revision,): (i64,) = sqlx::query_as("SELECT revision FROM meta WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    Ok((tx, from_db(revision)))
}

/// A read-only snapshot.
async fn begin_read(pool: &PgPool) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
}

/// Every tenant's rows, in `tx`'s snapshot, read over two connections at once: `tx` exports
/// its snapshot and a second read transaction adopts it (`SET TRANSACTION SNAPSHOT`), so
/// both see exactly the same data while the server aggregates two tables at a time.
async fn load_all_rows(pool: &PgPool, tx: &mut Conn) -> Result<Rows, sqlx::Error> {
    let (snapshot,): (String,) = sqlx::query_as("SELECT pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await?;
    // An id like `00000003-0000001B-1`; it cannot be bound, so it is checked instead.
    if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return load_rows(tx, None).await;
    }
    let mut helper = begin_read(pool).await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .execute(&mut *helper)
        .await?;
    // The large tables split about evenly: numbers and extensions here, users, queue agents
    // and grants on the helper.
    const HELPER: [usize; 3] = [rows::USERS, rows::QUEUE_AGENTS, rows::USER_GRANTS];
    let mine = (0..rows::PARTS.len()).filter(|i| !HELPER.contains(i));
    let (rows, theirs) = tokio::join!(
        load_rows_of(tx, None, mine),
        load_parts(&mut helper, None, HELPER)
    );
    let (mut rows, theirs) = (rows?, theirs?);
    helper.commit().await?;
    for (i, part) in theirs {
        if let Some(out) = rows.parts.get_mut(i) {
            *out = part;
        }
    }
    Ok(rows)
}

/// Tells every listening daemon of `revision` when the transaction commits.
async fn announce(conn: &mut Conn, revision: u64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(revision.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How a load aggregates a table's columns per tenant: a JSON array of arrays, as text.
const AGGREGATE: (&str, &str) = ("json_agg(json_build_array(", "))::text");

// The shared statements, compiled once for each database on purpose (see its doc).
#[allow(clippy::duplicate_mod, reason = "one module per database, by design")]
#[path = "sql.rs"]
mod sql;

pub(super) use sql::*;
