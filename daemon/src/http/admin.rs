//! Admin writes and reads under `/v1/tenants/{t}/…` and `/v1/import`, each needing a bearer
//! token scoped to the tenant (or to all). A write is validated whole and applied in one
//! transaction; the answer carries the revision it produced, which the daemon's own table
//! has reached (or says it hasn't) by the time the answer is sent.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use callgate::edit::{self, Edit, Kind};
use callgate::model::{CustomRole, Extension, FeatureCode, Number, Queue, User};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{ApiError, parse_json};
use crate::state::State;
use crate::store::{Store, StoreError, TokenInfo};

/// How long a write waits for the daemon's own table to apply it.
const APPLY_WAIT: Duration = Duration::from_secs(2);

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/v1/import", post(import))
        .route(
            "/v1/tenants/{tenant}",
            put(put_tenant).get(get_tenant).delete(delete_tenant),
        )
        .route("/v1/tenants/{tenant}/users/{id}/explain", get(explain))
        .route("/v1/tenants/{tenant}/audit", get(audit_trail))
        .route(
            "/v1/tenants/{tenant}/users/{id}",
            put(put_entity::<User>).delete(delete_entity::<User>),
        )
        .route(
            "/v1/tenants/{tenant}/roles/{id}",
            put(put_entity::<CustomRole>).delete(delete_entity::<CustomRole>),
        )
        .route(
            "/v1/tenants/{tenant}/numbers/{id}",
            put(put_entity::<Number>).delete(delete_entity::<Number>),
        )
        .route(
            "/v1/tenants/{tenant}/extensions/{id}",
            put(put_entity::<Extension>).delete(delete_entity::<Extension>),
        )
        .route(
            "/v1/tenants/{tenant}/queues/{id}",
            put(put_entity::<Queue>).delete(delete_entity::<Queue>),
        )
        .route(
            "/v1/tenants/{tenant}/feature_codes/{id}",
            put(put_entity::<FeatureCode>).delete(delete_entity::<FeatureCode>),
        )
}

fn store(state: &State) -> Result<&Store, ApiError> {
    state
        .store()
        .ok_or_else(|| ApiError::Unavailable("this daemon has no store".into()))
}

/// The token a request carries, checked against the store.
async fn authenticate(state: &State, headers: &HeaderMap) -> Result<TokenInfo, ApiError> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    store(state)?
        .verify_token(secret)
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The token, if it may act on `tenant`.
async fn authorize(
    state: &State,
    headers: &HeaderMap,
    tenant: &str,
) -> Result<TokenInfo, ApiError> {
    let token = authenticate(state, headers).await?;
    match &token.tenant {
        Some(t) if t != tenant => Err(ApiError::Forbidden(tenant.to_string())),
        _ => Ok(token),
    }
}

/// The answer to a write: the revision it produced, once the local table has it.
async fn written(state: &State, revision: Option<u64>) -> Response {
    match revision {
        Some(r) => {
            let applied = state.wait_for_revision_within(r, APPLY_WAIT).await;
            (
                StatusCode::OK,
                axum::Json(json!({"changed": true, "revision": r, "applied": applied})),
            )
                .into_response()
        }
        None => (
            StatusCode::OK,
            axum::Json(json!({"changed": false, "revision": state.table().revision()})),
        )
            .into_response(),
    }
}

fn text(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))
}

async fn import(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authenticate(&state, &headers).await?;
    let tenants = callgate::directory::parse(text(&body)?).map_err(StoreError::Invalid)?;
    if let Some(scope) = &token.tenant
        && let Some(other) = tenants.iter().find(|t| &t.id != scope)
    {
        return Err(ApiError::Forbidden(other.id.clone()));
    }
    let outcome = store(&state)?.import(&tenants, &token.name).await?;
    let applied = state
        .wait_for_revision_within(outcome.revision, APPLY_WAIT)
        .await;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"import": outcome, "applied": applied})),
    )
        .into_response())
}

async fn put_tenant(
    Extract(state): Extract<State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authorize(&state, &headers, &tenant).await?;
    let mut new = callgate::directory::parse_tenant(text(&body)?).map_err(StoreError::Invalid)?;
    if new.id != tenant {
        return Err(ApiError::BadRequest(format!(
            "the body is tenant `{}`, the path `{tenant}`",
            new.id
        )));
    }
    let revision = store(&state)?
        .update_tenant(&tenant, true, &token.name, move |t| {
            *t = std::mem::take(&mut new);
            Ok(())
        })
        .await?;
    Ok(written(&state, revision).await)
}

async fn get_tenant(
    Extract(state): Extract<State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &tenant).await?;
    let found = store(&state)?.load_tenant(&tenant).await?;
    let t = found.ok_or_else(|| ApiError::NotFound(format!("tenant `{tenant}`")))?;
    Ok(axum::Json(t).into_response())
}

async fn delete_tenant(
    Extract(state): Extract<State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = authorize(&state, &headers, &tenant).await?;
    match store(&state)?.delete_tenant(&tenant, &token.name).await? {
        Some(r) => Ok(written(&state, Some(r)).await),
        None => Err(ApiError::NotFound(format!("tenant `{tenant}`"))),
    }
}

async fn explain(
    Extract(state): Extract<State>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &tenant).await?;
    let e = state
        .table()
        .explain(&tenant, &id)
        .ok_or_else(|| ApiError::NotFound(format!("user `{id}`")))?;
    Ok(axum::Json(e).into_response())
}

/// `GET /v1/tenants/{t}/audit` filters: times in ms since the epoch.
#[derive(serde::Deserialize)]
struct AuditParams {
    since: Option<i64>,
    until: Option<i64>,
    principal: Option<String>,
    kind: Option<String>,
    decision: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn audit_trail(
    Extract(state): Extract<State>,
    Path(tenant): Path<String>,
    Query(p): Query<AuditParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &tenant).await?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let query = crate::store::AuditQuery {
        tenant,
        since_ms: p.since,
        until_ms: p.until,
        principal: p.principal,
        kind: p.kind,
        decision: p.decision,
        after: p.after,
        limit,
    };
    let rows = store(&state)?.query_audit(&query).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.cursor.clone()))
        .flatten();
    Ok(axum::Json(json!({ "records": rows, "next": next })).into_response())
}

/// A kind of thing inside a tenant that the admin API writes one at a time.
trait Entity: DeserializeOwned + Send + 'static {
    /// Its kind.
    const KIND: Kind;
    /// The name of its key field in the directory format.
    const KEY_FIELD: &'static str = "id";
    /// Its key.
    fn key(&self) -> &str;
    /// Sets its key from the path.
    fn set_key(&mut self, key: String);
    /// It, as the engine's one entity.
    fn into_entity(self) -> edit::Entity;
}

/// Implements [`Entity`] for a model type: its kind, the field that is its key, and its name
/// in the directory format when that is not `id`.
macro_rules! entity {
    ($type:ty, $kind:ident, $key:ident $(, $field:literal)?) => {
        impl Entity for $type {
            const KIND: Kind = Kind::$kind;
            $(const KEY_FIELD: &'static str = $field;)?
            fn key(&self) -> &str {
                &self.$key
            }
            fn set_key(&mut self, key: String) {
                self.$key = key;
            }
            fn into_entity(self) -> edit::Entity {
                edit::Entity::$kind(self)
            }
        }
    };
}

entity!(User, User, id);
entity!(CustomRole, Role, id);
entity!(Number, Number, number, "number");
entity!(Extension, Extension, ext, "ext");
entity!(Queue, Queue, id);
entity!(FeatureCode, FeatureCode, code, "code");

/// The body's key, if it names one, must be the path's.
fn with_key<E: Entity>(mut item: E, key: String) -> Result<E, ApiError> {
    if !item.key().is_empty() && item.key() != key {
        return Err(ApiError::BadRequest(format!(
            "the body is {} `{}`, the path `{key}`",
            E::KIND.what(),
            item.key()
        )));
    }
    item.set_key(key);
    Ok(item)
}

/// Parses an entity body, filling its key from the path when the body leaves it out.
fn parse_entity<E: Entity>(body: &[u8], key: &str) -> Result<E, ApiError> {
    let mut value: serde_json::Value = parse_json(body)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.entry(E::KEY_FIELD)
            .or_insert_with(|| serde_json::Value::from(key));
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    parse_json(&bytes)
}

async fn put_entity<E: Entity>(
    Extract(state): Extract<State>,
    Path((tenant, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authorize(&state, &headers, &tenant).await?;
    let item = with_key(parse_entity::<E>(&body, &key)?, key)?;
    let revision = store(&state)?
        .edit(&tenant, &token.name, Edit::Put(item.into_entity()))
        .await?;
    Ok(written(&state, revision).await)
}

async fn delete_entity<E: Entity>(
    Extract(state): Extract<State>,
    Path((tenant, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = authorize(&state, &headers, &tenant).await?;
    let revision = store(&state)?
        .edit(&tenant, &token.name, Edit::Delete(E::KIND, key))
        .await?;
    Ok(written(&state, revision).await)
}
