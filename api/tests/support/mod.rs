//! Fixtures for the API's data tests: a platform on SQLite or on a throwaway PostgreSQL, its
//! schema, and callers in every role.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_graphql::{Request, Variables};
use serde_json::{Value, json};
use std::sync::Arc;
use yuelu_api::database::Database;
use yuelu_api::entity::user::Role;
use yuelu_api::graphql::{self, ApiSchema};
use yuelu_api::metrics::Metrics;
use yuelu_api::service::account;
use yuelu_api::service::caller::{Actor, Caller, RequestId};
use yuelu_engine::EngineRegistry;

/// Runs a test body on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let env = $crate::support::Env::new($crate::support::Backend::Sqlite).await;
                ($body)(env).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let env = $crate::support::Env::new($crate::support::Backend::Postgres).await;
                ($body)(env).await;
            }
        }
    };
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A throwaway PostgreSQL cluster.
    Postgres,
}

/// A platform under test.
pub struct Env {
    pub backend: Backend,
    pub db: Database,
    pub authorities: Arc<yuelu_api::service::ca::Authorities>,
    pub schema: ApiSchema,
    pub metrics: Arc<Metrics>,
    pub admin: Caller,
    pub admin_password: String,
    _dir: tempfile::TempDir,
    pub pg: Option<yuelu_e2e::PgCluster>,
}

pub fn engines() -> EngineRegistry {
    let mut r = EngineRegistry::new();
    r.register(Box::new(yuelu_chain::YueluEngine::new()));
    r
}

impl Env {
    pub async fn new(backend: Backend) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match backend {
            Backend::Sqlite => (
                yuelu_api::database::sqlite_url(&dir.path().join("t.db")),
                None,
            ),
            Backend::Postgres => {
                let pg = yuelu_e2e::PgCluster::start();
                (pg.create_db("yuelu"), Some(pg))
            }
        };
        let db = Database::connect(&url).await.unwrap();
        let admin_password = account::ensure_platform_admin(&db)
            .await
            .unwrap()
            .unwrap()
            .password;
        let metrics = Arc::new(Metrics::new().unwrap());
        let master = yuelu_ca::MasterKey::generate().unwrap();
        let authorities = yuelu_api::service::ca::Authorities::start(&db, master, metrics.clone())
            .await
            .unwrap();
        let schema = graphql::build(
            db.clone(),
            Arc::new(engines()),
            authorities.clone(),
            metrics.clone(),
        );
        let admin_row = user_by_name(&db, "admin").await;
        Env {
            backend,
            admin: Caller::signed_in(Actor::of(&admin_row, None), RequestId::generate()),
            db,
            authorities,
            schema,
            metrics,
            admin_password,
            _dir: dir,
            pg,
        }
    }

    /// Runs a GraphQL request as `caller` (a fresh request id each time).
    pub async fn gql(&self, caller: &Caller, query: &str, vars: Value) -> Value {
        let caller = Caller::new(caller.actor.clone(), RequestId::generate());
        self.gql_as(&caller, query, vars).await
    }

    /// Runs a GraphQL request with exactly this caller (its request id included).
    pub async fn gql_as(&self, caller: &Caller, query: &str, vars: Value) -> Value {
        let req = Request::new(query)
            .variables(Variables::from_json(vars))
            .data(caller.clone());
        serde_json::to_value(self.schema.execute(req).await).unwrap()
    }

    /// Runs a request that must succeed, returning `data`.
    pub async fn ok(&self, caller: &Caller, query: &str, vars: Value) -> Value {
        let r = self.gql(caller, query, vars).await;
        assert!(r["errors"].is_null(), "{query}\n=> {r:#}");
        r["data"].clone()
    }

    /// Creates a tenant as the platform admin, returning its id.
    pub async fn tenant(&self, name: &str, uscc_prefix: &str) -> String {
        let uscc = yuelu_api::service::uscc::with_check_character(uscc_prefix).unwrap();
        let d = self
            .ok(
                &self.admin,
                "mutation($p: TenantProfileInput!) { createTenant(profile: $p) { id } }",
                json!({"p": {"name": name, "uscc": uscc, "contactName": "张三",
                             "contactPhone": "+86 731 8888 0000", "contactEmail": "ops@example.cn"}}),
            )
            .await;
        d["createTenant"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user as the platform admin and returns a caller acting as them.
    pub async fn user(&self, tenant: Option<&str>, name: &str, role: &str) -> Caller {
        self.ok(
            &self.admin,
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({"i": {"tenantId": tenant, "username": name, "password": PASSWORD, "role": role}}),
        )
        .await;
        let row = user_by_name(&self.db, name).await;
        Caller::signed_in(Actor::of(&row, None), RequestId::generate())
    }
}

/// The password of every user the fixtures create.
pub const PASSWORD: &str = "correct horse battery";

pub async fn user_by_name(db: &Database, name: &str) -> yuelu_api::entity::user::Model {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    yuelu_api::entity::user::Entity::find()
        .filter(yuelu_api::entity::user::Column::Username.eq(name))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
}

/// The error code of a GraphQL answer, or "ok".
pub fn code(r: &Value) -> String {
    if r["errors"].is_null() {
        "ok".into()
    } else {
        r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<no code>")
            .to_owned()
    }
}

/// An anonymous caller.
pub fn anonymous() -> Caller {
    Caller::anonymous(RequestId::generate())
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::PlatformAdmin => "PLATFORM_ADMIN",
        Role::TenantAdmin => "TENANT_ADMIN",
        Role::TenantMember => "TENANT_MEMBER",
    }
}

/// The `openssl` command line, from the shared harness.
#[allow(unused_imports)] // each test binary uses a different part of the support module
pub use yuelu_e2e::{openssl, openssl_ok};
