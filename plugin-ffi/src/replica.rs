//! The replica: a local grant table that a background thread keeps in step with the daemon's
//! feed. Checks read only the local table; the thread alone touches the network.
//!
//! The thread connects to the feed socket, says hello, reads the snapshot (compiling each
//! tenant as it arrives, swapping them in at its end), then applies puts and deletes as they
//! come. On any failure (daemon gone, protocol error, no frame for [`READ_TIMEOUT`]) it closes
//! the connection, waits (exponential backoff from [`MIN_BACKOFF`] up to the configured cap)
//! and starts again with a fresh snapshot. Until the first snapshot the table is empty, and
//! the engine still allows emergency calls for tenants it doesn't know.
//!
//! A second thread sends the denials checks queue ([`crate::audit`]) to the daemon, as
//! `audit` frames on the same connection, once the connection has said hello.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use callgate::{CompiledTenant, Table};
use callgate_wire::feed::{self, FeedError, Message, VERSION};

use crate::audit::{self, AuditQueue};

/// The first wait before reconnecting; it doubles on each failure up to the cap.
pub const MIN_BACKOFF: Duration = Duration::from_millis(25);
/// The default cap on the reconnect wait.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A connection that delivers no frame for this long (the daemon sends a heartbeat every
/// second) is given up on and made again.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How a replica is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The daemon's feed socket.
    pub socket: PathBuf,
    /// What the replica calls itself in its hello (the daemon logs it).
    pub name: String,
    /// How long [`Replica::start`] waits for the first snapshot; zero returns at once.
    pub snapshot_wait: Duration,
    /// The cap on the reconnect backoff.
    pub max_backoff: Duration,
}

/// Why [`Replica::start`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// It waited for a snapshot and never connected.
    #[error("could not connect to the feed socket")]
    ConnectFailed,
    /// It connected but no snapshot arrived within the wait.
    #[error("no snapshot arrived within the wait")]
    Timeout,
    /// The background thread could not be started.
    #[error("could not start the replica thread")]
    Thread,
}

/// What the checking threads and the feed thread share.
struct Shared {
    table: Table,
    audit: AuditQueue,
    /// The audit batch being sent (held while it is written), kept if the sending fails.
    outbox: Mutex<Outbox>,
    options: Options,
    epoch: Instant,
    /// Microseconds after `epoch` of the last frame from the daemon, plus one; 0 = never.
    last_frame: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
}

/// Audit records taken from the queue and not yet sent.
#[derive(Default)]
struct Outbox {
    records: Vec<feed::AuditEntry>,
    dropped: u64,
}

/// The feed thread's state, as others need to see it.
#[derive(Default)]
struct State {
    stop: bool,
    connected_ever: bool,
    snapshots: u64,
    /// The open connection, so that stopping can shut it and wake a blocked read.
    stream: Option<UnixStream>,
    /// The open connection once it has said hello: where audit frames go.
    audit_to: Option<Arc<UnixStream>>,
    last_error: Option<String>,
}

/// A local replica of the daemon's grant table, kept in step by a background thread.
/// Dropping it stops the thread (and waits for it).
pub struct Replica {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Replica {
    /// Starts the feed thread; waits up to `options.snapshot_wait` for the first snapshot.
    pub fn start(options: Options) -> Result<Replica, StartError> {
        let wait = options.snapshot_wait;
        let shared = Arc::new(Shared {
            table: Table::new(),
            audit: AuditQueue::default(),
            outbox: Mutex::new(Outbox::default()),
            options,
            epoch: Instant::now(),
            last_frame: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let mut replica = Replica {
            shared,
            threads: Vec::with_capacity(2),
        };
        // On failure, dropping `replica` stops and joins what did start.
        for (name, body) in [
            ("callgate-feed", follow as fn(&Shared)),
            ("callgate-audit", send_audit),
        ] {
            let shared = Arc::clone(&replica.shared);
            let thread = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(&shared))
                .map_err(|_| StartError::Thread)?;
            replica.threads.push(thread);
        }
        if wait.is_zero() {
            return Ok(replica);
        }
        let deadline = Instant::now() + wait;
        let mut state = replica.shared.lock();
        while state.snapshots == 0 {
            let now = Instant::now();
            if now >= deadline {
                let err = if state.connected_ever {
                    StartError::Timeout
                } else {
                    StartError::ConnectFailed
                };
                drop(state);
                return Err(err);
            }
            state = replica
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        Ok(replica)
    }

    /// Where checks queue their denials for the daemon's audit trail.
    #[inline]
    pub fn audit(&self) -> &AuditQueue {
        &self.shared.audit
    }

    /// The local grant table (what every check reads).
    #[inline]
    pub fn table(&self) -> &Table {
        &self.shared.table
    }

    /// The revision the local table is at (0 before any snapshot).
    pub fn revision(&self) -> u64 {
        self.shared.table.revision()
    }

    /// How long since the last frame from the daemon; `None` if none ever came.
    pub fn staleness(&self) -> Option<Duration> {
        let at = self
            .shared
            .last_frame
            .load(Ordering::Acquire)
            .checked_sub(1)?;
        Some(
            self.shared
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_micros(at)),
        )
    }

    /// How many snapshots have been applied (1 after the first sync, +1 per resync).
    pub fn snapshots(&self) -> u64 {
        self.shared.lock().snapshots
    }

    /// Why the last connection ended or failed, if one did.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // The last denials go before the connection does.
        flush_audit(&self.shared);
        {
            let mut state = self.shared.lock();
            state.stop = true;
            if let Some(stream) = state.stream.take() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.lock().stop
    }

    fn touch(&self) {
        let micros = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.last_frame
            .store(micros.saturating_add(1), Ordering::Release);
    }

    /// Sleeps for `d` unless told to stop first; whether to stop.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut state = self.lock();
        while !state.stop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The feed thread: sessions, with backoff between them, until stopped.
fn follow(shared: &Shared) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if shared.stopped() {
            return;
        }
        let result = session(shared, &mut backoff);
        {
            let mut state = shared.lock();
            state.stream = None;
            state.audit_to = None;
            if let Err(e) = result {
                state.last_error = Some(e.to_string());
            }
            if state.stop {
                return;
            }
        }
        if shared.sleep(backoff) {
            return;
        }
        backoff = (backoff * 2).min(shared.options.max_backoff.max(MIN_BACKOFF));
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect to `{0}`: {1}")]
    Connect(String, std::io::Error),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("the daemon refused: {0}")]
    Refused(String),
    #[error("unexpected `{0}` message from the daemon")]
    Unexpected(&'static str),
    #[error("a change to tenant `{0}` that does not apply to the tenant as this replica holds it")]
    Unspliced(String),
    #[error("stopped")]
    Stopped,
}

/// One connection: hello, snapshot, then changes until something fails.
fn session(shared: &Shared, backoff: &mut Duration) -> Result<(), SessionError> {
    let path = &shared.options.socket;
    let stream = UnixStream::connect(path)
        .map_err(|e| SessionError::Connect(path.display().to_string(), e))?;
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(FeedError::Io)?;
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .map_err(FeedError::Io)?;
    {
        let mut state = shared.lock();
        if state.stop {
            return Err(SessionError::Stopped);
        }
        state.stream = Some(stream.try_clone().map_err(FeedError::Io)?);
        state.connected_ever = true;
    }
    shared.changed.notify_all();

    let mut w = BufWriter::new(&stream);
    let hello = Message::Hello {
        version: VERSION,
        name: shared.options.name.clone(),
        pid: std::process::id(),
    };
    feed::write_message(&mut w, &hello)?;
    w.flush().map_err(FeedError::Io)?;
    drop(w);
    {
        let audit_to = stream.try_clone().map_err(FeedError::Io)?;
        shared.lock().audit_to = Some(Arc::new(audit_to));
    }

    let mut r = BufReader::with_capacity(1 << 16, &stream);
    let mut buf = Vec::new();
    let mut next = |buf: &mut Vec<u8>| -> Result<Message, SessionError> {
        let m = feed::read_message(&mut r, buf)?;
        shared.touch();
        match m {
            Message::Error { message } => Err(SessionError::Refused(message)),
            m => Ok(m),
        }
    };

    match next(&mut buf)? {
        Message::Welcome {
            version: VERSION,
            emergency,
            ..
        } => {
            // The daemon's platform emergency list, in place of the built-in default (the
            // daemon checked it at start; were it unreadable, the list in force stays).
            if !emergency.is_empty() {
                let _ = shared
                    .table
                    .set_platform_emergency(emergency.iter().map(String::as_str));
            }
        }
        other => return Err(SessionError::Unexpected(other.kind())),
    }
    let count = match next(&mut buf)? {
        Message::Snapshot { tenants, .. } => tenants,
        other => return Err(SessionError::Unexpected(other.kind())),
    };
    let mut compiled = Vec::with_capacity(usize::try_from(count.min(1 << 16)).unwrap_or(0));
    for _ in 0..count {
        match next(&mut buf)? {
            Message::Tenant {
                revision,
                tenant,
                splices,
            } => {
                let tenant = tenant
                    .into_model_with(&splices)
                    .map_err(FeedError::Malformed)?;
                compiled.push(CompiledTenant::compile(&tenant, revision))
            }
            other => return Err(SessionError::Unexpected(other.kind())),
        }
        if shared.stopped() {
            return Err(SessionError::Stopped);
        }
    }
    let revision = match next(&mut buf)? {
        Message::SnapshotEnd { revision } => revision,
        other => return Err(SessionError::Unexpected(other.kind())),
    };
    apply_snapshot(&shared.table, compiled, revision);
    *backoff = MIN_BACKOFF;
    {
        let mut state = shared.lock();
        state.snapshots += 1;
    }
    shared.changed.notify_all();

    loop {
        match next(&mut buf)? {
            Message::Put {
                revision,
                tenant,
                splices,
            } => {
                let tenant = tenant
                    .into_model_with(&splices)
                    .map_err(FeedError::Malformed)?;
                shared
                    .table
                    .put_compiled(CompiledTenant::compile(&tenant, revision))
            }
            // Patched in place of the tenant it was made to; one this replica cannot patch
            // (it never should) ends the session, and the next one starts with a snapshot.
            Message::Splice { revision, splice } => {
                let id = splice.put.id.as_str();
                let patched = shared
                    .table
                    .tenant(id)
                    .and_then(|t| t.spliced(&splice, revision))
                    .ok_or_else(|| SessionError::Unspliced(id.to_string()))?;
                shared.table.put_compiled(patched);
            }
            Message::Delete { revision, tenant } => shared.table.remove(&tenant, revision),
            Message::Heartbeat { revision } => shared.table.advance(revision),
            other => return Err(SessionError::Unexpected(other.kind())),
        }
    }
}

/// The audit thread: every [`audit::FLUSH_EVERY`], sends what the checks queued to the
/// daemon, while a connection is open (the queue holds [`audit::QUEUE`] records, so a burst
/// of up to that many denials per period is kept whole). Records wait in the queue while no
/// connection is open; beyond what it holds they are counted, and the count is sent.
fn send_audit(shared: &Shared) {
    while !shared.sleep(audit::FLUSH_EVERY) {
        flush_audit(shared);
    }
}

/// Sends every queued record on the open connection, if there is one. A batch that fails to
/// send is kept and sent first on the next connection.
fn flush_audit(shared: &Shared) {
    // One sender at a time, so frames never interleave on the socket.
    let mut outbox = shared.outbox.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(to) = shared.lock().audit_to.clone() else {
        return;
    };
    loop {
        if outbox.records.is_empty() {
            if shared.audit.is_empty() && outbox.dropped == 0 {
                return;
            }
            let (records, dropped) = shared.audit.take(audit::BATCH);
            outbox.records = records;
            outbox.dropped += dropped;
        }
        let frame = Message::Audit {
            records: std::mem::take(&mut outbox.records),
            dropped: outbox.dropped,
        };
        let mut w = BufWriter::new(&*to);
        let done =
            feed::write_message(&mut w, &frame).and_then(|()| w.flush().map_err(FeedError::Io));
        if done.is_err() {
            // The connection is going; the feed thread will notice and reconnect.
            if let Message::Audit { records, .. } = frame {
                outbox.records = records;
            }
            return;
        }
        outbox.dropped = 0;
    }
}

/// Swaps a snapshot in: every tenant of it put in place (each swap atomic for its tenant),
/// then the tenants it doesn't have removed.
fn apply_snapshot(table: &Table, compiled: Vec<CompiledTenant>, revision: u64) {
    let keep: HashSet<Box<str>> = compiled.iter().map(|t| Box::from(t.id.as_str())).collect();
    for t in compiled {
        table.put_compiled(t);
    }
    for id in table.tenant_ids() {
        if !keep.contains(id.as_str()) {
            table.remove(&id, revision);
        }
    }
    table.advance(revision);
}
