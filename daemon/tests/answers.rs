//! The daemon's answers to the demo directory, byte for byte, against a record made by the
//! daemon before the five checks became one `Check` (commit 93c1771): every HTTP answer body
//! and every SIP answer to thousands of questions built from `examples/demo.yaml` must be
//! exactly what that daemon sent.
//!
//! The record is `tests/golden/demo-answers.txt`: one 48-bit digest of each answer (status
//! line and body; the whole SIP message with the asker's port masked), in question order. To
//! make it again from some binary:
//! `CALLGATE_BIN=path/to/callgate CALLGATE_GOLDEN_WRITE=daemon/tests/golden/demo-answers.txt
//! cargo test --release -p callgate-daemon --test answers`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/served.rs"]
mod served;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callgate::{Action, Category, Directory};
use serde_json::json;

const GOLDEN: &str = "tests/golden/demo-answers.txt";

/// Every question: the HTTP path and body, or a SIP INVITE (`sip` as the path).
fn questions(directory: &Directory) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for t in &directory.tenants {
        let tenant = t.id.as_str();
        let users: Vec<&str> = t
            .users
            .iter()
            .map(|u| u.id.as_str())
            .chain(["nobody"])
            .collect();
        let numbers: Vec<Option<&str>> = t
            .numbers
            .iter()
            .map(|n| Some(n.number.as_str()))
            .chain([None, Some("+19995550000"), Some("15550100000")])
            .collect();
        let queues: Vec<&str> = t
            .queues
            .iter()
            .flat_map(|q| [Some(q.id.as_str()), q.number.as_deref()])
            .flatten()
            .chain(["noqueue"])
            .collect();
        let exts: Vec<&str> = t
            .extensions
            .iter()
            .map(|e| e.ext.as_str())
            .chain(["999"])
            .collect();
        let sites: Vec<&str> = t
            .sites
            .iter()
            .map(|s| s.id.as_str())
            .chain(["nosite"])
            .collect();
        let codes: Vec<String> = t
            .feature_codes
            .iter()
            .map(|c| c.code.clone())
            .chain(
                [
                    "*46*201*600",
                    "*46*201*sales",
                    "*72*5551234",
                    "*98",
                    "*99",
                    "*46",
                    "911",
                ]
                .map(String::from),
            )
            .collect();
        for user in &users {
            for requested in &numbers {
                for dialed in ["5551234", "911", "tel:933", "sip:112@x;user=phone"] {
                    out.push((
                        "/v1/check/caller-id",
                        json!({"tenant": tenant, "user": user, "requested": requested,
                               "dialed": dialed, "authenticated": dialed == "911"})
                        .to_string(),
                    ));
                }
            }
            for dialed in &codes {
                out.push((
                    "/v1/check/feature-code",
                    json!({"tenant": tenant, "user": user, "dialed": dialed}).to_string(),
                ));
            }
            for agent in &users {
                for queue in &queues {
                    out.push((
                        "/v1/check/agent-pause",
                        json!({"tenant": tenant, "actor": user, "agent": agent, "queue": queue,
                               "paused": agent.len() % 2 == 0})
                        .to_string(),
                    ));
                }
            }
            for action in ["list", "play", "download", "delete"] {
                let mut recordings = vec![json!({})];
                recordings.extend(queues.iter().map(|q| json!({"queue": q})));
                recordings.extend(exts.iter().map(|e| json!({"extensions": [e]})));
                recordings.extend(sites.iter().map(|s| json!({"site": s})));
                recordings.extend(numbers.iter().flatten().map(|n| json!({"numbers": [n]})));
                for recording in recordings {
                    out.push((
                        "/v1/check/recording",
                        json!({"tenant": tenant, "actor": user, "action": action,
                               "recording": recording})
                        .to_string(),
                    ));
                }
            }
            for category in Category::ALL {
                for action in Action::ALL {
                    let mut resources = vec![json!({})];
                    // Resources with the two actions every scope rule is written for.
                    if matches!(action, Action::View | Action::Edit) {
                        resources.extend(sites.first().map(|s| json!({"site": s})));
                        resources.extend(queues.first().map(|q| json!({"queue": q})));
                        resources.extend(exts.first().map(|e| json!({"extension": e})));
                        resources.extend(
                            numbers
                                .iter()
                                .flatten()
                                .next()
                                .map(|n| json!({"number": n})),
                        );
                        resources.push(json!({"queue": "noqueue", "extension": "999"}));
                    }
                    for resource in resources {
                        out.push((
                            "/v1/check/permission",
                            json!({"tenant": tenant, "user": user, "category": category.as_str(),
                                   "action": action.as_str(), "resource": resource})
                            .to_string(),
                        ));
                    }
                }
            }
        }
        // SIP: each caller by extension and by proxy-asserted user, ordinary and feature calls.
        let mut call = 0;
        for u in &t.users {
            for from in u.extensions.iter().map(String::as_str).chain(["999"]) {
                for asserted in [None, Some(u.id.as_str())] {
                    for dialed in ["5551234", "911", "*46*201*600", "*72*5551234", "*9%2A"] {
                        for requested in numbers.iter().take(3) {
                            call += 1;
                            let mut extra = String::new();
                            if let Some(user) = asserted {
                                extra.push_str(&format!("X-Callgate-User: {user}\r\n"));
                            }
                            if let Some(n) = requested {
                                extra.push_str(&format!(
                                    "P-Preferred-Identity: <sip:{n}@{tenant}>\r\n"
                                ));
                            }
                            out.push((
                                "sip",
                                format!(
                                    "INVITE sip:{dialed}@{tenant} SIP/2.0\r\n\
                                     Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{tenant}-{call}\r\n\
                                     Max-Forwards: 70\r\n\
                                     From: <sip:{from}@{tenant}>;tag=f{call}\r\n\
                                     To: <sip:{dialed}@{tenant}>\r\n\
                                     Call-ID: {tenant}-{call}\r\n\
                                     CSeq: 1 INVITE\r\n\
                                     {extra}\
                                     Content-Length: 0\r\n\r\n"
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The body of a `POST`'s answer, with its status.
fn post(port: u16, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    format!("{} {body}", head.lines().next().unwrap_or(""))
}

/// The SIP answer to `invite`, with the one thing a run changes (the asker's port) masked.
fn ask_sip(socket: &UdpSocket, invite: &str) -> String {
    socket.send(invite.as_bytes()).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let port = socket.local_addr().unwrap().port().to_string();
    text.replace(&format!("rport={port}"), "rport=PORT")
}

#[test]
fn the_demo_directorys_answers_are_byte_for_byte_what_they_were() {
    let directory: Directory =
        serde_yaml_ng::from_str(callgate_daemon::serve::DEMO_DIRECTORY).unwrap();
    let questions = questions(&directory);
    assert!(questions.len() > 10_000, "{} questions", questions.len());

    let dir = tempfile::tempdir().unwrap();
    let http = served::free_port();
    let sip = served::free_port();
    let config = dir.path().join("callgate.toml");
    std::fs::write(
        &config,
        format!(
            "demo = true\nhttp = \"127.0.0.1:{http}\"\nsip = \"127.0.0.1:{sip}\"\npeers = [\"127.0.0.1/32\"]\n"
        ),
    )
    .unwrap();
    let bin = std::env::var_os("CALLGATE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_callgate")),
        PathBuf::from,
    );
    let log = dir.path().join("serve.log");
    let mut child = Command::new(bin)
        .arg("--db")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("store.db").display()
        ))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Ready once a check is answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            Instant::now() < deadline,
            "never listened: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", sip)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let mut answers = String::new();
    let mut asked = Vec::new();
    for (path, question) in &questions {
        let answer = if *path == "sip" {
            ask_sip(&socket, question)
        } else {
            post(http, path, question)
        };
        answers.push_str(&format!("{:012x}\n", digest(answer.as_bytes())));
        asked.push((path, question, answer));
    }
    let _ = child.kill();
    let _ = child.wait();

    if let Some(out) = std::env::var_os("CALLGATE_GOLDEN_WRITE") {
        std::fs::write(out, &answers).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    assert_eq!(
        golden.lines().count(),
        answers.lines().count(),
        "a different number of questions"
    );
    let differing: Vec<String> = golden
        .lines()
        .zip(answers.lines())
        .zip(&asked)
        .filter(|((want, got), _)| want != got)
        .map(|(_, (path, question, answer))| format!("{path} {question}\n => {answer:?}"))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} answers differ from the record; the first:\n{}",
        differing.len(),
        asked.len(),
        differing
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// 48 bits of FNV-1a: stable across Rust releases, so the record stays comparable.
fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h >> 16
}
