//! `enrollment_token`: credentials with which node runtimes (the controller, the local
//! runtime) enroll node keys with a tenant's CA.

use sea_orm::entity::prelude::*;

/// A row of `enrollment_token`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollment_token")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant whose CA it enrolls with.
    pub tenant_id: Uuid,
    /// A name its creator chose (`cluster city-gov-cloud`).
    pub name: String,
    /// SHA-256 (hex) of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Certificates it may still obtain.
    pub uses_left: i32,
    /// The user who created it.
    pub created_by: Uuid,
    /// When created.
    pub created_at: ChronoDateTimeUtc,
    /// When it stops working.
    pub expires_at: ChronoDateTimeUtc,
    /// When revoked.
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

/// Relations of `enrollment_token`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
