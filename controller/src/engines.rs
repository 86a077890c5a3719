//! The engines compiled into the controller, and the engine-neutral view of a `ChainNetwork`.

use crate::crd::ChainNetwork;
use yuelu_engine::{ChainId, EngineError, EngineRegistry, NetworkSpec};

/// The registry of every engine plugin this build carries.
pub fn registry() -> EngineRegistry {
    let mut r = EngineRegistry::new();
    r.register(Box::new(yuelu_chain::YueluEngine::new()));
    r
}

/// The network as engines see it. Fails when the chain id is not a DNS label (the schema
/// checks `spec.chainId`; a defaulted one comes from the resource name, which may contain dots).
pub fn network_spec(net: &ChainNetwork) -> Result<NetworkSpec, EngineError> {
    Ok(NetworkSpec {
        chain_id: ChainId::new(net.chain_id())?,
        engine: net.spec.engine,
        version: net.spec.version.clone(),
        consensus: net.spec.consensus,
        crypto: net.spec.crypto,
        block: net.spec.block.into(),
    })
}
