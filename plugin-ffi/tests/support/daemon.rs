//! A live daemon for the plugin's tests: the demo directory (or any table) on loopback ports
//! with its feed on a Unix socket, started in-process; and where the built library is.
#![allow(dead_code, reason = "each test binary uses part of this")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use callgate_daemon::config::{Config, Peers};
use callgate_daemon::serve::{DEMO_DIRECTORY, Daemon};
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use callgate_ffi::engine::model::Tenant;

/// The demo directory's tenants.
pub fn demo_tenants() -> Vec<Tenant> {
    callgate_ffi::engine::directory::parse(DEMO_DIRECTORY).expect("demo directory")
}

/// The demo directory in a table at revision 1, and the table's writer.
pub fn demo_writer() -> Arc<Writer> {
    Arc::new(Writer::with_tenants(&demo_tenants(), 1))
}

/// The demo's `acme` with bob's number grant (`+15550100000`) taken away.
pub fn acme_without_bobs_number() -> Tenant {
    let mut acme = demo_tenants()
        .into_iter()
        .find(|t| t.id == "acme")
        .expect("acme");
    acme.users
        .iter_mut()
        .find(|u| u.id == "bob")
        .expect("bob")
        .grants
        .numbers
        .clear();
    acme
}

/// The demo's `acme` as it is.
pub fn acme() -> Tenant {
    demo_tenants()
        .into_iter()
        .find(|t| t.id == "acme")
        .expect("acme")
}

/// A daemon over the table `writer` writes, on ephemeral loopback ports, feeding replicas at
/// `feed`.
pub async fn start(feed: &Path, writer: Arc<Writer>) -> Daemon {
    let config = Config {
        http: "127.0.0.1:0".parse().expect("addr"),
        sip: "127.0.0.1:0".parse().expect("addr"),
        feed: Some(feed.to_path_buf()),
        ..Config::default()
    };
    let state = State::new(
        writer,
        None,
        Peers::parse(&["127.0.0.1"]).expect("peers"),
        Duration::from_millis(200),
    );
    state.set_ready();
    Daemon::bind(&config, state).await.expect("daemon binds")
}

/// A tokio runtime for a daemon inside a plain `#[test]` (the C program and Kamailio run as
/// child processes the test drives synchronously).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A directory holding this build's library under its installed names, `libcallgate.so` and
/// `libcallgate.a` (its soname is `libcallgate.so`), as links to what cargo built:
/// `libcallgate_ffi.*` in the test executable's own `deps/`, where cargo builds the library
/// with all its crate types for the tests (it copies them up to the profile directory only
/// when the library itself is asked for).
pub fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let deps = exe.parent().expect("deps directory").to_path_buf();
    let candidates = [
        deps.clone(),
        deps.parent().map(Path::to_path_buf).unwrap_or_default(),
    ];
    let built = candidates
        .into_iter()
        .find(|d| d.join("libcallgate_ffi.so").exists())
        .unwrap_or_else(|| {
            panic!(
                "no libcallgate_ffi.so in {} or its parent: cargo test -p callgate-ffi builds it",
                deps.display()
            )
        });
    // Several test binaries, and several tests of one binary (one process id), may do this at
    // once: each link is made under a name of its own (process and call), then renamed into
    // place (a rename replaces atomically).
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = built.join("libcallgate");
    std::fs::create_dir_all(&dir).expect("library link directory");
    for (name, target) in [
        ("libcallgate.so", "libcallgate_ffi.so"),
        ("libcallgate.a", "libcallgate_ffi.a"),
    ] {
        let temp = dir.join(format!(".{name}.{}.{call}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(built.join(target), &temp).expect("library link");
        std::fs::rename(&temp, dir.join(name)).expect("library link in place");
    }
    dir
}

/// Fails with how to install `tool` if it isn't on the PATH.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "`{tool}` is not installed: apt-get install {package} (scripts/test.sh does)"
    );
}

/// The plugin crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
