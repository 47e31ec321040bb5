//! libcallgate from C: `tests/c/host.c`, compiled with the system C compiler against
//! `include/callgate.h` and the built `libcallgate.so`, run against a live daemon that this
//! test revokes a grant on, stops and restarts while the program runs. Once natively, once
//! under valgrind (no errors, no leaks).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Compiles the host program into `dir`.
fn compile(dir: &Path) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    daemon::require(&cc, "gcc");
    let lib = daemon::library_dir();
    let exe = dir.join("host");
    let crate_dir = daemon::crate_dir();
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("tests/c/host.c"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lcallgate", "-lpthread", "-o"])
        .arg(&exe)
        .output()
        .expect("the C compiler runs");
    assert!(
        out.status.success(),
        "compiling host.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// What the C program measured.
#[derive(Debug, Default)]
struct Measured {
    /// Put on the daemon's table → the C program saw the new answer (test's clock).
    revocation: Duration,
    /// The C program's own line: from the go-ahead to the new answer, ms.
    revocation_c: String,
    stale_ms: String,
    resync_ms: String,
    threads: String,
}

fn run_host(under_valgrind: bool, iterations: u32, pause_us: u32) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let socket = dir.path().join("feed.sock");
    let rt = daemon::runtime();
    let writer = daemon::demo_writer();
    let mut d = Some(rt.block_on(daemon::start(&socket, writer.clone())));

    let mut cmd = if under_valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect,possible",
        ]);
        c.arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let mut child = cmd
        .arg(&socket)
        .arg(iterations.to_string())
        .arg(pause_us.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the host program starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(&mut stderr).lines().map_while(Result::ok) {
            eprintln!("host stderr: {line}");
            s.push_str(&line);
            s.push('\n');
        }
        s
    });

    let mut m = Measured::default();
    let mut revoked_at = None;
    let mut log = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        eprintln!("host: {line}");
        log.push_str(&line);
        log.push('\n');
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("READY"), Some("revoke")) => {
                writer.put(&daemon::acme_without_bobs_number(), 2);
                revoked_at = Some(Instant::now());
                writeln!(stdin, "go").unwrap();
            }
            (Some("SEEN"), Some("revoke")) => {
                m.revocation = revoked_at.map(|t| t.elapsed()).unwrap_or_default();
                m.revocation_c = words.next().unwrap_or_default().to_string();
            }
            (Some("READY"), Some("stop")) => {
                if let Some(d) = d.take() {
                    rt.block_on(d.shutdown());
                }
                assert!(!socket.exists(), "the daemon removes its socket");
                writeln!(stdin, "go").unwrap();
            }
            (Some("STALE"), Some(ms)) => m.stale_ms = ms.to_string(),
            (Some("READY"), Some("restart")) => {
                // The daemon comes back at a later revision, with bob's grant restored.
                let writer = daemon::demo_writer();
                writer.put(&daemon::acme(), 3);
                d = Some(rt.block_on(daemon::start(&socket, writer)));
                writeln!(stdin, "go").unwrap();
            }
            (Some("RESYNCED"), Some(ms)) => m.resync_ms = ms.to_string(),
            (Some("THREADS"), _) => m.threads = line.clone(),
            _ => {}
        }
    }
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    if let Some(d) = d.take() {
        rt.block_on(d.shutdown());
    }
    assert!(
        status.success(),
        "host program {} ({status}):\n--- stdout\n{log}--- stderr\n{stderr}",
        if under_valgrind {
            "under valgrind"
        } else {
            "natively"
        }
    );
    assert!(log.contains("DONE failures=0"), "{log}");
    if under_valgrind {
        assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
        let summary: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                l.contains("ERROR SUMMARY")
                    || l.contains("definitely lost")
                    || l.contains("in use at exit")
            })
            .collect();
        eprintln!("valgrind: {}", summary.join(" | "));
    }
    m
}

#[test]
fn a_c_program_gets_every_decision_and_survives_the_daemon_going_away() {
    let m = run_host(false, 20_000, 0);
    eprintln!(
        "native: {}; revocation seen {:.2?} after the daemon's put ({} ms after the go-ahead, C clock); \
         stale {} ms while the daemon was down; resynced {} ms after the restart",
        m.threads, m.revocation, m.revocation_c, m.stale_ms, m.resync_ms
    );
}

#[test]
fn the_c_program_runs_clean_under_valgrind() {
    daemon::require("valgrind", "valgrind");
    let m = run_host(true, 300, 2_000);
    eprintln!(
        "under valgrind: {}; revocation {:.2?}; resynced {} ms after the restart",
        m.threads, m.revocation, m.resync_ms
    );
}
