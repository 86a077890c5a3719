//! Blocks: a header that commits to the transactions and to the state after them.

use crate::merkle::{self, Hash};
use crate::tx::{SignedTx, TxError, TxId, TxSignature};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// A block's id: SHA-256 of its borsh-encoded header. Consensus votes on it.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, BorshSerialize, BorshDeserialize,
)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", &hex::encode(&self.0[..6]))
    }
}

/// A transaction as blocks carry it: the body text and, per signature, certificate and
/// signature in DER. Compact and cheap to decode, unlike the JSON envelope.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RawTx {
    /// The signed body (JSON text).
    pub body: String,
    /// (certificate DER, signature DER) pairs.
    pub signatures: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawTx {
    /// The transaction id.
    pub fn id(&self) -> TxId {
        TxId::of_body(self.body.as_bytes())
    }

    /// Converts a submitted envelope, decoding base64.
    pub fn from_signed(tx: &SignedTx) -> Result<RawTx, TxError> {
        if tx.signatures.is_empty() {
            return Err(TxError::Malformed("no signature".into()));
        }
        if tx.signatures.len() > crate::tx::MAX_SIGNATURES {
            return Err(TxError::Malformed("too many signatures".into()));
        }
        let signatures = tx
            .signatures
            .iter()
            .map(|s| {
                let cert = B64
                    .decode(&s.certificate)
                    .map_err(|e| TxError::Malformed(format!("certificate base64: {e}")))?;
                let sig = B64
                    .decode(&s.signature)
                    .map_err(|e| TxError::Malformed(format!("signature base64: {e}")))?;
                Ok((cert, sig))
            })
            .collect::<Result<Vec<_>, TxError>>()?;
        Ok(RawTx {
            body: tx.body.clone(),
            signatures,
        })
    }

    /// The JSON envelope of this transaction.
    pub fn to_signed(&self) -> SignedTx {
        SignedTx {
            body: self.body.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|(c, s)| TxSignature {
                    certificate: B64.encode(c),
                    signature: B64.encode(s),
                })
                .collect(),
        }
    }

    /// Encoded size, for block size limits.
    pub fn encoded_len(&self) -> usize {
        self.body.len()
            + self
                .signatures
                .iter()
                .map(|(c, s)| c.len() + s.len() + 8)
                .sum::<usize>()
            + 8
    }
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: String,
    /// Height, from 1.
    pub height: u64,
    /// Proposer's clock, Unix milliseconds; never below the parent's.
    pub time_unix_ms: u64,
    /// The proposer's consensus address.
    #[serde(serialize_with = "ser_hex")]
    pub proposer: [u8; 20],
    /// The previous block's id (the genesis hash for height 1).
    #[serde(serialize_with = "ser_hex")]
    pub parent: Hash,
    /// RFC 6962 root over the transaction ids, in block order.
    #[serde(serialize_with = "ser_hex")]
    pub txs_root: Hash,
    /// RFC 6962 root of the state log after this block's transactions.
    #[serde(serialize_with = "ser_hex")]
    pub state_root: Hash,
    /// Leaves in the state log after this block.
    pub state_size: u64,
    /// Transactions in the block.
    pub tx_count: u32,
}

fn ser_hex<S: serde::Serializer, T: AsRef<[u8]>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

impl BlockHeader {
    /// The block id.
    pub fn id(&self) -> BlockId {
        let bytes = borsh::to_vec(self).unwrap_or_default();
        BlockId(Sha256::digest(&bytes).into())
    }
}

/// A block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// Its header.
    pub header: BlockHeader,
    /// Its transactions.
    pub txs: Vec<RawTx>,
}

impl Block {
    /// The block id.
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    /// The root the header must carry for these transactions.
    pub fn compute_txs_root(txs: &[RawTx]) -> Hash {
        let ids: Vec<Hash> = txs.iter().map(|t| t.id().0).collect();
        merkle::root_of(&ids)
    }

    /// Borsh bytes.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes borsh bytes.
    pub fn decode(bytes: &[u8]) -> Result<Block, std::io::Error> {
        borsh::from_slice(bytes)
    }
}
