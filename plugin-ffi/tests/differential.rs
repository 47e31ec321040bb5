//! Four doors, one answer: for generated directories (every built-in role, custom roles of
//! every scope, sites or none, queues, grants, numbers, feature tables, suspended users, ids
//! colliding across tenants; `tests/model/generate.rs`) and generated questions of all five
//! kinds (`tests/model/ask.rs`), the engine (`Table::check_*`), the daemon's HTTP API, its
//! SIP door (an INVITE over UDP) and the C library (a replica fed over the daemon's feed
//! socket, asked through the `extern "C"` functions as a C host asks) give the same
//! decision, reason and caller ID, and for feature codes the same feature and arguments.
//!
//! One daemon serves every case: between cases its table's contents are replaced (as the
//! daemon does when it loads a snapshot), and the replica is waited for until it has reached
//! the daemon's revision. Where a door cannot carry a question (a NUL through C, a caller
//! with no name through SIP, a dial string with no faithful Request-URI) it is not asked;
//! where a door documents refusing one (HTTP: a control character, more than 256 bytes) the
//! refusal is expected. Anything else a door says differently is a disagreement.
//!
//! `DIFFERENTIAL_CASES=N` (or `PROPTEST_CASES`) sets the number of directories (default 200,
//! 64 questions each); `scripts/differential.sh N` runs a long one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

// The shared model files name the engine `callgate`, which in this package is the C
// library's crate name: the engine takes the name here, and the C library is `ffi`.
extern crate callgate_ffi as ffi;

#[path = "../../tests/model/reference.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod reference;

#[path = "../../tests/model/ask.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod ask;

#[path = "../../tests/model/generate.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod generate;

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ask::Ask;
use callgate::{Table, Tenant};
use callgate_daemon::config::{Config, Peers};
use callgate_daemon::serve::Daemon;
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

/// Questions asked per directory.
const ASKS: usize = 64;
/// Disagreeing questions shown of one directory (the count of the others follows).
const SHOWN: usize = 8;

/// How many directories a run generates: `DIFFERENTIAL_CASES`, else `PROPTEST_CASES`, else 200.
fn cases() -> u32 {
    ["DIFFERENTIAL_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|n| n.parse().ok()))
        .unwrap_or(200)
}

// ------------------------------------------------------------------------ answers

/// What a door said, projected so the four can be compared. `feature` and `args` are `None`
/// where the door does not carry them (SIP's 403 names no feature).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    decision: String,
    reason: String,
    caller_id: Option<String>,
    feature: Option<Option<String>>,
    args: Option<Vec<String>>,
}

/// A door's reply to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    /// An answer.
    Answer(Seen),
    /// The door cannot carry this question (why).
    NotAsked(&'static str),
    /// The door refused the question or failed (what it said).
    Refused(String),
}

fn seen(a: &reference::Answer) -> Seen {
    Seen {
        decision: a.decision.to_string(),
        reason: a.reason.to_string(),
        caller_id: a.caller_id.clone(),
        feature: Some(a.feature.map(str::to_string)),
        args: Some(a.args.clone()),
    }
}

/// Where `door` differs from the engine's `want` (empty if nowhere).
fn differences(ask: &Ask, want: &Seen, door: &Said) -> Vec<String> {
    let got = match door {
        Said::NotAsked(_) => return Vec::new(),
        Said::Refused(why) => return vec![format!("refused: {why}")],
        Said::Answer(got) => got,
    };
    let mut out = Vec::new();
    if got.decision != want.decision || got.reason != want.reason {
        out.push(format!(
            "decision {}/{} (engine {}/{})",
            got.decision, got.reason, want.decision, want.reason
        ));
    }
    if matches!(ask, Ask::CallerId { .. }) && got.caller_id != want.caller_id {
        out.push(format!(
            "caller ID {:?} (engine {:?})",
            got.caller_id, want.caller_id
        ));
    }
    if matches!(ask, Ask::Feature { .. }) {
        if let Some(f) = &got.feature
            && Some(f) != want.feature.as_ref()
        {
            out.push(format!("feature {f:?} (engine {:?})", want.feature));
        }
        if let Some(a) = &got.args
            && Some(a) != want.args.as_ref()
        {
            out.push(format!("args {a:?} (engine {:?})", want.args));
        }
    }
    out
}

// ------------------------------------------------------------------------ the daemon

/// A daemon on ephemeral loopback ports with its feed at `feed`, over the table `writer`
/// writes.
async fn start(feed: &std::path::Path, writer: Arc<Writer>) -> Daemon {
    let config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        feed: Some(feed.to_path_buf()),
        ..Config::default()
    };
    let state = State::new(
        writer,
        None,
        Peers::parse(&["127.0.0.1"]).unwrap(),
        Duration::from_millis(200),
    );
    state.set_ready();
    Daemon::bind(&config, state)
        .await
        .expect("the daemon binds")
}

/// A tenant no question names, put last after every directory change: once the replica has
/// it at its revision, every change before it has been applied.
fn sentinel() -> Tenant {
    Tenant {
        id: "zz-sentinel".into(),
        ..Tenant::default()
    }
}

// ------------------------------------------------------------------------ door: HTTP

/// One keep-alive HTTP/1.1 connection to the daemon.
struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http { addr, conn: None }
    }

    /// POSTs `body` to `path`: the status and the JSON body. Reconnects once if the daemon
    /// closed the idle connection.
    fn post(&mut self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: callgate\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut last = String::new();
        for _ in 0..2 {
            if self.conn.is_none() {
                let s = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                self.conn = Some(BufReader::new(s));
            }
            let conn = self.conn.as_mut().unwrap();
            match Http::exchange(conn, request.as_bytes()) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    last = e;
                    self.conn = None;
                }
            }
        }
        Err(last)
    }

    fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> Result<(u16, Value), String> {
        conn.get_mut()
            .write_all(request)
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| e.to_string())?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status line: {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().map_err(|_| "bad content-length")?;
            }
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body).map_err(|e| e.to_string())?;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, json))
    }
}

/// Whether the HTTP door documents refusing `text`: "Refuses a check input that is too long
/// or holds a control character (CR, LF, NUL, …)" (`daemon/src/http.rs`).
fn http_refuses(text: &str) -> bool {
    text.len() > callgate_daemon::http::MAX_INPUT || text.chars().any(char::is_control)
}

/// Every string of a question (the tenant's too).
fn strings<'a>(tenant: &'a str, ask: &'a Ask) -> Vec<&'a str> {
    let mut out = vec![tenant];
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => {
            out.extend([user.as_str(), dialed.as_str()]);
            out.extend(requested.as_deref());
        }
        Ask::Pause {
            actor,
            agent,
            queue,
            ..
        } => out.extend([actor.as_str(), agent.as_str(), queue.as_str()]),
        Ask::Recording {
            actor,
            queue,
            exts,
            numbers,
            site,
            ..
        } => {
            out.push(actor);
            out.extend(queue.as_deref());
            out.extend(exts.iter().map(String::as_str));
            out.extend(numbers.iter().map(String::as_str));
            out.extend(site.as_deref());
        }
        Ask::Feature { user, dialed } => out.extend([user.as_str(), dialed.as_str()]),
        Ask::Permission { user, resource, .. } => {
            out.push(user);
            out.extend(resource.iter().filter_map(|r| r.as_deref()));
        }
    }
    out
}

fn recording_action(a: callgate::RecordingAction) -> &'static str {
    match a {
        callgate::RecordingAction::List => "list",
        callgate::RecordingAction::Play => "play",
        callgate::RecordingAction::Download => "download",
        callgate::RecordingAction::Delete => "delete",
    }
}

/// The HTTP door's answer.
fn http_door(http: &mut Http, tenant: &str, ask: &Ask) -> Said {
    let (path, body) = match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => (
            "caller-id",
            json!({"tenant": tenant, "user": user, "requested": requested, "dialed": dialed}),
        ),
        Ask::Pause {
            actor,
            agent,
            queue,
            paused,
        } => (
            "agent-pause",
            json!({"tenant": tenant, "actor": actor, "agent": agent, "queue": queue,
                   "paused": paused}),
        ),
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => (
            "recording",
            json!({"tenant": tenant, "actor": actor, "action": recording_action(*action),
                   "recording": {"queue": queue, "extensions": exts, "numbers": numbers,
                                 "site": site}}),
        ),
        Ask::Feature { user, dialed } => (
            "feature-code",
            json!({"tenant": tenant, "user": user, "dialed": dialed}),
        ),
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => (
            "permission",
            json!({"tenant": tenant, "user": user, "category": category.as_str(),
                   "action": action.as_str(),
                   "resource": {"site": site, "queue": queue, "extension": extension,
                                "number": number}}),
        ),
    };
    match http.post(&format!("/v1/check/{path}"), &body) {
        Err(e) => Said::Refused(format!("no HTTP answer: {e}")),
        Ok((200, v)) => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            Said::Answer(Seen {
                decision: text("decision").unwrap_or_default(),
                reason: text("reason").unwrap_or_default(),
                caller_id: text("caller_id"),
                feature: Some(text("feature")),
                args: v.get("args").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap_or("<not a string>").to_string())
                        .collect()
                }),
            })
        }
        Ok((status, v)) => Said::Refused(format!("HTTP {status}: {v}")),
    }
}

// ------------------------------------------------------------------------ door: C ABI

/// A libcallgate client, opened and asked through the `extern "C"` functions.
struct Client(*mut ffi::callgate_client);

impl Client {
    fn open(socket: &std::path::Path) -> Client {
        let path = CString::new(socket.to_str().unwrap()).unwrap();
        let options = ffi::callgate_client_options {
            snapshot_wait_ms: 10_000,
            max_backoff_ms: 100,
            name: c"differential".as_ptr(),
        };
        let mut client = std::ptr::null_mut();
        let r = unsafe { ffi::callgate_client_new(path.as_ptr(), &options, &mut client) };
        assert_eq!(r, ffi::callgate_result::Ok, "the replica attaches");
        Client(client)
    }

    fn revision(&self) -> u64 {
        let mut r = 0;
        let res = unsafe { ffi::callgate_client_revision(self.0, &mut r) };
        assert_eq!(res, ffi::callgate_result::Ok);
        r
    }

    /// Waits until the replica has reached `revision`.
    fn wait_for(&self, revision: u64) {
        let t = Instant::now();
        while self.revision() < revision {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the replica never reached revision {revision} (it is at {})",
                self.revision()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe { ffi::callgate_client_free(self.0) };
    }
}

fn static_text(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn verdict_seen(r: ffi::callgate_result, v: &ffi::callgate_verdict) -> Said {
    if r != ffi::callgate_result::Ok {
        return Said::Refused(format!(
            "C result {}",
            static_text(ffi::callgate_result_text(r as u32))
        ));
    }
    Said::Answer(Seen {
        decision: static_text(ffi::callgate_outcome_text(v.outcome)),
        reason: static_text(ffi::callgate_reason_code(v.reason)),
        caller_id: None,
        feature: None,
        args: None,
    })
}

/// The C library's answer (a string holding a NUL cannot be passed: not asked).
fn c_door(client: &Client, tenant: &str, ask: &Ask) -> Said {
    if strings(tenant, ask).iter().any(|s| s.contains('\0')) {
        return Said::NotAsked("a NUL in a C string");
    }
    let c = |s: &str| CString::new(s).unwrap();
    let opt = |s: &Option<String>| s.as_deref().map(c);
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let tenant = c(tenant);
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => {
            let (user, requested, dialed) = (c(user), opt(requested), c(dialed));
            let mut d = ffi::callgate_caller_id::default();
            let mut buf = [0 as c_char; ffi::CALLGATE_CALLER_ID_MAX];
            let mut n = 0;
            let r = unsafe {
                ffi::callgate_check_caller_id(
                    client.0,
                    tenant.as_ptr(),
                    user.as_ptr(),
                    ptr(&requested),
                    dialed.as_ptr(),
                    &mut d,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut n,
                )
            };
            if r != ffi::callgate_result::Ok {
                return Said::Refused(format!(
                    "C result {}",
                    static_text(ffi::callgate_result_text(r as u32))
                ));
            }
            let number = unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            Said::Answer(Seen {
                decision: static_text(ffi::callgate_outcome_text(d.outcome)),
                reason: static_text(ffi::callgate_reason_code(d.reason)),
                // "an empty string on `DENY` or on an emergency call with no number anywhere"
                caller_id: (!number.is_empty()).then_some(number),
                feature: None,
                args: None,
            })
        }
        Ask::Pause {
            actor,
            agent,
            queue,
            paused,
        } => {
            let (actor, agent, queue) = (c(actor), c(agent), c(queue));
            let mut v = ffi::callgate_verdict::default();
            let r = unsafe {
                ffi::callgate_check_agent_pause(
                    client.0,
                    tenant.as_ptr(),
                    actor.as_ptr(),
                    agent.as_ptr(),
                    queue.as_ptr(),
                    *paused,
                    &mut v,
                )
            };
            verdict_seen(r, &v)
        }
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => {
            let (actor, action, queue, site) = (
                c(actor),
                c(recording_action(*action)),
                opt(queue),
                opt(site),
            );
            let exts: Vec<CString> = exts.iter().map(|s| c(s)).collect();
            let numbers: Vec<CString> = numbers.iter().map(|s| c(s)).collect();
            let ext_ptrs: Vec<*const c_char> = exts.iter().map(|s| s.as_ptr()).collect();
            let num_ptrs: Vec<*const c_char> = numbers.iter().map(|s| s.as_ptr()).collect();
            let array = |v: &Vec<*const c_char>| {
                if v.is_empty() {
                    std::ptr::null()
                } else {
                    v.as_ptr()
                }
            };
            let mut v = ffi::callgate_verdict::default();
            let r = unsafe {
                ffi::callgate_check_recording(
                    client.0,
                    tenant.as_ptr(),
                    actor.as_ptr(),
                    action.as_ptr(),
                    ptr(&queue),
                    array(&ext_ptrs),
                    ext_ptrs.len(),
                    array(&num_ptrs),
                    num_ptrs.len(),
                    ptr(&site),
                    &mut v,
                )
            };
            verdict_seen(r, &v)
        }
        Ask::Feature { user, dialed } => {
            let (user, dialed) = (c(user), c(dialed));
            let mut a = ffi::callgate_feature_code::default();
            let mut buf = vec![0 as c_char; 4096];
            let mut n = 0;
            let r = unsafe {
                ffi::callgate_check_feature_code(
                    client.0,
                    tenant.as_ptr(),
                    user.as_ptr(),
                    dialed.as_ptr(),
                    &mut a,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut n,
                )
            };
            if r != ffi::callgate_result::Ok {
                return Said::Refused(format!(
                    "C result {}",
                    static_text(ffi::callgate_result_text(r as u32))
                ));
            }
            let bytes: Vec<u8> = buf[..n].iter().map(|&b| b as u8).collect();
            let args: Vec<String> = bytes
                .split(|&b| b == 0)
                .take(a.args_count as usize)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            let feature = static_text(ffi::callgate_feature_text(a.feature));
            Said::Answer(Seen {
                decision: static_text(ffi::callgate_outcome_text(a.outcome)),
                reason: static_text(ffi::callgate_reason_code(a.reason)),
                caller_id: None,
                feature: Some((feature != "none").then_some(feature)),
                args: Some(args),
            })
        }
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => {
            let (user, category, action) = (c(user), c(category.as_str()), c(action.as_str()));
            let (site, queue, extension, number) =
                (opt(site), opt(queue), opt(extension), opt(number));
            let mut v = ffi::callgate_verdict::default();
            let r = unsafe {
                ffi::callgate_check_permission(
                    client.0,
                    tenant.as_ptr(),
                    user.as_ptr(),
                    category.as_ptr(),
                    action.as_ptr(),
                    ptr(&site),
                    ptr(&queue),
                    ptr(&extension),
                    ptr(&number),
                    &mut v,
                )
            };
            verdict_seen(r, &v)
        }
    }
}

// ------------------------------------------------------------------------ door: SIP

/// `%XX` for every byte of `text` but ASCII letters, digits and those in `keep`.
fn escape(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Whether `text` starts with a URI scheme the engine reads whole.
fn is_uri(text: &str) -> bool {
    let lower = text.get(..5).unwrap_or(text).to_ascii_lowercase();
    ["sip:", "sips:", "tel:", "urn:"]
        .iter()
        .any(|s| lower.starts_with(s))
}

/// The Request-URI a softswitch sends for a call to `dialed`, if it has a faithful one:
/// a URI already (`sip:…`, `tel:…`, `urn:…`) is sent as it is if it is visible ASCII; bare
/// dial text becomes `sip:<text>@tenant`, every character a URI's user part may not hold
/// raw escaped, except `%` (the engine decodes escapes in bare dial text as in a URI) and
/// `;` `?` (they end what the engine reads in both, and RFC 3261 lets a user hold them).
/// Bare text has none if it holds control characters, `@` (never in a user part), a `%`
/// that starts no escape, nothing before its first `;` or `?` (a user part is never empty),
/// or whitespace or `<…>` around it (the engine trims those off bare text only).
fn request_uri(tenant: &str, dialed: &str) -> Option<String> {
    if dialed.chars().any(char::is_control) {
        return None;
    }
    if is_uri(dialed) {
        let visible = dialed
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b));
        return visible.then(|| dialed.to_string());
    }
    let bytes = dialed.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if dialed.contains('@')
        || bad_escape
        || dialed.starts_with([';', '?'])
        || dialed.is_empty()
        || dialed.trim() != dialed
        || dialed.starts_with('<')
    {
        return None;
    }
    Some(format!(
        "sip:{}@{tenant}",
        escape(dialed, b"-_.!~*'()+%;?=&$,/")
    ))
}

/// The SIP door: an INVITE over UDP, one Call-ID per question.
struct Sip {
    socket: UdpSocket,
    daemon: SocketAddr,
    sent: u64,
}

impl Sip {
    fn new(daemon: SocketAddr) -> Sip {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Sip {
            socket,
            daemon,
            sent: 0,
        }
    }

    /// Sends an INVITE to `uri` from `user` of `tenant`, asking for `requested`; the status
    /// and the answer's header lines.
    fn invite(
        &mut self,
        tenant: &str,
        caller: Caller<'_>,
        requested: Option<&str>,
        uri: &str,
    ) -> Result<(u16, Vec<(String, String)>), String> {
        let (from_user, user) = match caller {
            Caller::User(user) => ("100", Some(user)),
            Caller::Extension(ext) => (ext, None),
        };
        self.sent += 1;
        let n = self.sent;
        let port = self.socket.local_addr().unwrap().port();
        let call_id = format!("differential-{n}-{port}@callgate.test");
        let mut m = format!(
            "INVITE {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-d{n}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{from_user}@{tenant}>;tag=f{n}\r\n\
             To: <{uri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n"
        );
        if let Some(user) = user {
            let _ = write!(m, "X-Callgate-User: {user}\r\n");
        }
        if let Some(r) = requested {
            let plain = r.trim_matches([' ', '\t']) == r
                && r.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if plain && n % 2 == 1 {
                let _ = write!(m, "X-Callgate-Caller-Id: {r}\r\n");
            } else {
                let _ = write!(
                    m,
                    "P-Preferred-Identity: <sip:{}@{tenant}>\r\n",
                    escape(r, b"+-._")
                );
            }
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        self.socket
            .send_to(m.as_bytes(), self.daemon)
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        loop {
            let (len, _) = self
                .socket
                .recv_from(&mut buf)
                .map_err(|e| format!("no SIP answer: {e}"))?;
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            let mut lines = text.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("not a SIP response: {text:?}"))?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let ours = headers.iter().any(|(k, v)| k == "call-id" && *v == call_id);
            if ours {
                return Ok((status, headers));
            }
        }
    }
}

/// The header `name` of an answer.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads a SIP answer as the daemon documents it (`daemon/src/sip.rs`): "callgate answers
/// `302` (Contact = the Request-URI, `P-Asserted-Identity` = the caller ID to use) or `403`,
/// with `X-Callgate-Decision`"; a feature code's `302` carries `X-Callgate-Feature:
/// <feature>; args=<a,b>`.
fn sip_seen(status: u16, headers: &[(String, String)], feature: bool) -> Said {
    let Some(decision) = header(headers, "x-callgate-decision") else {
        return Said::Refused(format!("SIP {status} without X-Callgate-Decision"));
    };
    let mut parts = decision.split(';').map(str::trim);
    let outcome = parts.next().unwrap_or("").to_string();
    let reason = parts
        .find_map(|p| p.strip_prefix("reason="))
        .unwrap_or("")
        .to_string();
    let expected_status = if outcome == "deny" { 403 } else { 302 };
    if status != expected_status {
        return Said::Refused(format!("SIP {status} with X-Callgate-Decision: {decision}"));
    }
    let caller_id = header(headers, "p-asserted-identity").map(|v| {
        v.trim_start_matches("<sip:")
            .split('@')
            .next()
            .unwrap_or("")
            .to_string()
    });
    let (feature, args) = if !feature || status != 302 {
        (None, None)
    } else {
        match header(headers, "x-callgate-feature") {
            None => (Some(None), Some(Vec::new())),
            Some(v) => {
                let (name, args) = v.split_once("; args=").unwrap_or((v, ""));
                let args = if args.is_empty() {
                    Vec::new()
                } else {
                    args.split(',').map(str::to_string).collect()
                };
                (Some(Some(name.to_string())), Some(args))
            }
        }
    };
    Said::Answer(Seen {
        decision: outcome,
        reason,
        caller_id,
        feature,
        args,
    })
}

/// Whether the SIP door can name `user`: `X-Callgate-User` is trimmed, and when it is empty
/// the caller is the From user's extension's owner instead.
fn sip_user(user: &str) -> bool {
    !user.is_empty()
        && user.trim_matches([' ', '\t']) == user
        && !user
            .bytes()
            .any(callgate_daemon::sip::message::is_forbidden)
}

/// Who an INVITE says is calling.
#[derive(Debug, Clone, Copy)]
enum Caller<'a> {
    /// `X-Callgate-User`, "set by the proxy after it authenticated the caller".
    User(&'a str),
    /// No `X-Callgate-User`: "the owner of the From user's extension".
    Extension(&'a str),
}

/// The SIP door's answer (it asks only caller-ID and feature-code questions), the caller
/// named by `X-Callgate-User` (the question's user), or by the From user when `extension`
/// is given.
fn sip_door(sip: &mut Sip, tenant: &str, ask: &Ask, extension: Option<&str>) -> Said {
    let (user, requested, uri, feature) = match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => {
            let Some(uri) = request_uri(tenant, dialed) else {
                return Said::NotAsked("no faithful Request-URI");
            };
            let user_part = callgate_daemon::sip::message::dialed(&uri);
            if user_part.is_none_or(|d| d.starts_with('*')) {
                return Said::NotAsked("a Request-URI SIP reads as a feature code");
            }
            if requested.as_deref() == Some("") {
                return Said::NotAsked("an empty caller ID is no caller ID in SIP");
            }
            (user, requested.as_deref(), uri, false)
        }
        Ask::Feature { user, dialed } => {
            if !dialed.starts_with('*') {
                return Said::NotAsked("SIP reads only `*…` as a feature code");
            }
            let uri = format!("sip:{}@{tenant}", escape(dialed, b"*+-._"));
            if callgate_daemon::sip::message::dialed(&uri).as_deref() != Some(dialed) {
                return Said::NotAsked("no faithful Request-URI");
            }
            (user, None, uri, true)
        }
        _ => return Said::NotAsked("not a SIP question"),
    };
    let caller = match extension {
        Some(ext) => Caller::Extension(ext),
        None if sip_user(user) => Caller::User(user),
        None => return Said::NotAsked("a user X-Callgate-User cannot name"),
    };
    match sip.invite(tenant, caller, requested, &uri) {
        Ok((status, headers)) => sip_seen(status, &headers, feature),
        Err(e) => Said::Refused(e),
    }
}

/// The extension a SIP question also names its caller by (the From user, no
/// `X-Callgate-User`): one of the pool's, or `999` that no tenant has, picked by the
/// question's user so that it varies.
fn from_extension(q: &Ask) -> Option<&'static str> {
    let user = match q {
        Ask::CallerId { user, .. } | Ask::Feature { user, .. } => user,
        _ => return None,
    };
    let pool = ["100", "101", "102", "200", "201", "600", "999"];
    let i = user
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31) ^ usize::from(b));
    pool.get(i % pool.len()).copied()
}

/// The engine's answer for the owner of extension `ext`.
fn engine_by_extension(engine: &Table, tenant: &str, ext: &str, q: &Ask) -> Seen {
    let by = callgate::Principal::Extension(ext.into());
    match q {
        Ask::Feature { dialed, .. } => {
            let a = engine.check_feature_code_as(tenant, by, dialed);
            Seen {
                decision: a.outcome.as_str().to_string(),
                reason: a.reason.code().to_string(),
                caller_id: None,
                feature: Some(a.feature.map(|f| f.as_str().to_string())),
                args: Some(a.args.iter().map(str::to_string).collect()),
            }
        }
        Ask::CallerId {
            requested, dialed, ..
        } => {
            let a = engine.check_caller_id_as(tenant, by, requested.as_deref(), dialed);
            Seen {
                decision: a.outcome.as_str().to_string(),
                reason: a.reason.code().to_string(),
                caller_id: a.caller_id.map(|n| n.to_string()),
                feature: None,
                args: None,
            }
        }
        _ => unreachable!("only SIP questions have a From extension"),
    }
}

// ------------------------------------------------------------------------ the test

/// Characters the doors treat differently: NUL (C cannot carry it), C0 controls and DEL
/// (refused by HTTP, never in a SIP header), NEL (a control character to HTTP, a plain
/// UTF-8 character to SIP).
const SALT: [char; 7] = ['\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}'];

/// A generated question, one in twenty with a character of [`SALT`] in its caller's name
/// (the generators' arbitrary text is printable).
fn salted_ask() -> impl proptest::strategy::Strategy<Value = Ask> {
    use proptest::prelude::*;
    (
        generate::ask(),
        proptest::option::weighted(0.05, (proptest::sample::select(&SALT[..]), any::<bool>())),
    )
        .prop_map(|(mut q, salt)| {
            if let Some((c, front)) = salt {
                let (Ask::CallerId { user, .. }
                | Ask::Pause { actor: user, .. }
                | Ask::Recording { actor: user, .. }
                | Ask::Feature { user, .. }
                | Ask::Permission { user, .. }) = &mut q;
                if front {
                    user.insert(0, c);
                } else {
                    user.push(c);
                }
            }
            q
        })
}

/// Counts over a run.
#[derive(Default)]
struct Tally {
    questions: u64,
    http: u64,
    http_refused: u64,
    sip: u64,
    sip_by_extension: u64,
    sip_malformed: u64,
    sip_malformed_examples: Vec<String>,
    c: u64,
}

/// The four doors around one daemon.
struct Doors {
    daemon: Arc<Writer>,
    client: Client,
    http: Http,
    sip: Sip,
    revision: u64,
}

impl Doors {
    /// Gives the daemon `tenants` (and the replica, through the feed).
    fn load(&mut self, tenants: &[Tenant]) {
        self.revision += 2;
        self.daemon.replace_all(tenants, self.revision);
        self.client.wait_for(self.revision);
        // Changes at one revision may reach the replica one by one; a change after them all
        // at the next revision is applied only after every one of them.
        self.daemon.put(&sentinel(), self.revision + 1);
        self.client.wait_for(self.revision + 1);
    }

    /// Asks `q` through every door; a line for each disagreement.
    fn ask(&mut self, engine: &Table, tenant: &str, q: &Ask, tally: &mut Tally) -> Vec<String> {
        let want = seen(&ask::engine(engine, tenant, q));
        let mut out = Vec::new();
        // HTTP
        let expect_refusal = strings(tenant, q).iter().any(|s| http_refuses(s));
        let http = http_door(&mut self.http, tenant, q);
        match (&http, expect_refusal) {
            (Said::Refused(why), true) if why.starts_with("HTTP 400") => tally.http_refused += 1,
            (Said::Answer(_), true) => out.push(format!(
                "HTTP answered a question it documents refusing (control character or \
                 longer than {} bytes): {http:?}",
                callgate_daemon::http::MAX_INPUT
            )),
            _ => {
                tally.http += 1;
                out.extend(
                    differences(q, &want, &http)
                        .into_iter()
                        .map(|d| format!("HTTP: {d}")),
                );
            }
        }
        // SIP
        // A Request-URI sent as the question spelled it may be one RFC 3261 calls malformed:
        // a 400 for it is the SIP door's to give, except for an emergency target ("An
        // INVITE to an emergency target is never refused", `daemon/src/sip.rs`).
        let sip = sip_door(&mut self.sip, tenant, q, None);
        let verbatim = matches!(q, Ask::CallerId { dialed, .. } if is_uri(dialed));
        match &sip {
            Said::Refused(why)
                if why.starts_with("SIP 400")
                    && verbatim
                    && !want.reason.starts_with("emergency") =>
            {
                tally.sip_malformed += 1;
                if let Ask::CallerId { dialed, .. } = q
                    && tally.sip_malformed_examples.len() < 3
                {
                    tally.sip_malformed_examples.push(dialed.clone());
                }
            }
            _ => {
                if matches!(sip, Said::Answer(_) | Said::Refused(_)) {
                    tally.sip += 1;
                }
                out.extend(
                    differences(q, &want, &sip)
                        .into_iter()
                        .map(|d| format!("SIP: {d}")),
                );
            }
        }
        // SIP again, the caller named by the From user's extension instead, against the
        // engine asked for that extension's owner.
        if let Some(ext) = from_extension(q) {
            let want = engine_by_extension(engine, tenant, ext, q);
            let sip = sip_door(&mut self.sip, tenant, q, Some(ext));
            if let Said::Answer(_) | Said::Refused(_) = sip {
                if let Said::Refused(why) = &sip
                    && why.starts_with("SIP 400")
                    && matches!(q, Ask::CallerId { dialed, .. } if is_uri(dialed))
                    && !want.reason.starts_with("emergency")
                {
                    tally.sip_malformed += 1;
                } else {
                    tally.sip_by_extension += 1;
                    out.extend(
                        differences(q, &want, &sip)
                            .into_iter()
                            .map(|d| format!("SIP, the caller as From extension `{ext}`: {d}")),
                    );
                }
            }
        }
        // C
        let c = c_door(&self.client, tenant, q);
        if matches!(c, Said::Answer(_) | Said::Refused(_)) {
            tally.c += 1;
        }
        out.extend(
            differences(q, &want, &c)
                .into_iter()
                .map(|d| format!("C: {d}")),
        );
        tally.questions += 1;
        out
    }
}

/// "the engine, HTTP, SIP and the C ABI (replica over the feed) give the same decision,
/// reason and caller ID — 0 disagreements" (the issue "Four doors, one answer").
#[test]
fn four_doors_give_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let writer = Arc::new(Writer::new());
    writer.put(&sentinel(), 1);
    let daemon = rt.block_on(start(&socket, Arc::clone(&writer)));
    let doors = RefCell::new(Doors {
        daemon: writer,
        client: Client::open(&socket),
        http: Http::new(daemon.http),
        sip: Sip::new(daemon.sip),
        revision: 1,
    });
    let tally = RefCell::new(Tally::default());
    let disagreements = Cell::new(0u64);

    let mut runner = TestRunner::new(RunConfig {
        cases: cases(),
        failure_persistence: None,
        // Shrinking asks the daemon again each step (a few milliseconds): enough steps to
        // bring a directory down to the few entries a disagreement needs.
        max_shrink_iters: 4000,
        ..RunConfig::default()
    });
    let strategy = (
        generate::directory_bytes(),
        proptest::collection::vec((generate::tenant_id(), salted_ask()), ASKS),
    );
    let started = Instant::now();
    let result = runner.run(&strategy, |(bytes, asks)| {
        let tenants = generate::directory(&bytes);
        let mut doors = doors.borrow_mut();
        doors.load(&tenants);
        let engine = Table::new();
        engine.replace_all(&tenants, doors.revision);
        let mut report = String::new();
        let mut disagreed = 0;
        for (drawn, q) in &asks {
            let tenant = generate::resolve_tenant(&tenants, drawn);
            let found = doors.ask(&engine, tenant, q, &mut tally.borrow_mut());
            if found.is_empty() {
                continue;
            }
            disagreements.set(disagreements.get() + 1);
            disagreed += 1;
            if disagreed <= SHOWN {
                let _ = write!(report, "\nquestion to `{tenant}`: {q:?}");
                for line in found {
                    let _ = write!(report, "\n    {line}");
                }
            }
        }
        if disagreed > SHOWN {
            let _ = write!(
                report,
                "\n… and {} more of the {ASKS} questions",
                disagreed - SHOWN
            );
        }
        if report.is_empty() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "{report}\ndirectory: {}",
                serde_json::to_string(&tenants).unwrap_or_default()
            )))
        }
    });
    let t = tally.borrow();
    eprintln!(
        "four doors: {} questions over up to {} directories in {:.1?}; asked through HTTP {} \
         (+{} refused as documented), SIP {} (+{} naming the caller by From extension, +{} Request-URIs answered 400 as malformed, e.g. \
         {:?}), C {}; {} questions disagreed (shrinking included)",
        t.questions,
        cases(),
        started.elapsed(),
        t.http,
        t.http_refused,
        t.sip,
        t.sip_by_extension,
        t.sip_malformed,
        t.sip_malformed_examples,
        t.c,
        disagreements.get()
    );
    drop(t);
    drop(doors);
    rt.block_on(daemon.shutdown());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("the doors disagree:{reason}"),
        Err(e) => panic!("{e}"),
    }
}
