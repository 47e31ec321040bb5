//! Replays the committed fuzz inputs of the daemon-side targets (`sip_datagram`,
//! `sip_stream`, `http_check`) on stable, through the very invariant checks the fuzz targets
//! run (`fuzz/src/`, included here by `#[path]`): `cargo test` needs no nightly, and every
//! crash or broken invariant the fuzzers found stays fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a broken invariant is a failed test"
)]

#[path = "../../fuzz/src/http.rs"]
mod http;
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../fuzz/src/sip.rs"]
mod sip;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn sip_datagram_corpus_holds_every_invariant() {
    replay::replay(&fuzz_dir(), "sip_datagram", sip::check_datagram);
}

#[test]
fn sip_stream_corpus_holds_every_invariant() {
    replay::replay(&fuzz_dir(), "sip_stream", sip::check_stream);
}

#[test]
fn http_check_corpus_holds_every_invariant() {
    replay::replay(&fuzz_dir(), "http_check", http::check_http);
}

const INVITE: &str = "INVITE sip:5551234@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-1\r\n\
    From: <sip:101@acme>;tag=f1\r\nTo: <sip:5551234@acme>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
    Content-Length: 0\r\n\r\n";

fn breaks(request: &str, reply: &str) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        sip::check_answer(request.as_bytes(), Some(reply.as_bytes()), "udp");
    }))
    .is_err()
}

#[test]
fn the_sip_checks_catch_what_they_claim_to() {
    let good = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-1\r\n\
        From: <sip:101@acme>;tag=f1\r\nTo: <sip:5551234@acme>;tag=cg1f\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
        P-Asserted-Identity: <sip:+15550100101@acme>\r\nContent-Length: 0\r\n\r\n";
    assert!(!breaks(INVITE, good), "a good answer is refused");
    // A wrong Content-Length, an injected line, a header with a bare CR, a changed Call-ID,
    // another tenant's number, a number in another domain, no blank line.
    for bad in [
        good.replace("Content-Length: 0", "Content-Length: 3"),
        good.replace("Call-ID: c1\r\n", "Call-ID: c1\r\n\r\nInjected: 1\r\n"),
        good.replace("tag=f1", "tag=f\r1"),
        good.replace("Call-ID: c1", "Call-ID: c2"),
        good.replace("+15550100101@acme", "+442070000000@acme"),
        good.replace("+15550100101@acme", "+15550100101@globex"),
        good.replace("\r\n\r\n", "\r\n"),
    ] {
        assert!(breaks(INVITE, &bad), "not caught:\n{bad}");
    }
    // An emergency INVITE answered 403 (or not at all) is caught.
    let emergency = INVITE.replace("sip:5551234@acme SIP", "sip:911@acme SIP");
    let refused = good
        .replace("302 Moved Temporarily", "403 Forbidden")
        .replace("P-Asserted-Identity: <sip:+15550100101@acme>\r\n", "");
    assert!(breaks(&emergency, &refused));
    assert!(
        catch_unwind(|| sip::check_answer(emergency.as_bytes(), None, "udp")).is_err(),
        "an unanswered emergency INVITE is not caught"
    );
}

#[test]
fn real_messages_hold_every_invariant_whatever_the_split() {
    sip::check_datagram(INVITE.as_bytes());
    let two = format!("{INVITE}{}", INVITE.replace("c1", "c2"));
    for splits in [&[0u8][..], &[3, 1, 40, 7], &[7, 0, 0, 0, 0, 0, 0, 0]] {
        let mut input = splits.to_vec();
        input.extend_from_slice(two.as_bytes());
        sip::check_stream(&input);
    }
}
