//! Denials decided in-process, on their way to the daemon's audit trail.
//!
//! A check that denies pushes one fixed-size record onto a bounded lock-free queue: no
//! allocation, no lock, no network, whatever the rate. The replica's audit thread drains the
//! queue every `FLUSH_EVERY` (100 ms) and sends the records to the daemon in `audit` frames over the
//! feed connection. A record the queue cannot take is counted, and
//! the count goes with the next frame, so the daemon's trail says what it is missing; records
//! queued while the daemon is away wait for the next connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callgate::{Answer, Check, DecisionKind, Reason};
use callgate_wire::compact::CompactRecord;
pub use callgate_wire::compact::Input;
use callgate_wire::feed::AuditEntry;
use crossbeam_queue::ArrayQueue;

/// Records the queue holds before it counts instead of keeping.
pub(crate) const QUEUE: usize = 4096;
/// How often queued records are sent.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most records in one `audit` frame.
pub(crate) const BATCH: usize = 512;

/// The bounded queue of denials not yet sent, and the count of those it could not take.
pub struct AuditQueue {
    queue: ArrayQueue<CompactRecord>,
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

    /// Queues the denial of `check`, with its inputs (at most six are kept, each up to 64
    /// bytes, all of a record's text up to 256: [`CompactRecord`]). Never blocks, never
    /// allocates; counts the record if the queue is full.
    pub fn deny(&self, check: &Check<'_>, answer: &Answer<'_>) {
        self.record(
            check.kind(),
            check.tenant(),
            &check.principal(),
            answer.reason(),
            answer.revision(),
            check.inputs(),
        );
    }

    /// Queues a denial of `kind` by its parts ([`AuditQueue::deny`] takes them from a check).
    pub fn record<'i>(
        &self,
        kind: DecisionKind,
        tenant: &str,
        principal: &[&str],
        reason: Reason,
        revision: u64,
        inputs: impl IntoIterator<Item = (&'static str, Input<'i>)>,
    ) {
        // Under a flood, the full queue is the common case: count and go.
        if self.queue.is_full() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut denial = CompactRecord::new(
            now_ms(),
            kind.as_str(),
            "deny",
            reason,
            revision,
            tenant,
            principal,
        );
        for (name, input) in inputs {
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
            out.push(entry(&d));
        }
        (out, self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// A queued denial as the feed sends it.
fn entry(d: &CompactRecord) -> AuditEntry {
    AuditEntry {
        at_ms: d.at_ms,
        tenant: d.tenant(),
        action: d.action.to_string(),
        principal: d.principal(),
        decision: d.decision.to_string(),
        reason: d.reason.code().to_string(),
        revision: d.revision,
        inputs: d
            .inputs()
            .map(|(name, value)| (name.to_string(), serde_json::Value::from(value)))
            .collect(),
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
    fn a_denial_goes_out_as_the_feed_sends_it() {
        let q = AuditQueue::new(4);
        let long = "é".repeat(40);
        q.record(
            DecisionKind::CallerId,
            "acme",
            &[&long],
            Reason::NumberNotPermitted,
            7,
            [
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
    }

    #[test]
    fn a_full_queue_counts_what_it_cannot_keep() {
        let q = AuditQueue::new(3);
        for _ in 0..10 {
            q.record(
                DecisionKind::Permission,
                "acme",
                &["bob"],
                Reason::ActionNotPermitted,
                1,
                [],
            );
        }
        let (entries, dropped) = q.take(2);
        assert_eq!((entries.len(), dropped), (2, 7));
        let (entries, dropped) = q.take(10);
        assert_eq!((entries.len(), dropped), (1, 0));
        assert!(q.is_empty());
    }
}
