//! `session`: signed-in sessions, for console cookies and short-lived bearer tokens.

use sea_orm::entity::prelude::*;

/// How a session is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SessionKind {
    /// A console cookie, with a CSRF token for its forms.
    #[sea_orm(string_value = "console")]
    Console,
    /// A bearer token from the `signIn` mutation.
    #[sea_orm(string_value = "bearer")]
    Bearer,
}

/// A row of `session`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The signed-in user.
    pub user_id: Uuid,
    /// SHA-256 (hex) of the secret token; the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Cookie or bearer.
    pub kind: SessionKind,
    /// CSRF token for console forms (random; compared in constant time).
    pub csrf_token: String,
    /// When it was created.
    pub created_at: ChronoDateTimeUtc,
    /// When it stops working.
    pub expires_at: ChronoDateTimeUtc,
    /// Set at sign-out.
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

/// Relations of `session`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The signed-in user.
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
