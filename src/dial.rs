//! Dial strings as phones and proxies send them, reduced to what a decision compares.
//!
//! A caller may reach an emergency number as `911`, `9-1-1`, `911#`, `sip:911%23@acme`,
//! `sip:911;phone-context=+1@acme;user=phone`, `tel:911` or `urn:service:sos.police`
//! (RFC 3966, RFC 5031, RFC 6881). [`target`] reduces every such spelling to one
//! [`Target`]; nothing here allocates.

/// What a dial string is, for emergency matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `urn:service:sos` or one of its sub-services (`urn:service:sos.police`), or a SIP
    /// URI whose user is `sos`: always an emergency call.
    Sos,
    /// Up to 16 dial characters (`0`–`9`, `*`, `#`), packed by [`key`].
    Digits(u64),
    /// Anything else: longer, or with other characters.
    Other,
}

/// The platform-wide emergency numbers when the daemon's config names none: the numbers
/// that reach emergency services in most of the world (North America, the EU and most GSM
/// networks, the UK, Australia, Japan, China, Korea). A platform adds its country's others
/// (e.g. `100`, `101`, `102` — which collide with many extension plans, so they are not
/// defaults) in its config or per tenant.
pub const DEFAULT_EMERGENCY: [&str; 7] = ["112", "911", "999", "000", "110", "118", "119"];

/// The most dial characters a packed key holds.
pub const MAX_KEY_DIGITS: usize = 16;

/// Packs a string of dial characters (`0`–`9`, `*`, `#`, at most 16) into a `u64`, one
/// nibble each, so `0` and `00` differ; `None` for anything else.
pub fn key(digits: &str) -> Option<u64> {
    let mut packer = Packer::default();
    for b in digits.bytes() {
        packer.push(b)?;
    }
    packer.finish()
}

/// Each byte's nibble in a packed key (`0`–`9` → 1–10, `*` → 11, `#` → 12), 0 for the rest.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range fails the build"
)]
const NIBBLES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut d = 0u8;
    while d < 10 {
        table[(b'0' + d) as usize] = d + 1;
        d += 1;
    }
    table[b'*' as usize] = 11;
    table[b'#' as usize] = 12;
    table
};

#[derive(Default)]
struct Packer {
    value: u64,
    len: usize,
}

impl Packer {
    fn push(&mut self, b: u8) -> Option<()> {
        let nibble = match b {
            b'0'..=b'9' => b - b'0' + 1,
            b'*' => 11,
            b'#' => 12,
            _ => return None,
        };
        if self.len == MAX_KEY_DIGITS {
            return None;
        }
        self.value = (self.value << 4) | u64::from(nibble);
        self.len += 1;
        Some(())
    }

    /// Drops a trailing `#` (the "send" key some phones append) and returns the key.
    fn finish(self) -> Option<u64> {
        let value = if self.value & 0xf == 12 {
            self.value >> 4
        } else {
            self.value
        };
        (value != 0).then_some(value)
    }
}

/// The dial string a packed key was made from.
pub fn unpack(mut key: u64) -> String {
    let mut out = Vec::with_capacity(MAX_KEY_DIGITS);
    while key != 0 {
        out.push(match key & 0xf {
            n @ 1..=10 => b'0' + (n as u8) - 1,
            11 => b'*',
            _ => b'#',
        });
        key >>= 4;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The user part of a `sip:`/`sips:`/`tel:` URI (before `@`, `;` or `?`), or `dialed` itself
/// when it is not a URI. Borrowed; escapes are left as they are.
pub fn user_part(dialed: &str) -> &str {
    let Some(rest) = strip_scheme(dialed.trim()) else {
        return dialed;
    };
    let end = rest.find(['@', ';', '?', ':']).unwrap_or(rest.len());
    rest.get(..end).unwrap_or("")
}

/// Reduces a dial string — bare digits, a `sip:`/`sips:`/`tel:` URI or a `urn:service:`
/// URN, with parameters, percent-escapes and visual separators — to its [`Target`].
#[inline]
pub fn target(dialed: &str) -> Target {
    // Fast path, the common case: bare dial characters, as a trunk or a phone sends them,
    // one table lookup a byte.
    let bytes = dialed.as_bytes();
    if bytes.len() <= MAX_KEY_DIGITS {
        let mut value = 0u64;
        let mut bare = true;
        for &b in bytes {
            let nibble = NIBBLES.get(usize::from(b)).copied().unwrap_or(0);
            bare &= nibble != 0;
            value = (value << 4) | u64::from(nibble);
        }
        if bare {
            let packer = Packer {
                value,
                len: bytes.len(),
            };
            return packer.finish().map_or(Target::Other, Target::Digits);
        }
    } else if bytes.iter().all(u8::is_ascii_digit) {
        return Target::Other;
    }
    target_of_text(dialed)
}

/// [`target`] for anything but bare dial characters: URIs, URNs, escapes, separators.
fn target_of_text(dialed: &str) -> Target {
    let s = dialed.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .trim();
    if let Some(service) = strip_prefix_ignore_case(s, "urn:service:") {
        return if is_sos_service(service) {
            Target::Sos
        } else {
            Target::Other
        };
    }
    let (user, uri) = match strip_scheme(s) {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    // Some front ends carry the service URN as a SIP URI's user: `sip:urn:service:sos@host`.
    if strip_prefix_ignore_case(user, "urn:service:").is_some() {
        return if names_sos(user) {
            Target::Sos
        } else {
            Target::Other
        };
    }
    // The user part ends at `@` (then the host), `;` (parameters such as `phone-context`),
    // `?` (headers) or, in a URI, `:` (a password).
    let end = user
        .find(|c: char| c == '@' || c == ';' || c == '?' || (uri && c == ':'))
        .unwrap_or(user.len());
    let user = user.get(..end).unwrap_or("");
    // RFC 3261 allows no `:` in a user part unescaped, so a conforming phone writes the
    // service URN as `sip:urn%3Aservice%3Asos@host`: the SOS forms are read decoded too.
    if names_sos(user) || (user.contains('%') && escaped_sos(user)) {
        return Target::Sos;
    }
    let mut packer = Packer::default();
    let mut bytes = user.bytes();
    while let Some(b) = bytes.next() {
        let b = if b == b'%' {
            let hi = bytes.next().and_then(hex);
            let lo = bytes.next().and_then(hex);
            match (hi, lo) {
                (Some(hi), Some(lo)) => (hi << 4) | lo,
                _ => return Target::Other,
            }
        } else {
            b
        };
        match b {
            // RFC 3966 visual separators, and the spaces people type.
            b'-' | b'.' | b'(' | b')' | b' ' => {}
            _ => {
                if packer.push(b).is_none() {
                    return Target::Other;
                }
            }
        }
    }
    packer.finish().map_or(Target::Other, Target::Digits)
}

/// Whether a user part with `%XX` escapes reads, decoded, as `sos` or an SOS service URN
/// (`urn:service:sos`, `urn:service:sos.police`, parameters after `;`). Decoded on the stack,
/// 64 bytes at most: past them only a sub-service's tail can follow (`sos.` and its first
/// letters are well inside), so the first 64 decide.
fn escaped_sos(user: &str) -> bool {
    let mut buf = [0u8; 64];
    let mut len = 0;
    let mut bytes = user.bytes();
    while let Some(b) = bytes.next() {
        let b = if b == b'%' {
            match (bytes.next().and_then(hex), bytes.next().and_then(hex)) {
                (Some(hi), Some(lo)) => (hi << 4) | lo,
                _ => return false,
            }
        } else {
            b
        };
        let Some(slot) = buf.get_mut(len) else {
            break;
        };
        *slot = b;
        len += 1;
    }
    let decoded = buf.get(..len).unwrap_or(&[]);
    // Text up to the first byte that is not UTF-8 (the cut may split a character).
    let text = match std::str::from_utf8(decoded) {
        Ok(text) => text,
        Err(e) => decoded
            .get(..e.valid_up_to())
            .and_then(|d| std::str::from_utf8(d).ok())
            .unwrap_or(""),
    };
    names_sos(text)
}

/// Whether a SIP user part names emergency services: `sos`, or an SOS service URN up to its
/// host, parameters or headers (`urn:service:sos.police@host;user=phone`), any case.
fn names_sos(user: &str) -> bool {
    if user.eq_ignore_ascii_case("sos") {
        return true;
    }
    strip_prefix_ignore_case(user, "urn:service:").is_some_and(|service| {
        let end = service.find(['@', ';', '?']).unwrap_or(service.len());
        is_sos_service(service.get(..end).unwrap_or(""))
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `sos`, or `sos.` and a sub-service (RFC 5031 §4.2), any case.
fn is_sos_service(service: &str) -> bool {
    let service = service.trim();
    match strip_prefix_ignore_case(service, "sos") {
        Some("") => true,
        Some(rest) => rest.starts_with('.') && rest.len() > 1,
        None => false,
    }
}

fn strip_scheme(s: &str) -> Option<&str> {
    ["sip:", "sips:", "tel:"]
        .iter()
        .find_map(|scheme| strip_prefix_ignore_case(s, scheme))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Whether `dialed` holds only what a feature code and its arguments may: ASCII letters and
/// digits, `*`, `#`, `+`, `-`, `.` and `_` (after the percent-decoding a SIP front end does).
/// Anything else — a control character above all — is refused, never echoed.
pub fn is_dial_text(dialed: &str) -> bool {
    dialed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'#' | b'+' | b'-' | b'.' | b'_'))
}

/// A set of emergency dial strings, packed: lookups compare integers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmergencySet {
    keys: Box<[u64]>,
    /// The largest key (0 for none). A key with more digits is always larger, so an ordinary
    /// number, longer than any emergency number, is ruled out by this one comparison without
    /// reading `keys`: every ordinary call checks its tenant's list, and on a large table the
    /// list is seldom in cache.
    max: u64,
}

impl EmergencySet {
    /// The set of these dial strings; `Err` names the first that isn't 1 to 16 dial
    /// characters.
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> Result<EmergencySet, String> {
        let mut keys = Vec::new();
        for n in numbers {
            let k = key(n.trim()).ok_or_else(|| n.to_string())?;
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Ok(EmergencySet::of(keys))
    }

    /// The set of the dial strings that are valid, skipping the others.
    pub fn lenient<'a>(numbers: impl IntoIterator<Item = &'a str>) -> EmergencySet {
        let mut keys: Vec<u64> = numbers.into_iter().filter_map(|n| key(n.trim())).collect();
        keys.sort_unstable();
        keys.dedup();
        EmergencySet::of(keys)
    }

    fn of(keys: Vec<u64>) -> EmergencySet {
        let max = keys.iter().copied().max().unwrap_or(0);
        EmergencySet {
            keys: keys.into_boxed_slice(),
            max,
        }
    }

    /// Whether the packed key is in the set.
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        key <= self.max && self.keys.contains(&key)
    }

    /// The packed keys.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Target {
        Target::Digits(key(s).unwrap())
    }

    #[test]
    fn an_emergency_set_holds_its_numbers_and_no_other() {
        let k = |s: &str| key(s).unwrap();
        let set = EmergencySet::new(["911", "112", "*1", "0118"]).unwrap();
        for n in ["911", "112", "*1", "0118"] {
            assert!(set.contains(k(n)), "{n}");
        }
        // Shorter, as long, and longer than the largest key (which rules a number out alone).
        for n in ["9", "999", "0119", "15551234567", "*2"] {
            assert!(!set.contains(k(n)), "{n}");
        }
        assert!(!EmergencySet::default().contains(k("911")));
        assert!(EmergencySet::lenient(["bad", "911"]).contains(k("911")));
    }

    #[test]
    fn a_key_with_more_digits_is_larger() {
        // The table's one-comparison bound on its emergency list rests on this.
        for n in 1..MAX_KEY_DIGITS {
            // `#` packs highest, but a trailing `#` is dropped: the largest n-digit key.
            let largest = key(&format!("{}*", "#".repeat(n - 1))).unwrap();
            let smallest_longer = key(&"0".repeat(n + 1)).unwrap();
            assert!(largest < smallest_longer, "{n} digits");
        }
    }

    #[test]
    fn every_spelling_of_911_is_911() {
        for s in [
            "911",
            " 911 ",
            "9-1-1",
            "(911)",
            "9.1.1",
            "911#",
            "911%23",
            "sip:911@acme",
            "SIP:911@acme",
            "sips:911@acme:5061;transport=tls",
            "sip:911;phone-context=+1@acme;user=phone",
            "<sip:911@acme>",
            "tel:911",
            "tel:911;phone-context=+1",
            "TEL:9-1-1",
            "sip:911%23@acme",
            "sip:%39%31%31@acme",
            "911@acme",
            "911;phone-context=+1",
        ] {
            assert_eq!(target(s), digits("911"), "{s}");
        }
    }

    #[test]
    fn sos_urns_are_emergency() {
        for s in [
            "urn:service:sos",
            "URN:Service:SOS",
            "urn:service:sos.police",
            "urn:service:sos.fire",
            "<urn:service:sos.ambulance>",
            "sip:sos@acme",
            "sip:urn:service:sos@example.com",
            "sip:urn:service:sos.police@example.com;user=phone",
            // RFC 3261 allows no `:` in a user part: a conforming phone escapes it.
            "sip:urn%3Aservice%3Asos@example.com",
            "sip:urn%3aservice%3asos.fire@example.com;user=phone",
            "sip:urn%3Aservice%3Asos%3Bx@example.com",
            "sip:%73os@acme",
            "sips:%53%4F%53@acme",
        ] {
            assert_eq!(target(s), Target::Sos, "{s}");
        }
        for s in [
            "urn:service:counseling",
            "urn:service:sosx",
            "urn:service:sos.",
            "sip:urn%3Aservice%3Acounseling@example.com",
            "sip:urn%3Aservice%3Asosx@example.com",
            "sip:%73osx@acme",
            "sip:%7@acme",
            // Hostile escapes: a NUL, CR/LF, bytes that are not UTF-8, more than an SOS URN.
            "sip:sos%00@acme",
            "sip:%73os%0D%0A@acme",
            "sip:%73%FFos@acme",
        ] {
            assert_eq!(target(s), Target::Other, "{s}");
        }
        // An escaped SOS URN longer than the 64 bytes decoded is one all the same.
        let long = format!("sip:urn%3Aservice%3Asos.{}@acme", "x%78".repeat(40));
        assert_eq!(target(&long), Target::Sos, "{long}");
        let long = format!("sip:urn%3Aservice%3Asosx{}@acme", "x%78".repeat(40));
        assert_eq!(target(&long), Target::Other, "{long}");
    }

    #[test]
    fn other_strings_are_not_emergency_digits() {
        assert_ne!(target("9110"), digits("911"));
        assert_eq!(target("alice"), Target::Other);
        assert_eq!(target("12345678901234567"), Target::Other);
        assert_eq!(target("%zz"), Target::Other);
        assert_eq!(target(""), Target::Other);
        assert_ne!(key("0"), key("00"));
        assert_eq!(unpack(key("*9#0").unwrap()), "*9#0");
        assert_eq!(unpack(key("000").unwrap()), "000");
        assert_eq!(user_part("sip:*46*201*600@acme;user=phone"), "*46*201*600");
        assert_eq!(user_part("*46"), "*46");
        assert_eq!(target("*46*201"), digits("*46*201"));
        for text in DEFAULT_EMERGENCY {
            assert!(key(text).is_some(), "{text}");
        }
    }

    #[test]
    fn dial_text_refuses_control_and_header_characters() {
        assert!(is_dial_text("*72*5551234"));
        assert!(is_dial_text("*47*sales"));
        assert!(!is_dial_text("*72*555\r\nP-Asserted-Identity: x"));
        assert!(!is_dial_text("*72*<sip:x>"));
        assert!(!is_dial_text("*72*a b"));
        assert!(is_dial_text(""), "nothing dialed is no code, not a bad one");
    }
}
