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
use callgate::{Answer, Check, DecisionKind};
use callgate_wire::compact::{CompactRecord, Input};
use serde::Deserialize;
use serde::de::DeserializeOwned;
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
        .route("/v1/check/caller-id", checking(DecisionKind::CallerId))
        .route("/v1/check/agent-pause", checking(DecisionKind::AgentPause))
        .route("/v1/check/recording", checking(DecisionKind::Recording))
        .route(
            "/v1/check/feature-code",
            checking(DecisionKind::FeatureCode),
        )
        .route("/v1/check/permission", checking(DecisionKind::Permission))
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

/// The route of one kind of check: [`check`], with the kind.
fn checking(kind: DecisionKind) -> axum::routing::MethodRouter<State> {
    post(
        move |Extract(state): Extract<State>, Extension(caller): Extension<Caller>, body: Bytes| {
            check(kind, state, caller, body)
        },
    )
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

fn list_field<'v>(
    name: &str,
    values: impl ExactSizeIterator<Item = &'v str>,
) -> Result<(), ApiError> {
    if values.len() > MAX_LIST {
        return Err(ApiError::BadRequest(format!(
            "field `{name}`: more than {MAX_LIST} items"
        )));
    }
    for (i, v) in values.enumerate() {
        if v.len() > MAX_INPUT || v.chars().any(char::is_control) {
            text_field(&format!("{name}[{i}]"), v)?;
        }
    }
    Ok(())
}

/// A check's body as the [`Check`] of its route's kind, its inputs bounded, and allowed to
/// ask about its tenant.
fn check_body(
    kind: DecisionKind,
    caller: &Caller,
    body: &[u8],
) -> Result<Check<'static>, ApiError> {
    let check = match kind {
        DecisionKind::CallerId => Check::CallerId(parse_json(body)?),
        DecisionKind::AgentPause => Check::AgentPause(parse_json(body)?),
        DecisionKind::Recording => Check::Recording(parse_json(body)?),
        DecisionKind::FeatureCode => Check::FeatureCode(parse_json(body)?),
        DecisionKind::Permission => Check::Permission(parse_json(body)?),
    };
    for field in check.fields() {
        match field.value {
            Input::Text(Some(value)) => text_field(field.path, value)?,
            Input::List(items) => list_field(field.path, items.iter().copied())?,
            Input::Strings(items) => list_field(field.path, items.iter().map(String::as_str))?,
            Input::Text(None) | Input::Flag(_) => {}
        }
    }
    caller.may_check(check.tenant())?;
    Ok(check)
}

/// What a check body asks of the table besides the check: to wait for a revision.
#[derive(Deserialize)]
struct Wait {
    #[serde(default)]
    min_revision: Option<u64>,
}

/// `POST /v1/check/<kind>`: the answer body is the engine's [`Answer`], the reason's text,
/// whether `min_revision` was met, and (caller ID, when signing) the `Identity` header value.
/// Counts the check, and audits it if it is a denial (or a sampled allow).
async fn check(
    kind: DecisionKind,
    state: State,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let check = check_body(kind, &caller, &body)?;
    let Wait { min_revision } = parse_json(&body)?;
    let waited = match min_revision {
        Some(r) => Some(state.wait_for_revision(r).await),
        None => None,
    };
    let started = Instant::now();
    let answer = state.table().check(&check);
    let decision = answer.outcome().as_str();
    telemetry::record_check(kind.as_str(), decision, started.elapsed());
    if let Some(auditor) = state.auditor().filter(|a| a.wants(decision)) {
        auditor.record_http(|| {
            let mut record = CompactRecord::new(
                crate::audit::now_ms(),
                kind.as_str(),
                decision,
                answer.reason(),
                answer.revision(),
                check.tenant(),
                &check.principal(),
            );
            for (name, input) in check.inputs() {
                record.input(name, input);
            }
            record
        });
    }
    let mut body = serde_json::to_value(&answer).unwrap_or(Value::Null);
    if let (Answer::CallerId(a), Check::CallerId(c), Value::Object(map)) =
        (&answer, &check, &mut body)
    {
        telemetry::record_caller_id(a.reason);
        // Signed as the SIP answer would be: the `Identity` header value, for the softswitch
        // to put on the outgoing INVITE.
        if let (Some(at), Some(number), Some(signer)) = (a.attestation, a.caller_id, state.signer())
            && let Some(identity) = signer.identity(at.level, &c.tenant, number, &c.dialed)
        {
            map.insert("identity".into(), Value::from(identity));
        }
    }
    if let Value::Object(map) = &mut body {
        map.insert("reason_text".into(), Value::from(answer.reason().text()));
        if let Some(reached) = waited {
            map.insert("min_revision_reached".into(), Value::from(reached));
        }
    }
    Ok((StatusCode::OK, axum::Json(body)).into_response())
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
