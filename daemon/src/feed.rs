//! The replica feed (`serve --feed PATH`): a Unix socket on which in-process replicas (the C
//! plugin) get a snapshot of the grant table and then every change, in revision order, in the
//! framed protocol of [`callgate::feed`].
//!
//! One hub task follows the table (the source of truth: it already follows the store). It
//! polls the table's revision every couple of milliseconds, diffs the tenants against what it
//! last sent (a tenant whose compiled `Arc` changed is a put, an id that went away a delete),
//! encodes each change once and offers the frame to every client's bounded queue. A new
//! client registers with the hub and gets the hub's view as its snapshot, so the snapshot and
//! the changes after it always line up. A client whose queue is full, whose socket stays
//! unwritable past a timeout, or that sends anything but well-formed frames of the protocol is
//! disconnected (it reconnects and resyncs); nothing a client does can stall the hub or the
//! other clients.
//!
//! Clients send back the denials they decided in-process (`audit` frames); each goes into the
//! daemon's audit trail through the same bounded queue as the daemon's own decisions, marked
//! `plugin:NAME` after the client's hello.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use callgate::feed::{self, FeedError, Message, SharedTenant, VERSION};
use callgate::{CompiledTenant, Table};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, timeout};

use crate::audit::{AuditRecord, Auditor};
use crate::telemetry::FEED_CLIENTS;

/// The feed's limits and timings. [`Settings::default`] is what `serve` uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the hub looks at the table's revision.
    pub poll: Duration,
    /// How often clients get a heartbeat when nothing changes.
    pub heartbeat: Duration,
    /// How often the hub compares every tenant even if the revision did not move (a change
    /// applied out of revision order by concurrent writers is caught within this).
    pub full_scan: Duration,
    /// Frames a client may have queued before it is disconnected as too far behind.
    pub queue: usize,
    /// How long one frame's write may block before the client is disconnected.
    pub write_timeout: Duration,
    /// How long a new connection has to say hello.
    pub handshake_timeout: Duration,
    /// The largest frame a client may send (clients only send a hello and audit records).
    pub max_client_frame: usize,
    /// Most clients at once; more are refused.
    pub max_clients: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            poll: Duration::from_millis(2),
            heartbeat: Duration::from_secs(1),
            full_scan: Duration::from_secs(1),
            queue: 4096,
            write_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            max_client_frame: 16 << 20,
            max_clients: 256,
        }
    }
}

/// Binds the feed's socket at `path`, first removing a stale socket file left by a daemon
/// that did not stop cleanly. Refuses to replace anything that is not a socket, or a socket
/// another process is still serving.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another process is serving the feed socket `{}`",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("`{}` exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// Serves the feed on an already-bound listener until `shutdown` resolves, with the default
/// [`Settings`]; what clients audit goes to `auditor` (dropped if there is none). Removes the
/// socket file when it stops.
pub async fn run(
    listener: UnixListener,
    table: Arc<Table>,
    auditor: Option<Auditor>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_with(listener, table, auditor, Settings::default(), shutdown).await
}

/// [`run`] with explicit limits (tests make them small).
pub async fn run_with(
    listener: UnixListener,
    table: Arc<Table>,
    auditor: Option<Auditor>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let path: Option<PathBuf> = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    let settings = Arc::new(settings);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (join_tx, join_rx) = mpsc::channel::<Join>(64);
    let hub = tokio::spawn(Hub::new(table, Arc::clone(&settings)).run(join_rx, stop_rx.clone()));
    let slots = Arc::new(Semaphore::new(settings.max_clients));
    let mut clients = JoinSet::new();
    tracing::info!(socket = ?path, "replica feed is listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(max = settings.max_clients, "feed: too many clients, refusing one");
                        clients.spawn(refuse(stream, "too many feed clients"));
                        continue;
                    };
                    let (join, settings, stop) = (join_tx.clone(), Arc::clone(&settings), stop_rx.clone());
                    let auditor = auditor.clone();
                    clients.spawn(async move {
                        serve_client(stream, join, settings, auditor, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "feed: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    while clients.join_next().await.is_some() {}
    drop(join_tx);
    let _ = hub.await;
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A new client asking the hub for a snapshot and a place among the followers.
struct Join {
    reply: oneshot::Sender<Joined>,
}

/// What a client gets on joining: the hub's view as a snapshot, and its queue of changes.
struct Joined {
    revision: u64,
    tenants: Vec<Arc<CompiledTenant>>,
    changes: mpsc::Receiver<Bytes>,
    /// Resolves (with an error) when the hub drops the client.
    dropped: oneshot::Receiver<()>,
}

/// A follower as the hub holds it. Dropping it closes the client's queue and resolves its
/// `dropped` receiver.
struct Follower {
    changes: mpsc::Sender<Bytes>,
    _dropped: oneshot::Sender<()>,
}

/// One change found by a diff.
enum Change {
    Put(Arc<CompiledTenant>),
    Delete(Box<str>),
}

/// Follows the table and fans changes out to every client.
struct Hub {
    table: Arc<Table>,
    settings: Arc<Settings>,
    /// Each tenant as last sent.
    sent: HashMap<Box<str>, Arc<CompiledTenant>>,
    /// Every change up to this revision has been sent.
    revision: u64,
    followers: Vec<Follower>,
}

impl Hub {
    fn new(table: Arc<Table>, settings: Arc<Settings>) -> Hub {
        let (revision, tenants) = table.snapshot();
        let sent = tenants.into_iter().map(|t| (t.id.clone(), t)).collect();
        Hub {
            table,
            settings,
            sent,
            revision,
            followers: Vec::new(),
        }
    }

    async fn run(mut self, mut joins: mpsc::Receiver<Join>, mut stop: watch::Receiver<bool>) {
        let mut poll = tokio::time::interval(self.settings.poll);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_scan = Instant::now();
        let mut last_beat = Instant::now();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                join = joins.recv() => match join {
                    Some(join) => self.join(join),
                    None => break,
                },
                _ = poll.tick() => {
                    let now = Instant::now();
                    if self.table.revision() != self.revision || now.duration_since(last_scan) >= self.settings.full_scan {
                        self.sync();
                        last_scan = now;
                    }
                    if now.duration_since(last_beat) >= self.settings.heartbeat {
                        self.heartbeat();
                        last_beat = now;
                    }
                }
            }
        }
    }

    fn join(&mut self, join: Join) {
        let (changes_tx, changes) = mpsc::channel(self.settings.queue.max(1));
        let (dropped_tx, dropped) = oneshot::channel();
        let joined = Joined {
            revision: self.revision,
            tenants: self.sent.values().cloned().collect(),
            changes,
            dropped,
        };
        if join.reply.send(joined).is_ok() {
            self.followers.push(Follower {
                changes: changes_tx,
                _dropped: dropped_tx,
            });
        }
    }

    /// Diffs the table against what was sent and sends the difference, in revision order.
    fn sync(&mut self) {
        let (revision, tenants) = self.table.snapshot();
        let mut current: HashMap<Box<str>, Arc<CompiledTenant>> =
            HashMap::with_capacity(tenants.len());
        let mut changes: Vec<(u64, Change)> = Vec::new();
        for t in tenants {
            if !self.sent.get(&t.id).is_some_and(|old| Arc::ptr_eq(old, &t)) {
                changes.push((t.revision, Change::Put(Arc::clone(&t))));
            }
            current.insert(t.id.clone(), t);
        }
        let kept: HashSet<&str> = current.keys().map(|k| &**k).collect();
        for id in self.sent.keys() {
            if !kept.contains(&**id) {
                // The table keeps no revision for a removal; the revision it is at now is
                // the removal's or later.
                changes.push((revision, Change::Delete(id.clone())));
            }
        }
        changes.sort_by_key(|(r, _)| *r);
        let mut top = revision.max(self.revision);
        for (rev, change) in changes {
            top = top.max(rev);
            let message = match change {
                Change::Put(t) => Message::Put {
                    revision: rev,
                    tenant: SharedTenant::Json(Arc::clone(&t.source)),
                },
                Change::Delete(id) => Message::Delete {
                    revision: rev,
                    tenant: id.into(),
                },
            };
            self.broadcast(&message);
        }
        self.sent = current;
        self.revision = top;
    }

    /// Tells idle followers the revision. One with frames still queued (catching up, or
    /// still being sent its snapshot) hears from the daemon soon anyway, and a heartbeat
    /// must not be what fills its queue.
    fn heartbeat(&mut self) {
        let Ok(frame) = feed::encode(&Message::Heartbeat {
            revision: self.revision,
        }) else {
            return;
        };
        let frame = Bytes::from(frame);
        self.followers.retain(|f| {
            if f.changes.capacity() < f.changes.max_capacity() {
                return !f.changes.is_closed();
            }
            !matches!(
                f.changes.try_send(frame.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }

    /// Offers one frame to every follower; drops those whose queue is full.
    fn broadcast(&mut self, message: &Message) {
        if self.followers.is_empty() {
            return;
        }
        let frame = match feed::encode(message) {
            Ok(f) => Bytes::from(f),
            Err(e) => {
                // Only a tenant beyond the frame limit gets here: every client must resync
                // (and will fail the same way) rather than silently miss the change.
                tracing::error!(error = %e, "feed: cannot encode a change; dropping every client");
                self.followers.clear();
                return;
            }
        };
        self.followers
            .retain(|f| match f.changes.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("feed: a client fell too far behind; disconnecting it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

/// Counts a connected client in the `callgate_feed_clients` gauge while it lives.
struct Counted;

impl Counted {
    fn new() -> Counted {
        metrics::gauge!(FEED_CLIENTS).increment(1.0);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!(FEED_CLIENTS).decrement(1.0);
    }
}

/// Tells a connection why it is refused, best effort, and closes it.
async fn refuse(mut stream: UnixStream, why: &str) {
    if let Ok(frame) = feed::encode(&Message::Error {
        message: why.into(),
    }) {
        let _ = timeout(Duration::from_millis(200), stream.write_all(&frame)).await;
    }
}

/// One client: hello, snapshot, then its queue of changes, until it or the daemon goes.
async fn serve_client(
    stream: UnixStream,
    hub: mpsc::Sender<Join>,
    settings: Arc<Settings>,
    auditor: Option<Auditor>,
    mut stop: watch::Receiver<bool>,
) {
    let _counted = Counted::new();
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let hello = timeout(
        settings.handshake_timeout,
        read_message(&mut rd, &mut buf, settings.max_client_frame),
    )
    .await;
    let (name, pid) = match hello {
        Ok(Ok(Message::Hello {
            version: VERSION,
            name,
            pid,
        })) => (name, pid),
        Ok(Ok(Message::Hello { version, .. })) => {
            let message = format!(
                "unsupported feed protocol version `{version}`: this daemon speaks version {VERSION}"
            );
            tracing::info!(
                version,
                "feed: refused a client of another protocol version"
            );
            let _ = write_frame(&mut wr, &Message::Error { message }, settings.write_timeout).await;
            return;
        }
        Ok(Ok(other)) => {
            let message = format!("expected a `hello` message, got `{}`", other.kind());
            let _ = write_frame(&mut wr, &Message::Error { message }, settings.write_timeout).await;
            return;
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, "feed: dropped a client before its hello");
            return;
        }
        Err(_) => {
            tracing::info!("feed: dropped a client that never said hello");
            return;
        }
    };
    let (reply, joined) = oneshot::channel();
    if hub.send(Join { reply }).await.is_err() {
        return;
    }
    let Ok(Joined {
        revision,
        tenants,
        mut changes,
        mut dropped,
    }) = joined.await
    else {
        return;
    };
    tracing::info!(client = %name, pid, revision, tenants = tenants.len(), "feed: client joined");

    let source = format!("plugin:{name}");
    let reader = async {
        loop {
            match read_message(&mut rd, &mut buf, settings.max_client_frame).await {
                Ok(Message::Audit { records, dropped }) => {
                    if let Err(why) = audit(auditor.as_ref(), &source, records, dropped) {
                        return why;
                    }
                }
                Ok(other) => {
                    return format!("unexpected `{}` message from the client", other.kind());
                }
                Err(FeedError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return "the client closed".to_string();
                }
                Err(e) => return e.to_string(),
            }
        }
    };
    let writer = async {
        let wt = settings.write_timeout;
        write_frame(
            &mut wr,
            &Message::Welcome {
                version: VERSION,
                revision,
            },
            wt,
        )
        .await?;
        write_frame(
            &mut wr,
            &Message::Snapshot {
                revision,
                tenants: tenants.len() as u64,
            },
            wt,
        )
        .await?;
        for t in tenants {
            write_frame(
                &mut wr,
                &Message::Tenant {
                    revision: t.revision,
                    tenant: SharedTenant::Json(Arc::clone(&t.source)),
                },
                wt,
            )
            .await?;
        }
        write_frame(&mut wr, &Message::SnapshotEnd { revision }, wt).await?;
        while let Some(frame) = changes.recv().await {
            write_bytes(&mut wr, &frame, wt).await?;
        }
        Ok::<(), String>(())
    };
    let why = tokio::select! {
        biased;
        _ = &mut dropped => "fell too far behind".to_string(),
        _ = stop.changed() => "the daemon is stopping".to_string(),
        why = reader => why,
        done = writer => match done {
            Ok(()) => "the feed stopped".to_string(),
            Err(why) => why,
        },
    };
    tracing::info!(client = %name, pid, why = %why, "feed: client disconnected");
}

/// Puts a client's `audit` frame into the trail: each decision as a record from `source`,
/// and a count of what the client itself had to drop as an `audit_dropped` record. A record
/// that is not a decision of this protocol ends the connection (its frame is not recorded).
fn audit(
    auditor: Option<&Auditor>,
    source: &str,
    records: Vec<feed::AuditEntry>,
    dropped: u64,
) -> Result<(), String> {
    if let Some(bad) = records.iter().find(|r| !r.is_decision()) {
        return Err(format!(
            "malformed audit record: a `{}` decision `{}`",
            bad.action, bad.decision
        ));
    }
    let Some(auditor) = auditor else {
        return Ok(());
    };
    for r in records {
        auditor.record(AuditRecord {
            at_ms: r.at_ms,
            tenant: r.tenant,
            kind: "decision".into(),
            action: r.action,
            principal: r.principal,
            decision: r.decision,
            reason: r.reason,
            revision: i64::try_from(r.revision).unwrap_or(i64::MAX),
            source: source.to_string(),
            detail: serde_json::Value::Object(r.inputs),
        });
    }
    if dropped > 0 {
        tracing::warn!(
            source,
            dropped,
            "feed: a client dropped audit records (its queue was full)"
        );
        auditor.record(AuditRecord::dropped(dropped, source));
    }
    Ok(())
}

async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Message, FeedError> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header).await?;
    let len = feed::frame_len(header)?;
    if len > max {
        return Err(FeedError::TooLarge(len as u64));
    }
    buf.clear();
    let got = r.take(len as u64).read_to_end(buf).await?;
    if got < len {
        return Err(FeedError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    feed::decode(buf)
}

async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    message: &Message,
    limit: Duration,
) -> Result<(), String> {
    let frame = feed::encode(message).map_err(|e| e.to_string())?;
    write_bytes(w, &frame, limit).await
}

async fn write_bytes<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &[u8],
    limit: Duration,
) -> Result<(), String> {
    match timeout(limit, w.write_all(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!("a write blocked for more than {limit:?}")),
    }
}
