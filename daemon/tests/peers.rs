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
#[path = "support/sip_peers.rs"]
mod sip_peers;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use sip_peers::{
    Reaper, call, free_port, place, require, start_kamailio, start_uas, wait_for_options,
};

async fn sipp_async(
    scenario: &'static str,
    target: u16,
    vars: Vec<(&'static str, String)>,
) -> (i32, String) {
    tokio::task::spawn_blocking(move || place(scenario, target, &vars))
        .await
        .unwrap()
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

/// The relay config (`callgate-relay.cfg`): Kamailio on `listen` asks callgate on
/// `callgate`, then forwards to the UAS on `uas`.
fn start_relay(dir: &Path, listen: u16, callgate: u16, uas: u16) -> Child {
    start_kamailio(
        "callgate-relay.cfg",
        dir,
        &[
            format!("LISTEN_PORT={listen}"),
            format!("CALLGATE_PORT={callgate}"),
            format!("UAS_PORT={uas}"),
        ],
        &[],
    )
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
        start_relay(dir.path(), relay, d.sip.port(), uas),
    ]);
    let kamailio_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || wait_for_options(relay, &kamailio_dir))
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
