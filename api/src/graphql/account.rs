//! Accounts in GraphQL: sign in and out, users, passwords, API tokens.

use super::page::{self, Counted};
use super::tenant::Tenant;
use super::{opt_uuid_arg, parts, uuid_arg};
use crate::entity::api_token;
use crate::entity::session::SessionKind;
use crate::entity::user::{self, Role as DbRole};
use crate::service::{account, page::cursor, tenant as tenants};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use chrono::{DateTime, Utc};

/// A platform role.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::entity::user::Role")]
pub enum Role {
    /// Runs the platform: tenants, quotas, certificate authorities, audit (平台管理员).
    PlatformAdmin,
    /// Administers one tenant: its users and networks (租户管理员).
    TenantAdmin,
    /// Uses one tenant's networks (租户成员).
    TenantMember,
}

/// A user of the platform.
#[derive(Clone, Debug)]
pub struct User(pub user::Model);

#[Object]
impl User {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Sign-in name.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Role.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// The tenant's id, for tenant roles.
    async fn tenant_id(&self) -> Option<ID> {
        self.0.tenant_id.map(|t| ID(t.to_string()))
    }
    /// The tenant, for tenant roles.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<Tenant>> {
        let (db, caller) = parts(ctx)?;
        match self.0.tenant_id {
            Some(t) => Ok(Some(Tenant(tenants::tenant(db, caller, t).await.extend()?))),
            None => Ok(None),
        }
    }
    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What `signIn` returns.
#[derive(SimpleObject, Debug)]
pub struct SignInPayload {
    /// Bearer token for the `Authorization` header, valid for an hour. Shown once.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: User,
}

/// A long-lived API token (its secret is shown only when created).
#[derive(Clone, Debug)]
pub struct ApiToken(pub api_token::Model);

#[Object]
impl ApiToken {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// When created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When it last authenticated a request (to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// What `createApiToken` returns.
#[derive(SimpleObject, Debug)]
pub struct NewApiTokenPayload {
    /// The secret: send it as `Authorization: Bearer <token>`. Shown only this once.
    pub token: String,
    /// The stored token.
    pub api_token: ApiToken,
}

/// What `createUser` takes.
#[derive(InputObject, Debug)]
pub struct CreateUserInput {
    /// The tenant; omit only for a new platform admin.
    pub tenant_id: Option<ID>,
    /// Sign-in name: 3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter.
    pub username: String,
    /// Initial password, 12 to 128 characters.
    pub password: String,
    /// Role.
    pub role: Role,
}

#[derive(Default)]
pub(super) struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let (db, caller) = parts(ctx)?;
        let id = caller.actor().extend()?.user_id;
        Ok(User(account::user(db, caller, id).await.extend()?))
    }

    /// A user the caller may see.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<User> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(User(account::user(db, caller, id).await.extend()?))
    }

    /// Users of a tenant (default: the caller's); platform admins may omit it to list everyone.
    async fn users(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, User, Counted>> {
        let (db, caller) = parts(ctx)?;
        let tenant = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let args = page::args(ctx, after, before, first, last);
        let p = account::users(db, caller, tenant, args).await.extend()?;
        Ok(page::connection(p, |u| cursor(&u.id), User))
    }

    /// The caller's API tokens.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, ApiToken, Counted>> {
        let (db, caller) = parts(ctx)?;
        let args = page::args(ctx, after, before, first, last);
        let p = account::api_tokens(db, caller, args).await.extend()?;
        Ok(page::connection(p, |t| cursor(&t.id), ApiToken))
    }
}

#[derive(Default)]
pub(super) struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Signs in with a password and returns a bearer token for an hour. After 5 failures in
    /// 15 minutes a user name is refused with RATE_LIMITED until the window passes.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<SignInPayload> {
        let (db, caller) = parts(ctx)?;
        let s = account::sign_in(db, caller, &username, &password, SessionKind::Bearer)
            .await
            .extend()?;
        Ok(SignInPayload {
            token: s.token.expose().to_owned(),
            expires_at: s.session.expires_at,
            user: User(s.user),
        })
    }

    /// Ends the session of the bearer token this request carries.
    async fn sign_out(&self, ctx: &Context<'_>) -> Result<bool> {
        let (db, caller) = parts(ctx)?;
        account::sign_out(db, caller).await.extend()?;
        Ok(true)
    }

    /// Changes the caller's password and ends their other sessions.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let (db, caller) = parts(ctx)?;
        account::change_password(db, caller, &current_password, &new_password)
            .await
            .extend()?;
        Ok(true)
    }

    /// Creates a user: platform admins anywhere, tenant admins in their own tenant.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let (db, caller) = parts(ctx)?;
        let tenant_id = opt_uuid_arg("tenantId", input.tenant_id).extend()?;
        let u = account::create_user(
            db,
            caller,
            account::NewUser {
                tenant_id,
                username: input.username,
                password: input.password,
                role: input.role.into(),
            },
        )
        .await
        .extend()?;
        Ok(User(u))
    }

    /// Makes a tenant user a tenant admin or member.
    async fn set_user_role(&self, ctx: &Context<'_>, id: ID, role: Role) -> Result<User> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        let role: DbRole = role.into();
        Ok(User(
            account::set_user_role(db, caller, id, role)
                .await
                .extend()?,
        ))
    }

    /// Deletes a user with their sessions and tokens.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        account::delete_user(db, caller, id).await.extend()?;
        Ok(true)
    }

    /// Creates an API token for the caller; its secret is in the answer and nowhere else.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default = 90)] expires_in_days: i32,
    ) -> Result<NewApiTokenPayload> {
        let (db, caller) = parts(ctx)?;
        let t = account::create_api_token(db, caller, &name, i64::from(expires_in_days))
            .await
            .extend()?;
        Ok(NewApiTokenPayload {
            token: t.token.expose().to_owned(),
            api_token: ApiToken(t.row),
        })
    }

    /// Revokes one of the caller's API tokens.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> Result<ApiToken> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(ApiToken(
            account::revoke_api_token(db, caller, id).await.extend()?,
        ))
    }
}
