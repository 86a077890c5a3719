//! `api_token`: long-lived bearer tokens for GraphQL clients (API 令牌).

use sea_orm::entity::prelude::*;

/// A row of `api_token`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The user the token acts as.
    pub user_id: Uuid,
    /// A name its owner chose ("CI pipeline").
    pub name: String,
    /// SHA-256 (hex) of the token; the token itself is shown once and never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// When created.
    pub created_at: ChronoDateTimeUtc,
    /// When it stops working.
    pub expires_at: ChronoDateTimeUtc,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<ChronoDateTimeUtc>,
    /// When it was revoked.
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

/// Relations of `api_token`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
