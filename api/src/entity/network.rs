//! `network`: a consortium chain network a tenant launched (区块链网络).

use sea_orm::entity::prelude::*;

/// Where a network is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum NetworkPhase {
    /// Recorded; not yet handed to its runtime.
    #[sea_orm(string_value = "Pending")]
    Pending,
    /// Its runtime is creating nodes.
    #[sea_orm(string_value = "Provisioning")]
    Provisioning,
    /// Committing blocks with every node ready.
    #[sea_orm(string_value = "Running")]
    Running,
    /// Committing blocks, but some nodes are down.
    #[sea_orm(string_value = "Degraded")]
    Degraded,
    /// Not committing blocks.
    #[sea_orm(string_value = "Failed")]
    Failed,
    /// Being torn down.
    #[sea_orm(string_value = "Deleting")]
    Deleting,
}

/// A row of `network`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "network")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant that launched it (the founding member).
    pub tenant_id: Uuid,
    /// Its name: a DNS label, unique within the tenant.
    pub name: String,
    /// Engine (`yuelu`, `fisco-bcos`, ...), as in [`yuelu_engine::EngineKind`].
    pub engine: String,
    /// Engine version.
    pub version: String,
    /// Consensus algorithm, as in [`yuelu_engine::Consensus`].
    pub consensus: String,
    /// Crypto suite, as in [`yuelu_engine::CryptoSuite`].
    pub crypto: String,
    /// Validator nodes of the founding member.
    pub validators: i32,
    /// Observer nodes of the founding member.
    pub observers: i32,
    /// Storage per node, GiB.
    pub storage_gib: i32,
    /// Placement target: `local` or a registered cluster's name.
    pub placement: String,
    /// Where it is in its life.
    pub phase: NetworkPhase,
    /// The user who launched it.
    pub created_by: Uuid,
    /// When created.
    pub created_at: ChronoDateTimeUtc,
    /// When last changed.
    pub updated_at: ChronoDateTimeUtc,
}

impl Model {
    /// Nodes the network counts against the tenant's quota.
    pub fn nodes(&self) -> i64 {
        i64::from(self.validators) + i64::from(self.observers)
    }

    /// Storage the network counts against the tenant's quota, GiB.
    pub fn storage(&self) -> i64 {
        self.nodes() * i64::from(self.storage_gib)
    }
}

/// Relations of `network`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The tenant.
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
