//! Frame → request: a SIP message read by hand (request line and header lines, unfolded; no
//! body), reduced to what callgate answers with. Every header value is checked: a CR or LF
//! anywhere, or another control character (HTAB aside) anywhere but escaped in a From/To
//! display name, refuses the request; such a display name is never echoed. So nothing a
//! caller sends can reach an answer's header section unchecked.

use super::frame::{self, Addressing};
use super::syntax;

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
    /// Any other method: 405 if callgate knows it, else 501 (both with `Allow`).
    Other(Addressing, String),
    /// An OPTIONS with a `Require` callgate doesn't support (every option tag): 420.
    BadExtension(Addressing, String),
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
    /// The option tags of `Require` (callgate supports none): a 420 unless the INVITE is an
    /// emergency call, which is never refused.
    pub require: Option<String>,
}

/// Why a message couldn't be read, or can't be served; each maps to one answer.
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
    /// A Request-URI that isn't a URI of visible ASCII, or a SIP URI with headers.
    #[error("unreadable request-uri")]
    BadRequestUri,
    /// A header that may appear once appears twice (To, From, Call-ID, CSeq, Max-Forwards).
    #[error("duplicate header")]
    Duplicate,
    /// A header value outside its grammar or range (Via, From, To, Contact, CSeq,
    /// Max-Forwards, Require).
    #[error("malformed header value")]
    BadValue,
    /// A SIP version other than 2.0 (answered 505).
    #[error("unsupported SIP version")]
    Version,
    /// A Request-URI scheme callgate can't serve (answered 416).
    #[error("unsupported request-uri scheme")]
    UnsupportedScheme,
}

impl ParseError {
    /// The answer's status code and reason phrase, and the metrics label.
    pub fn status(self) -> (u16, &'static str, &'static str) {
        match self {
            ParseError::Malformed => (400, "Bad Request", "malformed"),
            ParseError::MissingHeader => (400, "Bad Request", "missing_header"),
            ParseError::ControlCharacter => (400, "Bad Request", "control_character"),
            ParseError::BadRequestUri => (400, "Bad Request", "bad_request_uri"),
            ParseError::Duplicate => (400, "Bad Request", "duplicate_header"),
            ParseError::BadValue => (400, "Bad Request", "bad_header_value"),
            ParseError::Version => (505, "Version Not Supported", "version"),
            ParseError::UnsupportedScheme => (416, "Unsupported URI Scheme", "uri_scheme"),
        }
    }
}

/// A control character a header value may not hold (HTAB is allowed, RFC 3261 §25.1).
#[inline]
pub fn is_forbidden(b: u8) -> bool {
    ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
}

/// Methods RFC 3261 and its extensions define that callgate does not serve: answered 405
/// ("the UAS recognizes but does not support the method", RFC 3261 §8.2.1); any other
/// unknown method gets 501 (§21.5.2).
pub const KNOWN_METHODS: [&str; 10] = [
    "REGISTER",
    "BYE",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// Whether `method` is one callgate recognizes (served or not).
pub fn is_known_method(method: &str) -> bool {
    matches!(method, "INVITE" | "ACK" | "CANCEL" | "OPTIONS") || KNOWN_METHODS.contains(&method)
}

/// The method and Request-URI of a request's first line, checked: a method token, one space,
/// a Request-URI of visible ASCII, one space, `SIP/2.0`. `None` for anything else.
pub fn request_line(bytes: &[u8]) -> Option<(&str, &str)> {
    match request_line_any_version(bytes)? {
        (method, uri, "SIP/2.0") => Some((method, uri)),
        _ => None,
    }
}

/// The same, for any `SIP/<digits>.<digits>` version.
fn request_line_any_version(bytes: &[u8]) -> Option<(&str, &str, &str)> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(bytes.get(..end)?).ok()?;
    let mut parts = line.split(' ');
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    let visible = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b))
    };
    let version_ok = version.strip_prefix("SIP/").is_some_and(|v| {
        v.split_once('.').is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    (parts.next().is_none() && syntax::is_token(method) && visible(uri) && version_ok)
        .then_some((method, uri, version))
}

/// Parses one whole message. Only an INVITE's From and Request-URI are read further; every
/// header value is checked for control characters first. RFC 3261 §8.2's order: the message
/// (400, 505), the method (405, 501), the Request-URI (416), Require (420).
pub fn parse(bytes: &[u8]) -> Result<Incoming, ParseError> {
    if bytes.starts_with(b"SIP/") {
        return Ok(Incoming::Response);
    }
    let head_end = frame::head_end(bytes).ok_or(ParseError::Malformed)?;
    let head = bytes.get(..head_end).ok_or(ParseError::Malformed)?;
    let head = std::str::from_utf8(head).map_err(|_| ParseError::Malformed)?;
    let mut lines = head.split("\r\n");
    let first = lines.next().ok_or(ParseError::Malformed)?;
    let (method, uri, version) = request_line_any_version(first.as_bytes()).ok_or_else(|| {
        if first.bytes().any(is_forbidden) {
            ParseError::ControlCharacter
        } else {
            ParseError::Malformed
        }
    })?;
    let fields = syntax::fields(lines).map_err(|_| {
        if head.split("\r\n").any(|l| l.bytes().any(is_forbidden)) {
            ParseError::ControlCharacter
        } else {
            ParseError::Malformed
        }
    })?;
    for f in &fields {
        // A control character may only sit escaped in a From/To display name (RFC 3261
        // §25.1 quoted-pair); those are checked, and dropped from answers, below.
        if f.value.bytes().any(is_forbidden) && !(f.is("from", "f") || f.is("to", "t")) {
            return Err(ParseError::ControlCharacter);
        }
        if f.value.contains(['\r', '\n']) {
            return Err(ParseError::ControlCharacter);
        }
    }
    if version != "SIP/2.0" {
        return Err(ParseError::Version);
    }

    let mut a = Addressing {
        is_request: true,
        ..Addressing::default()
    };
    let mut from_value = None;
    let mut user = None;
    let mut ppi = None;
    let mut x_caller_id = None;
    let mut require: Vec<&str> = Vec::new();
    let mut seen = [false; 5];
    let mut once = |i: usize| -> Result<(), ParseError> {
        let slot = seen.get_mut(i).ok_or(ParseError::Malformed)?;
        if std::mem::replace(slot, true) {
            Err(ParseError::Duplicate)
        } else {
            Ok(())
        }
    };
    for f in &fields {
        let value: &str = &f.value;
        if f.is("via", "v") {
            // A Via header may carry several comma-separated values (RFC 3261 §7.3.1).
            for v in syntax::split_outside_quotes(value, b',') {
                a.vias
                    .push(syntax::via(v, true).ok_or(ParseError::BadValue)?);
            }
        } else if f.is("from", "f") {
            once(0)?;
            syntax::name_addr(value).ok_or(ParseError::BadValue)?;
            a.from = Some(syntax::echoable_address(value).into_owned());
            from_value = Some(value);
        } else if f.is("to", "t") {
            once(1)?;
            syntax::name_addr(value).ok_or(ParseError::BadValue)?;
            a.to = Some(syntax::echoable_address(value).into_owned());
        } else if f.is("call-id", "i") {
            once(2)?;
            a.call_id = value.to_string();
        } else if f.is("cseq", "") {
            once(3)?;
            a.cseq = value.to_string();
        } else if f.is("max-forwards", "") {
            once(4)?;
            // 1*DIGIT, at most 255 (RFC 3261 §20.22, RFC 4475 §3.1.2.4).
            if value.is_empty()
                || !value.bytes().all(|b| b.is_ascii_digit())
                || value.trim_start_matches('0').len() > 3
                || value.parse::<u16>().map_or(true, |n| n > 255)
            {
                return Err(ParseError::BadValue);
            }
        } else if f.is("contact", "m") {
            // A Contact URI with headers must be in name-addr form (RFC 4475 §3.1.2.13).
            for c in syntax::split_outside_quotes(value, b',') {
                if !c.contains('<') && c.contains('?') {
                    return Err(ParseError::BadValue);
                }
            }
        } else if f.is("require", "") {
            require.extend(syntax::option_tags(value).ok_or(ParseError::BadValue)?);
        } else if f.is("x-callgate-user", "") {
            user = Some(value.to_string());
        } else if f.is("p-preferred-identity", "") {
            ppi = uri_user(value);
        } else if f.is("x-callgate-caller-id", "") {
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
    let cseq_method = cseq_method(&a.cseq).ok_or(ParseError::BadValue)?;
    // An unknown method is 501 even when CSeq names another (RFC 4475 §3.1.2.18: "choosing a
    // 501 (particularly at proxies) has better future-proof characteristics").
    if !is_known_method(method) {
        return Ok(Incoming::Other(a, method.to_string()));
    }
    if cseq_method != method {
        return Err(ParseError::MissingHeader);
    }
    if method == "ACK" {
        return Ok(Incoming::Ack);
    }
    if method == "CANCEL" {
        return Ok(Incoming::Cancel(a));
    }
    if !matches!(method, "INVITE" | "OPTIONS") {
        return Ok(Incoming::Other(a, method.to_string()));
    }
    check_request_uri(uri)?;
    let require = (!require.is_empty()).then(|| require.join(", "));
    if method == "OPTIONS" {
        return Ok(match require {
            Some(tags) => Incoming::BadExtension(a, tags),
            None => Incoming::Options(a),
        });
    }
    let (tenant, from_user) = from_value
        .and_then(from_identity)
        .ok_or(ParseError::MissingHeader)?;
    let dialed = dialed(uri).ok_or(ParseError::UnsupportedScheme)?;
    Ok(Incoming::Invite(Invite {
        addressing: a,
        request_uri: uri.to_string(),
        dialed,
        tenant,
        from_user,
        user: user.filter(|u| !u.is_empty()),
        requested: ppi.or(x_caller_id).filter(|r| !r.is_empty()),
        require,
    }))
}

/// The Request-URI: a scheme (RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), one
/// callgate serves (`sip`, `sips`, `tel`, `urn`; else 416, RFC 3261 §8.2.2.1), and for SIP
/// URIs no headers (RFC 3261 §19.1.1: headers are "not allowed" in a Request-URI).
fn check_request_uri(uri: &str) -> Result<(), ParseError> {
    let (scheme, rest) = uri.split_once(':').ok_or(ParseError::BadRequestUri)?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(ParseError::BadRequestUri);
    }
    let lower = scheme.to_ascii_lowercase();
    match lower.as_str() {
        "sip" | "sips" => {
            let host_part = rest.split_once('@').map_or(rest, |(_, h)| h);
            if host_part.contains('?') || host_part.is_empty() {
                return Err(ParseError::BadRequestUri);
            }
            Ok(())
        }
        "tel" | "urn" => Ok(()),
        _ => Err(ParseError::UnsupportedScheme),
    }
}

/// The method a CSeq names, if its number is a 32-bit unsigned integer (RFC 3261 §8.1.1.5).
fn cseq_method(cseq: &str) -> Option<&str> {
    let mut parts = cseq.split_whitespace();
    let n = parts.next()?;
    let method = parts.next()?;
    (n.bytes().all(|b| b.is_ascii_digit())
        && n.parse::<u32>().is_ok()
        && syntax::is_token(method)
        && parts.next().is_none())
    .then_some(method)
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
///
/// The `<` is the first one outside a quoted display name, and the URI ends at the first `>`
/// after it: RFC 3261 lets a display name hold `<`, `>`, `;` and `:`, so
/// `"<sip:201@acme;" <sip:101@acme>` names 101, as the proxy that authenticated it reads it.
/// Lenient (the broken-message path reads it too): an unclosed quote or `<` names nothing.
fn addr_spec(value: &str) -> &str {
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => {
                let rest = value.get(i + 1..).unwrap_or("");
                return rest.find('>').and_then(|end| rest.get(..end)).unwrap_or("");
            }
            _ => {}
        }
        i += 1;
    }
    if quoted || value.trim_start().starts_with('"') {
        return ""; // a display name and no `<…>`
    }
    value.split(';').next().unwrap_or(value).trim()
}

/// The user part of a name-addr or URI: `"A" <sip:+1555@acme>` → `+1555`; `<tel:+1555;x=y>` →
/// `+1555`.
pub fn uri_user(value: &str) -> Option<String> {
    let uri = addr_spec(value);
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
        // The URI is the one outside the quoted display name, whatever the name holds.
        assert_eq!(
            uri_user("\"<sip:+1999@acme>\" <sip:+1555@acme>").as_deref(),
            Some("+1555")
        );
        assert_eq!(uri_user("\"x\" sip:+1999@acme"), None);
        assert_eq!(unescape("*46%23"), "*46#");
    }

    /// The caller is the From URI the proxy authenticated, not one written into the display
    /// name: "Nothing ever crosses tenants" (DESIGN.md), and no user speaks as another.
    #[test]
    fn the_caller_is_the_from_uri_not_what_the_display_name_says() {
        let who = |v: &str| from_identity(v);
        let acme_101 = Some(("acme".to_string(), "101".to_string()));
        for value in [
            "\"<sip:201@acme;\" <sip:101@acme>;tag=1",
            "\"<sip:201@globex>\" <sip:101@Acme:5060>;tag=1",
            "\"Front <Desk>\" <sip:101@acme>;tag=1",
            "\"a \\\" <sip:201@globex>\" <sip:101@acme>;tag=1",
            "Alice <sip:101@acme;transport=tcp>;tag=1",
            "sip:101@acme;tag=1",
        ] {
            assert_eq!(who(value), acme_101, "{value}");
        }
        // A display name and no `<…>`, or an unclosed quote: nobody is named.
        assert_eq!(who("\"sip:201@globex\""), None);
        assert_eq!(who("\"<sip:201@globex> <sip:101@acme>"), None);
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
        // RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it
        // SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
        assert_eq!(
            parse(&invite("http://x", "")).err(),
            Some(ParseError::UnsupportedScheme)
        );
        // RFC 4475 §3.1.2.11: headers in a Request-URI are malformed.
        assert_eq!(
            parse(&invite(
                "sip:user@example.com?Route=%3Csip:example.com%3E",
                ""
            ))
            .err(),
            Some(ParseError::BadRequestUri)
        );
    }

    #[test]
    fn folded_and_compact_headers_are_read() {
        // RFC 3261 §7.3.1: a header field value may be folded onto several lines.
        let msg = b"INVITE sip:1@acme SIP/2.0\r\nv: SIP / 2.0 / UDP\r\n h;branch=z9hG4bK1\r\n\
                    f: <sip:101@acme>\r\n  ;tag=a\r\nt: <sip:1@acme>\r\ni: c\r\n\
                    CSeq: 0001\r\n\tINVITE\r\nl: 0\r\n\r\n";
        let Ok(Incoming::Invite(inv)) = parse(msg) else {
            panic!("a folded INVITE")
        };
        assert_eq!(inv.addressing.vias, ["SIP/2.0/UDP h;branch=z9hG4bK1"]);
        assert_eq!(inv.addressing.cseq, "0001 INVITE");
        assert_eq!(
            inv.addressing.from.as_deref(),
            Some("<sip:101@acme> ;tag=a")
        );
    }

    #[test]
    fn a_header_that_may_appear_once_appears_once() {
        // RFC 4475 §3.3.8: "An element receiving this request would respond with a 400 Bad
        // Request error."
        for extra in [
            "Call-ID: other\r\n",
            "CSeq: 2 INVITE\r\n",
            "From: <sip:102@acme>;tag=b\r\n",
            "t: <sip:y@acme>\r\n",
            "Max-Forwards: 70\r\nMax-Forwards: 69\r\n",
        ] {
            assert_eq!(
                parse(&invite("sip:1@acme", extra)).err(),
                Some(ParseError::Duplicate),
                "{extra:?}"
            );
        }
        for bad in ["Max-Forwards: 256\r\n", "Max-Forwards: -1\r\n"] {
            assert_eq!(
                parse(&invite("sip:1@acme", bad)).err(),
                Some(ParseError::BadValue),
                "{bad:?}"
            );
        }
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
