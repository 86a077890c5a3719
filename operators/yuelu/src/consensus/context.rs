//! The Malachite [`Context`] of the chain: heights, addresses, validators, votes, proposals
//! and proposal parts, with ECDSA P-256 signatures.

use crate::block::BlockId;
use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{
    self as mc, Context, LinearTimeouts, NilOrVal, Round, SignedExtension, SigningScheme, VoteType,
    VotingPower,
};
use p256::ecdsa::VerifyingKey;
use std::fmt;
use std::sync::Arc;

/// A block height.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's consensus address (see [`crate::keys::address_of`]).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(&self.0[..4]))
    }
}

impl mc::Address for Address {}

impl mc::Value for BlockId {
    type Id = BlockId;
    fn id(&self) -> BlockId {
        *self
    }
}

/// An ECDSA P-256 signature, `r || s`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..6]))
    }
}

/// A validator's public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(pub VerifyingKey);

impl PublicKey {
    /// SEC1 compressed bytes.
    pub fn to_sec1(&self) -> Vec<u8> {
        self.0.to_encoded_point(true).as_bytes().to_vec()
    }

    /// Verifies a signature over `msg` (ECDSA P-256, SHA-256, `r || s`).
    ///
    /// With ring rather than the `p256` crate: the same check (both refuse `r` or `s` out of
    /// range and accept either `s`), about three times faster, and every vote, proposal and
    /// proposal stream of every height passes here.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        let point = self.0.to_encoded_point(false);
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            point.as_bytes(),
        )
        .verify(msg, &sig.0)
        .is_ok()
    }
}

impl BorshSerialize for PublicKey {
    fn serialize<W: borsh::io::Write>(&self, w: &mut W) -> borsh::io::Result<()> {
        self.to_sec1().serialize(w)
    }
}

impl BorshDeserialize for PublicKey {
    fn deserialize_reader<R: borsh::io::Read>(r: &mut R) -> borsh::io::Result<Self> {
        let bytes = Vec::<u8>::deserialize_reader(r)?;
        VerifyingKey::from_sec1_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, "bad key"))
    }
}

/// The signing scheme: ECDSA P-256 with SHA-256 (RFC 6979 nonces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcdsaP256;

/// A key or signature that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("invalid P-256 key or signature encoding")]
pub struct DecodingError;

impl SigningScheme for EcdsaP256 {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = p256::ecdsa::SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        let arr: [u8; 64] = bytes.try_into().map_err(|_| DecodingError)?;
        Ok(Signature(arr))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, DecodingError> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| DecodingError)
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.to_sec1()
    }
}

/// A validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its address.
    pub address: Address,
    /// Its key.
    pub public_key: PublicKey,
    /// Its voting power.
    pub voting_power: VotingPower,
}

impl mc::Validator<ChainContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The validators of a height, sorted by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    /// The validators.
    pub validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// A set from validators in any order.
    pub fn new(mut v: Vec<Validator>) -> ValidatorSet {
        v.sort_by_key(|a| a.address);
        v.dedup_by(|a, b| a.address == b.address);
        ValidatorSet {
            validators: Arc::new(v),
        }
    }
}

impl mc::ValidatorSet<ChainContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

fn round_i64(r: Round) -> i64 {
    r.as_i64()
}

/// A proposal for a height and round.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block.
    pub value: BlockId,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// The proposer.
    pub validator_address: Address,
}

impl Proposal {
    /// The bytes a proposer signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut b = b"yuelu/proposal/v1\0".to_vec();
        b.extend_from_slice(&self.height.0.to_be_bytes());
        b.extend_from_slice(&round_i64(self.round).to_be_bytes());
        b.extend_from_slice(&self.value.0);
        b.extend_from_slice(&round_i64(self.pol_round).to_be_bytes());
        b.extend_from_slice(&self.validator_address.0);
        b
    }
}

impl mc::Proposal<ChainContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockId {
        &self.value
    }
    fn take_value(self) -> BlockId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// The voter.
    pub validator_address: Address,
    /// A vote extension (unused: the chain needs none).
    pub extension: Option<SignedExtension<ChainContext>>,
}

impl Vote {
    /// The bytes a voter signs (the extension is signed separately).
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut b = b"yuelu/vote/v1\0".to_vec();
        b.push(match self.vote_type {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        });
        b.extend_from_slice(&self.height.0.to_be_bytes());
        b.extend_from_slice(&round_i64(self.round).to_be_bytes());
        match &self.value {
            NilOrVal::Nil => b.push(0),
            NilOrVal::Val(id) => {
                b.push(1);
                b.extend_from_slice(&id.0);
            }
        }
        b.extend_from_slice(&self.validator_address.0);
        b
    }
}

impl mc::Vote<ChainContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
    fn extension(&self) -> Option<&SignedExtension<ChainContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<ChainContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<ChainContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// A part of a streamed proposal: the block's borsh bytes in chunks, framed by who proposes it
/// and the proposer's signature over the block id. [`ProposalPart::Txs`] rides the same
/// channel but is no proposal: transactions a validator forwards to its peers.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// First part: what the stream carries.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Proof-of-lock round (the round the block was first proposed in, when re-proposed).
        pol_round: Round,
        /// The proposer.
        proposer: Address,
    },
    /// A chunk of the encoded block.
    Data(Vec<u8>),
    /// Last part: the proposer's signature over the stream's block id.
    Fin(Signature),
    /// Transactions a validator admitted from its clients, forwarded so that whichever
    /// validator proposes next can include them (see [`crate::forward`]). Alone in its stream;
    /// receivers check each one as if a client had submitted it. Last, so that the other
    /// parts encode as before.
    Txs(Vec<crate::block::RawTx>),
}

impl mc::ProposalPart<ChainContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The chain's Malachite context.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChainContext;

impl Context for ChainContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = EcdsaP256;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        proposer_of(validator_set, height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            validator_address: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator_address: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator_address: address,
            extension: None,
        }
    }
}

/// Round-robin over validators sorted by address: height and round both move the turn, so a
/// silent proposer costs one round, and every validator proposes in turn (each proposes the
/// transactions its own clients submitted).
///
/// # Panics
/// Never for a non-empty set; Malachite never starts a height with an empty one (the
/// registry refuses to remove the last validator).
#[allow(clippy::indexing_slicing)]
pub fn proposer_of(set: &ValidatorSet, height: Height, round: Round) -> &Validator {
    let n = set.validators.len().max(1) as u64;
    let r = u64::try_from(round.as_i64().max(0)).unwrap_or(0);
    let idx = (height.0.wrapping_add(r) % n) as usize;
    &set.validators[idx.min(set.validators.len().saturating_sub(1))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    fn bytes(sig: &p256::ecdsa::Signature) -> Signature {
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Signature(out)
    }

    #[test]
    fn signatures_of_the_p256_crate_verify_and_others_do_not() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let public = PublicKey(*key.verifying_key());
        let sig: p256::ecdsa::Signature = key.sign(b"vote");
        assert!(public.verify(b"vote", &bytes(&sig)));
        assert!(!public.verify(b"vote!", &bytes(&sig)));
        // The high-s twin of a signature is as valid to either library.
        let neg_s = -*sig.s().as_ref();
        let high =
            p256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), neg_s.to_bytes()).unwrap();
        assert!(public.verify(b"vote", &bytes(&high)));
        // s zero, or not below the group order: refused.
        let mut zero = bytes(&sig);
        zero.0[32..].fill(0);
        assert!(!public.verify(b"vote", &zero));
        let mut over = bytes(&sig);
        over.0[32..].fill(0xff);
        assert!(!public.verify(b"vote", &over));
        // Another key's signature: refused.
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        let theirs: p256::ecdsa::Signature = other.sign(b"vote");
        assert!(!public.verify(b"vote", &bytes(&theirs)));
    }
}
