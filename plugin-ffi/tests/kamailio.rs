//! libcallgate inside a real PBX: Kamailio with its Python 3 KEMI
//! (`examples/kamailio/callgate-kemi.cfg` + `callgate_kemi.py`) loads the built
//! `libcallgate.so` through ctypes, replicates a live daemon's table over the feed socket, and
//! decides each INVITE's caller ID in-process; sipp places the calls and plays the UAS.
//! Needs `kamailio`, `kamailio-python3-modules` and `sip-tester` (scripts/test.sh installs them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn examples() -> PathBuf {
    daemon::crate_dir().join("../examples")
}

fn free_port() -> u16 {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    // Kamailio listens on TCP too.
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(|_| port)
        .unwrap_or_else(|_| free_port())
}

/// Runs one sipp UAC call; its exit code (0 = the call went as the scenario says) and log.
fn sipp(scenario: &str, target: u16, vars: &[(&str, &str)]) -> (i32, String) {
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

struct Reaper(Vec<Child>);
impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
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

fn start_kamailio(dir: &Path, listen: u16, uas: u16, feed: &Path) -> Child {
    let script = examples().join("kamailio/callgate_kemi.py");
    Command::new("kamailio")
        .arg("-f")
        .arg(examples().join("kamailio/callgate-kemi.cfg"))
        .args(["-DD", "-E", "-m", "32", "-M", "8"])
        .arg("-w")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kemi.pid"))
        .arg("-Y")
        .arg(dir)
        .args([
            "-A",
            &format!("LISTEN_PORT={listen}"),
            "-A",
            &format!("UAS_PORT={uas}"),
        ])
        .args([
            "-A",
            &format!("CALLGATE_KEMI_SCRIPT=\"{}\"", script.display()),
        ])
        .env("CALLGATE_FEED", feed)
        .env(
            "CALLGATE_LIBRARY",
            daemon::library_dir().join("libcallgate.so"),
        )
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("kamailio.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("kamailio starts")
}

/// Waits until something answers OPTIONS on `port`.
fn wait_for_options(port: u16, log: &Path) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    for i in 0..75 {
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
    panic!(
        "kamailio did not answer OPTIONS on port {port}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn call(user: &str, tenant: &str, ppi: &str, dialed: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tenant", tenant.into()),
        ("user", user.into()),
        ("ppi", ppi.into()),
        ("dialed", dialed.into()),
    ]
}

fn place(scenario: &str, port: u16, vars: &[(&'static str, String)]) -> (i32, String) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sipp(scenario, port, &vars)
}

#[test]
fn kamailio_decides_caller_ids_in_process_with_libcallgate() {
    daemon::require("sipp", "sip-tester");
    daemon::require("kamailio", "kamailio");
    assert!(
        Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/app_python3.so").exists(),
        "Kamailio's app_python3 module is missing: apt-get install kamailio-python3-modules (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.sock");
    let rt = daemon::runtime();
    let table = daemon::demo_table();
    let d = rt.block_on(daemon::start(&feed, table.clone()));

    let (listen, uas) = (free_port(), free_port());
    let uas_log = dir.path().join("uas.log");
    let kamailio_log = dir.path().join("kamailio.log");
    // The UAS expects exactly the calls callgate lets through: four.
    let children = Reaper(vec![
        start_uas(uas, 4, &uas_log),
        start_kamailio(dir.path(), listen, uas, &feed),
    ]);
    wait_for_options(listen, &kamailio_log);

    let calls = [
        // (user, tenant, requested, dialed, scenario, what the UAS must see)
        (
            "bob",
            "acme",
            "+15550100000",
            "5551234",
            "uac_call.xml",
            Some(("<sip:+15550100000@acme>", "allow; reason=number_permitted")),
        ),
        (
            "ivan",
            "acme",
            "+15550100101",
            "5551235",
            "uac_call.xml",
            Some((
                "<sip:+15550100600@acme>",
                "substitute; reason=number_not_permitted",
            )),
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
            Some((
                "<sip:+15550100200@acme>",
                "substitute; reason=emergency_callback",
            )),
        ),
    ];
    for (user, tenant, ppi, dialed, scenario, _) in calls {
        let (code, log) = place(scenario, listen, &call(user, tenant, ppi, dialed));
        assert_eq!(
            code,
            0,
            "{user}@{tenant} → {dialed} via Kamailio: {log}\n--- kamailio\n{}",
            std::fs::read_to_string(&kamailio_log).unwrap_or_default()
        );
    }

    // A revocation through the daemon reaches every Kamailio worker's replica.
    table.put(&daemon::acme_without_bobs_number(), 2);
    // Each worker's replica hears of it within milliseconds; 100 ms is the bound.
    std::thread::sleep(Duration::from_millis(100));
    let (code, log) = place(
        "uac_call.xml",
        listen,
        &call("bob", "acme", "+15550100000", "5551299"),
    );
    assert_eq!(code, 0, "bob after the revocation: {log}");

    let mut seen = String::new();
    for _ in 0..50 {
        seen = std::fs::read_to_string(&uas_log).unwrap_or_default();
        if seen.matches("RECEIVED").count() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let received: Vec<&str> = seen.lines().filter(|l| l.contains("RECEIVED")).collect();
    assert_eq!(received.len(), 4, "{seen}");
    let mut expected: Vec<(&str, Option<(&str, &str)>)> =
        calls.iter().map(|c| (c.3, c.5)).collect();
    expected.push((
        "5551299",
        Some((
            "<sip:+15550100000@acme>",
            "substitute; reason=number_not_permitted; rev=2",
        )),
    ));
    for (dialed, want) in expected {
        let line = received
            .iter()
            .find(|l| l.contains(&format!("ruri=sip:{dialed}@")));
        match want {
            Some((pai, decision)) => {
                let line = line
                    .unwrap_or_else(|| panic!("the UAS never saw the call to {dialed}: {seen}"));
                assert!(line.contains(&format!("pai={pai} ")), "{line}");
                assert!(line.contains(&format!("decision={decision}")), "{line}");
                assert!(
                    line.contains(" ppi= xuser= "),
                    "the caller's identity headers must not reach the UAS: {line}"
                );
            }
            None => assert!(line.is_none(), "a denied call reached the UAS: {seen}"),
        }
    }
    let klog = std::fs::read_to_string(&kamailio_log).unwrap_or_default();
    assert!(klog.contains("callgate: replica open"), "{klog}");
    drop(children);
    rt.block_on(d.shutdown());
}
