//! Bytes → frames: where one SIP message ends on a TCP stream, whether a datagram holds a
//! whole one, and — for messages too broken to parse — the few headers a response needs.

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
    let total = head_end + 4 + length;
    if total > MAX_MESSAGE {
        Frame::Oversized
    } else if buf.len() < total {
        Frame::Partial
    } else {
        Frame::Message(total)
    }
}

/// Whether a datagram's body is shorter than its `Content-Length` says (a truncated message).
pub fn is_truncated(datagram: &[u8]) -> bool {
    let Some(head_end) = find(datagram, b"\r\n\r\n") else {
        return true;
    };
    let head = datagram.get(..head_end).unwrap_or(&[]);
    match content_length(head) {
        Ok(Some(n)) => datagram.len() < head_end + 4 + n,
        Ok(None) => false,
        Err(()) => true,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` (or compact `l`) of a header section.
fn content_length(head: &[u8]) -> Result<Option<usize>, ()> {
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = trim(name);
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(trim(value.get(1..).unwrap_or(&[]))).map_err(|_| ())?;
            return value.parse().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
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
/// transaction (no `Via`, `Call-ID` or `CSeq`), so the message must be dropped.
pub fn addressing(bytes: &[u8]) -> Option<Addressing> {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(MAX_MESSAGE))?);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let mut a = Addressing {
        is_request: !first.starts_with("SIP/") && first.contains("SIP/2.0"),
        ..Addressing::default()
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim().to_string());
        if value.chars().any(|c| c.is_control()) {
            continue;
        }
        match name.to_ascii_lowercase().as_str() {
            "via" | "v" => a.vias.push(value),
            "from" | "f" => a.from = Some(value),
            "to" | "t" => a.to = Some(value),
            "call-id" | "i" => a.call_id = value,
            "cseq" => a.cseq = value,
            _ => {}
        }
    }
    (a.is_request && !a.vias.is_empty() && !a.call_id.is_empty() && !a.cseq.is_empty()).then_some(a)
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
