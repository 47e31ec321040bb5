//! Frame → request: a SIP message read by hand (request line and header lines, no body),
//! reduced to what callgate answers with. Every header value is checked: a CR, LF or other
//! control character (HTAB aside) anywhere refuses the request, so nothing a caller sends
//! can reach an answer's header section unchecked.

use super::frame::{self, Addressing};

/// A request callgate answers, or why it can't.
#[derive(Debug)]
pub enum Incoming {
    /// A call about to be routed: decide its caller ID or feature code.
    Invite(Invite),
    /// Keep-alive / capability probe.
    Options(Addressing),
    /// Acknowledges our final answer: absorbed.
    Ack,
    /// A CANCEL for a transaction already answered.
    Cancel(Addressing),
    /// Any other method.
    Other(Addressing, String),
    /// A response (we send none that expect one): dropped.
    Response,
}

/// What an INVITE asks.
#[derive(Debug)]
pub struct Invite {
    /// The headers the answer echoes.
    pub addressing: Addressing,
    /// The Request-URI, exactly as sent (the 302's Contact): visible ASCII only.
    pub request_uri: String,
    /// The Request-URI's user part, unescaped (`sip:*46%23@acme` → `*46#`; `tel:911` →
    /// `911`; a `urn:` is itself): what was dialed. May hold any character an escape makes.
    pub dialed: String,
    /// The From URI's host: the tenant.
    pub tenant: String,
    /// The From URI's user: the caller's extension.
    pub from_user: String,
    /// `X-Callgate-User`, set by the proxy after it authenticated the caller.
    pub user: Option<String>,
    /// `P-Preferred-Identity`'s user, else `X-Callgate-Caller-Id`.
    pub requested: Option<String>,
}

/// Why a message couldn't be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not SIP at all, or broken beyond reading.
    #[error("malformed message")]
    Malformed,
    /// A header every request must carry is missing or unreadable (Via, From, To, Call-ID,
    /// CSeq).
    #[error("missing or malformed mandatory header")]
    MissingHeader,
    /// A CR, LF or other control character inside the request line or a header value.
    #[error("control character in a header")]
    ControlCharacter,
    /// A Request-URI that isn't a `sip:`, `sips:`, `tel:` or `urn:` URI of visible ASCII.
    #[error("unreadable request-uri")]
    BadRequestUri,
}

/// A control character a header value may not hold (HTAB is allowed, RFC 3261 §25.1).
#[inline]
pub fn is_forbidden(b: u8) -> bool {
    ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
}

/// The method and Request-URI of a request's first line, checked: a method token, one space,
/// a Request-URI of visible ASCII, one space, `SIP/2.0`. `None` for anything else.
pub fn request_line(bytes: &[u8]) -> Option<(&str, &str)> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(bytes.get(..end)?).ok()?;
    let mut parts = line.split(' ');
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    let visible = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b))
    };
    (parts.next().is_none() && token(method) && visible(uri) && version == "SIP/2.0")
        .then_some((method, uri))
}

/// Parses one whole message. Only an INVITE's From and Request-URI are read further; every
/// header value is checked for control characters first.
pub fn parse(bytes: &[u8]) -> Result<Incoming, ParseError> {
    if bytes.starts_with(b"SIP/") {
        return Ok(Incoming::Response);
    }
    let head_end = frame::head_end(bytes).ok_or(ParseError::Malformed)?;
    let head = bytes.get(..head_end).ok_or(ParseError::Malformed)?;
    if head
        .iter()
        .any(|b| is_forbidden(*b) && *b != b'\r' && *b != b'\n')
    {
        return Err(ParseError::ControlCharacter);
    }
    let head = std::str::from_utf8(head).map_err(|_| ParseError::Malformed)?;
    let mut lines = head.split("\r\n");
    let first = lines.next().ok_or(ParseError::Malformed)?;
    let (method, uri) = request_line(first.as_bytes()).ok_or_else(|| {
        if first.bytes().any(is_forbidden) {
            ParseError::ControlCharacter
        } else {
            ParseError::Malformed
        }
    })?;

    let mut a = Addressing {
        is_request: true,
        ..Addressing::default()
    };
    let mut from_value = None;
    let mut user = None;
    let mut ppi = None;
    let mut x_caller_id = None;
    for line in lines {
        // A bare CR or LF inside a line (the only control characters left): an injection.
        if line.bytes().any(is_forbidden) {
            return Err(ParseError::ControlCharacter);
        }
        if line.starts_with([' ', '\t']) {
            // Header folding (obsolete LWS continuation): no proxy callgate serves sends it.
            return Err(ParseError::Malformed);
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::Malformed)?;
        let (name, value) = (
            name.trim_end_matches([' ', '\t']),
            value.trim_matches([' ', '\t']),
        );
        let is = |long: &str, short: &str| {
            name.eq_ignore_ascii_case(long)
                || (!short.is_empty() && name.eq_ignore_ascii_case(short))
        };
        if is("via", "v") {
            // A Via header may carry several comma-separated values (RFC 3261 §7.3.1).
            a.vias.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        } else if is("from", "f") {
            a.from = Some(value.to_string());
            from_value = Some(value);
        } else if is("to", "t") {
            a.to = Some(value.to_string());
        } else if is("call-id", "i") {
            a.call_id = value.to_string();
        } else if is("cseq", "") {
            a.cseq = value.to_string();
        } else if is("x-callgate-user", "") {
            user = Some(value.to_string());
        } else if is("p-preferred-identity", "") {
            ppi = uri_user(value);
        } else if is("x-callgate-caller-id", "") {
            x_caller_id = Some(value.to_string());
        }
    }
    if a.vias.is_empty()
        || a.call_id.is_empty()
        || a.cseq.is_empty()
        || a.from.is_none()
        || a.to.is_none()
    {
        return Err(ParseError::MissingHeader);
    }
    if !cseq_matches(&a.cseq, method) {
        return Err(ParseError::MissingHeader);
    }

    match method {
        "ACK" => Ok(Incoming::Ack),
        "OPTIONS" => Ok(Incoming::Options(a)),
        "CANCEL" => Ok(Incoming::Cancel(a)),
        "INVITE" => {
            let (tenant, from_user) = from_value
                .and_then(from_identity)
                .ok_or(ParseError::MissingHeader)?;
            let dialed = dialed(uri).ok_or(ParseError::BadRequestUri)?;
            Ok(Incoming::Invite(Invite {
                addressing: a,
                request_uri: uri.to_string(),
                dialed,
                tenant,
                from_user,
                user: user.filter(|u| !u.is_empty()),
                requested: ppi.or(x_caller_id).filter(|r| !r.is_empty()),
            }))
        }
        other => Ok(Incoming::Other(a, other.to_string())),
    }
}

/// CSeq: a 32-bit sequence number and the request's own method (RFC 3261 §8.1.1.5).
pub fn cseq_matches(cseq: &str, method: &str) -> bool {
    let mut parts = cseq.split_whitespace();
    parts.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && parts.next().is_some_and(|m| m.eq_ignore_ascii_case(method))
        && parts.next().is_none()
}

/// What a Request-URI dials: a `sip:`/`sips:` URI's user (before `;`, `?` or `@`; `""` when
/// it has none), a `tel:` URI's number, a `urn:` itself; unescaped. `None` for other schemes.
pub fn dialed(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        match rest.split_once('@') {
            Some((user, _)) => user.split([';', '?', ':']).next().unwrap_or(""),
            None => "",
        }
    } else if scheme.eq_ignore_ascii_case("tel") {
        rest.split([';', '?']).next().unwrap_or("")
    } else if scheme.eq_ignore_ascii_case("urn") {
        return Some(uri.to_string());
    } else {
        return None;
    };
    Some(unescape(user))
}

/// The tenant (the host, lowercased, without port or parameters) and the user of a From
/// value: `"A" <sip:101@Acme:5060;transport=tcp>;tag=x` → (`acme`, `101`). `sip:`/`sips:` only.
pub fn from_identity(value: &str) -> Option<(String, String)> {
    let uri = addr_spec(value);
    let (scheme, rest) = uri.split_once(':')?;
    if !(scheme.trim().eq_ignore_ascii_case("sip") || scheme.trim().eq_ignore_ascii_case("sips")) {
        return None;
    }
    let (user, host) = match rest.split_once('@') {
        Some((user, host)) => (user.split([';', ':']).next().unwrap_or(""), host),
        None => ("", rest),
    };
    let host = host.split([';', '?']).next().unwrap_or("");
    // An IPv6 reference keeps its colons; otherwise a `:` starts the port.
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), unescape(user)))
}

/// The URI of a name-addr (`"A" <sip:x@y>;tag=1` → `sip:x@y`) or of an addr-spec, whose
/// header parameters start at the first `;` (`sip:x@y;tag=1` → `sip:x@y`).
fn addr_spec(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => value.get(start + 1..end).unwrap_or(""),
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a name-addr or URI: `"A" <sip:+1555@acme>` → `+1555`; `<tel:+1555;x=y>` →
/// `+1555`.
pub fn uri_user(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => value.get(start + 1..end)?,
        _ => value,
    };
    let (scheme, rest) = uri.split_once(':')?;
    let user = match scheme.trim().to_ascii_lowercase().as_str() {
        "sip" | "sips" => rest.split_once('@')?.0.split(';').next()?,
        "tel" => rest.split(';').next()?,
        _ => return None,
    };
    let user = user.split(':').next()?;
    (!user.is_empty()).then(|| unescape(user))
}

/// Decodes `%XX` escapes in a URI's user part (phones send `#` as `%23`).
fn unescape(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(request_uri: &str, extra: &str) -> Vec<u8> {
        format!(
            "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:101@Acme:5060>;tag=a\r\nTo: <sip:x@acme>\r\nCall-ID: c\r\n\
             CSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn uri_users_are_read_from_name_addrs() {
        assert_eq!(
            uri_user("<sip:+15550100101@acme>").as_deref(),
            Some("+15550100101")
        );
        assert_eq!(
            uri_user("\"Alice\" <sip:+1555@acme;transport=udp>").as_deref(),
            Some("+1555")
        );
        assert_eq!(
            uri_user("<tel:+15550100101;phone-context=x>").as_deref(),
            Some("+15550100101")
        );
        assert_eq!(uri_user("sip:101@acme").as_deref(), Some("101"));
        assert_eq!(uri_user("garbage"), None);
        assert_eq!(unescape("*46%23"), "*46#");
    }

    #[test]
    fn request_uris_of_every_emergency_spelling_are_read() {
        for (uri, dialed) in [
            ("sip:911;phone-context=+1@acme;user=phone", "911"),
            ("tel:911", "911"),
            ("sip:911%23@acme", "911#"),
            ("urn:service:sos", "urn:service:sos"),
            ("urn:service:sos.police", "urn:service:sos.police"),
        ] {
            let Ok(Incoming::Invite(inv)) = parse(&invite(uri, "")) else {
                panic!("{uri}");
            };
            assert_eq!(inv.request_uri, uri);
            assert_eq!(inv.dialed, dialed, "{uri}");
            assert_eq!(
                (inv.tenant.as_str(), inv.from_user.as_str()),
                ("acme", "101")
            );
        }
        assert!(matches!(
            parse(&invite("http://x", "")),
            Err(ParseError::BadRequestUri)
        ));
    }

    #[test]
    fn a_control_character_in_any_header_value_refuses_the_request() {
        for extra in [
            "X-Callgate-User: bob\rP-Asserted-Identity: <sip:1@acme>\r\n",
            "X-Callgate-User: bob\nP-Asserted-Identity: <sip:1@acme>\r\n",
            "Subject: a\x00b\r\n",
            "Subject: a\x1bb\r\n",
            "Subject: a\x7fb\r\n",
        ] {
            assert_eq!(
                parse(&invite("sip:1@acme", extra)).err(),
                Some(ParseError::ControlCharacter),
                "{extra:?}"
            );
        }
        assert!(parse(&invite("sip:1@acme", "Subject: a\tb\r\n")).is_ok());
    }

    #[test]
    fn request_lines_are_strict() {
        assert_eq!(
            request_line(b"INVITE sip:1@a SIP/2.0\r\n"),
            Some(("INVITE", "sip:1@a"))
        );
        assert_eq!(request_line(b"INVITE sip:1@a  SIP/2.0\r\n"), None);
        assert_eq!(request_line(b"INVITE <sip:1@a> SIP/2.0\r\n"), None);
        assert_eq!(request_line(b"INVITE sip:1@a SIP/3.0\r\n"), None);
        assert_eq!(request_line(b"INV\x01TE sip:1@a SIP/2.0\r\n"), None);
    }
}
