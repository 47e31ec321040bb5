//! The replica through the C ABI, driven from Rust: how fast a revocation reaches it (many
//! times over, median and worst printed), deletes and resyncs that drop tenants, and a
//! client opened before the daemon exists.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use callgate_ffi::{
    CALLGATE_CALLER_ID_MAX, callgate_caller_id, callgate_check_caller_id, callgate_client,
    callgate_client_free, callgate_client_new, callgate_client_options, callgate_client_revision,
    callgate_client_staleness_ms, callgate_outcome, callgate_reason, callgate_result,
};

struct Client(*mut callgate_client);

impl Client {
    fn open(socket: &std::path::Path, wait_ms: u32) -> Result<Client, callgate_result> {
        let path = CString::new(socket.to_str().unwrap()).unwrap();
        let options = callgate_client_options {
            snapshot_wait_ms: wait_ms,
            max_backoff_ms: 100,
            name: c"replica-test".as_ptr(),
        };
        let mut client = std::ptr::null_mut();
        match unsafe { callgate_client_new(path.as_ptr(), &options, &mut client) } {
            callgate_result::Ok => Ok(Client(client)),
            e => Err(e),
        }
    }

    /// Bob's caller-ID answer for `+15550100000`, and the number it gives.
    fn caller_id(
        &self,
        tenant: &CStr,
        user: &CStr,
        requested: &CStr,
    ) -> (callgate_caller_id, String) {
        let mut d = callgate_caller_id::default();
        let mut buf = [0 as std::ffi::c_char; CALLGATE_CALLER_ID_MAX];
        let mut n = 0;
        let r = unsafe {
            callgate_check_caller_id(
                self.0,
                tenant.as_ptr(),
                user.as_ptr(),
                requested.as_ptr(),
                c"5551234".as_ptr(),
                &mut d,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            )
        };
        assert_eq!(r, callgate_result::Ok);
        (
            d,
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .unwrap()
                .to_string(),
        )
    }

    fn bob(&self) -> u32 {
        self.caller_id(c"acme", c"bob", c"+15550100000").0.outcome
    }

    fn revision(&self) -> u64 {
        let mut r = 0;
        assert_eq!(
            unsafe { callgate_client_revision(self.0, &mut r) },
            callgate_result::Ok
        );
        r
    }

    fn staleness_ms(&self) -> u64 {
        let mut ms = 0;
        assert_eq!(
            unsafe { callgate_client_staleness_ms(self.0, &mut ms) },
            callgate_result::Ok
        );
        ms
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&Client) -> bool) -> Duration {
        let t = Instant::now();
        while !cond(self) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{what} never happened"
            );
            std::thread::yield_now();
        }
        t.elapsed()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe { callgate_client_free(self.0) };
    }
}

const ALLOW: u32 = callgate_outcome::Allow as u32;
const SUBSTITUTE: u32 = callgate_outcome::Substitute as u32;

#[test]
fn a_revocation_reaches_the_replica_within_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let rt = daemon::runtime();
    let writer = daemon::demo_writer();
    let d = rt.block_on(daemon::start(&socket, writer.clone()));
    let client = Client::open(&socket, 10_000).unwrap();
    assert_eq!(client.bob(), ALLOW);

    // Take bob's grant away and give it back, 40 times; time each change from the daemon's
    // table to the replica's answer.
    let (without, with) = (daemon::acme_without_bobs_number(), daemon::acme());
    let mut delays = Vec::new();
    for i in 0..40u64 {
        let (tenant, expect) = if i % 2 == 0 {
            (&without, SUBSTITUTE)
        } else {
            (&with, ALLOW)
        };
        let t = Instant::now();
        writer.put(tenant, i + 2);
        client.wait_for("the change", |c| c.bob() == expect);
        delays.push(t.elapsed());
        // The table's revision moves just after the tenant is swapped in.
        client.wait_for("the revision", |c| c.revision() == i + 2);
        std::thread::sleep(Duration::from_millis(5));
    }
    delays.sort();
    eprintln!(
        "revocation delay, daemon table → replica answer, 40 changes: median {:.2?}, p90 {:.2?}, max {:.2?}",
        delays[delays.len() / 2],
        delays[delays.len() * 9 / 10],
        delays[delays.len() - 1]
    );
    drop(client);
    rt.block_on(d.shutdown());
}

#[test]
fn deletes_and_resyncs_drop_tenants_the_daemon_no_longer_has() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let rt = daemon::runtime();
    let writer = daemon::demo_writer();
    // Opened before the daemon exists: it keeps trying, and emergency calls go out meanwhile.
    let client = Client::open(&socket, 0).unwrap();
    assert_eq!(client.staleness_ms(), u64::MAX);
    let (emergency, number) = client.caller_id(c"acme", c"alice", c"+15550100101");
    assert_eq!(
        emergency.outcome,
        callgate_outcome::Deny as u32,
        "not an emergency number: unknown tenant"
    );
    assert_eq!(number, "");
    let mut d = callgate_caller_id::default();
    let mut buf = [0 as std::ffi::c_char; CALLGATE_CALLER_ID_MAX];
    let mut n = 0;
    let r = unsafe {
        callgate_check_caller_id(
            client.0,
            c"acme".as_ptr(),
            c"alice".as_ptr(),
            std::ptr::null(),
            c"911".as_ptr(),
            &mut d,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        )
    };
    assert_eq!(
        (r, d.outcome, d.reason),
        (
            callgate_result::Ok,
            ALLOW,
            callgate_reason::EmergencyNoCallerId as u32
        )
    );

    let d1 = rt.block_on(daemon::start(&socket, writer.clone()));
    client.wait_for("the first snapshot", |c| c.bob() == ALLOW);
    let globex = |c: &Client| c.caller_id(c"globex", c"oscar", c"+442070000000").0.reason;
    assert_eq!(globex(&client), callgate_reason::NumberPermitted as u32);

    // A delete.
    writer.remove("globex", 2);
    client.wait_for("the delete", |c| {
        globex(c) == callgate_reason::UnknownTenant as u32
    });

    // The daemon goes; a new one has no initech, and acme at a later revision.
    rt.block_on(d1.shutdown());
    let initech = |c: &Client| c.caller_id(c"initech", c"peter", c"+13125550001").0.reason;
    assert_eq!(
        initech(&client),
        callgate_reason::NumberPermitted as u32,
        "still answers while the daemon is down"
    );
    let writer2 = std::sync::Arc::new(callgate_daemon::writer::Writer::new());
    writer2.put(&daemon::acme_without_bobs_number(), 5);
    let d2 = rt.block_on(daemon::start(&socket, writer2));
    let took = client.wait_for("the resync", |c| {
        initech(c) == callgate_reason::UnknownTenant as u32 && c.bob() == SUBSTITUTE
    });
    assert_eq!(client.revision(), 5);
    eprintln!("resynced with a new daemon {took:.2?} after it started");
    assert!(client.staleness_ms() < 2_000);
    drop(client);
    rt.block_on(d2.shutdown());
}

/// "A platform-wide emergency list in the daemon config (a sensible international default)
/// applies to every tenant, known or not" — in a replica too: the daemon sends its list in the
/// feed's welcome. Here the platform adds `5551234`; an unknown tenant's call to it is denied
/// before the replica hears from the daemon, and allowed (asserting no number) after.
#[test]
fn the_daemons_platform_emergency_numbers_reach_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let rt = daemon::runtime();
    let writer = daemon::demo_writer();
    writer
        .table()
        .set_platform_emergency(["112", "911", "5551234"])
        .unwrap();
    let client = Client::open(&socket, 0).unwrap();
    let nowhere = |c: &Client| c.caller_id(c"nowhere", c"x", c"+15550100000").0;
    assert_eq!(nowhere(&client).outcome, callgate_outcome::Deny as u32);
    let _daemon = rt.block_on(daemon::start(&socket, writer));
    client.wait_for("the daemon's emergency list", |c| {
        nowhere(c).outcome == ALLOW
    });
    assert_eq!(
        nowhere(&client).reason,
        callgate_reason::EmergencyNoCallerId as u32
    );
}

#[test]
fn waiting_for_a_snapshot_that_never_comes_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A socket that accepts but never answers: connected, no snapshot.
    let socket = dir.path().join("mute.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_eq!(
        Client::open(&socket, 300).err(),
        Some(callgate_result::Timeout)
    );
    assert_eq!(
        Client::open(&dir.path().join("none.sock"), 300).err(),
        Some(callgate_result::ConnectFailed)
    );
}

/// Issue 6: "Denials made in-process by the plugin reach the daemon's audit trail too (over
/// the feed connection, batched)." A daemon on a real SQLite store; a denial decided in this
/// process, through the C ABI, while the daemon is up, and one while it is down: both end up
/// in the store's trail, marked with the client's name, inputs and all.
#[test]
fn in_process_denials_reach_the_daemons_audit_trail_even_across_a_restart() {
    use callgate_daemon::config::Config;
    use callgate_daemon::serve::Daemon;
    use callgate_daemon::store::{AuditQuery, AuditRow, Store};

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let config = Config {
        db: format!("sqlite://{}", dir.path().join("callgate.db").display()),
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        feed: Some(socket.clone()),
        demo: true,
        ..Config::default()
    };
    let rt = daemon::runtime();
    let d = rt.block_on(Daemon::start(&config)).unwrap();
    let client = Client::open(&socket, 10_000).unwrap();
    let trail = || -> Vec<AuditRow> {
        rt.block_on(async {
            let store = Store::open(&config.db).await.unwrap();
            let query = AuditQuery {
                tenant: "initech".into(),
                kind: Some("decision".into()),
                limit: 1000,
                ..AuditQuery::default()
            };
            store.query_audit(&query).await.unwrap()
        })
    };
    let wait_for_rows = |n: usize| -> Vec<AuditRow> {
        let t = Instant::now();
        loop {
            let rows = trail();
            if rows.len() >= n || t.elapsed() > Duration::from_secs(10) {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Milton has no number grant: a denial. Samir's own number: an allow, not recorded.
    let (milton, _) = client.caller_id(c"initech", c"milton", c"+13125550000");
    assert_eq!(milton.outcome, callgate_outcome::Deny as u32);
    let (samir, _) = client.caller_id(c"initech", c"samir", c"+13125550002");
    assert_eq!(samir.outcome, ALLOW);
    let rows = wait_for_rows(1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0].record;
    assert_eq!(r.source, "plugin:replica-test");
    assert_eq!(
        (r.action.as_str(), r.principal.as_str(), r.decision.as_str()),
        ("caller_id", "milton", "deny")
    );
    assert_eq!(r.reason, callgate_reason_code_of(milton.reason));
    assert_eq!(r.revision, milton.revision as i64);
    assert_eq!(r.detail["requested"], "+13125550000");
    assert_eq!(r.detail["dialed"], "5551234");

    // The daemon goes away; the replica keeps deciding, and keeps its denials until the
    // daemon is back.
    rt.block_on(d.shutdown());
    let (again, _) = client.caller_id(c"initech", c"milton", c"+13125550000");
    assert_eq!(again.outcome, callgate_outcome::Deny as u32);
    std::thread::sleep(Duration::from_millis(300));
    let d = rt.block_on(Daemon::start(&config)).unwrap();
    let rows = wait_for_rows(2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.record.source == "plugin:replica-test")
    );
    drop(client);
    rt.block_on(d.shutdown());
}

/// The code of a reason value, through the C ABI.
fn callgate_reason_code_of(reason: u32) -> String {
    let code = callgate_ffi::callgate_reason_code(reason);
    unsafe { CStr::from_ptr(code) }
        .to_str()
        .unwrap()
        .to_string()
}
