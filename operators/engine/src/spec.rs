//! The engine-neutral description of a network, and the names it uses.

use crate::EngineError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A chain engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// Yuelu's built-in BFT chain (the embedded default; runs locally and on Kubernetes).
    Yuelu,
    /// FISCO BCOS 3.x.
    FiscoBcos,
    /// Hyperledger Besu.
    Besu,
    /// Hyperledger Fabric.
    Fabric,
    /// ChainMaker (长安链).
    Chainmaker,
}

impl EngineKind {
    /// The name used in specs, the API and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Yuelu => "yuelu",
            EngineKind::FiscoBcos => "fisco-bcos",
            EngineKind::Besu => "besu",
            EngineKind::Fabric => "fabric",
            EngineKind::Chainmaker => "chainmaker",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A consensus algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Consensus {
    /// Tendermint-style BFT with per-height finality (the built-in engine, via Malachite).
    Tendermint,
    /// PBFT (FISCO BCOS).
    Pbft,
    /// QBFT (Besu).
    Qbft,
    /// IBFT 2.0 (Besu).
    Ibft2,
    /// Raft, crash fault tolerant only (Fabric, ChainMaker).
    Raft,
    /// Fabric 3.x SmartBFT.
    Bft,
    /// ChainMaker TBFT.
    Tbft,
}

impl Consensus {
    /// The name used in specs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Consensus::Tendermint => "tendermint",
            Consensus::Pbft => "pbft",
            Consensus::Qbft => "qbft",
            Consensus::Ibft2 => "ibft2",
            Consensus::Raft => "raft",
            Consensus::Bft => "bft",
            Consensus::Tbft => "tbft",
        }
    }

    /// Whether the algorithm tolerates Byzantine (not only crashed) validators.
    pub fn byzantine_fault_tolerant(self) -> bool {
        !matches!(self, Consensus::Raft)
    }

    /// How many validators out of `n` may fail while the network keeps committing.
    pub fn tolerated_faults(self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.byzantine_fault_tolerant() {
            (n - 1) / 3
        } else {
            (n - 1) / 2
        }
    }
}

impl fmt::Display for Consensus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cryptography a network's keys, signatures and certificates use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum CryptoSuite {
    /// ECDSA over NIST P-256 with SHA-256 (国际算法).
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// SM2 with SM3 (国密算法).
    #[serde(rename = "sm2")]
    Sm2,
}

impl CryptoSuite {
    /// The name used in specs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoSuite::EcdsaP256 => "ecdsa-p256",
            CryptoSuite::Sm2 => "sm2",
        }
    }
}

impl fmt::Display for CryptoSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What blocks look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BlockParams {
    /// Target time between blocks, in milliseconds (10..=60000).
    pub interval_ms: u32,
    /// Most transactions in one block (1..=100000).
    pub max_txs: u32,
    /// Most bytes in one block (1 KiB..=64 MiB).
    pub max_bytes: u32,
}

impl BlockParams {
    /// Inclusive bounds of [`BlockParams::interval_ms`].
    pub const INTERVAL_MS: (u32, u32) = (10, 60_000);
    /// Inclusive bounds of [`BlockParams::max_txs`].
    pub const MAX_TXS: (u32, u32) = (1, 100_000);
    /// Inclusive bounds of [`BlockParams::max_bytes`].
    pub const MAX_BYTES: (u32, u32) = (1024, 64 * 1024 * 1024);

    /// Checks every field against its bounds.
    pub fn validate(&self) -> Result<(), EngineError> {
        let check = |field: &'static str, v: u32, (lo, hi): (u32, u32)| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(EngineError::InvalidSpec {
                    field,
                    reason: format!("{v} is outside {lo}..={hi}"),
                })
            }
        };
        check("block.intervalMs", self.interval_ms, Self::INTERVAL_MS)?;
        check("block.maxTxs", self.max_txs, Self::MAX_TXS)?;
        check("block.maxBytes", self.max_bytes, Self::MAX_BYTES)
    }
}

impl Default for BlockParams {
    fn default() -> Self {
        BlockParams {
            interval_ms: 1000,
            max_txs: 10_000,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Checks `s` is a DNS label (RFC 1123): what Kubernetes names, hostnames and chain ids share.
fn dns_label(field: &'static str, s: &str) -> Result<(), EngineError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidSpec {
            field,
            reason: format!(
                "{s:?} must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"
            ),
        })
    }
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(s: impl Into<String>) -> Result<Self, EngineError> {
                let s = s.into();
                dns_label($field, &s)?;
                Ok(Self(s))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = EngineError;
            fn try_from(s: String) -> Result<Self, EngineError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

label_newtype!(
    /// A chain's id: a DNS label, unique on the platform, written into the genesis.
    ChainId,
    "chainId"
);
label_newtype!(
    /// A node's name: a DNS label, unique in its network (it names pods and processes).
    NodeName,
    "node"
);
label_newtype!(
    /// An organisation (consortium member) name: a DNS label, unique in its network.
    OrgName,
    "organization"
);

/// What a node does in consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Votes in consensus (共识节点).
    Validator,
    /// Follows the chain without voting (同步节点).
    Observer,
}

impl NodeRole {
    /// The name used in specs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Validator => "validator",
            NodeRole::Observer => "observer",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network as every engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The chain's id.
    pub chain_id: ChainId,
    /// Which engine runs it.
    pub engine: EngineKind,
    /// The engine version.
    pub version: String,
    /// The consensus algorithm.
    pub consensus: Consensus,
    /// The crypto suite of keys, signatures and certificates.
    pub crypto: CryptoSuite,
    /// Block parameters.
    pub block: BlockParams,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert!(NodeName::new("org1-validator-0").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            let err = NodeName::new(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_SPEC", "{bad:?}");
        }
        let parsed: Result<ChainId, _> = serde_json::from_str("\"Bad\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn fault_tolerance_follows_the_algorithm() {
        let t = Consensus::Tendermint;
        assert_eq!(
            [1, 3, 4, 6, 7].map(|n| t.tolerated_faults(n)),
            [0, 0, 1, 1, 2]
        );
        assert_eq!(Consensus::Raft.tolerated_faults(5), 2);
        assert_eq!(t.tolerated_faults(0), 0);
    }

    #[test]
    fn block_params_are_bounded() {
        assert!(BlockParams::default().validate().is_ok());
        let bad = BlockParams {
            interval_ms: 5,
            ..BlockParams::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(
            err,
            EngineError::InvalidSpec {
                field: "block.intervalMs",
                reason: "5 is outside 10..=60000".into()
            }
        );
    }

    #[test]
    fn enums_serialize_as_plain_strings() {
        assert_eq!(
            serde_json::to_string(&CryptoSuite::EcdsaP256).unwrap(),
            "\"ecdsa-p256\""
        );
        assert_eq!(
            serde_json::to_string(&EngineKind::FiscoBcos).unwrap(),
            "\"fisco-bcos\""
        );
        for c in [
            Consensus::Tendermint,
            Consensus::Pbft,
            Consensus::Qbft,
            Consensus::Ibft2,
            Consensus::Raft,
            Consensus::Bft,
            Consensus::Tbft,
        ] {
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
    }
}
