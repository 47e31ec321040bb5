//! Denials decided in-process, on their way to the daemon's audit trail.
//!
//! A check that denies pushes one fixed-size record onto a bounded lock-free queue: no
//! allocation, no lock, no network, whatever the rate. The replica's audit thread drains the
//! queue every [`FLUSH_EVERY`] and sends the records to the daemon in `audit` frames over the
//! feed connection. A record the queue cannot take is counted, and
//! the count goes with the next frame, so the daemon's trail says what it is missing; records
//! queued while the daemon is away wait for the next connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callgate_engine::Reason;
use callgate_engine::feed::AuditEntry;
use crossbeam_queue::ArrayQueue;

/// Records the queue holds before it counts instead of keeping.
pub(crate) const QUEUE: usize = 4096;
/// How often queued records are sent.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most records in one `audit` frame.
pub(crate) const BATCH: usize = 512;

/// Bytes one field keeps; a longer one is cut (at a character boundary) and marked `…`.
const FIELD: usize = 64;
/// Bytes all the fields of a record share (later fields are cut if earlier ones took them).
const TEXT: usize = 256;
/// Fields a record keeps: the tenant, the principal and up to six inputs.
const FIELDS: usize = 8;

/// One input of a check, as a denial records it.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A string argument; `None` (NULL) is left out of the record.
    Text(Option<&'a str>),
    /// An array argument, recorded joined by commas; an empty one is left out.
    List(&'a [&'a str]),
    /// A boolean argument.
    Flag(bool),
}

/// The decision kinds, as the audit trail names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `callgate_check_caller_id`.
    CallerId,
    /// `callgate_check_agent_pause`.
    AgentPause,
    /// `callgate_check_recording`.
    Recording,
    /// `callgate_check_feature_code`.
    FeatureCode,
    /// `callgate_check_permission`.
    Permission,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::CallerId => "caller_id",
            Kind::AgentPause => "agent_pause",
            Kind::Recording => "recording",
            Kind::FeatureCode => "feature_code",
            Kind::Permission => "permission",
        }
    }
}

/// One denial as queued: everything in place, nothing borrowed, a few hundred bytes.
struct Denial {
    at_ms: i64,
    revision: u64,
    kind: Kind,
    reason: Reason,
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

impl Denial {
    fn new(kind: Kind, reason: Reason, revision: u64) -> Denial {
        Denial {
            at_ms: now_ms(),
            revision,
            kind,
            reason,
            fields: 0,
            cut: 0,
            ends: [0; FIELDS],
            names: [""; FIELDS - 2],
            text: [0; TEXT],
        }
    }

    fn end(&self, field: usize) -> usize {
        field
            .checked_sub(1)
            .and_then(|f| self.ends.get(f))
            .map_or(0, |&e| usize::from(e))
    }

    /// Starts a field; whether there was room for one.
    fn begin(&mut self) -> bool {
        if self.fields == FIELDS {
            return false;
        }
        let at = self.end(self.fields) as u16;
        if let Some(e) = self.ends.get_mut(self.fields) {
            *e = at;
        }
        self.fields += 1;
        true
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

    fn field(&mut self, s: &str) {
        if self.begin() {
            self.append(s);
        }
    }

    fn input(&mut self, name: &'static str, input: Input<'_>) {
        let text = match input {
            Input::Text(None) | Input::List([]) => return,
            Input::Text(Some(t)) => t,
            Input::Flag(b) => {
                if b {
                    "true"
                } else {
                    "false"
                }
            }
            Input::List(_) => "",
        };
        let Some(slot) = self
            .fields
            .checked_sub(2)
            .and_then(|i| self.names.get_mut(i))
        else {
            return;
        };
        *slot = name;
        if !self.begin() {
            return;
        }
        if let Input::List(items) = input {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    self.append(",");
                }
                self.append(item);
            }
        } else {
            self.append(text);
        }
    }

    /// Field `i` as text, `…` at its end if it was cut.
    fn text(&self, i: usize) -> String {
        let bytes = self.text.get(self.end(i)..self.end(i + 1)).unwrap_or(&[]);
        // Cut at character boundaries of `str`s, so always UTF-8.
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        if self.cut & (1 << i) != 0 {
            s.push('…');
        }
        s
    }

    fn entry(&self) -> AuditEntry {
        let inputs = (2..self.fields)
            .filter_map(|i| {
                let name = self.names.get(i - 2)?;
                Some(((*name).to_string(), serde_json::Value::from(self.text(i))))
            })
            .collect();
        AuditEntry {
            at_ms: self.at_ms,
            tenant: self.text(0),
            action: self.kind.name().to_string(),
            principal: self.text(1),
            decision: "deny".into(),
            reason: self.reason.code().to_string(),
            revision: self.revision,
            inputs,
        }
    }
}

/// The bounded queue of denials not yet sent, and the count of those it could not take.
pub struct AuditQueue {
    queue: ArrayQueue<Denial>,
    dropped: AtomicU64,
}

impl Default for AuditQueue {
    fn default() -> AuditQueue {
        AuditQueue::new(QUEUE)
    }
}

impl AuditQueue {
    /// A queue of `capacity` records (at least one).
    pub fn new(capacity: usize) -> AuditQueue {
        AuditQueue {
            queue: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues a denial: `inputs` are the check's other arguments by name (at most six are
    /// kept, each up to 64 bytes, all of a record's text up to 256). Never blocks, never allocates; counts the record if the queue is full.
    pub fn deny(
        &self,
        kind: Kind,
        tenant: &str,
        principal: &str,
        reason: Reason,
        revision: u64,
        inputs: &[(&'static str, Input<'_>)],
    ) {
        // Under a flood, the full queue is the common case: count and go.
        if self.queue.is_full() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut denial = Denial::new(kind, reason, revision);
        denial.field(tenant);
        denial.field(principal);
        for &(name, input) in inputs {
            denial.input(name, input);
        }
        if self.queue.push(denial).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether anything waits to be sent (records, or a count of dropped ones).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.dropped.load(Ordering::Relaxed) == 0
    }

    /// Takes up to `max` records, oldest first, as the feed sends them, and the count of
    /// records dropped since the last take.
    pub fn take(&self, max: usize) -> (Vec<AuditEntry>, u64) {
        let mut out = Vec::with_capacity(self.queue.len().min(max));
        while out.len() < max {
            let Some(d) = self.queue.pop() else { break };
            out.push(d.entry());
        }
        (out, self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// Milliseconds since the Unix epoch, from the kernel's coarse clock: a few nanoseconds
/// instead of twenty, at the clock tick's resolution (a few ms at most), which is all an
/// audit timestamp needs.
fn now_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
        #[allow(
            clippy::useless_conversion,
            reason = "`time_t` and `c_long` are `i64` here, `i32` on 32-bit targets"
        )]
        return i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use super::*;

    #[test]
    fn a_denial_keeps_its_inputs_and_cuts_long_ones_at_a_character() {
        let q = AuditQueue::new(4);
        let long = "é".repeat(40);
        q.deny(
            Kind::CallerId,
            "acme",
            &long,
            Reason::NumberNotPermitted,
            7,
            &[
                ("requested", Input::Text(Some("+15550100000"))),
                ("site", Input::Text(None)),
                ("dialed", Input::Text(Some("5551234"))),
                ("extensions", Input::List(&["201", "202"])),
                ("numbers", Input::List(&[])),
                ("paused", Input::Flag(true)),
            ],
        );
        let (entries, dropped) = q.take(10);
        assert_eq!(dropped, 0);
        let e = &entries[0];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now - e.at_ms).abs() < 1000, "stamped {} at {now}", e.at_ms);
        assert_eq!(
            (e.tenant.as_str(), e.action.as_str()),
            ("acme", "caller_id")
        );
        assert_eq!(
            (e.decision.as_str(), e.reason.as_str(), e.revision),
            ("deny", "number_not_permitted", 7)
        );
        assert_eq!(e.principal, format!("{}…", "é".repeat(32)));
        assert_eq!(e.inputs["requested"], "+15550100000");
        assert_eq!(e.inputs["dialed"], "5551234");
        assert_eq!(e.inputs["extensions"], "201,202");
        assert_eq!(e.inputs["paused"], "true");
        assert!(!e.inputs.contains_key("site") && !e.inputs.contains_key("numbers"));
        let many: Vec<String> = (0..30).map(|i| format!("+1555010{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        q.deny(
            Kind::Recording,
            "acme",
            "bob",
            Reason::OutOfScope,
            7,
            &[("numbers", Input::List(&many))],
        );
        let numbers = q.take(1).0[0].inputs["numbers"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(numbers.starts_with("+15550100000,+15550100001,") && numbers.ends_with('…'));
        assert_eq!(numbers.len(), FIELD + '…'.len_utf8());
    }

    #[test]
    fn a_full_queue_counts_what_it_cannot_keep() {
        let q = AuditQueue::new(3);
        for _ in 0..10 {
            q.deny(
                Kind::Permission,
                "acme",
                "bob",
                Reason::ActionNotPermitted,
                1,
                &[],
            );
        }
        let (entries, dropped) = q.take(2);
        assert_eq!((entries.len(), dropped), (2, 7));
        let (entries, dropped) = q.take(10);
        assert_eq!((entries.len(), dropped), (1, 0));
        assert!(q.is_empty());
    }
}
