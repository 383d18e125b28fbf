//! Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, keyed by the secret's bytes. An endpoint's secret is kept
//! as given (the seed's 32-byte hex by default); its `whsec_` form, what Standard Webhooks
//! libraries take, carries the same key bytes in base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes in a generated secret (the seed's "random 32-byte hex secret").
const SECRET_BYTES: usize = 32;

/// A fresh secret: 32 random bytes as 64 hex digits.
pub fn new_secret() -> String {
    let bytes: Vec<u8> = (0..SECRET_BYTES).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// The HMAC key a secret stands for: a `whsec_` secret's base64 bytes, a hex secret's
/// bytes, or else the text's own bytes.
pub fn key_of(secret: &str) -> Vec<u8> {
    if let Some(b64) = secret.strip_prefix("whsec_") {
        return STANDARD
            .decode(b64)
            .unwrap_or_else(|_| b64.as_bytes().to_vec());
    }
    if secret.len() >= 32
        && secret.len().is_multiple_of(2)
        && let Ok(bytes) = hex::decode(secret)
    {
        return bytes;
    }
    secret.as_bytes().to_vec()
}

/// The `whsec_…` form of a secret, for Standard Webhooks libraries.
pub fn whsec(secret: &str) -> String {
    format!("whsec_{}", STANDARD.encode(key_of(secret)))
}

/// `v1,<base64 signature>` of one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_of(secret)).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret still valid, space-separated
/// (during a rotation's grace period both the new and the old one).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_whsec_forms_sign_alike() {
        let secret = new_secret();
        assert_eq!(secret.len(), 64);
        let a = sign(&secret, "msg_1", 1_700_000_000, "{}");
        let b = sign(&whsec(&secret), "msg_1", 1_700_000_000, "{}");
        assert_eq!(a, b);
        assert!(a.starts_with("v1,"));
    }
}
