//! `tenant`: an enterprise on the platform (租户), with its quota.

use sea_orm::entity::prelude::*;

/// Whether a tenant may use the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TenantStatus {
    /// Its users sign in and work.
    #[sea_orm(string_value = "active")]
    Active,
    /// Its users cannot sign in; its sessions and tokens stop working; nothing is deleted.
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

/// A row of `tenant`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    /// Primary key (UUIDv7: creation order).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The enterprise's name, unique on the platform.
    #[sea_orm(unique)]
    pub name: String,
    /// Unified social credit code (统一社会信用代码), 18 characters, unique.
    #[sea_orm(unique)]
    pub uscc: String,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact email.
    pub contact_email: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Quota: most networks.
    pub max_networks: i32,
    /// Quota: most nodes over all its networks.
    pub max_nodes: i32,
    /// Quota: most storage over all its nodes, GiB.
    pub max_storage_gib: i32,
    /// DNS domains its certificates may name (JSON array of strings).
    pub allowed_domains: String,
    /// IP networks its certificates may name (JSON array of CIDR strings).
    pub allowed_ip_networks: String,
    /// When created.
    pub created_at: ChronoDateTimeUtc,
    /// When last changed.
    pub updated_at: ChronoDateTimeUtc,
}

/// Relations of `tenant`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its users.
    #[sea_orm(has_many = "super::user::Entity")]
    User,
    /// Its networks.
    #[sea_orm(has_many = "super::network::Entity")]
    Network,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::network::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Network.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
