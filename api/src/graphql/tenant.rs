//! Tenants in GraphQL: profile, status, quota and usage.

use super::page::{self, Counted};
use super::{parts, uuid_arg};
use crate::entity::tenant::{self, TenantStatus as DbStatus};
use crate::service::{page::cursor, tenant as tenants};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use chrono::{DateTime, Utc};

/// Whether a tenant may use the platform.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::entity::tenant::TenantStatus")]
pub enum TenantStatus {
    /// Its users sign in and work.
    Active,
    /// Its users cannot sign in and its tokens stop working; nothing is deleted.
    Suspended,
}

/// A tenant's limits (配额).
#[derive(SimpleObject, InputObject, Clone, Copy, Debug)]
#[graphql(input_name = "QuotaInput")]
pub struct Quota {
    /// Most networks.
    pub networks: i32,
    /// Most nodes over all networks.
    pub nodes: i32,
    /// Most storage over all nodes, GiB.
    pub storage_gib: i32,
}

impl From<Quota> for tenants::Quota {
    fn from(q: Quota) -> Self {
        tenants::Quota {
            networks: q.networks,
            nodes: q.nodes,
            storage_gib: q.storage_gib,
        }
    }
}

/// What a tenant uses now (用量).
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct Usage {
    /// Networks.
    pub networks: i64,
    /// Nodes over all networks.
    pub nodes: i64,
    /// Storage over all nodes, GiB.
    pub storage_gib: i64,
}

/// An enterprise on the platform (租户).
#[derive(Clone, Debug)]
pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The enterprise's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Unified social credit code (统一社会信用代码).
    async fn uscc(&self) -> &str {
        &self.0.uscc
    }
    /// Contact person.
    async fn contact_name(&self) -> &str {
        &self.0.contact_name
    }
    /// Contact phone.
    async fn contact_phone(&self) -> &str {
        &self.0.contact_phone
    }
    /// Contact email.
    async fn contact_email(&self) -> &str {
        &self.0.contact_email
    }
    /// Active or suspended.
    async fn status(&self) -> TenantStatus {
        self.0.status.into()
    }
    /// Its limits.
    async fn quota(&self) -> Quota {
        let q = tenants::Quota::of(&self.0);
        Quota {
            networks: q.networks,
            nodes: q.nodes,
            storage_gib: q.storage_gib,
        }
    }
    /// What it uses now.
    async fn usage(&self, ctx: &Context<'_>) -> Result<Usage> {
        let (db, caller) = parts(ctx)?;
        let u = tenants::usage(db, caller, self.0.id).await.extend()?;
        Ok(Usage {
            networks: u.networks,
            nodes: u.nodes,
            storage_gib: u.storage_gib,
        })
    }
    /// DNS domains its certificates may name (subdomains included).
    async fn allowed_domains(&self) -> Vec<String> {
        serde_json::from_str(&self.0.allowed_domains).unwrap_or_default()
    }
    /// IP networks its certificates may name.
    async fn allowed_ip_networks(&self) -> Vec<String> {
        serde_json::from_str(&self.0.allowed_ip_networks).unwrap_or_default()
    }
    /// When created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A tenant's profile. On update, absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct TenantProfileInput {
    /// The enterprise's name, 2-100 characters, unique.
    pub name: Option<String>,
    /// Unified social credit code: 18 characters with a valid check character (GB 32100-2015).
    pub uscc: Option<String>,
    /// Contact person.
    pub contact_name: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
}

impl From<TenantProfileInput> for tenants::Profile {
    fn from(p: TenantProfileInput) -> Self {
        tenants::Profile {
            name: p.name,
            uscc: p.uscc,
            contact_name: p.contact_name,
            contact_phone: p.contact_phone,
            contact_email: p.contact_email,
        }
    }
}

#[derive(Default)]
pub(super) struct TenantQuery;

#[Object]
impl TenantQuery {
    /// Every tenant (platform admins).
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        status: Option<TenantStatus>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Tenant, Counted>> {
        let (db, caller) = parts(ctx)?;
        let args = page::args(ctx, after, before, first, last);
        let status: Option<DbStatus> = status.map(Into::into);
        let p = tenants::tenants(db, caller, status, args).await.extend()?;
        Ok(page::connection(p, |t| cursor(&t.id), Tenant))
    }

    /// A tenant the caller may see.
    async fn tenant(&self, ctx: &Context<'_>, id: ID) -> Result<Tenant> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Tenant(tenants::tenant(db, caller, id).await.extend()?))
    }
}

#[derive(Default)]
pub(super) struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Creates a tenant (platform admins). The quota defaults to 5 networks, 20 nodes, 500 GiB.
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        profile: TenantProfileInput,
        quota: Option<Quota>,
    ) -> Result<Tenant> {
        let (db, caller) = parts(ctx)?;
        let t = tenants::create_tenant(db, caller, profile.into(), quota.map(Into::into))
            .await
            .extend()?;
        Ok(Tenant(t))
    }

    /// Changes a tenant's profile (platform admins).
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        profile: TenantProfileInput,
    ) -> Result<Tenant> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Tenant(
            tenants::update_tenant(db, caller, id, profile.into())
                .await
                .extend()?,
        ))
    }

    /// Suspends or reactivates a tenant (platform admins).
    async fn set_tenant_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: TenantStatus,
    ) -> Result<Tenant> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Tenant(
            tenants::set_tenant_status(db, caller, id, status.into())
                .await
                .extend()?,
        ))
    }

    /// Sets a tenant's quota (platform admins).
    async fn set_tenant_quota(&self, ctx: &Context<'_>, id: ID, quota: Quota) -> Result<Tenant> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Tenant(
            tenants::set_tenant_quota(db, caller, id, quota.into())
                .await
                .extend()?,
        ))
    }
}
