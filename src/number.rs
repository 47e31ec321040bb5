//! E.164 telephone numbers as a `Copy` integer, so a check never allocates for one.

use std::fmt;
use std::str::FromStr;

/// An E.164 number: `+` then 1 to 15 digits, the first not `0`. Stored as its digits' value
/// (no E.164 number starts with `0`, so the value is the number).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(u64);

/// Why a text is not an E.164 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// It doesn't start with `+`.
    #[error("must start with `+`")]
    MissingPlus,
    /// Something other than a digit after the `+`.
    #[error("must be `+` followed by digits only")]
    NotDigits,
    /// Empty, longer than 15 digits, or starting with `0`.
    #[error("must have 1 to 15 digits, the first not 0")]
    BadLength,
}

impl E164 {
    /// Parses the strict form `+<digits>`, as the directory requires.
    pub fn parse(text: &str) -> Result<E164, NumberError> {
        let digits = text.strip_prefix('+').ok_or(NumberError::MissingPlus)?;
        Self::from_digits(digits)
    }

    /// Parses what a SIP header or an API caller presents: `+<digits>` or bare digits, with
    /// visual separators (`-`, `.`, space, parentheses) ignored. `None` if it isn't a number.
    pub fn parse_lenient(text: &str) -> Option<E164> {
        let text = text.trim();
        let body = text.strip_prefix('+').unwrap_or(text);
        let mut value: u64 = 0;
        let mut count = 0u8;
        for b in body.bytes() {
            match b {
                b'0'..=b'9' => {
                    if count == 0 && b == b'0' {
                        return None;
                    }
                    count += 1;
                    if count > 15 {
                        return None;
                    }
                    value = value * 10 + u64::from(b - b'0');
                }
                b'-' | b'.' | b' ' | b'(' | b')' => {}
                _ => return None,
            }
        }
        (count > 0).then_some(E164(value))
    }

    fn from_digits(digits: &str) -> Result<E164, NumberError> {
        if digits.is_empty() || digits.len() > 15 || digits.starts_with('0') {
            return Err(if digits.bytes().all(|b| b.is_ascii_digit()) {
                NumberError::BadLength
            } else {
                NumberError::NotDigits
            });
        }
        let mut value: u64 = 0;
        for b in digits.bytes() {
            if !b.is_ascii_digit() {
                return Err(NumberError::NotDigits);
            }
            value = value * 10 + u64::from(b - b'0');
        }
        Ok(E164(value))
    }

    /// The number's digits as an integer, borrowed (a hash key).
    pub fn as_u64_ref(&self) -> &u64 {
        &self.0
    }

    /// The number's digits as an integer.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Writes `+<digits>` into a stack buffer and returns it; no allocation.
    pub fn to_buf(self) -> NumberBuf {
        let mut buf = NumberBuf {
            bytes: [0; 21],
            len: 0,
        };
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.0).as_bytes();
        if let Some(out) = buf.bytes.get_mut(..=digits.len())
            && let Some((plus, rest)) = out.split_first_mut()
        {
            *plus = b'+';
            rest.copy_from_slice(digits);
            buf.len = out.len() as u8;
        }
        buf
    }
}

/// A formatted E.164 number on the stack.
#[derive(Clone, Copy)]
pub struct NumberBuf {
    /// `+` and up to 20 digits: any `u64`, though a valid number has at most 15.
    bytes: [u8; 21],
    len: u8,
}

impl NumberBuf {
    /// The text, `+<digits>`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The text's bytes (ASCII), `+<digits>`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or(&[])
    }
}

impl FromStr for E164 {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, NumberError> {
        E164::parse(s)
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_buf().as_str())
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for E164 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.to_buf().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in ["+1", "+15550100000", "+353123456789012", "+999999999999999"] {
            assert_eq!(E164::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn any_value_formats_whole() {
        assert_eq!(E164(u64::MAX).to_buf().as_str(), "+18446744073709551615");
        assert_eq!(E164(7).to_buf().as_bytes(), b"+7");
    }

    #[test]
    fn refuses_what_is_not_e164() {
        assert_eq!(E164::parse("15550100000"), Err(NumberError::MissingPlus));
        assert_eq!(E164::parse("+"), Err(NumberError::BadLength));
        assert_eq!(E164::parse("+0155"), Err(NumberError::BadLength));
        assert_eq!(
            E164::parse("+1234567890123456"),
            Err(NumberError::BadLength)
        );
        assert_eq!(E164::parse("+1555x"), Err(NumberError::NotDigits));
        assert_eq!(E164::parse("+1 555"), Err(NumberError::NotDigits));
    }

    #[test]
    fn lenient_accepts_what_phones_send() {
        let n = E164::parse("+15550100000").unwrap();
        assert_eq!(E164::parse_lenient("15550100000"), Some(n));
        assert_eq!(E164::parse_lenient(" +1 (555) 010-0000 "), Some(n));
        assert_eq!(E164::parse_lenient("alice"), None);
        assert_eq!(E164::parse_lenient(""), None);
        assert_eq!(E164::parse_lenient("+"), None);
    }
}
