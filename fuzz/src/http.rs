//! HTTP check invariants, shared by the `http_check` fuzz target and
//! `daemon/tests/fuzz_replay.rs` (which includes this file by `#[path]`): a check body gets
//! 200 or a 4xx (never a 5xx), a 200 is a decision with a reason, an error names what is
//! wrong without a control character, an emergency caller-ID check is never denied (nor
//! refused when its fields are well-formed), and a caller ID is a number the tenant owns.
//!
//! Input: byte 0 picks the route (mod 5), the rest is the body, sent from 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use callgate_daemon::config::Peers;
use callgate_daemon::serve::DEMO_DIRECTORY;
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The check routes, in the order byte 0 picks them.
pub const ROUTES: [&str; 5] = [
    "/v1/check/caller-id",
    "/v1/check/agent-pause",
    "/v1/check/recording",
    "/v1/check/feature-code",
    "/v1/check/permission",
];

struct Demo {
    state: State,
    tenants: Vec<callgate::Tenant>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let tenants = callgate::directory::parse(DEMO_DIRECTORY).expect("demo directory parses");
        let writer = Arc::new(Writer::with_tenants(&tenants, 1));
        let peers = Peers::parse(&["127.0.0.1"]).expect("loopback is a peer list");
        // A `min_revision` past the table's waits this long: keep fuzzing fast.
        let state = State::new(writer, None, peers, Duration::from_millis(1));
        state.set_ready();
        Demo { state, tenants }
    })
}

/// A well-formed caller-ID check, as the daemon's own request type reads it.
#[derive(serde::Deserialize)]
struct CallerId {
    tenant: String,
    user: String,
    #[serde(default)]
    requested: Option<String>,
    dialed: String,
    #[serde(default)]
    #[allow(dead_code, reason = "read only to match the daemon's shape")]
    min_revision: Option<u64>,
}

fn well_formed(s: &str) -> bool {
    s.len() <= 256 && !s.chars().any(char::is_control)
}

/// Sends one check and checks every invariant of its answer.
pub fn check_http(data: &[u8]) {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    let path = ROUTES[usize::from(route) % ROUTES.len()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (status, bytes) = runtime.block_on(async {
        let app = callgate_daemon::http::app(demo().state.clone());
        let req = Request::builder()
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))))
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let resp = app.oneshot(req).await.expect("the router is infallible");
        for (name, value) in resp.headers() {
            assert!(
                !value.as_bytes().iter().any(|b| *b < 0x20 && *b != b'\t'),
                "control character in response header `{name}`"
            );
        }
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("a body").to_bytes();
        (status, bytes)
    });
    assert!(
        status == 200 || status == 400 || status == 413,
        "{path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let answer: Value = serde_json::from_slice(&bytes).expect("every answer is JSON");
    if status != 200 {
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .expect("an error says what");
        assert!(!error.is_empty(), "an empty error");
        assert!(
            !error.chars().any(char::is_control),
            "control character in an error: {error:?}"
        );
    } else {
        let decision = answer.get("decision").and_then(Value::as_str);
        assert!(
            matches!(decision, Some("allow" | "substitute" | "deny")),
            "decision {decision:?}"
        );
        assert!(
            answer
                .get("reason")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty()),
            "a decision without a reason"
        );
    }
    if path != ROUTES[0] {
        return;
    }
    let Ok(ask) = serde_json::from_slice::<CallerId>(body) else {
        return;
    };
    let emergency = demo().state.table().is_emergency(&ask.tenant, &ask.dialed);
    let fields_ok = well_formed(&ask.tenant)
        && well_formed(&ask.user)
        && well_formed(&ask.dialed)
        && ask.requested.as_deref().is_none_or(well_formed);
    if emergency && fields_ok {
        assert_eq!(status, 200, "an emergency check was refused");
    }
    if status != 200 {
        return;
    }
    let decision = answer.get("decision").and_then(Value::as_str);
    if emergency {
        assert_ne!(decision, Some("deny"), "an emergency call was denied");
    }
    if let Some(number) = answer.get("caller_id").and_then(Value::as_str) {
        assert_ne!(decision, Some("deny"), "a caller ID on a denial");
        let owned = demo()
            .tenants
            .iter()
            .find(|t| t.id == ask.tenant)
            .is_some_and(|t| t.numbers.iter().any(|n| n.number == number));
        assert!(owned, "caller ID `{number}` is not `{}`'s", ask.tenant);
    }
}
