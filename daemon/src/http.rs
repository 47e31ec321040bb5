//! The HTTP/JSON interface: the five checks, health and metrics, and the token-guarded admin
//! writes. `app(state)` builds the router (tests drive it with `oneshot`); `run` serves it on
//! an already-bound listener until `shutdown` resolves, within the limits in
//! [`Settings`]: checks only from `http_check_peers` (and with a token if required), small
//! check bodies, bounded admin bodies, capped connections and header and body timeouts.

mod admin;
mod error;
mod guard;
mod listener;
mod settings;

use std::future::Future;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router, middleware};
use callgate::compact::{CompactRecord, Input};
use callgate::{Action, Category, Reason, Recording, RecordingAction, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use error::ApiError;
pub use guard::CHECKS_REFUSED;
pub use listener::{HTTP_CONNECTIONS, HTTP_REFUSED};
pub use settings::{Limits, Settings};

use crate::state::State;
use crate::telemetry;
use guard::Caller;

/// The longest string a check input may be, in bytes.
pub const MAX_INPUT: usize = 256;
/// The most items a list input of a check may have.
pub const MAX_LIST: usize = 64;

/// The router.
pub fn app(state: State) -> Router {
    let limits = state.http().limits().clone();
    let checks = Router::new()
        .route("/v1/check/caller-id", post(caller_id))
        .route("/v1/check/agent-pause", post(agent_pause))
        .route("/v1/check/recording", post(recording))
        .route("/v1/check/feature-code", post(feature_code))
        .route("/v1/check/permission", post(permission))
        .layer(DefaultBodyLimit::max(limits.check_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::check));
    let admin = admin::routes()
        .layer(DefaultBodyLimit::max(limits.admin_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::admin));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(checks)
        .merge(admin)
        .route_layer(middleware::from_fn(counted))
        .with_state(state)
}

/// Counts every routed request by its route (the pattern, never the raw path: tenant and
/// user ids stay out of the metric's labels) and status.
async fn counted(
    route: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let route = route.as_str().to_string();
    let response = next.run(request).await;
    metrics::counter!(
        telemetry::HTTP_REQUESTS,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.http().limits().clone();
    let tls = state.http().tls().cloned();
    listener::serve(listener, app(state), &limits, tls, shutdown).await
}

/// Parses a JSON body, naming the offending field in the error (and never echoing a control
/// character the body held).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = printable(&inner.to_string());
        ApiError::BadRequest(
            if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty() {
                format!("invalid JSON body: {message}")
            } else {
                format!("field `{}`: {message}", printable(&path))
            },
        )
    })
}

/// `text` with control characters escaped, and cut to a readable length.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_INPUT));
    for c in text.chars() {
        if out.len() >= MAX_INPUT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Refuses a check input that is too long or holds a control character (CR, LF, NUL, …).
fn text_field(name: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_INPUT {
        return Err(ApiError::BadRequest(format!(
            "field `{name}`: longer than {MAX_INPUT} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "field `{name}`: contains a control character"
        )));
    }
    Ok(())
}

fn optional_field(name: &str, value: Option<&String>) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text_field(name, v))
}

fn list_field(name: &str, values: &[String]) -> Result<(), ApiError> {
    if values.len() > MAX_LIST {
        return Err(ApiError::BadRequest(format!(
            "field `{name}`: more than {MAX_LIST} items"
        )));
    }
    for (i, v) in values.iter().enumerate() {
        if v.len() > MAX_INPUT || v.chars().any(char::is_control) {
            text_field(&format!("{name}[{i}]"), v)?;
        }
    }
    Ok(())
}

/// A check's body, parsed and checked field by field, and allowed to ask about its tenant.
fn check_body<T: DeserializeOwned + Fields>(caller: &Caller, body: &[u8]) -> Result<T, ApiError> {
    let req: T = parse_json(body)?;
    req.check_fields()?;
    caller.may_check(req.tenant())?;
    Ok(req)
}

/// A check request's string inputs, bounded.
trait Fields {
    /// The tenant asked about.
    fn tenant(&self) -> &str;
    /// Refuses an input that is too long or holds a control character.
    fn check_fields(&self) -> Result<(), ApiError>;
}

/// Who asked what, for the audit trail: the inputs are copied into a [`CompactRecord`]
/// (every field at most 64 bytes) only if the decision is to be recorded.
struct Asked<'a, 'i> {
    tenant: &'a str,
    principal: &'a str,
    inputs: &'a [(&'static str, Input<'i>)],
}

/// The answer body: the engine's answer, the reason's text, and whether `min_revision` was
/// met. Counts the check, and audits it if it is a denial (or a sampled allow).
fn answer(
    state: &State,
    kind: &'static str,
    started: Instant,
    body: Value,
    reason: Reason,
    waited: Option<bool>,
    asked: Asked<'_, '_>,
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
        auditor.record_http(|| {
            let mut record = CompactRecord::new(
                crate::audit::now_ms(),
                kind,
                decision,
                reason,
                revision,
                asked.tenant,
                &[asked.principal],
            );
            for &(name, input) in asked.inputs {
                record.input(name, input);
            }
            record
        });
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
    /// Whether the asker authenticated the caller (the answer's attestation: A or B only if so).
    #[serde(default)]
    authenticated: bool,
    #[serde(default)]
    min_revision: Option<u64>,
}

impl Fields for CallerIdRequest {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn check_fields(&self) -> Result<(), ApiError> {
        text_field("tenant", &self.tenant)?;
        text_field("user", &self.user)?;
        optional_field("requested", self.requested.as_ref())?;
        text_field("dialed", &self.dialed)
    }
}

async fn caller_id(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CallerIdRequest = check_body(&caller, &body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let a = state.table().check_caller_id_attested(
        &req.tenant,
        &req.user,
        req.requested.as_deref(),
        &req.dialed,
        req.authenticated,
    );
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.user,
        inputs: &[
            ("requested", Input::Text(req.requested.as_deref())),
            ("dialed", Input::Text(Some(&req.dialed))),
        ],
    };
    telemetry::record_caller_id(a.reason);
    let mut body = json!(a);
    // Signed as the SIP answer would be: the `Identity` header value, for the softswitch to
    // put on the outgoing INVITE.
    if let (Some(at), Some(number), Some(signer)) = (a.attestation, a.caller_id, state.signer())
        && let (Some(identity), Value::Object(map)) = (
            signer.identity(at.level, &req.tenant, number, &req.dialed),
            &mut body,
        )
    {
        map.insert("identity".into(), Value::from(identity));
    }
    Ok(answer(
        &state,
        "caller_id",
        started,
        body,
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

impl Fields for AgentPauseRequest {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn check_fields(&self) -> Result<(), ApiError> {
        text_field("tenant", &self.tenant)?;
        text_field("actor", &self.actor)?;
        text_field("agent", &self.agent)?;
        text_field("queue", &self.queue)
    }
}

async fn agent_pause(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: AgentPauseRequest = check_body(&caller, &body)?;
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
        inputs: &[
            ("agent", Input::Text(Some(&req.agent))),
            ("queue", Input::Text(Some(&req.queue))),
            ("paused", Input::Flag(req.paused)),
        ],
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

impl Fields for RecordingRequest {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn check_fields(&self) -> Result<(), ApiError> {
        let r = &self.recording;
        text_field("tenant", &self.tenant)?;
        text_field("actor", &self.actor)?;
        optional_field("recording.queue", r.queue.as_ref())?;
        list_field("recording.extensions", &r.extensions)?;
        list_field("recording.numbers", &r.numbers)?;
        optional_field("recording.site", r.site.as_ref())
    }
}

async fn recording(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RecordingRequest = check_body(&caller, &body)?;
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
        inputs: &[
            ("action", Input::Text(Some(recording_action(req.action)))),
            ("queue", Input::Text(rec.queue)),
            ("extensions", Input::List(&exts)),
            ("numbers", Input::List(&numbers)),
            ("site", Input::Text(rec.site)),
        ],
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

fn recording_action(action: RecordingAction) -> &'static str {
    match action {
        RecordingAction::List => "list",
        RecordingAction::Play => "play",
        RecordingAction::Download => "download",
        RecordingAction::Delete => "delete",
    }
}

#[derive(Deserialize, Serialize)]
struct FeatureCodeRequest {
    tenant: String,
    user: String,
    dialed: String,
    #[serde(default)]
    min_revision: Option<u64>,
}

impl Fields for FeatureCodeRequest {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn check_fields(&self) -> Result<(), ApiError> {
        text_field("tenant", &self.tenant)?;
        text_field("user", &self.user)?;
        text_field("dialed", &self.dialed)
    }
}

async fn feature_code(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: FeatureCodeRequest = check_body(&caller, &body)?;
    let waited = catch_up(&state, req.min_revision).await;
    let started = Instant::now();
    let a = state
        .table()
        .check_feature_code(&req.tenant, &req.user, &req.dialed);
    let body = json!(a);
    let asked = Asked {
        tenant: &req.tenant,
        principal: &req.user,
        inputs: &[("dialed", Input::Text(Some(&req.dialed)))],
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

impl Fields for PermissionRequest {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn check_fields(&self) -> Result<(), ApiError> {
        let r = &self.resource;
        text_field("tenant", &self.tenant)?;
        text_field("user", &self.user)?;
        optional_field("resource.site", r.site.as_ref())?;
        optional_field("resource.queue", r.queue.as_ref())?;
        optional_field("resource.extension", r.extension.as_ref())?;
        optional_field("resource.number", r.number.as_ref())
    }
}

async fn permission(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PermissionRequest = check_body(&caller, &body)?;
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
        inputs: &[
            ("category", Input::Text(Some(req.category.as_str()))),
            ("action", Input::Text(Some(req.action.as_str()))),
            ("site", Input::Text(resource.site)),
            ("queue", Input::Text(resource.queue)),
            ("extension", Input::Text(resource.extension)),
            ("number", Input::Text(resource.number)),
        ],
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
    if let Some(auditor) = state.auditor() {
        metrics::gauge!(telemetry::AUDIT_QUEUE).set(auditor.queued() as f64);
    }
    let text = telemetry::install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
