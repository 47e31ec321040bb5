//! The per-message SIP path: bytes → parse → decision → answer bytes, over the demo
//! directory. `cargo bench -p callgate-daemon --bench sip`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a bench: a failed step is a broken bench, not a state to recover from"
)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callgate_daemon::audit::{AuditRecord, AuditSink, Auditor, run_writer};
use callgate_daemon::config::Peers;
use callgate_daemon::serve::DEMO_DIRECTORY;
use callgate_daemon::sip::{Sip, message};
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// An audit sink that keeps nothing: the bench measures the check's side of the trail.
struct Discard;

impl AuditSink for Discard {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), String> {
        black_box(records.len());
        Ok(())
    }
}

fn invite(call_id: usize, user: &str, ppi: &str, dialed: &str) -> Vec<u8> {
    format!(
        "INVITE sip:{dialed}@acme SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-{call_id};rport\r\n\
         Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-ua{call_id}\r\n\
         Record-Route: <sip:127.0.0.1:5060;lr>\r\n\
         Max-Forwards: 69\r\n\
         From: <sip:{user}@acme>;tag=1928301774\r\n\
         To: <sip:{dialed}@acme>\r\n\
         Call-ID: a84b4c76e66710-{call_id}@10.1.2.3\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:{user}@10.1.2.3:5060>\r\n\
         X-Callgate-User: {user}\r\n\
         P-Preferred-Identity: <sip:{ppi}@acme>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn sip_path(c: &mut Criterion) {
    let tenants = callgate::directory::parse(DEMO_DIRECTORY).expect("demo directory");
    let writer = Arc::new(Writer::with_tenants(&tenants, 1));
    let table = Arc::clone(writer.table());
    let state = State::new(
        Arc::clone(&writer),
        None,
        Peers::parse(&["127.0.0.1"]).expect("peers"),
        Duration::from_millis(200),
    );
    let sip = Sip::new(state);
    let peer: SocketAddr = "127.0.0.1:5060".parse().expect("addr");
    let allow = invite(1, "bob", "+15550100000", "5551234");
    let substitute = invite(2, "ivan", "+15550100101", "5551234");
    let feature = invite(3, "carol", "+15550100000", "*46*201*600");

    let mut group = c.benchmark_group("sip");
    group.bench_function("parse", |b| {
        b.iter(|| black_box(message::parse(black_box(&allow))))
    });
    for (name, bytes) in [
        ("invite_allow", &allow),
        ("invite_substitute", &substitute),
        ("invite_feature_code", &feature),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let Ok(message::Incoming::Invite(inv)) = message::parse(black_box(bytes)) else {
                    unreachable!()
                };
                black_box(sip.decide(inv, peer))
            })
        });
    }
    // The same allow, signed (STIR/SHAKEN): what an Identity header adds.
    let keys = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let key_path = keys.path().join("sp.key");
    std::fs::write(&key_path, key.serialize_pem()).expect("key file");
    let signing = State::new(
        Arc::clone(&writer),
        None,
        Peers::parse(&["127.0.0.1"]).expect("peers"),
        Duration::from_millis(200),
    );
    let key_path = key_path.to_string_lossy();
    signing.set_signer(
        callgate_daemon::shaken::Signer::from_settings(&callgate_daemon::shaken::Settings {
            key: Some(&key_path),
            x5u: Some("https://certs.example.net/sp.pem"),
            origid: Some("tenant"),
            cert: None,
        })
        .expect("signer"),
    );
    let signed = Sip::new(signing);
    group.bench_function("invite_allow_signed", |b| {
        b.iter(|| {
            let Ok(message::Incoming::Invite(inv)) = message::parse(black_box(&allow)) else {
                unreachable!()
            };
            black_box(signed.decide(inv, peer))
        })
    });
    // A denial, with the audit trail off and on (on: the record goes to the bounded queue,
    // drained by the daemon's own batched writer into a sink that keeps nothing).
    let deny = String::from_utf8(invite(4, "milton", "+13125550000", "5551234")).expect("utf8");
    let deny = deny.replace("@acme", "@initech").into_bytes();
    // Parsed in the (untimed) setup: decide consumes the INVITE, as the daemon does.
    let denied = || {
        let Ok(message::Incoming::Invite(inv)) = message::parse(&deny) else {
            unreachable!()
        };
        inv
    };
    group.bench_function("invite_deny_audit_off", |b| {
        b.iter_batched(denied, |inv| sip.decide(inv, peer), BatchSize::SmallInput)
    });
    // The engine's share of that denial: the same check with no answer written (what the
    // SIP path adds is the difference).
    group.bench_function("invite_deny_check_only", |b| {
        b.iter_batched(
            denied,
            |inv| {
                table.check_caller_id(
                    &inv.tenant,
                    callgate::Principal::from(inv.user.as_deref().unwrap_or("")),
                    inv.requested.as_deref(),
                    &inv.request_uri,
                )
            },
            BatchSize::SmallInput,
        )
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let audited = {
        let writer = Arc::new(Writer::with_tenants(&tenants, 1));
        let state = State::new(
            writer,
            None,
            Peers::parse(&["127.0.0.1"]).expect("peers"),
            Duration::from_millis(200),
        );
        let (auditor, rx) = Auditor::new(65_536, 0);
        state.set_auditor(auditor.clone());
        std::thread::spawn(move || {
            runtime.block_on(run_writer(
                Discard,
                auditor,
                rx,
                1000,
                std::future::pending(),
            ));
        });
        Sip::new(state)
    };
    group.bench_function("invite_deny_audit_on", |b| {
        b.iter_batched(
            denied,
            |inv| audited.decide(inv, peer),
            BatchSize::SmallInput,
        )
    });
    // A retransmission: answered from the per-transaction cache.
    group.bench_function("invite_retransmission", |b| {
        b.iter(|| black_box(sip.handle(black_box(&allow), peer, "udp")))
    });
    group.finish();
}

criterion_group!(benches, sip_path);
criterion_main!(benches);
