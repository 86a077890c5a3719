//! Signing and verifying consensus messages with the node's P-256 key.

use super::context::{ChainContext, Proposal, PublicKey, Signature, Vote};
use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope,
};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;

use super::context::EcdsaP256;

/// Signs with the node key; verifies with validators' keys.
#[derive(Clone)]
pub struct Keys {
    key: SigningKey,
}

impl Keys {
    /// Wraps the node key.
    pub fn new(key: SigningKey) -> Keys {
        Keys { key }
    }

    /// Signs raw bytes.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        let sig: p256::ecdsa::Signature = self.key.sign(msg);
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Signature(out)
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.key.verifying_key())
    }
}

fn scope_bytes(scope: &VoteExtensionScope<ChainContext>) -> Vec<u8> {
    let mut b = b"yuelu/vote-extension/v1\0".to_vec();
    b.extend_from_slice(&scope.height.0.to_be_bytes());
    b.extend_from_slice(&scope.round.as_i64().to_be_bytes());
    b.extend_from_slice(&scope.value_id.0);
    b.extend_from_slice(&scope.validator_address.0);
    b
}

fn verdict(ok: bool) -> Result<VerificationResult, Error> {
    Ok(VerificationResult::from_bool(ok))
}

#[async_trait]
impl Signer<ChainContext> for Keys {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<ChainContext, Vote>, Error> {
        let sig = self.sign(&vote.sign_bytes());
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<ChainContext, Proposal>, Error> {
        let sig = self.sign(&proposal.sign_bytes());
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<ChainContext>,
        extension: (),
    ) -> Result<SignedMessage<ChainContext, ()>, Error> {
        let sig = self.sign(&scope_bytes(&scope));
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<ChainContext>, Error> {
        let sig = self.sign(&ValidatorProof::<ChainContext>::signing_bytes(
            &public_key,
            &peer_id,
        ));
        Ok(ValidatorProof::new(public_key, peer_id, sig))
    }
}

#[async_trait]
impl Verifier<ChainContext> for Keys {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        verdict(public_key.verify(&vote.sign_bytes(), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        verdict(public_key.verify(&proposal.sign_bytes(), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<ChainContext>,
        _extension: &(),
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        verdict(public_key.verify(&scope_bytes(scope), signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<ChainContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(key) = EcdsaP256::decode_public_key(&proof.public_key) else {
            return verdict(false);
        };
        verdict(key.verify(&proof.preimage(), &proof.signature))
    }
}
