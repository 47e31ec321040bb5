//! Frame → request: a SIP message parsed by rsip, reduced to what callgate answers with.

use rsip::Header;
use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

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

/// Parses one whole message.
pub fn parse(bytes: &[u8]) -> Result<Incoming, ParseError> {
    let message = rsip::SipMessage::try_from(bytes).map_err(|_| ParseError::Malformed)?;
    let rsip::SipMessage::Request(req) = message else { return Ok(Incoming::Response) };

    let mut a = Addressing { is_request: true, ..Addressing::default() };
    let mut user = None;
    let mut ppi = None;
    let mut x_caller_id = None;
    for h in req.headers.iter() {
        match h {
            Header::Via(v) => a.vias.push(v.value().to_string()),
            Header::From(v) => a.from = Some(v.value().to_string()),
            Header::To(v) => a.to = Some(v.value().to_string()),
            Header::CallId(v) => a.call_id = v.value().to_string(),
            Header::CSeq(v) => a.cseq = v.value().to_string(),
            Header::Other(name, value) => {
                let value = value.trim();
                match name.trim() {
                    n if n.eq_ignore_ascii_case("v") => a.vias.push(value.to_string()),
                    n if n.eq_ignore_ascii_case("f") => a.from = Some(value.to_string()),
                    n if n.eq_ignore_ascii_case("t") => a.to = Some(value.to_string()),
                    n if n.eq_ignore_ascii_case("i") => a.call_id = value.to_string(),
                    n if n.eq_ignore_ascii_case("x-callgate-user") => user = Some(value.to_string()),
                    n if n.eq_ignore_ascii_case("p-preferred-identity") => ppi = uri_user(value),
                    n if n.eq_ignore_ascii_case("x-callgate-caller-id") => x_caller_id = Some(value.to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if a.vias.is_empty() || a.call_id.trim().is_empty() || a.cseq.trim().is_empty() || a.from.is_none() || a.to.is_none()
    {
        return Err(ParseError::MissingHeader);
    }
    // CSeq: a 32-bit sequence number and the request's own method (RFC 3261 §8.1.1.5).
    let mut cseq = a.cseq.split_whitespace();
    let cseq_ok = cseq.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && cseq.next().is_some_and(|m| m.eq_ignore_ascii_case(&req.method.to_string()))
        && cseq.next().is_none();
    if !cseq_ok {
        return Err(ParseError::MissingHeader);
    }

    match req.method {
        rsip::Method::Ack => Ok(Incoming::Ack),
        rsip::Method::Options => Ok(Incoming::Options(a)),
        rsip::Method::Cancel => Ok(Incoming::Cancel(a)),
        rsip::Method::Invite => {
            let from = req.from_header().map_err(|_| ParseError::MissingHeader)?;
            let from_uri = from.uri().map_err(|_| ParseError::MissingHeader)?;
            let tenant = from_uri.host_with_port.host.to_string().to_ascii_lowercase();
            let from_user = from_uri.auth.as_ref().map(|a| unescape(&a.user)).unwrap_or_default();
            let dialed = req.uri.auth.as_ref().map(|a| unescape(&a.user)).unwrap_or_default();
            Ok(Incoming::Invite(Invite {
                addressing: a,
                request_uri: req.uri.to_string(),
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
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
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
        assert_eq!(uri_user("<sip:+15550100101@acme>").as_deref(), Some("+15550100101"));
        assert_eq!(uri_user("\"Alice\" <sip:+1555@acme;transport=udp>").as_deref(), Some("+1555"));
        assert_eq!(uri_user("<tel:+15550100101;phone-context=x>").as_deref(), Some("+15550100101"));
        assert_eq!(uri_user("sip:101@acme").as_deref(), Some("101"));
        assert_eq!(uri_user("garbage"), None);
        assert_eq!(unescape("*46%23"), "*46#");
    }
}
