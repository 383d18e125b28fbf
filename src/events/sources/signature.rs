//! Provider signature checks for inbound deliveries: Standard Webhooks and Stripe.
//!
//! Both sign the raw body with HMAC-SHA256 and a timestamp, so a captured delivery cannot
//! be replayed after the tolerance window; comparisons run in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::spec::{Scheme, standard_key};
use crate::auth::secrets::constant_time_eq;

/// How far a signed timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The Standard Webhooks signature (`v1,<base64>`) of a delivery.
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// The Stripe `v1` signature (hex) of a delivery.
pub fn sign_stripe(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    hex::encode(hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body]))
}

/// Checks a delivery against the source's scheme. `header` reads a request header by
/// (lower-case) name; `now` is Unix seconds. The error is the reason recorded.
pub fn verify(
    scheme: Scheme,
    secret: Option<&str>,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let secret = match (scheme, secret) {
        (Scheme::None, _) => return Ok(()),
        (_, Some(secret)) => secret,
        (_, None) => return Err("source has no signing secret".into()),
    };
    match scheme {
        Scheme::None => Ok(()),
        Scheme::Standard => verify_standard(secret, &header, body, now),
        Scheme::Stripe => verify_stripe(secret, &header, body, now),
    }
}

fn fresh(timestamp: &str, now: i64) -> Result<i64, String> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| format!("signature timestamp '{timestamp}' is not a Unix time"))?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err("signature timestamp is outside the 5-minute tolerance".into());
    }
    Ok(ts)
}

fn verify_standard(
    secret: &str,
    header: &impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let key = standard_key(secret)?;
    let id = header("webhook-id").ok_or("missing webhook-id header")?;
    let timestamp = header("webhook-timestamp").ok_or("missing webhook-timestamp header")?;
    let signatures = header("webhook-signature").ok_or("missing webhook-signature header")?;
    let ts = fresh(&timestamp, now)?;
    let expected = sign_standard(&key, &id, ts, body);
    let expected = expected.as_bytes();
    let matched = signatures
        .split_whitespace()
        .filter(|s| s.starts_with("v1,"))
        .fold(false, |ok, s| constant_time_eq(s.as_bytes(), expected) | ok);
    if matched {
        Ok(())
    } else {
        Err("no webhook-signature matched".into())
    }
}

fn verify_stripe(
    secret: &str,
    header: &impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let value = header("stripe-signature").ok_or("missing Stripe-Signature header")?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_string()),
            Some(("v1", sig)) => candidates.push(sig.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("Stripe-Signature has no t= timestamp")?;
    if candidates.is_empty() {
        return Err("Stripe-Signature has no v1 signature".into());
    }
    let ts = fresh(&timestamp, now)?;
    let expected = sign_stripe(secret, ts, body);
    let matched = candidates.iter().fold(false, |ok, c| {
        constant_time_eq(c.as_bytes(), expected.as_bytes()) | ok
    });
    if matched {
        Ok(())
    } else {
        Err("no Stripe-Signature v1 signature matched".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn standard_accepts_any_matching_signature_and_refuses_stale_ones() {
        let secret = format!("whsec_{}", STANDARD.encode(b"key"));
        let body = br#"{"a":1}"#;
        let good = sign_standard(b"key", "msg_1", 1000, body);
        let h = headers(vec![
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", "1000".into()),
            ("webhook-signature", format!("v1,bogus {good}")),
        ]);
        assert_eq!(
            verify(Scheme::Standard, Some(&secret), &h, body, 1100),
            Ok(())
        );
        assert!(verify(Scheme::Standard, Some(&secret), &h, body, 2000).is_err());
        assert!(verify(Scheme::Standard, Some(&secret), &h, b"{}", 1000).is_err());
    }

    #[test]
    fn stripe_checks_hex_hmac_of_timestamp_and_body() {
        let body = br#"{"type":"x"}"#;
        let sig = sign_stripe("whsec_abc", 500, body);
        let h = headers(vec![("stripe-signature", format!("t=500,v1=00,v1={sig}"))]);
        assert_eq!(
            verify(Scheme::Stripe, Some("whsec_abc"), &h, body, 600),
            Ok(())
        );
        assert!(verify(Scheme::Stripe, Some("other"), &h, body, 600).is_err());
    }
}
