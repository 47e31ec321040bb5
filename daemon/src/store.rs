//! The store: the directory kept relationally in SQLite (default) or Postgres, a change log
//! with one row per revision, and admin tokens (hashed). Decisions never touch it: the
//! daemon loads the grant table from it ([`load_into`]) and follows its change log
//! ([`follow`]).
//!
//! Every write runs in one transaction that first takes the writer lock (SQLite:
//! `BEGIN IMMEDIATE`; Postgres: the `meta` row `FOR UPDATE`), so revisions are assigned and
//! committed in order and a reader of the change log never skips one. An import gives one
//! revision to each tenant it changed (none to a tenant already as the file says); every
//! other write gives one revision to its tenant.

mod audit;
mod diff;
mod keyed;
mod postgres;
mod rowdiff;
mod rows;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

pub use self::audit::{AuditQuery, AuditRow};

use callgate::edit::{Edit, Entity, Splice};
use callgate::model::Tenant;
use callgate::table::CompiledTenant;
use callgate::{Directory, DirectoryError, Problem, Table};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::writer::{Source, Writer};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed; details go to the log, never to clients.
    #[error("an internal database error occurred")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The URL is not `sqlite://PATH` or `postgres://…`.
    #[error("unsupported database url `{0}` (use sqlite://PATH or postgres://...)")]
    BadUrl(String),
    /// The directory data is invalid; nothing was written.
    #[error("{0}")]
    Invalid(#[from] DirectoryError),
    /// No such tenant (or entity).
    #[error("{0} not found")]
    NotFound(String),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// The revision after the import (unchanged if nothing changed).
    pub revision: u64,
    /// Tenants written.
    pub changed: Vec<String>,
    /// Tenants already exactly as in the file.
    pub unchanged: Vec<String>,
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The revision this change produced.
    pub revision: u64,
    /// The tenant it changed.
    pub tenant: String,
    /// `put` (the tenant was written) or `delete`.
    pub kind: String,
    /// Who made it (token name, `import`, `cli`, …).
    pub actor: String,
}

/// An admin token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its name (the audit trail's "who").
    pub name: String,
    /// The one tenant it may write, or `None` for all.
    pub tenant: Option<String>,
}

/// What a follower must apply to reach the store's revision, read in one snapshot.
enum CatchUp {
    /// Nothing: the table is at the store's revision.
    Current,
    /// The tenants changed since the table's revision, in the order of their first change
    /// since.
    Changes {
        revision: u64,
        tenants: Vec<Changed>,
    },
    /// The whole directory: the table was empty (revision 0), or the store went back.
    All {
        revision: u64,
        tenants: Vec<Tenant>,
        labels: Labels,
    },
}

/// Each tenant's latest change in the log, by tenant id.
type Labels = HashMap<String, u64>;

/// One tenant changed since a follower's revision.
struct Changed {
    id: String,
    /// The revision of its first change since.
    first: u64,
    /// What it is now.
    now: Now,
    /// When it changed once since: that write's splice, and the revision of the tenant's
    /// change before it (what the splice was made to).
    splice: Option<Delta>,
}

/// A changed tenant as the follower gets it.
enum Now {
    /// Deleted.
    Deleted,
    /// As stored.
    Stored(Arc<Tenant>),
    /// Not read: its splice patches the compiled tenant the table holds ([`patchable`]).
    Spliced,
}

/// Whether `table` holds tenant `id` as it was at revision `base`, and can be patched with
/// `splice` (so the follower needs nothing else).
fn patchable(table: &Table, id: &str, base: u64, splice: &Splice) -> bool {
    table
        .tenant(id)
        .is_some_and(|t| t.revision == base && t.patches < MAX_SPLICES && t.can_splice(splice))
}

/// A write's splice, and the revision of the tenant's previous change (its base).
#[derive(Debug, Clone)]
struct Delta {
    base: u64,
    splice: Arc<Splice>,
}

/// One tenant this process wrote: its revision, the stored form, and the write's splice.
#[derive(Debug)]
struct Kept {
    id: String,
    revision: u64,
    tenant: Arc<Tenant>,
    delta: Option<Delta>,
}

/// The stored form of the tenants this process wrote last, each with the revision of its
/// write (and what the write changed): a later write to the same tenant (or the follower
/// applying this one) starts from it instead of reading and assembling the tenant again, if
/// the tenant's latest change in the log is still that revision (no other process wrote it
/// since). A few tenants only, so the daemon's memory stays the table's.
#[derive(Debug, Default)]
struct Recent(std::sync::Mutex<Vec<Kept>>);

impl Recent {
    /// How many tenants are kept.
    const KEEP: usize = 4;

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        // A panic elsewhere while holding the lock leaves a list that is still whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tenant `id` as written at `revision`, if kept.
    fn get(&self, id: &str, revision: u64) -> Option<Arc<Tenant>> {
        self.get_with_delta(id, revision).map(|(t, _)| t)
    }

    /// Tenant `id` as written at `revision` and what that write changed, if kept.
    fn get_with_delta(&self, id: &str, revision: u64) -> Option<(Arc<Tenant>, Option<Delta>)> {
        self.entries()
            .iter()
            .find(|k| k.id == id && k.revision == revision)
            .map(|k| (Arc::clone(&k.tenant), k.delta.clone()))
    }

    /// Takes tenant `id` as written at `revision` out, if kept: the caller then holds the only
    /// reference, and may change it in place.
    fn take(&self, id: &str, revision: u64) -> Option<Kept> {
        let mut entries = self.entries();
        let at = entries
            .iter()
            .position(|k| k.id == id && k.revision == revision)?;
        Some(entries.remove(at))
    }

    /// Puts back what [`Recent::take`] took, unchanged (unless a write kept a newer one).
    fn put_back(&self, kept: Kept) {
        let mut entries = self.entries();
        if entries.iter().any(|k| k.id == kept.id) {
            return;
        }
        if entries.len() >= Self::KEEP {
            entries.remove(0);
        }
        entries.push(kept);
    }

    /// Keeps tenant `id` as written at `revision` (in place of what was kept for it), with
    /// the write's splice when it has one.
    fn put(&self, id: &str, revision: u64, tenant: Arc<Tenant>, delta: Option<(u64, Splice)>) {
        let mut entries = self.entries();
        entries.retain(|k| k.id != id);
        if entries.len() >= Self::KEEP {
            entries.remove(0);
        }
        entries.push(Kept {
            id: id.to_string(),
            revision,
            tenant,
            delta: delta.map(|(base, splice)| Delta {
                base,
                splice: Arc::new(splice),
            }),
        });
    }

    /// Forgets tenant `id`.
    fn forget(&self, id: &str) {
        self.entries().retain(|k| k.id != id);
    }
}

/// A connection pool to the store.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Woken by every write this process commits: its follower applies the change at once
    /// instead of at its next poll (another process's writes still arrive by NOTIFY or poll).
    written: Arc<Notify>,
    /// The revision this process's follower last brought its table to: what a writer waiting
    /// for its change to be applied watches (no polling).
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    recent: Arc<Recent>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the backend's function of the same name on the pool.
macro_rules! dispatch {
    ($store:expr, $f:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Sqlite(pool) => sqlite::$f(pool $(, $arg)*).await,
            Backend::Postgres(pool) => postgres::$f(pool $(, $arg)*).await,
        }
    };
}

/// Logs a database failure's details (clients only ever see [`StoreError`]'s fixed text).
fn logged<T>(operation: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if let Err(StoreError::Database(e)) = &result {
        tracing::error!(operation, error = %e, "store: database error");
    }
    result
}

/// A database failure's own text, for the log.
fn detail(e: &StoreError) -> String {
    match e {
        StoreError::Database(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Tenants as they are stored: validated (canonical) and [`rows::storable`].
fn prepare(tenants: Vec<Tenant>) -> Result<Vec<Tenant>, StoreError> {
    let valid = callgate::directory::validate(Directory { tenants })?;
    Ok(valid.into_iter().map(rows::storable).collect())
}

/// Refuses a set of tenants that gives one number to two of them (a number belongs to one
/// tenant), with every such number and where.
fn numbers_once(tenants: &[Tenant]) -> Result<(), StoreError> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut problems = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        for (i, n) in tenant.numbers.iter().enumerate() {
            match owner.get(n.number.as_str()) {
                Some(first) if *first != tenant.id => problems.push(Problem {
                    path: format!("tenants[{t}].numbers[{i}].number"),
                    message: format!(
                        "`{}` belongs to another tenant (`{first}`, earlier in this file)",
                        n.number
                    ),
                }),
                Some(_) => {}
                None => {
                    owner.insert(n.number.as_str(), tenant.id.as_str());
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(DirectoryError::Invalid(problems)))
    }
}

/// An edited tenant as it is stored, or why not (its id may not change).
fn prepare_edited(id: &str, tenant: Tenant) -> Result<Tenant, StoreError> {
    if tenant.id != id {
        return Err(StoreError::Invalid(DirectoryError::Invalid(vec![
            Problem {
                path: "id".into(),
                message: format!("the tenant's id may not change (`{id}` to `{}`)", tenant.id),
            },
        ])));
    }
    prepare(vec![tenant])?
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("tenant `{id}`")))
}

/// The SHA-256 of a token's secret, in lowercase hex: what the store keeps.
fn token_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

/// A new token secret: `cg_` and 32 random bytes from the kernel, in hex.
fn new_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read /dev/urandom");
            StoreError::Database(sqlx::Error::Io(e))
        })?;
    Ok(format!("cg_{}", hex(&bytes)))
}

impl Store {
    /// Connects to `url` (creating a SQLite file if needed, in WAL mode) and applies migrations.
    ///
    /// `sqlite://PATH` (relative to the working directory; `sqlite:///abs/path` for an absolute
    /// one) or `postgres://USER:PASSWORD@HOST:PORT/DB` (`postgresql://` too; libpq's `PG*`
    /// environment variables fill in what the URL leaves out).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::open(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::open(url).await?)
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(Store {
            backend,
            written: Arc::new(Notify::new()),
            applied: Arc::new(tokio::sync::watch::Sender::new(0)),
            recent: Arc::default(),
        })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (waiting for those in use to come back).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// The latest revision.
    pub async fn revision(&self) -> Result<u64, StoreError> {
        logged("revision", dispatch!(self, revision()))
    }

    /// Whether no tenant is stored.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        logged("is_empty", dispatch!(self, is_empty()))
    }

    /// Every tenant and the revision they are at, read consistently.
    pub async fn load_all(&self) -> Result<(Vec<Tenant>, u64), StoreError> {
        logged("load_all", dispatch!(self, load_all()))
    }

    /// One tenant.
    pub async fn load_tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        logged("load_tenant", dispatch!(self, load_tenant(id)))
    }

    /// Replaces each given tenant whole, in one transaction; tenants already equal are
    /// skipped (no revision). Tenants must be validated (from `callgate::directory::parse`).
    ///
    /// Each tenant written gets a revision of its own (so the change log says which tenants
    /// changed); tenants not in `tenants` are left as they are. They are validated again
    /// here ([`StoreError::Invalid`], nothing written), and role matrix entries that grant no
    /// action (`extensions: []`) are not kept.
    ///
    /// A number belongs to one tenant: a file that gives one number to two tenants, or a
    /// number another stored tenant holds, is refused whole
    /// (``tenants[0].numbers[1].number: `+44…` belongs to another tenant``; `numbers[i]`
    /// counts the tenant's numbers in their canonical order, by number).
    pub async fn import(
        &self,
        tenants: &[Tenant],
        actor: &str,
    ) -> Result<ImportOutcome, StoreError> {
        let tenants = prepare(tenants.to_vec())?;
        numbers_once(&tenants)?;
        self.wrote(logged(
            "import",
            dispatch!(self, import(&tenants, actor, &self.recent)),
        ))
    }

    /// Watches the revision this process's follower has applied (see [`follow`]).
    pub fn applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Wakes the follower after a committed write.
    fn wrote<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.written.notify_one();
        }
        result
    }

    /// Reads tenant `id` (an empty one with that id if absent when `create` is true), lets
    /// `edit` change it, validates, and writes it back, all in one transaction. Returns the
    /// new revision, or `None` if `edit` changed nothing.
    ///
    /// The writer lock is held while `edit` runs. An absent tenant with `create` false is
    /// [`StoreError::NotFound`]; an edit that leaves the tenant invalid (or changes its id), or
    /// gives it a number another tenant holds, is [`StoreError::Invalid`] with every problem;
    /// either way, or when `edit` fails, nothing is written.
    ///
    /// Creating a tenant whose id an earlier, deleted tenant had starts a new incarnation:
    /// the earlier one's change log and audit rows move to `ID~R` (R: the revision that
    /// deleted it), so the new tenant's trail starts empty.
    pub async fn update_tenant<F>(
        &self,
        id: &str,
        create: bool,
        actor: &str,
        edit: F,
    ) -> Result<Option<u64>, StoreError>
    where
        F: FnOnce(&mut Tenant) -> Result<(), StoreError> + Send,
    {
        self.wrote(logged(
            "update_tenant",
            dispatch!(
                self,
                update_tenant(id, create, actor, edit, prepare_edited, &self.recent)
            ),
        ))
    }

    /// Makes one change to one entity of tenant `id` (the tenant must exist). A delete, or a
    /// put of a user, is applied to the stored tenant as it is (no copy of the tenant, no
    /// validation of the whole of it: [`Edit::keeps_valid`], [`callgate::directory::put_user`]),
    /// and only the rows of its [`Edit::neighbourhood`] are written; another put goes through
    /// [`Store::update_tenant`]. Returns the new revision, or
    /// `None` if nothing changed; deleting an entity the tenant does not have is
    /// [`StoreError::NotFound`].
    pub async fn edit(&self, id: &str, actor: &str, edit: Edit) -> Result<Option<u64>, StoreError> {
        if edit.keeps_valid() || matches!(edit, Edit::Put(Entity::User(_))) {
            return self.wrote(logged(
                "edit",
                dispatch!(self, edit_entity(id, actor, &edit, &self.recent)),
            ));
        }
        self.update_tenant(id, false, actor, move |t| {
            edit.apply(t);
            Ok(())
        })
        .await
    }

    /// Deletes a tenant. Returns the new revision, or `None` if there was no such tenant.
    pub async fn delete_tenant(&self, id: &str, actor: &str) -> Result<Option<u64>, StoreError> {
        self.wrote(logged(
            "delete_tenant",
            dispatch!(self, delete_tenant(id, actor, &self.recent)),
        ))
    }

    /// Tenants, whole (all, or one), canonical and sorted by id: importing them gives back
    /// the same store.
    pub async fn export(&self, tenant: Option<&str>) -> Result<Vec<Tenant>, StoreError> {
        logged("export", dispatch!(self, export(tenant)))
    }

    /// Every change after `revision`, in order.
    pub async fn changes_since(&self, revision: u64) -> Result<Vec<Change>, StoreError> {
        logged("changes_since", dispatch!(self, changes_since(revision)))
    }

    /// Creates an admin token; returns its secret (shown once; only its hash is stored).
    ///
    /// Creating a token under a name already in use replaces it: the old secret stops working.
    pub async fn add_token(&self, name: &str, tenant: Option<&str>) -> Result<String, StoreError> {
        let secret = new_secret()?;
        let hash = token_hash(&secret);
        logged("add_token", dispatch!(self, put_token(name, &hash, tenant)))?;
        Ok(secret)
    }

    /// The token a secret belongs to, if any.
    pub async fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        let hash = token_hash(secret);
        logged("verify_token", dispatch!(self, find_token(&hash)))
    }

    /// Revokes a token; whether there was one by that name.
    pub async fn remove_token(&self, name: &str) -> Result<bool, StoreError> {
        logged("remove_token", dispatch!(self, remove_token(name)))
    }

    /// Every token (names and scopes; secrets aren't kept), by name.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        logged("tokens", dispatch!(self, tokens()))
    }

    /// What `table` must apply to reach the store's revision.
    async fn catch_up(&self, table: &Table) -> Result<CatchUp, StoreError> {
        dispatch!(self, catch_up(table, &self.recent))
    }
}

/// Puts `tenants` in the table in place of everything it had, at `revision`, without copying
/// them (unlike [`Table::replace_all`]). Each is labelled with
/// its own latest change (`labels`, read in the same snapshot; else `revision`), so the first
/// splice made to it finds it at its base and patches it.
fn install_all(writer: &Writer, tenants: Vec<Tenant>, revision: u64, labels: &Labels) {
    let keep: HashSet<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
    let gone: Vec<String> = writer
        .table()
        .tenant_ids()
        .into_iter()
        .filter(|id| !keep.contains(id.as_str()))
        .collect();
    // One after the other, from the models, which are dropped together afterwards: compiling
    // on every core was no faster on two cores, and dropping each model as soon as it was
    // compiled interleaves freed and live memory; either way the freed memory stayed resident
    // (1.25 GB and 1.49 GB at 1,000,000 users, against 0.98 GB this way).
    let compiled: Vec<(CompiledTenant, Source)> = tenants
        .iter()
        .map(|t| {
            let label = labels.get(&t.id).map_or(revision, |&l| l.min(revision));
            (CompiledTenant::compile(t, label), writer.source_of(t))
        })
        .collect();
    drop(tenants);
    for id in gone {
        writer.remove(&id, revision);
    }
    for (t, source) in compiled {
        writer.put_compiled(t, source);
    }
    writer.advance(revision);
}

/// Loads the whole store into the table `writer` writes (replacing what it had); returns the
/// revision loaded. The daemon calls it before it starts answering, then hands the writer to
/// [`follow`], the table's only writer from then on.
pub async fn load_into(store: &Store, writer: &Writer) -> Result<u64, StoreError> {
    let (tenants, revision, labels) = logged("load_all", dispatch!(store, load_labelled()))?;
    let count = tenants.len();
    install_all(writer, tenants, revision, &labels);
    tracing::info!(tenants = count, revision, "grant table loaded");
    Ok(revision)
}

/// Brings the table `writer` writes up to the store's revision: the tenants changed since the
/// table's revision, each reloaded whole, read in one snapshot and compiled off the async
/// threads.
///
/// The table's revision never runs ahead of what it holds: each tenant is put at the revision
/// of its first change since, in that order (a table at revision R has every change up to R;
/// a tenant may hold changes of later revisions than the one it is labelled with), and the
/// table reaches the store's revision once all are in.
async fn catch_up(store: &Store, writer: &Arc<Writer>) -> Result<u64, StoreError> {
    let step = store.catch_up(writer.table()).await?;
    let writer = Arc::clone(writer);
    let applied = tokio::task::spawn_blocking(move || match step {
        CatchUp::Current => Ok(writer.table().revision()),
        CatchUp::All {
            revision,
            tenants,
            labels,
        } => {
            install_all(&writer, tenants, revision, &labels);
            Ok(revision)
        }
        CatchUp::Changes { revision, tenants } => {
            for c in tenants {
                match c.now {
                    Now::Stored(t) => {
                        let made = compiled(writer.table(), &c.id, &t, c.splice, c.first);
                        match made {
                            Compiled::Whole(tenant) => {
                                writer.put_compiled(tenant, writer.source_of(&t))
                            }
                            Compiled::Patched(tenant) => {
                                writer.put_patched(tenant).map_err(|_| c.id.clone())?;
                            }
                        }
                    }
                    Now::Deleted => writer.remove(&c.id, c.first),
                    Now::Spliced => {
                        // `patchable` held when the change was read, and only this task
                        // writes the table: it still does.
                        let patched = c.splice.and_then(|d| {
                            writer.table().tenant(&c.id)?.spliced(&d.splice, c.first)
                        });
                        match patched {
                            Some(t) => writer.put_patched(t).map_err(|_| c.id.clone())?,
                            None => return Err(c.id),
                        }
                    }
                }
            }
            writer.advance(revision);
            Ok(revision)
        }
    })
    .await;
    match applied {
        Ok(Ok(revision)) => Ok(revision),
        // Read again next time, whole.
        Ok(Err(tenant)) => {
            tracing::warn!(
                tenant,
                "a logged change did not patch the table; reading the tenant whole"
            );
            Err(StoreError::Database(sqlx::Error::WorkerCrashed))
        }
        Err(e) => {
            tracing::error!(error = %e, "applying the store's changes to the table failed");
            Err(StoreError::Database(sqlx::Error::WorkerCrashed))
        }
    }
}

/// How many splices may patch a compiled tenant before it is compiled whole again (which
/// drops the positions of removed users, and gives new replicas the tenant as one JSON
/// document instead of a document and its splices).
const MAX_SPLICES: u32 = 64;

/// A tenant compiled for the table: whole, or patched from the one the table holds.
enum Compiled {
    Whole(CompiledTenant),
    Patched(CompiledTenant),
}

/// Tenant `t` (at `revision`) compiled for the table: patched from the compiled tenant the
/// table holds when `delta` was made to it ([`CompiledTenant::spliced`]), else compiled
/// whole. A tenant compiled whole in place of one the splice applies to still says what
/// changed, so the replica feed sends the change, not the tenant.
fn compiled(table: &Table, id: &str, t: &Tenant, delta: Option<Delta>, revision: u64) -> Compiled {
    let current = table.tenant(id);
    let base = delta.zip(current).filter(|(d, cur)| cur.revision == d.base);
    let Some((delta, current)) = base else {
        return Compiled::Whole(CompiledTenant::compile(t, revision));
    };
    if current.patches < MAX_SPLICES
        && let Some(patched) = current.spliced(&delta.splice, revision)
    {
        return Compiled::Patched(patched);
    }
    let mut whole = CompiledTenant::compile(t, revision);
    if current.can_splice(&delta.splice) {
        whole.delta = Some(callgate::table::Delta {
            base: current.generation,
            splice: delta.splice,
        });
    }
    Compiled::Whole(whole)
}

/// How often a follower looks for changes when it is told of them (Postgres's NOTIFY, a watch
/// on the SQLite file): a catch-up, in case one was missed.
const CATCH_UP: Duration = Duration::from_secs(1);

/// The first and longest wait between retries while the store is unreachable.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps `table` following the store's change log until `shutdown` resolves: Postgres wakes
/// on `NOTIFY callgate_changes` (with a catch-up every second in case a notification was
/// missed), SQLite on a watch of its file (another process may write it; the same catch-up,
/// and a poll every 50 ms where the file cannot be watched). Idle, it wakes once a second.
///
/// A table at revision 0 is loaded whole first; otherwise (the daemon already ran
/// [`load_into`]) it catches up from its revision. A database outage is logged once (and its
/// end once), retried with backoff; checks keep being answered from the table meanwhile, and
/// it catches up by itself when the database is back.
pub async fn follow(store: Store, writer: Arc<Writer>, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let wake = Arc::new(Notify::new());
    // Postgres's listener stops when dropped, with this function; the SQLite file's watch
    // once `wake` is dropped.
    let mut _listener = None;
    let period = match &store.backend {
        Backend::Postgres(pool) => {
            _listener = Some(AbortOnDrop(tokio::spawn(listen(
                pool.clone(),
                Arc::clone(&wake),
            ))));
            CATCH_UP
        }
        Backend::Sqlite(pool) => match sqlite::watch(pool, Arc::downgrade(&wake)) {
            Ok(()) => CATCH_UP,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the SQLite store's file for other processes' writes; polling it every 50 ms");
                sqlite::POLL
            }
        },
    };
    let mut retry: Option<Duration> = None;
    loop {
        match catch_up(&store, &writer).await {
            Ok(revision) => {
                store.applied.send_replace(revision);
                if retry.take().is_some() {
                    tracing::info!(revision, "store reachable again; the table has caught up");
                }
            }
            Err(e) => {
                retry = Some(match retry {
                    None => {
                        tracing::warn!(
                            error = %detail(&e),
                            revision = writer.table().revision(),
                            "store unreachable; answering from the table as it is, and retrying"
                        );
                        RETRY_MIN
                    }
                    Some(d) => (d * 2).min(RETRY_MAX),
                });
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = wake.notified(), if retry.is_none() => {}
            () = store.written.notified(), if retry.is_none() => {}
            () = tokio::time::sleep(retry.unwrap_or(period)) => {}
        }
    }
}

/// Listens on Postgres for new revisions and wakes the follower on each, and whenever the
/// listening connection is (re)established (a notification may have been missed meanwhile).
async fn listen(pool: sqlx::PgPool, wake: Arc<Notify>) {
    let mut retry = RETRY_MIN;
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(postgres::CHANNEL).await {
                Ok(()) => {
                    retry = RETRY_MIN;
                    wake.notify_one();
                    loop {
                        match listener.try_recv().await {
                            // A notification, or the connection was lost and re-established.
                            Ok(_) => wake.notify_one(),
                            Err(e) => {
                                tracing::debug!(error = %e, "store listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "store listener cannot LISTEN"),
            },
            Err(e) => tracing::debug!(error = %e, "store listener cannot connect"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}
