//! Networks (区块链网络): what a tenant launches, checked against its engine and its quota.
//!
//! Creating a network records it in phase `Pending`, with the founding member's nodes counted
//! against the tenant's quota. Handing it to a runtime (the local runtime, or a registered
//! Kubernetes cluster) is the runtime's part and moves it on from `Pending`.

use super::audit::{self, Action};
use super::authz::{self, Permission};
use super::caller::Caller;
use super::page::{self, Page, PageArgs};
use super::tenant::{Quota, usage_of};
use crate::database::Database;
use crate::entity::network::{self, NetworkPhase};
use crate::entity::tenant::{self, TenantStatus};
use crate::error::ApiError;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, EntityTrait, ModelTrait, Order, QueryFilter,
    QuerySelect, Set, SqlErr,
};
use uuid::Uuid;
use yuelu_engine::{
    BlockParams, ChainId, Consensus, CryptoSuite, EngineKind, EngineRegistry, NetworkSpec,
};

/// The placement that runs nodes as processes on the platform's own machine.
pub const LOCAL_PLACEMENT: &str = "local";
/// Most observers a member may start with.
pub const MAX_OBSERVERS: i32 = 16;
/// Most storage per node, GiB.
pub const MAX_STORAGE_GIB: i32 = 16 * 1024;

/// What `createNetwork` takes.
#[derive(Clone, Debug)]
pub struct NewNetwork {
    /// The tenant launching it; the caller's own when absent.
    pub tenant_id: Option<Uuid>,
    /// A DNS label, unique within the tenant.
    pub name: String,
    /// The engine.
    pub engine: EngineKind,
    /// The engine version; the newest the engine offers when absent.
    pub version: Option<String>,
    /// The consensus algorithm; the engine's first when absent.
    pub consensus: Option<Consensus>,
    /// The crypto suite.
    pub crypto: CryptoSuite,
    /// Validators of the founding member.
    pub validators: i32,
    /// Observers of the founding member.
    pub observers: i32,
    /// Storage per node, GiB.
    pub storage_gib: i32,
    /// Where it runs: `local`, or a registered cluster's name.
    pub placement: String,
}

/// Validates a new network against its engine. Returns the completed spec fields.
fn check_engine(engines: &EngineRegistry, n: &NewNetwork) -> Result<(String, Consensus), ApiError> {
    let engine = engines
        .get(n.engine)
        .map_err(|e| ApiError::invalid("engine", e.to_string()))?;
    let caps = engine.capabilities();
    let version = match &n.version {
        Some(v) => v.clone(),
        None => caps
            .versions
            .first()
            .cloned()
            .ok_or_else(|| ApiError::invalid("version", "the engine offers no version"))?,
    };
    let consensus = match n.consensus {
        Some(c) => c,
        None => *caps
            .consensus
            .first()
            .ok_or_else(|| ApiError::invalid("consensus", "the engine offers no consensus"))?,
    };
    let chain_id =
        ChainId::new(n.name.clone()).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let spec = NetworkSpec {
        chain_id,
        engine: n.engine,
        version: version.clone(),
        consensus,
        crypto: n.crypto,
        block: BlockParams::default(),
    };
    engine.validate(&spec).map_err(|e| {
        let field = match &e {
            yuelu_engine::EngineError::Unsupported { what } if what.contains("version") => {
                "version"
            }
            yuelu_engine::EngineError::Unsupported { what } if what.contains("consensus") => {
                "consensus"
            }
            yuelu_engine::EngineError::Unsupported { what } if what.contains("crypto") => "crypto",
            _ => "spec",
        };
        ApiError::invalid(field, e.to_string())
    })?;
    let v = u32::try_from(n.validators).unwrap_or(0);
    if !caps.validators.contains(&v) {
        return Err(ApiError::invalid(
            "validators",
            format!(
                "{} takes {} to {} validators",
                n.engine,
                caps.validators.start(),
                caps.validators.end()
            ),
        ));
    }
    if !(0..=MAX_OBSERVERS).contains(&n.observers) {
        return Err(ApiError::invalid(
            "observers",
            format!("0 to {MAX_OBSERVERS}"),
        ));
    }
    if !(1..=MAX_STORAGE_GIB).contains(&n.storage_gib) {
        return Err(ApiError::invalid(
            "storageGib",
            format!("1 to {MAX_STORAGE_GIB} GiB per node"),
        ));
    }
    if n.placement != LOCAL_PLACEMENT {
        return Err(ApiError::invalid(
            "placement",
            format!(
                "no cluster named {:?} is registered; available: {LOCAL_PLACEMENT}",
                n.placement
            ),
        ));
    }
    if !caps.runs_locally {
        return Err(ApiError::invalid(
            "placement",
            format!("{} runs on Kubernetes clusters only", n.engine),
        ));
    }
    Ok((version, consensus))
}

/// Records a new network for a tenant, within its quota.
pub async fn create_network(
    db: &Database,
    engines: &EngineRegistry,
    caller: &Caller,
    input: NewNetwork,
) -> Result<network::Model, ApiError> {
    audit::audited(db, caller, Action::CreateNetwork, async |c| {
        let tenant_id = match input.tenant_id {
            Some(t) => t,
            None => caller
                .actor()?
                .tenant_id
                .ok_or_else(|| ApiError::invalid("tenantId", "required for platform admins"))?,
        };
        c.tenant(tenant_id);
        authz::require_visible(caller, Permission::ManageNetworks, tenant_id, "tenant")?;
        let (version, consensus) = check_engine(engines, &input)?;

        // Lock the tenant's row on PostgreSQL so that two launches cannot both fit the last
        // slot of the quota; on SQLite the writer lock already serializes them.
        let mut q = tenant::Entity::find_by_id(tenant_id);
        if c.backend() == DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        let t = q
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("tenant".into()))?;
        if t.status == TenantStatus::Suspended {
            return Err(ApiError::Conflict("the tenant is suspended".into()));
        }
        let quota = Quota::of(&t);
        let used = usage_of(c.txn(), tenant_id).await?;
        let nodes = i64::from(input.validators) + i64::from(input.observers);
        let storage = nodes * i64::from(input.storage_gib);
        let over = [
            ("networks", used.networks + 1, i64::from(quota.networks)),
            ("nodes", used.nodes + nodes, i64::from(quota.nodes)),
            (
                "storage GiB",
                used.storage_gib + storage,
                i64::from(quota.storage_gib),
            ),
        ]
        .into_iter()
        .filter(|(_, want, max)| want > max)
        .map(|(what, want, max)| format!("{what}: {want} > {max}"))
        .collect::<Vec<_>>();
        if !over.is_empty() {
            return Err(ApiError::QuotaExceeded(over.join(", ")));
        }

        let now = Utc::now();
        let n = network::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant_id),
            name: Set(input.name.clone()),
            engine: Set(input.engine.as_str().to_owned()),
            version: Set(version),
            consensus: Set(consensus.as_str().to_owned()),
            crypto: Set(input.crypto.as_str().to_owned()),
            validators: Set(input.validators),
            observers: Set(input.observers),
            storage_gib: Set(input.storage_gib),
            placement: Set(input.placement.clone()),
            phase: Set(NetworkPhase::Pending),
            created_by: Set(caller.actor()?.user_id),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(c.txn())
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::Conflict(format!("a network named {} exists", input.name))
            }
            _ => e.into(),
        })?;
        c.target("network", n.id);
        c.detail("name", n.name.clone());
        c.detail("engine", n.engine.clone());
        c.detail("nodes", nodes);
        Ok(n)
    })
    .await
}

/// A network the caller may read (`NOT_FOUND` for other tenants').
pub async fn network(db: &Database, caller: &Caller, id: Uuid) -> Result<network::Model, ApiError> {
    caller.actor()?;
    let n = network::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::NotFound("network".into()))?;
    authz::require_visible(caller, Permission::ReadNetworks, n.tenant_id, "network")?;
    Ok(n)
}

/// A tenant's networks (platform admins: everyone's when no tenant is given).
pub async fn networks(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
    args: PageArgs,
) -> Result<Page<network::Model>, ApiError> {
    let scope = authz::listing_scope(caller, Permission::ReadNetworks, tenant_id)?;
    let mut q = network::Entity::find();
    if let Some(t) = scope {
        q = q.filter(network::Column::TenantId.eq(t));
    }
    page::keyset::<_, _, Uuid>(db.conn(), q, network::Column::Id, Order::Asc, args).await
}

/// Deletes a network's record, freeing its quota. Only networks no runtime has taken yet
/// (`Pending`) or that ended (`Failed`) can go; running ones are torn down by their runtime.
pub async fn delete_network(db: &Database, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    audit::audited(db, caller, Action::DeleteNetwork, async |c| {
        c.target("network", id);
        caller.actor()?;
        let n = network::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("network".into()))?;
        c.tenant(n.tenant_id);
        authz::require_visible(caller, Permission::ManageNetworks, n.tenant_id, "network")?;
        if !matches!(n.phase, NetworkPhase::Pending | NetworkPhase::Failed) {
            return Err(ApiError::Conflict(format!(
                "the network is {:?}; only Pending or Failed networks can be deleted",
                n.phase
            )));
        }
        c.detail("name", n.name.clone());
        n.delete(c.txn()).await?;
        Ok(())
    })
    .await
}
