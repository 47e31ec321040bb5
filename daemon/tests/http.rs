//! The HTTP/JSON check API: every endpoint, every kind of bad request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use callgate_daemon::http::app;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
    let app = app(daemon::demo_state(&["127.0.0.1"]));
    let req = Request::builder()
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
    let started = std::time::Instant::now();
    let (s, v) = post(
        "/v1/check/caller-id",
        json!({"tenant": "acme", "user": "bob", "dialed": "1", "min_revision": 99}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["min_revision_reached"], false);
    assert_eq!(v["revision"], 1);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
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
