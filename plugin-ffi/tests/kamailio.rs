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
#[path = "../../daemon/tests/support/sip_peers.rs"]
mod sip_peers;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use sip_peers::{
    Reaper, call, examples, free_port, place, start_kamailio, start_uas, wait_for_options,
};

/// The KEMI config (`callgate-kemi.cfg` + `callgate_kemi.py`): Kamailio on `listen` decides
/// in-process with libcallgate fed from `feed`, then forwards to the UAS on `uas`.
fn start_kemi(dir: &Path, listen: u16, uas: u16, feed: &Path) -> Child {
    let script = examples().join("kamailio/callgate_kemi.py");
    start_kamailio(
        "callgate-kemi.cfg",
        dir,
        &[
            format!("LISTEN_PORT={listen}"),
            format!("UAS_PORT={uas}"),
            format!("CALLGATE_KEMI_SCRIPT=\"{}\"", script.display()),
        ],
        &[
            ("CALLGATE_FEED", feed.into()),
            (
                "CALLGATE_LIBRARY",
                daemon::library_dir().join("libcallgate.so").into(),
            ),
        ],
    )
}

#[test]
fn kamailio_decides_caller_ids_in_process_with_libcallgate() {
    sip_peers::require("sipp", "sip-tester");
    sip_peers::require("kamailio", "kamailio");
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
        start_kemi(dir.path(), listen, uas, &feed),
    ]);
    wait_for_options(listen, dir.path());

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
