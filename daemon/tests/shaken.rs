//! STIR/SHAKEN at the daemon's doors: every caller-ID answer carries its attestation (SIP's
//! `X-Callgate-Attestation`, HTTP's `attestation`), and with a provider key configured the
//! answer is signed — an `Identity` header (RFC 8224) holding a PASSporT (RFC 8225, ES256) with
//! the SHAKEN claims (RFC 8588). The tokens are checked with an independent verifier (RustCrypto's
//! p256; ring signs) against the certificate's public key, and fail once a
//! claim is tampered with.
#![expect(clippy::unwrap_used, reason = "a test: a failed step fails it")]
#![expect(
    clippy::indexing_slicing,
    clippy::expect_used,
    reason = "a test: a failed step fails it"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const X5U: &str = "https://certs.example.net/sp.pem";
const ORIGID: &str = "123e4567-e89b-12d3-a456-426655440000";

/// A provider key and its self-signed certificate, as PEM files in `dir`: (key, cert,
/// the public key as an uncompressed point).
fn provider(dir: &std::path::Path, name: &str) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["sp.example.net".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (key_path, cert_path) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    (
        key_path.to_string_lossy().into_owned(),
        cert_path.to_string_lossy().into_owned(),
        key.public_key_raw().to_vec(),
    )
}

fn invite(call_id: &str, from: &str, dialed: &str, extra: &str) -> String {
    format!(
        "INVITE sip:{dialed}@acme SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@acme>;tag=f1\r\n\
         To: <sip:{dialed}@acme>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

async fn ask(to: SocketAddr, message: &str) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(message.as_bytes(), to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let (_, json) = text.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json).unwrap()
}

/// The PASSporT of an `Identity` header value, checked: its parameters, its signature under
/// `public` (ring), and its header. The claims.
fn verified(identity: &str, public: &[u8]) -> Value {
    let (token, params) = identity.split_once(';').unwrap();
    assert_eq!(params, format!("info=<{X5U}>;alg=ES256;ppt=shaken"));
    let claims = checked(token, public).expect("the signature verifies");
    let parts: Vec<&str> = token.split('.').collect();
    let head: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        head,
        serde_json::json!({"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": X5U})
    );
    claims
}

/// The claims of a compact JWS whose ES256 signature verifies under `public`, else why not.
fn checked(token: &str, public: &[u8]) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("not three parts".into());
    }
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    use p256::ecdsa::signature::Verifier as _;
    let signature = p256::ecdsa::Signature::from_slice(&signature).map_err(|e| e.to_string())?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public).map_err(|e| e.to_string())?;
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| "bad signature".to_string())?;
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[1])
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}

/// "the 302 carries an `Identity` header (RFC 8224) holding a PASSporT (RFC 8225, ES256) with
/// the SHAKEN extension (RFC 8588: `attest`, `origid`, `orig.tn`, `dest.tn`, `iat`)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_302_carries_a_passport_an_independent_verifier_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert, public) = provider(dir.path(), "sp");
    let d = daemon::start_with(&["127.0.0.1"], |c| {
        c.shaken_key = Some(key);
        c.shaken_cert = Some(cert);
        c.shaken_x5u = Some(X5U.into());
        c.shaken_origid = Some(ORIGID.into());
    })
    .await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // A: alice, authenticated by the proxy, presents her own DID.
    let answer = ask(
        d.sip,
        &invite(
            "a1",
            "101",
            "+1-555-010-9999",
            "X-Callgate-User: alice\r\nP-Preferred-Identity: <sip:+15550100101@acme>\r\n",
        ),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 302"), "{answer}");
    assert_eq!(
        header(&answer, "X-Callgate-Attestation"),
        Some("A; reason=user_may_present")
    );
    let claims = verified(header(&answer, "Identity").unwrap(), &public);
    assert_eq!(claims["attest"], "A");
    assert_eq!(claims["orig"], serde_json::json!({"tn": "15550100101"}));
    assert_eq!(claims["dest"], serde_json::json!({"tn": ["15550109999"]}));
    assert_eq!(claims["origid"], ORIGID);
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat >= before && iat <= before + 3600, "iat {iat}");

    // Tampered: another orig.tn under the same signature no longer verifies.
    let token = header(&answer, "Identity")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims.clone();
    forged["orig"]["tn"] = "15550100102".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(
        checked(&forged, &public).err().as_deref(),
        Some("bad signature")
    );
    // And a token signed by another key does not verify under this certificate.
    let (_, _, other) = provider(dir.path(), "other");
    assert!(checked(token, &other).is_err());

    // B: dave, authenticated, gets the tenant's default, which he may not present himself.
    let answer = ask(
        d.sip,
        &invite("b1", "202", "5551234", "X-Callgate-User: dave\r\n"),
    )
    .await;
    assert_eq!(
        header(&answer, "X-Callgate-Attestation"),
        Some("B; reason=number_not_tied_to_user")
    );
    let claims = verified(header(&answer, "Identity").unwrap(), &public);
    assert_eq!(
        (claims["attest"].as_str(), claims["orig"]["tn"].as_str()),
        (Some("B"), Some("15550100000"))
    );

    // C: no X-Callgate-User, so only the From header says who calls.
    let answer = ask(
        d.sip,
        &invite(
            "c1",
            "101",
            "5551234",
            "P-Preferred-Identity: <sip:+15550100101@acme>\r\n",
        ),
    )
    .await;
    assert_eq!(
        header(&answer, "X-Callgate-Attestation"),
        Some("C; reason=caller_not_authenticated")
    );
    assert_eq!(
        verified(header(&answer, "Identity").unwrap(), &public)["attest"],
        "C"
    );

    // None: a denied call is neither attested nor signed.
    let answer = ask(
        d.sip,
        &invite("d1", "204", "5551234", "X-Callgate-User: mallory\r\n"),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 403"), "{answer}");
    assert_eq!(header(&answer, "Identity"), None);
    assert_eq!(header(&answer, "X-Callgate-Attestation"), None);

    // An emergency call is signed too (callback number of the caller's site), to the
    // emergency number as dialed; a URN is carried as a URI.
    let answer = ask(
        d.sip,
        &invite("e1", "204", "911", "X-Callgate-User: mallory\r\n"),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 302"), "{answer}");
    let claims = verified(header(&answer, "Identity").unwrap(), &public);
    assert_eq!(claims["dest"], serde_json::json!({"tn": ["911"]}));
    assert_eq!(claims["attest"], "B");

    // HTTP: the same attestation and a token the same verifier accepts.
    let body = post(
        d.http,
        "/v1/check/caller-id",
        &serde_json::json!({"tenant": "acme", "user": "alice", "requested": "+15550100101",
                            "dialed": "5551234", "authenticated": true}),
    )
    .await;
    assert_eq!(
        body["attestation"],
        serde_json::json!({"level": "A", "reason": "user_may_present"})
    );
    let claims = verified(body["identity"].as_str().unwrap(), &public);
    assert_eq!(claims["orig"]["tn"], "15550100101");
    let body = post(
        d.http,
        "/v1/check/caller-id",
        &serde_json::json!({"tenant": "acme", "user": "alice", "requested": "+15550100101", "dialed": "5551234"}),
    )
    .await;
    assert_eq!(
        body["attestation"]["level"], "C",
        "not said to be authenticated: {body}"
    );
    d.shutdown().await;
}

/// Without signing configured, answers still carry the attestation, and nothing is signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_answers_carry_the_attestation_alone() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let answer = ask(
        d.sip,
        &invite(
            "u1",
            "101",
            "5551234",
            "X-Callgate-User: alice\r\nP-Preferred-Identity: <sip:+15550100101@acme>\r\n",
        ),
    )
    .await;
    assert_eq!(
        header(&answer, "X-Callgate-Attestation"),
        Some("A; reason=user_may_present")
    );
    assert_eq!(header(&answer, "Identity"), None);
    d.shutdown().await;
}

/// "a key or certificate that does not load is a clear error at start, never a silent unsigned
/// call".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_or_certificate_that_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert, _) = provider(dir.path(), "sp");
    let (_, other_cert, _) = provider(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let base = callgate_daemon::config::Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        shaken_key: Some(key.clone()),
        shaken_x5u: Some(X5U.into()),
        shaken_origid: Some("tenant".into()),
        shaken_cert: Some(cert.clone()),
        ..Default::default()
    };
    let cases: Vec<(&str, callgate_daemon::config::Config)> = vec![
        (
            "shaken_key",
            callgate_daemon::config::Config {
                shaken_key: Some("/nonexistent.pem".into()),
                ..base.clone()
            },
        ),
        (
            "not a P-256 private key",
            callgate_daemon::config::Config {
                shaken_key: Some(garbage.clone()),
                ..base.clone()
            },
        ),
        (
            "its public key is not shaken_key's",
            callgate_daemon::config::Config {
                shaken_cert: Some(other_cert),
                ..base.clone()
            },
        ),
        (
            "not a PEM X.509 certificate",
            callgate_daemon::config::Config {
                shaken_cert: Some(key.clone()),
                ..base.clone()
            },
        ),
        (
            "shaken_x5u",
            callgate_daemon::config::Config {
                shaken_x5u: Some("https://x/a>;b".into()),
                ..base.clone()
            },
        ),
        (
            "shaken_origid",
            callgate_daemon::config::Config {
                shaken_origid: Some("nope".into()),
                ..base.clone()
            },
        ),
        (
            "together",
            callgate_daemon::config::Config {
                shaken_x5u: None,
                ..base.clone()
            },
        ),
    ];
    for (why, config) in cases {
        let err = callgate_daemon::serve::Daemon::bind(&config, daemon::demo_state(&["127.0.0.1"]))
            .await
            .err()
            .unwrap_or_else(|| panic!("started despite {why}"));
        assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
    }
    // The complete settings start.
    let d = callgate_daemon::serve::Daemon::bind(&base, daemon::demo_state(&["127.0.0.1"]))
        .await
        .unwrap();
    d.shutdown().await;
}
