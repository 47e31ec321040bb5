//! STIR/SHAKEN signing: a caller-ID answer's attestation, signed as a PASSporT (RFC 8225, ES256)
//! with the SHAKEN extension (RFC 8588), carried in an `Identity` header (RFC 8224).
//!
//! Configured by `shaken_key` (the provider's P-256 private key, PEM: SEC1 or PKCS#8),
//! `shaken_x5u` (the HTTPS URL its certificate is published at, which verifiers fetch),
//! `shaken_origid` (a UUID, or `tenant` for a UUID derived from the tenant id) and optionally
//! `shaken_cert` (the certificate, PEM, checked at start to hold the key's public key). A key
//! or certificate that does not load stops the daemon at start with the reason: a platform
//! that asked for signing never silently sends unsigned calls.
//!
//! Signing is a few tens of microseconds of arithmetic, with no I/O. A call it fails for
//! goes out unsigned and is counted (`callgate_shaken_calls_total{signed="no"}`); an
//! emergency call is never held up by it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callgate::E164;
use callgate::attest::Level;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Calls signed (`signed="yes"`) or not (`"no"`: signing failed), by attestation level.
pub const SHAKEN_CALLS: &str = "callgate_shaken_calls_total";

/// Why signing is not set up.
#[derive(Debug, thiserror::Error)]
pub enum ShakenError {
    /// Some of the settings are there, not all.
    #[error("STIR/SHAKEN signing needs shaken_key, shaken_x5u and shaken_origid together")]
    Incomplete,
    /// The key file cannot be read or is not a P-256 private key.
    #[error("shaken_key `{path}`: {why}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The certificate file cannot be read, parsed, or does not hold the key's public key.
    #[error("shaken_cert `{path}`: {why}")]
    Cert {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The certificate URL is not one a verifier can fetch, or cannot go into a header.
    #[error(
        "shaken_x5u `{0}`: must be an https:// (or http://) URL without spaces, quotes, `<`, `>` or `;`"
    )]
    X5u(String),
    /// The origid is neither a UUID nor `tenant`.
    #[error("shaken_origid `{0}`: must be a UUID (8-4-4-4-12 hex digits) or `tenant`")]
    Origid(String),
}

/// Where a PASSporT's `origid` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origid {
    /// The same UUID for every call.
    Fixed(String),
    /// A UUID derived from the tenant id (RFC 9562 §5.8, SHA-256 name-based), so each
    /// customer's calls can be traced back to it without a table to keep.
    PerTenant,
}

/// The provider's signing identity.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
    x5u: String,
    origid: Origid,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("x5u", &self.x5u)
            .field("origid", &self.origid)
            .finish_non_exhaustive()
    }
}

/// The settings that make a [`Signer`].
#[derive(Debug, Clone, Default)]
pub struct Settings<'a> {
    /// `shaken_key`.
    pub key: Option<&'a str>,
    /// `shaken_x5u`.
    pub x5u: Option<&'a str>,
    /// `shaken_origid`.
    pub origid: Option<&'a str>,
    /// `shaken_cert`.
    pub cert: Option<&'a str>,
}

impl Signer {
    /// The signer the settings ask for: `None` when none of them is set.
    pub fn from_settings(s: &Settings<'_>) -> Result<Option<Signer>, ShakenError> {
        let (key, x5u, origid) = match (s.key, s.x5u, s.origid) {
            (None, None, None) if s.cert.is_none() => return Ok(None),
            (Some(k), Some(x), Some(o)) => (k, x, o),
            _ => return Err(ShakenError::Incomplete),
        };
        let key = load_key(key)?;
        if let Some(cert) = s.cert {
            check_cert(cert, &key)?;
        }
        let rng = ring::rand::SystemRandom::new();
        let refused = |why: String| ShakenError::Key {
            path: s.key.unwrap_or_default().to_string(),
            why,
        };
        let pkcs8 = key.to_pkcs8_der().map_err(|e| refused(e.to_string()))?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_bytes(), &rng)
                .map_err(|e| refused(e.to_string()))?;
        Ok(Some(Signer {
            key,
            rng,
            x5u: checked_x5u(x5u)?,
            origid: parse_origid(origid)?,
        }))
    }

    /// The `Identity` header value (RFC 8224 §4.1) for a call of `tenant` presenting `orig`
    /// to `dialed`, at `level`, issued now. `None` (counted as unsigned) only if the signature
    /// fails: the call goes out unsigned.
    pub fn identity(&self, level: Level, tenant: &str, orig: E164, dialed: &str) -> Option<String> {
        let Some(token) = self.passport(level, tenant, orig, dialed, now()) else {
            tracing::warn!(
                tenant,
                attest = level.as_str(),
                "STIR/SHAKEN: signing failed; the call goes out unsigned"
            );
            metrics::counter!(SHAKEN_CALLS, "attest" => level.as_str(), "signed" => "no")
                .increment(1);
            return None;
        };
        metrics::counter!(SHAKEN_CALLS, "attest" => level.as_str(), "signed" => "yes").increment(1);
        Some(format!("{token};info=<{}>;alg=ES256;ppt=shaken", self.x5u))
    }

    /// The PASSporT, in compact form: base64url(header).base64url(claims).base64url(signature).
    fn passport(
        &self,
        level: Level,
        tenant: &str,
        orig: E164,
        dialed: &str,
        iat: u64,
    ) -> Option<String> {
        // Members in lexicographic order (RFC 8225 §9), so the JSON is the canonical form.
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            ppt: &'static str,
            typ: &'static str,
            x5u: &'a str,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            attest: &'static str,
            dest: Dest,
            iat: u64,
            orig: Orig,
            origid: &'a str,
        }
        #[derive(Serialize)]
        struct Orig {
            tn: String,
        }
        let header = Header {
            alg: "ES256",
            ppt: "shaken",
            typ: "passport",
            x5u: &self.x5u,
        };
        let origid = match &self.origid {
            Origid::Fixed(id) => id.clone(),
            Origid::PerTenant => tenant_uuid(tenant),
        };
        let claims = Claims {
            attest: level.as_str(),
            dest: Dest::of(dialed),
            iat,
            orig: Orig {
                tn: canonical_tn(orig),
            },
            origid: &origid,
        };
        let mut token = String::with_capacity(512);
        // Serialising plain strings and numbers cannot fail.
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default()));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default()));
        let signature = self.key.sign(&self.rng, token.as_bytes()).ok()?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Some(token)
    }
}

/// The called party: its telephone number when the dial string is one, else the dialed URI.
#[derive(Serialize)]
enum Dest {
    #[serde(rename = "tn")]
    Tn([String; 1]),
    #[serde(rename = "uri")]
    Uri([String; 1]),
}

impl Dest {
    fn of(dialed: &str) -> Dest {
        match dialed_tn(dialed) {
            Some(tn) => Dest::Tn([tn]),
            None => Dest::Uri([dialed.to_string()]),
        }
    }
}

/// The digits of a dialed number (`sip:+1 (555) 010-0000@host;user=phone`, `tel:911`,
/// `5551234`), as RFC 8224 §8.3 canonicalises a telephone number: no `+`, no separators.
fn dialed_tn(dialed: &str) -> Option<String> {
    let rest = dialed
        .strip_prefix("sips:")
        .or_else(|| dialed.strip_prefix("sip:"))
        .or_else(|| dialed.strip_prefix("tel:"))
        .unwrap_or(dialed);
    let user = rest.split(['@', ';']).next().unwrap_or("");
    let user = user.strip_prefix('+').unwrap_or(user);
    let digits: String = user
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    (!digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// An E.164 number as a PASSporT carries it: digits, no `+`.
fn canonical_tn(n: E164) -> String {
    let text = n.to_string();
    text.strip_prefix('+').unwrap_or(&text).to_string()
}

/// A UUID named by the tenant id: SHA-256 of a fixed namespace and the id, with the version
/// (8) and variant bits of RFC 9562 §5.8 set.
fn tenant_uuid(tenant: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"callgate origid\0");
    h.update(tenant.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn load_key(path: &str) -> Result<SigningKey, ShakenError> {
    let refused = |why: String| ShakenError::Key {
        path: path.to_string(),
        why,
    };
    let pem = std::fs::read_to_string(Path::new(path)).map_err(|e| refused(e.to_string()))?;
    if pem.contains("BEGIN EC PRIVATE KEY") {
        let key = p256::SecretKey::from_sec1_pem(&pem)
            .map_err(|_| refused("not a P-256 (prime256v1) EC private key".into()))?;
        return Ok(SigningKey::from(key));
    }
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
        refused("not a P-256 private key in PEM (`EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`)".into())
    })
}

fn check_cert(path: &str, key: &SigningKey) -> Result<(), ShakenError> {
    use x509_cert::der::{DecodePem, Encode};
    let refused = |why: String| ShakenError::Cert {
        path: path.to_string(),
        why,
    };
    let pem = std::fs::read(Path::new(path)).map_err(|e| refused(e.to_string()))?;
    let cert = x509_cert::Certificate::from_pem(&pem)
        .map_err(|e| refused(format!("not a PEM X.509 certificate ({e})")))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| refused(e.to_string()))?;
    let ours = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| refused(e.to_string()))?;
    if spki != ours.as_bytes() {
        return Err(refused("its public key is not shaken_key's".into()));
    }
    Ok(())
}

fn checked_x5u(x5u: &str) -> Result<String, ShakenError> {
    let ok = (x5u.starts_with("https://") || x5u.starts_with("http://"))
        && x5u.len() <= 1024
        && x5u
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b';' | b'\\'));
    if ok {
        Ok(x5u.to_string())
    } else {
        Err(ShakenError::X5u(x5u.to_string()))
    }
}

fn parse_origid(origid: &str) -> Result<Origid, ShakenError> {
    if origid == "tenant" {
        return Ok(Origid::PerTenant);
    }
    let groups: Vec<&str> = origid.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let ok = groups.len() == shape.len()
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(Origid::Fixed(origid.to_ascii_lowercase()))
    } else {
        Err(ShakenError::Origid(origid.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialed_numbers_are_canonical_telephone_numbers() {
        assert_eq!(
            dialed_tn("sip:+1 (555) 010-0000@acme;user=phone").as_deref(),
            Some("15550100000")
        );
        assert_eq!(dialed_tn("tel:911").as_deref(), Some("911"));
        assert_eq!(dialed_tn("5551234").as_deref(), Some("5551234"));
        assert_eq!(dialed_tn("urn:service:sos"), None);
        assert_eq!(dialed_tn("*72*5551234"), None);
        assert_eq!(dialed_tn("sip:1234567890123456@x"), None);
    }

    #[test]
    fn origids_are_uuids_or_per_tenant() {
        assert_eq!(parse_origid("tenant").ok(), Some(Origid::PerTenant));
        assert!(parse_origid("123E4567-e89b-12d3-a456-426655440000").is_ok());
        assert!(parse_origid("123e4567-e89b-12d3-a456-42665544000").is_err());
        assert!(parse_origid("x").is_err());
        let a = tenant_uuid("acme");
        assert_eq!(a, tenant_uuid("acme"));
        assert_ne!(a, tenant_uuid("globex"));
        assert!(parse_origid(&a).is_ok());
        assert_eq!(a.as_bytes()[14], b'8', "version 8: {a}");
    }

    #[test]
    fn an_x5u_must_be_a_url_that_fits_in_a_header() {
        assert!(checked_x5u("https://cert.example.org/sp.pem").is_ok());
        for bad in [
            "ftp://x",
            "https://x/a b",
            "https://x/>;evil",
            "https://x/\r\nX: y",
            "cert.pem",
        ] {
            assert!(checked_x5u(bad).is_err(), "{bad:?}");
        }
    }
}
