//! Random tokens and their stored hashes.
//!
//! Tokens carry 256 bits of randomness, so a fast SHA-256 is the right stored form:
//! nothing to brute-force, and a lookup by hash stays an index probe.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh random token: `prefix` followed by 64 hex characters (256 bits).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The form a token is stored and looked up in.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
