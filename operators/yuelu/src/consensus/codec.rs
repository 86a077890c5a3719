//! The wire and WAL codec: borsh, through Malachite's own borsh impls where it has them, and
//! small mirror structs where it has none (extended commit certificates, validator proofs).

use super::context::{Address, ChainContext, Height, ProposalPart, Signature};
use crate::block::BlockId;
use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedMessage,
    ValidatorProof,
};
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueResponse};

/// Why bytes did not decode (or a value did not encode).
#[derive(Debug, thiserror::Error)]
#[error("codec: {0}")]
pub struct CodecError(pub String);

/// The chain's codec for consensus, sync and the WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChainCodec;

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for ChainCodec {
            type Error = CodecError;
            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))
            }
            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                borsh::to_vec(msg).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<ChainContext>,
    LivenessMsg<ChainContext>,
    StreamMessage<ProposalPart>,
    Status<ChainContext>,
    Request<ChainContext>,
    ProposedValue<ChainContext>,
    PolkaCertificate<ChainContext>,
);

#[derive(BorshSerialize, BorshDeserialize)]
struct ProofWire {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

impl Codec<ValidatorProof<ChainContext>> for ChainCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<ChainContext>, CodecError> {
        let w: ProofWire = borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))?;
        Ok(ValidatorProof::new(w.public_key, w.peer_id, w.signature))
    }
    fn encode(&self, p: &ValidatorProof<ChainContext>) -> Result<Bytes, CodecError> {
        let w = ProofWire {
            public_key: p.public_key.clone(),
            peer_id: p.peer_id.clone(),
            signature: p.signature,
        };
        borsh::to_vec(&w)
            .map(Bytes::from)
            .map_err(|e| CodecError(e.to_string()))
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct SigWire {
    address: Address,
    signature: Signature,
    extension: Option<SignedMessage<ChainContext, ()>>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct CertWire {
    height: Height,
    round: Round,
    value_id: BlockId,
    signatures: Vec<SigWire>,
}

/// Encodes a commit certificate (stored with each block, and served to syncing peers).
pub fn encode_certificate(c: &ExtendedCommitCertificate<ChainContext>) -> Vec<u8> {
    let w = CertWire {
        height: c.height,
        round: c.round,
        value_id: c.value_id,
        signatures: c
            .commit_signatures
            .iter()
            .map(|s| SigWire {
                address: s.address,
                signature: s.signature,
                extension: s.extension.clone(),
            })
            .collect(),
    };
    borsh::to_vec(&w).unwrap_or_default()
}

/// Decodes a commit certificate.
pub fn decode_certificate(b: &[u8]) -> Result<ExtendedCommitCertificate<ChainContext>, CodecError> {
    let w: CertWire = borsh::from_slice(b).map_err(|e| CodecError(e.to_string()))?;
    Ok(ExtendedCommitCertificate {
        height: w.height,
        round: w.round,
        value_id: w.value_id,
        commit_signatures: w
            .signatures
            .into_iter()
            .map(|s| ExtendedCommitSignature::new(s.address, s.signature, s.extension))
            .collect(),
    })
}

#[derive(BorshSerialize, BorshDeserialize)]
struct ResponseWire {
    start_height: Height,
    values: Vec<(Vec<u8>, Vec<u8>)>,
}

fn response_wire(r: &Response<ChainContext>) -> ResponseWire {
    let Response::ValueResponse(v) = r;
    ResponseWire {
        start_height: v.start_height,
        values: v
            .values
            .iter()
            .map(|d| (d.value_bytes.to_vec(), encode_certificate(&d.certificate)))
            .collect(),
    }
}

impl Codec<Response<ChainContext>> for ChainCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<Response<ChainContext>, CodecError> {
        let w: ResponseWire = borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))?;
        let values = w
            .values
            .into_iter()
            .map(|(v, c)| {
                Ok(RawDecidedValue::new(
                    Bytes::from(v),
                    decode_certificate(&c)?,
                ))
            })
            .collect::<Result<Vec<_>, CodecError>>()?;
        Ok(Response::ValueResponse(ValueResponse::new(
            w.start_height,
            values,
        )))
    }
    fn encode(&self, r: &Response<ChainContext>) -> Result<Bytes, CodecError> {
        borsh::to_vec(&response_wire(r))
            .map(Bytes::from)
            .map_err(|e| CodecError(e.to_string()))
    }
}

impl HasEncodedLen<Response<ChainContext>> for ChainCodec {
    fn encoded_len(&self, r: &Response<ChainContext>) -> Result<usize, CodecError> {
        borsh::object_length(&response_wire(r)).map_err(|e| CodecError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::Vote;
    use malachitebft_app_channel::app::types::core::{NilOrVal, VoteType};

    #[test]
    fn messages_and_certificates_round_trip() {
        let vote = Vote {
            vote_type: VoteType::Precommit,
            height: Height(3),
            round: Round::new(1),
            value: NilOrVal::Val(BlockId([9; 32])),
            validator_address: Address([1; 20]),
            extension: None,
        };
        let msg =
            SignedConsensusMsg::<ChainContext>::Vote(SignedMessage::new(vote, Signature([2; 64])));
        let bytes = ChainCodec.encode(&msg).unwrap();
        let back: SignedConsensusMsg<ChainContext> = ChainCodec.decode(bytes).unwrap();
        assert_eq!(back, msg);

        let cert = ExtendedCommitCertificate::<ChainContext> {
            height: Height(3),
            round: Round::new(0),
            value_id: BlockId([9; 32]),
            commit_signatures: vec![ExtendedCommitSignature::new(
                Address([1; 20]),
                Signature([3; 64]),
                None,
            )],
        };
        assert_eq!(
            decode_certificate(&encode_certificate(&cert)).unwrap(),
            cert
        );
        let resp = Response::ValueResponse(ValueResponse::new(
            Height(3),
            vec![RawDecidedValue::new(Bytes::from_static(b"block"), cert)],
        ));
        let bytes = ChainCodec.encode(&resp).unwrap();
        assert_eq!(ChainCodec.encoded_len(&resp).unwrap(), bytes.len());
        let back: Response<ChainContext> = ChainCodec.decode(bytes).unwrap();
        assert_eq!(back, resp);
        let junk: Result<Response<ChainContext>, _> =
            ChainCodec.decode(Bytes::from_static(b"\x01"));
        assert!(junk.is_err());
    }
}
