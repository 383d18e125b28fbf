//! Encryption at rest for credentials (SMTP passwords, provider tokens, DKIM keys).
//!
//! The key never enters the database: it is `store.secret_key` from the configuration, or
//! `herald.key` in the data directory, generated on first start with mode 0600. A copy of
//! `herald.db` alone (a backup, a stolen disk image of the file) holds only ciphertext.
//! Each value is sealed with XChaCha20-Poly1305 under a random nonce and bound to what it
//! is for (`purpose`), so a sealed value copied into another row does not open there.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::StoreError;

/// Name of the generated key file in the data directory.
pub const KEY_FILE: &str = "herald.key";
/// Marks the format of a sealed value, so a later scheme can be told apart.
const VERSION: &str = "v1";

/// Seals and opens credentials with the install's key.
#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(********)")
    }
}

fn parse_key(text: &str) -> Result<[u8; 32], StoreError> {
    let bytes = hex::decode(text.trim()).map_err(|_| bad_key())?;
    bytes.try_into().map_err(|_| bad_key())
}

fn bad_key() -> StoreError {
    StoreError::Migration(
        "store.secret_key (or herald.key) must be 64 hex characters (32 bytes)".into(),
    )
}

impl Vault {
    /// The vault of an install: `configured` (hex) if given, else the data directory's key
    /// file, created with 0600 if missing.
    pub fn open(configured: Option<&str>, data_dir: &Path) -> Result<Vault, StoreError> {
        let key = match configured.filter(|k| !k.trim().is_empty()) {
            Some(k) => parse_key(k)?,
            None => load_or_create(&data_dir.join(KEY_FILE))?,
        };
        Ok(Vault::from_key(&key))
    }

    /// A vault over a raw 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Encrypts `plain` for `purpose` (e.g. `channel:ch_…`); the result is text for a column.
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any input that fits in memory");
        format!(
            "{VERSION}:{}:{}",
            STANDARD_NO_PAD.encode(nonce),
            STANDARD_NO_PAD.encode(sealed)
        )
    }

    /// Decrypts what [`Vault::seal`] made for the same `purpose`; `None` if it was made
    /// with another key or purpose, or altered.
    pub fn open_sealed(&self, purpose: &str, sealed: &str) -> Option<String> {
        let mut parts = sealed.splitn(3, ':');
        if parts.next()? != VERSION {
            return None;
        }
        let nonce = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
        let data = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
        if nonce.len() != 24 {
            return None;
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: purpose.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

fn load_or_create(path: &Path) -> Result<[u8; 32], StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_key(&text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        Err(_) => {}
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(hex::encode(key).as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            parse_key(&std::fs::read_to_string(path)?)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_purpose() {
        let vault = Vault::from_key(&[7; 32]);
        let sealed = vault.seal("channel:a", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            vault.open_sealed("channel:a", &sealed).as_deref(),
            Some("hunter2")
        );
        assert_eq!(vault.open_sealed("channel:b", &sealed), None);
        assert_eq!(
            Vault::from_key(&[8; 32]).open_sealed("channel:a", &sealed),
            None
        );
        let mut altered = sealed.clone();
        altered.pop();
        assert_eq!(vault.open_sealed("channel:a", &altered), None);
    }

    #[test]
    fn the_key_file_is_created_once_with_owner_only_access() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open(None, dir.path()).unwrap();
        let sealed = a.seal("p", "x");
        let b = Vault::open(None, dir.path()).unwrap();
        assert_eq!(b.open_sealed("p", &sealed).as_deref(), Some("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
