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

/// Bytes an input keeps; longer inputs are cut (at a character boundary) and marked `…`.
const INLINE: usize = 64;
/// Most named inputs a record keeps besides tenant and principal.
const INPUTS: usize = 6;

/// A string of up to [`INLINE`] bytes, kept in place.
#[derive(Clone, Copy)]
struct Inline {
    len: u8,
    cut: bool,
    bytes: [u8; INLINE],
}

impl Inline {
    const EMPTY: Inline = Inline {
        len: 0,
        cut: false,
        bytes: [0; INLINE],
    };

    fn new(s: &str) -> Inline {
        let mut out = Inline::EMPTY;
        out.push(s);
        out
    }

    /// `items` joined by commas.
    fn list(items: &[&str]) -> Inline {
        let mut out = Inline::EMPTY;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(",");
            }
            out.push(item);
        }
        out
    }

    /// Appends what fits of `s`, cut at a character boundary.
    fn push(&mut self, s: &str) {
        if self.cut {
            return;
        }
        let at = usize::from(self.len);
        let mut end = s.len().min(INLINE - at);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(at..at + end), s.as_bytes().get(..end))
        {
            dst.copy_from_slice(src);
        }
        self.len = u8::try_from(at + end).unwrap_or(0);
        self.cut = end < s.len();
    }

    fn into_string(self) -> String {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Cut at a character boundary of a `str`, so always UTF-8.
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        if self.cut {
            s.push('…');
        }
        s
    }
}

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

impl Input<'_> {
    fn inline(self) -> Option<Inline> {
        match self {
            Input::Text(t) => t.map(Inline::new),
            Input::List([]) => None,
            Input::List(items) => Some(Inline::list(items)),
            Input::Flag(b) => Some(Inline::new(if b { "true" } else { "false" })),
        }
    }
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

/// One denial as queued: everything in place, nothing borrowed.
struct Denial {
    at_ms: i64,
    kind: Kind,
    reason: Reason,
    revision: u64,
    tenant: Inline,
    principal: Inline,
    inputs: [(&'static str, Inline); INPUTS],
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
    /// kept). Never blocks, never allocates; counts the record if the queue is full.
    pub fn deny(
        &self,
        kind: Kind,
        tenant: &str,
        principal: &str,
        reason: Reason,
        revision: u64,
        inputs: &[(&'static str, Input<'_>)],
    ) {
        let mut kept = [("", Inline::EMPTY); INPUTS];
        let given = inputs
            .iter()
            .filter_map(|(k, v)| v.inline().map(|v| (*k, v)));
        for (slot, given) in kept.iter_mut().zip(given) {
            *slot = given;
        }
        let denial = Denial {
            at_ms: now_ms(),
            kind,
            reason,
            revision,
            tenant: Inline::new(tenant),
            principal: Inline::new(principal),
            inputs: kept,
        };
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

impl Denial {
    fn entry(&self) -> AuditEntry {
        let inputs = self
            .inputs
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(v.into_string())))
            .collect();
        AuditEntry {
            at_ms: self.at_ms,
            tenant: self.tenant.into_string(),
            action: self.kind.name().to_string(),
            principal: self.principal.into_string(),
            decision: "deny".into(),
            reason: self.reason.code().to_string(),
            revision: self.revision,
            inputs,
        }
    }
}

fn now_ms() -> i64 {
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
        assert_eq!(numbers.len(), INLINE + '…'.len_utf8());
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
