//! `user`: people who sign in. Platform admins have no tenant; tenant users have one.

use sea_orm::entity::prelude::*;

/// A role, stored as its kebab-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum Role {
    /// Runs the platform: tenants, quotas, clusters, CAs, audit.
    #[sea_orm(string_value = "platform-admin")]
    PlatformAdmin,
    /// Administers one tenant (enterprise): its users, networks, certificates.
    #[sea_orm(string_value = "tenant-admin")]
    TenantAdmin,
    /// Uses one tenant's networks.
    #[sea_orm(string_value = "tenant-member")]
    TenantMember,
}

impl Role {
    /// The role's name in the API and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::TenantMember => "tenant-member",
        }
    }
}

/// A row of `user`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Sign-in name, unique on the platform.
    #[sea_orm(unique)]
    pub username: String,
    /// Argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// The user's role.
    pub role: Role,
    /// The tenant, for tenant roles.
    pub tenant_id: Option<Uuid>,
    /// When the user was created.
    pub created_at: ChronoDateTimeUtc,
    /// When the user was last changed.
    pub updated_at: ChronoDateTimeUtc,
}

/// Relations of `user`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Sessions of the user.
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
    /// The user's tenant.
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

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
