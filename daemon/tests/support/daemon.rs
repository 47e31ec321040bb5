//! Starts a daemon on loopback ports over the demo directory (no store), for tests that
//! talk to its real sockets.
#![allow(dead_code, reason = "each test binary uses part of this")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a step that fails is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use callgate_daemon::config::{Config, Peers};
use callgate_daemon::serve::{DEMO_DIRECTORY, Daemon};
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;

/// The demo directory in a table at revision 1, and the table's writer.
pub fn demo_writer() -> Arc<Writer> {
    let tenants = callgate::directory::parse(DEMO_DIRECTORY).expect("demo directory");
    Arc::new(Writer::with_tenants(&tenants, 1))
}

/// State over the demo table, answering SIP from `peers`.
pub fn demo_state(peers: &[&str]) -> State {
    let state = State::new(
        demo_writer(),
        None,
        Peers::parse(peers).expect("peers"),
        Duration::from_millis(200),
    );
    state.set_ready();
    state
}

/// A daemon on ephemeral loopback ports over the demo table.
pub async fn start(peers: &[&str]) -> Daemon {
    start_with(peers, |_| {}).await
}

/// A daemon on ephemeral loopback ports over the demo table, with `tweak` applied to its
/// config (limits, …).
pub async fn start_with(peers: &[&str], tweak: impl FnOnce(&mut Config)) -> Daemon {
    let mut config = Config {
        http: "127.0.0.1:0".parse().expect("addr"),
        sip: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    };
    tweak(&mut config);
    Daemon::bind(&config, demo_state(peers))
        .await
        .expect("daemon binds")
}

/// This process's resident set size in KiB (`VmRSS` in `/proc/self/status`), if readable.
pub fn rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
