//! Networks in GraphQL.

use super::page::{self, Counted};
use super::{opt_uuid_arg, parts, stored_enum, uuid_arg};
use crate::entity::network;
use crate::service::{network as networks, page::cursor};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use yuelu_engine::EngineRegistry;

/// A chain engine.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "yuelu_engine::EngineKind")]
pub enum Engine {
    /// Yuelu's built-in BFT chain (岳麓链).
    Yuelu,
    /// FISCO BCOS.
    FiscoBcos,
    /// Hyperledger Besu.
    Besu,
    /// Hyperledger Fabric.
    Fabric,
    /// ChainMaker (长安链).
    Chainmaker,
}

/// A consensus algorithm (共识算法).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "yuelu_engine::Consensus")]
pub enum Consensus {
    /// Tendermint-style BFT.
    Tendermint,
    /// PBFT.
    Pbft,
    /// QBFT.
    Qbft,
    /// IBFT 2.0.
    #[graphql(name = "IBFT2")]
    Ibft2,
    /// Raft (crash fault tolerant only).
    Raft,
    /// SmartBFT.
    Bft,
    /// TBFT.
    Tbft,
}

/// A crypto suite.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "yuelu_engine::CryptoSuite")]
pub enum CryptoSuite {
    /// ECDSA over P-256 with SHA-256 (国际算法).
    EcdsaP256,
    /// SM2 with SM3 (国密算法).
    #[graphql(name = "SM2")]
    Sm2,
}

/// Where a network is in its life.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::entity::network::NetworkPhase")]
pub enum NetworkPhase {
    /// Recorded; not yet handed to its runtime (部署中).
    Pending,
    /// Nodes are being created (部署中).
    Provisioning,
    /// Committing blocks with every node ready (运行中).
    Running,
    /// Committing blocks with some nodes down (降级).
    Degraded,
    /// Not committing blocks (失败).
    Failed,
    /// Being torn down.
    Deleting,
}

/// A consortium chain network (区块链网络).
#[derive(Clone, Debug)]
pub struct Network(pub network::Model);

#[Object]
impl Network {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The founding tenant's id.
    async fn tenant_id(&self) -> ID {
        ID(self.0.tenant_id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The engine.
    async fn engine(&self) -> Option<Engine> {
        stored_enum::<yuelu_engine::EngineKind>(&self.0.engine).map(Into::into)
    }
    /// The engine version.
    async fn version(&self) -> &str {
        &self.0.version
    }
    /// The consensus algorithm.
    async fn consensus(&self) -> Option<Consensus> {
        stored_enum::<yuelu_engine::Consensus>(&self.0.consensus).map(Into::into)
    }
    /// The crypto suite.
    async fn crypto(&self) -> Option<CryptoSuite> {
        stored_enum::<yuelu_engine::CryptoSuite>(&self.0.crypto).map(Into::into)
    }
    /// Validators of the founding member.
    async fn validators(&self) -> i32 {
        self.0.validators
    }
    /// Observers of the founding member.
    async fn observers(&self) -> i32 {
        self.0.observers
    }
    /// Storage per node, GiB.
    async fn storage_gib(&self) -> i32 {
        self.0.storage_gib
    }
    /// Where it runs.
    async fn placement(&self) -> &str {
        &self.0.placement
    }
    /// Where it is in its life.
    async fn phase(&self) -> NetworkPhase {
        self.0.phase.into()
    }
    /// When created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What `createNetwork` takes.
#[derive(InputObject, Debug)]
pub struct CreateNetworkInput {
    /// The tenant; the caller's own when omitted (platform admins must give one).
    pub tenant_id: Option<ID>,
    /// A DNS label (lowercase letters, digits, '-'), unique within the tenant.
    pub name: String,
    /// The engine.
    #[graphql(default_with = "Engine::Yuelu")]
    pub engine: Engine,
    /// The engine version; the newest when omitted.
    pub version: Option<String>,
    /// The consensus algorithm; the engine's default when omitted.
    pub consensus: Option<Consensus>,
    /// The crypto suite.
    #[graphql(default_with = "CryptoSuite::EcdsaP256")]
    pub crypto: CryptoSuite,
    /// Validators of the founding member.
    #[graphql(default = 4)]
    pub validators: i32,
    /// Observers of the founding member.
    #[graphql(default = 0)]
    pub observers: i32,
    /// Storage per node, GiB.
    #[graphql(default = 10)]
    pub storage_gib: i32,
    /// Where it runs: `local`, or a registered cluster's name.
    #[graphql(default = "local")]
    pub placement: String,
}

#[derive(Default)]
pub(super) struct NetworkQuery;

#[Object]
impl NetworkQuery {
    /// A tenant's networks (default: the caller's); platform admins may omit it to list all.
    async fn networks(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Network, Counted>> {
        let (db, caller) = parts(ctx)?;
        let tenant = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let args = page::args(ctx, after, before, first, last);
        let p = networks::networks(db, caller, tenant, args)
            .await
            .extend()?;
        Ok(page::connection(p, |n| cursor(&n.id), Network))
    }

    /// A network the caller may see.
    async fn network(&self, ctx: &Context<'_>, id: ID) -> Result<Network> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Network(networks::network(db, caller, id).await.extend()?))
    }
}

#[derive(Default)]
pub(super) struct NetworkMutation;

#[Object]
impl NetworkMutation {
    /// Launches a network (一键部署): checks the spec against its engine and the tenant's
    /// quota, and records it as Pending for its runtime.
    async fn create_network(
        &self,
        ctx: &Context<'_>,
        input: CreateNetworkInput,
    ) -> Result<Network> {
        let (db, caller) = parts(ctx)?;
        let engines = ctx.data::<Arc<EngineRegistry>>()?;
        let tenant_id = opt_uuid_arg("tenantId", input.tenant_id).extend()?;
        let n = networks::create_network(
            db,
            engines,
            caller,
            networks::NewNetwork {
                tenant_id,
                name: input.name,
                engine: input.engine.into(),
                version: input.version,
                consensus: input.consensus.map(Into::into),
                crypto: input.crypto.into(),
                validators: input.validators,
                observers: input.observers,
                storage_gib: input.storage_gib,
                placement: input.placement,
            },
        )
        .await
        .extend()?;
        Ok(Network(n))
    }

    /// Deletes a Pending or Failed network's record, freeing its quota.
    async fn delete_network(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        networks::delete_network(db, caller, id).await.extend()?;
        Ok(true)
    }
}
