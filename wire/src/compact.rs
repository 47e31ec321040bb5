//! A decision's audit record in one fixed-size value, for the audit queues of the daemon and
//! of libcallgate.
//!
//! A check that must be audited copies its inputs into a [`CompactRecord`] (a few hundred
//! bytes on the stack, no allocation) and moves it onto a queue; the audit writer, on its own
//! thread, turns it into owned strings. Handing the writer heap memory instead would make it
//! free what the checking thread allocated, which costs the checking thread more than the
//! copy (measured on the SIP path: ~0.65 µs a denial, through glibc's arenas).
//!
//! Each field keeps up to [`FIELD`] bytes and all of a record's fields share [`TEXT`] bytes;
//! a longer field is cut at a character boundary and reads back with a `…` at its end.

use callgate::Reason;
pub use callgate::check::Input;

/// Bytes one field keeps; a longer one is cut (at a character boundary) and marked `…`.
pub const FIELD: usize = 64;
/// Bytes all the fields of a record share (later fields are cut if earlier ones took them).
pub const TEXT: usize = 256;
/// Fields a record keeps: the tenant, the principal and up to six named inputs.
const FIELDS: usize = 8;

/// A decision's record, everything in place, nothing borrowed.
#[derive(Clone)]
pub struct CompactRecord {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The revision it was decided at.
    pub revision: u64,
    /// The decision kind: `caller_id`, `agent_pause`, `recording`, `feature_code`,
    /// `permission`.
    pub action: &'static str,
    /// `allow`, `substitute` or `deny`.
    pub decision: &'static str,
    /// Why.
    pub reason: Reason,
    /// Fields in use: 0 the tenant, 1 the principal, then the inputs.
    fields: usize,
    /// Bit `i` set: field `i` was cut.
    cut: u8,
    /// Where each field ends in `text` (each starts where the one before it ends).
    ends: [u16; FIELDS],
    /// The inputs' names (field `i + 2` is named `names[i]`).
    names: [&'static str; FIELDS - 2],
    text: [u8; TEXT],
}

impl std::fmt::Debug for CompactRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactRecord")
            .field("action", &self.action)
            .field("decision", &self.decision)
            .field("tenant", &self.tenant())
            .field("principal", &self.principal())
            .finish_non_exhaustive()
    }
}

impl CompactRecord {
    /// A record of a decision about `principal` (its parts joined) in `tenant`; add the
    /// check's other inputs with [`CompactRecord::input`].
    pub fn new(
        at_ms: i64,
        action: &'static str,
        decision: &'static str,
        reason: Reason,
        revision: u64,
        tenant: &str,
        principal: &[&str],
    ) -> CompactRecord {
        let mut r = CompactRecord {
            at_ms,
            revision,
            action,
            decision,
            reason,
            fields: 0,
            cut: 0,
            ends: [0; FIELDS],
            names: [""; FIELDS - 2],
            text: [0; TEXT],
        };
        r.begin();
        r.append(tenant);
        r.begin();
        for part in principal {
            r.append(part);
        }
        r
    }

    /// Adds a named input (at most six are kept; a `None` or empty one is left out).
    pub fn input(&mut self, name: &'static str, input: Input<'_>) -> &mut CompactRecord {
        let one: [&str; 1];
        let (parts, owned, comma): (&[&str], &[String], bool) = match input {
            Input::Text(None) | Input::List([]) | Input::Strings([]) => return self,
            Input::Text(Some(t)) => {
                one = [t];
                (&one, &[], false)
            }
            Input::Flag(true) => (&["true"], &[], false),
            Input::Flag(false) => (&["false"], &[], false),
            Input::List(items) => (items, &[], true),
            Input::Strings(items) => (&[], items, true),
        };
        let Some(slot) = self
            .fields
            .checked_sub(2)
            .and_then(|i| self.names.get_mut(i))
        else {
            return self;
        };
        *slot = name;
        self.begin();
        let parts = parts
            .iter()
            .copied()
            .chain(owned.iter().map(String::as_str));
        for (i, part) in parts.enumerate() {
            if comma && i > 0 {
                self.append(",");
            }
            self.append(part);
        }
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> String {
        self.field(0)
    }

    /// The principal.
    pub fn principal(&self) -> String {
        self.field(1)
    }

    /// The inputs, by name, in the order they were added.
    pub fn inputs(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        (2..self.fields).filter_map(|i| Some((*self.names.get(i - 2)?, self.field(i))))
    }

    fn end(&self, field: usize) -> usize {
        field
            .checked_sub(1)
            .and_then(|f| self.ends.get(f))
            .map_or(0, |&e| usize::from(e))
    }

    /// Starts a field (there is room: callers add at most [`FIELDS`]).
    fn begin(&mut self) {
        let at = self.end(self.fields) as u16;
        if let Some(e) = self.ends.get_mut(self.fields) {
            *e = at;
            self.fields += 1;
        }
    }

    /// Appends what fits of `s` to the current field, cut at a character boundary.
    fn append(&mut self, s: &str) {
        let Some(field) = self.fields.checked_sub(1) else {
            return;
        };
        let bit = 1u8 << field;
        if self.cut & bit != 0 {
            return;
        }
        let (start, end) = (self.end(field), self.end(field + 1));
        let room = (FIELD - (end - start)).min(TEXT - end);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) =
            (self.text.get_mut(end..end + take), s.as_bytes().get(..take))
        {
            dst.copy_from_slice(src);
        }
        if let Some(e) = self.ends.get_mut(field) {
            *e = (end + take) as u16;
        }
        if take < s.len() {
            self.cut |= bit;
        }
    }

    /// Field `i` as text, `…` at its end if it was cut.
    fn field(&self, i: usize) -> String {
        let bytes = self.text.get(self.end(i)..self.end(i + 1)).unwrap_or(&[]);
        // Cut at character boundaries of `str`s, so always UTF-8.
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        if self.cut & (1 << i) != 0 {
            s.push('…');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use super::*;

    fn inputs(r: &CompactRecord) -> Vec<(&'static str, String)> {
        r.inputs().collect()
    }

    #[test]
    fn a_record_keeps_its_fields_and_cuts_long_ones_at_a_character() {
        let long = "é".repeat(40);
        let mut r = CompactRecord::new(
            5,
            "caller_id",
            "deny",
            Reason::NumberNotPermitted,
            7,
            "acme",
            &[&long],
        );
        r.input("requested", Input::Text(Some("+15550100000")))
            .input("site", Input::Text(None))
            .input("extensions", Input::List(&["201", "202"]))
            .input("numbers", Input::List(&[]))
            .input("paused", Input::Flag(true));
        assert_eq!(r.tenant(), "acme");
        assert_eq!(r.principal(), format!("{}…", "é".repeat(32)));
        assert_eq!(
            inputs(&r),
            [
                ("requested", "+15550100000".to_string()),
                ("extensions", "201,202".into()),
                ("paused", "true".into()),
            ]
        );
        assert_eq!(
            (r.at_ms, r.revision, r.action, r.decision, r.reason),
            (5, 7, "caller_id", "deny", Reason::NumberNotPermitted)
        );
    }

    #[test]
    fn a_long_list_is_cut_and_the_record_never_overflows() {
        let many: Vec<String> = (0..30).map(|i| format!("+1555010{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut r = CompactRecord::new(0, "recording", "deny", Reason::OutOfScope, 1, "t", &["u"]);
        for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            r.input(name, Input::List(&many));
        }
        let got = inputs(&r);
        assert_eq!(got.len(), 6, "six inputs at most");
        assert!(got[0].1.starts_with("+15550100000,+15550100001,") && got[0].1.ends_with('…'));
        assert_eq!(got[0].1.len(), FIELD + '…'.len_utf8());
        // The shared text ran out: later inputs are cut shorter, down to nothing but the mark.
        let kept: usize = got.iter().map(|(_, v)| v.trim_end_matches('…').len()).sum();
        assert_eq!(kept + r.tenant().len() + r.principal().len(), TEXT);
        assert_eq!(got[5].1, "…");
    }
}
