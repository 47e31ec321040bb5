//! The pieces of RFC 3261's grammar callgate reads: header fields unfolded (§7.3.1), Via
//! values (§20.42), name-addr / addr-spec values of From and To (§20.10, §20.20, §20.39),
//! token lists (Require). Each reader says whether a value is well-formed and gives the form
//! an answer echoes, free of control characters.

use std::borrow::Cow;

/// Whether `b` may appear in a `token` (RFC 3261 §25.1).
#[inline]
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether `s` is a non-empty `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

const LWS: [char; 2] = [' ', '\t'];

/// One header field: its name as sent (trimmed) and its value unfolded and trimmed.
#[derive(Debug)]
pub struct Field<'a> {
    /// The name, as sent, without the whitespace before the colon.
    pub name: &'a str,
    /// The value: a folded line's CRLF and leading whitespace read as one SP (RFC 3261
    /// §7.3.1: "the CRLF and the leading whitespace … can be replaced with a single SP").
    pub value: Cow<'a, str>,
}

impl Field<'_> {
    /// Whether this field is `long` or its compact form `short` (names are case-insensitive).
    pub fn is(&self, long: &str, short: &str) -> bool {
        self.name.eq_ignore_ascii_case(long)
            || (!short.is_empty() && self.name.eq_ignore_ascii_case(short))
    }
}

/// Why a header line can't be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A line that is neither `name: value` nor a continuation, or a continuation first.
    NotAField,
}

/// The header fields of the lines after the start line, unfolded: a line starting with SP or
/// HTAB continues the field before it. A line without a colon, or with a name that is not a
/// token, is an error.
pub fn fields<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<Field<'a>>, LineError> {
    let mut out: Vec<Field<'a>> = Vec::with_capacity(16);
    for line in lines {
        if line.starts_with(LWS) {
            let more = line.trim_matches(LWS);
            let last = out.last_mut().ok_or(LineError::NotAField)?;
            if !more.is_empty() {
                let value = last.value.to_mut();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(LineError::NotAField)?;
        let name = name.trim_end_matches(LWS);
        if !is_token(name) {
            return Err(LineError::NotAField);
        }
        out.push(Field {
            name,
            value: Cow::Borrowed(value.trim_matches(LWS)),
        });
    }
    Ok(out)
}

/// The same, leniently: lines that are not fields are skipped (for answering a message that
/// didn't parse).
pub fn fields_lenient<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Field<'a>> {
    let mut out: Vec<Field<'a>> = Vec::with_capacity(16);
    let mut last_ok = false;
    for line in lines {
        if line.starts_with(LWS) {
            if let (true, Some(last)) = (last_ok, out.last_mut()) {
                let more = line.trim_matches(LWS);
                if !more.is_empty() {
                    let value = last.value.to_mut();
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
            }
            continue;
        }
        last_ok = false;
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_matches(LWS);
        if !is_token(name) {
            continue;
        }
        last_ok = true;
        out.push(Field {
            name,
            value: Cow::Borrowed(value.trim_matches(LWS)),
        });
    }
    out
}

/// Splits `s` at each `sep` outside a quoted string (and, for `,`, outside `<…>`).
pub fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
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
            _ if b == sep && !(angle && sep == b',') => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// A Via value (`SIP / 2.0 / UDP host:port ; p = v`) in the form an answer echoes
/// (`SIP/2.0/UDP host:port;p=v`), or `None` if it is not one. `strict`: an empty parameter
/// (`;;`) is an error; otherwise it is dropped.
pub fn via(value: &str, strict: bool) -> Option<String> {
    let mut params = split_outside_quotes(value, b';').into_iter();
    let head = params.next()?;
    // protocol-name SLASH version SLASH transport LWS sent-by; LWS may surround each SLASH.
    let mut parts = head.splitn(3, '/');
    let name = parts.next()?.trim_matches(LWS);
    let version = parts.next()?.trim_matches(LWS);
    let rest = parts.next()?.trim_start_matches(LWS);
    let cut = rest.find(LWS)?;
    let (transport, sent_by) = rest.split_at(cut);
    if !is_token(name) || !is_token(version) || !is_token(transport) {
        return None;
    }
    // sent-by: host [ COLON port ], LWS allowed around the colon only.
    let pieces: Vec<&str> = sent_by.split(LWS).filter(|p| !p.is_empty()).collect();
    for pair in pieces.windows(2) {
        if let [a, b] = pair
            && !(a.ends_with(':') || b.starts_with(':'))
        {
            return None;
        }
    }
    let sent_by = pieces.concat();
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
    };
    let valid_sent_by = if let Some(v6_end) = sent_by.find(']') {
        let (host, port) = sent_by.split_at(v6_end + 1);
        sent_by.starts_with('[')
            && host_ok(host)
            && (port.is_empty()
                || port
                    .strip_prefix(':')
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    } else {
        match sent_by.split_once(':') {
            Some((host, port)) => {
                host_ok(host) && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            }
            None => host_ok(&sent_by),
        }
    };
    if !valid_sent_by {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    out.push_str(name);
    out.push('/');
    out.push_str(version);
    out.push('/');
    out.push_str(transport);
    out.push(' ');
    out.push_str(&sent_by);
    for p in params {
        let p = p.trim_matches(LWS);
        if p.is_empty() {
            if strict {
                return None;
            }
            continue;
        }
        let (pname, pvalue) = match p.split_once('=') {
            Some((n, v)) => (n.trim_matches(LWS), Some(v.trim_matches(LWS))),
            None => (p, None),
        };
        if !is_token(pname) {
            return None;
        }
        out.push(';');
        out.push_str(pname);
        if let Some(v) = pvalue {
            if !param_value_ok(v) {
                return None;
            }
            out.push('=');
            out.push_str(v);
        }
    }
    Some(out)
}

/// A generic-param value: a token, a host (IPv6 reference included) or a quoted string.
fn param_value_ok(v: &str) -> bool {
    if v.starts_with('"') {
        return quoted_string_len(v) == Some(v.len());
    }
    !v.is_empty() && v.bytes().all(|b| is_token_char(b) || b"[]:".contains(&b))
}

/// The length of the quoted string at the start of `s` (both quotes included), if it is one
/// and is closed. Inside it, `\` escapes any octet but CR and LF (RFC 3261 §25.1
/// `quoted-pair`), and other control characters may only appear so escaped.
fn quoted_string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *bytes.get(i + 1)?;
                if next == b'\r' || next == b'\n' {
                    return None;
                }
                i += 2;
            }
            _ if super::message::is_forbidden(b) => return None,
            _ => i += 1,
        }
    }
    None
}

/// A From or To value read as RFC 3261's `name-addr / addr-spec` followed by parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The URI, without angle brackets.
    pub uri: &'a str,
    /// Whether a display name holds a control character (escaped in its quoted string).
    pub display_has_control: bool,
    /// The header parameters (`;tag=x`), from the first `;`, as sent.
    pub params: &'a str,
}

/// Reads a From/To value; `None` if it is malformed: an unbalanced quote (RFC 4475
/// §3.1.2.6), whitespace inside `<…>` (§3.1.2.14), a display name neither quoted nor tokens
/// (§3.1.2.15), an empty parameter, or a control character outside a quoted display name.
pub fn name_addr(value: &str) -> Option<NameAddr<'_>> {
    let bytes = value.as_bytes();
    // The first `<` outside a quoted string.
    let mut i = 0;
    let mut lt = None;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => i += quoted_string_len(value.get(i..)?)?,
            b'<' => {
                lt = Some(i);
                break;
            }
            _ => i += 1,
        }
    }
    let (uri, params, display_has_control) = match lt {
        Some(lt) => {
            let display = value.get(..lt)?.trim_matches(LWS);
            let display_has_control = if display.starts_with('"') {
                if quoted_string_len(display)? != display.len() {
                    return None;
                }
                display.bytes().any(super::message::is_forbidden)
            } else {
                if !display
                    .bytes()
                    .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
                {
                    return None;
                }
                false
            };
            let rest = value.get(lt + 1..)?;
            let gt = rest.find('>')?;
            (rest.get(..gt)?, rest.get(gt + 1..)?, display_has_control)
        }
        None => {
            // addr-spec: the URI ends at the first `;` (what follows is header parameters)
            // and can't hold `,` or `?` (RFC 3261 §20.10).
            let (uri, params) = match value.find(';') {
                Some(semi) => (value.get(..semi)?, value.get(semi..)?),
                None => (value, ""),
            };
            let uri = uri.trim_matches(LWS);
            if uri.contains([',', '?']) {
                return None;
            }
            (uri, params, false)
        }
    };
    if uri.is_empty()
        || !uri.contains(':')
        || uri
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b"<>\"".contains(&b) || !b.is_ascii_graphic())
    {
        return None;
    }
    let params_trimmed = params.trim_matches(LWS);
    if !params_trimmed.is_empty() {
        let mut parts = split_outside_quotes(params_trimmed, b';').into_iter();
        if !parts.next()?.trim_matches(LWS).is_empty() {
            return None; // something between the URI and the first `;`
        }
        for p in parts {
            let (pname, pvalue) = match p.split_once('=') {
                Some((n, v)) => (n.trim_matches(LWS), Some(v.trim_matches(LWS))),
                None => (p.trim_matches(LWS), None),
            };
            if !is_token(pname) || pvalue.is_some_and(|v| !param_value_ok(v)) {
                return None;
            }
        }
    }
    Some(NameAddr {
        uri,
        display_has_control,
        params,
    })
}

/// The form of a From/To value an answer echoes: as sent, unless a display name holds a
/// control character, in which case the display name is dropped (`<uri>;params`). RFC 3261
/// §20.20 and §20.39: "the display name and presence or absence of angle brackets do not
/// affect matching".
pub fn echoable_address(value: &str) -> Cow<'_, str> {
    match name_addr(value) {
        Some(na) if na.display_has_control => {
            Cow::Owned(format!("<{}>{}", na.uri, na.params.trim_end_matches(LWS)))
        }
        _ => Cow::Borrowed(value),
    }
}

/// The form of a malformed From/To value (one [`name_addr`] refuses) an answer to it can
/// still echo: its URI in angle brackets, and its parameters if they are well-formed (so
/// that a tag survives); the display name, whatever it was, is dropped. `None` if no URI
/// can be read. `"Mr. J. User <sip:j.user@example.com>` → `<sip:j.user@example.com>`.
pub fn repaired_address(value: &str) -> Option<String> {
    let (uri, params) = match (value.rfind('<'), value.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => (value.get(lt + 1..gt)?, value.get(gt + 1..)?),
        _ => {
            let start = value.rfind(['"', ' ', '\t', '<']).map_or(0, |i| i + 1);
            let rest = value.get(start..)?;
            match rest.find(';') {
                Some(semi) => (rest.get(..semi)?, rest.get(semi..)?),
                None => (rest, ""),
            }
        }
    };
    let candidate = format!("<{}>", uri.trim_matches(LWS));
    let na = name_addr(&candidate)?;
    if na.display_has_control {
        return None;
    }
    let with_params = format!("{candidate}{}", params.trim_end_matches(LWS));
    Some(if name_addr(&with_params).is_some() {
        with_params
    } else {
        candidate
    })
}

/// The option tags of a Require value (`a, b`): `None` if one is not a token.
pub fn option_tags(value: &str) -> Option<Vec<&str>> {
    value
        .split(',')
        .map(|t| t.trim_matches(LWS))
        .filter(|t| !t.is_empty())
        .map(|t| is_token(t).then_some(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_are_one_field() {
        let f =
            fields(["cseq: 0009", "  INVITE", "Via  : SIP  /   2.0", " /UDP"].into_iter()).unwrap();
        assert_eq!((f[0].name, &*f[0].value), ("cseq", "0009 INVITE"));
        assert_eq!((f[1].name, &*f[1].value), ("Via", "SIP  /   2.0 /UDP"));
        assert_eq!(fields([" x"].into_iter()).err(), Some(LineError::NotAField));
        assert_eq!(
            fields(["no colon"].into_iter()).err(),
            Some(LineError::NotAField)
        );
    }

    #[test]
    fn vias_are_read_through_their_whitespace() {
        assert_eq!(
            via("SIP  /   2.0 /UDP     192.0.2.2;branch=390skdjuw", true).as_deref(),
            Some("SIP/2.0/UDP 192.0.2.2;branch=390skdjuw")
        );
        assert_eq!(
            via(
                " SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
                true
            )
            .as_deref(),
            Some("SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239")
        );
        assert_eq!(
            via("SIP/2.0/UDP [2001:db8::9]:5060;rport", true).as_deref(),
            Some("SIP/2.0/UDP [2001:db8::9]:5060;rport")
        );
        assert_eq!(via("SIP/2.0/UDP 192.0.2.15;;", true), None);
        assert_eq!(
            via("SIP/2.0/UDP 192.0.2.15;;", false).as_deref(),
            Some("SIP/2.0/UDP 192.0.2.15")
        );
        assert_eq!(via(";", false), None);
        assert_eq!(via("SIP/2.0/UDP a b", true), None);
    }

    #[test]
    fn from_and_to_values_are_checked() {
        assert!(
            name_addr("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8")
                .is_some()
        );
        assert!(name_addr("caller<sip:caller@example.com>;tag=323").is_some());
        assert!(name_addr("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").is_some());
        assert!(name_addr("isbn:2983792873").is_some());
        assert!(name_addr("\"Mr. J. User <sip:j.user@example.com>").is_none());
        assert!(name_addr("\"Watson, Thomas\" < sip:t.watson@example.org >").is_none());
        assert!(name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_none());
        assert!(name_addr("<sip:a@b>;;tag=1").is_none());
        let na = name_addr("\"BEL:\\\x07 NUL:\\\x00\" <sip:x@example.com>;tag=1").unwrap();
        assert!(na.display_has_control);
        assert_eq!(
            echoable_address("\"BEL:\\\x07\" <sip:x@example.com>;tag=1"),
            "<sip:x@example.com>;tag=1"
        );
        assert!(name_addr("\"BEL:\x07\" <sip:x@example.com>").is_none());
        for (bad, repaired) in [
            (
                "\"Mr. J. User <sip:j.user@example.com>",
                "<sip:j.user@example.com>",
            ),
            (
                "\"Watson, Thomas\" < sip:t.watson@example.org >",
                "<sip:t.watson@example.org>",
            ),
            (
                "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
                "<sip:a.g.bell@example.com>;tag=43",
            ),
        ] {
            assert_eq!(repaired_address(bad).as_deref(), Some(repaired), "{bad}");
        }
        assert_eq!(repaired_address("\"x\" <>"), None);
    }
}
