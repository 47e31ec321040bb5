//! Real SIP peers for the tests: sipp as a UAC or a recording UAS, and Kamailio with one of
//! the configs of `examples/kamailio/` and its digest-authentication subscriber table (SQLite),
//! on free loopback ports. Included by path from the daemon's `peers.rs` and libcallgate's
//! `kamailio.rs`.
#![allow(dead_code, reason = "each test binary uses part of this")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a step that fails is a failed test"
)]

use std::ffi::OsString;
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The repository's `examples/` (sipp scenarios, Kamailio configs).
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Fails the test with the package to install if `tool` is not on the PATH.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "`{tool}` is not installed: apt-get install {package} (scripts/test.sh does)"
    );
}

/// A loopback port free for both UDP and TCP (Kamailio listens on both).
pub fn free_port() -> u16 {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(|_| port)
        .unwrap_or_else(|_| free_port())
}

/// Runs a sipp UAC scenario of `examples/sipp/` for one call to `target`, with `-set`
/// variables and any `extra` arguments; its exit code (0 = the call went as the scenario
/// says) and its log.
pub fn sipp(scenario: &str, target: u16, vars: &[(&str, &str)], extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sipp.log");
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf").arg(examples().join("sipp").join(scenario));
    cmd.args([
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
        "-nostdin",
    ]);
    cmd.args([
        "-timeout",
        "15s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
    ])
    .arg(&log);
    for (k, v) in vars {
        cmd.args(["-set", k, v]);
    }
    cmd.args(extra);
    cmd.arg(format!("127.0.0.1:{target}"));
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("sipp runs");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        format!("{log}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// [`sipp`] with owned variables (as [`call`] makes them) and no extra arguments.
pub fn place(scenario: &str, target: u16, vars: &[(&'static str, String)]) -> (i32, String) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sipp(scenario, target, &vars, &[])
}

/// The scenario variables of one call: who calls, in which tenant, presenting what, to where.
pub fn call(user: &str, tenant: &str, ppi: &str, dialed: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tenant", tenant.into()),
        ("user", user.into()),
        ("ppi", ppi.into()),
        ("dialed", dialed.into()),
    ]
}

/// A SIP account in Kamailio's subscriber table: the extension it calls from (the From user and
/// digest username), its tenant (From host and realm), password and callgate user id.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub ext: &'static str,
    pub tenant: &'static str,
    pub password: &'static str,
    pub user: &'static str,
}

/// The demo directory's callers the Kamailio tests place calls as (each is the owner of the
/// extension, as `examples/demo.yaml` says).
pub const ALICE: Account = Account {
    ext: "101",
    tenant: "acme",
    password: "alice-pw",
    user: "alice",
};
pub const BOB: Account = Account {
    ext: "201",
    tenant: "acme",
    password: "bob-pw",
    user: "bob",
};
pub const IVAN: Account = Account {
    ext: "105",
    tenant: "acme",
    password: "ivan-pw",
    user: "ivan",
};
/// Suspended in the demo directory.
pub const MALLORY: Account = Account {
    ext: "204",
    tenant: "acme",
    password: "mallory-pw",
    user: "mallory",
};
pub const MILTON: Account = Account {
    ext: "303",
    tenant: "initech",
    password: "milton-pw",
    user: "milton",
};
pub const OSCAR: Account = Account {
    ext: "10",
    tenant: "globex",
    password: "oscar-pw",
    user: "oscar",
};
/// Every account above.
pub const ACCOUNTS: [Account; 6] = [ALICE, BOB, IVAN, MALLORY, MILTON, OSCAR];

/// Creates Kamailio's subscriber table in `dir/subscriber.db` the way
/// `examples/kamailio/README.md` says (Kamailio's own SQLite schema plus a `callgate_user`
/// column) with `accounts`, and returns the `-A` define that points a config at it.
pub fn subscriber_db(dir: &Path, accounts: &[Account]) -> String {
    require("sqlite3", "sqlite3");
    let schema = Path::new("/usr/share/kamailio/db_sqlite");
    assert!(
        schema.join("auth_db-create.sql").exists(),
        "Kamailio's SQLite schema is missing: apt-get install kamailio-sqlite-modules (scripts/test.sh does)"
    );
    let db = dir.join("subscriber.db");
    let mut sql = std::fs::read_to_string(schema.join("standard-create.sql")).unwrap();
    sql.push_str(&std::fs::read_to_string(schema.join("auth_db-create.sql")).unwrap());
    sql.push_str(
        "ALTER TABLE subscriber ADD COLUMN callgate_user VARCHAR(64) DEFAULT '' NOT NULL;\n",
    );
    for a in accounts {
        sql.push_str(&format!(
            "INSERT INTO subscriber (username, domain, password, callgate_user) \
             VALUES ('{}', '{}', '{}', '{}');\n",
            a.ext, a.tenant, a.password, a.user
        ));
    }
    let mut child = Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlite3 runs");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3 {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // `sqlite://` then `/` then the absolute path: `sqlite:////tmp/...`
    format!("DB_URL=\"sqlite:///{}\"", db.display())
}

/// The variables of a call through Kamailio: From `from_ext@tenant`, claiming to be `claim`
/// in an `X-Callgate-User` header (Kamailio must drop it), presenting `ppi`, to `dialed`.
pub fn kamailio_call(
    from_ext: &str,
    tenant: &str,
    claim: &str,
    ppi: &str,
    dialed: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("tenant", tenant.into()),
        ("user", from_ext.into()),
        ("claim", claim.into()),
        ("ppi", ppi.into()),
        ("dialed", dialed.into()),
    ]
}

/// Runs a Kamailio UAC scenario (`uac_call*.xml`), answering a digest challenge as
/// `auth_user` / `password`.
pub fn place_authenticated(
    scenario: &str,
    target: u16,
    vars: &[(&'static str, String)],
    auth_user: &str,
    password: &str,
) -> (i32, String) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sipp(
        scenario,
        target,
        &vars,
        &["-au", auth_user, "-ap", password],
    )
}

/// One call to place through Kamailio and what must come of it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// Whose credentials answer the challenge.
    pub account: Account,
    /// The password sent (the account's, or a wrong one).
    pub password: &'static str,
    /// The From URI: extension and host (the account's own, or someone else's).
    pub from: (&'static str, &'static str),
    /// The `X-Callgate-User` the caller writes in.
    pub claim: &'static str,
    pub ppi: &'static str,
    /// Unique per attempt: how the UAS's log line is found.
    pub dialed: &'static str,
    pub scenario: &'static str,
}

impl Attempt {
    /// An honest call: the account's own From URI and password, claiming its own user.
    pub const fn honest(
        account: Account,
        ppi: &'static str,
        dialed: &'static str,
        scenario: &'static str,
    ) -> Self {
        Self {
            account,
            password: account.password,
            from: (account.ext, account.tenant),
            claim: account.user,
            ppi,
            dialed,
            scenario,
        }
    }

    /// Places it through Kamailio on `port`: sipp's exit code and log.
    pub fn place(&self, port: u16) -> (i32, String) {
        place_authenticated(
            self.scenario,
            port,
            &kamailio_call(self.from.0, self.from.1, self.claim, self.ppi, self.dialed),
            self.account.ext,
            self.password,
        )
    }
}

/// The UAS log's `RECEIVED` lines, once there are `count` of them (or what there is after 10 s).
pub fn received(log: &Path, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = seen
            .lines()
            .filter(|l| l.contains("RECEIVED"))
            .map(str::to_string)
            .collect();
        if lines.len() >= count || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The UAS's line for the call to `dialed`, if it saw one.
pub fn line_for<'a>(lines: &'a [String], dialed: &str) -> Option<&'a String> {
    let key = format!("ruri=sip:{dialed}@");
    lines.iter().find(|l| l.contains(&key))
}

/// Child processes stopped when the test ends, however it ends. Each is started in its own
/// process group ([`start_kamailio`], [`start_uas`]), and the whole group is signalled: a
/// Kamailio whose start-up failed can leave a worker behind its exited main process.
pub struct Reaper(pub Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SIGTERM first: Kamailio's main process then stops the workers it forked (a
            // SIGKILL would orphan them).
            let group = format!("-{}", c.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            for _ in 0..50 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            // whatever of the group is still there (a worker that outlived its main process)
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
    }
}

/// A sipp UAS (`uas_record.xml`) on `port` that answers `calls` calls and logs each message.
pub fn start_uas(port: u16, calls: usize, log: &Path) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(examples().join("sipp/uas_record.xml"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &calls.to_string(),
            "-nostdin",
            "-trace_logs",
            "-log_file",
        ])
        .arg(log)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS starts")
}

/// Kamailio in the foreground with `examples/kamailio/<config>`, working in `dir` (its log
/// is `dir/kamailio.log`), with `-A NAME=VALUE` defines and environment variables.
pub fn start_kamailio(
    config: &str,
    dir: &Path,
    defines: &[String],
    env: &[(&str, OsString)],
) -> Child {
    let mut cmd = Command::new("kamailio");
    cmd.arg("-f")
        .arg(examples().join("kamailio").join(config))
        .args(["-DD", "-E", "-m", "32", "-M", "8"])
        .arg("-w")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .arg("-Y")
        .arg(dir);
    for define in defines {
        cmd.args(["-A", define]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.process_group(0)
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("kamailio.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("kamailio starts")
}

/// Waits (up to 15 s) until something answers OPTIONS on `port` (Kamailio's start-up takes
/// a moment); fails with Kamailio's log in `dir` if nothing does.
pub fn wait_for_options(port: u16, dir: &Path) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    for i in 0..75 {
        let msg = format!(
            "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-w{i}\r\n\
             From: <sip:probe@127.0.0.1>;tag=w\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: wait-{i}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = socket.send_to(msg.as_bytes(), ("127.0.0.1", port));
        let mut buf = [0u8; 2048];
        if socket.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!(
        "kamailio did not answer OPTIONS on port {port}:\n{}",
        std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
    );
}
