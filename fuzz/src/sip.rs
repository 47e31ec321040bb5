//! SIP invariants, shared by the `sip_datagram` and `sip_stream` fuzz targets and by
//! `daemon/tests/fuzz_replay.rs` (which includes this file by `#[path]`), so the two can't
//! drift: an answer is a well-formed SIP response echoing the request, no header value holds
//! a control character, an emergency INVITE is never refused, a P-Asserted-Identity is a
//! number the From-host tenant owns, and strangers are never answered.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use callgate_daemon::config::Peers;
use callgate_daemon::serve::DEMO_DIRECTORY;
use callgate_daemon::sip::Sip;
use callgate_daemon::sip::frame::{self, Frame, MAX_MESSAGE};
use callgate_daemon::sip::message;
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;

/// The peer every message comes from (a configured peer: loopback).
pub const PEER: &str = "127.0.0.1:5060";
/// An address outside `--peers`: never answered.
pub const STRANGER: &str = "192.0.2.7:5060";

struct Demo {
    state: State,
    tenants: Vec<callgate::Tenant>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let tenants = callgate::directory::parse(DEMO_DIRECTORY).expect("demo directory parses");
        let writer = Arc::new(Writer::with_tenants(&tenants, 1));
        let peers = Peers::parse(&["127.0.0.1"]).expect("loopback is a peer list");
        let state = State::new(writer, None, peers, Duration::from_millis(1));
        state.set_ready();
        Demo { state, tenants }
    })
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

/// A fresh SIP endpoint (empty retransmission cache) over the shared demo state.
pub fn endpoint() -> Sip {
    Sip::new(demo().state.clone())
}

/// One UDP datagram: from a stranger it is never answered; from a peer, any answer holds
/// every invariant of [`check_answer`], and its retransmission gets the same answer.
pub fn check_datagram(data: &[u8]) {
    let sip = endpoint();
    assert!(
        sip.handle(data, addr(STRANGER), "udp").is_none(),
        "a stranger was answered"
    );
    let reply = sip.handle(data, addr(PEER), "udp");
    check_answer(data, reply.as_deref(), "udp");
    // A retransmission gets the very same answer (or none again).
    let again = sip.handle(data, addr(PEER), "udp");
    assert_eq!(reply, again, "a retransmission got another answer");
}

/// A TCP byte stream split at the points the input names: byte 0 is how many splits (mod 8),
/// then one byte per chunk size (1..=256), then the stream. Framing yields the same answers
/// whatever the split, and each answer holds the invariants of [`check_answer`].
pub fn check_stream(data: &[u8]) {
    let (&n, rest) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let n = usize::from(n % 8).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let mut chunks = Vec::new();
    let mut at = 0;
    for s in sizes {
        let end = (at + usize::from(*s) + 1).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    chunks.push(&stream[at..]);
    let split = serve(&chunks);
    let whole = serve(&[stream]);
    assert_eq!(
        split, whole,
        "a stream split at other points got other answers"
    );
}

/// What a connection answers to a stream arriving in `chunks`, as `serve_connection` does:
/// the answers, then how the stream ended.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    answers: Vec<Vec<u8>>,
    end: &'static str,
}

fn serve(chunks: &[&[u8]]) -> Served {
    let sip = endpoint();
    let mut buf: Vec<u8> = Vec::new();
    let mut answers = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match frame::next_frame(&buf) {
                Frame::Partial => break,
                Frame::KeepAlive(n) => {
                    assert!(
                        n > 0 && n <= buf.len(),
                        "keep-alive of {n} in {}",
                        buf.len()
                    );
                    buf.drain(..n);
                }
                Frame::Message(n) => {
                    assert!(n > 0 && n <= buf.len(), "message of {n} in {}", buf.len());
                    assert!(n <= MAX_MESSAGE, "a frame past the message limit");
                    let message = &buf[..n];
                    let reply = sip.handle(message, addr(PEER), "tcp");
                    check_answer(message, reply.as_deref(), "tcp");
                    if let Some(r) = reply {
                        answers.push(r.to_vec());
                    }
                    buf.drain(..n);
                }
                Frame::Oversized => {
                    return Served {
                        answers,
                        end: "oversized",
                    };
                }
                Frame::BadLength => {
                    return Served {
                        answers,
                        end: "bad_length",
                    };
                }
            }
        }
    }
    let end = if buf.is_empty() { "clean" } else { "partial" };
    Served { answers, end }
}

/// The header values a request carries under one name (long or compact), in order, read
/// leniently (lossy UTF-8, trimmed of SP/HTAB) from its header section, unfolded as RFC 3261
/// §7.3.1 says (a line starting with SP or HTAB continues the field before it, read as one
/// SP); a line that is no `token: value` field is skipped, and so are its continuations.
fn request_values(request: &[u8], long: &str, short: &str) -> Vec<String> {
    let bytes = &request[..request.len().min(MAX_MESSAGE)];
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let lws: &[char] = &[' ', '\t'];
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut last_ok = false;
    for line in head.split("\r\n").skip(1) {
        if line.starts_with(lws) {
            let more = line.trim_matches(lws);
            if let (true, Some((_, v)), false) = (last_ok, fields.last_mut(), more.is_empty()) {
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(more);
            }
            continue;
        }
        last_ok = false;
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_matches(lws);
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        {
            continue;
        }
        last_ok = true;
        fields.push((name.to_string(), value.trim_matches(lws).to_string()));
    }
    let mut out = Vec::new();
    for (name, value) in fields {
        if name.eq_ignore_ascii_case(long)
            || (!short.is_empty() && name.eq_ignore_ascii_case(short))
        {
            // A Via value with a control character is unreadable whole, as the daemon
            // reads it: kept unsplit so that it never counts as readable.
            if long == "via" && !has_control(&value) {
                out.extend(
                    split_outside_quotes(&value)
                        .into_iter()
                        .map(|v| v.trim_matches(lws).to_string())
                        .filter(|v| !v.is_empty()),
                );
            } else {
                out.push(value);
            }
        }
    }
    out
}

/// Splits a header value at each comma outside a quoted string and outside `<…>`.
fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, b) in s.bytes().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
            continue;
        }
        match b {
            b'"' => quoted = true,
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A Via with all its LWS and empty parameters taken out: the daemon echoes Via values in
/// that canonical form (`SIP / 2.0 / UDP h ; ;branch=1` → `SIP/2.0/UDP h;branch=1`).
fn squash(via: &str) -> String {
    let no_lws: String = via.chars().filter(|c| *c != ' ' && *c != '\t').collect();
    no_lws
        .split(';')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(";")
}

/// Whether an echoed From/To value is a request's `sent` value stripped down: `<URI>` and
/// maybe parameters, each found verbatim in `sent` (a display name the daemon could not
/// read, or one holding a control character, is dropped: RFC 3261 §20.20 "the display name
/// … do[es] not affect matching").
fn stripped_from(value: &str, sent: &str) -> bool {
    let Some(rest) = value.strip_prefix('<') else {
        return false;
    };
    let Some((uri, params)) = rest.split_once('>') else {
        return false;
    };
    !uri.is_empty() && sent.contains(uri) && sent.contains(params.trim())
}

/// The From the daemon fills in when a request has none it can echo.
const ANONYMOUS_FROM: &str = "<sip:anonymous@anonymous.invalid>;tag=callgate";

/// Whether `to` is a To the daemon may fill in when a request has none it can echo: a URI
/// taken from the request line (`<uri>`, the uri a token of that line), or the anonymous one.
fn filled_to(request: &[u8], to: &str) -> bool {
    if to == "<sip:anonymous@anonymous.invalid>" {
        return true;
    }
    let Some(uri) = to.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return false;
    };
    // The request line ends at the first CRLF (a bare CR inside it is part of it).
    let end = request
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(request.len());
    let line = String::from_utf8_lossy(&request[..end]);
    uri.contains(':') && line.split(' ').any(|t| t == uri)
}

/// A control character no header value may hold (HTAB aside).
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Whether a value holds a control character no answer may carry (HTAB aside; octets, as
/// the daemon checks them).
fn has_control(s: &str) -> bool {
    s.bytes().any(is_control)
}

/// Whether some value can be echoed: not empty, and free of control characters.
fn readable(sent: &[String]) -> bool {
    sent.iter().any(|s| !s.is_empty() && !has_control(s))
}

/// A parsed answer: status code, and its header lines in order.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Response {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of a header that must appear exactly once.
    fn one(&self, name: &str) -> &str {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "`{name}` appears {} times", all.len());
        all[0]
    }
}

/// A well-formed SIP response: status line, CRLF-terminated `name: value` lines with no
/// control character in a value, a blank line, and a `Content-Length` matching the body.
fn parse_response(reply: &[u8]) -> Response {
    let text = std::str::from_utf8(reply).expect("an answer is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("an answer ends its header section with a blank line");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let rest = status_line
        .strip_prefix("SIP/2.0 ")
        .unwrap_or_else(|| panic!("status line `{status_line}`"));
    let (code, phrase) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("status line `{status_line}`"));
    assert!(
        code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
        "status code `{code}`"
    );
    assert!(
        !phrase.is_empty() && !phrase.bytes().any(is_control),
        "reason phrase `{phrase}`"
    );
    let status: u16 = code.parse().expect("three digits");
    assert!((100..700).contains(&status), "status {status}");
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("header line `{line}`"));
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)),
            "header name `{name}`"
        );
        assert!(
            !value.bytes().any(is_control),
            "control character in `{name}`: {value:?}"
        );
        headers.push((name.to_string(), value.to_string()));
    }
    let response = Response { status, headers };
    let length = response.one("Content-Length");
    assert_eq!(
        length.parse::<usize>().ok(),
        Some(body.len()),
        "Content-Length `{length}` for a body of {}",
        body.len()
    );
    response
}

/// Every invariant of the answer `reply` (if any) to `request` from [`PEER`].
pub fn check_answer(request: &[u8], reply: Option<&[u8]>, transport: &str) {
    let demo = demo();
    let table = demo.state.table();
    let invite_uri = match message::request_line(request) {
        Some(("INVITE", uri)) => Some(uri),
        _ => None,
    };
    let from_tenant = request_values(request, "from", "f")
        .last()
        .and_then(|f| message::from_identity(f))
        .map(|(tenant, _)| tenant);
    let emergency = invite_uri.is_some_and(|uri| {
        table.is_emergency("", uri)
            || from_tenant
                .as_deref()
                .is_some_and(|t| table.is_emergency(t, uri))
    });

    let Some(reply) = reply else {
        // Unanswered: only when nothing can address an answer, or when it is an ACK, a
        // response or a keep-alive. An emergency INVITE with a readable Via is answered.
        if emergency && request.len() <= 2048 {
            let vias = request_values(request, "via", "v");
            assert!(
                !readable(&vias),
                "an emergency INVITE with a Via went unanswered ({transport})"
            );
        }
        return;
    };
    assert!(
        !request.starts_with(b"SIP/"),
        "a response was answered ({transport})"
    );
    let r = parse_response(reply);

    // Echoed: Via, From, To, Call-ID, CSeq come from the request (an emergency 302 may fill
    // in what is missing, never a caller ID).
    let filled_in = r.status == 302 && emergency;
    let vias = r.all("Via");
    assert!(!vias.is_empty(), "an answer without a Via");
    let request_vias = request_values(request, "via", "v");
    let sent_by = |v: &str| squash(v.split(';').next().unwrap_or(""));
    assert!(
        request_vias.iter().any(|v| sent_by(v) == sent_by(vias[0])),
        "top Via `{}` is not the request's",
        vias[0]
    );
    for via in &vias[1..] {
        assert!(
            request_vias.iter().any(|v| squash(v) == squash(via)),
            "Via `{via}` is not the request's"
        );
    }
    // A header the request carried readably (no control character) is echoed exactly once;
    // one it lacked (or that can't be echoed) is filled in with a fixed value, so that every
    // answer is a well-formed response (RFC 3261 §8.1.1), or, from older daemons, missing.
    let echoed = |name: &str, long: &str, short: &str, fill: &dyn Fn(&str) -> bool| {
        let sent = request_values(request, long, short);
        if r.all(name).is_empty() && !readable(&sent) {
            return;
        }
        let value = r.one(name).trim();
        assert!(
            sent.iter().any(|s| s.trim() == value) || (filled_in && fill(value)),
            "`{name}: {value}` is not the request's ({sent:?})"
        );
    };
    let call_id_sent = request_values(request, "call-id", "i");
    if !readable(&call_id_sent) {
        // Filled in: `callgate-<hash>`, never a caller's text.
        let id = r.one("Call-ID");
        assert!(
            id.strip_prefix("callgate-")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())),
            "`Call-ID: {id}` is not the request's"
        );
    } else {
        echoed("Call-ID", "call-id", "i", &|v| v.starts_with("callgate-"));
    }
    echoed("CSeq", "cseq", "", &|v| message::cseq_matches(v, "INVITE"));
    let from_sent = request_values(request, "from", "f");
    let from = r.one("From").trim();
    assert!(
        from == ANONYMOUS_FROM
            || from_sent
                .iter()
                .any(|s| s.trim() == from || stripped_from(from, s)),
        "`From: {from}` is not the request's ({from_sent:?})"
    );
    let to_sent = request_values(request, "to", "t");
    if r.all("To").is_empty() && !readable(&to_sent) {
        return check_decision(request, &r, emergency, from_tenant.as_deref(), transport);
    }
    let to = r.one("To");
    let untagged = match to.rfind(";tag=cg") {
        Some(i) if to[i + 7..].bytes().all(|b| b.is_ascii_hexdigit()) => &to[..i],
        _ => to,
    };
    assert!(
        to_sent.iter().any(|s| s.trim() == to.trim()
            || s.trim() == untagged.trim()
            || stripped_from(to.trim(), s)
            || stripped_from(untagged.trim(), s))
            || filled_to(request, untagged)
            || (filled_in && invite_uri.is_some_and(|u| untagged == format!("<{u}>"))),
        "`To: {to}` is not the request's ({to_sent:?})"
    );

    check_decision(request, &r, emergency, from_tenant.as_deref(), transport);
}

/// What an answer decides: an ACK is never answered (RFC 3261 §17.1.1.3), an emergency
/// INVITE is never refused, and a P-Asserted-Identity is the From-host tenant's number.
fn check_decision(
    request: &[u8],
    r: &Response,
    emergency: bool,
    from_tenant: Option<&str>,
    transport: &str,
) {
    let demo = demo();
    assert!(
        !matches!(message::request_line(request), Some(("ACK", _))),
        "an ACK was answered {} ({transport})",
        r.status
    );
    // An emergency INVITE is never refused.
    if emergency {
        assert_eq!(
            r.status, 302,
            "an emergency INVITE got {} ({transport})",
            r.status
        );
    }

    // A P-Asserted-Identity is a number the From-host tenant owns, in that tenant's domain.
    for pai in r.all("P-Asserted-Identity") {
        assert_eq!(r.status, 302, "a P-Asserted-Identity on a {}", r.status);
        let inner = pai
            .strip_prefix("<sip:")
            .and_then(|p| p.strip_suffix('>'))
            .unwrap_or_else(|| panic!("P-Asserted-Identity `{pai}`"));
        let (number, host) = inner
            .split_once('@')
            .unwrap_or_else(|| panic!("P-Asserted-Identity `{pai}`"));
        assert_eq!(
            Some(host),
            from_tenant,
            "P-Asserted-Identity in another tenant's domain"
        );
        let owned = demo
            .tenants
            .iter()
            .find(|t| t.id == host)
            .is_some_and(|t| t.numbers.iter().any(|n| n.number == number));
        assert!(owned, "P-Asserted-Identity `{number}` is not `{host}`'s");
    }
}
