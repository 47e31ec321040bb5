//! A real Postgres for tests and benches: a cluster made with `initdb` in a temp dir and run on
//! a free loopback port (as the `postgres` user when running as root), or the server
//! `CALLGATE_TEST_POSTGRES` points at (`postgres://USER:PASSWORD@HOST:PORT/DB`, a user that may
//! create databases). One shared server per test binary, a fresh database per test.
//!
//! The server is watched by a small shell loop that stops it (and deletes its directory) once
//! the process that started it has exited, so `cargo test` never leaves one running.
#![allow(dead_code, reason = "each test binary uses part of this")]
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a step that fails fails the test, with its message"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// Runs the server, then stops it when `$1` (the test process) is gone or the server stops on
/// its own (`pg_ctl stop`); removes the cluster only in the first case.
const WATCH: &str = r#"
test_pid="$1"; dir="$2"; bin="$3"; port="$4"
"$bin/postgres" -D "$dir/data" -p "$port" -k "$dir/sock" \
    -c listen_addresses=127.0.0.1 -c max_connections=300 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    >>"$dir/postgres.log" 2>&1 &
pg=$!
while [ -e "/proc/$test_pid" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.2; done
if kill -0 "$pg" 2>/dev/null; then kill -INT "$pg"; wait "$pg"; fi
[ -e "/proc/$test_pid" ] || rm -rf "$dir"
"#;

/// A Postgres server this process started.
pub struct Server {
    /// Its loopback TCP port.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    watcher: Mutex<Option<Child>>,
}

/// The newest `/usr/lib/postgresql/*/bin` that has `initdb`.
fn binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "the Postgres tests need a PostgreSQL server: no initdb under /usr/lib/postgresql/*/bin. \
             Install it with `apt-get install postgresql`, or point CALLGATE_TEST_POSTGRES at a \
             server (postgres://USER:PASSWORD@HOST:PORT/postgres)"
        ),
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// A new cluster in a temp dir, started on a free port.
    pub fn start() -> Server {
        let bin = binaries();
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("callgate-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::create_dir(dir.join("sock")).expect("socket dir");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "chown of {} to postgres failed",
                dir.display()
            );
        }
        let mut server = Server {
            port: 0,
            dir,
            bin,
            as_postgres,
            watcher: Mutex::new(None),
        };
        let output = server
            .command(&server.bin.join("initdb"))
            .arg("-D")
            .arg(server.dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .expect("initdb runs");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for _attempt in 0..5 {
            server.port = free_port();
            if server.run() {
                return server;
            }
        }
        panic!("postgres did not start; its log: {}", server.log());
    }

    /// `program` as the user that owns the cluster.
    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// Starts the server (under its watcher) and waits until it accepts connections; whether
    /// it did.
    fn run(&self) -> bool {
        let watcher = self
            .command(Path::new("/bin/sh"))
            .arg("-c")
            .arg(WATCH)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(&self.dir)
            .arg(&self.bin)
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the postgres watcher starts");
        let mut slot = self.watcher.lock().expect("watcher lock");
        let watcher = slot.insert(watcher);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(watcher.try_wait(), Ok(Some(_))) {
                return false;
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-p",
                    &self.port.to_string(),
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits until it has.
    pub fn stop(&self) {
        let status = self
            .command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "fast", "-w"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl stop failed; log: {}", self.log());
        if let Some(mut w) = self.watcher.lock().expect("watcher lock").take() {
            let _ = w.wait();
        }
    }

    /// Starts the stopped server again, on the same port with the same data.
    pub fn restart(&self) {
        assert!(
            self.run(),
            "postgres did not restart; its log: {}",
            self.log()
        );
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let running = self
            .watcher
            .get_mut()
            .ok()
            .and_then(|w| w.as_mut())
            .is_some_and(|w| matches!(w.try_wait(), Ok(None)));
        if running {
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server every test of this binary shares: ours, or `CALLGATE_TEST_POSTGRES`'s.
enum Shared {
    Ours(Server),
    Theirs(String),
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("CALLGATE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Shared::Theirs(url),
        _ => Shared::Ours(Server::start()),
    })
}

/// `url` with its database name replaced by `db` (query string kept).
fn with_database(url: &str, db: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let (base, rest) = match url[authority..].find('/') {
        Some(i) => url.split_at(authority + i),
        None => (url, ""),
    };
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    format!("{base}/{db}{query}")
}

/// Creates database `db` (dropping any old one by that name) on the server `admin_url` points
/// at; returns its URL.
pub async fn create_database(admin_url: &str, db: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to the Postgres test server");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop database");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    admin.close().await.expect("close");
    with_database(admin_url, db)
}

/// A fresh, empty database on the shared server; its URL.
pub async fn database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "cg_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = match shared() {
        Shared::Ours(server) => server.url("postgres"),
        Shared::Theirs(url) => url.clone(),
    };
    create_database(&admin, &db).await
}
