//! DKIM keys of an email mailbox: generated (RSA-2048 or Ed25519) or imported, published
//! as a DNS TXT record the owner copies, and used to sign every message the mailbox sends.
//! Gmail and Yahoo require DKIM of bulk senders and ignore one-click unsubscribe without
//! it; RSA is what every receiver verifies, Ed25519 (RFC 8463) is short and modern.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};

/// The headers every signature covers (those a message lacks are left out).
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Reply-To",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

/// Which kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    /// The API name and the DNS record's `k=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    /// The algorithm named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(Algorithm::Rsa),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// A mailbox's signing key and what to publish for it.
#[derive(Debug, Clone, PartialEq)]
pub struct DkimKey {
    pub selector: String,
    pub algorithm: Algorithm,
    /// PKCS#1 PEM for RSA, base64 of the 32-byte seed for Ed25519 (what lettre signs with).
    pub private_key: String,
    /// The record's `p=`: base64 of the DER public key (RSA) or of the raw key (Ed25519).
    pub public_key: String,
}

/// Whether `s` can be a DNS label used as a selector.
pub fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn ed25519_from_seed(selector: &str, seed: [u8; 32]) -> DkimKey {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    DkimKey {
        selector: selector.into(),
        algorithm: Algorithm::Ed25519,
        private_key: STANDARD.encode(seed),
        public_key: STANDARD.encode(key.verifying_key().to_bytes()),
    }
}

fn rsa_key(selector: &str, key: &rsa::RsaPrivateKey) -> Result<DkimKey, String> {
    let private = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| format!("cannot encode the public key: {e}"))?;
    Ok(DkimKey {
        selector: selector.into(),
        algorithm: Algorithm::Rsa,
        private_key: private.to_string(),
        public_key: STANDARD.encode(public.as_bytes()),
    })
}

/// A new key. RSA-2048 takes a moment to generate.
pub fn generate(selector: &str, algorithm: Algorithm) -> Result<DkimKey, String> {
    match algorithm {
        Algorithm::Ed25519 => Ok(ed25519_from_seed(selector, rand::random())),
        Algorithm::Rsa => {
            let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
                .map_err(|e| format!("cannot generate the key: {e}"))?;
            rsa_key(selector, &key)
        }
    }
}

/// An existing key: RSA as PEM (PKCS#1 or PKCS#8, at least 1024 bits), Ed25519 as the
/// base64 of its 32-byte seed.
pub fn import(selector: &str, algorithm: Algorithm, private: &str) -> Result<DkimKey, String> {
    let private = private.trim();
    match algorithm {
        Algorithm::Ed25519 => {
            let seed: [u8; 32] = STANDARD
                .decode(private)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("must be the base64 of a 32-byte Ed25519 seed")?;
            Ok(ed25519_from_seed(selector, seed))
        }
        Algorithm::Rsa => {
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(private)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(private))
                .map_err(|_| "must be an RSA private key in PEM (PKCS#1 or PKCS#8)")?;
            if rsa::traits::PublicKeyParts::size(&key) * 8 < 1024 {
                return Err("must have at least 1024 bits (2048 recommended)".into());
            }
            rsa_key(selector, &key)
        }
    }
}

impl DkimKey {
    /// Where the record goes: `<selector>._domainkey.<domain>`.
    pub fn dns_name(&self, domain: &str) -> String {
        format!("{}._domainkey.{domain}", self.selector)
    }

    /// The TXT record's text.
    pub fn dns_record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.as_str(),
            self.public_key
        )
    }

    /// The signing configuration for mail from `domain` (relaxed/relaxed, which survives
    /// the re-wrapping relays do).
    pub fn signing_config(&self, domain: &str) -> Result<DkimConfig, String> {
        let algorithm = match self.algorithm {
            Algorithm::Rsa => DkimSigningAlgorithm::Rsa,
            Algorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
        };
        let key = DkimSigningKey::new(&self.private_key, algorithm)
            .map_err(|e| format!("the DKIM key does not load: {e}"))?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect();
        Ok(DkimConfig::new(
            self.selector.clone(),
            domain.to_string(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_ed25519_seed_gives_the_same_public_key_as_generating_it() {
        let made = generate("herald", Algorithm::Ed25519).unwrap();
        let again = import("herald", Algorithm::Ed25519, &made.private_key).unwrap();
        assert_eq!(made, again);
        assert!(made.dns_record().starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(made.dns_name("acme.test"), "herald._domainkey.acme.test");
        assert!(import("herald", Algorithm::Rsa, "not a key").is_err());
        assert!(!valid_selector("-bad") && valid_selector("s2026"));
    }
}
