//! The HTTP API over TLS: with `http_tls_cert` and `http_tls_key` set, the daemon speaks only
//! HTTPS, so admin bearer tokens never cross a network in clear text; a certificate or key
//! that does not load stops the daemon at start with a clear error, never a silent plain-HTTP
//! listener. Checked with a real TLS client (rustls) against a real daemon.
#![expect(clippy::unwrap_used, reason = "a test: a failed step fails it")]

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/served.rs"]
mod served;

use std::sync::Arc;
use std::time::Duration;

use callgate_daemon::config::{Config, ConfigError};
use callgate_daemon::http::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// A self-signed certificate for 127.0.0.1, written as PEM files in `dir`: (cert, key, DER).
fn certificate(
    dir: &std::path::Path,
) -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (
        cert_path.to_string_lossy().into_owned(),
        key_path.to_string_lossy().into_owned(),
        cert.der().clone(),
    )
}

/// One HTTP/1.1 request over TLS to `addr`, trusting only `root`; the response's text.
async fn https_get(
    addr: std::net::SocketAddr,
    root: &rustls::pki_types::CertificateDer<'static>,
    path: &str,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response))
        .await
        .map_err(|_| "response timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_api_speaks_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate(dir.path());
    let daemon = daemon::start_with(&["127.0.0.1"], |c| {
        c.http_tls_cert = Some(cert.clone());
        c.http_tls_key = Some(key.clone());
    })
    .await;
    let response = https_get(daemon.http, &der, "/healthz").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Plain HTTP on the same port gets no HTTP answer: the bytes are not a TLS hello.
    let mut plain = TcpStream::connect(daemon.http).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut back = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut back)).await;
    assert!(
        !String::from_utf8_lossy(&back).contains("HTTP/1.1 200"),
        "a plain request is not served"
    );

    // A client that does not trust this certificate refuses it.
    let other = certificate(tempfile::tempdir().unwrap().path()).2;
    let refused = https_get(daemon.http, &other, "/healthz").await;
    assert!(refused.is_err(), "{refused:?}");
    // And the daemon still answers the next trusting client.
    let again = https_get(daemon.http, &der, "/healthz").await.unwrap();
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[test]
fn a_certificate_or_key_that_does_not_load_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let missing = dir
        .path()
        .join("missing.pem")
        .to_string_lossy()
        .into_owned();
    let other_dir = tempfile::tempdir().unwrap();
    let (_, other_key, _) = certificate(other_dir.path());
    for (c, k, says) in [
        (Some(&missing), Some(&key), "missing.pem"),
        (Some(&cert), Some(&missing), "missing.pem"),
        (Some(&garbage), Some(&key), "no certificate"),
        (Some(&cert), Some(&garbage), "garbage.pem"),
        (Some(&cert), Some(&other_key), "using certificate"),
        (Some(&cert), None, "go together"),
        (None, Some(&key), "go together"),
    ] {
        let config = Config {
            http_tls_cert: c.cloned(),
            http_tls_key: k.cloned(),
            ..Config::default()
        };
        match Settings::from_config(&config) {
            Err(e @ ConfigError::Tls(_)) => {
                assert!(e.to_string().contains(says), "`{e}` says {says}")
            }
            Err(e) => panic!("{c:?} {k:?}: not a TLS error: {e}"),
            Ok(_) => panic!("{c:?} {k:?}: loaded"),
        }
    }
    let config = Config {
        http_tls_cert: Some(cert),
        http_tls_key: Some(key),
        ..Config::default()
    };
    assert!(Settings::from_config(&config).unwrap().tls().is_some());
    assert!(
        Settings::from_config(&Config::default())
            .unwrap()
            .tls()
            .is_none()
    );
}

/// "TLS for the HTTP API (rustls; certificate and key paths in the config, reloaded on
/// SIGHUP)": the running binary takes up a new certificate on SIGHUP without dropping its
/// listener, and keeps the old one when the new files do not load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_keeps_it_when_the_new_one_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (cert1, key1, der1) = certificate(first.path());
    let (cert2, key2, der2) = certificate(second.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&cert1, &cert).unwrap();
    std::fs::copy(&key1, &key).unwrap();
    let port = served::free_port();
    let config = dir.path().join("callgate.toml");
    std::fs::write(
        &config,
        format!(
            "demo = true\nhttp = \"127.0.0.1:{port}\"\nsip = \"127.0.0.1:0\"\n\
             http_tls_cert = \"{}\"\nhttp_tls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let daemon = served::Served::start(dir.path(), &config);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let logged = |what: &str| tokio::task::block_in_place(|| daemon.logged(what, 1));
    logged("grant table loaded");
    let mut up = false;
    for _ in 0..600 {
        if https_get(addr, &der1, "/healthz").await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "never answered over TLS with the first certificate");
    // A key that does not match the certificate: refused, the first one stays.
    std::fs::copy(&cert2, &cert).unwrap();
    daemon.hup();
    logged("HTTP TLS reload refused");
    assert!(https_get(addr, &der1, "/healthz").await.is_ok());
    // The matching key: the second certificate takes over, the first is no longer served.
    std::fs::copy(&key2, &key).unwrap();
    daemon.hup();
    logged("reloaded the HTTP TLS certificate");
    assert!(https_get(addr, &der2, "/healthz").await.is_ok());
    assert!(https_get(addr, &der1, "/healthz").await.is_err());
}
