//! Accounts in GraphQL: who am I, sign in, sign out.

use super::Viewer;
use crate::entity::session::SessionKind;
use crate::entity::user::{self, Role as DbRole};
use crate::error::ApiError;
use crate::service::account;
use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result, ResultExt, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

/// A platform role.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the platform.
    PlatformAdmin,
    /// Administers one tenant.
    TenantAdmin,
    /// Uses one tenant's networks.
    TenantMember,
}

impl From<DbRole> for Role {
    fn from(r: DbRole) -> Self {
        match r {
            DbRole::PlatformAdmin => Role::PlatformAdmin,
            DbRole::TenantAdmin => Role::TenantAdmin,
            DbRole::TenantMember => Role::TenantMember,
        }
    }
}

/// A user of the platform.
#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    /// Id.
    pub id: ID,
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Tenant, for tenant roles.
    pub tenant_id: Option<ID>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(u: user::Model) -> Self {
        User {
            id: ID(u.id.to_string()),
            username: u.username,
            role: u.role.into(),
            tenant_id: u.tenant_id.map(|t| ID(t.to_string())),
            created_at: u.created_at,
        }
    }
}

/// What `signIn` returns.
#[derive(SimpleObject, Debug)]
pub struct SignInPayload {
    /// Bearer token for the `Authorization` header. Shown once.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: User,
}

#[derive(Default)]
pub(super) struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let viewer = ctx.data::<Viewer>()?;
        let (user, _) = viewer
            .session
            .clone()
            .ok_or(ApiError::Unauthenticated)
            .extend()?;
        Ok(user.into())
    }
}

#[derive(Default)]
pub(super) struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Signs in with a password and returns a short-lived bearer token.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<SignInPayload> {
        let db = ctx.data::<DatabaseConnection>()?;
        if username.is_empty() || username.len() > 64 {
            return Err(ApiError::invalid("username", "must be 1 to 64 characters").extend());
        }
        if password.len() > 1024 {
            return Err(ApiError::invalid("password", "too long").extend());
        }
        let s = account::sign_in(db, &username, &password, SessionKind::Bearer)
            .await
            .extend()?;
        Ok(SignInPayload {
            token: s.token.expose().to_owned(),
            expires_at: s.session.expires_at,
            user: s.user.into(),
        })
    }

    /// Ends the session of the bearer token this request carries.
    async fn sign_out(&self, ctx: &Context<'_>) -> Result<bool> {
        let db = ctx.data::<DatabaseConnection>()?;
        let viewer = ctx.data::<Viewer>()?;
        let (_, session) = viewer
            .session
            .clone()
            .ok_or(ApiError::Unauthenticated)
            .extend()?;
        account::sign_out(db, session.id).await.extend()?;
        Ok(true)
    }
}
