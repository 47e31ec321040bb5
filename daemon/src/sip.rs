//! The SIP interface, over UDP and TCP: the softswitch sends the INVITE it is about to route;
//! callgate answers `302` (Contact = the Request-URI, `P-Asserted-Identity` = the caller ID
//! to use) or `403`, with `X-Callgate-Decision`. OPTIONS gets 200, ACK is absorbed, other
//! methods get 405. Only configured peers are answered (anyone else gets a bare 403).
//!
//! Bytes → frame (`frame`) → request (`message`) → decision (the engine) → bytes (`answer`).

pub mod answer;
pub mod frame;
pub mod message;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use callgate::compact::{CompactRecord, Input};
use callgate::{Outcome, decide};
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};

use self::answer::{ALLOW, Answer};
use self::frame::{Addressing, Frame, MAX_MESSAGE};
use self::message::{Incoming, Invite, ParseError};
use crate::audit;
use crate::state::State;
use crate::telemetry;

/// How long an INVITE's answer is kept for its retransmissions (RFC 3261 Timer B).
const RETRANSMIT_WINDOW: Duration = Duration::from_secs(32);
/// How many answers are kept for retransmissions at most.
const RETRANSMIT_CAPACITY: usize = 100_000;
/// How long an idle TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(300);

/// Answers per request, shared by every SIP listener of a daemon.
#[derive(Clone)]
pub struct Sip {
    state: State,
    answered: Arc<DashMap<u64, (Instant, Bytes), foldhash::fast::RandomState>>,
}

impl Sip {
    /// The SIP endpoint over a daemon's state.
    pub fn new(state: State) -> Sip {
        Sip {
            state,
            answered: Arc::new(DashMap::default()),
        }
    }

    /// Handles one whole message from `peer`; the bytes to send back, if any.
    pub fn handle(&self, bytes: &[u8], peer: SocketAddr, transport: &'static str) -> Option<Bytes> {
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
            Err(ParseError::Malformed) => {
                return self.broken(bytes, peer, 400, "Bad Request", "malformed");
            }
            Err(ParseError::MissingHeader) => {
                return self.broken(bytes, peer, 400, "Bad Request", "missing_header");
            }
        };
        let allowed = self.state.peers().allows(peer.ip());
        let (method, reply) = match incoming {
            Incoming::Response => {
                metrics::counter!(telemetry::SIP_DROPPED, "why" => "response").increment(1);
                return None;
            }
            Incoming::Ack => ("ACK", None),
            Incoming::Options(a) if allowed => (
                "OPTIONS",
                Some(
                    Answer::new(200, "OK", &a, peer)
                        .header("Allow", ALLOW)
                        .header("Accept", "application/sdp")
                        .finish(),
                ),
            ),
            Incoming::Cancel(a) if allowed => (
                "CANCEL",
                Some(Answer::new(481, "Call/Transaction Does Not Exist", &a, peer).finish()),
            ),
            Incoming::Other(a, _) if allowed => (
                "OTHER",
                Some(
                    Answer::new(405, "Method Not Allowed", &a, peer)
                        .header("Allow", ALLOW)
                        .finish(),
                ),
            ),
            Incoming::Invite(invite) if allowed => ("INVITE", Some(self.invite(invite, peer))),
            Incoming::Options(a) | Incoming::Cancel(a) | Incoming::Other(a, _) => {
                ("OTHER", Some(self.stranger(&a, peer)))
            }
            Incoming::Invite(invite) => ("INVITE", Some(self.stranger(&invite.addressing, peer))),
        };
        let status = reply.as_ref().map_or("absorbed", |r| status_of(r));
        metrics::counter!(telemetry::SIP_REQUESTS, "method" => method, "answer" => status)
            .increment(1);
        reply
    }

    /// A request from an address not in `--peers`: refused, nothing said about why.
    fn stranger(&self, a: &Addressing, peer: SocketAddr) -> Bytes {
        tracing::warn!(%peer, "SIP request from an address not in --peers");
        metrics::counter!(telemetry::SIP_DROPPED, "why" => "not_a_peer").increment(1);
        Answer::new(403, "Forbidden", a, peer).finish()
    }

    /// A message that didn't parse: an error answer if it can be addressed, else dropped.
    fn broken(
        &self,
        bytes: &[u8],
        peer: SocketAddr,
        code: u16,
        phrase: &str,
        why: &'static str,
    ) -> Option<Bytes> {
        match frame::addressing(bytes) {
            Some(a) if self.state.peers().allows(peer.ip()) => {
                metrics::counter!(telemetry::SIP_REQUESTS, "method" => "BROKEN", "answer" => why)
                    .increment(1);
                Some(Answer::new(code, phrase, &a, peer).finish())
            }
            _ => {
                metrics::counter!(telemetry::SIP_DROPPED, "why" => why).increment(1);
                None
            }
        }
    }

    /// Decides an INVITE, or repeats the answer its first transmission got.
    fn invite(&self, invite: Invite, peer: SocketAddr) -> Bytes {
        let key = retransmission_key(&invite.addressing);
        if let Some(hit) = self.answered.get(&key)
            && hit.0.elapsed() < RETRANSMIT_WINDOW
        {
            return hit.1.clone();
        }
        let bytes = self.decide(invite, peer);
        if self.answered.len() >= RETRANSMIT_CAPACITY {
            self.answered
                .retain(|_, (at, _)| at.elapsed() < RETRANSMIT_WINDOW);
        }
        if self.answered.len() < RETRANSMIT_CAPACITY {
            self.answered.insert(key, (Instant::now(), bytes.clone()));
        }
        bytes
    }

    /// Decides an INVITE (a caller-ID check, or a feature code when the Request-URI user
    /// starts with `*`) and writes the answer; no retransmission bookkeeping.
    pub fn decide(&self, invite: Invite, peer: SocketAddr) -> Bytes {
        let started = Instant::now();
        let (kind, d) = if invite.dialed.starts_with('*') {
            ("feature_code", self.feature_code(&invite, peer))
        } else {
            ("caller_id", self.caller_id(&invite, peer))
        };
        let decision = d.outcome.as_str();
        telemetry::record_check(kind, decision, started.elapsed());
        if let Some(auditor) = self.state.auditor().filter(|a| a.wants(decision)) {
            auditor.record_sip(peer, || {
                let principal: &[&str] = match &invite.user {
                    Some(user) => &[user],
                    None => &["ext:", &invite.from_user],
                };
                let mut record = CompactRecord::new(
                    audit::now_ms(),
                    kind,
                    decision,
                    d.reason,
                    d.revision,
                    &invite.tenant,
                    principal,
                );
                record
                    .input("dialed", Input::Text(Some(&invite.dialed)))
                    .input("requested", Input::Text(invite.requested.as_deref()))
                    .input("from_user", Input::Text(Some(&invite.from_user)))
                    .input("user", Input::Text(invite.user.as_deref()));
                record
            });
        }
        d.bytes
    }

    fn caller_id(&self, inv: &Invite, peer: SocketAddr) -> Decided {
        let table = self.state.table();
        let revision = table.revision();
        let requested = inv.requested.as_deref();
        let a = table
            .with_tenant(&inv.tenant, |t| {
                let user = inv
                    .user
                    .as_deref()
                    .or_else(|| t.owner_of(&inv.from_user))
                    .unwrap_or("");
                decide::caller_id(t, user, requested, &inv.dialed, revision)
            })
            .unwrap_or_else(|| table.check_caller_id(&inv.tenant, "", requested, &inv.dialed));
        let header = format!(
            "{}; reason={}; rev={}",
            a.outcome.as_str(),
            a.reason.code(),
            a.revision
        );
        let bytes = if a.outcome == Outcome::Deny {
            Answer::new(403, "Forbidden", &inv.addressing, peer)
                .header("X-Callgate-Decision", header)
                .finish()
        } else {
            let mut answer = Answer::new(302, "Moved Temporarily", &inv.addressing, peer)
                .header("Contact", format_args!("<{}>", inv.request_uri));
            if let Some(number) = a.caller_id {
                answer = answer.header(
                    "P-Asserted-Identity",
                    format_args!("<sip:{number}@{}>", inv.tenant),
                );
            }
            answer.header("X-Callgate-Decision", header).finish()
        };
        Decided {
            outcome: a.outcome,
            reason: a.reason,
            revision: a.revision,
            bytes,
        }
    }

    fn feature_code(&self, inv: &Invite, peer: SocketAddr) -> Decided {
        let table = self.state.table();
        let revision = table.revision();
        let write = |a: &callgate::FeatureAnswer<'_>| {
            let header = format!(
                "{}; reason={}; rev={}",
                a.outcome.as_str(),
                a.reason.code(),
                a.revision
            );
            let bytes = if a.outcome == Outcome::Allow {
                let mut answer = Answer::new(302, "Moved Temporarily", &inv.addressing, peer)
                    .header("Contact", format_args!("<{}>", inv.request_uri));
                if let Some(feature) = a.feature {
                    let args = a.args.iter().collect::<Vec<_>>().join(",");
                    answer =
                        answer.header("X-Callgate-Feature", format_args!("{feature}; args={args}"));
                }
                answer.header("X-Callgate-Decision", header).finish()
            } else {
                Answer::new(403, "Forbidden", &inv.addressing, peer)
                    .header("X-Callgate-Decision", header)
                    .finish()
            };
            Decided {
                outcome: a.outcome,
                reason: a.reason,
                revision: a.revision,
                bytes,
            }
        };
        table
            .with_tenant(&inv.tenant, |t| {
                let user = inv
                    .user
                    .as_deref()
                    .or_else(|| t.owner_of(&inv.from_user))
                    .unwrap_or("");
                write(&decide::feature_code(t, user, &inv.dialed, revision))
            })
            .unwrap_or_else(|| write(&table.check_feature_code(&inv.tenant, "", &inv.dialed)))
    }

    /// Forgets answers older than the retransmission window.
    pub fn expire(&self) {
        self.answered
            .retain(|_, (at, _)| at.elapsed() < RETRANSMIT_WINDOW);
    }
}

/// A decision and the answer written for it.
struct Decided {
    outcome: Outcome,
    reason: callgate::Reason,
    revision: u64,
    bytes: Bytes,
}

fn status_of(reply: &Bytes) -> &'static str {
    match reply.get(8..11) {
        Some(b"200") => "200",
        Some(b"302") => "302",
        Some(b"400") => "400",
        Some(b"403") => "403",
        Some(b"405") => "405",
        Some(b"481") => "481",
        Some(b"513") => "513",
        _ => "other",
    }
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
/// `max_connections` at once. Connections finish the message in hand, then close.
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
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (sip, stop) = (sip.clone(), stop_rx.clone());
        connections.spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_connection(stream, peer, &sip, stop).await {
                tracing::debug!(%peer, error = %e, "SIP TCP connection ended");
            }
        });
        while connections.try_join_next().is_some() {}
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
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
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
        let read = tokio::select! {
            _ = stop.changed() => return Ok(()),
            read = tokio::time::timeout(TCP_IDLE, stream.read(&mut chunk)) => read,
        };
        match read {
            Err(_) | Ok(Ok(0)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
        }
    }
}
