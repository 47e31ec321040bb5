//! Bytes → frames: where one SIP message ends on a TCP stream, whether a datagram holds a
//! whole one, and — for messages too broken to parse — the few headers a response needs.

use super::syntax;

/// The largest message accepted, headers and body.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// What the bytes at the front of a stream buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole message yet.
    Partial,
    /// Keep-alive line breaks to skip.
    KeepAlive(usize),
    /// One message of this many bytes.
    Message(usize),
    /// A header section past [`MAX_MESSAGE`] or a body that can't fit: the stream can't be
    /// resynchronised.
    Oversized,
    /// A `Content-Length` that isn't a number.
    BadLength,
}

/// Finds the first frame in a stream buffer (RFC 3261 §18.3: the header section ends at the
/// first empty line; `Content-Length` is mandatory on streams and gives the body's size).
pub fn next_frame(buf: &[u8]) -> Frame {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if skip > 0 {
        return Frame::KeepAlive(skip);
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE {
            Frame::Oversized
        } else {
            Frame::Partial
        };
    };
    let head = buf.get(..head_end).unwrap_or(&[]);
    let length = match content_length(head) {
        Ok(n) => n.unwrap_or(0),
        Err(()) => return Frame::BadLength,
    };
    // Checked: a length near `usize::MAX` must not wrap into a small frame.
    match head_end.checked_add(4).and_then(|n| n.checked_add(length)) {
        None => Frame::BadLength,
        Some(total) if total > MAX_MESSAGE => Frame::Oversized,
        Some(total) if buf.len() < total => Frame::Partial,
        Some(total) => Frame::Message(total),
    }
}

/// Whether a datagram's body is shorter than its `Content-Length` says (a truncated message).
pub fn is_truncated(datagram: &[u8]) -> bool {
    let Some(head_end) = find(datagram, b"\r\n\r\n") else {
        return true;
    };
    let head = datagram.get(..head_end).unwrap_or(&[]);
    match content_length(head) {
        Ok(Some(n)) => head_end
            .checked_add(4)
            .and_then(|end| end.checked_add(n))
            .is_none_or(|total| datagram.len() < total),
        Ok(None) => false,
        Err(()) => true,
    }
}

/// Where a message's header section ends (the offset of its blank line), if it does.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    find(bytes, b"\r\n\r\n")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` (or compact `l`) of a header section: ASCII digits only, and at most
/// one such header ("Multiple conflicting Content-Length header field values … equivalent to
/// an invalid Content-Length value", RFC 4475 §3.3.9; callgate refuses agreeing copies too);
/// a value past `usize` is an error, never a wrapped number.
fn content_length(head: &[u8]) -> Result<Option<usize>, ()> {
    let mut found = None;
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A continuation line (RFC 3261 §7.3.1) is never a header of its own.
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = trim(name);
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = trim(value.get(1..).unwrap_or(&[]));
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) || found.is_some() {
                return Err(());
            }
            let n = value.iter().try_fold(0usize, |n, d| {
                n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
            });
            found = Some(n.ok_or(())?);
        }
    }
    Ok(found)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

/// The headers a response must echo, read leniently from a message that didn't parse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// Every `Via`, in order.
    pub vias: Vec<String>,
    /// `From`.
    pub from: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `Call-ID`.
    pub call_id: String,
    /// `CSeq`.
    pub cseq: String,
    /// Whether the first line looks like a request (responses are never answered).
    pub is_request: bool,
}

/// Reads [`Addressing`] from raw bytes; `None` when a response couldn't be matched to a
/// transaction (no readable `Via`, or no `CSeq`), so the message must be dropped. What else
/// is missing is filled in, so that the answer is still a well-formed response (RFC 3261
/// §8.1.1: every message carries To, From, Call-ID; a client matches it by the Via branch and
/// CSeq, §17.1.3): a Call-ID made from the Via, an anonymous From, a To of the Request-URI.
pub fn addressing(bytes: &[u8]) -> Option<Addressing> {
    let mut a = read_addressing(bytes)?;
    if !(a.is_request && !a.vias.is_empty() && !a.cseq.is_empty()) {
        return None;
    }
    fill_in(&mut a, bytes);
    Some(a)
}

/// Fills in a missing Call-ID, From and To (see [`addressing`]).
pub fn fill_in(a: &mut Addressing, bytes: &[u8]) {
    if a.call_id.is_empty() {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
        h.write(a.vias.first().map_or("", String::as_str).as_bytes());
        a.call_id = format!("callgate-{:x}", h.finish());
    }
    if a.from.is_none() {
        a.from = Some(ANONYMOUS_FROM.into());
    }
    if a.to.is_none() {
        let uri = request_uri(bytes).unwrap_or("sip:anonymous@anonymous.invalid");
        a.to = Some(format!("<{uri}>"));
    }
}

/// The From an answer gets when the request had none.
pub const ANONYMOUS_FROM: &str = "<sip:anonymous@anonymous.invalid>;tag=callgate";

/// The Request-URI of a request line of any SIP version (`method SP uri SP version`), if it
/// is a URI of visible ASCII.
fn request_uri(bytes: &[u8]) -> Option<&str> {
    let end = find(bytes, b"\r\n").unwrap_or(bytes.len());
    let line = std::str::from_utf8(bytes.get(..end)?).ok()?;
    let mut parts = line.split(' ');
    let uri = parts.nth(1)?;
    (parts.count() == 1
        && uri.contains(':')
        && uri
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b)))
    .then_some(uri)
}

/// Reads whatever [`Addressing`] headers a message has (unfolded; the first of each
/// single-valued one), skipping any value with a control character and any Via value that
/// isn't one; `None` only when the bytes have no first line at all.
pub fn read_addressing(bytes: &[u8]) -> Option<Addressing> {
    read_addressing_with(bytes, false)
}

/// The same, for an emergency INVITE, which is never left unanswered while it has a Via to
/// answer along: when no Via value reads as one, the raw values (free of control
/// characters) are kept.
pub fn read_addressing_for_emergency(bytes: &[u8]) -> Option<Addressing> {
    read_addressing_with(bytes, true)
}

fn read_addressing_with(bytes: &[u8], raw_vias: bool) -> Option<Addressing> {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(MAX_MESSAGE))?);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    // A request line: `method SP uri SP SIP/x.y`, whatever the version (a 505 is answered).
    let is_request = !first.starts_with("SIP/")
        && first
            .split_whitespace()
            .last()
            .is_some_and(|v| v.starts_with("SIP/"));
    let mut a = Addressing {
        is_request,
        ..Addressing::default()
    };
    let mut raw = Vec::new();
    for f in syntax::fields_lenient(lines) {
        let value: &str = &f.value;
        let control = value.bytes().any(super::message::is_forbidden);
        if f.is("via", "v") {
            if !control {
                for v in syntax::split_outside_quotes(value, b',') {
                    match syntax::via(v, false) {
                        Some(via) => a.vias.push(via),
                        None if raw_vias && !v.trim_matches([' ', '\t']).is_empty() => {
                            raw.push(v.trim_matches([' ', '\t']).to_string());
                        }
                        None => {}
                    }
                }
            }
        } else if f.is("from", "f") {
            if a.from.is_none() {
                a.from = echoable(value);
            }
        } else if f.is("to", "t") {
            if a.to.is_none() {
                a.to = echoable(value);
            }
        } else if f.is("call-id", "i") {
            if a.call_id.is_empty() && !control {
                a.call_id = value.to_string();
            }
        } else if f.is("cseq", "") && a.cseq.is_empty() && !control {
            a.cseq = value.to_string();
        }
    }
    if a.vias.is_empty() {
        a.vias = raw;
    }
    Some(a)
}

/// A From/To value an answer may echo: as sent if it is well-formed (without a display name
/// holding a control character), else its URI and parameters alone; `None` if neither is
/// to be had (then it is filled in, see [`fill_in`]).
fn echoable(value: &str) -> Option<String> {
    if syntax::name_addr(value).is_some() {
        let v = syntax::echoable_address(value);
        return (!v.bytes().any(super::message::is_forbidden)).then(|| v.into_owned());
    }
    syntax::repaired_address(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_a_stream() {
        let msg = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";
        assert_eq!(next_frame(msg), Frame::Message(msg.len()));
        assert_eq!(next_frame(&msg[..msg.len() - 1]), Frame::Partial);
        assert_eq!(next_frame(b"\r\n\r\nOPTIONS"), Frame::KeepAlive(4));
        assert_eq!(next_frame(b"X\r\nl: zz\r\n\r\n"), Frame::BadLength);
        assert_eq!(
            next_frame(b"X\r\nContent-Length: 99999\r\n\r\n"),
            Frame::Oversized
        );
        assert_eq!(next_frame(&vec![b'a'; MAX_MESSAGE + 1]), Frame::Oversized);
    }

    #[test]
    fn impossible_lengths_never_wrap() {
        for length in [
            "18446744073709551615",
            "18446744073709551612",
            "99999999999999999999999",
            "+4",
            "-1",
            "4 4",
            "",
        ] {
            let msg = format!("OPTIONS sip:x SIP/2.0\r\nContent-Length: {length}\r\n\r\n");
            let frame = next_frame(msg.as_bytes());
            assert!(
                matches!(frame, Frame::BadLength | Frame::Oversized),
                "{length}: {frame:?}"
            );
            assert!(is_truncated(msg.as_bytes()), "{length}");
        }
        let two = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\nl: 4\r\n\r\nbody";
        assert_eq!(next_frame(two), Frame::BadLength);
    }

    #[test]
    fn truncated_datagrams_are_seen() {
        assert!(is_truncated(
            b"INVITE sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc"
        ));
        assert!(!is_truncated(
            b"INVITE sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
        ));
        assert!(is_truncated(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h"));
    }
}
