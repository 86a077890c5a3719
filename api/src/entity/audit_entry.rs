//! `audit_entry`: the append-only, hash-chained audit log (审计日志).

use sea_orm::entity::prelude::*;

/// A row of `audit_entry`. Rows are never updated or deleted (database triggers refuse it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entry")]
pub struct Model {
    /// Position in the chain, from 1, without gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// When (microsecond precision, so that the hash survives every database's round trip).
    pub at: ChronoDateTimeUtc,
    /// The request that did it.
    pub request_id: String,
    /// Who did it, when signed in.
    pub actor_user_id: Option<Uuid>,
    /// The user name (of the actor, or the name tried at a failed sign-in).
    pub actor_username: Option<String>,
    /// The actor's role then.
    pub actor_role: Option<String>,
    /// The tenant whose objects it concerns; none for platform-wide actions.
    pub tenant_id: Option<Uuid>,
    /// What was done: the GraphQL mutation's name (`createTenant`), or a console action.
    pub action: String,
    /// The kind of object acted on (`tenant`, `user`, ...).
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// `ok`, or the error code it failed with.
    pub result: String,
    /// Further facts as a JSON object (never secrets).
    pub details: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over this entry's fields and `prev_hash`.
    pub hash: String,
}

/// `audit_entry` has no relations: it outlives whatever it mentions.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
