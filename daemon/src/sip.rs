//! The SIP interface, over UDP and TCP: the softswitch sends the INVITE it is about to route;
//! callgate answers `302` (Contact = the Request-URI, `P-Asserted-Identity` = the caller ID
//! to use) or `403`, with `X-Callgate-Decision`. OPTIONS gets 200, ACK is absorbed, CANCEL
//! gets 481, other methods get 405 (known to SIP) or 501 (unknown), both with `Allow`; a
//! malformed request gets 400, another SIP version 505, an unserved Request-URI scheme 416,
//! a `Require` 420 with `Unsupported` (RFC 3261 §8.2, RFC 4475). Only configured peers are
//! answered: anything from anyone else is dropped
//! unanswered (a TCP connection is closed at accept). An INVITE to an emergency target is
//! never refused: even a malformed one gets its `302` if it can be addressed at all.
//!
//! Bytes → frame (`frame`) → request (`message`) → decision (the engine) → bytes (`answer`).

pub mod answer;
pub mod frame;
pub mod message;
pub mod syntax;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use callgate::check::{CallerIdCheck, FeatureCodeCheck};
use callgate::{CallerIdAnswer, Check, FeatureAnswer, Outcome, Principal, Reason};
use callgate_wire::compact::{CompactRecord, Input};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};

use self::answer::{ALLOW, Answer, MAX_ANSWER};
use self::frame::{Addressing, Frame, MAX_MESSAGE};
use self::message::{Incoming, Invite, ParseError};
use crate::audit;
use crate::config::Config;
use crate::state::State;
use crate::telemetry;

/// How long an INVITE's answer is kept for its retransmissions (RFC 3261 Timer B).
const RETRANSMIT_WINDOW: Duration = Duration::from_secs(32);
/// What one cached answer costs besides its bytes (key, time, queue slot, map slot).
const CACHE_ENTRY_OVERHEAD: usize = 96;

/// The SIP interface's bounds, from the daemon's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most TCP connections open at once from one source address.
    pub tcp_per_peer: usize,
    /// How long a message may take to arrive whole once its first byte has (TCP).
    pub message_deadline: Duration,
    /// How long an idle TCP connection (between messages) is kept.
    pub tcp_idle: Duration,
    /// Most bytes of answers kept for retransmissions; the oldest go first.
    pub retransmit_cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            tcp_per_peer: 64,
            message_deadline: Duration::from_millis(5000),
            tcp_idle: Duration::from_secs(300),
            retransmit_cache_bytes: 16 << 20,
        }
    }
}

impl Limits {
    /// The limits a config sets (`max_tcp_connections_per_peer`, `sip_message_deadline_ms`,
    /// `sip_retransmit_cache_bytes`).
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            tcp_per_peer: config.max_tcp_connections_per_peer.max(1),
            message_deadline: Duration::from_millis(config.sip_message_deadline_ms.max(1)),
            retransmit_cache_bytes: config.sip_retransmit_cache_bytes,
            ..Limits::default()
        }
    }
}

/// Answers per request, shared by every SIP listener of a daemon.
#[derive(Clone)]
pub struct Sip {
    state: State,
    limits: Limits,
    answered: Arc<Mutex<Retransmits>>,
    tcp_sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Sip {
    /// The SIP endpoint over a daemon's state, with the default limits.
    pub fn new(state: State) -> Sip {
        Sip::with_limits(state, Limits::default())
    }

    /// The SIP endpoint over a daemon's state, with these limits.
    pub fn with_limits(state: State, limits: Limits) -> Sip {
        Sip {
            state,
            limits,
            answered: Arc::new(Mutex::new(Retransmits::new(limits.retransmit_cache_bytes))),
            tcp_sources: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The limits this endpoint applies.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How many answers, and how many bytes of them, the retransmission cache holds.
    pub fn retransmit_cache_usage(&self) -> (usize, usize) {
        let cache = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        (cache.map.len(), cache.bytes)
    }

    /// Handles one whole message from `peer`; the bytes to send back, if any. Nothing from
    /// an address outside `--peers` is ever answered.
    pub fn handle(&self, bytes: &[u8], peer: SocketAddr, transport: &'static str) -> Option<Bytes> {
        if !self.state.peers().allows(peer.ip()) {
            // Not answered at all: a reply would reflect the sender's bytes at a victim.
            metrics::counter!(telemetry::SIP_DROPPED, "why" => "not_a_peer").increment(1);
            return None;
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return None; // keep-alive
        }
        if bytes.len() > MAX_MESSAGE {
            return self.broken(bytes, peer, 513, "Message Too Large", "oversized");
        }
        if transport == "udp" && frame::is_truncated(bytes) {
            return self.broken(bytes, peer, 400, "Bad Request", "truncated");
        }
        let incoming = match message::parse(bytes) {
            Ok(i) => i,
            Err(e) => {
                let (code, phrase, why) = ParseError::status(e);
                return self.broken(bytes, peer, code, phrase, why);
            }
        };
        let (method, reply) = match incoming {
            Incoming::Response => {
                metrics::counter!(telemetry::SIP_DROPPED, "why" => "response").increment(1);
                return None;
            }
            Incoming::Ack => ("ACK", None),
            Incoming::Options(a) => (
                "OPTIONS",
                Some(
                    Answer::new(200, "OK", &a, peer)
                        .header("Allow", ALLOW)
                        .header("Accept", "application/sdp")
                        .finish(),
                ),
            ),
            Incoming::Cancel(a) => (
                "CANCEL",
                Some(Answer::new(481, "Call/Transaction Does Not Exist", &a, peer).finish()),
            ),
            // RFC 3261 §8.2.1: a method the UAS "recognizes but does not support" gets 405;
            // one it does not recognize at all gets 501 (§21.5.2, and RFC 4475 §3.1.1.2:
            // "Endpoints will generate a 501 listing the methods they understand in an Allow
            // header field"). Both list what callgate answers.
            Incoming::Other(a, method) => {
                let (code, phrase) = if message::is_known_method(&method) {
                    (405, "Method Not Allowed")
                } else {
                    (501, "Not Implemented")
                };
                (
                    "OTHER",
                    Some(
                        Answer::new(code, phrase, &a, peer)
                            .header("Allow", ALLOW)
                            .finish(),
                    ),
                )
            }
            Incoming::BadExtension(a, tags) => ("OPTIONS", Some(bad_extension(&a, &tags, peer))),
            Incoming::Invite(invite) => ("INVITE", Some(self.invite(invite, peer))),
        };
        let reply = reply.filter(fits);
        let status = reply.as_ref().map_or("absorbed", |r| status_of(r));
        metrics::counter!(telemetry::SIP_REQUESTS, "method" => method, "answer" => status)
            .increment(1);
        reply
    }

    /// A message that didn't parse: a `302` if it is an INVITE to an emergency target that
    /// can be addressed, else an error answer if it can be addressed, else dropped.
    fn broken(
        &self,
        bytes: &[u8],
        peer: SocketAddr,
        code: u16,
        phrase: &str,
        why: &'static str,
    ) -> Option<Bytes> {
        if !self.state.peers().allows(peer.ip()) {
            metrics::counter!(telemetry::SIP_DROPPED, "why" => "not_a_peer").increment(1);
            return None;
        }
        // An ACK is never answered (RFC 3261 §17.1.1.3), broken or not.
        if bytes.starts_with(b"ACK ") {
            metrics::counter!(telemetry::SIP_DROPPED, "why" => why).increment(1);
            return None;
        }
        if let Some(reply) = self.emergency_anyway(bytes, peer) {
            let answer = "emergency_302";
            metrics::counter!(telemetry::SIP_REQUESTS, "method" => "BROKEN", "answer" => answer)
                .increment(1);
            return Some(reply);
        }
        match frame::addressing(bytes) {
            Some(a) => {
                let reply = Some(Answer::new(code, phrase, &a, peer).finish()).filter(fits);
                metrics::counter!(telemetry::SIP_REQUESTS, "method" => "BROKEN", "answer" => why)
                    .increment(1);
                reply
            }
            None => {
                metrics::counter!(telemetry::SIP_DROPPED, "why" => why).increment(1);
                None
            }
        }
    }

    /// The `302` a broken INVITE to an emergency target still gets, if it has a Via to
    /// answer along: what else is missing is filled in (a Call-ID from the Via, CSeq
    /// `1 INVITE`, an anonymous From, a To of the Request-URI), never a caller ID.
    fn emergency_anyway(&self, bytes: &[u8], peer: SocketAddr) -> Option<Bytes> {
        let (method, uri) = message::request_line(bytes)?;
        if method != "INVITE" {
            return None;
        }
        let mut a = frame::read_addressing_for_emergency(bytes)?;
        let top = a.vias.first()?;
        let tenant = a
            .from
            .as_deref()
            .and_then(message::from_identity)
            .map(|(tenant, _)| tenant)
            .unwrap_or_default();
        let table = self.state.table();
        if !table.is_emergency(&tenant, uri) {
            return None;
        }
        if a.call_id.is_empty() {
            a.call_id = format!("callgate-{:x}", stable_hash(top.as_bytes()));
        }
        if !message::cseq_matches(&a.cseq, "INVITE") {
            let n = a
                .cseq
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(1);
            a.cseq = format!("{n} INVITE");
        }
        if a.from.is_none() {
            a.from = Some("<sip:anonymous@anonymous.invalid>;tag=callgate".into());
        }
        if a.to.is_none() {
            a.to = Some(format!("<{uri}>"));
        }
        tracing::warn!(%peer, "a malformed INVITE to an emergency target: allowed anyway");
        let reply = Answer::new(302, "Moved Temporarily", &a, peer)
            .header("Contact", format_args!("<{uri}>"))
            .header(
                "X-Callgate-Decision",
                format_args!(
                    "allow; reason={}; rev={}",
                    Reason::EmergencyCall.code(),
                    table.revision()
                ),
            )
            .finish();
        Some(reply).filter(fits)
    }

    /// Decides an INVITE, or repeats the answer its first transmission got. One with a
    /// `Require` gets 420, unless it is an emergency call (never refused).
    fn invite(&self, invite: Invite, peer: SocketAddr) -> Bytes {
        if let Some(tags) = &invite.require
            && !self
                .state
                .table()
                .is_emergency(&invite.tenant, &invite.request_uri)
        {
            return bad_extension(&invite.addressing, tags, peer);
        }
        let key = retransmission_key(&invite.addressing);
        if let Some(hit) = self
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return hit;
        }
        let bytes = self.decide(invite, peer);
        self.answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, bytes.clone());
        bytes
    }

    /// Decides an INVITE (a caller-ID check, or a feature code when the Request-URI user
    /// starts with `*`) and writes the answer; no retransmission bookkeeping.
    pub fn decide(&self, invite: Invite, peer: SocketAddr) -> Bytes {
        let started = Instant::now();
        let check = asked(&invite);
        let answer = self.state.table().check(&check);
        let kind = check.kind().as_str();
        let decision = answer.outcome().as_str();
        telemetry::record_check(kind, decision, started.elapsed());
        if let Some(auditor) = self.state.auditor().filter(|a| a.wants(decision)) {
            auditor.record_sip(peer, || {
                let mut record = CompactRecord::new(
                    audit::now_ms(),
                    kind,
                    decision,
                    answer.reason(),
                    answer.revision(),
                    check.tenant(),
                    &check.principal(),
                );
                record
                    .input("dialed", Input::Text(Some(&invite.dialed)))
                    .input("requested", Input::Text(invite.requested.as_deref()))
                    .input("from_user", Input::Text(Some(&invite.from_user)))
                    .input("user", Input::Text(invite.user.as_deref()));
                record
            });
        }
        match &answer {
            callgate::Answer::CallerId(a) => self.caller_id(&invite, a, peer),
            callgate::Answer::FeatureCode(a) => feature_code(&invite, a, peer),
            // `asked` asks only the two above; a verdict would be refused like any denial.
            callgate::Answer::Verdict(v) => {
                forbidden(&invite, Decision(v.outcome, v.reason, v.revision), peer)
            }
        }
    }

    /// The answer to a caller-ID check: `302` with the caller ID (and its attestation and
    /// signature), or `403`.
    fn caller_id(&self, inv: &Invite, a: &CallerIdAnswer, peer: SocketAddr) -> Bytes {
        telemetry::record_caller_id(a.reason);
        let header = Decision(a.outcome, a.reason, a.revision);
        if a.outcome == Outcome::Deny {
            return forbidden(inv, header, peer);
        }
        let mut answer = Answer::new(302, "Moved Temporarily", &inv.addressing, peer)
            .header("Contact", format_args!("<{}>", inv.request_uri));
        if let Some(number) = a.caller_id {
            answer = answer.header(
                "P-Asserted-Identity",
                format_args!("<sip:{number}@{}>", inv.tenant),
            );
        }
        if let Some(at) = a.attestation {
            answer = answer.header(
                "X-Callgate-Attestation",
                format_args!("{}; reason={}", at.level.as_str(), at.reason.as_str()),
            );
            if let (Some(signer), Some(number)) = (self.state.signer(), a.caller_id)
                && let Some(identity) =
                    signer.identity(at.level, &inv.tenant, number, &inv.request_uri)
            {
                answer = answer.header("Identity", identity);
            }
        }
        answer.header("X-Callgate-Decision", header).finish()
    }

    /// Forgets answers older than the retransmission window.
    pub fn expire(&self) {
        self.answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expire();
    }

    /// Counts a TCP connection from `ip`; `None` when it already has its limit open.
    fn tcp_slot(&self, ip: IpAddr) -> Option<TcpSlot> {
        let mut open = self
            .tcp_sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limits.tcp_per_peer {
            return None;
        }
        *n += 1;
        Some(TcpSlot {
            ip,
            sources: Arc::clone(&self.tcp_sources),
        })
    }
}

/// The check an INVITE asks, borrowing it: a feature code when the Request-URI user starts
/// with `*`, else a caller-ID check. The caller is `X-Callgate-User` (authenticated by the
/// proxy), else the owner of the From user's extension (not authenticated: STIR/SHAKEN level C
/// at best).
fn asked(inv: &Invite) -> Check<'_> {
    let user = match &inv.user {
        Some(user) => Principal::from(user),
        None => Principal::Extension(inv.from_user.as_str().into()),
    };
    if inv.dialed.starts_with('*') {
        // The decoded user part: the engine denies one with anything but dial characters.
        Check::FeatureCode(FeatureCodeCheck {
            tenant: inv.tenant.as_str().into(),
            user,
            dialed: inv.dialed.as_str().into(),
        })
    } else {
        // The engine reads the whole Request-URI (`tel:911`, `sip:911;phone-context=…`,
        // `urn:service:sos`) and normalises it itself.
        Check::CallerId(CallerIdCheck {
            tenant: inv.tenant.as_str().into(),
            user,
            requested: inv.requested.as_deref().map(Into::into),
            dialed: inv.request_uri.as_str().into(),
            authenticated: Some(inv.user.is_some()),
        })
    }
}

/// `403` with the decision.
fn forbidden(inv: &Invite, decision: Decision, peer: SocketAddr) -> Bytes {
    Answer::new(403, "Forbidden", &inv.addressing, peer)
        .header("X-Callgate-Decision", decision)
        .finish()
}

/// The answer to a feature-code check: `302` with the feature and its arguments, or `403`.
fn feature_code(inv: &Invite, a: &FeatureAnswer<'_>, peer: SocketAddr) -> Bytes {
    let header = Decision(a.outcome, a.reason, a.revision);
    if a.outcome != Outcome::Allow {
        return forbidden(inv, header, peer);
    }
    let mut answer = Answer::new(302, "Moved Temporarily", &inv.addressing, peer)
        .header("Contact", format_args!("<{}>", inv.request_uri));
    if let Some(feature) = a.feature {
        let args = a.args.iter().collect::<Vec<_>>().join(",");
        answer = answer.header("X-Callgate-Feature", format_args!("{feature}; args={args}"));
    }
    answer.header("X-Callgate-Decision", header).finish()
}

/// 420 with `Unsupported` listing every option tag of `Require` (callgate supports none):
/// "If a UAS does not understand an option-tag listed in a Require header field, it MUST
/// respond by generating a response with status code 420 (Bad Extension). The UAS MUST add an
/// Unsupported header field" (RFC 3261 §8.2.2.3). The tags are tokens (checked by the parser).
fn bad_extension(a: &frame::Addressing, tags: &str, peer: SocketAddr) -> Bytes {
    Answer::new(420, "Bad Extension", a, peer)
        .header("Unsupported", tags)
        .finish()
}

/// Whether an answer is small enough to send (see [`MAX_ANSWER`]).
fn fits(reply: &Bytes) -> bool {
    if reply.len() > MAX_ANSWER {
        metrics::counter!(telemetry::SIP_DROPPED, "why" => "answer_too_large").increment(1);
        false
    } else {
        true
    }
}

/// One open TCP connection of a source address; closing it frees the slot.
struct TcpSlot {
    ip: IpAddr,
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        let mut open = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Answers kept for retransmissions: at most `capacity` bytes (answers plus a fixed cost
/// each) and never older than [`RETRANSMIT_WINDOW`]; the oldest go first.
struct Retransmits {
    map: HashMap<u64, (Instant, Bytes), foldhash::fast::RandomState>,
    order: VecDeque<(u64, Instant)>,
    bytes: usize,
    capacity: usize,
}

impl Retransmits {
    fn new(capacity: usize) -> Retransmits {
        Retransmits {
            map: HashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            capacity,
        }
    }

    fn get(&self, key: u64) -> Option<Bytes> {
        self.map
            .get(&key)
            .filter(|(at, _)| at.elapsed() < RETRANSMIT_WINDOW)
            .map(|(_, b)| b.clone())
    }

    fn insert(&mut self, key: u64, answer: Bytes) {
        let cost = answer.len() + CACHE_ENTRY_OVERHEAD;
        if cost > self.capacity {
            return;
        }
        self.remove(key);
        while self.bytes + cost > self.capacity && self.pop_oldest() {}
        let now = Instant::now();
        self.map.insert(key, (now, answer));
        self.order.push_back((key, now));
        self.bytes += cost;
    }

    fn remove(&mut self, key: u64) {
        if let Some((_, old)) = self.map.remove(&key) {
            self.bytes = self.bytes.saturating_sub(old.len() + CACHE_ENTRY_OVERHEAD);
        }
    }

    /// Drops the oldest entry; whether there was one.
    fn pop_oldest(&mut self) -> bool {
        let Some((key, at)) = self.order.pop_front() else {
            return false;
        };
        // The queue may name an entry since replaced: only the one inserted then goes.
        if self.map.get(&key).is_some_and(|(t, _)| *t == at) {
            self.remove(key);
        }
        true
    }

    fn expire(&mut self) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| at.elapsed() >= RETRANSMIT_WINDOW)
        {
            self.pop_oldest();
        }
    }
}

/// `X-Callgate-Decision`'s value, written straight into the answer (no string of its own).
struct Decision(Outcome, Reason, u64);

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}; reason={}; rev={}",
            self.0.as_str(),
            self.1.code(),
            self.2
        )
    }
}

fn status_of(reply: &Bytes) -> &'static str {
    match reply.get(8..11) {
        Some(b"200") => "200",
        Some(b"302") => "302",
        Some(b"400") => "400",
        Some(b"403") => "403",
        Some(b"405") => "405",
        Some(b"416") => "416",
        Some(b"420") => "420",
        Some(b"481") => "481",
        Some(b"500") => "500",
        Some(b"501") => "501",
        Some(b"505") => "505",
        Some(b"513") => "513",
        _ => "other",
    }
}

fn stable_hash(bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
    h.write(bytes);
    h.finish()
}

fn retransmission_key(a: &Addressing) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
    h.write(a.call_id.as_bytes());
    h.write(a.cseq.as_bytes());
    h.write(a.vias.first().map_or("", String::as_str).as_bytes());
    h.finish()
}

/// Serves SIP over UDP on an already-bound socket until `shutdown` resolves, with one
/// receive loop per core.
pub async fn run_udp(
    socket: UdpSocket,
    sip: Sip,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A burst must queue in the kernel rather than be dropped (and retransmitted 500 ms later).
    let buffers = socket2::SockRef::from(&socket);
    for bytes in [8 << 20, 4 << 20, 1 << 20] {
        if buffers.set_recv_buffer_size(bytes).is_ok() {
            break;
        }
    }
    let _ = buffers.set_send_buffer_size(4 << 20);
    let socket = Arc::new(socket);
    let (stop_tx, stop_rx) = watch::channel(false);
    let loops = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..loops {
        let (socket, sip, mut stop) = (Arc::clone(&socket), sip.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    received = socket.recv_from(&mut buf) => {
                        let Ok((n, peer)) = received else { continue };
                        let Some(datagram) = buf.get(..n) else { continue };
                        if let Some(reply) = sip.handle(datagram, peer, "udp")
                            && let Err(e) = socket.send_to(&reply, peer).await
                        {
                            tracing::debug!(%peer, error = %e, "SIP UDP send failed");
                        }
                    }
                }
            }
        });
    }
    let expiry = {
        let (sip, mut stop) = (sip.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => sip.expire(),
                }
            }
        })
    };
    shutdown.await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let _ = expiry.await;
    Ok(())
}

/// Serves SIP over TCP on an already-bound listener until `shutdown` resolves; at most
/// `max_connections` at once, and the endpoint's per-source limit. A connection from an
/// address outside `--peers` is closed at accept and never takes a slot; past either limit,
/// a new connection is closed at once. Connections finish the message in hand, then close.
pub async fn run_tcp(
    listener: TcpListener,
    sip: Sip,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Dropping the stream closes it: no byte is read from a stranger.
        if !sip.state.peers().allows(peer.ip()) {
            metrics::counter!(telemetry::SIP_DROPPED, "why" => "not_a_peer").increment(1);
            continue;
        }
        let Some(slot) = sip.tcp_slot(peer.ip()) else {
            metrics::counter!(telemetry::SIP_DROPPED, "why" => "tcp_per_peer_limit").increment(1);
            continue;
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            metrics::counter!(telemetry::SIP_DROPPED, "why" => "tcp_connection_limit").increment(1);
            continue;
        };
        let (sip, stop) = (sip.clone(), stop_rx.clone());
        connections.spawn(async move {
            let _held = (permit, slot);
            if let Err(e) = serve_connection(stream, peer, &sip, stop).await {
                tracing::debug!(%peer, error = %e, "SIP TCP connection ended");
            }
        });
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    sip: &Sip,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limits = sip.limits;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    // When the first byte of the message now in `buf` arrived.
    let mut message_started: Option<Instant> = None;
    loop {
        // Answer every whole message in the buffer first.
        loop {
            match frame::next_frame(&buf) {
                Frame::Partial => break,
                Frame::KeepAlive(n) => {
                    buf.drain(..n);
                }
                Frame::Message(n) => {
                    let reply = buf.get(..n).and_then(|m| sip.handle(m, peer, "tcp"));
                    buf.drain(..n);
                    // What is left is the start of the next message: its clock starts now.
                    message_started = None;
                    if let Some(reply) = reply {
                        stream.write_all(&reply).await?;
                    }
                }
                Frame::Oversized | Frame::BadLength => {
                    // The stream can't be resynchronised: say so if we can, then close.
                    if let Some(reply) = sip.broken(&buf, peer, 400, "Bad Request", "unframeable") {
                        stream.write_all(&reply).await?;
                    }
                    return Ok(());
                }
            }
        }
        let now = Instant::now();
        let wait = if buf.is_empty() {
            limits.tcp_idle
        } else {
            let started = *message_started.get_or_insert(now);
            limits
                .message_deadline
                .saturating_sub(now.duration_since(started))
        };
        let read = tokio::select! {
            _ = stop.changed() => return Ok(()),
            read = tokio::time::timeout(wait, stream.read(&mut chunk)) => read,
        };
        match read {
            Err(_) if !buf.is_empty() => {
                metrics::counter!(telemetry::SIP_DROPPED, "why" => "message_deadline").increment(1);
                return Ok(());
            }
            Err(_) | Ok(Ok(0)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
        }
    }
}
