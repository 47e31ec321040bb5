//! The audit trail in the store: decision records appended in batches, admin changes read
//! from the change log (written in the same transaction as each change), retention.

use serde::Serialize;
use sqlx::Row;

use super::{Backend, Store, StoreError, logged};
use crate::audit::AuditRecord;

/// What to read from the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// The tenant (required: nothing crosses tenants).
    pub tenant: String,
    /// From this time (ms since the epoch), inclusive.
    pub since_ms: Option<i64>,
    /// Until this time, exclusive.
    pub until_ms: Option<i64>,
    /// Only this principal (user, actor, token name).
    pub principal: Option<String>,
    /// Only this kind: `decision` or `change`.
    pub kind: Option<String>,
    /// Only this decision: `allow`, `substitute`, `deny`.
    pub decision: Option<String>,
    /// Only rows after this cursor (a previous page's `next`).
    pub after: Option<String>,
    /// At most this many rows (capped at 1000).
    pub limit: u32,
}

/// One row of the trail, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Where this row is: pass it as `after` for the next page.
    pub cursor: String,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Both tables, as one: decision records, and the change log as `change` records (`AT_MS`
/// is the backend's expression for a change's time in ms). The tenant is bound right after.
const SELECT: &str = "SELECT * FROM (\
     SELECT 0 AS part, id AS seq, at_ms, tenant, kind, action, principal, decision, reason, \
            revision, source, detail FROM audit \
     UNION ALL \
     SELECT 1, revision, AT_MS, tenant, 'change', kind, actor, '', '', revision, actor, \
            COALESCE(detail, '{}') FROM changes\
   ) AS trail WHERE tenant = ";

macro_rules! backend_fns {
    ($module:ident, $pool:ty, $at_ms:literal) => {
        mod $module {
            use super::*;

            pub(super) async fn append(pool: &$pool, records: &[AuditRecord]) -> Result<(), sqlx::Error> {
                let mut tx = pool.begin().await?;
                for chunk in records.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO audit (at_ms, tenant, kind, action, principal, decision, reason, revision, source, detail) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.at_ms)
                            .push_bind(&r.tenant)
                            .push_bind(&r.kind)
                            .push_bind(&r.action)
                            .push_bind(&r.principal)
                            .push_bind(&r.decision)
                            .push_bind(&r.reason)
                            .push_bind(r.revision)
                            .push_bind(&r.source)
                            .push_bind(r.detail.to_string());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await
            }

            pub(super) async fn query(pool: &$pool, q: &AuditQuery) -> Result<Vec<AuditRow>, sqlx::Error> {
                let mut b = sqlx::QueryBuilder::new(SELECT.replace("AT_MS", $at_ms));
                b.push_bind(&q.tenant);
                if let Some(t) = q.since_ms {
                    b.push(" AND at_ms >= ").push_bind(t);
                }
                if let Some(t) = q.until_ms {
                    b.push(" AND at_ms < ").push_bind(t);
                }
                if let Some(p) = &q.principal {
                    b.push(" AND principal = ").push_bind(p);
                }
                if let Some(k) = &q.kind {
                    b.push(" AND kind = ").push_bind(k);
                }
                if let Some(d) = &q.decision {
                    b.push(" AND decision = ").push_bind(d);
                }
                if let Some((at, part, seq)) = q.after.as_deref().and_then(parse_cursor) {
                    b.push(" AND (at_ms, part, seq) > (").push_bind(at).push(", ").push_bind(part).push(", ").push_bind(seq).push(")");
                }
                b.push(" ORDER BY at_ms, part, seq LIMIT ").push_bind(i64::from(q.limit.clamp(1, 1000)));
                let rows = b.build().fetch_all(pool).await?;
                rows.iter()
                    .map(|row| {
                        let detail: String = row.try_get("detail")?;
                        let at_ms: i64 = row.try_get("at_ms")?;
                        let part: i64 = row.try_get::<i64, _>("part").or_else(|_| row.try_get::<i32, _>("part").map(i64::from))?;
                        let seq: i64 = row.try_get("seq")?;
                        Ok(AuditRow {
                            cursor: format!("{at_ms}.{part}.{seq}"),
                            record: AuditRecord {
                                at_ms,
                                tenant: row.try_get("tenant")?,
                                kind: row.try_get("kind")?,
                                action: row.try_get("action")?,
                                principal: row.try_get("principal")?,
                                decision: row.try_get("decision")?,
                                reason: row.try_get("reason")?,
                                revision: row.try_get("revision")?,
                                source: row.try_get("source")?,
                                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                            },
                        })
                    })
                    .collect()
            }

            pub(super) async fn purge(pool: &$pool, before_ms: i64) -> Result<u64, sqlx::Error> {
                let done = sqlx::query("DELETE FROM audit WHERE at_ms < $1 AND kind <> 'retention'")
                    .bind(before_ms)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

backend_fns!(
    sqlite_audit,
    sqlx::SqlitePool,
    "CAST(ROUND((julianday(at) - 2440587.5) * 86400000) AS INTEGER)"
);
backend_fns!(
    postgres_audit,
    sqlx::PgPool,
    "CAST(EXTRACT(EPOCH FROM at) * 1000 AS BIGINT)"
);

/// `AT.PART.SEQ` → its parts.
fn parse_cursor(cursor: &str) -> Option<(i64, i64, i64)> {
    let mut parts = cursor.split('.').map(str::parse::<i64>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(p)), Some(Ok(s)), None) => Some((a, p, s)),
        _ => None,
    }
}

impl Store {
    /// Appends decision records, all or none.
    pub async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let done = match &self.backend {
            Backend::Sqlite(pool) => sqlite_audit::append(pool, records).await,
            Backend::Postgres(pool) => postgres_audit::append(pool, records).await,
        };
        logged("append_audit", done.map_err(StoreError::Database))
    }

    /// Reads one tenant's trail, oldest first, a page at a time.
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlite_audit::query(pool, query).await,
            Backend::Postgres(pool) => postgres_audit::query(pool, query).await,
        };
        logged("query_audit", rows.map_err(StoreError::Database))
    }

    /// Deletes decision records older than `before_ms` and records that it did; how many.
    /// The change log is the directory's history and is kept.
    pub async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        let purged = match &self.backend {
            Backend::Sqlite(pool) => sqlite_audit::purge(pool, before_ms).await,
            Backend::Postgres(pool) => postgres_audit::purge(pool, before_ms).await,
        };
        let purged = logged("purge_audit", purged.map_err(StoreError::Database))?;
        let record = AuditRecord {
            at_ms: crate::audit::now_ms(),
            tenant: String::new(),
            kind: "retention".into(),
            action: "purge".into(),
            principal: "callgate".into(),
            decision: String::new(),
            reason: "audit_retention".into(),
            revision: 0,
            source: "daemon".into(),
            detail: serde_json::json!({ "before_ms": before_ms, "purged": purged }),
        };
        self.append_audit(&[record]).await?;
        Ok(purged)
    }
}

impl crate::audit::AuditSink for Store {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), String> {
        self.append_audit(records).await.map_err(|e| e.to_string())
    }
}
