//! Answers as bytes: a response that echoes Via, From, To (with our tag), Call-ID and CSeq as
//! RFC 3261 §8.2.6 requires, plus callgate's own headers.

use std::fmt::Write;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

use super::frame::Addressing;

/// Methods callgate answers, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// A response being written.
pub struct Answer {
    text: String,
}

impl Answer {
    /// Starts `SIP/2.0 <code> <phrase>` with the echoed headers. The top Via gets `received`
    /// and `rport` filled in (RFC 3261 §18.2.1, RFC 3581) so the answer finds its way back.
    pub fn new(code: u16, phrase: &str, a: &Addressing, peer: SocketAddr) -> Answer {
        let mut text = String::with_capacity(512);
        let _ = write!(text, "SIP/2.0 {code} {phrase}\r\n");
        for (i, via) in a.vias.iter().enumerate() {
            if i == 0 {
                let _ = write!(text, "Via: {}\r\n", top_via(via, peer));
            } else {
                let _ = write!(text, "Via: {via}\r\n");
            }
        }
        if let Some(from) = &a.from {
            let _ = write!(text, "From: {from}\r\n");
        }
        if let Some(to) = &a.to {
            if has_tag(to) {
                let _ = write!(text, "To: {to}\r\n");
            } else {
                let _ = write!(text, "To: {to};tag=cg{:x}\r\n", tag(a));
            }
        }
        let _ = write!(text, "Call-ID: {}\r\nCSeq: {}\r\n", a.call_id, a.cseq);
        Answer { text }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Answer {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// Ends the header section (no body).
    pub fn finish(mut self) -> bytes::Bytes {
        self.text
            .push_str("Server: callgate\r\nContent-Length: 0\r\n\r\n");
        bytes::Bytes::from(self.text)
    }
}

fn has_tag(to: &str) -> bool {
    // The tag is a header parameter: after the name-addr's closing `>` if there is one.
    let params = to.rfind('>').map_or(to, |i| to.get(i..).unwrap_or(""));
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// A To tag that is the same for every retransmission of a request (so a retransmitted
/// INVITE gets the very same answer) and differs between requests.
fn tag(a: &Addressing) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x6361_6c6c_6761_7465).build_hasher();
    h.write(a.call_id.as_bytes());
    h.write(a.cseq.as_bytes());
    h.write(a.vias.first().map_or("", String::as_str).as_bytes());
    h.finish()
}

fn top_via(via: &str, peer: SocketAddr) -> String {
    let mut out = String::with_capacity(via.len() + 40);
    let mut params = via.split(';');
    out.push_str(params.next().unwrap_or(""));
    let mut received = false;
    for p in params {
        let p = p.trim();
        if p.eq_ignore_ascii_case("rport") {
            let _ = write!(out, ";rport={}", peer.port());
        } else {
            if p.to_ascii_lowercase().starts_with("received=") {
                received = true;
            }
            let _ = write!(out, ";{p}");
        }
    }
    let sent_by = via
        .split(';')
        .next()
        .and_then(|s| s.split_whitespace().nth(1))
        .unwrap_or("");
    let host = sent_by.rsplit_once(':').map_or(sent_by, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            sent_by
        }
    });
    if !received && host.trim_matches(|c| c == '[' || c == ']') != peer.ip().to_string() {
        let _ = write!(out, ";received={}", peer.ip());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addressing() -> Addressing {
        Addressing {
            vias: vec![
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport".into(),
                "SIP/2.0/UDP h2;branch=z9hG4bK0".into(),
            ],
            from: Some("<sip:101@acme>;tag=a".into()),
            to: Some("<sip:5551234@acme>".into()),
            call_id: "c1".into(),
            cseq: "1 INVITE".into(),
            is_request: true,
        }
    }

    #[test]
    fn answers_echo_what_rfc_3261_requires() {
        let peer: SocketAddr = "127.0.0.1:5099".parse().unwrap();
        let text = String::from_utf8(
            Answer::new(403, "Forbidden", &addressing(), peer)
                .finish()
                .to_vec(),
        )
        .unwrap();
        assert!(text.starts_with("SIP/2.0 403 Forbidden\r\n"));
        assert!(text.contains(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5099;received=127.0.0.1\r\n"
        ));
        assert!(text.contains("Via: SIP/2.0/UDP h2;branch=z9hG4bK0\r\n"));
        assert!(text.contains("To: <sip:5551234@acme>;tag=cg"));
        assert!(text.contains("Call-ID: c1\r\nCSeq: 1 INVITE\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        // Same request, same tag.
        let again = String::from_utf8(
            Answer::new(403, "Forbidden", &addressing(), peer)
                .finish()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(text, again);
    }

    #[test]
    fn an_existing_to_tag_is_kept() {
        assert!(has_tag("<sip:a@b>;tag=x"));
        assert!(!has_tag("<sip:a@b;tag=x>"));
        assert!(!has_tag("sip:a@b"));
    }
}
