//! CA private keys at rest: AES-256-GCM under a master key, bound to the CA they belong to.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::authority::CaId;
use crate::encoding::random_bytes;
use crate::error::{CaError, Result};

const FORMAT_V1: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
const AAD_DOMAIN: &[u8] = b"yuelu-ca sealed key";
const KEY_ID_DOMAIN: &[u8] = b"yuelu-ca master key id\0";

/// The 256-bit key that seals every CA private key. Zeroized on drop; `Debug` prints only its
/// id.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
}

/// A master key's public fingerprint: the first 8 bytes of SHA-256 over a domain tag and the
/// key. Safe to log and store.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MasterKeyId([u8; KEY_ID_LEN]);

impl MasterKeyId {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeyId({})", self.to_hex())
    }
}

impl MasterKey {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    /// A key from exactly 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != Self::LEN {
            return Err(CaError::MasterKeyInvalid(format!(
                "a master key has {} bytes, got {}",
                Self::LEN,
                bytes.len()
            )));
        }
        key.copy_from_slice(bytes);
        Ok(Self { key })
    }

    /// A fresh random key (for first-time setup; store [`MasterKey::to_base64`] somewhere safe).
    pub fn generate() -> Result<Self> {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        Self::from_slice(bytes.as_slice())
    }

    /// From an environment variable's value: standard base64 of 32 bytes, surrounding
    /// whitespace ignored (what `openssl rand -base64 32` prints).
    pub fn from_env_value(value: &str) -> Result<Self> {
        let decoded = Zeroizing::new(STANDARD.decode(value.trim()).map_err(|_| {
            CaError::MasterKeyInvalid("not valid base64 (expected 32 bytes, base64)".into())
        })?);
        Self::from_slice(&decoded)
    }

    /// From a file holding either the 32 raw bytes or their base64 text (a Kubernetes Secret
    /// mounted as a file, or `openssl rand -base64 32 > key`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let contents = Zeroizing::new(std::fs::read(path).map_err(|e| {
            CaError::MasterKeyInvalid(format!("cannot read {}: {e}", path.display()))
        })?);
        if contents.len() == Self::LEN {
            return Self::from_slice(&contents);
        }
        let text = std::str::from_utf8(&contents).map_err(|_| {
            CaError::MasterKeyInvalid(format!(
                "{} holds neither 32 raw bytes nor base64 text",
                path.display()
            ))
        })?;
        Self::from_env_value(text)
    }

    /// Standard base64 of the key, for writing a newly generated key to its file or secret.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_slice()))
    }

    /// This key's public id.
    pub fn id(&self) -> MasterKeyId {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(KEY_ID_DOMAIN);
        ctx.update(self.key.as_slice());
        let digest = ctx.finish();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        MasterKeyId(id)
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.key.as_slice())
            .map_err(|_| CaError::MasterKeyInvalid("AES-256 key setup failed".into()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

/// An encrypted CA private key, as stored in the database.
///
/// Format, version 1:
///
/// ```text
/// 0x01 | master key id (8) | nonce (12) | ciphertext of PKCS#8 DER | GCM tag (16)
/// associated data = "yuelu-ca sealed key" | 0x01 | master key id | CA id (UTF-8)
/// ```
///
/// The CA id in the associated data means a blob copied onto another CA's row fails to open.
/// The master key id (a hash of the key, not secret) lets us report "wrong master key"
/// rather than "corrupt", which GCM alone cannot tell apart, and lets the API find the blobs
/// to re-seal when the master key rotates ([`SealedKey::reseal`]). Nonces are random 96-bit
/// values; a master key seals a few CA keys, far below GCM's random-nonce limits.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey(Vec<u8>);

impl SealedKey {
    /// Wraps bytes read back from storage; nothing is checked until it is opened.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id of the master key this blob was sealed under, if the blob is well formed.
    pub fn master_key_id(&self) -> Option<MasterKeyId> {
        let id = self.0.get(1..1 + KEY_ID_LEN)?;
        let mut out = [0u8; KEY_ID_LEN];
        out.copy_from_slice(id);
        (self.0.first() == Some(&FORMAT_V1)).then_some(MasterKeyId(out))
    }

    /// Encrypts `plaintext` (PKCS#8 DER) for CA `ca_id`.
    pub(crate) fn seal(master: &MasterKey, ca_id: &CaId, plaintext: &[u8]) -> Result<Self> {
        let key_id = master.id();
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes()?;
        let aad = associated_data(&key_id, ca_id);
        let ciphertext = master
            .cipher()?
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CaError::encoding("AES-GCM encryption failed"))?;
        let mut blob = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        blob.push(FORMAT_V1);
        blob.extend_from_slice(&key_id.0);
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(Self(blob))
    }

    /// Decrypts the PKCS#8 DER, checking master key and CA binding.
    pub(crate) fn open(&self, master: &MasterKey, ca_id: &CaId) -> Result<Zeroizing<Vec<u8>>> {
        let version = *self.0.first().ok_or(CaError::SealedKeyInvalid)?;
        if version != FORMAT_V1 {
            return Err(CaError::SealedFormatUnsupported(version));
        }
        if self.0.len() < HEADER_LEN + TAG_LEN {
            return Err(CaError::SealedKeyInvalid);
        }
        let sealed_with = self.master_key_id().ok_or(CaError::SealedKeyInvalid)?;
        let loaded = master.id();
        if sealed_with != loaded {
            return Err(CaError::MasterKeyMismatch {
                sealed_with: sealed_with.to_hex(),
                loaded: loaded.to_hex(),
            });
        }
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&self.0[1 + KEY_ID_LEN..HEADER_LEN]);
        let aad = associated_data(&loaded, ca_id);
        let plaintext = master
            .cipher()?
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: &self.0[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| CaError::SealedKeyInvalid)?;
        Ok(Zeroizing::new(plaintext))
    }

    /// Re-encrypts under a new master key (rotation) without the key leaving this crate.
    pub fn reseal(&self, old: &MasterKey, new: &MasterKey, ca_id: &CaId) -> Result<Self> {
        let plaintext = self.open(old, ca_id)?;
        Self::seal(new, ca_id, &plaintext)
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey({} bytes)", self.0.len())
    }
}

fn associated_data(key_id: &MasterKeyId, ca_id: &CaId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 1 + KEY_ID_LEN + ca_id.as_str().len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(FORMAT_V1);
    aad.extend_from_slice(&key_id.0);
    aad.extend_from_slice(ca_id.as_str().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(id: &str) -> CaId {
        CaId::new(id)
    }

    #[test]
    fn seal_open_round_trip_and_bindings() {
        let master = MasterKey::generate().unwrap();
        let blob = SealedKey::seal(&master, &ca("ca-1"), b"pkcs8 bytes").unwrap();
        assert_eq!(&*blob.open(&master, &ca("ca-1")).unwrap(), b"pkcs8 bytes");
        assert_eq!(blob.master_key_id(), Some(master.id()));

        let other = MasterKey::generate().unwrap();
        assert_eq!(
            blob.open(&other, &ca("ca-1")).unwrap_err().code(),
            "MASTER_KEY_MISMATCH"
        );
        assert_eq!(
            blob.open(&master, &ca("ca-2")).unwrap_err().code(),
            "SEALED_KEY_INVALID"
        );

        for i in [HEADER_LEN, blob.as_bytes().len() - 1] {
            let mut bytes = blob.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            let err = SealedKey::from_bytes(bytes)
                .open(&master, &ca("ca-1"))
                .unwrap_err();
            assert_eq!(err.code(), "SEALED_KEY_INVALID", "flipped byte {i}");
        }
        let mut bytes = blob.as_bytes().to_vec();
        bytes[0] = 2;
        let err = SealedKey::from_bytes(bytes)
            .open(&master, &ca("ca-1"))
            .unwrap_err();
        assert_eq!(err.code(), "SEALED_FORMAT_UNSUPPORTED");
        let short = SealedKey::from_bytes(blob.as_bytes()[..HEADER_LEN].to_vec());
        assert_eq!(
            short.open(&master, &ca("ca-1")).unwrap_err().code(),
            "SEALED_KEY_INVALID"
        );

        let resealed = blob.reseal(&master, &other, &ca("ca-1")).unwrap();
        assert_eq!(
            &*resealed.open(&other, &ca("ca-1")).unwrap(),
            b"pkcs8 bytes"
        );
    }

    #[test]
    fn nonces_differ_between_seals() {
        let master = MasterKey::generate().unwrap();
        let a = SealedKey::seal(&master, &ca("x"), b"k").unwrap();
        let b = SealedKey::seal(&master, &ca("x"), b"k").unwrap();
        assert_ne!(
            a.as_bytes()[1 + KEY_ID_LEN..HEADER_LEN],
            b.as_bytes()[1 + KEY_ID_LEN..HEADER_LEN]
        );
    }

    #[test]
    fn master_key_sources() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().unwrap();
        let b64 = key.to_base64();
        assert_eq!(
            MasterKey::from_env_value(&format!("  {}\n", *b64))
                .unwrap()
                .id(),
            key.id()
        );

        let text = dir.path().join("key.b64");
        std::fs::write(&text, format!("{}\n", *b64)).unwrap();
        assert_eq!(MasterKey::from_file(&text).unwrap().id(), key.id());

        let raw = dir.path().join("key.bin");
        std::fs::write(&raw, key.key.as_slice()).unwrap();
        assert_eq!(MasterKey::from_file(&raw).unwrap().id(), key.id());

        for bad in ["", "not base64!", "AAAA"] {
            assert_eq!(
                MasterKey::from_env_value(bad).unwrap_err().code(),
                "MASTER_KEY_INVALID"
            );
        }
        let missing = dir.path().join("missing");
        assert_eq!(
            MasterKey::from_file(&missing).unwrap_err().code(),
            "MASTER_KEY_INVALID"
        );
        assert!(!format!("{key:?}").contains(&*b64));
    }
}
