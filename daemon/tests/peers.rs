//! callgate against real SIP peers: sipp as a client straight to callgate, and
//! sipp → Kamailio → callgate → Kamailio → sipp UAS, with the scenarios and the Kamailio
//! config of `examples/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn require(tool: &str, package: &str) {
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

fn free_port() -> u16 {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    // Make sure TCP is free on the same port too (Kamailio listens on both).
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(|_| port)
        .unwrap_or_else(|_| free_port())
}

/// Runs a sipp UAC scenario for one call; its exit code (0 = the call went as the scenario
/// says) and its log.
fn sipp(scenario: &str, target: u16, vars: &[(&str, &str)], extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sipp.log");
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf").arg(examples().join("sipp").join(scenario));
    cmd.args([
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
        "-nostdin",
    ]);
    cmd.args([
        "-timeout",
        "15s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
    ])
    .arg(&log);
    for (k, v) in vars {
        cmd.args(["-set", k, v]);
    }
    cmd.args(extra);
    cmd.arg(format!("127.0.0.1:{target}"));
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("sipp runs");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        format!("{log}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
}

async fn sipp_async(
    scenario: &'static str,
    target: u16,
    vars: Vec<(&'static str, String)>,
) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sipp(scenario, target, &vars, &[])
    })
    .await
    .unwrap()
}

fn call(user: &str, tenant: &str, ppi: &str, dialed: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tenant", tenant.into()),
        ("user", user.into()),
        ("ppi", ppi.into()),
        ("dialed", dialed.into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_gets_302_with_the_right_identity_or_403() {
    require("sipp", "sip-tester");
    let d = daemon::start(&["127.0.0.1"]).await;
    let port = d.sip.port();

    // Allowed: bob presents a number granted to him.
    let mut vars = call("bob", "acme", "+15550100000", "5551234");
    vars.push(("expect_pai", "+15550100000".into()));
    let (code, log) = sipp_async("uac_allow.xml", port, vars).await;
    assert_eq!(code, 0, "allowed call: {log}");

    // Substituted: ivan may present only his preconfigured default.
    let mut vars = call("ivan", "acme", "+15550100101", "5551234");
    vars.push(("expect_pai", "+15550100600".into()));
    let (code, log) = sipp_async("uac_allow.xml", port, vars).await;
    assert_eq!(code, 0, "substituted call: {log}");

    // The check can fail: the same call expecting the number he asked for fails.
    let mut vars = call("ivan", "acme", "+15550100101", "5551234");
    vars.push(("expect_pai", "+15550100101".into()));
    let (code, _) = sipp_async("uac_allow.xml", port, vars).await;
    assert_eq!(code, 1, "a wrong expectation must fail the scenario");

    // Denied: milton has no number access and no default.
    let (code, log) = sipp_async(
        "uac_deny.xml",
        port,
        call("milton", "initech", "+13125550000", "5551234"),
    )
    .await;
    assert_eq!(code, 0, "denied call: {log}");

    // Feature code: carol pauses bob (owner of 201) in sales (dialed as queue number 600).
    let vars = vec![
        ("tenant", "acme".to_string()),
        ("user", "carol".to_string()),
        ("dialed", "*46*201*600".to_string()),
        (
            "expect_feature",
            "queue_pause_toggle; args=201,sales".to_string(),
        ),
    ];
    let (code, log) = sipp_async("uac_feature.xml", port, vars).await;
    assert_eq!(code, 0, "feature code: {log}");

    // Emergency: a suspended user's 911 goes out with the site's callback number.
    let mut vars = call("mallory", "acme", "+15550100000", "911");
    vars.push(("expect_pai", "+15550100200".into()));
    let (code, log) = sipp_async("uac_allow.xml", port, vars).await;
    assert_eq!(code, 0, "emergency call: {log}");
    d.shutdown().await;
}

struct Reaper(Vec<Child>);
impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SIGTERM first: Kamailio's main process then stops the workers it forked (a
            // SIGKILL would orphan them).
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            for _ in 0..50 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_uas(port: u16, calls: usize, log: &Path) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(examples().join("sipp/uas_record.xml"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &calls.to_string(),
            "-nostdin",
            "-trace_logs",
            "-log_file",
        ])
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS starts")
}

fn start_kamailio(dir: &Path, listen: u16, callgate: u16, uas: u16) -> Child {
    Command::new("kamailio")
        .arg("-f")
        .arg(examples().join("kamailio/callgate-relay.cfg"))
        .args(["-DD", "-E", "-m", "32", "-M", "8"])
        .arg("-w")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("relay.pid"))
        .arg("-Y")
        .arg(dir)
        .args([
            "-A",
            &format!("LISTEN_PORT={listen}"),
            "-A",
            &format!("CALLGATE_PORT={callgate}"),
            "-A",
            &format!("UAS_PORT={uas}"),
        ])
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("kamailio.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("kamailio starts")
}

/// Waits until something answers OPTIONS on `port` (Kamailio's start-up takes a moment).
fn wait_for_options(port: u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    for i in 0..50 {
        let msg = format!(
            "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-w{i}\r\n\
             From: <sip:probe@127.0.0.1>;tag=w\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: wait-{i}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = socket.send_to(msg.as_bytes(), ("127.0.0.1", port));
        let mut buf = [0u8; 2048];
        if socket.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!("kamailio did not answer OPTIONS on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_forwards_allowed_calls_with_callgates_identity_and_rejects_denied_ones() {
    require("sipp", "sip-tester");
    require("kamailio", "kamailio");
    let d = daemon::start(&["127.0.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (relay, uas) = (free_port(), free_port());
    let uas_log = dir.path().join("uas.log");
    // The UAS expects exactly the calls callgate allows: three.
    let children = Reaper(vec![
        start_uas(uas, 3, &uas_log),
        start_kamailio(dir.path(), relay, d.sip.port(), uas),
    ]);
    tokio::task::spawn_blocking(move || wait_for_options(relay))
        .await
        .unwrap();

    let calls = [
        // (user, tenant, requested, dialed, scenario, expected PAI at the UAS)
        (
            "bob",
            "acme",
            "+15550100000",
            "5551234",
            "uac_call.xml",
            Some("<sip:+15550100000@acme>"),
        ),
        (
            "ivan",
            "acme",
            "+15550100101",
            "5551235",
            "uac_call.xml",
            Some("<sip:+15550100600@acme>"),
        ),
        (
            "milton",
            "initech",
            "+13125550000",
            "5551236",
            "uac_call_denied.xml",
            None,
        ),
        (
            "mallory",
            "acme",
            "+15550100000",
            "911",
            "uac_call.xml",
            Some("<sip:+15550100200@acme>"),
        ),
    ];
    for (user, tenant, ppi, dialed, scenario, _) in calls {
        let (code, log) = sipp_async(scenario, relay, call(user, tenant, ppi, dialed)).await;
        assert_eq!(code, 0, "{user}@{tenant} → {dialed} via Kamailio: {log}");
    }
    // What the UAS saw: every allowed call, with callgate's identity; never the denied one.
    let mut seen = String::new();
    for _ in 0..50 {
        seen = std::fs::read_to_string(&uas_log).unwrap_or_default();
        if seen.matches("RECEIVED").count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received: Vec<&str> = seen.lines().filter(|l| l.contains("RECEIVED")).collect();
    assert_eq!(received.len(), 3, "{seen}");
    for (_, _, _, dialed, _, pai) in calls {
        let line = received
            .iter()
            .find(|l| l.contains(&format!("ruri=sip:{dialed}@")));
        match pai {
            Some(pai) => {
                let line = line
                    .unwrap_or_else(|| panic!("the UAS never saw the call to {dialed}: {seen}"));
                assert!(line.contains(&format!("pai={pai} ")), "{line}");
                assert!(
                    !line.contains("ppi=<"),
                    "the caller's preferred identity must not reach the UAS: {line}"
                );
            }
            None => assert!(line.is_none(), "a denied call reached the UAS: {seen}"),
        }
    }
    drop(children);
    d.shutdown().await;
}
