//! The `callgate` binary's failures, run for real with `RUST_BACKTRACE=1` in its environment
//! (as build hosts and some service managers set it): each is one line on stderr (a refused
//! directory: its documented listing), never a backtrace, with the exit code `--help` and the
//! README document: 2 usage, 3 input refused, 4 store unreachable, 5 cannot bind.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/served.rs"]
mod served;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one run may take before the test fails (the slowest, an unreachable Postgres,
/// gives up after the store's 3 s connection wait).
const LIMIT: Duration = Duration::from_secs(60);

/// What one run of `callgate` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stderr's lines.
    fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Asserts the run exited with `code` and said so in exactly one line, with no backtrace;
    /// returns that line.
    fn one_line(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "stderr:\n{}", self.stderr);
        assert_eq!(self.lines().len(), 1, "stderr:\n{}", self.stderr);
        self.no_backtrace();
        let line = self.lines()[0];
        assert!(line.starts_with("callgate: "), "{line}");
        line
    }

    fn no_backtrace(&self) {
        for needle in ["backtrace", "Caused by", "panicked", "os error"] {
            assert!(!self.stderr.contains(needle), "stderr:\n{}", self.stderr);
        }
    }
}

/// Runs `callgate ARGS` with `RUST_BACKTRACE=1`, none of callgate's own variables and `env`,
/// and waits for it to exit (killing it and failing after [`LIMIT`]).
fn callgate(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callgate"));
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG")
        .env_remove("CALLGATE_DB")
        .env_remove("CALLGATE_VERBOSE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_string(&mut text).unwrap();
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "`callgate {}` still running after {LIMIT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A fresh SQLite store's URL in `dir`.
fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("callgate.db").display())
}

fn demo_yaml() -> String {
    format!("{}/../examples/demo.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_missing_file_is_one_line_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = callgate(
        &["--db", &sqlite(dir.path()), "import", "/nonexistent.yaml"],
        &[],
    );
    assert_eq!(
        run.one_line(3),
        "callgate: reading `/nonexistent.yaml`: No such file or directory"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn a_port_in_use_is_one_line_and_exit_5_while_its_holder_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    // The daemon logs its start-up at info; at `warn` a failed start says only why it failed.
    let run = callgate(
        &[
            "--db",
            &sqlite(dir.path()),
            "serve",
            "--http",
            &taken,
            "--sip",
            "127.0.0.1:0",
        ],
        &[("RUST_LOG", "warn")],
    );
    let line = run.one_line(5);
    assert!(line.contains(&format!("binding HTTP on {taken}")), "{line}");
    assert!(line.contains("in use"), "{line}");
    // The listener that holds the port was never disturbed.
    let mut client = TcpStream::connect(&taken).unwrap();
    let (mut server, _) = holder.accept().unwrap();
    server.write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");

    // With the daemon's default logging the error is still the last line, still one line.
    let run = callgate(
        &[
            "--db",
            &sqlite(dir.path()),
            "serve",
            "--http",
            &taken,
            "--sip",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    run.no_backtrace();
    let last = run.lines().last().copied().unwrap_or_default();
    assert!(
        last.starts_with("callgate: binding HTTP on"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_postgres_is_one_line_and_exit_4() {
    let url = "postgres://callgate@127.0.0.1:1/x";
    let run = callgate(&["--db", url, "export"], &[]);
    let line = run.one_line(4);
    assert!(
        line.starts_with(&format!("callgate: opening the store at `{url}`: ")),
        "{line}"
    );
    // A password never reaches the message.
    let run = callgate(
        &["--db", "postgres://callgate:s3cret@127.0.0.1:1/x", "export"],
        &[],
    );
    let line = run.one_line(4);
    assert!(!line.contains("s3cret"), "{line}");
    assert!(line.contains("callgate:***@127.0.0.1:1"), "{line}");
}

#[test]
fn an_unsupported_store_url_is_refused_input() {
    let line = callgate(&["--db", "mysql://x/y", "export"], &[])
        .one_line(3)
        .to_string();
    assert!(
        line.contains("unsupported database url `mysql://x/y`"),
        "{line}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let line = callgate(&["frobnicate"], &[]).one_line(2).to_string();
    assert!(
        line.contains("unrecognized subcommand 'frobnicate'"),
        "{line}"
    );
    let line = callgate(&["serv"], &[]).one_line(2).to_string();
    assert!(line.contains("'serve'"), "the tip survives: {line}");
    let line = callgate(&["explain", "--tenant", "acme"], &[])
        .one_line(2)
        .to_string();
    assert!(line.contains("--user"), "{line}");
}

/// The man page and completions come from the same definitions as the flags, and need no
/// store (a package build runs them with none).
#[test]
fn man_page_and_completions_name_every_subcommand_without_a_store() {
    let subcommands = [
        "serve", "migrate", "import", "export", "check", "explain", "audit", "token",
    ];
    let man = callgate(
        &["manpage"],
        &[("CALLGATE_DB", "postgres://nobody@127.0.0.1:1/none")],
    );
    assert_eq!(man.code, Some(0), "{}", man.stderr);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH callgate 1"),
        "{}",
        man.stdout
    );
    for shell in ["bash", "zsh", "fish"] {
        let run = callgate(&["completions", shell], &[]);
        assert_eq!(run.code, Some(0), "{shell}: {}", run.stderr);
        for sub in subcommands {
            assert!(run.stdout.contains(sub), "{shell} completes `{sub}`");
        }
        assert!(
            run.stdout.contains("audit-retention"),
            "{shell} completes serve's flags"
        );
    }
    for sub in subcommands {
        assert!(man.stdout.contains(sub), "the man page names `{sub}`");
    }
    let line = callgate(&["completions", "tcsh"], &[])
        .one_line(2)
        .to_string();
    assert!(line.contains("bash"), "the shells it knows: {line}");
}

#[test]
fn help_documents_the_exit_codes() {
    let run = callgate(&["--help"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for code in [
        "0  ok",
        "1  internal",
        "2  usage",
        "3  input refused",
        "4  store unreachable",
        "5  a listener could not bind",
    ] {
        assert!(run.stdout.contains(code), "`{code}` in:\n{}", run.stdout);
    }
}

#[test]
fn a_refused_directory_lists_its_problems_and_exits_3_and_the_store_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let good = callgate(&["--db", &db, "import", &demo_yaml()], &[]);
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    assert_eq!(good.stderr, "");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "tenants:\n  - id: acme\n    bogus: 1\n    users: [{id: x, role: superuser}]\n",
    )
    .unwrap();
    let run = callgate(&["--db", &db, "import", bad.to_str().unwrap()], &[]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    run.no_backtrace();
    let lines = run.lines();
    assert_eq!(
        lines[0],
        format!("{}: refused, nothing imported:", bad.display())
    );
    assert!(lines.len() >= 2, "{}", run.stderr);
    assert!(
        lines[1..].iter().all(|l| l.starts_with("  ")),
        "{}",
        run.stderr
    );

    // The store's own refusal (a number given to two tenants) reads the same way.
    let dup = dir.path().join("dup.yaml");
    std::fs::write(
        &dup,
        "tenants:\n  - id: a\n    numbers: [{number: \"+15551230000\"}]\n  - id: b\n    numbers: [{number: \"+15551230000\"}]\n",
    )
    .unwrap();
    let run = callgate(&["--db", &db, "import", dup.to_str().unwrap()], &[]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    run.no_backtrace();
    assert_eq!(
        run.lines(),
        [
            format!("{}: refused, nothing imported:", dup.display()).as_str(),
            "  tenants[1].numbers[0].number: `+15551230000` belongs to another tenant (`a`, earlier in this file)",
        ]
    );

    // Nothing was imported, and the store still answers.
    let run = callgate(&["--db", &db, "export", "--tenant", "acme", "--json"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("\"alice\""), "{}", run.stdout);
    let line = callgate(&["--db", &db, "export", "--tenant", "a"], &[])
        .one_line(3)
        .to_string();
    assert_eq!(line, "callgate: no tenant `a`");
}

#[test]
fn a_check_with_a_bad_argument_is_one_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let run = callgate(
        &[
            "--db",
            &db,
            "check",
            "permission",
            "--tenant",
            "acme",
            "--user",
            "alice",
            "--category",
            "bogus",
            "--action",
            "view",
        ],
        &[],
    );
    assert_eq!(run.one_line(3), "callgate: unknown category `bogus`");
    let run = callgate(
        &[
            "--db", &db, "explain", "--tenant", "acme", "--user", "nobody",
        ],
        &[],
    );
    assert_eq!(
        run.one_line(3),
        "callgate: no user `nobody` in tenant `acme`"
    );
}

#[test]
fn verbose_prints_every_cause() {
    let dir = tempfile::tempdir().unwrap();
    for run in [
        callgate(
            &[
                "-v",
                "--db",
                &sqlite(dir.path()),
                "import",
                "/nonexistent.yaml",
            ],
            &[],
        ),
        callgate(
            &["--db", &sqlite(dir.path()), "import", "/nonexistent.yaml"],
            &[("CALLGATE_VERBOSE", "1")],
        ),
    ] {
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        assert!(run.lines().len() > 1, "{}", run.stderr);
        assert!(run.stderr.contains("Caused by"), "{}", run.stderr);
    }
}

/// A P-256 key as PKCS#8 PEM in `dir/name`, and its public key (uncompressed point).
fn signing_key(dir: &Path, name: &str) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, key.serialize_pem()).unwrap();
    (
        path.to_string_lossy().into_owned(),
        key.public_key_raw().to_vec(),
    )
}

/// "a key or certificate that does not load is a clear error at start": one line, exit 3.
#[test]
fn a_signing_key_that_does_not_load_is_one_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("callgate.toml");
    std::fs::write(
        &config,
        "shaken_key = \"/nonexistent/key.pem\"\nshaken_x5u = \"https://c.example/sp.pem\"\nshaken_origid = \"tenant\"\n",
    )
    .unwrap();
    let run = callgate(
        &[
            "--db",
            &sqlite(dir.path()),
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--http",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
        ],
        &[("RUST_LOG", "warn")],
    );
    let line = run.one_line(3);
    assert!(line.contains("shaken_key `/nonexistent/key.pem`"), "{line}");
}

/// "Keys are read at start and on SIGHUP": a new key takes over without a restart; a key that
/// does not load is refused and the running one keeps signing.
#[test]
fn sighup_takes_up_a_new_signing_key_and_keeps_the_old_one_if_the_new_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_public) = signing_key(dir.path(), "k1.pem");
    let (second, second_public) = signing_key(dir.path(), "k2.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(&first, &key).unwrap();
    let port = served::free_port();
    let config = dir.path().join("callgate.toml");
    std::fs::write(
        &config,
        format!(
            "demo = true\nhttp = \"127.0.0.1:{port}\"\nsip = \"127.0.0.1:0\"\nshaken_key = \"{}\"\n\
             shaken_x5u = \"https://c.example/sp.pem\"\nshaken_origid = \"tenant\"\n",
            key.display()
        ),
    )
    .unwrap();
    let daemon = served::Served::start(dir.path(), &config);
    // The signature of one HTTP caller-ID answer, under whichever key verifies it.
    let signed_by = || -> Option<usize> {
        let body = r#"{"tenant":"acme","user":"alice","requested":"+15550100101","dialed":"5551234","authenticated":true}"#;
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            s,
            "POST /v1/check/caller-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let json: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()?;
        let token = json["identity"].as_str()?.split(';').next()?.to_string();
        [&first_public, &second_public]
            .iter()
            .position(|public| verifies(&token, public))
    };
    let until = |want: usize| {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if signed_by() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    assert!(until(0), "never signed with the first key");
    // A key that does not load: refused, the first key keeps signing.
    std::fs::write(&key, "not a key").unwrap();
    daemon.hup();
    daemon.logged("reload refused", 1);
    assert_eq!(
        signed_by(),
        Some(0),
        "a refused reload must keep the running key"
    );
    // The second key: taken up by the next SIGHUP.
    std::fs::copy(&second, &key).unwrap();
    daemon.hup();
    daemon.logged("reloaded the STIR/SHAKEN settings", 1);
    assert_eq!(signed_by(), Some(1), "the second key was not taken up");
    // The daemon never stopped answering meanwhile: same port, same process.
}

/// Whether a compact ES256 JWS verifies under an uncompressed P-256 point.
fn verifies(token: &str, public: &[u8]) -> bool {
    use base64::Engine as _;
    use p256::ecdsa::signature::Verifier as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let (Some(sig), Ok(key)) = (
        parts.get(2).and_then(|s| b64.decode(s).ok()),
        p256::ecdsa::VerifyingKey::from_sec1_bytes(public),
    ) else {
        return false;
    };
    let Ok(sig) = p256::ecdsa::Signature::from_slice(&sig) else {
        return false;
    };
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .is_ok()
}
