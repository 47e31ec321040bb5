//! Answers as bytes: a response that echoes Via, From, To (with our tag), Call-ID and CSeq as
//! RFC 3261 §8.2.6 requires, plus callgate's own headers.

use std::fmt::Write;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

use super::frame::Addressing;

/// Methods callgate answers, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// The largest answer sent (larger ones are dropped and counted). An answer echoes the
/// request's Vias, so a request of many tiny Vias (`v:a,b,c,…`) could otherwise reflect
/// several times its own size.
pub const MAX_ANSWER: usize = 16 * 1024;

/// A response being written. Every header line is checked as it is written: a value holding
/// a CR, LF or other control character (HTAB aside) is never written, and the answer becomes
/// a bare `500` (see [`Answer::finish`]).
pub struct Answer {
    text: String,
    /// Where the status line ends and where the echoed headers end: a `500` keeps these.
    status_end: usize,
    echoed_end: usize,
    refused: bool,
}

impl Answer {
    /// Starts `SIP/2.0 <code> <phrase>` with the echoed headers. The top Via gets `received`
    /// and `rport` filled in (RFC 3261 §18.2.1, RFC 3581) so the answer finds its way back.
    pub fn new(code: u16, phrase: &str, a: &Addressing, peer: SocketAddr) -> Answer {
        let mut answer = Answer {
            text: String::with_capacity(512),
            status_end: 0,
            echoed_end: 0,
            refused: false,
        };
        let _ = write!(answer.text, "SIP/2.0 {code} {phrase}\r\n");
        answer.status_end = answer.text.len();
        for (i, via) in a.vias.iter().enumerate() {
            if i == 0 {
                answer.line("Via", top_via(via, peer));
            } else {
                answer.line("Via", via);
            }
        }
        if let Some(from) = &a.from {
            answer.line("From", from);
        }
        if let Some(to) = &a.to {
            if has_tag(to) {
                answer.line("To", to);
            } else {
                answer.line("To", format_args!("{to};tag=cg{:x}", tag(a)));
            }
        }
        answer.line("Call-ID", &a.call_id);
        answer.line("CSeq", &a.cseq);
        answer.echoed_end = answer.text.len();
        answer
    }

    /// Adds a header; a value holding a control character is refused (not written) and
    /// turns the answer into a `500`.
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Answer {
        self.line(name, value);
        self
    }

    /// Writes `name: value\r\n`, then takes it back if the line holds a control character.
    fn line(&mut self, name: &str, value: impl std::fmt::Display) {
        let start = self.text.len();
        let _ = write!(self.text, "{name}: {value}");
        let written = self.text.get(start..).unwrap_or("");
        // A fold, not `any`: no early exit, so it vectorises (this runs on every line).
        if written
            .bytes()
            .fold(false, |bad, b| bad | super::message::is_forbidden(b))
        {
            self.text.truncate(start);
            self.refused = true;
        } else {
            self.text.push_str("\r\n");
        }
    }

    /// Whether a header value was refused (the answer will be a `500`).
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    /// Ends the header section (no body). An answer with a refused header value becomes
    /// `500 Server Internal Error` with only the echoed headers. (Answers past
    /// [`MAX_ANSWER`] are not sent: the SIP endpoint drops them.)
    pub fn finish(mut self) -> bytes::Bytes {
        if self.refused {
            let echoed = self
                .text
                .get(self.status_end..self.echoed_end)
                .unwrap_or("");
            let mut text = String::with_capacity(echoed.len() + 80);
            text.push_str("SIP/2.0 500 Server Internal Error\r\n");
            text.push_str(echoed);
            self.text = text;
        }
        self.text
            .push_str("Server: callgate\r\nContent-Length: 0\r\n\r\n");
        bytes::Bytes::from(self.text)
    }
}

fn has_tag(to: &str) -> bool {
    // The tag is a header parameter: after the name-addr's closing `>` if there is one; LWS
    // may surround its `=` (RFC 3261 §25.1 EQUAL).
    let params = to.rfind('>').map_or(to, |i| to.get(i..).unwrap_or(""));
    params.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case("tag"))
    })
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
            if p.get(..9)
                .is_some_and(|k| k.eq_ignore_ascii_case("received="))
            {
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
    let same_host = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip == peer.ip());
    if !received && !same_host {
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
    fn a_header_value_with_a_control_character_is_never_written() {
        let peer: SocketAddr = "127.0.0.1:5099".parse().unwrap();
        for bad in [
            "x\r\nP-Asserted-Identity: <sip:1@evil>",
            "x\ny",
            "x\ry",
            "a\u{0}b",
            "a\u{7f}",
        ] {
            let answer = Answer::new(302, "Moved Temporarily", &addressing(), peer)
                .header("Contact", "<sip:1@acme>")
                .header(
                    "X-Callgate-Feature",
                    format_args!("call_forward_on; args={bad}"),
                );
            assert!(answer.is_refused());
            let text = String::from_utf8(answer.finish().to_vec()).unwrap();
            assert!(
                text.starts_with("SIP/2.0 500 Server Internal Error\r\n"),
                "{text}"
            );
            assert!(!text.contains("P-Asserted-Identity"), "{text}");
            assert!(!text.contains("Contact"), "{text}");
            assert!(text.contains("Call-ID: c1\r\nCSeq: 1 INVITE\r\n"), "{text}");
        }
        let ok = Answer::new(302, "Moved Temporarily", &addressing(), peer)
            .header("X-Callgate-Feature", "a\tb");
        assert!(!ok.is_refused());
    }

    #[test]
    fn an_existing_to_tag_is_kept() {
        assert!(has_tag("<sip:a@b>;tag=x"));
        assert!(!has_tag("<sip:a@b;tag=x>"));
        assert!(!has_tag("sip:a@b"));
        assert!(has_tag("sip:a@b ;   tag    = 1918181833n"));
    }
}
