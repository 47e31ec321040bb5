//! The HTTP/JSON interface: the five checks, health and metrics, and the token-guarded admin
//! writes. `app(state)` builds the router (tests drive it with `oneshot`); `run` serves it on
//! an already-bound listener until `shutdown` resolves.

mod admin;
mod error;

use std::future::Future;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callgate::{Action, Category, Reason, Recording, RecordingAction, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::audit::AuditRecord;
use crate::state::State;
use crate::telemetry;

/// The router.
pub fn app(state: State) -> Router {
    Router::new()
        .route("/v1/check/caller-id", post(caller_id))
        .route("/v1/check/agent-pause", post(agent_pause))
        .route("/v1/check/recording", post(recording))
        .route("/v1/check/feature-code", post(feature_code))
        .route("/v1/check/permission", post(permission))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(admin::routes())
        .layer(DefaultBodyLimit::max(16 << 20))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parses a JSON body, naming the offending field in the error.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        ApiError::BadRequest(
            if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty() {
                format!("invalid JSON body: {message}")
            } else {
                format!("field `{path}`: {message}")
            },
        )
    })
}

/// Who asked what, for the audit trail (built only when the decision is to be recorded).
struct Asked<'a, F: FnOnce() -> Value> {
    tenant: &'a str,
    principal: &'a str,
    detail: F,
}

/// The answer body: the engine's answer, the reason's text, and whether `min_revision` was
/// met. Counts the check, and audits it if it is a denial (or a sampled allow).
fn answer<F: FnOnce() -> Value>(
    state: &State,
    kind: &'static str,
    started: Instant,
    body: Value,
    reason: Reason,
    waited: Option<bool>,
    asked: Asked<'_, F>,
) -> Response {
    let mut body = body;
    let decision = body
        .get("decision")
        .and_then(Value::as_str)
        .map(decision_label)
        .unwrap_or("deny");
    telemetry::record_check(kind, decision, started.elapsed());
    if let Some(auditor) = state.auditor().filter(|a| a.wants(decision)) {
        let revision = body.get("revision").and_then(Value::as_u64).unwrap_or(0);
        auditor.record(AuditRecord::decision(
            asked.tenant,
            kind,
            asked.principal,
            decision,
            reason.code(),
            revision,
            "http".into(),
            (asked.detail)(),
        ));
    }
    if let Value::Object(map) = &mut body {
        map.insert("reason_text".into(), Value::from(reason.text()));
        if let Some(reached) = waited {
            map.insert("min_revision_reached".into(), Value::from(reached));
        }
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn decision_label(s: &str) -> &'static str {
    match s {
        "allow" => "allow",
        "substitute" => "substitute",
        _ => "deny",
    }
}

async fn catch_up(state: &State, min_revision: Option<u64>) -> Option<bool> {
    match min_revision {
        Some(r) => Some(state.wait_for_revision(r).await),
        None => None,
    }
}

#[derive(Deserialize, Serialize)]
struct CallerIdRequest {
    tenant: String,
    user: String,
    #[serde(default)]
    requested: Option<String>,
    dialed: String,
    #[serde(default)]
    min_revision: Option<u64>,
}

async fn caller_id(Extract(state): Extract<State>, body: Bytes) -> Result<Response, ApiError> {
    let req: CallerIdRequest = parse_json(&body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let a = state.table().check_caller_id(
        &req.tenant,
        &req.user,
        req.requested.as_deref(),
        &req.dialed,
    );
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.user,
        detail: || json!(req),
    };
    Ok(answer(
        &state,
        "caller_id",
        started,
        json!(a),
        a.reason,
        waited,
        asked,
    ))
}

#[derive(Deserialize, Serialize)]
struct AgentPauseRequest {
    tenant: String,
    actor: String,
    agent: String,
    queue: String,
    paused: bool,
    #[serde(default)]
    min_revision: Option<u64>,
}

async fn agent_pause(Extract(state): Extract<State>, body: Bytes) -> Result<Response, ApiError> {
    let req: AgentPauseRequest = parse_json(&body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let v = state.table().check_agent_pause(
        &req.tenant,
        &req.actor,
        &req.agent,
        &req.queue,
        req.paused,
    );
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.actor,
        detail: || json!(req),
    };
    Ok(answer(
        &state,
        "agent_pause",
        started,
        json!(v),
        v.reason,
        waited,
        asked,
    ))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct RecordingBody {
    queue: Option<String>,
    extensions: Vec<String>,
    numbers: Vec<String>,
    site: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct RecordingRequest {
    tenant: String,
    actor: String,
    action: RecordingAction,
    recording: RecordingBody,
    #[serde(default)]
    min_revision: Option<u64>,
}

async fn recording(Extract(state): Extract<State>, body: Bytes) -> Result<Response, ApiError> {
    let req: RecordingRequest = parse_json(&body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let exts: Vec<&str> = req
        .recording
        .extensions
        .iter()
        .map(String::as_str)
        .collect();
    let numbers: Vec<&str> = req.recording.numbers.iter().map(String::as_str).collect();
    let rec = Recording {
        queue: req.recording.queue.as_deref(),
        extensions: &exts,
        numbers: &numbers,
        site: req.recording.site.as_deref(),
    };
    let v = state
        .table()
        .check_recording(&req.tenant, &req.actor, req.action, &rec);
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.actor,
        detail: || json!(req),
    };
    Ok(answer(
        &state,
        "recording",
        started,
        json!(v),
        v.reason,
        waited,
        asked,
    ))
}

#[derive(Deserialize, Serialize)]
struct FeatureCodeRequest {
    tenant: String,
    user: String,
    dialed: String,
    #[serde(default)]
    min_revision: Option<u64>,
}

async fn feature_code(Extract(state): Extract<State>, body: Bytes) -> Result<Response, ApiError> {
    let req: FeatureCodeRequest = parse_json(&body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let a = state
        .table()
        .check_feature_code(&req.tenant, &req.user, &req.dialed);
    let body = json!(a);
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.user,
        detail: || json!(req),
    };
    Ok(answer(
        &state,
        "feature_code",
        started,
        body,
        a.reason,
        waited,
        asked,
    ))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct ResourceBody {
    site: Option<String>,
    queue: Option<String>,
    extension: Option<String>,
    number: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct PermissionRequest {
    tenant: String,
    user: String,
    category: Category,
    action: Action,
    #[serde(default)]
    resource: ResourceBody,
    #[serde(default)]
    min_revision: Option<u64>,
}

async fn permission(Extract(state): Extract<State>, body: Bytes) -> Result<Response, ApiError> {
    let req: PermissionRequest = parse_json(&body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let r = &req.resource;
    let resource = Resource {
        site: r.site.as_deref(),
        queue: r.queue.as_deref(),
        extension: r.extension.as_deref(),
        number: r.number.as_deref(),
    };
    let v =
        state
            .table()
            .check_permission(&req.tenant, &req.user, req.category, req.action, &resource);
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.user,
        detail: || json!(req),
    };
    Ok(answer(
        &state,
        "permission",
        started,
        json!(v),
        v.reason,
        waited,
        asked,
    ))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(Extract(state): Extract<State>) -> Response {
    if state.is_ready() {
        (
            StatusCode::OK,
            axum::Json(json!({"ready": true, "revision": state.table().revision()})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ready": false})),
        )
            .into_response()
    }
}

async fn metrics(Extract(state): Extract<State>) -> Response {
    metrics::gauge!(telemetry::TABLE_REVISION).set(state.table().revision() as f64);
    let text = telemetry::install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
