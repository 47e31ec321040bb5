//! libcallgate inside a real PBX: Kamailio with its Python 3 KEMI
//! (`examples/kamailio/callgate-kemi.cfg` + `callgate_kemi.py`) loads the built
//! `libcallgate.so` through ctypes, replicates a live daemon's table over the feed socket, and
//! decides each INVITE's caller ID in-process for the caller Kamailio authenticated (SIP digest
//! against a SQLite subscriber table); sipp places the calls and plays the UAS.
//! Needs `kamailio`, `kamailio-python3-modules`, `kamailio-sqlite-modules`, `sqlite3` and
//! `sip-tester` (scripts/test.sh installs them).

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
use std::time::{Duration, Instant};

use sip_peers::{
    ACCOUNTS, ALICE, Attempt, BOB, IVAN, MALLORY, MILTON, Reaper, examples, free_port, line_for,
    received, start_kamailio, start_uas, subscriber_db, wait_for_options,
};

/// The KEMI config (`callgate-kemi.cfg` + `callgate_kemi.py`): Kamailio on `listen`
/// authenticates callers against the subscriber table `db` (a `DB_URL=` define), decides
/// in-process with libcallgate fed from `feed`, then forwards to the UAS on `uas`.
fn start_kemi(dir: &Path, listen: u16, uas: u16, feed: &Path, db: String) -> Child {
    let script = examples().join("kamailio/callgate_kemi.py");
    start_kamailio(
        "callgate-kemi.cfg",
        dir,
        &[
            format!("LISTEN_PORT={listen}"),
            format!("UAS_PORT={uas}"),
            format!("CALLGATE_KEMI_SCRIPT=\"{}\"", script.display()),
            db,
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
fn kamailio_decides_caller_ids_in_process_with_libcallgate_for_authenticated_callers() {
    sip_peers::require("sipp", "sip-tester");
    sip_peers::require("kamailio", "kamailio");
    assert!(
        Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/app_python3.so").exists(),
        "Kamailio's app_python3 module is missing: apt-get install kamailio-python3-modules (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.sock");
    let db = subscriber_db(dir.path(), &ACCOUNTS);
    let rt = daemon::runtime();
    let writer = daemon::demo_writer();
    let d = rt.block_on(daemon::start(&feed, writer.clone()));

    let (listen, uas) = (free_port(), free_port());
    let uas_log = dir.path().join("uas.log");
    let kamailio_log = dir.path().join("kamailio.log");
    // The UAS answers the calls callgate lets through (and those placed while waiting for the
    // revocation below); it is stopped at the end, however many it took.
    let children = Reaper(vec![
        start_uas(uas, 100, &uas_log),
        start_kemi(dir.path(), listen, uas, &feed, db),
    ]);
    wait_for_options(listen, dir.path());

    let calls = [
        // (call, what the UAS must see: PAI and decision)
        (
            Attempt::honest(BOB, "+15550100000", "5551234", "uac_call.xml"),
            Some(("<sip:+15550100000@acme>", "allow; reason=number_permitted")),
        ),
        // Suspended mallory writes `X-Callgate-User: alice` and asks for alice's number:
        // checked as mallory, denied.
        (
            Attempt {
                claim: "alice",
                ..Attempt::honest(MALLORY, "+15550100101", "5551240", "uac_call_denied.xml")
            },
            None,
        ),
        // Mallory's credentials with a From host of another tenant: refused by Kamailio.
        (
            Attempt {
                from: ("10", "globex"),
                claim: "oscar",
                ..Attempt::honest(MALLORY, "+442070000001", "5551242", "uac_call_refused.xml")
            },
            None,
        ),
        // Alice's account with a wrong password: refused by Kamailio.
        (
            Attempt {
                password: "guess",
                ..Attempt::honest(ALICE, "+15550100101", "5551245", "uac_call_refused.xml")
            },
            None,
        ),
        (
            Attempt::honest(IVAN, "+15550100101", "5551235", "uac_call.xml"),
            Some((
                "<sip:+15550100600@acme>",
                "substitute; reason=number_not_permitted",
            )),
        ),
        (
            Attempt::honest(MILTON, "+13125550000", "5551236", "uac_call_denied.xml"),
            None,
        ),
        // Emergency: never challenged; her site's callback number.
        (
            Attempt::honest(MALLORY, "+15550100000", "911", "uac_call.xml"),
            Some((
                "<sip:+15550100200@acme>",
                "substitute; reason=emergency_callback",
            )),
        ),
    ];
    for (attempt, _) in calls {
        let (code, log) = attempt.place(listen);
        assert_eq!(
            code,
            0,
            "{attempt:?} via Kamailio: {log}\n--- kamailio\n{}",
            std::fs::read_to_string(&kamailio_log).unwrap_or_default()
        );
        if attempt.scenario == "uac_call_refused.xml" {
            assert!(
                log.contains("REFUSED decision=\n") || log.contains("REFUSED decision= "),
                "Kamailio itself must refuse it: {log}"
            );
        }
    }
    let allowed = calls.iter().filter(|(_, want)| want.is_some()).count();
    let seen = received(&uas_log, allowed);
    for (attempt, want) in calls {
        let line = line_for(&seen, attempt.dialed);
        match want {
            Some((pai, decision)) => {
                let line = line.unwrap_or_else(|| {
                    panic!(
                        "the UAS never saw the call to {}: {seen:#?}",
                        attempt.dialed
                    )
                });
                assert!(line.contains(&format!("pai={pai} ")), "{line}");
                assert!(line.contains(&format!("decision={decision}")), "{line}");
                assert!(
                    line.contains(" ppi= xuser= "),
                    "the caller's identity headers must not reach the UAS: {line}"
                );
            }
            None => assert!(line.is_none(), "a refused call reached the UAS: {seen:#?}"),
        }
    }

    // A revocation through the daemon reaches the Kamailio workers' replicas: bob calls until
    // a call of his is decided at the new revision (each a fresh number, so each is its own
    // line at the UAS), within 10 s.
    writer.put(&daemon::acme_without_bobs_number(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempts = 0;
    let revoked = loop {
        attempts += 1;
        let dialed = format!("55513{attempts:02}");
        let vars = sip_peers::kamailio_call(BOB.ext, BOB.tenant, BOB.user, "+15550100000", &dialed);
        let (code, log) =
            sip_peers::place_authenticated("uac_call.xml", listen, &vars, BOB.ext, BOB.password);
        assert_eq!(code, 0, "bob after the revocation: {log}");
        let seen = received(&uas_log, allowed + attempts);
        let line = line_for(&seen, &dialed)
            .unwrap_or_else(|| panic!("the UAS never saw the call to {dialed}: {seen:#?}"))
            .clone();
        if line.contains("rev=2") || Instant::now() > deadline {
            break line;
        }
    };
    assert!(
        revoked.contains("pai=<sip:+15550100000@acme> "),
        "{revoked}"
    );
    assert!(
        revoked.contains("decision=substitute; reason=number_not_permitted; rev=2"),
        "bob's number grant was revoked at revision 2: {revoked}"
    );

    let klog = std::fs::read_to_string(&kamailio_log).unwrap_or_default();
    assert!(klog.contains("callgate: replica open"), "{klog}");
    drop(children);
    rt.block_on(d.shutdown());
}
