//! Transactions: what clients sign and submit.
//!
//! A transaction is an envelope `{"body": "<JSON text>", "signatures": [...]}`. The body is
//! carried as a string so that signers and verifiers hash the very same bytes, whatever JSON
//! library each side uses. Each signature is ECDSA P-256 with SHA-256 over the body bytes,
//! DER-encoded, by the key of an X.509 certificate that a CA of the network's trust roots
//! issued.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use yuelu_engine::{ChainId, NodeIdentity, NodeName, TrustRoots};

/// Largest accepted body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Largest accepted envelope (body, certificates and signatures), in bytes.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Most signatures on one transaction (governance approvals).
pub const MAX_SIGNATURES: usize = 64;

/// How many member organisations' admins must approve a governance transaction: more than two
/// thirds of the organisations that run validators, as for the validators' own votes.
pub fn admin_quorum(member_orgs: usize) -> usize {
    member_orgs * 2 / 3 + 1
}

/// Why a transaction is refused. Every variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The envelope or body is not well-formed.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The body names another chain.
    #[error("transaction is for chain {got}, this is {want}")]
    WrongChain {
        /// Chain named in the body.
        got: String,
        /// This chain.
        want: String,
    },
    /// A signature does not verify.
    #[error("signature invalid: {0}")]
    SignatureInvalid(String),
    /// A certificate is not issued by a CA of the network's trust roots, is expired, or is
    /// unusable.
    #[error("certificate not trusted: {0}")]
    CertificateUntrusted(String),
    /// The signer's nonce (or the whole transaction) was seen before.
    #[error("nonce {nonce} already used by this signer")]
    NonceReplayed {
        /// The nonce.
        nonce: u64,
    },
    /// The same transaction was submitted before.
    #[error("transaction {0} already known")]
    Duplicate(String),
    /// The hash was notarized before.
    #[error("hash {0} is already notarized")]
    AlreadyNotarized(String),
    /// A governance transaction is not approved by enough member admins, or is inconsistent.
    #[error("governance: {0}")]
    Governance(String),
    /// The pool is full; try again later.
    #[error("transaction pool is full")]
    PoolFull,
}

impl TxError {
    /// A stable code for machines.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::Malformed(_) => "TX_MALFORMED",
            TxError::WrongChain { .. } => "WRONG_CHAIN",
            TxError::SignatureInvalid(_) => "SIGNATURE_INVALID",
            TxError::CertificateUntrusted(_) => "CERTIFICATE_UNTRUSTED",
            TxError::NonceReplayed { .. } => "NONCE_REPLAYED",
            TxError::Duplicate(_) => "TX_DUPLICATE",
            TxError::AlreadyNotarized(_) => "ALREADY_NOTARIZED",
            TxError::Governance(_) => "GOVERNANCE_REJECTED",
            TxError::PoolFull => "TXPOOL_FULL",
        }
    }
}

/// A transaction id: SHA-256 of the body bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub [u8; 32]);

impl TxId {
    /// The id of a body.
    pub fn of_body(body: &[u8]) -> TxId {
        TxId(Sha256::digest(body).into())
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<TxId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(TxId(out))
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({self})")
    }
}

/// One signature on a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TxSignature {
    /// The signer's X.509 certificate, DER, base64 (standard alphabet, padded).
    pub certificate: String,
    /// ECDSA P-256 SHA-256 signature over the body bytes, DER, base64.
    pub signature: String,
}

/// The envelope clients submit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedTx {
    /// The body as JSON text: exactly the bytes that were signed.
    pub body: String,
    /// One signature (the sender) for ordinary transactions; one per approving member admin
    /// for governance.
    pub signatures: Vec<TxSignature>,
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TxKind {
    /// Records a hash (of a document, a file...) with metadata; a hash is notarized once.
    #[serde(rename_all = "camelCase")]
    Notarize {
        /// The hash, lowercase hex, 32 to 64 bytes (SHA-256, SM3, SHA-512...).
        hash: String,
        /// Metadata (a JSON object).
        #[serde(default)]
        metadata: serde_json::Map<String, serde_json::Value>,
    },
    /// Appends an event to an item's history (traceability).
    #[serde(rename_all = "camelCase")]
    Trace {
        /// The item's id.
        item: String,
        /// The event (any JSON value).
        event: serde_json::Value,
    },
    /// Sets a key in a namespace.
    #[serde(rename_all = "camelCase")]
    Put {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Changes the set of registered nodes: validators and observers in `add` join (their
    /// role says which), nodes in `remove` leave and are refused as peers from then on. May
    /// also record CA certificates as organisations' trust roots on the chain (an organisation
    /// that joins after the genesis brings its CAs this way).
    #[serde(rename_all = "camelCase")]
    Governance {
        /// Nodes to register.
        #[serde(default)]
        add: Vec<NodeIdentity>,
        /// Nodes to remove (revoke).
        #[serde(default)]
        remove: Vec<NodeName>,
        /// CA certificates (a PEM bundle) to add to an organisation's trust roots, by
        /// organisation. Once committed, every node trusts them from the next block on and
        /// counts certificates they issued for that organisation. Left out of the body when
        /// empty, so bodies without it are the bodies of earlier versions.
        #[serde(default, skip_serializing_if = "TrustRoots::is_empty")]
        trust_roots: TrustRoots,
    },
}

impl TxKind {
    /// The kind's name, as in the body's `kind` field.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Notarize { .. } => "notarize",
            TxKind::Trace { .. } => "trace",
            TxKind::Put { .. } => "put",
            TxKind::Governance { .. } => "governance",
        }
    }
}

/// The signed content of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxBody {
    /// The chain it is for (no replay across chains).
    pub chain_id: ChainId,
    /// The signer's nonce: each (signer, nonce) pair is accepted once.
    pub nonce: u64,
    /// What it does.
    #[serde(flatten)]
    pub kind: TxKind,
}

fn short_text(field: &str, s: &str, max: usize) -> Result<(), TxError> {
    if s.is_empty() || s.len() > max || s.chars().any(char::is_control) {
        return Err(TxError::Malformed(format!(
            "{field} must be 1-{max} bytes of printable text"
        )));
    }
    Ok(())
}

impl TxBody {
    /// Parses and checks a body's JSON text (not its signatures).
    pub fn parse(body: &str, chain: &ChainId) -> Result<TxBody, TxError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(TxError::Malformed(format!(
                "body is {} bytes, at most {MAX_BODY_BYTES}",
                body.len()
            )));
        }
        let parsed: TxBody =
            serde_json::from_str(body).map_err(|e| TxError::Malformed(format!("body: {e}")))?;
        if &parsed.chain_id != chain {
            return Err(TxError::WrongChain {
                got: parsed.chain_id.to_string(),
                want: chain.to_string(),
            });
        }
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), TxError> {
        match &self.kind {
            TxKind::Notarize { hash, .. } => {
                let ok = hash.len() >= 64
                    && hash.len() <= 128
                    && hash.len() % 2 == 0
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !ok {
                    return Err(TxError::Malformed(
                        "hash must be 32 to 64 bytes in lowercase hex".into(),
                    ));
                }
            }
            TxKind::Trace { item, .. } => short_text("item", item, 256)?,
            TxKind::Put {
                namespace,
                key,
                value,
            } => {
                short_text("namespace", namespace, 64)?;
                short_text("key", key, 256)?;
                if value.len() > 8 * 1024 {
                    return Err(TxError::Malformed("value is above 8 KiB".into()));
                }
            }
            TxKind::Governance {
                add,
                remove,
                trust_roots,
            } => {
                if add.is_empty() && remove.is_empty() && trust_roots.is_empty() {
                    return Err(TxError::Malformed(
                        "a governance transaction adds or removes at least one node, or adds trust roots"
                            .into(),
                    ));
                }
                crate::genesis::check_identities(add, false)
                    .map_err(|e| TxError::Malformed(e.to_string()))?;
                // The certificates themselves are parsed where they are applied (the node);
                // here only what needs no X.509 parser.
                for (org, pem) in &trust_roots.0 {
                    if !pem.contains("-----BEGIN CERTIFICATE-----") {
                        return Err(TxError::Malformed(format!(
                            "trust roots of {org} hold no PEM certificate"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("c1").unwrap()
    }

    #[test]
    fn bodies_parse_and_bad_ones_get_codes() {
        let ok = r#"{"chainId":"c1","nonce":1,"kind":"notarize","hash":"00000000000000000000000000000000000000000000000000000000000000ff","metadata":{"a":1}}"#;
        let b = TxBody::parse(ok, &chain()).unwrap();
        assert_eq!(b.kind.name(), "notarize");
        let cases = [
            ("{", "TX_MALFORMED"),
            (
                r#"{"chainId":"c2","nonce":1,"kind":"put","namespace":"n","key":"k","value":"v"}"#,
                "WRONG_CHAIN",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"notarize","hash":"abc"}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"steal"}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":-1,"kind":"put","namespace":"n","key":"k","value":"v"}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"put","namespace":"","key":"k","value":"v"}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"governance"}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"governance","trustRoots":{"org-c":"no pem"}}"#,
                "TX_MALFORMED",
            ),
            (
                r#"{"chainId":"c1","nonce":1,"kind":"governance","trustRoots":{"Org C":"-----BEGIN CERTIFICATE-----"}}"#,
                "TX_MALFORMED",
            ),
        ];
        for (body, code) in cases {
            assert_eq!(
                TxBody::parse(body, &chain()).unwrap_err().code(),
                code,
                "{body}"
            );
        }
    }

    #[test]
    fn governance_may_carry_trust_roots_and_omits_them_when_empty() {
        let with = r#"{"chainId":"c1","nonce":1,"kind":"governance","trustRoots":{"org-c":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"}}"#;
        let b = TxBody::parse(with, &chain()).unwrap();
        let TxKind::Governance { trust_roots, .. } = &b.kind else {
            panic!("governance")
        };
        assert_eq!(trust_roots.0.len(), 1);
        // A body without trust roots serializes as earlier versions wrote it.
        let without = TxBody {
            chain_id: chain(),
            nonce: 2,
            kind: TxKind::Governance {
                add: vec![],
                remove: vec![NodeName::new("n1").unwrap()],
                trust_roots: TrustRoots::default(),
            },
        };
        assert_eq!(
            serde_json::to_string(&without).unwrap(),
            r#"{"chainId":"c1","nonce":2,"kind":"governance","add":[],"remove":["n1"]}"#
        );
    }

    #[test]
    fn tx_ids_are_body_hashes() {
        let a = TxId::of_body(b"x");
        assert_eq!(TxId::from_hex(&a.to_string()), Some(a));
        assert_eq!(TxId::from_hex("zz"), None);
    }
}
