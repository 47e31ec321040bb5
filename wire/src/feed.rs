//! The replica feed's protocol: the messages the daemon and its in-process replicas (the C
//! plugin) exchange over a Unix socket, and a blocking codec for them over `std::io`.
//!
//! Each frame is a 4-byte big-endian payload length, then that many bytes of JSON: one
//! [`Message`], tagged by its `type` field. JSON because the directory model leaves empty
//! fields out (`skip_serializing_if`), which only a self-describing format reads back.
//!
//! A session, version 2 (1 had no splices):
//!
//! ```text
//! client → Hello{version, name, pid}
//! server → Welcome{version, revision}                  (or Error{message}, then close)
//! server → Snapshot{revision, tenants: N}, N × Tenant{revision, tenant}, SnapshotEnd{revision}
//! server → Put{revision, tenant} | Splice{revision, splice} | Delete{revision, tenant: id}
//!          | Heartbeat{revision}   …
//! client → Audit{records, dropped}                     (denials the client decided, batched)
//! ```
//!
//! Changes come in revision order. A heartbeat (about once a second) says the daemon's table
//! is at `revision` and that every change up to it has been sent. A client that falls too far
//! behind is disconnected and must connect again for a new snapshot.

use std::io::{self, Read, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use serde_json::value::RawValue;

use callgate::edit::Splice;
use callgate::model::Tenant;

/// The protocol version this build speaks.
pub const VERSION: u32 = 2;

/// The largest payload either side accepts (256 MiB): one tenant of a very large platform,
/// with room to spare. A bigger length prefix is a broken or hostile peer.
pub const MAX_FRAME: usize = 256 << 20;

/// The largest payload a client may send (1 MiB). A client only sends a hello and `audit`
/// frames of at most [`MAX_AUDIT_RECORDS`] records (each at most a few hundred bytes of text),
/// so the server holds it to far less than [`MAX_FRAME`].
pub const MAX_CLIENT_FRAME: usize = 1 << 20;

/// The most records one `audit` frame may carry; a client sends larger batches as several
/// frames.
pub const MAX_AUDIT_RECORDS: usize = 512;

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Client → server, first: who is asking, and which protocol it speaks.
    Hello {
        /// The client's protocol version.
        version: u32,
        /// What the client calls itself (a program name), for the daemon's logs.
        name: String,
        /// The client's process id, for the daemon's logs.
        pid: u32,
    },
    /// Server → client, after a compatible hello.
    Welcome {
        /// The server's protocol version.
        version: u32,
        /// The revision the snapshot that follows is at.
        revision: u64,
        /// The platform's emergency numbers, which the replica honours for every tenant.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        emergency: Vec<String>,
    },
    /// Server → client: a snapshot of `tenants` tenants follows, one [`Message::Tenant`] each.
    Snapshot {
        /// The revision the whole snapshot is at (each tenant is at it or earlier).
        revision: u64,
        /// How many tenant frames follow.
        tenants: u64,
    },
    /// Server → client: one tenant of a snapshot.
    Tenant {
        /// The revision this tenant was last changed at.
        revision: u64,
        /// The tenant, whole.
        tenant: SharedTenant,
        /// Changes to apply to `tenant`, in order, to have it as it is at `revision`.
        #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
        splices: Arc<[Arc<Splice>]>,
    },
    /// Server → client: the snapshot is complete; swap it in.
    SnapshotEnd {
        /// The snapshot's revision.
        revision: u64,
    },
    /// Server → client: a tenant was added or changed; here it is, whole.
    Put {
        /// The revision of the change.
        revision: u64,
        /// The tenant, whole.
        tenant: SharedTenant,
        /// Changes to apply to `tenant`, in order, to have it as it is at `revision`.
        #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
        splices: Arc<[Arc<Splice>]>,
    },
    /// Server → client: a tenant changed by this much (entities added, replaced, removed):
    /// apply it to the tenant as last sent ([`callgate::table::CompiledTenant::spliced`]). Sent
    /// only for a change that patches a compiled tenant, so a one-user change costs the same
    /// few hundred bytes whatever the tenant's size.
    Splice {
        /// The revision of the change.
        revision: u64,
        /// The change (its `put.id` is the tenant's id).
        splice: Arc<Splice>,
    },
    /// Server → client: a tenant was removed.
    Delete {
        /// The revision of the change.
        revision: u64,
        /// The tenant's id.
        tenant: String,
    },
    /// Server → client: nothing changed; the table is at `revision`.
    Heartbeat {
        /// Every change up to this revision has been sent.
        revision: u64,
    },
    /// Either way: the sender refuses to go on (the connection closes after it).
    Error {
        /// Why, for people.
        message: String,
    },
    /// Client → server: decisions made in-process, for the daemon's audit trail.
    Audit {
        /// The decisions, oldest first.
        records: Vec<AuditEntry>,
        /// Decisions the client could not queue (its queue was full) since its last
        /// `audit` message: counted, so that the trail says what it is missing.
        #[serde(default)]
        dropped: u64,
    },
}

impl Message {
    /// The message's `type`, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::Snapshot { .. } => "snapshot",
            Message::Tenant { .. } => "tenant",
            Message::SnapshotEnd { .. } => "snapshot_end",
            Message::Put { .. } => "put",
            Message::Splice { .. } => "splice",
            Message::Delete { .. } => "delete",
            Message::Heartbeat { .. } => "heartbeat",
            Message::Error { .. } => "error",
            Message::Audit { .. } => "audit",
        }
    }
}

/// One decision a client made in-process, as it reports it for the daemon's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The tenant asked about.
    pub tenant: String,
    /// The decision kind: `caller_id`, `agent_pause`, `recording`, `feature_code` or
    /// `permission`.
    pub action: String,
    /// Who asked: the user or actor.
    pub principal: String,
    /// `allow`, `substitute` or `deny`.
    pub decision: String,
    /// The reason code (`number_not_permitted`, …).
    pub reason: String,
    /// The replica's revision when it decided.
    pub revision: u64,
    /// The other inputs of the check, by name (`dialed`, `requested`, `queue`, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

impl AuditEntry {
    /// Whether it is a decision of this protocol: a known kind, and `allow`, `substitute` or
    /// `deny`.
    pub fn is_decision(&self) -> bool {
        self.action.parse::<callgate::DecisionKind>().is_ok()
            && matches!(self.decision.as_str(), "allow" | "substitute" | "deny")
    }
}

/// A tenant as a feed message carries it: written from the model, or from the JSON a
/// compiled tenant keeps (as is, without encoding it again); always read back as a model.
#[derive(Debug, Clone)]
pub enum SharedTenant {
    /// The model.
    Model(Arc<Tenant>),
    /// The model's JSON.
    Json(Arc<RawValue>),
}

impl SharedTenant {
    /// The model with `splices` applied in order (a snapshot's tenant as it is at its
    /// revision).
    pub fn into_model_with(
        self,
        splices: &[Arc<Splice>],
    ) -> Result<Arc<Tenant>, serde_json::Error> {
        let mut tenant = self.into_model()?;
        if !splices.is_empty() {
            let t = Arc::make_mut(&mut tenant);
            for s in splices {
                s.apply_to(t);
            }
        }
        Ok(tenant)
    }

    /// The model (parsed, if this holds JSON).
    pub fn into_model(self) -> Result<Arc<Tenant>, serde_json::Error> {
        match self {
            SharedTenant::Model(t) => Ok(t),
            SharedTenant::Json(j) => serde_json::from_str(j.get()).map(Arc::new),
        }
    }
}

impl From<Tenant> for SharedTenant {
    fn from(t: Tenant) -> SharedTenant {
        SharedTenant::Model(Arc::new(t))
    }
}

impl Serialize for SharedTenant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SharedTenant::Model(t) => t.serialize(s),
            SharedTenant::Json(j) => j.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SharedTenant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SharedTenant, D::Error> {
        Tenant::deserialize(d).map(|t| SharedTenant::Model(Arc::new(t)))
    }
}

/// Equal when they hold the same tenant, whatever the form.
impl PartialEq for SharedTenant {
    fn eq(&self, other: &SharedTenant) -> bool {
        match (self, other) {
            (SharedTenant::Model(a), SharedTenant::Model(b)) => a == b,
            (a, b) => {
                let value = |t: &SharedTenant| serde_json::to_value(t).ok();
                value(a).is_some_and(|a| Some(a) == value(b))
            }
        }
    }
}

impl Eq for SharedTenant {}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The connection failed (or closed: [`io::ErrorKind::UnexpectedEof`]).
    #[error("feed connection: {0}")]
    Io(#[from] io::Error),
    /// A length prefix above [`MAX_FRAME`].
    #[error("frame of {0} bytes is larger than the {MAX_FRAME}-byte limit")]
    TooLarge(u64),
    /// The payload is not a message of this protocol.
    #[error("malformed message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// A message could not be encoded (never happens with the model's types).
    #[error("cannot encode a `{0}` message")]
    Encode(&'static str),
}

/// The payload length a frame header announces, if acceptable.
pub fn frame_len(header: [u8; 4]) -> Result<usize, FeedError> {
    let len = u32::from_be_bytes(header);
    let len = usize::try_from(len).map_err(|_| FeedError::TooLarge(u64::from(len)))?;
    if len > MAX_FRAME {
        return Err(FeedError::TooLarge(len as u64));
    }
    Ok(len)
}

/// A whole frame (header and payload) for `message`.
pub fn encode(message: &Message) -> Result<Vec<u8>, FeedError> {
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, message).map_err(|_| FeedError::Encode(message.kind()))?;
    let len = frame.len() - 4;
    if len > MAX_FRAME {
        return Err(FeedError::TooLarge(len as u64));
    }
    let header = u32::try_from(len)
        .map_err(|_| FeedError::TooLarge(len as u64))?
        .to_be_bytes();
    if let Some(h) = frame.get_mut(..4) {
        h.copy_from_slice(&header);
    }
    Ok(frame)
}

/// A message from a frame's payload.
pub fn decode(payload: &[u8]) -> Result<Message, FeedError> {
    serde_json::from_slice(payload).map_err(FeedError::Malformed)
}

/// Writes one frame.
pub fn write_message(w: &mut impl Write, message: &Message) -> Result<(), FeedError> {
    w.write_all(&encode(message)?)?;
    Ok(())
}

/// Reads one frame, using `buf` for the payload (kept between calls to save allocations).
pub fn read_message(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<Message, FeedError> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header)?;
    let len = frame_len(header)?;
    buf.clear();
    // Grow as bytes arrive rather than trusting the prefix with a large allocation up front.
    let got = r.by_ref().take(len as u64).read_to_end(buf)?;
    if got < len {
        return Err(FeedError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    decode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Arc<Tenant> {
        let t = callgate::directory::parse(
            "tenants:\n  - id: acme\n    default_caller_id: \"+15550100000\"\n    numbers: [{number: \"+15550100000\"}]\n    users: [{id: alice, role: tenant_admin}]\n",
        )
        .unwrap();
        Arc::new(t.into_iter().next().unwrap())
    }

    #[test]
    fn every_message_round_trips_through_a_frame() {
        let t = tenant();
        let messages = [
            Message::Hello {
                version: VERSION,
                name: "test".into(),
                pid: 7,
            },
            Message::Welcome {
                version: VERSION,
                revision: 3,
                emergency: vec!["911".into(), "112".into()],
            },
            Message::Snapshot {
                revision: 3,
                tenants: 1,
            },
            Message::Tenant {
                revision: 2,
                tenant: SharedTenant::Model(Arc::clone(&t)),
                splices: Arc::new([]),
            },
            Message::SnapshotEnd { revision: 3 },
            // As the daemon sends a change: the JSON its compiled tenant keeps, written as is.
            Message::Put {
                revision: 4,
                tenant: SharedTenant::Json(Arc::from(serde_json::value::to_raw_value(&t).unwrap())),
                splices: Arc::new([]),
            },
            Message::Splice {
                revision: 5,
                splice: Arc::new(Splice::between(&t, &Tenant::default())),
            },
            Message::Delete {
                revision: 5,
                tenant: "acme".into(),
            },
            Message::Heartbeat { revision: 5 },
            Message::Error {
                message: "no".into(),
            },
            Message::Audit {
                records: vec![AuditEntry {
                    at_ms: 1_700_000_000_000,
                    tenant: "acme".into(),
                    action: "caller_id".into(),
                    principal: "bob".into(),
                    decision: "deny".into(),
                    reason: "number_not_permitted".into(),
                    revision: 5,
                    inputs: serde_json::json!({"dialed": "5551234"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                }],
                dropped: 2,
            },
        ];
        let mut wire = Vec::new();
        for m in &messages {
            write_message(&mut wire, m).unwrap();
        }
        let mut r = wire.as_slice();
        let mut buf = Vec::new();
        for m in &messages {
            assert_eq!(&read_message(&mut r, &mut buf).unwrap(), m);
        }
        assert!(
            matches!(read_message(&mut r, &mut buf), Err(FeedError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof)
        );
    }

    #[test]
    fn the_wire_format_is_a_big_endian_length_and_tagged_json() {
        let frame = encode(&Message::Heartbeat { revision: 9 }).unwrap();
        let json = br#"{"type":"heartbeat","revision":9}"#;
        assert_eq!(&frame[..4], &(json.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..], json);
    }

    #[test]
    fn oversized_truncated_and_garbage_frames_are_errors() {
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, b'{'];
        assert!(matches!(
            read_message(&mut r, &mut Vec::new()),
            Err(FeedError::TooLarge(_))
        ));
        let mut r: &[u8] = &[0, 0, 0, 10, b'{'];
        assert!(matches!(
            read_message(&mut r, &mut Vec::new()),
            Err(FeedError::Io(_))
        ));
        let mut r: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c'];
        assert!(matches!(
            read_message(&mut r, &mut Vec::new()),
            Err(FeedError::Malformed(_))
        ));
        let unknown = br#"{"type":"launch","revision":1}"#;
        assert!(matches!(decode(unknown), Err(FeedError::Malformed(_))));
        assert!(frame_len((MAX_FRAME as u32).to_be_bytes()).is_ok());
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
    }
}
