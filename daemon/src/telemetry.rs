//! Metrics (Prometheus text at `GET /metrics`) and log set-up.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Checks answered, by `kind` and `decision`.
pub const CHECKS: &str = "callgate_checks_total";
/// Time to decide a check, by `kind` (seconds).
pub const CHECK_SECONDS: &str = "callgate_check_duration_seconds";
/// SIP requests, by `method` and `answer` (status code, or `absorbed` / `dropped`).
pub const SIP_REQUESTS: &str = "callgate_sip_requests_total";
/// SIP datagrams or frames dropped unanswered, by `why`.
pub const SIP_DROPPED: &str = "callgate_sip_dropped_total";
/// The grant table's revision.
pub const TABLE_REVISION: &str = "callgate_table_revision";
/// Replica clients on the feed.
pub const FEED_CLIENTS: &str = "callgate_feed_clients";
/// HTTP requests by route and status.
pub const HTTP_REQUESTS: &str = "callgate_http_requests_total";
/// Emergency calls, by how the caller was `presented`: `own_number` (a number the caller may
/// present), `callback` (an emergency callback number), `none` (no number anywhere).
pub const EMERGENCY_CALLS: &str = "callgate_emergency_calls_total";
/// Decision records waiting in the audit queue.
pub const AUDIT_QUEUE: &str = "callgate_audit_queue_depth";
/// Revisions the table has that the feed has not sent yet.
pub const FEED_LAG: &str = "callgate_feed_lag_revisions";
/// The most frames any one feed client has queued (a replica falling behind).
pub const FEED_QUEUE_MAX: &str = "callgate_feed_queue_frames_max";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls share it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2, 1e-1,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(CHECK_SECONDS.into()),
                    &buckets,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Counts one check and its latency.
pub fn record_check(kind: &'static str, decision: &'static str, took: Duration) {
    metrics::counter!(CHECKS, "kind" => kind, "decision" => decision).increment(1);
    metrics::histogram!(CHECK_SECONDS, "kind" => kind).record(took.as_secs_f64());
}

/// Counts an emergency call by how its caller was presented (nothing for other calls).
pub fn record_caller_id(reason: callgate::Reason) {
    let presented = match reason {
        callgate::Reason::EmergencyCall => "own_number",
        callgate::Reason::EmergencyCallback => "callback",
        callgate::Reason::EmergencyNoCallerId => "none",
        _ => return,
    };
    metrics::counter!(EMERGENCY_CALLS, "presented" => presented).increment(1);
}

/// Sets up tracing: `RUST_LOG`-style filter (default `info`), text or JSON lines.
pub fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
