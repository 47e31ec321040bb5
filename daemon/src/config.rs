//! The daemon's settings: command-line flags over an optional TOML file over defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("config file `{path}`: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The audit retention isn't a duration.
    #[error("invalid audit retention `{0}` (e.g. 90d, 12h, 30m, or 0 for forever)")]
    Retention(String),
    /// A peer is neither an address nor a CIDR.
    #[error("invalid peer `{0}` (an IP address or CIDR, e.g. 10.0.0.0/8)")]
    Peer(String),
    /// The HTTP API's certificate or key does not load.
    #[error("HTTP TLS: {0}")]
    Tls(String),
}

/// The settings a `serve` runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`.
    pub db: String,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// SIP listen address (UDP and TCP).
    pub sip: SocketAddr,
    /// Unix socket for in-process replicas, if any.
    pub feed: Option<PathBuf>,
    /// The feed socket's mode, in octal (`0660`).
    pub feed_mode: String,
    /// The group the feed socket is given (a name in `/etc/group`, or a gid), if any.
    pub feed_group: Option<String>,
    /// Uids whose processes may connect to the feed (root always may); default: the daemon's.
    pub feed_allow_uids: Option<Vec<u32>>,
    /// Gids whose processes may connect to the feed; default: the daemon's and `feed_group`'s.
    pub feed_allow_gids: Option<Vec<u32>>,
    /// Addresses or CIDRs allowed to ask over SIP.
    pub peers: Vec<String>,
    /// Load the demo directory into an empty store.
    pub demo: bool,
    /// Log JSON lines instead of text.
    pub log_json: bool,
    /// How long `min_revision` may wait, in milliseconds.
    pub min_revision_wait_ms: u64,
    /// Most concurrent SIP TCP connections.
    pub max_tcp_connections: usize,
    /// Most concurrent SIP TCP connections from one source address.
    pub max_tcp_connections_per_peer: usize,
    /// How long a SIP message may take to arrive whole over TCP once its first byte has (ms).
    pub sip_message_deadline_ms: u64,
    /// Most bytes of SIP answers kept for retransmissions (oldest evicted first).
    pub sip_retransmit_cache_bytes: usize,
    /// Allows recorded in the audit trail: 0 none, 1 all, N one in N. Denials always are.
    pub audit_allows: u64,
    /// How long decision records are kept (`90d`, `12h`, `30m`); `0` keeps them forever.
    pub audit_retention: String,
    /// The audit queue's size: what a burst of denials may queue before overflow is counted.
    pub audit_queue: usize,
    /// Largest HTTP check body, in bytes (larger: 413).
    pub http_check_body_limit: usize,
    /// Largest HTTP admin write or import body, in bytes (larger: 413).
    pub http_admin_body_limit: usize,
    /// Addresses or CIDRs allowed to ask the HTTP checks (others: 403, not audited).
    pub http_check_peers: Vec<String>,
    /// A PEM certificate chain: the HTTP API speaks only TLS (HTTPS) when it and
    /// `http_tls_key` are set.
    pub http_tls_cert: Option<String>,
    /// The PEM private key of `http_tls_cert`.
    pub http_tls_key: Option<String>,
    /// STIR/SHAKEN: the provider's P-256 private key (PEM). With `shaken_x5u` and
    /// `shaken_origid`, every caller-ID answer with an attestation is signed.
    pub shaken_key: Option<String>,
    /// STIR/SHAKEN: the https:// URL the key's certificate is published at.
    pub shaken_x5u: Option<String>,
    /// STIR/SHAKEN: the PASSporT's `origid`: a UUID, or `tenant` for one per tenant.
    pub shaken_origid: Option<String>,
    /// STIR/SHAKEN: the certificate (PEM), checked at start to hold the key's public key.
    pub shaken_cert: Option<String>,
    /// Whether HTTP checks need a bearer token (`callgate token`); a tenant's token checks
    /// only that tenant.
    pub http_check_token_required: bool,
    /// Most concurrent HTTP connections (more wait in the listen backlog).
    pub http_max_connections: usize,
    /// Most concurrent HTTP connections from one address (more are closed at once).
    pub http_max_connections_per_address: usize,
    /// How long a client may take to send a request's headers, and to start the next one on
    /// a kept-alive connection, in milliseconds.
    pub http_header_timeout_ms: u64,
    /// How long a client may take to send a request's body, in milliseconds.
    pub http_body_timeout_ms: u64,
    /// The platform-wide emergency numbers, honoured for every tenant (known or not) on top
    /// of each tenant's own; sent to every replica.
    pub emergency_numbers: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            db: "sqlite://callgate.db".into(),
            http: SocketAddr::from(([127, 0, 0, 1], 8070)),
            sip: SocketAddr::from(([127, 0, 0, 1], 5070)),
            feed: None,
            feed_mode: "0660".into(),
            feed_group: None,
            feed_allow_uids: None,
            feed_allow_gids: None,
            peers: vec!["127.0.0.0/8".into(), "::1/128".into()],
            demo: false,
            log_json: false,
            min_revision_wait_ms: 200,
            max_tcp_connections: 1024,
            max_tcp_connections_per_peer: 64,
            sip_message_deadline_ms: 5000,
            sip_retransmit_cache_bytes: 16 << 20,
            audit_allows: 0,
            audit_retention: "90d".into(),
            audit_queue: 65_536,
            http_check_body_limit: 8 << 10,
            http_admin_body_limit: 64 << 20,
            http_check_peers: vec!["127.0.0.0/8".into(), "::1/128".into()],
            http_tls_cert: None,
            http_tls_key: None,
            shaken_key: None,
            shaken_x5u: None,
            shaken_origid: None,
            shaken_cert: None,
            http_check_token_required: false,
            http_max_connections: 512,
            http_max_connections_per_address: 64,
            http_header_timeout_ms: 5_000,
            http_body_timeout_ms: 30_000,
            emergency_numbers: callgate::dial::DEFAULT_EMERGENCY
                .iter()
                .map(|n| (*n).to_string())
                .collect(),
        }
    }
}

impl Config {
    /// The STIR/SHAKEN signer the `shaken_*` keys ask for, if any.
    pub fn signer(&self) -> Result<Option<crate::shaken::Signer>, crate::shaken::ShakenError> {
        crate::shaken::Signer::from_settings(&crate::shaken::Settings {
            key: self.shaken_key.as_deref(),
            x5u: self.shaken_x5u.as_deref(),
            origid: self.shaken_origid.as_deref(),
            cert: self.shaken_cert.as_deref(),
        })
    }

    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// The configured peers, parsed.
    pub fn peer_set(&self) -> Result<Peers, ConfigError> {
        Peers::parse(&self.peers)
    }

    /// The audit retention as a duration (`None`: forever).
    pub fn audit_retention(&self) -> Result<Option<Duration>, ConfigError> {
        parse_duration(&self.audit_retention)
            .map_err(|_| ConfigError::Retention(self.audit_retention.clone()))
    }

    /// `min_revision`'s bound.
    pub fn min_revision_wait(&self) -> Duration {
        Duration::from_millis(self.min_revision_wait_ms)
    }
}

/// A text [`parse_duration`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration like `90d`, `12h`, `30m` or `45s` (`0`: forever)")]
pub struct BadDuration(pub String);

/// `90d`, `12h`, `30m`, `45s` → a duration; `0` → none (forever).
pub fn parse_duration(text: &str) -> Result<Option<Duration>, BadDuration> {
    let bad = || BadDuration(text.to_string());
    let text = text.trim();
    if text == "0" {
        return Ok(None);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if secs == 0 {
        Ok(None)
    } else {
        Ok(Some(Duration::from_secs(secs)))
    }
}

/// The SIP peers allowed an answer.
#[derive(Debug, Clone, Default)]
pub struct Peers(Vec<IpNet>);

impl Peers {
    /// Parses addresses (`10.0.0.5`) and CIDRs (`10.0.0.0/8`).
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Peers, ConfigError> {
        list.iter()
            .flat_map(|s| s.as_ref().split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError::Peer(s.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(Peers)
    }

    /// Whether `addr` may ask.
    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&addr))
    }
}

/// `url` with its password, if any, replaced by `***` (it goes into error messages and logs).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_match_addresses_and_cidrs() {
        let p = Peers::parse(&["10.0.0.0/8", "192.0.2.7", "::1"]).unwrap();
        assert!(p.allows("10.1.2.3".parse().unwrap()));
        assert!(p.allows("192.0.2.7".parse().unwrap()));
        assert!(!p.allows("192.0.2.8".parse().unwrap()));
        assert!(p.allows("::1".parse().unwrap()));
        assert!(p.allows("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Peers::parse(&["nonsense"]).is_err());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(
            parse_duration("90d"),
            Ok(Some(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(
            parse_duration("12h"),
            Ok(Some(Duration::from_secs(12 * 3_600)))
        );
        assert_eq!(parse_duration("0"), Ok(None));
        assert!(parse_duration("ninety").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
