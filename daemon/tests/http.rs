//! The HTTP/JSON check API: every endpoint, every kind of bad request, and every limit that
//! keeps one client from exhausting the daemon (each shown failing for the attacker while
//! real checks keep being answered).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use callgate_daemon::http::app;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

async fn call(method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
    call_with(daemon::demo_state(&["127.0.0.1"]), method, path, body).await
}

/// One request through the router, as if from 127.0.0.1.
async fn call_with(
    state: callgate_daemon::state::State,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let app = app(state);
    let req = Request::builder()
        .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))))
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

async fn post(path: &str, body: Value) -> (StatusCode, Value) {
    call("POST", path, Some(&body.to_string())).await
}

#[tokio::test]
async fn caller_id_allows_substitutes_and_denies() {
    let (s, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "bob", "requested": "+15550100000", "dialed": "5551234"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["caller_id"], "+15550100000");
    assert_eq!(v["reason"], "number_permitted");
    assert_eq!(v["revision"], 1);
    assert!(v["reason_text"].as_str().unwrap().contains("may present"));

    let (_, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "ivan", "requested": "+15550100101", "dialed": "5551234"}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["caller_id"].as_str()),
        (Some("substitute"), Some("+15550100600"))
    );

    let (_, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "initech", "user": "milton", "requested": null, "dialed": "5551234"}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("deny"), Some("no_permitted_caller_id"))
    );
    assert!(v.get("caller_id").is_none());

    // Emergency: never denied, even for a suspended user.
    let (_, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "mallory", "dialed": "911"}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["caller_id"].as_str()),
        (Some("substitute"), Some("+15550100200"))
    );
}

#[tokio::test]
async fn agent_pause_recording_feature_code_and_permission_answer() {
    let (_, v) = post(
        "/v1/check/agent-pause",
        json!({"tenant": "acme", "actor": "carol", "agent": "bob", "queue": "sales", "paused": true}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("allow"), Some("queue_supervisor"))
    );

    let (_, v) = post(
        "/v1/check/recording",
        json!({"tenant": "acme", "actor": "carol", "action": "play", "recording": {"queue": "support", "extensions": ["202"]}}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("deny"), Some("out_of_scope"))
    );

    let (_, v) = post(
        "/v1/check/feature-code",
        json!({"tenant": "acme", "user": "carol", "dialed": "*46*201*600"}),
    )
    .await;
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["feature"], "queue_pause_toggle");
    assert_eq!(v["args"], json!(["201", "sales"]));

    let (_, v) = post(
        "/v1/check/permission",
        json!({"tenant": "acme", "user": "erin", "category": "extensions", "action": "edit", "resource": {"extension": "101"}}),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("deny"), Some("out_of_scope"))
    );
    let (_, v) = post(
        "/v1/check/permission",
        json!({"tenant": "acme", "user": "judy", "category": "settings", "action": "edit"}),
    )
    .await;
    assert_eq!(v["decision"], "allow");
}

#[tokio::test]
async fn malformed_requests_get_400_naming_the_field() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("/v1/check/caller-id", "{not json".into(), "invalid JSON"),
        ("/v1/check/caller-id", json!({"tenant": "acme", "dialed": "1"}).to_string(), "user"),
        ("/v1/check/caller-id", json!({"tenant": "acme", "user": 7, "dialed": "1"}).to_string(), "user"),
        ("/v1/check/agent-pause", json!({"tenant": "acme", "actor": "a", "agent": "b", "queue": "q"}).to_string(), "paused"),
        ("/v1/check/agent-pause", json!({"tenant": "acme", "actor": "a", "agent": "b", "queue": "q", "paused": "yes"}).to_string(), "paused"),
        ("/v1/check/recording", json!({"tenant": "acme", "actor": "a", "action": "burn", "recording": {}}).to_string(), "action"),
        ("/v1/check/recording", json!({"tenant": "acme", "actor": "a", "action": "play"}).to_string(), "recording"),
        ("/v1/check/recording", json!({"tenant": "acme", "actor": "a", "action": "play", "recording": {"extensions": "101"}}).to_string(), "recording.extensions"),
        ("/v1/check/feature-code", json!({"tenant": "acme", "user": "a"}).to_string(), "dialed"),
        ("/v1/check/permission", json!({"tenant": "acme", "user": "a", "category": "rockets", "action": "view"}).to_string(), "category"),
        ("/v1/check/permission", json!({"tenant": "acme", "user": "a", "category": "billing", "action": "fly"}).to_string(), "action"),
        ("/v1/check/permission", json!({"tenant": "acme", "user": "a", "category": "billing", "action": "view", "min_revision": -1}).to_string(), "min_revision"),
        ("/v1/check/caller-id", String::new(), "invalid JSON"),
    ];
    for (path, body, needle) in cases {
        let (s, v) = call("POST", path, Some(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path} {body}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path} {body}: {error}");
    }
}

#[tokio::test]
async fn min_revision_waits_and_says_when_it_could_not() {
    let (_, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "bob", "dialed": "1", "min_revision": 1}),
    )
    .await;
    assert_eq!(v["min_revision_reached"], true);
    let (s, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "bob", "dialed": "1", "min_revision": 99}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["min_revision_reached"], false);
    assert_eq!(v["revision"], 1);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let (s, _) = call("GET", "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call("GET", "/readyz", None).await;
    assert_eq!((s, v["ready"].as_bool()), (StatusCode::OK, Some(true)));
    callgate_daemon::telemetry::install();
    post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "bob", "dialed": "1"}),
    )
    .await;
    let (s, v) = call("GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    let text = v.as_str().unwrap();
    assert!(text.contains("callgate_checks_total"), "{text}");
    assert!(text.contains("callgate_table_revision"), "{text}");
}

#[tokio::test]
async fn admin_routes_need_a_store_and_a_token() {
    let (s, v) = call(
        "PUT",
        "/v1/tenants/acme/users/zed",
        Some(r#"{"role": "basic_user"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, _) = call("GET", "/v1/tenants/acme", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn min_revision_catches_up_with_a_write_that_lands_mid_wait() {
    // A long bound, so the check can only answer early by seeing the write.
    let writer = daemon::demo_writer();
    let state = callgate_daemon::state::State::new(
        writer.clone(),
        None,
        callgate_daemon::config::Peers::default(),
        Duration::from_secs(30),
    );
    state.set_ready();
    let body = json!({"tenant": "initech", "user": "milton", "requested": "+13125550000", "dialed": "5551234", "min_revision": 2});
    let (_, before) = post(
        "/v1/check/caller-id",
        json!({"tenant": "initech", "user": "milton", "requested": "+13125550000", "dialed": "5551234"}),
    )
    .await;
    assert_eq!(before["decision"], "deny", "{before}");
    let body = body.to_string();
    let asked = {
        let state = state.clone();
        tokio::spawn(
            async move { call_with(state, "POST", "/v1/check/caller-id", Some(&body)).await },
        )
    };
    // The check is waiting: it cannot answer before revision 2 (or 30 s).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !asked.is_finished(),
        "answered before the table reached revision 2"
    );
    let mut tenants = callgate::directory::parse(callgate_daemon::serve::DEMO_DIRECTORY).unwrap();
    let initech = tenants.iter_mut().find(|t| t.id == "initech").unwrap();
    let milton = initech.users.iter_mut().find(|u| u.id == "milton").unwrap();
    milton.grants.numbers.push("+13125550000".into());
    writer.put(initech, 2);
    let (s, v) = asked.await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["min_revision_reached"], true, "{v}");
    assert_eq!(v["revision"], 2, "{v}");
    assert_eq!(v["decision"], "allow", "the answer reflects the write: {v}");
}

#[tokio::test]
async fn control_characters_and_oversized_fields_are_refused_and_never_echoed() {
    let long = "x".repeat(257);
    let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/v1/check/caller-id",
            json!({"tenant": "acme", "user": "bob\r\nX-EVIL: 1", "dialed": "1"}),
            "field `user`: contains a control character",
        ),
        (
            "/v1/check/caller-id",
            json!({"tenant": "acme\u{0}EVIL", "user": "bob", "dialed": "1"}),
            "field `tenant`: contains a control character",
        ),
        (
            "/v1/check/caller-id",
            json!({"tenant": "acme", "user": "bob", "requested": "+1\nEVIL", "dialed": "1"}),
            "field `requested`",
        ),
        (
            "/v1/check/caller-id",
            json!({"tenant": "acme", "user": "bob", "dialed": long}),
            "field `dialed`: longer than 256 bytes",
        ),
        (
            "/v1/check/agent-pause",
            json!({"tenant": "acme", "actor": "carol", "agent": "b\tEVIL", "queue": "sales", "paused": true}),
            "field `agent`",
        ),
        (
            "/v1/check/recording",
            json!({"tenant": "acme", "actor": "erin", "action": "play", "recording": {"extensions": ["202", "2\r02EVIL"]}}),
            "field `recording.extensions[1]`: contains a control character",
        ),
        (
            "/v1/check/recording",
            json!({"tenant": "acme", "actor": "erin", "action": "play", "recording": {"numbers": many}}),
            "field `recording.numbers`: more than 64 items",
        ),
        (
            "/v1/check/feature-code",
            json!({"tenant": "acme", "user": "carol", "dialed": "*46\u{7f}EVIL"}),
            "field `dialed`",
        ),
        (
            "/v1/check/permission",
            json!({"tenant": "acme", "user": "erin", "category": "extensions", "action": "edit", "resource": {"site": "hq\r\nEVIL"}}),
            "field `resource.site`",
        ),
        (
            "/v1/check/permission",
            json!({"tenant": "acme", "user": "erin", "category": "extensions", "action": "ed\r\nEVIL"}),
            "field `action`",
        ),
    ];
    for (path, body, needle) in cases {
        let (s, v) = post(path, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path} {body}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path} {body}: {error}");
        assert!(!error.chars().any(char::is_control), "{error:?}");
        assert!(
            !error.contains("EVIL\r") && !error.contains("\nEVIL"),
            "{error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_body_over_the_limit_is_413_even_without_a_length() {
    let (d, _rx) = daemon_with(|_| {}).await;
    // Chunked: no length in advance; the body is cut off as it is read.
    let mut chunked = String::new();
    for _ in 0..10 {
        chunked.push_str(&format!("400\r\n{}\r\n", "x".repeat(1024)));
    }
    chunked.push_str("0\r\n\r\n");
    let (status, body) = exchange(
        TcpStream::connect(d.http).await.unwrap(),
        "POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunked.as_bytes(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("the body is larger than 8192 bytes"),
        "{body}"
    );
    // And the real peer is still answered.
    let (status, v) = check_from(LOCAL, d.http, DENIED, None).await;
    assert_eq!((status, v["decision"].as_str()), (200, Some("deny")), "{v}");
}

/// The daemon's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A daemon (no store) on loopback with these settings, auditing into the returned queue.
async fn daemon_with(
    configure: impl FnOnce(&mut callgate_daemon::config::Config),
) -> (
    callgate_daemon::serve::Daemon,
    tokio::sync::mpsc::Receiver<callgate_daemon::audit::Queued>,
) {
    let mut config = callgate_daemon::config::Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    configure(&mut config);
    let state = daemon::demo_state(&["127.0.0.1"]);
    let (auditor, rx) = callgate_daemon::audit::Auditor::new(100_000, 0);
    state.set_auditor(auditor);
    let d = callgate_daemon::serve::Daemon::bind(&config, state)
        .await
        .unwrap();
    (d, rx)
}

/// A TCP connection to `to` from `from` (any loopback address works as a source).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends `head` and `body` (ignoring a peer that stops reading) and reads the answer: its
/// status (0 if the connection closed without one) and its body.
async fn exchange(mut s: TcpStream, head: &str, body: &[u8]) -> (u16, String) {
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// A whole check over a fresh connection from `from`.
async fn check_from(from: IpAddr, to: SocketAddr, body: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, text) = exchange(connect_from(from, to).await, &head, body.as_bytes()).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const DENIED: &str =
    r#"{"tenant":"initech","user":"milton","requested":"+13125550000","dialed":"5551234"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_check_bodies_are_413_memory_stays_flat_and_real_checks_are_answered() {
    let (d, mut rx) = daemon_with(|_| {}).await;
    let addr = d.http;
    let before = rss_kib();
    // The reproduced attack: a 4 MB field echoed into `resource.site`, four clients at once.
    let site = "s".repeat(4 << 20);
    let attack = json!({"tenant": "acme", "user": "erin", "category": "extensions", "action": "edit", "resource": {"site": site}}).to_string();
    let attack = std::sync::Arc::new(attack);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (attack, stop) = (attack.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let head = format!(
                    "POST /v1/check/permission HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    attack.len()
                );
                let s = TcpStream::connect(addr).await.unwrap();
                statuses.push(exchange(s, &head, attack.as_bytes()).await.0);
            }
            statuses
        }));
    }
    // Real checks, answered throughout.
    let mut answered = 0;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let (status, v) = check_from(LOCAL, addr, DENIED, None).await;
        assert_eq!((status, v["decision"].as_str()), (200, Some("deny")), "{v}");
        answered += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for a in attackers {
        for status in a.await.unwrap() {
            assert!(status == 413 || status == 0, "an attack answered {status}");
            refused += usize::from(status == 413);
        }
    }
    let after = rss_kib();
    println!(
        "RSS before {before} KiB, after {after} KiB; {refused} attacks refused with 413, {answered} real checks answered"
    );
    assert!(refused > 0 && answered > 0);
    assert!(
        after.saturating_sub(before) < 256 << 10,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // Only the real denials were audited, none of them over 64 bytes a field.
    let mut audited = 0;
    while let Ok(q) = rx.try_recv() {
        let r = q.into_record();
        assert_eq!(r.principal, "milton");
        audited += 1;
    }
    assert_eq!(audited, answered);
}

#[tokio::test]
async fn an_audited_denial_keeps_at_most_64_bytes_a_field() {
    let state = daemon::demo_state(&[]);
    let (auditor, mut rx) = callgate_daemon::audit::Auditor::new(16, 0);
    state.set_auditor(auditor);
    let site = "é".repeat(120); // 240 bytes: accepted, but kept cut
    let (s, v) = call_with(
        state,
        "POST",
        "/v1/check/permission",
        Some(&json!({"tenant": "acme", "user": "erin", "category": "extensions", "action": "edit", "resource": {"extension": "101", "site": site}}).to_string()),
    )
    .await;
    assert_eq!(
        (s, v["decision"].as_str()),
        (StatusCode::OK, Some("deny")),
        "{v}"
    );
    let r = rx.try_recv().unwrap().into_record();
    assert_eq!(r.source, "http");
    assert_eq!(
        (r.principal.as_str(), r.action.as_str()),
        ("erin", "permission")
    );
    assert_eq!(r.detail["site"], format!("{}…", "é".repeat(32)));
    assert_eq!(r.detail["extension"], "101");
    assert_eq!(r.detail["category"], "extensions");
    assert_eq!(r.detail["action"], "edit");
    for (_, value) in r.detail.as_object().unwrap() {
        assert!(value.as_str().unwrap().trim_end_matches('…').len() <= 64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_from_other_addresses_are_403_and_not_audited() {
    let (d, mut rx) = daemon_with(|c| c.http_check_peers = vec!["127.0.0.1/32".into()]).await;
    let stranger: IpAddr = "127.0.0.2".parse().unwrap();
    for round in 0..20 {
        let (status, v) = check_from(stranger, d.http, DENIED, None).await;
        assert_eq!(status, 403, "{v}");
        assert_eq!(v["error"], "this address may not ask for checks");
        // A real peer, answered and audited, between the stranger's attempts.
        let (status, v) = check_from(LOCAL, d.http, DENIED, None).await;
        assert_eq!(
            (status, v["decision"].as_str()),
            (200, Some("deny")),
            "round {round}: {v}"
        );
    }
    let mut audited = 0;
    while let Ok(q) = rx.try_recv() {
        assert_eq!(q.into_record().principal, "milton");
        audited += 1;
    }
    assert_eq!(audited, 20, "only the real peer's denials");
    // Health stays open to anyone.
    let (status, _) = exchange(
        connect_from(stranger, d.http).await,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let (d, _rx) = daemon_with(|c| {
        c.http_max_connections = 8;
        c.http_max_connections_per_address = 4;
        c.http_header_timeout_ms = 60_000;
    })
    .await;
    let attacker: IpAddr = "127.0.0.2".parse().unwrap();
    // Twelve half-sent requests: four are held (until the header timeout), eight closed.
    let mut held = Vec::new();
    for _ in 0..12 {
        let mut s = connect_from(attacker, d.http).await;
        s.write_all(b"POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let mut closed = 0;
    let mut open = Vec::new();
    for mut s in held {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => closed += 1,
            Ok(Ok(n)) => panic!("a half-sent request was answered: {:?}", &buf[..n]),
            Err(_) => open.push(s),
        }
    }
    assert_eq!((closed, open.len()), (8, 4), "four held, the rest closed");
    // The real peer is answered while the attacker holds its four.
    for _ in 0..10 {
        let (status, v) = check_from(LOCAL, d.http, DENIED, None).await;
        assert_eq!((status, v["decision"].as_str()), (200, Some("deny")), "{v}");
    }
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_half_sent_requests_time_out_and_free_the_connection_cap() {
    let (d, _rx) = daemon_with(|c| {
        c.http_max_connections = 8;
        c.http_max_connections_per_address = 4;
        c.http_header_timeout_ms = 300;
    })
    .await;
    // Sixteen half-sent requests from four addresses: twice the cap.
    let mut idle = Vec::new();
    for host in 2..6u8 {
        for _ in 0..4 {
            let mut s = connect_from(IpAddr::from([127, 0, 0, host]), d.http).await;
            s.write_all(b"POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            idle.push(s);
        }
    }
    // A real check waits its turn in the backlog and is answered once the header timeout
    // frees a connection.
    let (status, v) = check_from(LOCAL, d.http, DENIED, None).await;
    assert_eq!((status, v["decision"].as_str()), (200, Some("deny")), "{v}");
    // Every idle connection is closed by the daemon.
    for mut s in idle {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "an idle connection was kept open");
        assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }
    // A body that never arrives is cut off by the body timeout too.
    let (status, _) = exchange(
        connect_from(LOCAL, d.http).await,
        "POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
        b"",
    )
    .await;
    assert!(status == 408 || status == 0, "{status}");
}

/// A daemon over a SQLite store loaded with the demo directory.
async fn daemon_with_store(
    configure: impl FnOnce(&mut callgate_daemon::config::Config),
) -> (callgate_daemon::serve::Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = callgate_daemon::config::Config {
        db: format!("sqlite://{}", dir.path().join("callgate.db").display()),
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        ..Default::default()
    };
    configure(&mut config);
    let d = callgate_daemon::serve::Daemon::start(&config)
        .await
        .unwrap();
    (d, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_can_require_a_token_scoped_to_a_tenant() {
    let (d, _dir) = daemon_with_store(|c| c.http_check_token_required = true).await;
    let store = d.state.store().unwrap().clone();
    let pbx = store.add_token("pbx", None).await.unwrap();
    let acme = store.add_token("acme-portal", Some("acme")).await.unwrap();
    let (status, v) = check_from(LOCAL, d.http, DENIED, None).await;
    assert_eq!(status, 401, "{v}");
    let (status, _) = check_from(LOCAL, d.http, DENIED, Some("cg_not_a_token")).await;
    assert_eq!(status, 401);
    let (status, v) = check_from(LOCAL, d.http, DENIED, Some(&acme)).await;
    assert_eq!(status, 403, "an acme token asks about initech: {v}");
    let (status, v) = check_from(LOCAL, d.http, DENIED, Some(&pbx)).await;
    assert_eq!((status, v["decision"].as_str()), (200, Some("deny")), "{v}");
    let acme_check =
        r#"{"tenant":"acme","user":"bob","requested":"+15550100000","dialed":"5551234"}"#;
    let (status, v) = check_from(LOCAL, d.http, acme_check, Some(&acme)).await;
    assert_eq!(
        (status, v["decision"].as_str()),
        (200, Some("allow")),
        "{v}"
    );
    // Only the answered denial reached the trail.
    let query = callgate_daemon::store::AuditQuery {
        tenant: "initech".into(),
        kind: Some("decision".into()),
        limit: 100,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = store.query_audit(&query).await.unwrap();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(rows.len(), 1, "{rows:#?}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_bodies_are_bounded_and_read_only_with_a_token() {
    let (d, _dir) = daemon_with_store(|c| c.http_admin_body_limit = 1 << 20).await;
    let store = d.state.store().unwrap().clone();
    let token = store.add_token("ops", None).await.unwrap();
    let huge = format!(
        "{{\"role\": \"basic_user\", \"pad\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    let put = |token: Option<&str>, len: usize| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!(
            "PUT /v1/tenants/acme/users/zed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {len}\r\n\r\n"
        )
    };
    let (status, _) = exchange(
        TcpStream::connect(d.http).await.unwrap(),
        &put(None, huge.len()),
        huge.as_bytes(),
    )
    .await;
    assert_eq!(status, 401, "no token: refused before the body is read");
    let (status, body) = exchange(
        TcpStream::connect(d.http).await.unwrap(),
        &put(Some(&token), huge.len()),
        huge.as_bytes(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let small = r#"{"role": "basic_user"}"#;
    let (status, body) = exchange(
        TcpStream::connect(d.http).await.unwrap(),
        &put(Some(&token), small.len()),
        small.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    d.shutdown().await;
}

/// The reproduced attacks on the emergency path, over HTTP: real dial strings are emergency
/// calls ("`sip:911;phone-context=+1@acme;user=phone`, `tel:911`, `911#`, `urn:service:sos`"),
/// never refused, and "the emergency path presents any caller ID" no more: only numbers the
/// tenant owns, else none.
#[tokio::test]
async fn emergency_calls_are_never_refused_and_never_forge_caller_id() {
    let ask = |tenant: &str, user: &str, requested: Option<&str>, dialed: &str| json!({"tenant": tenant, "user": user, "requested": requested, "dialed": dialed});
    for dialed in [
        "911",
        "sip:911;phone-context=+1@acme;user=phone",
        "tel:911",
        "911#",
        "sip:911%23@acme",
        "9-1-1",
        "urn:service:sos",
        "urn:service:sos.police",
    ] {
        // Suspended mallory: her site's callback number, whatever she asks for.
        let (s, v) = post(
            "/v1/check/caller-id",
            ask("acme", "mallory", Some("+12025550123"), dialed),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{dialed}");
        assert_eq!(
            (v["decision"].as_str(), v["caller_id"].as_str()),
            (Some("substitute"), Some("+15550100200")),
            "{dialed}: {v}"
        );
        // A tenant nobody knows: allowed, asserting no number at all.
        let (_, v) = post(
            "/v1/check/caller-id",
            ask("nosuchtenant", "x", Some("+12025550123"), dialed),
        )
        .await;
        assert_eq!(
            (v["decision"].as_str(), v["reason"].as_str()),
            (Some("allow"), Some("emergency_no_caller_id")),
            "{dialed}: {v}"
        );
        assert!(v.get("caller_id").is_none(), "{dialed}: {v}");
    }
    // A tenant with no callback number can't borrow another tenant's number.
    let (_, v) = post(
        "/v1/check/caller-id",
        ask("initech", "milton", Some("+442070000000"), "911"),
    )
    .await;
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("allow"), Some("emergency_no_caller_id")),
        "{v}"
    );
    assert!(v.get("caller_id").is_none(), "{v}");
    // The platform's numbers hold in every tenant: 999 and 000 for an unknown one.
    for dialed in ["999", "000"] {
        let (_, v) = post(
            "/v1/check/caller-id",
            ask("nosuchtenant", "x", None, dialed),
        )
        .await;
        assert_eq!(v["decision"], "allow", "{dialed}: {v}");
    }
}

/// "Over HTTP the feature-code args come back with CR/LF in them" — no more: a dial string
/// is dial characters only.
#[tokio::test]
async fn a_feature_code_with_header_characters_is_refused() {
    let (s, v) = post(
        "/v1/check/feature-code",
        json!({"tenant": "acme", "user": "ivan", "dialed": "*72*5551234<sip:x@acme>"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["decision"].as_str(), v["reason"].as_str()),
        (Some("deny"), Some("invalid_dial_string")),
        "{v}"
    );
    let (s, _) = post(
        "/v1/check/feature-code",
        json!({"tenant": "acme", "user": "ivan", "dialed": "*72*5551234\r\nP-Asserted-Identity: x"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
