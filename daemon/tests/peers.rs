//! callgate against real SIP peers: sipp as a client straight to callgate, and
//! sipp → Kamailio → callgate → Kamailio → sipp UAS, with the scenarios and the Kamailio
//! config of `examples/`: Kamailio authenticates each caller (SIP digest against a SQLite
//! subscriber table) and tells callgate who they are, whatever the caller wrote.
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

use sip_peers::{
    ACCOUNTS, ALICE, Attempt, BOB, IVAN, MALLORY, MILTON, Reaper, call, free_port, line_for, place,
    received, require, start_kamailio, start_uas, subscriber_db, wait_for_options,
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

/// The relay config (`callgate-relay.cfg`): Kamailio on `listen` authenticates callers
/// against the subscriber table `db` (a `DB_URL=` define), asks callgate on `callgate`, then
/// forwards to the UAS on `uas`.
fn start_relay(dir: &Path, listen: u16, callgate: u16, uas: u16, db: String) -> Child {
    start_kamailio(
        "callgate-relay.cfg",
        dir,
        &[
            format!("LISTEN_PORT={listen}"),
            format!("CALLGATE_PORT={callgate}"),
            format!("UAS_PORT={uas}"),
            db,
        ],
        &[],
    )
}

/// The calls of the relay test, attacks in the middle of honest ones; the PAI the UAS must see
/// (`None`: the call must never reach it).
fn relay_calls() -> Vec<(Attempt, Option<&'static str>)> {
    vec![
        (
            Attempt::honest(BOB, "+15550100000", "5551234", "uac_call.xml"),
            Some("<sip:+15550100000@acme>"),
        ),
        // Suspended mallory writes `X-Callgate-User: alice` and asks for alice's number:
        // Kamailio drops the header and tells callgate she is mallory, who is refused.
        (
            Attempt {
                claim: "alice",
                ..Attempt::honest(MALLORY, "+15550100101", "5551240", "uac_call_denied.xml")
            },
            None,
        ),
        // Bob does the same: decided as bob, who may not present alice's number.
        (
            Attempt {
                claim: "alice",
                ..Attempt::honest(BOB, "+15550100101", "5551241", "uac_call.xml")
            },
            Some("<sip:+15550100000@acme>"),
        ),
        // Mallory's own credentials with a From host of another tenant (and its user's
        // extension): no such account in that realm, refused by Kamailio.
        (
            Attempt {
                from: ("10", "globex"),
                claim: "oscar",
                ..Attempt::honest(MALLORY, "+442070000001", "5551242", "uac_call_refused.xml")
            },
            None,
        ),
        (
            Attempt {
                from: ("204", "globex"),
                claim: "oscar",
                ..Attempt::honest(MALLORY, "+442070000001", "5551243", "uac_call_refused.xml")
            },
            None,
        ),
        // Mallory's credentials with alice's extension as From user: the From user must be
        // the authenticated one.
        (
            Attempt {
                from: ("101", "acme"),
                claim: "alice",
                ..Attempt::honest(MALLORY, "+15550100101", "5551244", "uac_call_refused.xml")
            },
            None,
        ),
        // Alice's account with a wrong password.
        (
            Attempt {
                password: "guess",
                ..Attempt::honest(ALICE, "+15550100101", "5551245", "uac_call_refused.xml")
            },
            None,
        ),
        (
            Attempt::honest(IVAN, "+15550100101", "5551235", "uac_call.xml"),
            Some("<sip:+15550100600@acme>"),
        ),
        (
            Attempt::honest(MILTON, "+13125550000", "5551236", "uac_call_denied.xml"),
            None,
        ),
        // Emergency: never challenged; mallory's 911 goes out with her site's callback number.
        (
            Attempt::honest(MALLORY, "+15550100000", "911", "uac_call.xml"),
            Some("<sip:+15550100200@acme>"),
        ),
        // Even with a wrong password, an emergency call is not refused.
        (
            Attempt {
                password: "guess",
                ..Attempt::honest(MALLORY, "+15550100000", "933", "uac_call.xml")
            },
            Some("<sip:+15550100200@acme>"),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_authenticates_callers_forwards_allowed_calls_with_callgates_identity_and_rejects_the_rest()
 {
    require("sipp", "sip-tester");
    require("kamailio", "kamailio");
    let d = daemon::start(&["127.0.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = subscriber_db(dir.path(), &ACCOUNTS);
    let (relay, uas) = (free_port(), free_port());
    let uas_log = dir.path().join("uas.log");
    let calls = relay_calls();
    let allowed = calls.iter().filter(|(_, pai)| pai.is_some()).count();
    // The UAS expects exactly the calls callgate allows.
    let children = Reaper(vec![
        start_uas(uas, allowed, &uas_log),
        start_relay(dir.path(), relay, d.sip.port(), uas, db),
    ]);
    let kamailio_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || wait_for_options(relay, &kamailio_dir))
        .await
        .unwrap();

    let kamailio_log = dir.path().join("kamailio.log");
    for (attempt, _) in calls.clone() {
        let (code, log) = tokio::task::spawn_blocking(move || attempt.place(relay))
            .await
            .unwrap();
        assert_eq!(
            code,
            0,
            "{attempt:?} via Kamailio: {log}\n--- kamailio\n{}",
            std::fs::read_to_string(&kamailio_log).unwrap_or_default()
        );
        if attempt.scenario == "uac_call_refused.xml" {
            assert!(
                log.contains("REFUSED decision=\n") || log.contains("REFUSED decision= "),
                "Kamailio itself must refuse it, callgate never hears of it: {log}"
            );
        }
    }
    // What the UAS saw: every allowed call, with callgate's identity; never a refused one,
    // never alice's number.
    let seen = tokio::task::spawn_blocking(move || received(&uas_log, allowed))
        .await
        .unwrap();
    assert_eq!(seen.len(), allowed, "{seen:#?}");
    for (attempt, pai) in &calls {
        let line = line_for(&seen, attempt.dialed);
        match pai {
            Some(pai) => {
                let line = line.unwrap_or_else(|| {
                    panic!(
                        "the UAS never saw the call to {}: {seen:#?}",
                        attempt.dialed
                    )
                });
                assert!(line.contains(&format!("pai={pai} ")), "{line}");
                assert!(
                    line.contains(" ppi= xuser= "),
                    "the caller's identity headers must not reach the UAS: {line}"
                );
            }
            None => assert!(line.is_none(), "a refused call reached the UAS: {seen:#?}"),
        }
    }
    assert!(
        seen.iter().all(|l| !l.contains("+15550100101")),
        "nobody but alice may present alice's number: {seen:#?}"
    );
    drop(children);
    d.shutdown().await;
}

/// STIR/SHAKEN end to end: sipp → Kamailio (relay: digest) → callgate (signs) → Kamailio
/// (verify: the `secsipid` module checks the PASSporT with the provider's public key) → sipp
/// UAS. "The relay Kamailio config copies `Identity` from the 302; a verification side is shown
/// with Kamailio's `secsipid` module ... checking the signature with the public certificate".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_call_verifies_at_a_terminating_kamailio_and_a_tampered_one_does_not() {
    require("sipp", "sip-tester");
    require("kamailio", "kamailio");
    assert!(
        Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/secsipid.so").exists(),
        "needs Kamailio's secsipid module: apt-get install kamailio-secsipid-modules"
    );
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let (key_path, pub_path) = (dir.path().join("sp.key"), dir.path().join("sp.pub"));
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&pub_path, key.public_key_pem()).unwrap();
    let d = daemon::start_with(&["127.0.0.1"], |c| {
        c.shaken_key = Some(key_path.to_string_lossy().into_owned());
        c.shaken_x5u = Some("https://certs.example.net/sp.pem".into());
        c.shaken_origid = Some("tenant".into());
    })
    .await;
    let (relay, verify, uas) = (free_port(), free_port(), free_port());
    let (relay_dir, verify_dir) = (dir.path().join("relay"), dir.path().join("verify"));
    std::fs::create_dir_all(&relay_dir).unwrap();
    std::fs::create_dir_all(&verify_dir).unwrap();
    let db = subscriber_db(&relay_dir, &ACCOUNTS);
    let uas_log = dir.path().join("uas.log");
    let children = Reaper(vec![
        start_uas(uas, 1, &uas_log),
        start_kamailio(
            "shaken-verify.cfg",
            &verify_dir,
            &[
                format!("LISTEN_PORT={verify}"),
                format!("UAS_PORT={uas}"),
                format!("PUBKEY=\"{}\"", pub_path.display()),
            ],
            &[],
        ),
        // The relay's downstream is the verifier.
        start_relay(&relay_dir, relay, d.sip.port(), verify, db),
    ]);
    for (port, dir) in [(relay, relay_dir.clone()), (verify, verify_dir.clone())] {
        tokio::task::spawn_blocking(move || wait_for_options(port, &dir))
            .await
            .unwrap();
    }

    // Bob, authenticated by digest, presents a number he was granted: A, and it verifies.
    let attempt = Attempt::honest(BOB, "+15550100000", "5551234", "uac_call.xml");
    let (code, log) = tokio::task::spawn_blocking(move || attempt.place(relay))
        .await
        .unwrap();
    let kamailio_logs = || {
        format!(
            "--- relay\n{}\n--- verify\n{}",
            std::fs::read_to_string(relay_dir.join("kamailio.log")).unwrap_or_default(),
            std::fs::read_to_string(verify_dir.join("kamailio.log")).unwrap_or_default()
        )
    };
    assert_eq!(code, 0, "{log}\n{}", kamailio_logs());
    let seen = tokio::task::spawn_blocking(move || received(&uas_log, 1))
        .await
        .unwrap();
    let line = line_for(&seen, "5551234").unwrap_or_else(|| panic!("{seen:#?}"));
    assert!(
        line.contains("attest=A; reason=user_may_present verified=yes"),
        "{line}\n{}",
        kamailio_logs()
    );

    // Straight to the verifier: a genuine Identity (asked of callgate directly) with orig.tn
    // changed is refused 438; no Identity at all, 428.
    let genuine = ask(
        d.sip,
        "INVITE sip:5551234@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-g1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:201@acme>;tag=f\r\nTo: <sip:5551234@acme>\r\n\
         Call-ID: genuine\r\nCSeq: 1 INVITE\r\nX-Callgate-User: bob\r\n\
         P-Preferred-Identity: <sip:+15550100000@acme>\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let identity = genuine
        .lines()
        .find_map(|l| l.strip_prefix("Identity: "))
        .unwrap_or_else(|| panic!("{genuine}"))
        .to_string();
    let (token, params) = identity.split_once(';').unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
    let forged_claims = claims.replace("\"15550100000\"", "\"15550100101\"");
    assert_ne!(claims, forged_claims);
    let forged = format!(
        "{}.{}.{};{params}",
        parts[0],
        b64.encode(forged_claims),
        parts[2]
    );
    let invite = |call_id: &str, identity: Option<&str>| {
        format!(
            "INVITE sip:5551299@127.0.0.1:{verify} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:201@acme>;tag=f\r\nTo: <sip:5551299@acme>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n{}Content-Length: 0\r\n\r\n",
            identity
                .map(|i| format!("Identity: {i}\r\n"))
                .unwrap_or_default()
        )
    };
    let to_verifier: std::net::SocketAddr = format!("127.0.0.1:{verify}").parse().unwrap();
    let refused = ask(to_verifier, &invite("forged", Some(&forged))).await;
    assert!(
        refused.starts_with("SIP/2.0 438"),
        "{refused}\n{}",
        kamailio_logs()
    );
    let missing = ask(to_verifier, &invite("missing", None)).await;
    assert!(missing.starts_with("SIP/2.0 428"), "{missing}");
    drop(children);
    d.shutdown().await;
}

/// Sends one datagram and waits (up to 10 s) for the first final answer.
async fn ask(to: std::net::SocketAddr, message: &str) -> String {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(message.as_bytes(), to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            socket.recv_from(&mut buf),
        )
        .await
        .expect("an answer within 10 s")
        .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Kamailio's 100 Trying may come first.
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}
