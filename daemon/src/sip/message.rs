//! Frame → request: a SIP message parsed by rsip, reduced to what callgate answers with.

use rsip::headers::UntypedHeader;

use super::frame::Addressing;

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
    /// The Request-URI, as sent (the 302's Contact).
    pub request_uri: String,
    /// The Request-URI's user: what was dialed.
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
}

/// Parses one whole message with rsip's tokenizer, which borrows every header from the
/// bytes; only what the answer needs is copied out, and only an INVITE's From and
/// Request-URI are parsed further (by rsip's typed parsers).
pub fn parse(bytes: &[u8]) -> Result<Incoming, ParseError> {
    if bytes.starts_with(b"SIP/") {
        return Ok(Incoming::Response);
    }
    let (_, req) =
        rsip::message::request::Tokenizer::tokenize(bytes).map_err(|_| ParseError::Malformed)?;
    let method = rsip::Method::try_from(req.method).map_err(|_| ParseError::Malformed)?;

    let mut a = Addressing {
        is_request: true,
        ..Addressing::default()
    };
    let mut from_value = None;
    let mut user = None;
    let mut ppi = None;
    let mut x_caller_id = None;
    for h in &req.headers {
        let name = std::str::from_utf8(h.name)
            .map_err(|_| ParseError::Malformed)?
            .trim();
        let value = std::str::from_utf8(h.value)
            .map_err(|_| ParseError::Malformed)?
            .trim();
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
    // CSeq: a 32-bit sequence number and the request's own method (RFC 3261 §8.1.1.5).
    let mut cseq = a.cseq.split_whitespace();
    let cseq_ok = cseq.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && cseq
            .next()
            .is_some_and(|m| m.eq_ignore_ascii_case(&method.to_string()))
        && cseq.next().is_none();
    if !cseq_ok {
        return Err(ParseError::MissingHeader);
    }

    match method {
        rsip::Method::Ack => Ok(Incoming::Ack),
        rsip::Method::Options => Ok(Incoming::Options(a)),
        rsip::Method::Cancel => Ok(Incoming::Cancel(a)),
        rsip::Method::Invite => {
            let from = rsip::headers::From::new(from_value.unwrap_or_default());
            let from_uri = from.uri().map_err(|_| ParseError::MissingHeader)?;
            let request_uri = rsip::Uri::try_from(req.uri).map_err(|_| ParseError::Malformed)?;
            let tenant = from_uri
                .host_with_port
                .host
                .to_string()
                .to_ascii_lowercase();
            let from_user = from_uri
                .auth
                .as_ref()
                .map(|a| unescape(&a.user))
                .unwrap_or_default();
            let dialed = request_uri
                .auth
                .as_ref()
                .map(|a| unescape(&a.user))
                .unwrap_or_default();
            Ok(Incoming::Invite(Invite {
                addressing: a,
                request_uri: request_uri.to_string(),
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
}
