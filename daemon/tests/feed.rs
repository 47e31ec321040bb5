//! The replica feed, over a real Unix socket: snapshot then changes in order, slow and stuck
//! clients dropped without stalling the others, garbage and oversized frames dropped, other
//! protocol versions refused, and `serve` binding the socket (over a stale one).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callgate::model::{Tenant, User};
use callgate_daemon::audit::Auditor;
use callgate_daemon::config::Config;
use callgate_daemon::feed::{Access, Settings, run_with};
use callgate_daemon::serve::Daemon;
use callgate_daemon::writer::Writer;
use callgate_wire::feed::{self, Message, VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A feed over the table `writer` writes, on a socket in `dir`; stops when the sender is
/// dropped or fired.
fn serve(
    dir: &Path,
    writer: Arc<Writer>,
    settings: Settings,
) -> (std::path::PathBuf, oneshot::Sender<()>) {
    serve_audited(dir, writer, settings, None)
}

/// [`serve`], with what clients audit going to `auditor`.
fn serve_audited(
    dir: &Path,
    writer: Arc<Writer>,
    settings: Settings,
    auditor: Option<Auditor>,
) -> (std::path::PathBuf, oneshot::Sender<()>) {
    let path = dir.join("feed.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        run_with(listener, writer, auditor, settings, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (path, stop)
}

async fn send(stream: &mut UnixStream, m: &Message) {
    stream.write_all(&feed::encode(m).unwrap()).await.unwrap();
}

async fn recv(stream: &mut UnixStream) -> Message {
    timeout(Duration::from_secs(10), async {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await.unwrap();
        let mut payload = vec![0u8; feed::frame_len(header).unwrap()];
        stream.read_exact(&mut payload).await.unwrap();
        feed::decode(&payload).unwrap()
    })
    .await
    .expect("a frame within 10 s")
}

/// The next message that is not a heartbeat.
async fn next_change(stream: &mut UnixStream) -> Message {
    loop {
        match recv(stream).await {
            Message::Heartbeat { .. } => continue,
            m => return m,
        }
    }
}

fn hello() -> Message {
    Message::Hello {
        version: VERSION,
        name: "test".into(),
        pid: std::process::id(),
    }
}

/// Connects, says hello, reads the whole snapshot; the snapshot's revision and tenant ids.
async fn join(path: &Path) -> (UnixStream, u64, Vec<String>) {
    let mut s = UnixStream::connect(path).await.unwrap();
    send(&mut s, &hello()).await;
    let Message::Welcome {
        version: VERSION,
        revision,
        ..
    } = recv(&mut s).await
    else {
        panic!("no welcome")
    };
    let Message::Snapshot {
        revision: r,
        tenants,
    } = recv(&mut s).await
    else {
        panic!("no snapshot")
    };
    assert_eq!(r, revision);
    let mut ids = Vec::new();
    for _ in 0..tenants {
        let Message::Tenant {
            tenant,
            revision: tr,
            ..
        } = recv(&mut s).await
        else {
            panic!("no tenant frame")
        };
        assert!(tr <= revision);
        ids.push(tenant.into_model().unwrap().id.clone());
    }
    assert_eq!(recv(&mut s).await, Message::SnapshotEnd { revision });
    ids.sort();
    (s, revision, ids)
}

/// Reads (and drops) until the daemon closes the connection; whether it did within `within`.
async fn closed_within(stream: &mut UnixStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 1 << 16];
    timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn acme(writer: &Writer) -> Tenant {
    serde_json::from_str(writer.published("acme").unwrap().source.json.get()).unwrap()
}

/// A tenant of `users` users, about 60 bytes of JSON each.
fn big_tenant(id: &str, users: usize) -> Tenant {
    Tenant {
        id: id.into(),
        users: (0..users)
            .map(|i| User {
                id: format!("user{i}"),
                role: "basic_user".into(),
                ..User::default()
            })
            .collect(),
        ..Tenant::default()
    }
}

fn quick() -> Settings {
    Settings {
        heartbeat: Duration::from_millis(100),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_a_snapshot_then_every_change_in_revision_order() {
    let dir = tempfile::tempdir().unwrap();
    let writer = daemon::demo_writer();
    let (path, _stop) = serve(dir.path(), Arc::clone(&writer), quick());
    let (mut s, revision, ids) = join(&path).await;
    assert_eq!(revision, 1);
    assert_eq!(ids, ["acme", "globex", "initech"]);

    // A revocation: bob loses his number grant.
    let mut changed = acme(&writer);
    changed
        .users
        .iter_mut()
        .find(|u| u.id == "bob")
        .unwrap()
        .grants
        .numbers
        .clear();
    writer.put(&changed, 2);
    let Message::Put {
        revision: 2,
        tenant,
        ..
    } = next_change(&mut s).await
    else {
        panic!("no put")
    };
    assert_eq!(*tenant.into_model().unwrap(), changed);
    writer.remove("globex", 3);
    assert_eq!(
        next_change(&mut s).await,
        Message::Delete {
            revision: 3,
            tenant: "globex".into()
        }
    );
    // Several changes in a burst still arrive, in revision order.
    writer.put(&big_tenant("new1", 1), 4);
    writer.put(&big_tenant("new2", 1), 5);
    writer.remove("new1", 6);
    // Until a heartbeat says everything up to revision 6 was sent.
    let mut seen = Vec::new();
    loop {
        match recv(&mut s).await {
            Message::Put {
                revision, tenant, ..
            } => seen.push((revision, format!("put {}", tenant.into_model().unwrap().id))),
            Message::Delete { revision, tenant } => {
                seen.push((revision, format!("delete {tenant}")))
            }
            Message::Heartbeat { revision } if revision >= 6 => break,
            Message::Heartbeat { .. } => {}
            m => panic!("unexpected {m:?}"),
        }
    }
    let revisions: Vec<u64> = seen.iter().map(|(r, _)| *r).collect();
    assert!(revisions.is_sorted(), "{seen:?}");
    assert!(seen.iter().any(|(_, what)| what == "put new2"), "{seen:?}");
    // new1 may have come and gone before the hub looked; if it was sent, so was its removal.
    let put1 = seen.iter().position(|(_, what)| what == "put new1");
    let delete1 = seen.iter().position(|(_, what)| what == "delete new1");
    assert!(put1.is_none() || delete1 > put1, "{seen:?}");
    // A client that joins now gets the current state as its snapshot.
    let (_s2, revision, ids) = join(&path).await;
    assert!(revision >= 5);
    assert_eq!(ids, ["acme", "initech", "new2"]);
}

/// The hub is woken by the table's changes, not by a timer: with the heartbeat (its only
/// timer) an hour away, every change still arrives, and an idle hub sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_clients_without_any_polling() {
    let dir = tempfile::tempdir().unwrap();
    let writer = daemon::demo_writer();
    let hourly = Settings {
        heartbeat: Duration::from_secs(3600),
        ..Settings::default()
    };
    let (path, stop) = serve(dir.path(), Arc::clone(&writer), hourly);
    let (mut s, _, _) = join(&path).await;
    for revision in 2..=20 {
        writer.put(&big_tenant(&format!("t{revision}"), 1), revision);
        let Message::Put { revision: got, .. } = recv(&mut s).await else {
            panic!("no put for revision {revision}")
        };
        assert_eq!(got, revision);
    }
    // Idle: nothing at all comes (a poll would not send either, but a timer-driven hub
    // that missed a wake-up would have shown above).
    let mut byte = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(300), s.read(&mut byte))
            .await
            .is_err(),
        "an idle feed sent something"
    );
    // Once the feed is gone, the table stops calling it: a change after the stop is fine.
    drop(stop);
    closed_within(&mut s, Duration::from_secs(10)).await;
    writer.put(&big_tenant("later", 1), 21);
    assert_eq!(writer.table().revision(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_client_is_dropped_without_stalling_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let writer = daemon::demo_writer();
    let settings = Settings {
        queue: 128,
        write_timeout: Duration::from_millis(500),
        ..quick()
    };
    let (path, _stop) = serve(dir.path(), Arc::clone(&writer), settings);
    let (mut stuck, _, _) = join(&path).await;
    let (mut good, _, _) = join(&path).await;

    // The good client reads everything as it comes; the stuck one reads nothing.
    let reader = tokio::spawn(async move {
        let mut last = 0;
        while last < 201 {
            if let Message::Put { revision, .. } = next_change(&mut good).await {
                assert!(
                    revision > last,
                    "changes out of order: {revision} after {last}"
                );
                last = revision;
            }
        }
        last
    });
    // 200 tenants of ~60 KB: far more than a socket buffer and a 128-frame queue hold (the
    // stuck client is dropped by whichever comes first: a full queue or a blocked write).
    let started = std::time::Instant::now();
    for i in 0..200u64 {
        writer.put(&big_tenant(&format!("bulk{i}"), 1000), i + 2);
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let last = timeout(Duration::from_secs(30), reader)
        .await
        .expect("the good client keeps up")
        .unwrap();
    assert_eq!(last, 201);
    eprintln!(
        "good client got 200 changes of ~60 KB in {:?} while the stuck one was dropped",
        started.elapsed()
    );
    assert!(
        closed_within(&mut stuck, Duration::from_secs(10)).await,
        "the stuck client was never dropped"
    );
    // And the daemon still serves new clients.
    let (_again, revision, ids) = join(&path).await;
    assert_eq!(revision, 201);
    assert_eq!(ids.len(), 203);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_frames_get_a_client_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let writer = daemon::demo_writer();
    let (path, _stop) = serve(dir.path(), Arc::clone(&writer), quick());
    let (mut watcher, _, _) = join(&path).await;

    // Garbage instead of a hello.
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"\0\0\0\x05hello").await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "garbage hello"
    );
    // A length prefix of 4 GiB - 1, before and after the hello.
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "oversized hello"
    );
    let (mut s, _, _) = join(&path).await;
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "oversized frame after the snapshot"
    );
    // A well-formed message a client may not send.
    let (mut s, _, _) = join(&path).await;
    send(&mut s, &Message::Heartbeat { revision: 1 }).await;
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "a client heartbeat"
    );
    // An audit record that is not a decision of the protocol.
    let (mut s, _, _) = join(&path).await;
    let mut bad = denial("bob");
    bad.decision = "launch".into();
    send(
        &mut s,
        &Message::Audit {
            records: vec![bad],
            dropped: 0,
        },
    )
    .await;
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "a malformed audit record"
    );

    // The well-behaved client never noticed.
    writer.put(&big_tenant("after", 1), 2);
    let Message::Put { revision: 2, .. } = next_change(&mut watcher).await else {
        panic!("no put")
    };
}

/// A caller-ID denial as a plugin reports it, made a minute ago.
fn denial(principal: &str) -> feed::AuditEntry {
    feed::AuditEntry {
        at_ms: callgate_daemon::audit::now_ms() - 60_000,
        tenant: "acme".into(),
        action: "caller_id".into(),
        principal: principal.into(),
        decision: "deny".into(),
        reason: "number_not_permitted".into(),
        revision: 1,
        inputs: serde_json::json!({"requested": "+15550100000", "dialed": "5551234"})
            .as_object()
            .cloned()
            .unwrap(),
    }
}

/// Issue 6: "Denials made in-process by the plugin reach the daemon's audit trail too (over
/// the feed connection, batched)."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_denials_go_into_the_audit_trail_marked_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (auditor, mut queue) = Auditor::new(100, 0);
    let (path, _stop) = serve_audited(dir.path(), daemon::demo_writer(), quick(), Some(auditor));
    let (mut s, _, _) = join(&path).await;
    send(
        &mut s,
        &Message::Audit {
            records: vec![denial("bob"), denial("carol")],
            dropped: 3,
        },
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let r = timeout(Duration::from_secs(5), queue.recv())
            .await
            .expect("audit records within 5 s")
            .unwrap()
            .into_record();
        got.push(r);
    }
    let name = match hello() {
        Message::Hello { name, .. } => name,
        _ => unreachable!(),
    };
    for (r, who) in got.iter().zip(["bob", "carol"]) {
        assert_eq!(
            (r.kind.as_str(), r.action.as_str(), r.principal.as_str()),
            ("decision", "caller_id", who)
        );
        assert_eq!(
            (r.decision.as_str(), r.reason.as_str()),
            ("deny", "number_not_permitted")
        );
        assert_eq!((r.tenant.as_str(), r.revision), ("acme", 1));
        let age = callgate_daemon::audit::now_ms() - r.at_ms;
        assert!(
            (60_000..120_000).contains(&age),
            "as the client dated it: {age} ms ago"
        );
        assert!(r.detail.get("claimed_at_ms").is_none());
        assert_eq!(r.source, format!("plugin:{name}"));
        assert_eq!(r.detail["requested"], "+15550100000");
    }
    // What the client could not queue is counted in the trail, under its name.
    let counted = &got[2];
    assert_eq!(
        (counted.kind.as_str(), counted.detail["dropped"].as_u64()),
        ("audit_dropped", Some(3))
    );
    assert_eq!(counted.source, format!("plugin:{name}"));
    // And the client is still fed.
    assert!(!closed_within(&mut s, Duration::from_millis(200)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_another_protocol_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _stop) = serve(dir.path(), daemon::demo_writer(), quick());
    let mut s = UnixStream::connect(&path).await.unwrap();
    send(
        &mut s,
        &Message::Hello {
            version: 99,
            name: "future".into(),
            pid: 1,
        },
    )
    .await;
    let Message::Error { message } = recv(&mut s).await else {
        panic!("no error")
    };
    assert!(message.contains("version `99`"), "{message}");
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    // Anything but a hello first is refused the same way.
    let mut s = UnixStream::connect(&path).await.unwrap();
    send(&mut s, &Message::Heartbeat { revision: 1 }).await;
    let Message::Error { message } = recv(&mut s).await else {
        panic!("no error")
    };
    assert!(message.contains("hello"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binds_the_feed_over_a_stale_socket_and_removes_it_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callgate.sock");
    // A socket file left behind by a daemon that died.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        feed: Some(path.clone()),
        ..Config::default()
    };
    let d = Daemon::bind(&config, daemon::demo_state(&["127.0.0.1"]))
        .await
        .unwrap();
    let (_s, revision, ids) = join(&path).await;
    assert_eq!((revision, ids.len()), (1, 3));
    // A second daemon on the same live socket is refused rather than stealing it.
    let second = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        ..config.clone()
    };
    let err = Daemon::bind(&second, daemon::demo_state(&["127.0.0.1"]))
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("another process"), "{err:#}");
    // Nor does it replace something that is not a socket.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "data").unwrap();
    let third = Config {
        feed: Some(file.clone()),
        ..second
    };
    assert!(
        Daemon::bind(&third, daemon::demo_state(&["127.0.0.1"]))
            .await
            .is_err()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
    d.shutdown().await;
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

/// This process's effective uid and gid.
fn own_ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let id = |key: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    (id("Uid:"), id("Gid:"))
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Issue: the feed socket was created with the process umask (0777 under umask 0). It gets
/// the configured mode (default 0660) and group, whatever the umask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_file_gets_its_configured_mode_and_group() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, gid) = own_ids();
    // The default: 0660.
    let path = dir.path().join("default.sock");
    let config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        feed: Some(path.clone()),
        ..Config::default()
    };
    let d = Daemon::bind(&config, daemon::demo_state(&["127.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(mode_of(&path), 0o660);
    let (_s, revision, _) = join(&path).await;
    assert_eq!(revision, 1, "the daemon's own uid is served");
    d.shutdown().await;
    // A mode and group of the config's.
    let config = Config {
        feed_mode: "0600".into(),
        feed_group: Some(gid.to_string()),
        ..config
    };
    let d = Daemon::bind(&config, daemon::demo_state(&["127.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(std::fs::metadata(&path).unwrap().gid(), gid);
    d.shutdown().await;
    // Settings that make no sense stop the daemon from starting.
    for (mode, group) in [
        ("rw-rw----", None),
        ("1777", None),
        ("0660", Some("no-such-group")),
    ] {
        let bad = Config {
            feed_mode: mode.into(),
            feed_group: group.map(Into::into),
            ..config.clone()
        };
        let err = Daemon::bind(&bad, daemon::demo_state(&["127.0.0.1"]))
            .await
            .err()
            .expect("refused");
        let text = format!("{err:#}");
        assert!(text.contains(group.unwrap_or(mode)), "{text}");
    }
}

#[test]
fn access_comes_from_the_config_and_decides_by_peer_credentials() {
    let (uid, gid) = own_ids();
    let base = Config::default();
    let access = Access::from_config(&base).unwrap();
    assert_eq!(access.mode, 0o660);
    assert_eq!(
        (access.uids.clone(), access.gids.clone()),
        (vec![uid], vec![gid])
    );
    // Root always; the daemon's uid or gid by default; anyone else not.
    assert!(access.allows(0, 4242));
    assert!(access.allows(uid, 4242));
    assert!(access.allows(4242, gid));
    assert!(!access.allows(4242, 4243) || uid == 4242 || gid == 4243);
    // `feed_group`'s members (by primary gid) may connect unless the gids are configured.
    let grouped = Access::from_config(&Config {
        feed_group: Some("root".into()),
        feed_mode: "0o640".into(),
        ..Config::default()
    })
    .unwrap();
    assert_eq!((grouped.mode, grouped.group), (0o640, Some(0)));
    assert!(grouped.gids.contains(&0));
    let listed = Access::from_config(&Config {
        feed_allow_uids: Some(vec![1001]),
        feed_allow_gids: Some(vec![2002]),
        ..Config::default()
    })
    .unwrap();
    assert!(listed.allows(1001, 7) && listed.allows(7, 2002) && listed.allows(0, 7));
    assert!(!listed.allows(7, 7));
    assert_eq!(
        listed.allows(uid, gid),
        uid == 0 || uid == 1001 || gid == 2002,
        "a configured list replaces the default"
    );
}

/// What an intruder process (running as `nobody`) got from the feed before it was closed.
const INTRUDER: &str = r#"
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
hello = json.dumps({"type": "hello", "version": 1, "name": "intruder", "pid": 0}).encode()
got, how, deadline = 0, "open", time.monotonic() + 5
try:
    s.sendall(struct.pack(">I", len(hello)) + hello)
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        data = s.recv(65536)
        if not data:
            how = "closed"
            break
        got += len(data)
except socket.timeout:
    pass
except OSError:
    how = "reset"
print(how, got)
"#;

/// Issue: any local process received every tenant's directory. A process whose uid and gid
/// are not allowed is closed before it is sent anything, while allowed clients keep being
/// fed. As root the intruder is a real process of another uid (`nobody`); otherwise the
/// allowed ids are set to exclude this process's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_may_not_use_the_feed_gets_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (uid, gid) = own_ids();
    let path = dir.path().join("feed.sock");
    let writer = daemon::demo_writer();
    // Wide open on the file system: the peer check alone keeps the intruder out.
    let access = Access {
        mode: 0o666,
        group: None,
        uids: if uid == 0 { vec![uid] } else { vec![uid + 1] },
        gids: if uid == 0 { vec![gid] } else { vec![gid + 1] },
    };
    let listener = callgate_daemon::feed::bind(&path, &access).unwrap();
    assert_eq!(mode_of(&path), 0o666);
    let (stop, stopped) = oneshot::channel::<()>();
    let t = Arc::clone(&writer);
    tokio::spawn(async move {
        run_with(listener, t, None, quick(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });

    if uid != 0 {
        let mut s = UnixStream::connect(&path).await.unwrap();
        let _ = s.write_all(&feed::encode(&hello()).unwrap()).await;
        let mut got = Vec::new();
        let read = timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "closed, not left hanging");
        assert!(got.is_empty(), "a refused peer got {} bytes", got.len());
        return;
    }

    let (mut good, _, ids) = join(&path).await;
    assert_eq!(ids.len(), 3);
    let intruders: Vec<_> = (0..5)
        .map(|_| {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::os::unix::process::CommandExt;
                std::process::Command::new("/usr/bin/python3")
                    .args(["-c", INTRUDER])
                    .arg(&path)
                    .uid(65534)
                    .gid(65534)
                    .current_dir("/")
                    .output()
                    .expect("python3 (apt-get install python3)")
            })
        })
        .collect();
    // Meanwhile the allowed client is fed as usual.
    writer.put(&big_tenant("during", 1), 2);
    let Message::Put { revision: 2, .. } = next_change(&mut good).await else {
        panic!("no put")
    };
    for intruder in intruders {
        let out = timeout(Duration::from_secs(30), intruder)
            .await
            .expect("the intruder gives up within 5 s")
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            said == "closed 0" || said == "reset 0",
            "the intruder: {said:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (_again, revision, _) = join(&path).await;
    assert_eq!(revision, 2);
    drop(stop);
}

/// Issue: a client could inject audit records dated in 2100 (past retention) and fake
/// `audit_dropped` counts. Its records land dated within the last day (what it claimed is
/// kept beside), its `dropped` claims are bounded, records beyond its rate are counted
/// rather than queued, and a frame of too many records or too many bytes gets it closed,
/// while the other clients are fed throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_client_reports_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (auditor, mut queue) = Auditor::new(1000, 0);
    let settings = Settings {
        max_audit_rate: 50,
        ..quick()
    };
    let writer = daemon::demo_writer();
    let (path, _stop) = serve_audited(dir.path(), Arc::clone(&writer), settings, Some(auditor));
    let (mut watcher, _, _) = join(&path).await;
    let (mut s, _, _) = join(&path).await;
    let now = || callgate_daemon::audit::now_ms();
    let (mut future, mut ancient) = (denial("bob"), denial("carol"));
    future.at_ms = 4_102_444_800_000; // 2100-01-01
    ancient.at_ms = 0;
    let before = now();
    send(
        &mut s,
        &Message::Audit {
            records: vec![future, ancient],
            dropped: u64::MAX,
        },
    )
    .await;
    let mut next = async || {
        timeout(Duration::from_secs(5), queue.recv())
            .await
            .expect("a record within 5 s")
            .unwrap()
            .into_record()
    };
    let bob = next().await;
    let after = now();
    assert_eq!(bob.principal, "bob");
    assert!(
        (before..=after).contains(&bob.at_ms),
        "2100 became now: {}",
        bob.at_ms
    );
    // (The trail keeps a decision's details as text.)
    assert_eq!(bob.detail["claimed_at_ms"], "4102444800000");
    let carol = next().await;
    let day = 86_400_000;
    assert!(
        (before - day..=after - day).contains(&carol.at_ms),
        "{}",
        carol.at_ms
    );
    assert_eq!(carol.detail["claimed_at_ms"], "0");
    let counted = next().await;
    assert_eq!(counted.kind, "audit_dropped");
    assert_eq!(counted.detail["dropped"].as_u64(), Some(100_000_000));
    assert_eq!(counted.detail["claimed"].as_u64(), Some(u64::MAX));

    // 200 records at once against a rate of 50 a second: about 50 go in (48 left of the
    // second's worth, plus what trickled in meanwhile), the rest are counted (in one
    // `audit_dropped` record a second at most: this one when the client goes).
    send(
        &mut s,
        &Message::Audit {
            records: (0..200).map(|i| denial(&format!("u{i}"))).collect(),
            dropped: 0,
        },
    )
    .await;
    drop(s);
    let mut recorded = 0u64;
    let over_rate = loop {
        let r = next().await;
        if r.kind == "audit_dropped" {
            break r.detail["over_rate"].as_u64().unwrap();
        }
        recorded += 1;
    };
    assert_eq!(recorded + over_rate, 200);
    assert!(
        recorded < 200 && over_rate >= 100,
        "{recorded} recorded, {over_rate} over"
    );

    // More records in one frame than any client sends: closed.
    let (mut s, _, _) = join(&path).await;
    send(
        &mut s,
        &Message::Audit {
            records: (0..513).map(|i| denial(&format!("v{i}"))).collect(),
            dropped: 0,
        },
    )
    .await;
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "513 records"
    );
    // A frame over the client limit (1 MiB), well under the server's 256 MiB: closed
    // after its header, without the daemon reading the rest.
    let (mut s, _, _) = join(&path).await;
    let len = u32::try_from(feed::MAX_CLIENT_FRAME + 1).unwrap();
    s.write_all(&len.to_be_bytes()).await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "a 1 MiB + 1 frame"
    );
    assert!(
        queue.try_recv().is_err(),
        "nothing of the refused frames was recorded"
    );

    // The watcher was fed throughout.
    writer.put(&big_tenant("after", 1), 2);
    let Message::Put { revision: 2, .. } = next_change(&mut watcher).await else {
        panic!("no put")
    };
}

/// A tenant of `users` users, each with an extension, and a queue whose agents are the first
/// fifty of them.
fn enterprise_tenant(id: &str, users: usize) -> Tenant {
    let mut t = big_tenant(id, users);
    for (i, u) in t.users.iter_mut().enumerate() {
        u.extensions = vec![format!("{}", 10_000 + i)];
    }
    t.queues = vec![callgate::model::Queue {
        id: "sales".into(),
        agents: t.users.iter().take(50).map(|u| u.id.clone()).collect(),
        ..Default::default()
    }];
    t
}

/// "Per-entity feed deltas: replicas receive `put user` / `delete user` (etc.) frames, not
/// the whole tenant; a replica that falls behind or starts fresh still gets a snapshot", and
/// "Feed bytes for a one-user change: < 4 KB whatever the tenant's size": one-user changes
/// written through the store of a daemon whose table feeds a client reach it as splices of a
/// few hundred bytes, in a tenant of 20,000 users; a client that joins afterwards gets the
/// tenant with those splices, and builds from them exactly the tenant the store holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_changes_reach_clients_as_splices_of_a_few_hundred_bytes() {
    use callgate::edit::{Edit, Entity, Kind};
    use callgate_daemon::store::{self, Store};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    store
        .import(&[enterprise_tenant("big", 20_000)], "cli")
        .await
        .unwrap();
    let writer = Arc::new(Writer::new());
    store::load_into(&store, &writer).await.unwrap();
    let (stop_follow, stopped) = oneshot::channel::<()>();
    let follower = tokio::spawn(store::follow(store.clone(), Arc::clone(&writer), async {
        let _ = stopped.await;
    }));
    let (path, _stop) = serve(dir.path(), Arc::clone(&writer), quick());
    let (mut early, _, ids) = join(&path).await;
    assert_eq!(ids, ["big"]);

    let mut suspended = store.export(Some("big")).await.unwrap()[0].users[8].clone();
    suspended.status = Some("suspended".into());
    let edits = [
        Edit::Delete(Kind::User, "user7".into()),
        Edit::Put(Entity::User(suspended)),
        // An agent of the queue: the queue's membership changes too.
        Edit::Delete(Kind::User, "user3".into()),
    ];
    for edit in edits {
        let revision = store
            .edit("big", "ops", edit.clone())
            .await
            .unwrap()
            .unwrap();
        let change = next_change(&mut early).await;
        let bytes = feed::encode(&change).unwrap().len();
        let Message::Splice {
            revision: r,
            splice,
        } = change
        else {
            panic!("{edit:?} was sent as {change:?}, not as a splice")
        };
        assert_eq!(r, revision);
        assert!(bytes < 4096, "{edit:?}: {bytes} bytes");
        eprintln!(
            "{:?} {}: a {bytes}-byte splice frame",
            edit.kind(),
            edit.key()
        );
        let named: Vec<&str> = splice
            .put
            .users
            .iter()
            .map(|u| u.id.as_str())
            .chain(splice.removed.users.iter().map(String::as_str))
            .collect();
        assert_eq!(named, [edit.key()], "{splice:?}");
    }

    // A client joining now: the tenant as last encoded, and the splices since.
    let mut late = UnixStream::connect(&path).await.unwrap();
    send(&mut late, &hello()).await;
    let Message::Welcome { .. } = recv(&mut late).await else {
        panic!("no welcome")
    };
    let Message::Snapshot { tenants: 1, .. } = recv(&mut late).await else {
        panic!("no snapshot")
    };
    let Message::Tenant {
        tenant, splices, ..
    } = recv(&mut late).await
    else {
        panic!("no tenant frame")
    };
    assert_eq!(splices.len(), 3);
    let built = tenant.into_model_with(&splices).unwrap();
    assert_eq!(*built, store.export(Some("big")).await.unwrap()[0]);

    let _ = stop_follow.send(());
    follower.await.unwrap();
}

/// "Every input is bounded": the table's writer never waits for the feed, and a hub that falls
/// behind holds at most `max_pending_changes` compiled tenants; past that the writer lets it go,
/// and the hub compares the writer's fresh start with what it sent. Its clients still end with
/// every change, each at its own revision, in revision order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_falls_behind_catches_up_whole_without_a_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let writer = daemon::demo_writer();
    let settings = Settings {
        max_pending_changes: 1,
        ..quick()
    };
    let (path, _stop) = serve(dir.path(), Arc::clone(&writer), settings);
    let (mut s, _, _) = join(&path).await;
    // 300 puts from a thread of their own, faster than one slot lets the hub take them.
    let puts = {
        let writer = Arc::clone(&writer);
        std::thread::spawn(move || {
            for r in 2..=301u64 {
                writer.put(&big_tenant(&format!("t{r}"), 1), r);
            }
        })
    };
    puts.join().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let mut revisions = Vec::new();
    loop {
        match recv(&mut s).await {
            Message::Put {
                revision, tenant, ..
            } => {
                revisions.push(revision);
                seen.insert(tenant.into_model().unwrap().id.clone(), revision);
            }
            Message::Heartbeat { revision } if revision >= 301 => break,
            Message::Heartbeat { .. } => {}
            m => panic!("unexpected {m:?}"),
        }
    }
    assert!(revisions.is_sorted(), "{revisions:?}");
    assert_eq!(seen.len(), 300, "{seen:?}");
    for r in 2..=301u64 {
        assert_eq!(seen.get(&format!("t{r}")), Some(&r));
    }
}
