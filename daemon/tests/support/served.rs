//! `callgate serve --config FILE` as a child process (the real binary, with its signal
//! handling), for tests of what only the binary does: SIGHUP reloads.
#![allow(dead_code, reason = "each test binary uses part of this")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test support: a step that fails is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `callgate serve`; killed when dropped.
pub struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    /// Starts `callgate --db sqlite://DIR/store.db serve --config CONFIG`, its stderr in
    /// `dir/serve.log`.
    pub fn start(dir: &Path, config: &Path) -> Served {
        let log = dir.join("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_callgate"))
            .arg("--db")
            .arg(format!("sqlite://{}", dir.join("store.db").display()))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Served { child, log }
    }

    /// Sends it SIGHUP.
    pub fn hup(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits (up to 60 s) until its log has said `what` `times` times.
    pub fn logged(&self, what: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.matches(what).count() >= times {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the daemon never logged {what:?}:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (for a config file that names its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
