//! What bounds the HTTP API: body sizes, who may ask the checks, connection caps and
//! timeouts (from the config), and the short-lived cache of check tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::config::{Config, ConfigError, Peers};
use crate::store::TokenInfo;

/// How long a verified token is trusted without asking the store again (a revoked token
/// stops working within this).
const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Tokens the cache keeps at most (it is emptied when full).
const TOKEN_CACHE: usize = 1024;
/// Admin bodies read at once (each up to the admin body limit).
const ADMIN_BODIES: usize = 2;

/// The HTTP API's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest check body, in bytes.
    pub check_body: usize,
    /// Largest admin write or import body, in bytes.
    pub admin_body: usize,
    /// Who may ask the checks.
    pub check_peers: Peers,
    /// Whether checks need a bearer token.
    pub check_token_required: bool,
    /// Most concurrent connections.
    pub max_connections: usize,
    /// Most concurrent connections from one address.
    pub max_connections_per_address: usize,
    /// Time to send a request's headers (and to start the next on a kept-alive connection).
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Result<Limits, ConfigError> {
        Ok(Limits {
            check_body: config.http_check_body_limit,
            admin_body: config.http_admin_body_limit,
            check_peers: Peers::parse(&config.http_check_peers)?,
            check_token_required: config.http_check_token_required,
            max_connections: config.http_max_connections.max(1),
            max_connections_per_address: config.http_max_connections_per_address.max(1),
            header_timeout: Duration::from_millis(config.http_header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(config.http_body_timeout_ms.max(1)),
        })
    }
}

impl Default for Limits {
    fn default() -> Limits {
        let config = Config::default();
        Limits::from_config(&config).unwrap_or(Limits {
            check_body: config.http_check_body_limit,
            admin_body: config.http_admin_body_limit,
            check_peers: Peers::default(),
            check_token_required: config.http_check_token_required,
            max_connections: config.http_max_connections,
            max_connections_per_address: config.http_max_connections_per_address,
            header_timeout: Duration::from_millis(config.http_header_timeout_ms),
            body_timeout: Duration::from_millis(config.http_body_timeout_ms),
        })
    }
}

/// The HTTP API's settings and the state its limits keep.
pub struct Settings {
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    certificate: Option<Arc<Certificate>>,
    tokens: Mutex<HashMap<[u8; 32], (TokenInfo, Instant)>>,
    admin_bodies: Arc<Semaphore>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::new(Limits::default())
    }
}

impl Settings {
    /// Settings with these limits.
    pub fn new(limits: Limits) -> Settings {
        Settings {
            limits,
            tls: None,
            certificate: None,
            tokens: Mutex::new(HashMap::new()),
            admin_bodies: Arc::new(Semaphore::new(ADMIN_BODIES)),
        }
    }

    /// The settings `config` sets.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let mut settings = Limits::from_config(config).map(Settings::new)?;
        (settings.tls, settings.certificate) = match (&config.http_tls_cert, &config.http_tls_key) {
            (None, None) => (None, None),
            (Some(cert), Some(key)) => {
                let (acceptor, certificate) = tls_acceptor(cert, key)?;
                (Some(acceptor), Some(certificate))
            }
            _ => {
                return Err(ConfigError::Tls(
                    "http_tls_cert and http_tls_key go together".into(),
                ));
            }
        };
        Ok(settings)
    }

    /// The TLS the HTTP API speaks, if any.
    pub fn tls(&self) -> Option<&tokio_rustls::TlsAcceptor> {
        self.tls.as_ref()
    }

    /// The HTTP API's certificate, if it speaks TLS (SIGHUP reloads it).
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_deref()
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admin bodies being read at once are bounded: this hands out the right to read one.
    pub(super) fn admin_bodies(&self) -> Arc<Semaphore> {
        Arc::clone(&self.admin_bodies)
    }

    /// The token `secret` was found to be within the last few seconds, if any.
    pub(super) fn cached_token(&self, secret: &str) -> Option<TokenInfo> {
        let key = key(secret);
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(&key)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(t, _)| t.clone())
    }

    /// Remembers that `secret` is `token` (for a few seconds).
    pub(super) fn cache_token(&self, secret: &str, token: &TokenInfo) {
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= TOKEN_CACHE {
                tokens.clear();
            }
            tokens.insert(key(secret), (token.clone(), Instant::now()));
        }
    }
}

fn key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The HTTP API's certificate and key, swapped in place by SIGHUP: new handshakes get the new
/// one, established connections keep theirs, the listener is never dropped.
#[derive(Debug)]
pub struct Certificate(std::sync::RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

impl Certificate {
    /// Loads the PEM chain at `cert` and key at `key` in place of the current ones, or says
    /// why not (and keeps them).
    pub fn reload(&self, cert: &str, key: &str) -> Result<(), ConfigError> {
        let loaded = certified_key(cert, key)?;
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
        Ok(())
    }
}

/// The certificate chain at `cert` with the private key at `key`, checked to match, or why not.
fn certified_key(cert: &str, key: &str) -> Result<CertifiedKey, ConfigError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        ConfigError::Tls(format!("{what} `{path}`: {e}"))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail("reading certificate", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail("reading certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(fail("reading certificate", cert, &"no certificate in it"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| fail("reading key", key, &e))?;
    CertifiedKey::from_der(chain, private, &provider())
        .map_err(|e| fail("using certificate", cert, &e))
}

fn provider() -> tokio_rustls::rustls::crypto::CryptoProvider {
    tokio_rustls::rustls::crypto::ring::default_provider()
}

/// A TLS server over the PEM certificate chain at `cert` and private key at `key` (TLS 1.2
/// and 1.3, HTTP/1.1), and the slot its certificate is kept in; or why not: a file that can't
/// be read, holds no certificate or key, or a key that doesn't match.
fn tls_acceptor(
    cert: &str,
    key: &str,
) -> Result<(tokio_rustls::TlsAcceptor, Arc<Certificate>), ConfigError> {
    let slot = Arc::new(Certificate(std::sync::RwLock::new(Arc::new(
        certified_key(cert, key)?,
    ))));
    let mut server =
        tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Tls(format!("setting up `{cert}`: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&slot) as Arc<dyn ResolvesServerCert>);
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(server)), slot))
}
