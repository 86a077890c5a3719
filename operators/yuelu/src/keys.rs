//! Node keys: one ECDSA P-256 key per node signs consensus messages and, as a libp2p key, is the
//! node's peer identity. One key means a certificate issued for it by the platform CA covers
//! both roles, and the peer id of a registered node follows from its registered public key.

use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use std::fmt;
use yuelu_engine::{KeyAlgorithm, PeerId, PublicKey};

/// Why key material could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The private key file is not a PKCS#8 PEM P-256 key.
    #[error("private key: {0}")]
    PrivateKey(String),
    /// A public key is not a valid P-256 point, or not of the P-256 algorithm.
    #[error("public key: {0}")]
    PublicKey(String),
    /// A registered peer id does not follow from its registered public key.
    #[error("peer id {given} does not match the public key (expected {expected})")]
    PeerIdMismatch {
        /// The peer id given.
        given: String,
        /// The peer id the key gives.
        expected: String,
    },
}

impl KeyError {
    /// A stable code for machines.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::PrivateKey(_) => "PRIVATE_KEY_INVALID",
            KeyError::PublicKey(_) => "PUBLIC_KEY_INVALID",
            KeyError::PeerIdMismatch { .. } => "PEER_ID_MISMATCH",
        }
    }
}

/// A node's private key. Its `Debug` never prints the key.
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &hex::encode(self.public_sec1()))
            .finish()
    }
}

impl NodeKey {
    /// A fresh random key.
    pub fn generate() -> NodeKey {
        NodeKey {
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form CSR tools and the CA take.
    pub fn from_pkcs8_pem(pem: &str) -> Result<NodeKey, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|signing| NodeKey { signing })
            .map_err(|e| KeyError::PrivateKey(format!("not a PKCS#8 P-256 key: {e}")))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .map(|s| s.to_string())
            .map_err(|e| KeyError::PrivateKey(e.to_string()))
    }

    /// The raw 32-byte scalar (to derive the libp2p key). Handle with care.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes().into()
    }

    /// The ECDSA signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// SEC1 compressed public key (33 bytes).
    pub fn public_sec1(&self) -> Vec<u8> {
        self.signing
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    /// The public key as the engine publishes it.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(KeyAlgorithm::EcdsaP256, &self.public_sec1())
    }

    /// The libp2p keypair with the same secret: peer ids are stable across restarts and follow
    /// from the registered public key.
    pub fn libp2p_keypair(&self) -> Result<libp2p_identity::Keypair, KeyError> {
        let secret = libp2p_identity::ecdsa::SecretKey::try_from_bytes(self.secret_bytes())
            .map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        Ok(libp2p_identity::ecdsa::Keypair::from(secret).into())
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> Result<PeerId, KeyError> {
        Ok(PeerId(
            self.libp2p_keypair()?.public().to_peer_id().to_base58(),
        ))
    }
}

/// Decodes a registered consensus key: P-256, SEC1 (compressed or not).
pub fn decode_public_key(key: &PublicKey) -> Result<p256::ecdsa::VerifyingKey, KeyError> {
    if key.algorithm != KeyAlgorithm::EcdsaP256 {
        return Err(KeyError::PublicKey(format!(
            "the yuelu engine uses ecdsa-p256 node keys, not {:?}",
            key.algorithm
        )));
    }
    let bytes = key
        .to_bytes()
        .map_err(|e| KeyError::PublicKey(e.to_string()))?;
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
        .map_err(|_| KeyError::PublicKey("not a P-256 point".into()))
}

/// The libp2p peer id that follows from a registered consensus key.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, KeyError> {
    let vk = decode_public_key(key)?;
    let sec1 = vk.to_encoded_point(false);
    let public = libp2p_identity::ecdsa::PublicKey::try_from_bytes(sec1.as_bytes())
        .map_err(|e| KeyError::PublicKey(e.to_string()))?;
    let public: libp2p_identity::PublicKey = public.into();
    Ok(PeerId(public.to_peer_id().to_base58()))
}

/// Checks that `peer_id` is the one `key` gives.
pub fn check_peer_id(key: &PublicKey, peer_id: &PeerId) -> Result<(), KeyError> {
    let expected = peer_id_of(key)?;
    if &expected == peer_id {
        Ok(())
    } else {
        Err(KeyError::PeerIdMismatch {
            given: peer_id.0.clone(),
            expected: expected.0,
        })
    }
}

/// The consensus address of a node: the first 20 bytes of SHA-256 over its compressed public
/// key, hex. Short, fixed-size and independent of the key's encoding in the identity.
pub fn address_of(key: &p256::ecdsa::VerifyingKey) -> [u8; 20] {
    let digest = Sha256::digest(key.to_encoded_point(true).as_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[..20]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_give_stable_peer_ids() {
        let k = NodeKey::generate();
        let pem = k.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = NodeKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_sec1(), k.public_sec1());
        let pid = k.peer_id().unwrap();
        assert_eq!(back.peer_id().unwrap(), pid);
        // The peer id follows from the public key alone.
        assert_eq!(peer_id_of(&k.public_key()).unwrap(), pid);
        check_peer_id(&k.public_key(), &pid).unwrap();
        let other = NodeKey::generate().peer_id().unwrap();
        assert_eq!(
            check_peer_id(&k.public_key(), &other).unwrap_err().code(),
            "PEER_ID_MISMATCH"
        );
        assert!(!format!("{k:?}").contains(&hex::encode(k.secret_bytes())));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            NodeKey::from_pkcs8_pem("nope").unwrap_err().code(),
            "PRIVATE_KEY_INVALID"
        );
        let ed = PublicKey::from_bytes(KeyAlgorithm::Ed25519, &[0; 32]);
        assert_eq!(peer_id_of(&ed).unwrap_err().code(), "PUBLIC_KEY_INVALID");
        let junk = PublicKey::from_bytes(KeyAlgorithm::EcdsaP256, &[2; 33]);
        assert!(decode_public_key(&junk).is_err() || peer_id_of(&junk).is_ok());
    }
}
