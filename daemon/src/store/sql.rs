//! The statements and transactions both databases share, written once: `store/sqlite.rs` and
//! `store/postgres.rs` each declare this file as their module `sql` (`#[path]`), after
//! defining `Db` (the sqlx database), `begin_write` (takes the writer lock, returns the
//! current revision), `begin_read` (a consistent snapshot), `announce` (tells other daemons of
//! a new revision), `load_all_rows` and `AGGREGATE`. The SQL text is the same for both (`$N`
//! placeholders, which SQLite takes too).
//!
//! One module compiled twice rather than one generic module: the code is generic over two
//! concrete databases, and spelling that with sqlx's trait bounds would bury every statement
//! under where-clauses.

use std::sync::Arc;

use callgate::directory::Limits;
use callgate::edit::{Edit, Entity, Splice, part_after};
use callgate::model::Tenant;
use sqlx::query_builder::Separated;
use sqlx::{Pool, QueryBuilder};

use callgate::Table;

use super::{AGGREGATE, Db, announce, begin_read, begin_write, load_all_rows};
use crate::store::rowdiff::{Cell, TABLES, TableChanges, changes};
use crate::store::rows::{self, Rows};
use crate::store::{
    CatchUp, Change, Changed, Delta, ImportOutcome, Labels, Now, Recent, StoreError, TokenInfo,
};

pub(in crate::store) type Conn = <Db as sqlx::Database>::Connection;

/// Bind parameters per statement: under SQLite's limit (32,766) and Postgres's (65,535).
const MAX_BINDS: usize = 30_000;

/// More tenants changed than this since the table's revision: reload everything at once.
const CATCH_UP_ALL: usize = 64;

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(e)
}

fn to_db(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

pub(super) fn from_db(revision: i64) -> u64 {
    u64::try_from(revision).unwrap_or(0)
}

/// The current revision.
pub(super) async fn head(conn: &mut Conn) -> Result<u64, sqlx::Error> {
    let (revision,): (i64,) = sqlx::query_as("SELECT revision FROM meta WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    Ok(from_db(revision))
}

/// The rows of `select`, of every tenant or of one (`key` = `$1`), then `tail`.
async fn fetch<T>(
    conn: &mut Conn,
    select: &str,
    key: &str,
    tenant: Option<&str>,
    tail: &str,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    match tenant {
        None => {
            sqlx::query_as::<_, T>(&format!("{select}{tail}"))
                .fetch_all(&mut *conn)
                .await
        }
        Some(t) => {
            let sql = format!("{select} WHERE {key} = $1{tail}");
            sqlx::query_as::<_, T>(&sql)
                .bind(t)
                .fetch_all(&mut *conn)
                .await
        }
    }
}

/// Every tenant's rows (or one's), one query per table, each table's rows aggregated per
/// tenant by the database ([`rows`]).
pub(super) async fn load_rows(conn: &mut Conn, tenant: Option<&str>) -> Result<Rows, sqlx::Error> {
    load_rows_of(conn, tenant, 0..rows::PARTS.len()).await
}

/// The `tenants` rows and the [`rows::PARTS`] at `which` (the others left empty).
pub(super) async fn load_rows_of(
    conn: &mut Conn,
    tenant: Option<&str>,
    which: impl IntoIterator<Item = usize>,
) -> Result<Rows, sqlx::Error> {
    let mut rows = Rows {
        tenants: fetch(
            conn,
            "SELECT id, default_caller_id FROM tenants",
            "id",
            tenant,
            "",
        )
        .await?,
        ..Rows::default()
    };
    for (i, part) in load_parts(conn, tenant, which).await? {
        if let Some(out) = rows.parts.get_mut(i) {
            *out = part;
        }
    }
    Ok(rows)
}

/// The [`rows::PARTS`] at `which`, each aggregated per tenant, with its index.
pub(super) async fn load_parts(
    conn: &mut Conn,
    tenant: Option<&str>,
    which: impl IntoIterator<Item = usize>,
) -> Result<Vec<(usize, Vec<(String, String)>)>, sqlx::Error> {
    let (open, close) = AGGREGATE;
    let mut out = Vec::new();
    for i in which {
        let Some(part) = rows::PARTS.get(i) else {
            continue;
        };
        let select = format!(
            "SELECT tenant, {open}{}{close} FROM {}",
            part.columns, part.table
        );
        out.push((
            i,
            fetch(conn, &select, "tenant", tenant, " GROUP BY tenant").await?,
        ));
    }
    Ok(out)
}

/// Tenants out of their rows, assembled off the async threads.
async fn assemble(rows: Rows) -> Result<Vec<Tenant>, sqlx::Error> {
    match tokio::task::spawn_blocking(move || rows::assemble(rows)).await {
        Ok(tenants) => tenants.map_err(|e| sqlx::Error::Decode(Box::new(e))),
        Err(e) => Err(sqlx::Error::Decode(Box::new(e))),
    }
}

/// The revision of tenant `id`'s latest change, if it has one.
async fn last_change(conn: &mut Conn, id: &str) -> Result<Option<u64>, sqlx::Error> {
    let (last,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(revision) FROM changes WHERE tenant = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(last.map(from_db))
}

/// Tenant `id` as stored (the copy this process kept of its latest change, else read), and
/// the revision of that change.
async fn load_recent(
    conn: &mut Conn,
    id: &str,
    recent: &Recent,
) -> Result<(Option<Arc<Tenant>>, Option<u64>), sqlx::Error> {
    let last = last_change(conn, id).await?;
    if let Some(kept) = last.and_then(|r| recent.get(id, r)) {
        return Ok((Some(kept), last));
    }
    Ok((load_one(conn, id).await?.map(Arc::new), last))
}

/// One tenant, as stored.
async fn load_one(conn: &mut Conn, id: &str) -> Result<Option<Tenant>, sqlx::Error> {
    Ok(assemble(load_rows(conn, Some(id)).await?).await?.pop())
}

/// Binds one column's value.
fn bind_cell<'a>(row: &mut Separated<'_, 'a, Db, &'static str>, cell: Cell<'a>) {
    match cell {
        Cell::Text(text) => row.push_bind(text),
        Cell::Flag(flag) => row.push_bind(flag),
    };
}

/// Writes the `tenants` row of a tenant that changes: inserted if new, else updated if its
/// own columns differ.
async fn write_tenant_row(
    conn: &mut Conn,
    before: Option<&Tenant>,
    t: &Tenant,
) -> Result<(), sqlx::Error> {
    match before {
        None => {
            sqlx::query("INSERT INTO tenants (id, default_caller_id) VALUES ($1, $2)")
                .bind(t.id.as_str())
                .bind(t.default_caller_id.as_deref())
                .execute(&mut *conn)
                .await?;
        }
        Some(b) if b.default_caller_id != t.default_caller_id => {
            sqlx::query("UPDATE tenants SET default_caller_id = $1 WHERE id = $2")
                .bind(t.default_caller_id.as_deref())
                .bind(t.id.as_str())
                .execute(&mut *conn)
                .await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Deletes the rows `changes` drops from tenant `id`, children before parents, as many keys
/// per statement as fit.
async fn delete_changed(
    conn: &mut Conn,
    id: &str,
    changes: &[TableChanges<'_>],
) -> Result<(), sqlx::Error> {
    for (table, c) in TABLES.iter().zip(changes).rev() {
        let width = table.key.len();
        for chunk in c.deleted.chunks((MAX_BINDS / width).max(1)) {
            let mut query =
                QueryBuilder::<Db>::new(format!("DELETE FROM {} WHERE tenant = ", table.name));
            query.push_bind(id);
            query.push(format!(" AND ({}) IN (VALUES ", table.key.join(", ")));
            for (i, key) in chunk.iter().enumerate() {
                query.push(if i == 0 { "(" } else { ", (" });
                let mut row = query.separated(", ");
                for cell in key {
                    bind_cell(&mut row, *cell);
                }
                query.push(")");
            }
            query.push(")");
            query.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Updates and inserts the rows `changes` brings to tenant `id`, parents before children.
async fn write_changed<'a>(
    conn: &mut Conn,
    id: &'a str,
    changes: &'a [TableChanges<'a>],
) -> Result<(), sqlx::Error> {
    for (table, c) in TABLES.iter().zip(changes) {
        for (key, values) in &c.updated {
            let mut query = QueryBuilder::<Db>::new(format!("UPDATE {} SET ", table.name));
            for (i, (column, cell)) in table.values.iter().zip(values).enumerate() {
                query.push(if i == 0 {
                    format!("{column} = ")
                } else {
                    format!(", {column} = ")
                });
                let mut one = query.separated("");
                bind_cell(&mut one, *cell);
            }
            query.push(" WHERE tenant = ");
            query.push_bind(id);
            for (column, cell) in table.key.iter().zip(key) {
                query.push(format!(" AND {column} = "));
                let mut one = query.separated("");
                bind_cell(&mut one, *cell);
            }
            query.build().execute(&mut *conn).await?;
        }
        let columns = 1 + table.key.len() + table.values.len();
        let head = format!(
            "INSERT INTO {} (tenant, {}) ",
            table.name,
            table
                .key
                .iter()
                .chain(table.values)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
        for chunk in c.inserted.chunks((MAX_BINDS / columns).max(1)) {
            let mut query = QueryBuilder::<Db>::new(head.as_str());
            query.push_values(chunk, |mut row, (key, values)| {
                row.push_bind(id);
                for cell in key.iter().chain(values) {
                    bind_cell(&mut row, *cell);
                }
            });
            query.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Deletes every row of a tenant; whether it existed. Deleting its `tenants` row is enough:
/// every table of a tenant's rows references it `ON DELETE CASCADE` (migrations
/// `0001_store.sql`; SQLite connections enforce foreign keys).
async fn delete_rows(conn: &mut Conn, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Logs a change at `revision`, with exactly what it did (the audit trail's "what"), and for a
/// change to an existing tenant its splice and base ([`Splice`]: what other daemons patch
/// their tables with).
#[allow(clippy::too_many_arguments, reason = "one row's columns")]
async fn record(
    conn: &mut Conn,
    revision: u64,
    tenant: &str,
    kind: &str,
    actor: &str,
    before: Option<&Tenant>,
    after: Option<&Tenant>,
    delta: Option<(u64, &Splice)>,
) -> Result<(), sqlx::Error> {
    let detail = crate::store::diff::tenant_diff(before, after).to_string();
    record_detail(conn, revision, tenant, kind, actor, &detail, delta).await
}

/// Logs a change at `revision` whose diff is `detail` (and splice and base, if given).
async fn record_detail(
    conn: &mut Conn,
    revision: u64,
    tenant: &str,
    kind: &str,
    actor: &str,
    detail: &str,
    delta: Option<(u64, &Splice)>,
) -> Result<(), sqlx::Error> {
    let splice = match delta {
        Some((_, s)) => {
            Some(serde_json::to_string(s).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO changes (revision, tenant, kind, actor, detail, base, splice) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(to_db(revision))
    .bind(tenant)
    .bind(kind)
    .bind(actor)
    .bind(detail)
    .bind(delta.map(|(base, _)| to_db(base)))
    .bind(splice)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The splice change `revision` logged, and its base, if it logged one (and it reads back).
async fn logged_splice(conn: &mut Conn, revision: u64) -> Result<Option<Delta>, sqlx::Error> {
    let row: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT base, splice FROM changes WHERE revision = $1")
            .bind(to_db(revision))
            .fetch_optional(&mut *conn)
            .await?;
    let Some((Some(base), Some(json))) = row else {
        return Ok(None);
    };
    // A splice that does not read back (written by another version) is only a missed
    // shortcut: the tenant is then read whole.
    Ok(serde_json::from_str::<Splice>(&json)
        .ok()
        .map(|splice| Delta {
            base: from_db(base),
            splice: Arc::new(splice),
        }))
}

/// Which of `tenant`'s numbers (by index) that the write adds (`before` did not have them)
/// some tenant's rows already hold: run after the rows every write drops are deleted, so
/// whoever holds one is another tenant that keeps it.
async fn numbers_taken(
    conn: &mut Conn,
    before: Option<&Tenant>,
    tenant: &Tenant,
) -> Result<Vec<usize>, sqlx::Error> {
    let had: std::collections::HashSet<&str> = before
        .iter()
        .flat_map(|b| b.numbers.iter().map(|n| n.number.as_str()))
        .collect();
    let added: Vec<&str> = tenant
        .numbers
        .iter()
        .map(|n| n.number.as_str())
        .filter(|n| !had.contains(n))
        .collect();
    let mut taken = std::collections::HashSet::new();
    for chunk in added.chunks(MAX_BINDS) {
        let mut query = QueryBuilder::<Db>::new("SELECT number FROM numbers WHERE number IN (");
        let mut list = query.separated(", ");
        for n in chunk {
            list.push_bind(*n);
        }
        query.push(")");
        let rows: Vec<(String,)> = query.build_query_as().fetch_all(&mut *conn).await?;
        taken.extend(rows.into_iter().map(|(n,)| n));
    }
    Ok(tenant
        .numbers
        .iter()
        .enumerate()
        .filter(|(_, n)| taken.contains(&n.number))
        .map(|(i, _)| i)
        .collect())
}

/// Refuses (with every problem) numbers `tenant` adds that another tenant holds; `path` is
/// the tenant's path (`tenants[2]`), or empty for a single tenant.
async fn check_numbers(
    conn: &mut Conn,
    before: Option<&Tenant>,
    tenant: &Tenant,
    path: &str,
    problems: &mut Vec<callgate::Problem>,
) -> Result<(), sqlx::Error> {
    for i in numbers_taken(conn, before, tenant).await? {
        if let Some(n) = tenant.numbers.get(i) {
            let dot = if path.is_empty() { "" } else { "." };
            problems.push(callgate::Problem {
                path: format!("{path}{dot}numbers[{i}].number"),
                message: format!("`{}` belongs to another tenant", n.number),
            });
        }
    }
    Ok(())
}

fn refused(problems: Vec<callgate::Problem>) -> StoreError {
    StoreError::Invalid(callgate::DirectoryError::Invalid(problems))
}

/// A tenant id being created: if an earlier tenant of that id was deleted, its change log
/// and audit rows are moved out of the new tenant's way, under `ID~R` (R: the revision that
/// deleted it; not a valid tenant id, so no tenant can ever read them as its own), and the
/// move is noted in `tenant_incarnations`.
async fn archive_past(conn: &mut Conn, id: &str, revision: u64) -> Result<(), sqlx::Error> {
    let (ended,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(revision) FROM changes WHERE tenant = $1 AND kind = 'delete'")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    let Some(ended) = ended else { return Ok(()) };
    let archived = format!("{id}~{ended}");
    for table in ["changes", "audit"] {
        sqlx::query(&format!("UPDATE {table} SET tenant = $1 WHERE tenant = $2"))
            .bind(&archived)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO tenant_incarnations (tenant, ended_revision, archived_as, archived_revision) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(ended)
    .bind(&archived)
    .bind(to_db(revision))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets the revision a write transaction ends at, and announces it (on commit).
async fn finish(conn: &mut Conn, revision: u64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE meta SET revision = $1 WHERE id = 1")
        .bind(to_db(revision))
        .execute(&mut *conn)
        .await?;
    announce(conn, revision).await
}

pub(in crate::store) async fn revision(pool: &Pool<Db>) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await.map_err(db)?;
    head(&mut conn).await.map_err(db)
}

pub(in crate::store) async fn is_empty(pool: &Pool<Db>) -> Result<bool, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM (SELECT 1 FROM tenants LIMIT 1) AS t")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok(n == 0)
}

pub(in crate::store) async fn load_all(pool: &Pool<Db>) -> Result<(Vec<Tenant>, u64), StoreError> {
    let (tenants, revision, _) = load_labelled(pool).await?;
    Ok((tenants, revision))
}

/// Every tenant, the revision they are at, and each tenant's latest change, read in one
/// snapshot.
pub(in crate::store) async fn load_labelled(
    pool: &Pool<Db>,
) -> Result<(Vec<Tenant>, u64, Labels), StoreError> {
    let mut tx = begin_read(pool).await.map_err(db)?;
    let revision = head(&mut tx).await.map_err(db)?;
    let labels = last_changes(&mut tx).await.map_err(db)?;
    let rows = load_all_rows(pool, &mut tx).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok((assemble(rows).await.map_err(db)?, revision, labels))
}

/// Each tenant's latest change.
async fn last_changes(conn: &mut Conn) -> Result<Labels, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT tenant, MAX(revision) FROM changes GROUP BY tenant")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(t, r)| (t, from_db(r))).collect())
}

pub(in crate::store) async fn load_tenant(
    pool: &Pool<Db>,
    id: &str,
) -> Result<Option<Tenant>, StoreError> {
    let mut tx = begin_read(pool).await.map_err(db)?;
    let tenant = load_one(&mut tx, id).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(tenant)
}

/// `tenants` must be in stored form ([`rows::storable`] of validated tenants), and give no
/// number to two of them.
///
/// Each tenant that changes is written as the row changes from what is stored ([`changes`]);
/// the rows every tenant drops are deleted before any is written, so a number moving from one
/// tenant of the file to another is free when it is written; a number that a tenant outside
/// the file holds refuses the whole import.
pub(in crate::store) async fn import(
    pool: &Pool<Db>,
    tenants: &[Tenant],
    actor: &str,
    recent: &Recent,
) -> Result<ImportOutcome, StoreError> {
    let (mut tx, base) = begin_write(pool).await.map_err(db)?;
    let mut outcome = ImportOutcome {
        revision: base,
        ..ImportOutcome::default()
    };
    // Each changed tenant: its index in the file, what is stored, and the change's diff.
    let mut writes: Vec<(usize, &Tenant, Option<Arc<Tenant>>, String)> = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let (stored, _) = load_recent(&mut tx, &t.id, recent).await.map_err(db)?;
        if stored.as_deref() == Some(t) {
            outcome.unchanged.push(t.id.clone());
            continue;
        }
        let detail = crate::store::diff::tenant_diff(stored.as_deref(), Some(t)).to_string();
        writes.push((i, t, stored, detail));
    }
    // Each tenant's row changes are worked out twice (for its deletes, then for its writes)
    // rather than held for every tenant at once: a file of a million users stays one
    // tenant's rows in memory.
    for (_, t, stored, _) in &writes {
        delete_changed(&mut tx, &t.id, &changes(stored.as_deref(), t))
            .await
            .map_err(db)?;
    }
    let mut problems = Vec::new();
    for (i, t, stored, _) in &writes {
        check_numbers(
            &mut tx,
            stored.as_deref(),
            t,
            &format!("tenants[{i}]"),
            &mut problems,
        )
        .await
        .map_err(db)?;
    }
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    for (_, t, stored, detail) in &writes {
        outcome.revision += 1;
        if stored.is_none() {
            archive_past(&mut tx, &t.id, outcome.revision)
                .await
                .map_err(db)?;
        }
        write_tenant_row(&mut tx, stored.as_deref(), t)
            .await
            .map_err(db)?;
        write_changed(&mut tx, &t.id, &changes(stored.as_deref(), t))
            .await
            .map_err(db)?;
        record_detail(&mut tx, outcome.revision, &t.id, "put", actor, detail, None)
            .await
            .map_err(db)?;
        outcome.changed.push(t.id.clone());
    }
    if outcome.revision > base {
        finish(&mut tx, outcome.revision).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        for (revision, (_, t, _, _)) in (base + 1..).zip(&writes) {
            recent.put(&t.id, revision, Arc::new((*t).clone()), None);
        }
    }
    Ok(outcome)
}

/// `prepare` turns the edited tenant into its stored form, or refuses it. Only the rows
/// the edit changes are written.
pub(in crate::store) async fn update_tenant<F>(
    pool: &Pool<Db>,
    id: &str,
    create: bool,
    actor: &str,
    edit: F,
    prepare: fn(&str, Tenant) -> Result<Tenant, StoreError>,
    recent: &Recent,
) -> Result<Option<u64>, StoreError>
where
    F: FnOnce(&mut Tenant) -> Result<(), StoreError> + Send,
{
    let (mut tx, base) = begin_write(pool).await.map_err(db)?;
    let (stored, last) = load_recent(&mut tx, id, recent).await.map_err(db)?;
    let mut tenant = match &stored {
        Some(t) => Tenant::clone(t),
        None if create => Tenant {
            id: id.to_string(),
            ..Tenant::default()
        },
        None => return Err(StoreError::NotFound(format!("tenant `{id}`"))),
    };
    edit(&mut tenant)?;
    let tenant = prepare(id, tenant)?;
    if stored.as_deref() == Some(&tenant) {
        return Ok(None);
    }
    let rows = changes(stored.as_deref(), &tenant);
    delete_changed(&mut tx, id, &rows).await.map_err(db)?;
    let mut problems = Vec::new();
    check_numbers(&mut tx, stored.as_deref(), &tenant, "", &mut problems)
        .await
        .map_err(db)?;
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let revision = base + 1;
    if stored.is_none() {
        archive_past(&mut tx, id, revision).await.map_err(db)?;
    }
    write_tenant_row(&mut tx, stored.as_deref(), &tenant)
        .await
        .map_err(db)?;
    write_changed(&mut tx, id, &rows).await.map_err(db)?;
    // What changed, for followers to patch their compiled tenant with (a new tenant is
    // compiled whole).
    let delta = stored
        .as_deref()
        .zip(last)
        .map(|(s, base)| (base, Splice::between(s, &tenant)));
    let logged = delta.as_ref().map(|(base, splice)| (*base, splice));
    record(
        &mut tx,
        revision,
        id,
        "put",
        actor,
        stored.as_deref(),
        Some(&tenant),
        logged,
    )
    .await
    .map_err(db)?;
    finish(&mut tx, revision).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    drop(rows);
    recent.put(id, revision, Arc::new(tenant), delta);
    Ok(Some(revision))
}

/// A delete of one entity, or a put of one user, applied to the stored tenant in place: the
/// copy this process kept of its latest write is changed without being copied (if nothing
/// else holds it), only what the edit can make invalid is checked
/// ([`Edit::keeps_valid`], [`callgate::directory::put_user`]), and the rows, the change
/// log's diff and the splice come from the edit's neighbourhood, not the whole tenant.
pub(in crate::store) async fn edit_entity(
    pool: &Pool<Db>,
    id: &str,
    actor: &str,
    edit: &Edit,
    recent: &Recent,
) -> Result<Option<u64>, StoreError> {
    let (mut tx, base) = begin_write(pool).await.map_err(db)?;
    let last = last_change(&mut tx, id).await.map_err(db)?;
    // Taken out of `recent` (so this is the only reference, and it changes in place), or read.
    let mut kept = last.and_then(|r| recent.take(id, r));
    let mut tenant = match kept.as_mut() {
        Some(k) => std::mem::take(&mut k.tenant),
        None => match load_one(&mut tx, id).await.map_err(db)? {
            Some(t) => Arc::new(t),
            None => return Err(StoreError::NotFound(format!("tenant `{id}`"))),
        },
    };
    let before = edit.neighbourhood(&tenant);
    // Applied to the tenant only once it is known to apply: a refusal leaves it as kept.
    let applied = match edit {
        Edit::Put(Entity::User(u)) => {
            callgate::directory::put_user(Arc::make_mut(&mut tenant), u.clone(), &Limits::default())
                .map_err(StoreError::Invalid)
        }
        _ => {
            let mut after = before.clone();
            if edit.apply(&mut after) {
                edit.apply(Arc::make_mut(&mut tenant));
                Ok(())
            } else {
                Err(StoreError::NotFound(format!(
                    "{} `{}`",
                    edit.kind().what(),
                    edit.key()
                )))
            }
        }
    };
    if let Err(e) = applied {
        if let Some(mut k) = kept {
            k.tenant = tenant;
            recent.put_back(k);
        }
        return Err(e);
    }
    let (users, listed) = match edit {
        Edit::Put(Entity::User(u)) => {
            let listed = tenant
                .users
                .iter()
                .find(|x| x.id == u.id)
                .map(|x| x.extensions.clone());
            (vec![u.id.clone()], listed.unwrap_or_default())
        }
        _ => (Vec::new(), Vec::new()),
    };
    let after = part_after(&tenant, &before, &users, &listed);
    if before == after {
        // Nothing to write: kept as it was, with what its own write changed.
        if let Some(mut k) = kept {
            k.tenant = tenant;
            recent.put_back(k);
        }
        return Ok(None);
    }
    drop(kept);
    let rows = changes(Some(&before), &after);
    delete_changed(&mut tx, id, &rows).await.map_err(db)?;
    let revision = base + 1;
    write_tenant_row(&mut tx, Some(&before), &after)
        .await
        .map_err(db)?;
    write_changed(&mut tx, id, &rows).await.map_err(db)?;
    let delta = last.map(|base| (base, Splice::between(&before, &after)));
    let logged = delta.as_ref().map(|(base, splice)| (*base, splice));
    record(
        &mut tx,
        revision,
        id,
        "put",
        actor,
        Some(&before),
        Some(&after),
        logged,
    )
    .await
    .map_err(db)?;
    finish(&mut tx, revision).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    drop(rows);
    recent.put(id, revision, tenant, delta);
    Ok(Some(revision))
}

pub(in crate::store) async fn delete_tenant(
    pool: &Pool<Db>,
    id: &str,
    actor: &str,
    recent: &Recent,
) -> Result<Option<u64>, StoreError> {
    recent.forget(id);
    let (mut tx, base) = begin_write(pool).await.map_err(db)?;
    let stored = load_one(&mut tx, id).await.map_err(db)?;
    if !delete_rows(&mut tx, id).await.map_err(db)? {
        return Ok(None);
    }
    let revision = base + 1;
    record(
        &mut tx,
        revision,
        id,
        "delete",
        actor,
        stored.as_ref(),
        None,
        None,
    )
    .await
    .map_err(db)?;
    finish(&mut tx, revision).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(Some(revision))
}

pub(in crate::store) async fn export(
    pool: &Pool<Db>,
    tenant: Option<&str>,
) -> Result<Vec<Tenant>, StoreError> {
    let mut tx = begin_read(pool).await.map_err(db)?;
    let rows = load_rows(&mut tx, tenant).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    assemble(rows).await.map_err(db)
}

pub(in crate::store) async fn changes_since(
    pool: &Pool<Db>,
    revision: u64,
) -> Result<Vec<Change>, StoreError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT revision, tenant, kind, actor FROM changes WHERE revision > $1 ORDER BY revision",
    )
    .bind(to_db(revision))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(revision, tenant, kind, actor)| Change {
            revision: from_db(revision),
            tenant,
            kind,
            actor,
        })
        .collect())
}

/// What changed after `from`, read in one snapshot.
/// A tenant this process wrote last is taken from `recent` when it is at its latest change.
///
/// A tenant changed once since, by a change that logged a splice [`crate::store::patchable`] into
/// the table, is not read at all.
pub(in crate::store) async fn catch_up(
    pool: &Pool<Db>,
    table: &Table,
    recent: &Recent,
) -> Result<CatchUp, StoreError> {
    let from = table.revision();
    let mut tx = begin_read(pool).await.map_err(db)?;
    let revision = head(&mut tx).await.map_err(db)?;
    if revision == from {
        return Ok(CatchUp::Current);
    }
    if from == 0 || revision < from {
        let labels = last_changes(&mut tx).await.map_err(db)?;
        let rows = load_rows(&mut tx, None).await.map_err(db)?;
        return Ok(CatchUp::All {
            revision,
            tenants: assemble(rows).await.map_err(db)?,
            labels,
        });
    }
    // Each tenant changed, with its first and last change after `from`, in first-change order.
    let touched: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT tenant, MIN(revision), MAX(revision) FROM changes WHERE revision > $1 AND revision <= $2 \
         GROUP BY tenant ORDER BY MIN(revision)",
    )
    .bind(to_db(from))
    .bind(to_db(revision))
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let mut tenants = Vec::with_capacity(touched.len());
    if touched.len() > CATCH_UP_ALL {
        let rows = load_rows(&mut tx, None).await.map_err(db)?;
        let mut all: std::collections::HashMap<String, Tenant> = assemble(rows)
            .await
            .map_err(db)?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        for (id, first, _) in touched {
            let now = all
                .remove(&id)
                .map_or(Now::Deleted, |t| Now::Stored(Arc::new(t)));
            tenants.push(Changed {
                id,
                first: from_db(first),
                now,
                splice: None,
            });
        }
    } else {
        for (id, first, last) in touched {
            let (first, last) = (from_db(first), from_db(last));
            // One change since, made here: the tenant and what changed are both at hand.
            if let Some((kept, delta)) = recent.get_with_delta(&id, last) {
                let splice = delta.filter(|_| first == last);
                tenants.push(Changed {
                    id,
                    first,
                    now: Now::Stored(kept),
                    splice,
                });
                continue;
            }
            // One change since, made elsewhere, that patches the table: only its splice.
            let logged = if first == last {
                logged_splice(&mut tx, last).await.map_err(db)?
            } else {
                None
            };
            if let Some(delta) = &logged
                && crate::store::patchable(table, &id, delta.base, &delta.splice)
            {
                tenants.push(Changed {
                    id,
                    first,
                    now: Now::Spliced,
                    splice: logged,
                });
                continue;
            }
            // Read whole (the splice does not patch, or the tenant has carried enough of them):
            // the splice still says what changed, for the feed.
            let now = load_one(&mut tx, &id)
                .await
                .map_err(db)?
                .map_or(Now::Deleted, |t| Now::Stored(Arc::new(t)));
            tenants.push(Changed {
                id,
                first,
                now,
                splice: logged,
            });
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(CatchUp::Changes { revision, tenants })
}

pub(in crate::store) async fn put_token(
    pool: &Pool<Db>,
    name: &str,
    hash: &str,
    tenant: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tokens (name, secret_sha256, tenant) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET secret_sha256 = excluded.secret_sha256, tenant = excluded.tenant",
    )
    .bind(name)
    .bind(hash)
    .bind(tenant)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(in crate::store) async fn find_token(
    pool: &Pool<Db>,
    hash: &str,
) -> Result<Option<TokenInfo>, StoreError> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, tenant FROM tokens WHERE secret_sha256 = $1")
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(db)?;
    Ok(row.map(|(name, tenant)| TokenInfo { name, tenant }))
}

pub(in crate::store) async fn remove_token(
    pool: &Pool<Db>,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM tokens WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

pub(in crate::store) async fn tokens(pool: &Pool<Db>) -> Result<Vec<TokenInfo>, StoreError> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, tenant FROM tokens ORDER BY name")
            .fetch_all(pool)
            .await
            .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(name, tenant)| TokenInfo { name, tenant })
        .collect())
}
