//! What a request must pass before its handler runs: a check must come from an allowed
//! address (else 403, not audited) and, if configured, carry a valid token; an admin request
//! must carry a valid token before its body is read. Every body is read here, within its
//! size limit (413) and the body timeout (408), so a handler only ever sees a whole one.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as Extract};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::ApiError;
use super::listener::peer_of;
use crate::state::State;
use crate::store::TokenInfo;

/// Checks refused before they were decided, by `why` (`peer`, `token`).
pub const CHECKS_REFUSED: &str = "callgate_http_checks_refused_total";

/// Who asked a check: the token it carried, if tokens are required.
#[derive(Clone, Debug, Default)]
pub(super) struct Caller {
    token: Option<TokenInfo>,
}

impl Caller {
    /// Refuses a check of `tenant` that the caller's token may not ask.
    pub(super) fn may_check(&self, tenant: &str) -> Result<(), ApiError> {
        match self.token.as_ref().and_then(|t| t.tenant.as_deref()) {
            Some(scope) if scope != tenant => Err(ApiError::CheckForbidden),
            _ => Ok(()),
        }
    }
}

/// The check routes' guard.
pub(super) async fn check(Extract(state): Extract<State>, req: Request, next: Next) -> Response {
    match admit_check(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn admit_check(state: &State, mut req: Request) -> Result<Request, ApiError> {
    let limits = state.http().limits();
    if !peer_of(&req).is_some_and(|p| limits.check_peers.allows(p.ip())) {
        metrics::counter!(CHECKS_REFUSED, "why" => "peer").increment(1);
        return Err(ApiError::PeerRefused);
    }
    let token = if limits.check_token_required {
        let token = authenticate(state, req.headers()).await.inspect_err(|_| {
            metrics::counter!(CHECKS_REFUSED, "why" => "token").increment(1);
        })?;
        Some(token)
    } else {
        None
    };
    req.extensions_mut().insert(Caller { token });
    buffered(req, limits.check_body, limits.body_timeout).await
}

/// The admin routes' guard: a valid token before any of the body is read, and at most a
/// few admin bodies read at once.
pub(super) async fn admin(Extract(state): Extract<State>, req: Request, next: Next) -> Response {
    match admit_admin(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn admit_admin(state: &State, req: Request) -> Result<Request, ApiError> {
    authenticate(state, req.headers()).await?;
    let limits = state.http().limits();
    if body_is_empty(&req) {
        return Ok(req);
    }
    let bodies = state.http().admin_bodies();
    let permit = tokio::time::timeout(limits.body_timeout, bodies.acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|_| ApiError::Busy)?;
    let req = buffered(req, limits.admin_body, limits.body_timeout).await;
    drop(permit);
    req
}

fn body_is_empty(req: &Request) -> bool {
    content_length(req.headers()) == Some(0)
        || (req.headers().get(header::CONTENT_LENGTH).is_none()
            && req.headers().get(header::TRANSFER_ENCODING).is_none())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The request with its body read whole: at most `limit` bytes, within `timeout`.
async fn buffered(req: Request, limit: usize, timeout: Duration) -> Result<Request, ApiError> {
    if content_length(req.headers()).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    match read {
        Err(_) => Err(ApiError::Timeout),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::TooLarge(limit))
        }
        Ok(Err(_)) => Err(ApiError::BadRequest("the body could not be read".into())),
        Ok(Ok(body)) => Ok(Request::from_parts(parts, Body::from(body.to_bytes()))),
    }
}

/// The token a request carries, checked against the store (or a recent check of it).
pub(super) async fn authenticate(
    state: &State,
    headers: &HeaderMap,
) -> Result<TokenInfo, ApiError> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    let settings = state.http();
    if let Some(token) = settings.cached_token(secret) {
        return Ok(token);
    }
    let store = state
        .store()
        .ok_or_else(|| ApiError::Unavailable("this daemon has no store".into()))?;
    let token = store
        .verify_token(secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    settings.cache_token(secret, &token);
    Ok(token)
}
