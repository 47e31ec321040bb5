//! The replica feed (`serve --feed PATH`): a Unix socket on which in-process replicas (the C
//! plugin) get a snapshot of the grant table and then every change, in revision order, in the
//! framed protocol of [`callgate_wire::feed`].
//!
//! One hub task follows the table's one writer, the store follower: it subscribes to the
//! [`Writer`] and hears of every change it applies and what it was ([`Applied`]: a tenant
//! put, with what a replica rebuilds it from, or removed; nothing polls, nothing is diffed).
//! The hub encodes each change once (the splice alone when clients hold the tenant it was
//! made to) and offers the frame to every client's bounded queue. If the hub itself falls a
//! whole queue of changes behind (each holds a compiled tenant), the writer lets it go; the
//! hub subscribes again and sends clients the difference between what they have and the
//! writer's fresh, consistent start. An idle hub only wakes for the once-a-second heartbeat.
//! A new client registers with the hub and gets the hub's view as its snapshot, so the
//! snapshot and the changes after it always line up. A client whose queue is full, whose
//! socket stays unwritable past a timeout, or that sends anything but well-formed frames of
//! the protocol is disconnected (it reconnects and resyncs); nothing a client does can stall
//! the hub or the other clients.
//!
//! Clients send back the denials they decided in-process (`audit` frames); each goes into the
//! daemon's audit trail through the same bounded queue as the daemon's own decisions, marked
//! `plugin:NAME` after the client's hello.
//!
//! Every tenant's directory goes out on this socket, and what comes in lands in the audit
//! trail, so who may connect is checked twice: the socket file gets a mode and group of its
//! own ([`Access`], config `feed_mode`, `feed_group`), and each connection's peer credentials
//! (`SO_PEERCRED`) must name an allowed uid or gid (`feed_allow_uids`, `feed_allow_gids`;
//! root always) before it is read from or sent anything. What an allowed client reports is
//! still bounded: frames of at most [`feed::MAX_CLIENT_FRAME`] bytes and
//! [`feed::MAX_AUDIT_RECORDS`] records, a rate of records per second (beyond it they are
//! counted as dropped), timestamps clamped to the last day, and a bounded `dropped` count.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use callgate_wire::feed::{self, FeedError, Message, SharedTenant, VERSION};
use smol_str::SmolStr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, timeout};

use crate::audit::{AuditRecord, Auditor};
use crate::config::Config;
use crate::telemetry::FEED_CLIENTS;
use crate::writer::{Applied, Published, Writer};

/// Times the hub fell a whole queue of changes behind and caught up by comparing the table
/// whole.
pub const FEED_RESYNCS: &str = "callgate_feed_resyncs_total";

/// Connections refused because of who the peer is (`why="peer"`) or because its credentials
/// could not be read (`why="no_credentials"`).
pub const FEED_REFUSED: &str = "callgate_feed_refused_total";

/// The feed's limits and timings. [`Settings::default`] is what `serve` uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often clients get a heartbeat when nothing changes.
    pub heartbeat: Duration,
    /// Frames a client may have queued before it is disconnected as too far behind.
    pub queue: usize,
    /// Changes the hub may have waiting (each holds a compiled tenant, megabytes for a large
    /// one) before it lets them go and compares the whole table instead.
    pub max_pending_changes: usize,
    /// How long one frame's write may block before the client is disconnected.
    pub write_timeout: Duration,
    /// How long a new connection has to say hello.
    pub handshake_timeout: Duration,
    /// The largest frame a client may send (clients only send a hello and audit records).
    pub max_client_frame: usize,
    /// Most clients at once; more are refused.
    pub max_clients: usize,
    /// Most records in one `audit` frame; a frame with more is a protocol violation.
    pub max_audit_records: usize,
    /// Records per second one client may put in the trail (a second's worth may come at
    /// once); beyond that they are counted as dropped.
    pub max_audit_rate: u32,
    /// The largest `dropped` count one frame may claim; more is recorded as this much.
    pub max_client_dropped: u64,
    /// How old a client's record may say it is; older ones (and any dated in the future) are
    /// recorded as of the nearest bound.
    pub max_record_age: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            heartbeat: Duration::from_secs(1),
            queue: 4096,
            max_pending_changes: 256,
            write_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            max_client_frame: feed::MAX_CLIENT_FRAME,
            max_clients: 256,
            max_audit_records: feed::MAX_AUDIT_RECORDS,
            max_audit_rate: 10_000,
            max_client_dropped: 100_000_000,
            max_record_age: Duration::from_secs(86_400),
        }
    }
}

/// Why the feed's access settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// `feed_mode` is not octal permission bits.
    #[error("invalid feed socket mode `{0}` (octal permission bits, e.g. `0660`)")]
    Mode(String),
    /// `feed_group` names no group.
    #[error("unknown group `{0}` for the feed socket (a name in /etc/group, or a gid)")]
    Group(String),
}

/// Who may use the feed: the socket file's mode and group, and the peer credentials a
/// connection must have. [`Access::default`] is mode `0660`, no group change, and only the
/// daemon's own uid and gid (and root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The socket file's permission bits.
    pub mode: u32,
    /// The group the socket file is given, if any.
    pub group: Option<u32>,
    /// Uids whose processes may connect (root always may).
    pub uids: Vec<u32>,
    /// Gids (a process's primary gid, as `SO_PEERCRED` gives it) that may connect.
    pub gids: Vec<u32>,
}

impl Default for Access {
    fn default() -> Access {
        let (uids, gids) = own_ids().map_or((Vec::new(), Vec::new()), |(u, g)| (vec![u], vec![g]));
        Access {
            mode: 0o660,
            group: None,
            uids,
            gids,
        }
    }
}

impl Access {
    /// The access the daemon's config asks for: `feed_mode`, `feed_group`,
    /// `feed_allow_uids` (default: the daemon's uid), `feed_allow_gids` (default: the daemon's
    /// gid and `feed_group`'s).
    pub fn from_config(config: &Config) -> Result<Access, AccessError> {
        let text = config.feed_mode.trim();
        let digits = text.strip_prefix("0o").unwrap_or(text);
        let mode = u32::from_str_radix(digits, 8)
            .ok()
            .filter(|m| !digits.is_empty() && *m <= 0o777)
            .ok_or_else(|| AccessError::Mode(config.feed_mode.clone()))?;
        let group = match &config.feed_group {
            None => None,
            Some(g) => Some(group_id(g).ok_or_else(|| AccessError::Group(g.clone()))?),
        };
        let own = Access::default();
        let uids = config.feed_allow_uids.clone().unwrap_or(own.uids);
        let gids = match &config.feed_allow_gids {
            Some(gids) => gids.clone(),
            None => own.gids.into_iter().chain(group).collect(),
        };
        Ok(Access {
            mode,
            group,
            uids,
            gids,
        })
    }

    /// Whether a peer with these credentials may connect: root, an allowed uid, or an
    /// allowed primary gid.
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        uid == 0 || self.uids.contains(&uid) || self.gids.contains(&gid)
    }
}

/// This process's effective uid and gid, from `/proc/self/status`.
fn own_ids() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    // `Uid:\treal\teffective\tsaved\tfs`
    let effective = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|id| id.parse::<u32>().ok())
    };
    Some((effective("Uid:")?, effective("Gid:")?))
}

/// A group's id: a number as it is, a name looked up in `/etc/group`.
fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Some(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let gid = fields.nth(1)?;
        (name == group).then(|| gid.parse().ok()).flatten()
    })
}

/// The feed's bound socket, with the access it enforces and the path it removes on shutdown.
#[derive(Debug)]
pub struct Listener {
    socket: UnixListener,
    path: Option<PathBuf>,
    access: Access,
}

impl Listener {
    /// The access the listener enforces.
    pub fn access(&self) -> &Access {
        &self.access
    }
}

/// A listener bound elsewhere (tests): [`Access::default`], and its path removed on shutdown.
impl From<UnixListener> for Listener {
    fn from(socket: UnixListener) -> Listener {
        let path = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf));
        Listener {
            socket,
            path,
            access: Access::default(),
        }
    }
}

/// Binds the feed's socket at `path`, first removing a stale socket file left by a daemon
/// that did not stop cleanly, and gives it `access`'s mode and group. Refuses to replace
/// anything that is not a socket, or a socket another process is still serving.
///
/// The file exists with the umask's mode for the moment before its mode is set; a process
/// that connects then is still refused by the peer check, which every connection passes
/// before anything else.
pub fn bind(path: &Path, access: &Access) -> io::Result<Listener> {
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
    let socket = UnixListener::bind(path)?;
    let restricted = (|| {
        use std::os::unix::fs::PermissionsExt;
        if let Some(gid) = access.group {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))
    })();
    if let Err(e) = restricted {
        let _ = std::fs::remove_file(path);
        return Err(io::Error::new(
            e.kind(),
            format!(
                "cannot set the mode and group of the feed socket `{}`: {e}",
                path.display()
            ),
        ));
    }
    Ok(Listener {
        socket,
        path: Some(path.to_path_buf()),
        access: access.clone(),
    })
}

/// Serves the feed on an already-bound listener until `shutdown` resolves, with the default
/// [`Settings`]; what clients audit goes to `auditor` (dropped if there is none). Removes the
/// socket file when it stops.
pub async fn run(
    listener: impl Into<Listener>,
    writer: Arc<Writer>,
    auditor: Option<Auditor>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_with(listener, writer, auditor, Settings::default(), shutdown).await
}

/// [`run`] with explicit limits (tests make them small).
pub async fn run_with(
    listener: impl Into<Listener>,
    writer: Arc<Writer>,
    auditor: Option<Auditor>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let Listener {
        socket: listener,
        path,
        access,
    } = listener.into();
    let mut refusals = Refusals::default();
    let settings = Arc::new(settings);
    // The platform's emergency numbers go to every replica in its welcome: a replica must
    // honour the same list as the daemon, even before its first snapshot is complete.
    let emergency: Arc<[String]> = writer.table().platform_emergency().into();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (join_tx, join_rx) = mpsc::channel::<Join>(64);
    let Some((hub, applied)) = Hub::new(writer, Arc::clone(&settings)) else {
        return Err(io::Error::other(
            "the table's writer keeps no sources to feed replicas (Writer::without_sources)",
        ));
    };
    let hub = tokio::spawn(hub.run(applied, join_rx, stop_rx.clone()));
    let slots = Arc::new(Semaphore::new(settings.max_clients));
    let mut clients = JoinSet::new();
    tracing::info!(socket = ?path, "replica feed is listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Before anything is read or sent: a peer that may not connect is closed.
                    match stream.peer_cred() {
                        Ok(cred) if access.allows(cred.uid(), cred.gid()) => {}
                        Ok(cred) => {
                            metrics::counter!(FEED_REFUSED, "why" => "peer").increment(1);
                            refusals.note(cred.uid(), cred.gid(), cred.pid());
                            continue;
                        }
                        Err(e) => {
                            metrics::counter!(FEED_REFUSED, "why" => "no_credentials").increment(1);
                            tracing::warn!(error = %e, "feed: cannot read a connection's peer credentials; closing it");
                            continue;
                        }
                    }
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(max = settings.max_clients, "feed: too many clients, refusing one");
                        clients.spawn(refuse(stream, "too many feed clients"));
                        continue;
                    };
                    let (join, settings, stop) = (join_tx.clone(), Arc::clone(&settings), stop_rx.clone());
                    let (auditor, emergency) = (auditor.clone(), Arc::clone(&emergency));
                    clients.spawn(async move {
                        serve_client(stream, join, settings, auditor, emergency, stop).await;
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

/// Logs refused peers: each one while they are rare, then at most one line a second with
/// how many were refused meanwhile (a local flood of connections must not flood the log).
#[derive(Default)]
struct Refusals {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Refusals {
    fn note(&mut self, uid: u32, gid: u32, pid: Option<i32>) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            uid,
            gid,
            pid,
            also_refused = self.unlogged,
            "feed: refused a connection from a process that may not use the feed (feed_allow_uids, feed_allow_gids)"
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
    }
}

/// A new client asking the hub for a snapshot and a place among the followers.
struct Join {
    reply: oneshot::Sender<Joined>,
}

/// What a client gets on joining: the hub's view as a snapshot, and its queue of changes.
struct Joined {
    revision: u64,
    tenants: Vec<Published>,
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

/// Follows the table's writer and fans changes out to every client.
struct Hub {
    writer: Arc<Writer>,
    settings: Arc<Settings>,
    /// Each tenant as last sent.
    sent: HashMap<SmolStr, Published>,
    /// Every change up to this revision has been sent.
    revision: u64,
    followers: Vec<Follower>,
}

impl Hub {
    /// A hub subscribed to `writer`; what it sends clients starts from what the writer holds.
    /// `None` if the writer keeps no sources.
    fn new(writer: Arc<Writer>, settings: Arc<Settings>) -> Option<(Hub, mpsc::Receiver<Applied>)> {
        let start = writer.subscribe(settings.max_pending_changes)?;
        let hub = Hub {
            sent: start
                .tenants
                .into_iter()
                .map(|p| (p.tenant.id.clone(), p))
                .collect(),
            revision: start.revision,
            writer,
            settings,
            followers: Vec::new(),
        };
        Some((hub, start.changes))
    }

    async fn run(
        mut self,
        mut applied: mpsc::Receiver<Applied>,
        mut joins: mpsc::Receiver<Join>,
        mut stop: watch::Receiver<bool>,
    ) {
        let start = Instant::now() + self.settings.heartbeat;
        let mut beat = tokio::time::interval_at(start, self.settings.heartbeat);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                join = joins.recv() => match join {
                    Some(join) => self.join(join),
                    None => break,
                },
                n = applied.recv_many(&mut batch, 256) => {
                    for change in batch.drain(..) {
                        self.apply(change);
                    }
                    if n == 0 {
                        // The writer let the hub go (it fell a whole queue behind), after
                        // everything queued before: start again from where the writer is.
                        match self.resync() {
                            Some(again) => applied = again,
                            None => break,
                        }
                    }
                }
                _ = beat.tick() => self.heartbeat(),
            }
        }
    }

    /// Sends one change of the table, unless the clients already have it.
    fn apply(&mut self, change: Applied) {
        match change {
            Applied::Put(p) => {
                let old = self.sent.get(&p.tenant.id);
                if old.is_some_and(|old| Arc::ptr_eq(&old.tenant, &p.tenant)) {
                    return;
                }
                let message = put_message(old, &p);
                self.revision = self.revision.max(p.tenant.revision);
                self.sent.insert(p.tenant.id.clone(), p);
                self.broadcast(&message);
            }
            Applied::Removed(id, revision) => {
                self.revision = self.revision.max(revision);
                if self.sent.remove(&*id).is_some() {
                    self.broadcast(&Message::Delete {
                        revision,
                        tenant: id.into(),
                    });
                }
            }
            Applied::Revision(revision) => self.revision = self.revision.max(revision),
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

    /// Subscribes to the writer again and sends the difference between what clients have
    /// and the writer's new start, in revision order; returns the new queue of changes (`None`
    /// only from a writer that keeps no sources, which the hub never subscribes to).
    /// Every change the old queue held has been sent, and the start is one consistent cut
    /// taken after them, so nothing is sent twice, missed or out of order.
    fn resync(&mut self) -> Option<mpsc::Receiver<Applied>> {
        metrics::counter!(FEED_RESYNCS).increment(1);
        tracing::warn!(
            max_pending_changes = self.settings.max_pending_changes,
            "feed: fell a whole queue of changes behind; comparing the table whole"
        );
        let start = self.writer.subscribe(self.settings.max_pending_changes)?;
        let mut current: HashMap<SmolStr, Published> = HashMap::with_capacity(start.tenants.len());
        let mut changes: Vec<(u64, Message)> = Vec::new();
        for p in start.tenants {
            let old = self.sent.get(&p.tenant.id);
            if !old.is_some_and(|old| Arc::ptr_eq(&old.tenant, &p.tenant)) {
                changes.push((p.tenant.revision, put_message(old, &p)));
            }
            current.insert(p.tenant.id.clone(), p);
        }
        let revision = start.revision;
        for id in self.sent.keys() {
            if !current.contains_key(id) {
                // The start keeps no revision for a removal; the one it is at is the
                // removal's or later.
                let tenant = id.to_string();
                changes.push((revision, Message::Delete { revision, tenant }));
            }
        }
        changes.sort_by_key(|(r, _)| *r);
        for (_, message) in &changes {
            self.broadcast(message);
        }
        self.sent = current;
        self.revision = self.revision.max(revision);
        Some(start.changes)
    }

    /// Tells idle followers the revision. One with frames still queued (catching up, or
    /// still being sent its snapshot) hears from the daemon soon anyway, and a heartbeat
    /// must not be what fills its queue.
    fn heartbeat(&mut self) {
        let lag = self.writer.table().revision().saturating_sub(self.revision);
        metrics::gauge!(crate::telemetry::FEED_LAG).set(lag as f64);
        let deepest = self
            .followers
            .iter()
            .map(|f| f.changes.max_capacity() - f.changes.capacity())
            .max()
            .unwrap_or(0);
        metrics::gauge!(crate::telemetry::FEED_QUEUE_MAX).set(deepest as f64);
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

/// The message that brings clients holding `old` to `new`: the change alone (a splice) when
/// they hold the tenant it was made to, else the tenant whole.
fn put_message(old: Option<&Published>, new: &Published) -> Message {
    let t = &new.tenant;
    match t
        .delta
        .as_ref()
        .filter(|d| old.is_some_and(|old| old.tenant.generation == d.base))
    {
        Some(d) => Message::Splice {
            revision: t.revision,
            splice: Arc::clone(&d.splice),
        },
        None => Message::Put {
            revision: t.revision,
            tenant: SharedTenant::Json(Arc::clone(&new.source.json)),
            splices: Arc::clone(&new.source.splices),
        },
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
    emergency: Arc<[String]>,
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

    let mut trail = ClientTrail::new(auditor, format!("plugin:{name}"), &settings);
    let reader = async {
        loop {
            match read_message(&mut rd, &mut buf, settings.max_client_frame).await {
                Ok(Message::Audit { records, dropped }) => {
                    if let Err(why) = trail.audit(records, dropped, &settings) {
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
                emergency: emergency.to_vec(),
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
        for p in tenants {
            write_frame(
                &mut wr,
                &Message::Tenant {
                    revision: p.tenant.revision,
                    tenant: SharedTenant::Json(Arc::clone(&p.source.json)),
                    splices: Arc::clone(&p.source.splices),
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
    trail.flush_dropped(true);
    tracing::info!(client = %name, pid, why = %why, "feed: client disconnected");
}

/// Records per second, as a bucket a second's worth deep.
struct Budget {
    rate: u64,
    tokens: u64,
    refilled: Instant,
}

impl Budget {
    fn new(rate: u32) -> Budget {
        Budget {
            rate: u64::from(rate),
            tokens: u64::from(rate),
            refilled: Instant::now(),
        }
    }

    /// How many of `wanted` records may go in now.
    fn take(&mut self, wanted: usize, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.refilled).as_micros();
        let earned = elapsed.saturating_mul(u128::from(self.rate)) / 1_000_000;
        if earned > 0 {
            let earned = u64::try_from(earned).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.rate);
            self.refilled = now;
        }
        let granted = self.tokens.min(u64::try_from(wanted).unwrap_or(u64::MAX));
        self.tokens -= granted;
        usize::try_from(granted).unwrap_or(wanted)
    }
}

/// One client's way into the audit trail: its records, bounded in rate and time, and what it
/// could not keep (or was not let keep), counted and recorded at most once a second.
struct ClientTrail {
    auditor: Option<Auditor>,
    source: String,
    budget: Budget,
    /// Dropped by the client, as it claimed them (each frame's claim bounded).
    dropped: u64,
    /// Refused here for going over the rate.
    over_rate: u64,
    /// Claims that were larger than a frame may make, as claimed.
    claimed: u64,
    last_dropped_record: Option<Instant>,
}

impl ClientTrail {
    fn new(auditor: Option<Auditor>, source: String, settings: &Settings) -> ClientTrail {
        ClientTrail {
            auditor,
            source,
            budget: Budget::new(settings.max_audit_rate),
            dropped: 0,
            over_rate: 0,
            claimed: 0,
            last_dropped_record: None,
        }
    }

    /// Puts a client's `audit` frame into the trail: each decision as a record from the
    /// client (as of now if it is dated in the future or more than `max_record_age` ago,
    /// with its claimed time kept as `claimed_at_ms`), as many as the rate allows. A frame
    /// with too many records, or a record that is not a decision of this protocol, ends the
    /// connection (nothing of that frame is recorded).
    fn audit(
        &mut self,
        records: Vec<feed::AuditEntry>,
        dropped: u64,
        settings: &Settings,
    ) -> Result<(), String> {
        if records.len() > settings.max_audit_records {
            return Err(format!(
                "an audit frame of {} records (at most {})",
                records.len(),
                settings.max_audit_records
            ));
        }
        if let Some(bad) = records.iter().find(|r| !r.is_decision()) {
            return Err(format!(
                "malformed audit record: a `{}` decision `{}`",
                bad.action, bad.decision
            ));
        }
        let Some(auditor) = &self.auditor else {
            return Ok(());
        };
        let now = crate::audit::now_ms();
        let age = i64::try_from(settings.max_record_age.as_millis()).unwrap_or(i64::MAX);
        let oldest = now.saturating_sub(age);
        let allowed = self.budget.take(records.len(), Instant::now());
        self.over_rate += (records.len() - allowed) as u64;
        for r in records.into_iter().take(allowed) {
            let at_ms = r.at_ms.clamp(oldest, now);
            let mut inputs = r.inputs;
            inputs.remove("claimed_at_ms");
            if at_ms != r.at_ms {
                inputs.insert("claimed_at_ms".into(), r.at_ms.into());
            }
            auditor.record(AuditRecord {
                at_ms,
                tenant: r.tenant,
                kind: "decision".into(),
                action: r.action,
                principal: r.principal,
                decision: r.decision,
                reason: r.reason,
                revision: i64::try_from(r.revision).unwrap_or(i64::MAX),
                source: self.source.clone(),
                detail: serde_json::Value::Object(inputs),
            });
        }
        if dropped > settings.max_client_dropped {
            self.claimed = self.claimed.saturating_add(dropped);
        }
        self.dropped = self
            .dropped
            .saturating_add(dropped.min(settings.max_client_dropped));
        self.flush_dropped(false);
        Ok(())
    }

    /// Records what was dropped since the last `audit_dropped` record, if anything was and
    /// (unless `now`) a second has passed since that record.
    fn flush_dropped(&mut self, now: bool) {
        if self.dropped == 0 && self.over_rate == 0 {
            return;
        }
        let Some(auditor) = &self.auditor else {
            return;
        };
        let at = Instant::now();
        if !now
            && self
                .last_dropped_record
                .is_some_and(|t| at.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        let total = self.dropped.saturating_add(self.over_rate);
        tracing::warn!(
            source = %self.source,
            dropped = self.dropped,
            over_rate = self.over_rate,
            "feed: audit records of a client were dropped (its queue was full, or it sent more than its rate)"
        );
        let mut record = AuditRecord::dropped(total, &self.source);
        if let serde_json::Value::Object(detail) = &mut record.detail {
            if self.over_rate > 0 {
                detail.insert("over_rate".into(), self.over_rate.into());
            }
            if self.claimed > 0 {
                detail.insert("claimed".into(), self.claimed.into());
            }
        }
        auditor.record(record);
        self.dropped = 0;
        self.over_rate = 0;
        self.claimed = 0;
        self.last_dropped_record = Some(at);
    }
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
