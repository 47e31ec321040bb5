//! The audit trail of call-time decisions: every denial (and a configurable sample of
//! allows) goes through a bounded queue to a batched writer, so a check never waits on the
//! audit path. A SIP or HTTP check queues a [`CompactRecord`] (its inputs copied into one
//! fixed-size value, every field at most 64 bytes) rather than a record of owned strings: the
//! writer's thread builds the record, and no memory the checking thread allocated is freed by
//! another thread. Every other decision record is cut to the same bounds before it is written.
//!
//! What the queue can't take is counted — in metrics, and in the trail itself
//! as an `audit_dropped` record once the writer catches up — never lost silently.
//!
//! Admin changes are audited by the store, in the same transaction as the change.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callgate_wire::compact::{CompactRecord, FIELD};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Audit records dropped because the queue was full.
pub const AUDIT_DROPPED: &str = "callgate_audit_dropped_total";
/// Audit records written.
pub const AUDIT_WRITTEN: &str = "callgate_audit_written_total";

/// One audited event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The tenant it concerns (as asked; may be unknown).
    pub tenant: String,
    /// `decision`, `change`, `retention` or `audit_dropped`.
    pub kind: String,
    /// The decision kind (`caller_id`, `agent_pause`, …) or the change's operation.
    pub action: String,
    /// Who asked or acted: the user or actor, or the admin token's name.
    pub principal: String,
    /// `allow`, `substitute`, `deny` (decisions); empty otherwise.
    pub decision: String,
    /// The reason code.
    pub reason: String,
    /// The revision it was decided at or produced.
    pub revision: i64,
    /// Where it came from: `sip:ADDR`, `http`, `plugin:NAME`, `import`, a token name.
    pub source: String,
    /// The inputs (decisions) or the change (before/after), as JSON.
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// A decision record stamped now.
    #[expect(
        clippy::too_many_arguments,
        reason = "one field each, named at every call site"
    )]
    pub fn decision(
        tenant: &str,
        action: &str,
        principal: &str,
        decision: &str,
        reason: &str,
        revision: u64,
        source: String,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at_ms: now_ms(),
            tenant: tenant.to_string(),
            kind: "decision".into(),
            action: action.to_string(),
            principal: principal.to_string(),
            decision: decision.to_string(),
            reason: reason.to_string(),
            revision: i64::try_from(revision).unwrap_or(i64::MAX),
            source,
            detail,
        }
    }
}

impl AuditRecord {
    /// A record that `dropped` records from `source` could not be kept (a full queue),
    /// stamped now.
    pub fn dropped(dropped: u64, source: &str) -> AuditRecord {
        AuditRecord {
            at_ms: now_ms(),
            tenant: String::new(),
            kind: "audit_dropped".into(),
            action: "overflow".into(),
            principal: "callgate".into(),
            decision: String::new(),
            reason: "audit_queue_full".into(),
            revision: 0,
            source: source.to_string(),
            detail: serde_json::json!({ "dropped": dropped }),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where audit batches are written (the store).
pub trait AuditSink: Send + Sync + 'static {
    /// Appends a batch; all or nothing.
    fn append(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), String>> + Send;
}

/// One entry of the queue: a record, or what the writer makes one from.
pub struct Queued(Entry);

/// The compact variants are not boxed: a box would be allocated by the checking thread and
/// freed by the writer's, what they are here to avoid.
enum Entry {
    Ready(AuditRecord),
    /// A decision over SIP from this peer.
    Sip(CompactRecord, SocketAddr),
    /// A decision over HTTP.
    Http(CompactRecord),
}

impl Queued {
    /// The record (built now, if it was queued compact).
    pub fn into_record(self) -> AuditRecord {
        match self.0 {
            Entry::Ready(r) => r.bounded(),
            Entry::Sip(c, peer) => compact(&c, format!("sip:{peer}")),
            Entry::Http(c) => compact(&c, "http".into()),
        }
    }
}

/// The record a compact one stands for.
fn compact(c: &CompactRecord, source: String) -> AuditRecord {
    AuditRecord {
        at_ms: c.at_ms,
        tenant: c.tenant(),
        kind: "decision".into(),
        action: c.action.into(),
        principal: c.principal(),
        decision: c.decision.into(),
        reason: c.reason.code().into(),
        revision: i64::try_from(c.revision).unwrap_or(i64::MAX),
        source,
        detail: serde_json::Value::Object(
            c.inputs()
                .map(|(name, value)| (name.to_string(), serde_json::Value::from(value)))
                .collect(),
        ),
    }
}

/// Fields a decision record's detail keeps at most.
const DETAIL_FIELDS: usize = 8;

/// `s` cut to [`FIELD`] bytes at a character boundary, ending in `…` if it was cut.
fn cut(s: &mut String) {
    if s.len() <= FIELD {
        return;
    }
    let mut at = FIELD;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push('…');
}

impl AuditRecord {
    /// The record with a decision's text bounded as SIP, HTTP and plugin records are: every
    /// kept field at most 64 bytes (a cut one ends in `…`), at most eight detail fields, each
    /// a string or a scalar. Records of other kinds are written as they are.
    pub fn bounded(mut self) -> AuditRecord {
        if self.kind != "decision" {
            return self;
        }
        for field in [
            &mut self.tenant,
            &mut self.action,
            &mut self.principal,
            &mut self.decision,
            &mut self.reason,
            &mut self.source,
        ] {
            cut(field);
        }
        let detail = match std::mem::take(&mut self.detail) {
            serde_json::Value::Object(map) => map
                .into_iter()
                .take(DETAIL_FIELDS)
                .map(|(mut name, value)| {
                    cut(&mut name);
                    let mut text = match value {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    cut(&mut text);
                    (name, serde_json::Value::String(text))
                })
                .collect(),
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                let mut text = other.to_string();
                cut(&mut text);
                std::iter::once(("detail".to_string(), serde_json::Value::String(text))).collect()
            }
        };
        self.detail = serde_json::Value::Object(detail);
        self
    }
}

/// The check side of the audit trail: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Queued>,
    dropped: Arc<AtomicU64>,
    /// One allow in `allow_every` is recorded (0 = none, 1 = all).
    allow_every: u64,
    allows_seen: Arc<AtomicU64>,
}

impl Auditor {
    /// An auditor with a queue of `capacity` records, and the receiving end for the writer.
    pub fn new(capacity: usize, allow_every: u64) -> (Auditor, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let auditor = Auditor {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            allow_every,
            allows_seen: Arc::new(AtomicU64::new(0)),
        };
        (auditor, rx)
    }

    /// Whether a decision with this outcome is to be recorded (every denial; allows sampled).
    pub fn wants(&self, decision: &str) -> bool {
        if decision == "deny" {
            return true;
        }
        match self.allow_every {
            0 => false,
            1 => true,
            n => self
                .allows_seen
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(n),
        }
    }

    /// Queues a record; if the queue is full the record is counted as dropped.
    pub fn record(&self, record: AuditRecord) {
        self.queue(Queued(Entry::Ready(record)));
    }

    /// Queues the decision `record` makes, asked over SIP by `peer`; if the queue is full it
    /// is counted as dropped (and `record` never called).
    pub fn record_sip(&self, peer: SocketAddr, record: impl FnOnce() -> CompactRecord) {
        if self.tx.capacity() == 0 {
            self.count_dropped();
            return;
        }
        self.queue(Queued(Entry::Sip(record(), peer)));
    }

    /// Queues the decision `record` makes, asked over HTTP; if the queue is full it is
    /// counted as dropped (and `record` never called).
    pub fn record_http(&self, record: impl FnOnce() -> CompactRecord) {
        if self.tx.capacity() == 0 {
            self.count_dropped();
            return;
        }
        self.queue(Queued(Entry::Http(record())));
    }

    fn queue(&self, entry: Queued) {
        if self.tx.try_send(entry).is_err() {
            self.count_dropped();
        }
    }

    fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(AUDIT_DROPPED).increment(1);
    }

    /// Records waiting in the queue for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Records dropped so far and not yet reported in the trail.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// Writes queued records in batches (up to `batch` records: what arrives within 5 ms of the
/// first, or a full batch at once) until the queue closes or `shutdown` resolves, then
/// drains what is left. A failed write is retried with backoff; records wait in the queue
/// meanwhile (and overflow is counted).
pub async fn run_writer<S: AuditSink>(
    sink: S,
    auditor: Auditor,
    mut rx: mpsc::Receiver<Queued>,
    batch: usize,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let mut queued: Vec<Queued> = Vec::with_capacity(batch);
    let mut pending: Vec<AuditRecord> = Vec::with_capacity(batch);
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                _ = &mut shutdown => stopping = true,
                n = rx.recv_many(&mut queued, batch) => {
                    if n == 0 {
                        stopping = true;
                    } else if n < batch {
                        // Let a burst fill the batch a little before writing (a full batch
                        // goes at once: a flood is written as fast as the store takes it).
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        while queued.len() < batch {
                            match rx.try_recv() {
                                Ok(q) => queued.push(q),
                                Err(_) => break,
                            }
                        }
                    }
                }
            }
        }
        if stopping {
            while let Ok(q) = rx.try_recv() {
                queued.push(q);
            }
        }
        pending.extend(queued.drain(..).map(Queued::into_record));
        let dropped = auditor.take_dropped();
        if dropped > 0 {
            pending.push(AuditRecord::dropped(dropped, "daemon"));
        }
        if !pending.is_empty() {
            write_with_retry(&sink, &pending, stopping).await;
            pending.clear();
        }
        if stopping {
            return;
        }
    }
}

async fn write_with_retry<S: AuditSink>(sink: &S, records: &[AuditRecord], stopping: bool) {
    let mut delay = Duration::from_millis(50);
    for attempt in 0.. {
        match sink.append(records).await {
            Ok(()) => {
                metrics::counter!(AUDIT_WRITTEN).increment(records.len() as u64);
                return;
            }
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, records = records.len(), "audit write failed; retrying");
                }
                if stopping && attempt >= 3 {
                    tracing::error!(
                        records = records.len(),
                        "audit records lost at shutdown: the store is unreachable"
                    );
                    metrics::counter!(AUDIT_DROPPED).increment(records.len() as u64);
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// What a change did to a tenant, precisely: for each list of the directory format, the
/// items added (whole), removed (by key) and changed (before and after), and the tenant's own
/// fields that changed. `None` on a side means the tenant didn't exist (created / deleted).
///
/// The plain, quadratic statement of the diff, kept as the oracle the store's linear
/// `store::diff::tenant_diff` is tested against; the store never calls it.
#[cfg(test)]
pub fn tenant_diff(
    before: Option<&callgate::Tenant>,
    after: Option<&callgate::Tenant>,
) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let to_value = |t: Option<&callgate::Tenant>| {
        t.and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or(Value::Null)
    };
    let (b, a) = (to_value(before), to_value(after));
    let mut out = Map::new();
    out.insert(
        "operation".into(),
        Value::from(match (before, after) {
            (None, Some(_)) => "create",
            (Some(_), None) => "delete",
            _ => "update",
        }),
    );
    let keys: [(&str, &str); 7] = [
        ("sites", "id"),
        ("numbers", "number"),
        ("extensions", "ext"),
        ("queues", "id"),
        ("roles", "id"),
        ("feature_codes", "code"),
        ("users", "id"),
    ];
    let field = |v: &Value, name: &str| v.get(name).cloned().unwrap_or(Value::Null);
    for name in ["default_caller_id", "emergency_numbers"] {
        let (x, y) = (field(&b, name), field(&a, name));
        if x != y {
            out.insert(name.into(), json!({ "before": x, "after": y }));
        }
    }
    for (list, key) in keys {
        let items = |v: &Value| -> Vec<(String, Value)> {
            v.get(list)
                .and_then(Value::as_array)
                .map(|xs| {
                    xs.iter()
                        .map(|x| {
                            (
                                x.get(key)
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                                x.clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old, new) = (items(&b), items(&a));
        let find = |xs: &[(String, Value)], k: &str| {
            xs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
        };
        let added: Vec<Value> = new
            .iter()
            .filter(|(k, _)| find(&old, k).is_none())
            .map(|(_, v)| v.clone())
            .collect();
        let removed: Vec<&str> = old
            .iter()
            .filter(|(k, _)| find(&new, k).is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        let changed: Vec<Value> = new
            .iter()
            .filter_map(|(k, v)| {
                find(&old, k)
                    .filter(|o| o != v)
                    .map(|o| json!({ "key": k, "before": o, "after": v }))
            })
            .collect();
        if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            out.insert(
                list.into(),
                json!({ "added": added, "removed": removed, "changed": changed }),
            );
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_record_is_cut_to_64_bytes_a_field_whatever_queued_it() {
        let huge = "s".repeat(4 << 20);
        let mut detail = serde_json::Map::new();
        for i in 0..20 {
            detail.insert(format!("field{i}"), serde_json::json!(huge));
        }
        detail.insert("n".into(), serde_json::json!({"nested": [huge]}));
        let record = AuditRecord::decision(
            &huge,
            "permission",
            &"é".repeat(100),
            "deny",
            "out_of_scope",
            3,
            format!("plugin:{huge}"),
            serde_json::Value::Object(detail),
        );
        let r = Queued(Entry::Ready(record)).into_record();
        assert_eq!(r.tenant, format!("{}…", "s".repeat(64)));
        assert_eq!(r.principal, format!("{}…", "é".repeat(32)));
        assert!(r.source.starts_with("plugin:") && r.source.ends_with('…'));
        let fields = r.detail.as_object().unwrap();
        assert_eq!(fields.len(), 8);
        for value in fields.values() {
            assert!(value.as_str().unwrap().len() <= 64 + '…'.len_utf8());
        }
        // Other kinds are kept as they are.
        let dropped = AuditRecord::dropped(7, "daemon");
        assert_eq!(Queued(Entry::Ready(dropped.clone())).into_record(), dropped);
    }

    #[test]
    fn a_diff_names_exactly_what_changed() {
        let before = callgate::directory::parse(
            "tenants: [{id: t, users: [{id: a, role: basic_user}, {id: b, role: admin}]}]",
        )
        .unwrap()
        .remove(0);
        let after = callgate::directory::parse(
            "tenants: [{id: t, users: [{id: a, role: admin}, {id: c, role: admin}]}]",
        )
        .unwrap()
        .remove(0);
        let d = tenant_diff(Some(&before), Some(&after));
        assert_eq!(d["operation"], "update");
        assert_eq!(d["users"]["removed"], serde_json::json!(["b"]));
        assert_eq!(d["users"]["added"][0]["id"], "c");
        assert_eq!(d["users"]["changed"][0]["key"], "a");
        assert_eq!(d["users"]["changed"][0]["before"]["role"], "basic_user");
        assert!(d.get("sites").is_none());
        assert_eq!(tenant_diff(None, Some(&after))["operation"], "create");
    }
}
