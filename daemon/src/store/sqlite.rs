//! The store on SQLite: one file in WAL mode (readers never wait for the writer), writers
//! serialized by `BEGIN IMMEDIATE` (which waits up to the busy timeout for another writer,
//! in this process or another).
//!
//! The file holds every tenant's directory and admin token hashes, so it is readable by its
//! owner only: created `0600` before SQLite opens it (SQLite gives the `-wal` and `-shm` files
//! the database file's mode), and tightened to `0600` if an older daemon left it wider.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use tokio::sync::Notify;

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

/// The least time between two wakes for changes to the file: a burst of writes (an import,
/// audit flushes) costs the follower at most one look per 5 ms, not one per write. (A
/// transaction's first write wakes the follower before its commit; the look after the
/// spacing finds it.)
const WATCH_SPACING: Duration = Duration::from_millis(5);

/// How often the follower looks when the file cannot be watched.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// Watches the database file and its `-wal` for commits by another process (an `import`,
/// another daemon on the same file) and wakes `wake` for each burst of them, so an idle
/// follower sleeps instead of polling: SQLite has no notifications of its own, and a commit
/// in WAL mode writes the `-wal` file (a checkpoint, the database file). This process's own
/// commits wake the follower directly.
///
/// Set up here (on an error the caller polls instead); a thread of its own then waits on the
/// watch, which needs no `unsafe` to hand the descriptor to tokio. It looks once a second
/// whether the follower is gone (`wake` has no strong owner left) and stops then; if reading
/// the watch fails, it wakes the follower every [`POLL`] instead.
pub(super) fn watch(pool: &SqlitePool, wake: Weak<Notify>) -> io::Result<()> {
    let db = pool.connect_options().get_filename().to_path_buf();
    let dir = match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = db
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the store has no file name"))?;
    let wal = [name.as_slice(), b"-wal"].concat();
    let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
    // The directory, not the files: the `-wal` file comes and goes with the last connection.
    inotify::add_watch(
        &fd,
        &dir,
        WatchFlags::MODIFY | WatchFlags::CLOSE_WRITE | WatchFlags::CREATE | WatchFlags::MOVED_TO,
    )?;
    let ours = move |event: &inotify::Event<'_>| {
        event.events().contains(ReadFlags::QUEUE_OVERFLOW)
            || event
                .file_name()
                .is_some_and(|n| n.to_bytes() == name || n.to_bytes() == wal)
    };
    std::thread::Builder::new()
        .name("callgate-sqlite-watch".into())
        .spawn(move || watch_loop(&fd, &ours, &wake))?;
    Ok(())
}

fn watch_loop(fd: &OwnedFd, ours: &dyn Fn(&inotify::Event<'_>) -> bool, wake: &Weak<Notify>) {
    let second = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    // Room for many events; each is 16 bytes and its name, at most 256.
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let ready = poll(&mut [PollFd::new(fd, PollFlags::IN)], Some(&second));
        let changed = match ready {
            Ok(0) | Err(Errno::INTR) => false,
            Ok(_) => match read_events(fd, &mut buf, ours) {
                Ok(changed) => changed,
                Err(e) => return poll_instead(&e, wake),
            },
            Err(e) => return poll_instead(&e, wake),
        };
        let Some(wake) = wake.upgrade() else {
            return;
        };
        if changed {
            wake.notify_one();
            drop(wake);
            std::thread::sleep(WATCH_SPACING);
        }
    }
}

/// Every event queued on the (non-blocking) watch: whether any was `ours`.
fn read_events(
    fd: &OwnedFd,
    buf: &mut [MaybeUninit<u8>],
    ours: &dyn Fn(&inotify::Event<'_>) -> bool,
) -> Result<bool, Errno> {
    let mut reader = inotify::Reader::new(fd, buf);
    let mut any = false;
    loop {
        match reader.next() {
            Ok(event) => any |= ours(&event),
            Err(Errno::AGAIN) => return Ok(any),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The watch failed: wake the follower every [`POLL`] while it runs.
fn poll_instead(e: &Errno, wake: &Weak<Notify>) {
    tracing::warn!(error = %e, "cannot read the SQLite store's file watch; polling every 50 ms");
    while let Some(wake) = wake.upgrade() {
        wake.notify_one();
        drop(wake);
        std::thread::sleep(POLL);
    }
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

/// Nothing to do: followers watch the file ([`watch`]).
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// "changes reach every node in milliseconds": a commit on the file by another writer (a
    /// connection of its own, as another process's `callgate import` is) wakes the follower
    /// through the file's watch. Without the watch nothing wakes it (the follower's catch-up
    /// is its own timer), and this waits out its minute and fails.
    #[tokio::test]
    async fn another_writers_commit_wakes_the_follower() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let pool = open(&url).await.unwrap();
        let other = open(&url).await.unwrap();
        let wake = Arc::new(Notify::new());
        watch(&pool, Arc::downgrade(&wake)).unwrap();
        sqlx::query("UPDATE meta SET revision = revision + 1 WHERE id = 1")
            .execute(&other)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), wake.notified())
            .await
            .expect("the watch woke the follower");
    }
}
