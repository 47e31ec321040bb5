//! The audit trail, on SQLite and a real Postgres: admin changes and denials recorded with
//! who, what, when and the revision; kept after the people they mention are deleted; a flood
//! loses nothing up to the queue's size and counts the rest; retention.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use callgate_daemon::audit::{AuditRecord, AuditSink, Auditor, run_writer};
use callgate_daemon::config::Config;
use callgate_daemon::serve::Daemon;
use callgate_daemon::store::{AuditQuery, AuditRow, Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEMO: &str = include_str!("../../examples/demo.yaml");

async fn sqlite() -> (String, Option<TempDir>) {
    let dir = tempfile::tempdir().unwrap();
    (
        format!("sqlite://{}", dir.path().join("callgate.db").display()),
        Some(dir),
    )
}

/// A minimal HTTP/1.1 request over a fresh connection; the status and the JSON body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn wait_for(
    store: &Store,
    query: &AuditQuery,
    done: impl Fn(&[AuditRow]) -> bool,
) -> Vec<AuditRow> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = store.query_audit(query).await.unwrap();
        if done(&rows) || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn query(tenant: &str) -> AuditQuery {
    AuditQuery {
        tenant: tenant.into(),
        limit: 1000,
        ..AuditQuery::default()
    }
}

async fn changes_and_denials_are_recorded_and_outlive_the_user(url: String) {
    let store = Store::open(&url).await.unwrap();
    store
        .import(&callgate::directory::parse(DEMO).unwrap(), "import")
        .await
        .unwrap();
    let token = store.add_token("ops-alice", Some("initech")).await.unwrap();
    let config = Config {
        db: url.clone(),
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let d = Daemon::start(&config).await.unwrap();

    // A denial over HTTP, and one over SIP.
    let (status, v) = http(
        d.http,
        "POST",
        "/v1/check/caller-id",
        None,
        r#"{"tenant":"initech","user":"milton","requested":"+13125550000","dialed":"5551234"}"#,
    )
    .await;
    assert_eq!((status, v["decision"].as_str()), (200, Some("deny")));
    let sip = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let invite = "INVITE sip:5551234@initech SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-audit\r\n\
                  From: <sip:303@initech>;tag=1\r\nTo: <sip:5551234@initech>\r\nCall-ID: audit-1\r\nCSeq: 1 INVITE\r\n\
                  P-Preferred-Identity: <sip:+13125550000@initech>\r\nContent-Length: 0\r\n\r\n";
    sip.send_to(invite.as_bytes(), d.sip).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sip.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 403"));
    // An allow is not recorded by default.
    http(
        d.http,
        "POST",
        "/v1/check/caller-id",
        None,
        r#"{"tenant":"initech","user":"samir","requested":"+13125550002","dialed":"5551234"}"#,
    )
    .await;

    // An admin change: milton gets a number; then milton is deleted.
    let (status, v) = http(
        d.http,
        "PUT",
        "/v1/tenants/initech/users/milton",
        Some(&token),
        r#"{"role":"non_admin","grants":{"numbers":["+13125550000"]}}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let granted_at = v["revision"].as_i64().unwrap();
    let (status, _) = http(
        d.http,
        "DELETE",
        "/v1/tenants/initech/users/milton",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, 200);
    // The token is scoped to initech.
    let (status, _) = http(
        d.http,
        "DELETE",
        "/v1/tenants/acme/users/bob",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, 403);

    let rows = wait_for(&store, &query("initech"), |rows| {
        rows.iter().filter(|r| r.record.kind == "decision").count() >= 2
    })
    .await;
    let decisions: Vec<&AuditRecord> = rows
        .iter()
        .map(|r| &r.record)
        .filter(|r| r.kind == "decision")
        .collect();
    assert_eq!(decisions.len(), 2, "{rows:#?}");
    let by_http = decisions
        .iter()
        .find(|r| r.source == "http")
        .expect("the HTTP denial");
    assert_eq!(
        (by_http.principal.as_str(), by_http.action.as_str()),
        ("milton", "caller_id")
    );
    assert_eq!(
        (by_http.decision.as_str(), by_http.reason.as_str()),
        ("deny", "no_permitted_caller_id")
    );
    assert_eq!(by_http.detail["requested"], "+13125550000");
    assert!(by_http.revision > 0);
    let by_sip = decisions
        .iter()
        .find(|r| r.source.starts_with("sip:127.0.0.1:"))
        .expect("the SIP denial");
    assert_eq!(
        (by_sip.principal.as_str(), by_sip.decision.as_str()),
        ("ext:303", "deny")
    );
    assert_eq!(
        (by_sip.action.as_str(), by_sip.tenant.as_str()),
        ("caller_id", "initech")
    );
    assert!(by_sip.revision > 0 && !by_sip.reason.is_empty());
    assert_eq!(by_sip.detail["requested"], "+13125550000");
    assert_eq!(by_sip.detail["dialed"], "5551234");
    assert_eq!(by_sip.detail["from_user"], "303");

    let changes: Vec<&AuditRecord> = rows
        .iter()
        .map(|r| &r.record)
        .filter(|r| r.kind == "change")
        .collect();
    let grant = changes
        .iter()
        .find(|r| r.revision == granted_at)
        .expect("the grant");
    assert_eq!(grant.principal, "ops-alice");
    assert_eq!(grant.detail["users"]["changed"][0]["key"], "milton");
    assert_eq!(
        grant.detail["users"]["changed"][0]["after"]["grants"]["numbers"],
        json!(["+13125550000"])
    );
    let deletion = changes
        .iter()
        .find(|r| r.revision == granted_at + 1)
        .expect("the deletion");
    assert_eq!(deletion.detail["users"]["removed"], json!(["milton"]));
    // Deleting milton kept his trail.
    let milton = store
        .query_audit(&AuditQuery {
            principal: Some("milton".into()),
            ..query("initech")
        })
        .await
        .unwrap();
    assert_eq!(milton.len(), 1);
    // Filters and scoping over HTTP.
    let (status, v) = http(
        d.http,
        "GET",
        "/v1/tenants/initech/audit?kind=decision&decision=deny",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    let (status, _) = http(d.http, "GET", "/v1/tenants/acme/audit", Some(&token), "").await;
    assert_eq!(status, 403);
    let (status, _) = http(d.http, "GET", "/v1/tenants/initech/audit", None, "").await;
    assert_eq!(status, 401);
    // Pages: one record at a time, in order, nothing missed.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/tenants/initech/audit?limit=1&after={after}");
        let (_, v) = http(d.http, "GET", &path, Some(&token), "").await;
        let page = v["records"].as_array().unwrap().clone();
        seen.extend(page);
        match v["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), rows.len());
    d.shutdown().await;
}

async fn retention_removes_old_decisions_and_says_so(url: String) {
    let store = Store::open(&url).await.unwrap();
    store
        .import(&callgate::directory::parse(DEMO).unwrap(), "import")
        .await
        .unwrap();
    let old = AuditRecord::decision(
        "acme",
        "caller_id",
        "bob",
        "deny",
        "x",
        1,
        "http".into(),
        json!({}),
    );
    let mut ancient = old.clone();
    ancient.at_ms -= 100 * 86_400_000;
    store.append_audit(&[ancient, old]).await.unwrap();
    let purged = store
        .purge_audit(callgate_daemon::audit::now_ms() - 90 * 86_400_000)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let rows = store.query_audit(&query("acme")).await.unwrap();
    assert_eq!(
        rows.iter().filter(|r| r.record.kind == "decision").count(),
        1
    );
    assert_eq!(
        rows.iter().filter(|r| r.record.kind == "change").count(),
        1,
        "the change log is kept"
    );
    let retention = store
        .query_audit(&AuditQuery {
            kind: Some("retention".into()),
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(retention.len(), 1);
    assert_eq!(retention[0].record.detail["purged"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_and_denials() {
    let (url, _dir) = sqlite().await;
    changes_and_denials_are_recorded_and_outlive_the_user(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_and_denials() {
    changes_and_denials_are_recorded_and_outlive_the_user(postgres::database().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention() {
    let (url, _dir) = sqlite().await;
    retention_removes_old_decisions_and_says_so(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention() {
    retention_removes_old_decisions_and_says_so(postgres::database().await).await;
}

/// A sink that writes nothing until its gate opens, and counts what it was given.
#[derive(Clone)]
struct SlowSink {
    written: Arc<AtomicUsize>,
    dropped_reported: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl AuditSink for SlowSink {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), String> {
        drop(self.gate.acquire().await.map_err(|e| e.to_string())?);
        for r in records {
            if r.kind == "audit_dropped" {
                self.dropped_reported.fetch_add(
                    r.detail["dropped"].as_u64().unwrap() as usize,
                    Ordering::SeqCst,
                );
            } else {
                self.written.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_loses_nothing_up_to_the_queue_and_counts_the_rest() {
    const QUEUE: usize = 500;
    const FLOOD: usize = 5_000;
    let (auditor, rx) = Auditor::new(QUEUE, 0);
    let sink = SlowSink {
        written: Arc::default(),
        dropped_reported: Arc::default(),
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(run_writer(
        sink.clone(),
        auditor.clone(),
        rx,
        100,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let flooder = auditor.clone();
    let flood = tokio::task::spawn_blocking(move || {
        for i in 0..FLOOD {
            flooder.record(AuditRecord::decision(
                "acme",
                "caller_id",
                &format!("u{i}"),
                "deny",
                "x",
                1,
                "http".into(),
                json!({}),
            ));
        }
    });
    // Recording never waits on the writer: the whole flood is recorded while the writer is
    // stuck on its first batch (a deadline, not a timing goal: waiting would never end).
    tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("recording waited on a stuck writer")
        .unwrap();
    assert_eq!(
        sink.written.load(Ordering::SeqCst),
        0,
        "the writer was stuck"
    );
    sink.gate
        .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    let _ = stop_tx.send(());
    writer.await.unwrap();
    let written = sink.written.load(Ordering::SeqCst);
    let dropped = sink.dropped_reported.load(Ordering::SeqCst);
    assert!(
        written >= QUEUE,
        "at least a queue's worth is kept: {written}"
    );
    assert_eq!(
        written + dropped,
        FLOOD,
        "every record is written or counted"
    );
    assert!(dropped > 0);
}
