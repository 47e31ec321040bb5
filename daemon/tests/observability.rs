//! What an operator points Prometheus and Grafana at: the alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`: each alert fires on the series that
//! should fire it), and every metric the rules and the dashboard name is one the daemon
//! exports — a renamed metric cannot silently empty a panel or mute an alert.
#![expect(clippy::unwrap_used, reason = "a test: a failed step fails it")]

#[path = "support/daemon.rs"]
mod daemon;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

/// `callgate_…` names in `text` (histogram series folded into their metric).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("callgate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(name.to_string());
        rest = &tail[end..];
    }
    names
}

/// Every metric name the daemon's source declares (`"callgate_…"` string literals).
fn exported() -> BTreeSet<String> {
    fn walk(dir: &Path, names: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text
                    .lines()
                    .filter(|l| l.contains("pub const") && l.contains("\"callgate_"))
                {
                    names.extend(metric_names(line));
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut names,
    );
    names
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_when_they_should() {
    let dir = packaging().join("prometheus");
    for args in [
        vec!["check", "rules", "callgate-alerts.yml"],
        vec!["test", "rules", "callgate-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs (apt-get install prometheus; scripts/test.sh does)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_dashboard_and_the_alerts_name_only_metrics_the_daemon_exports() {
    let exported = exported();
    assert!(exported.len() >= 15, "{exported:?}");
    let dashboard_text =
        std::fs::read_to_string(packaging().join("grafana/callgate-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard_text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| e.contains("callgate_")),
                "{t}"
            );
        }
    }
    let rules =
        std::fs::read_to_string(packaging().join("prometheus/callgate-alerts.yml")).unwrap();
    for (what, text) in [("dashboard", &dashboard_text), ("alert rules", &rules)] {
        let unknown: Vec<_> = metric_names(text)
            .into_iter()
            .filter(|n| !exported.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "the {what} name metrics the daemon does not export: {unknown:?}"
        );
    }
    // What the dashboard promises to show.
    let shown = metric_names(&dashboard_text);
    for needed in [
        "callgate_checks_total",
        "callgate_check_duration_seconds",
        "callgate_emergency_calls_total",
        "callgate_audit_queue_depth",
        "callgate_audit_dropped_total",
        "callgate_feed_clients",
        "callgate_feed_lag_revisions",
        "callgate_table_revision",
    ] {
        assert!(
            shown.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
}

/// The new series appear at `/metrics` once there is traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_presentation_and_http_routes_are_counted() {
    callgate_daemon::telemetry::install();
    let d = daemon::start(&["127.0.0.1"]).await;
    let invite = "INVITE sip:911@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-o1\r\n\
                  Max-Forwards: 70\r\nFrom: <sip:204@acme>;tag=f\r\nTo: <sip:911@acme>\r\n\
                  Call-ID: obs-1\r\nCSeq: 1 INVITE\r\nX-Callgate-User: mallory\r\nContent-Length: 0\r\n\r\n";
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(invite.as_bytes(), d.sip).await.unwrap();
    let mut buf = vec![0u8; 65536];
    tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(d.http).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    };
    get("/healthz").await;
    let metrics = get("/metrics").await;
    assert!(
        metrics.contains("callgate_emergency_calls_total{presented=\"callback\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("callgate_http_requests_total{route=\"/healthz\",status=\"200\"}"),
        "{metrics}"
    );
    d.shutdown().await;
}
