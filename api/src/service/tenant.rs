//! Tenants (租户): enterprises on the platform, their status and quotas (配额).

use super::audit::{self, Action};
use super::authz::{self, Permission, Scope};
use super::caller::Caller;
use super::page::{self, Page, PageArgs};
use super::uscc::Uscc;
use crate::database::Database;
use crate::entity::network;
use crate::entity::tenant::{self, TenantStatus};
use crate::error::ApiError;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

/// A tenant's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most networks.
    pub networks: i32,
    /// Most nodes over all networks.
    pub nodes: i32,
    /// Most storage over all nodes, GiB.
    pub storage_gib: i32,
}

/// What a new tenant may use until a platform admin says otherwise.
pub const DEFAULT_QUOTA: Quota = Quota {
    networks: 5,
    nodes: 20,
    storage_gib: 500,
};

/// Upper bounds a quota may be set to (guards against typos like 10000000).
pub const QUOTA_LIMITS: Quota = Quota {
    networks: 1_000,
    nodes: 10_000,
    storage_gib: 1_000_000,
};

impl Quota {
    /// The quota of a tenant row.
    pub fn of(t: &tenant::Model) -> Quota {
        Quota {
            networks: t.max_networks,
            nodes: t.max_nodes,
            storage_gib: t.max_storage_gib,
        }
    }

    fn validate(&self) -> Result<(), ApiError> {
        for (field, v, max) in [
            ("quota.networks", self.networks, QUOTA_LIMITS.networks),
            ("quota.nodes", self.nodes, QUOTA_LIMITS.nodes),
            (
                "quota.storageGib",
                self.storage_gib,
                QUOTA_LIMITS.storage_gib,
            ),
        ] {
            if !(0..=max).contains(&v) {
                return Err(ApiError::invalid(field, format!("0 to {max}")));
            }
        }
        Ok(())
    }
}

/// What a tenant uses now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Networks.
    pub networks: i64,
    /// Nodes over all networks.
    pub nodes: i64,
    /// Storage over all nodes, GiB.
    pub storage_gib: i64,
}

/// Sums a tenant's usage.
pub async fn usage_of(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Usage, ApiError> {
    let nets = network::Entity::find()
        .filter(network::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?;
    Ok(nets.iter().fold(Usage::default(), |u, n| Usage {
        networks: u.networks + 1,
        nodes: u.nodes + n.nodes(),
        storage_gib: u.storage_gib + n.storage(),
    }))
}

/// A tenant's profile, as given to `createTenant` and `updateTenant`.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// The enterprise's name.
    pub name: Option<String>,
    /// Unified social credit code.
    pub uscc: Option<String>,
    /// Contact person.
    pub contact_name: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
}

fn text(field: &str, v: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let v = v.trim();
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{min} to {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn phone(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let ok = (5..=32).contains(&v.len())
        && digits >= 5
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ApiError::invalid(
            "contactPhone",
            "digits, spaces and + - ( ), at least 5 digits",
        ))
    }
}

fn email(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ApiError::invalid("contactEmail", "not an email address"))
    }
}

fn uscc(v: &str) -> Result<String, ApiError> {
    Uscc::parse(v)
        .map(|u| u.as_str().to_owned())
        .map_err(|e| ApiError::invalid("uscc", e.to_string()))
}

fn conflict(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(m)) if m.contains("uscc") => {
            ApiError::Conflict("a tenant with this unified social credit code exists".into())
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::Conflict("a tenant with this name exists".into())
        }
        _ => e.into(),
    }
}

/// Creates a tenant (platform admins only).
pub async fn create_tenant(
    db: &Database,
    caller: &Caller,
    profile: Profile,
    quota: Option<Quota>,
) -> Result<tenant::Model, ApiError> {
    audit::audited(db, caller, Action::CreateTenant, async |c| {
        authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
        let req = |v: &Option<String>, field: &str| {
            v.clone()
                .ok_or_else(|| ApiError::invalid(field, "required"))
        };
        let name = text("name", &req(&profile.name, "name")?, 2, 100)?;
        let code = uscc(&req(&profile.uscc, "uscc")?)?;
        let contact_name = text(
            "contactName",
            &req(&profile.contact_name, "contactName")?,
            1,
            64,
        )?;
        let contact_phone = phone(&req(&profile.contact_phone, "contactPhone")?)?;
        let contact_email = email(&req(&profile.contact_email, "contactEmail")?)?;
        let quota = quota.unwrap_or(DEFAULT_QUOTA);
        quota.validate()?;
        let now = Utc::now();
        let t = tenant::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            uscc: Set(code),
            contact_name: Set(contact_name),
            contact_phone: Set(contact_phone),
            contact_email: Set(contact_email),
            status: Set(TenantStatus::Active),
            max_networks: Set(quota.networks),
            max_nodes: Set(quota.nodes),
            max_storage_gib: Set(quota.storage_gib),
            allowed_domains: Set("[]".into()),
            allowed_ip_networks: Set("[]".into()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(c.txn())
        .await
        .map_err(conflict)?;
        c.target("tenant", t.id);
        c.tenant(t.id);
        c.detail("name", t.name.clone());
        c.detail("uscc", t.uscc.clone());
        Ok(t)
    })
    .await
}

async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<tenant::Model, ApiError> {
    tenant::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant".into()))
}

/// Changes a tenant's profile (platform admins only). Absent fields stay as they are.
pub async fn update_tenant(
    db: &Database,
    caller: &Caller,
    id: Uuid,
    profile: Profile,
) -> Result<tenant::Model, ApiError> {
    audit::audited(db, caller, Action::UpdateTenant, async |c| {
        c.target("tenant", id);
        c.tenant(id);
        authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
        let t = find(c.txn(), id).await?;
        let mut a: tenant::ActiveModel = t.into();
        let mut changed = Vec::new();
        if let Some(v) = &profile.name {
            a.name = Set(text("name", v, 2, 100)?);
            changed.push("name");
        }
        if let Some(v) = &profile.uscc {
            a.uscc = Set(uscc(v)?);
            changed.push("uscc");
        }
        if let Some(v) = &profile.contact_name {
            a.contact_name = Set(text("contactName", v, 1, 64)?);
            changed.push("contactName");
        }
        if let Some(v) = &profile.contact_phone {
            a.contact_phone = Set(phone(v)?);
            changed.push("contactPhone");
        }
        if let Some(v) = &profile.contact_email {
            a.contact_email = Set(email(v)?);
            changed.push("contactEmail");
        }
        c.detail("changed", changed);
        a.updated_at = Set(Utc::now());
        a.update(c.txn()).await.map_err(conflict)
    })
    .await
}

/// Suspends or reactivates a tenant (platform admins only). Suspension keeps every object; the
/// tenant's users cannot sign in and their sessions and tokens stop working until reactivated.
pub async fn set_tenant_status(
    db: &Database,
    caller: &Caller,
    id: Uuid,
    status: TenantStatus,
) -> Result<tenant::Model, ApiError> {
    audit::audited(db, caller, Action::SetTenantStatus, async |c| {
        c.target("tenant", id);
        c.tenant(id);
        authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
        let t = find(c.txn(), id).await?;
        c.detail(
            "to",
            match status {
                TenantStatus::Active => "active",
                TenantStatus::Suspended => "suspended",
            },
        );
        let mut a: tenant::ActiveModel = t.into();
        a.status = Set(status);
        a.updated_at = Set(Utc::now());
        Ok(a.update(c.txn()).await?)
    })
    .await
}

/// Sets a tenant's quota (platform admins only). A quota below current usage is allowed: it
/// blocks new networks until usage falls under it, and never touches running ones.
pub async fn set_tenant_quota(
    db: &Database,
    caller: &Caller,
    id: Uuid,
    quota: Quota,
) -> Result<tenant::Model, ApiError> {
    audit::audited(db, caller, Action::SetTenantQuota, async |c| {
        c.target("tenant", id);
        c.tenant(id);
        authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
        quota.validate()?;
        let t = find(c.txn(), id).await?;
        c.detail(
            "from",
            serde_json::json!([t.max_networks, t.max_nodes, t.max_storage_gib]),
        );
        c.detail(
            "to",
            serde_json::json!([quota.networks, quota.nodes, quota.storage_gib]),
        );
        let mut a: tenant::ActiveModel = t.into();
        a.max_networks = Set(quota.networks);
        a.max_nodes = Set(quota.nodes);
        a.max_storage_gib = Set(quota.storage_gib);
        a.updated_at = Set(Utc::now());
        Ok(a.update(c.txn()).await?)
    })
    .await
}

/// A tenant the caller may read (`NOT_FOUND` for others' tenants).
pub async fn tenant(db: &Database, caller: &Caller, id: Uuid) -> Result<tenant::Model, ApiError> {
    authz::require_visible(caller, Permission::ReadTenant, id, "tenant")?;
    find(db.conn(), id).await
}

/// Every tenant, in creation order (platform admins only).
pub async fn tenants(
    db: &Database,
    caller: &Caller,
    status: Option<TenantStatus>,
    args: PageArgs,
) -> Result<Page<tenant::Model>, ApiError> {
    authz::require(caller, Permission::ListTenants, Scope::Platform)?;
    let mut q = tenant::Entity::find();
    if let Some(s) = status {
        q = q.filter(tenant::Column::Status.eq(s));
    }
    page::keyset::<_, _, Uuid>(db.conn(), q, tenant::Column::Id, Order::Asc, args).await
}

/// A tenant's usage (whoever may read the tenant).
pub async fn usage(db: &Database, caller: &Caller, id: Uuid) -> Result<Usage, ApiError> {
    authz::require(caller, Permission::ReadTenant, Scope::Tenant(id))?;
    usage_of(db.conn(), id).await
}
