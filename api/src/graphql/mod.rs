//! The GraphQL schema. Resolvers check who asks, then call services; nothing else.

mod account;
mod observe;

use crate::metrics::Metrics;
use crate::service::account::SessionToken;
use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub use account::{SignInPayload, User};

/// Query root.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(account::AccountQuery, MetaQuery);

/// Mutation root.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(account::AccountMutation);

/// The API's schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// Most complex query accepted (fields count 1, lists multiply by their page size).
pub const MAX_COMPLEXITY: usize = 2_000;

/// Who is asking: set per request from its bearer token.
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    /// The signed-in user and session, if any.
    pub session: Option<(crate::entity::user::Model, crate::entity::session::Model)>,
    /// The raw bearer token, if one came (even an invalid one).
    pub token: Option<SessionToken>,
}

/// Builds the schema once; it is cloned into every HTTP worker.
pub fn build(db: DatabaseConnection, metrics: Arc<Metrics>) -> ApiSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(db)
    .extension(observe::ObserveFactory(metrics))
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .finish()
}

/// The schema in SDL, as checked in at `api/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .finish()
    .sdl()
}

/// Facts about the running service.
#[derive(Default)]
struct MetaQuery;

#[async_graphql::Object]
impl MetaQuery {
    /// The platform's version.
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
