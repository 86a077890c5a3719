//! The GraphQL schema. Resolvers take the request's [`Caller`], call a service, and map the
//! result; authorization and audit happen in the services.

mod account;
mod audit;
mod ca;
mod network;
mod observe;
mod page;
mod tenant;

use crate::database::Database;
use crate::metrics::Metrics;
use crate::service::ca::Authorities;
use crate::service::caller::Caller;
use async_graphql::{Context, EmptySubscription, MergedObject, Schema};
use std::sync::Arc;
use yuelu_engine::EngineRegistry;

/// Query root.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    account::AccountQuery,
    tenant::TenantQuery,
    network::NetworkQuery,
    audit::AuditQuery,
    ca::CaQuery,
    MetaQuery,
);

/// Mutation root.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    account::AccountMutation,
    tenant::TenantMutation,
    network::NetworkMutation,
    ca::CaMutation,
);

/// The API's schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted. The introspection query GraphiQL and other tools send nests
/// `ofType` seven times (nine in newer graphql-js) under `__schema.types.fields.args.type`, 13
/// to 15 levels; a lower limit would leave them without the schema. Cost stays bounded by
/// [`MAX_COMPLEXITY`].
pub const MAX_DEPTH: usize = 16;
/// Most complex query accepted (each field counts 1).
pub const MAX_COMPLEXITY: usize = 2_000;

/// Builds the schema once; it is cloned into every HTTP worker. Requests carry a [`Caller`].
pub fn build(
    db: Database,
    engines: Arc<EngineRegistry>,
    authorities: Arc<Authorities>,
    metrics: Arc<Metrics>,
) -> ApiSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(db)
    .data(engines)
    .data(authorities)
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

/// The request's database, engines and caller.
fn parts<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a Database, &'a Caller)> {
    Ok((ctx.data::<Database>()?, ctx.data::<Caller>()?))
}

/// Parses an `ID` argument as a UUID, or `INVALID_INPUT` naming the argument.
fn uuid_arg(field: &str, id: &async_graphql::ID) -> Result<uuid::Uuid, crate::ApiError> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| crate::ApiError::invalid(field, "not an id"))
}

/// [`uuid_arg`] for an optional argument.
fn opt_uuid_arg(
    field: &str,
    id: Option<async_graphql::ID>,
) -> Result<Option<uuid::Uuid>, crate::ApiError> {
    id.map(|t| uuid_arg(field, &t)).transpose()
}

/// A stored enum's text (its serde name) back as the enum; `None` for text it does not know.
fn stored_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
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
