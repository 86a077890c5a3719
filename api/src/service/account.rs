//! Accounts: users, passwords, sign-in sessions, API tokens, and the first platform admin.

use super::audit::{self, Action};
use super::authz::{self, Permission, Scope};
use super::caller::{Actor, Caller};
use super::page::{self, Page, PageArgs};
use crate::database::Database;
use crate::entity::api_token;
use crate::entity::session::{self, SessionKind};
use crate::entity::tenant::{self, TenantStatus};
use crate::entity::user::{self, Role};
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, Order, PaginatorTrait, QueryFilter,
    Set, SqlErr,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::OnceLock;
use uuid::Uuid;

/// The platform admin created on first start.
pub const ADMIN_USERNAME: &str = "admin";
/// How long a console session lasts.
pub const CONSOLE_SESSION_TTL: Duration = Duration::hours(12);
/// How long a `signIn` bearer token lasts.
pub const BEARER_SESSION_TTL: Duration = Duration::hours(1);
/// Failed sign-ins allowed per user name within [`SIGN_IN_WINDOW`] before refusing attempts.
pub const MAX_SIGN_IN_FAILURES: u64 = 5;
/// The window the sign-in rate limit counts failures in.
pub const SIGN_IN_WINDOW: Duration = Duration::minutes(15);
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (Argon2 would take anything; the limit bounds work per request).
pub const MAX_PASSWORD: usize = 128;
/// How often an API token's `last_used_at` is written at most (not one write per request).
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

/// A secret bearer credential as handed to a client: a session token (`yls_`) or an API token
/// (`ylt_`). Only its SHA-256 is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    const SESSION: &'static str = "yls_";
    const API: &'static str = "ylt_";
    /// Prefix of enrollment tokens (node runtimes enrolling node keys).
    pub const ENROLLMENT: &'static str = "yle_";

    /// A fresh random token with a prefix that says what it is.
    pub fn generate(prefix: &str) -> SecretToken {
        let bytes: [u8; 32] = rand::thread_rng().r#gen();
        SecretToken(format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Wraps a token received from a client.
    pub fn from_client(s: &str) -> SecretToken {
        SecretToken(s.trim().to_owned())
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex: what the database keeps. A fast hash suffices: tokens carry 256 random bits.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    fn is_api_token(&self) -> bool {
        self.0.starts_with(Self::API)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(..)")
    }
}

/// A random printable secret (passwords, CSRF tokens), without look-alike characters.
pub fn random_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Hashes a password with Argon2id (19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))
}

async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(ApiError::internal)
}

/// A hash no password matches, verified for unknown users so that sign-in takes as long for
/// them as for real ones (no user enumeration by timing).
async fn decoy_hash() -> Result<String, ApiError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return Ok(h.clone());
    }
    let h = hash_password(random_secret(32)).await?;
    Ok(DECOY.get_or_init(|| h).clone())
}

/// Checks a user name: 3-64 of `[a-z0-9._-]`, starting with a letter.
pub fn validate_username(name: &str) -> Result<(), ApiError> {
    let ok = (3..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter",
        ))
    }
}

/// Checks a new password's length.
pub fn validate_password(field: &str, pw: &str) -> Result<(), ApiError> {
    let n = pw.chars().count();
    if n < MIN_PASSWORD || pw.len() > MAX_PASSWORD {
        return Err(ApiError::invalid(
            field,
            format!("{MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// The platform admin's credentials, printed once at first start.
#[derive(Clone)]
pub struct InitialAdmin {
    /// User name.
    pub username: String,
    /// The generated password (shown once, never stored).
    pub password: String,
}

impl fmt::Debug for InitialAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitialAdmin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Creates the platform admin if the platform has none. Returns its credentials when created.
pub async fn ensure_platform_admin(db: &Database) -> Result<Option<InitialAdmin>, ApiError> {
    let existing = user::Entity::find()
        .filter(user::Column::Role.eq(Role::PlatformAdmin))
        .one(db.conn())
        .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let password = random_secret(20);
    let now = Utc::now();
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(ADMIN_USERNAME.to_owned()),
        password_hash: Set(hash_password(password.clone()).await?),
        role: Set(Role::PlatformAdmin),
        tenant_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = db.write().await?;
    match row.insert(&*txn).await {
        Ok(_) => {
            txn.commit().await?;
            Ok(Some(InitialAdmin {
                username: ADMIN_USERNAME.to_owned(),
                password,
            }))
        }
        // Another process created it between our look and our insert: theirs stands.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A new session: the secret token (give it to the client once) and its row.
#[derive(Debug)]
pub struct NewSession {
    /// The secret token.
    pub token: SecretToken,
    /// The stored session.
    pub session: session::Model,
    /// The signed-in user.
    pub user: user::Model,
}

/// Signs a user in with a password. A wrong user and a wrong password are the same error and
/// take the same time; after [`MAX_SIGN_IN_FAILURES`] failures a user name is refused for a
/// while (`RATE_LIMITED`). Every attempt is audited.
pub async fn sign_in(
    db: &Database,
    caller: &Caller,
    username: &str,
    password: &str,
    kind: SessionKind,
) -> Result<NewSession, ApiError> {
    let refuse = async |err: ApiError| -> Result<NewSession, ApiError> {
        audit::record_failure(db, caller, Action::SignIn, Some(username), &err).await;
        Err(err)
    };
    if username.is_empty() || username.len() > 64 {
        return refuse(ApiError::invalid("username", "must be 1 to 64 characters")).await;
    }
    if password.len() > MAX_PASSWORD * 8 {
        return refuse(ApiError::invalid("password", "too long")).await;
    }
    let (failures, oldest) = audit::recent_sign_in_failures(db, username, SIGN_IN_WINDOW).await?;
    if failures >= MAX_SIGN_IN_FAILURES {
        let until = oldest.unwrap_or_else(Utc::now) + SIGN_IN_WINDOW;
        let retry_after_secs = (until - Utc::now()).num_seconds().max(1) as u64;
        return refuse(ApiError::RateLimited { retry_after_secs }).await;
    }
    // The password is checked outside any transaction: Argon2 takes tens of milliseconds and
    // must not hold the writer lock.
    let found = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .find_also_related(tenant::Entity)
        .one(db.conn())
        .await?;
    let hash = match &found {
        Some((u, _)) => u.password_hash.clone(),
        None => decoy_hash().await?,
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    let (user, tenant) = match (found, ok) {
        (Some(found), true) => found,
        _ => return refuse(ApiError::Unauthenticated).await,
    };
    if tenant.is_some_and(|t| t.status == TenantStatus::Suspended) {
        return refuse(ApiError::Forbidden("this tenant is suspended".into())).await;
    }
    let signed_in = Caller::signed_in(Actor::of(&user, None), caller.request_id.clone());
    audit::audited(db, &signed_in, Action::SignIn, async |c| {
        let token = SecretToken::generate(SecretToken::SESSION);
        let now = Utc::now();
        let ttl = match kind {
            SessionKind::Console => CONSOLE_SESSION_TTL,
            SessionKind::Bearer => BEARER_SESSION_TTL,
        };
        let session = session::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.id),
            token_hash: Set(token.hash()),
            kind: Set(kind),
            csrf_token: Set(random_secret(32)),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            revoked_at: Set(None),
        }
        .insert(c.txn())
        .await?;
        c.target("session", session.id);
        if let Some(t) = user.tenant_id {
            c.tenant(t);
        }
        c.detail(
            "via",
            match kind {
                SessionKind::Console => "console",
                SessionKind::Bearer => "graphql",
            },
        );
        Ok(NewSession {
            token,
            session,
            user: user.clone(),
        })
    })
    .await
}

/// How a request authenticated.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user.
    pub user: user::Model,
    /// The session, when it came with a session token (not an API token).
    pub session: Option<session::Model>,
}

/// Finds who a bearer token (session or API token) or console cookie belongs to: not expired,
/// not revoked, of the expected kind, and of an active tenant.
pub async fn authenticate(
    db: &Database,
    token: &SecretToken,
    kind: SessionKind,
    now: DateTime<Utc>,
) -> Result<Option<Authenticated>, ApiError> {
    let found = if token.is_api_token() {
        if kind != SessionKind::Bearer {
            return Ok(None);
        }
        let Some((t, Some(u))) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(token.hash()))
            .find_also_related(user::Entity)
            .one(db.conn())
            .await?
        else {
            return Ok(None);
        };
        if t.revoked_at.is_some() || t.expires_at <= now {
            return Ok(None);
        }
        if t.last_used_at
            .is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
        {
            // Best effort: a lost update only makes `lastUsedAt` a minute staler.
            let mut a: api_token::ActiveModel = t.into();
            a.last_used_at = Set(Some(now));
            if let Err(e) = a.update(db.conn()).await {
                tracing::warn!(error = %e, "recording API token use");
            }
        }
        Authenticated {
            user: u,
            session: None,
        }
    } else {
        let Some((s, Some(u))) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token.hash()))
            .find_also_related(user::Entity)
            .one(db.conn())
            .await?
        else {
            return Ok(None);
        };
        if s.kind != kind || s.revoked_at.is_some() || s.expires_at <= now {
            return Ok(None);
        }
        Authenticated {
            user: u,
            session: Some(s),
        }
    };
    if let Some(t) = found.user.tenant_id {
        let active = tenant::Entity::find_by_id(t)
            .one(db.conn())
            .await?
            .is_some_and(|t| t.status == TenantStatus::Active);
        if !active {
            return Ok(None);
        }
    }
    Ok(Some(found))
}

/// Ends the caller's session. Callers without a session (API tokens) get `CONFLICT`.
pub async fn sign_out(db: &Database, caller: &Caller) -> Result<(), ApiError> {
    audit::audited(db, caller, Action::SignOut, async |c| {
        let actor = caller.actor()?;
        let id = actor.session_id.ok_or_else(|| {
            ApiError::Conflict("this request carries an API token, not a session".into())
        })?;
        c.target("session", id);
        if let Some(t) = actor.tenant_id {
            c.tenant(t);
        }
        if let Some(s) = session::Entity::find_by_id(id).one(c.txn()).await?
            && s.revoked_at.is_none()
        {
            let mut active: session::ActiveModel = s.into();
            active.revoked_at = Set(Some(Utc::now()));
            active.update(c.txn()).await?;
        }
        Ok(())
    })
    .await
}

/// Changes the caller's own password, ending their other sessions.
pub async fn change_password(
    db: &Database,
    caller: &Caller,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    let actor = caller.actor()?.clone();
    let stored = user::Entity::find_by_id(actor.user_id)
        .one(db.conn())
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let current_ok = current.len() <= MAX_PASSWORD * 8
        && verify_password(current.to_owned(), stored.password_hash.clone()).await?;
    let new_hash = if current_ok && validate_password("newPassword", new).is_ok() {
        Some(hash_password(new.to_owned()).await?)
    } else {
        None
    };
    audit::audited(db, caller, Action::ChangePassword, async |c| {
        c.target("user", actor.user_id);
        if let Some(t) = actor.tenant_id {
            c.tenant(t);
        }
        if !current_ok {
            return Err(ApiError::invalid(
                "currentPassword",
                "does not match the current password",
            ));
        }
        validate_password("newPassword", new)?;
        let mut u: user::ActiveModel = stored.clone().into();
        u.password_hash = Set(new_hash.clone().unwrap_or_default());
        u.updated_at = Set(Utc::now());
        u.update(c.txn()).await?;
        let now = Utc::now();
        let others = session::Entity::find()
            .filter(session::Column::UserId.eq(actor.user_id))
            .filter(session::Column::RevokedAt.is_null())
            .all(c.txn())
            .await?;
        let mut ended = 0;
        for s in others {
            if Some(s.id) != actor.session_id {
                let mut a: session::ActiveModel = s.into();
                a.revoked_at = Set(Some(now));
                a.update(c.txn()).await?;
                ended += 1;
            }
        }
        c.detail("endedSessions", ended);
        Ok(())
    })
    .await
}

/// What `createUser` takes.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The tenant (required for tenant roles; none for platform admins).
    pub tenant_id: Option<Uuid>,
    /// Sign-in name.
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Creates a user. Platform admins create anyone; tenant admins create tenant users in their
/// own tenant.
pub async fn create_user(
    db: &Database,
    caller: &Caller,
    input: NewUser,
) -> Result<user::Model, ApiError> {
    // Hash first: Argon2 must not run under the writer lock. Invalid passwords are refused
    // inside the audited change below, so the refusal is recorded too.
    let hash = if validate_password("password", &input.password).is_ok() {
        hash_password(input.password.clone()).await?
    } else {
        String::new()
    };
    audit::audited(db, caller, Action::CreateUser, async |c| {
        match (input.role, input.tenant_id) {
            (Role::PlatformAdmin, None) => {
                authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
            }
            (Role::PlatformAdmin, Some(_)) => {
                return Err(ApiError::invalid(
                    "tenantId",
                    "platform admins belong to no tenant",
                ));
            }
            (_, None) => {
                return Err(ApiError::invalid("tenantId", "tenant users need a tenant"));
            }
            (_, Some(t)) => {
                c.tenant(t);
                authz::require(caller, Permission::ManageUsers, Scope::Tenant(t))?;
                if tenant::Entity::find_by_id(t).one(c.txn()).await?.is_none() {
                    return Err(ApiError::NotFound("tenant".into()));
                }
            }
        }
        validate_username(&input.username)?;
        validate_password("password", &input.password)?;
        let now = Utc::now();
        let row = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            username: Set(input.username.clone()),
            password_hash: Set(hash.clone()),
            role: Set(input.role),
            tenant_id: Set(input.tenant_id),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let user = row.insert(c.txn()).await.map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::Conflict(format!("user name {} is taken", input.username))
            }
            _ => e.into(),
        })?;
        c.target("user", user.id);
        c.detail("username", user.username.clone());
        c.detail("role", user.role.as_str());
        Ok(user)
    })
    .await
}

/// Loads a user the caller may see (`NOT_FOUND` otherwise, also for other tenants' users).
pub async fn user(db: &Database, caller: &Caller, id: Uuid) -> Result<user::Model, ApiError> {
    let actor = caller.actor()?;
    let u = user::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    let visible = u.id == actor.user_id
        || match u.tenant_id {
            Some(t) => authz::allows(actor, Permission::ReadUsers, Scope::Tenant(t)),
            None => authz::allows(actor, Permission::ManageTenants, Scope::Platform),
        };
    if visible {
        Ok(u)
    } else {
        Err(ApiError::NotFound("user".into()))
    }
}

/// Lists users of a tenant (or, for platform admins without a tenant, everyone).
pub async fn users(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
    args: PageArgs,
) -> Result<Page<user::Model>, ApiError> {
    let scope = authz::listing_scope(caller, Permission::ReadUsers, tenant_id)?;
    let mut q = user::Entity::find();
    if let Some(t) = scope {
        q = q.filter(user::Column::TenantId.eq(t));
    }
    page::keyset::<_, _, Uuid>(db.conn(), q, user::Column::Id, Order::Asc, args).await
}

/// Changes a tenant user's role (between tenant admin and member). Nobody changes their own.
pub async fn set_user_role(
    db: &Database,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> Result<user::Model, ApiError> {
    audit::audited(db, caller, Action::SetUserRole, async |c| {
        c.target("user", id);
        let u = user::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("user".into()))?;
        let Some(t) = u.tenant_id else {
            caller.actor()?;
            return Err(ApiError::Conflict(
                "platform admins have no tenant role to change".into(),
            ));
        };
        c.tenant(t);
        authz::require_visible(caller, Permission::ManageUsers, t, "user")?;
        if role == Role::PlatformAdmin {
            return Err(ApiError::invalid(
                "role",
                "tenant users are tenant admins or members",
            ));
        }
        if caller.actor()?.user_id == id {
            return Err(ApiError::Conflict("you cannot change your own role".into()));
        }
        c.detail("from", u.role.as_str());
        c.detail("to", role.as_str());
        let mut a: user::ActiveModel = u.into();
        a.role = Set(role);
        a.updated_at = Set(Utc::now());
        Ok(a.update(c.txn()).await?)
    })
    .await
}

/// Deletes a user (their sessions and tokens go with them). Nobody deletes themselves, and the
/// last platform admin stays.
pub async fn delete_user(db: &Database, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    audit::audited(db, caller, Action::DeleteUser, async |c| {
        c.target("user", id);
        let u = user::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("user".into()))?;
        match u.tenant_id {
            Some(t) => {
                c.tenant(t);
                authz::require_visible(caller, Permission::ManageUsers, t, "user")?;
            }
            None => {
                authz::require(caller, Permission::ManageTenants, Scope::Platform)?;
                let admins = user::Entity::find()
                    .filter(user::Column::Role.eq(Role::PlatformAdmin))
                    .count(c.txn())
                    .await?;
                if admins <= 1 {
                    return Err(ApiError::Conflict(
                        "the last platform admin cannot be deleted".into(),
                    ));
                }
            }
        }
        if caller.actor()?.user_id == id {
            return Err(ApiError::Conflict("you cannot delete yourself".into()));
        }
        c.detail("username", u.username.clone());
        u.delete(c.txn()).await?;
        Ok(())
    })
    .await
}

/// A new API token: the secret (shown once) and its row.
#[derive(Debug)]
pub struct NewApiToken {
    /// The secret token.
    pub token: SecretToken,
    /// The stored token.
    pub row: api_token::Model,
}

/// Longest an API token may live.
pub const MAX_TOKEN_DAYS: i64 = 365;

/// Creates an API token for the caller.
pub async fn create_api_token(
    db: &Database,
    caller: &Caller,
    name: &str,
    days: i64,
) -> Result<NewApiToken, ApiError> {
    audit::audited(db, caller, Action::CreateApiToken, async |c| {
        let actor = caller.actor()?;
        if let Some(t) = actor.tenant_id {
            c.tenant(t);
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid("name", "1 to 64 characters"));
        }
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            return Err(ApiError::invalid(
                "expiresInDays",
                format!("1 to {MAX_TOKEN_DAYS} days"),
            ));
        }
        let token = SecretToken::generate(SecretToken::API);
        let now = Utc::now();
        let row = api_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(actor.user_id),
            name: Set(name.to_owned()),
            token_hash: Set(token.hash()),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(days)),
            last_used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(c.txn())
        .await?;
        c.target("api-token", row.id);
        c.detail("name", name);
        c.detail("expiresAt", row.expires_at.to_rfc3339());
        Ok(NewApiToken { token, row })
    })
    .await
}

/// Lists the caller's API tokens.
pub async fn api_tokens(
    db: &Database,
    caller: &Caller,
    args: PageArgs,
) -> Result<Page<api_token::Model>, ApiError> {
    let actor = caller.actor()?;
    let q = api_token::Entity::find().filter(api_token::Column::UserId.eq(actor.user_id));
    page::keyset::<_, _, Uuid>(db.conn(), q, api_token::Column::Id, Order::Asc, args).await
}

/// Revokes one of the caller's API tokens (platform admins may revoke anyone's).
pub async fn revoke_api_token(
    db: &Database,
    caller: &Caller,
    id: Uuid,
) -> Result<api_token::Model, ApiError> {
    audit::audited(db, caller, Action::RevokeApiToken, async |c| {
        let actor = caller.actor()?;
        c.target("api-token", id);
        if let Some(t) = actor.tenant_id {
            c.tenant(t);
        }
        let t = api_token::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .filter(|t| t.user_id == actor.user_id || actor.role == Role::PlatformAdmin)
            .ok_or_else(|| ApiError::NotFound("API token".into()))?;
        if t.revoked_at.is_some() {
            return Ok(t);
        }
        let mut a: api_token::ActiveModel = t.into();
        a.revoked_at = Set(Some(Utc::now()));
        Ok(a.update(c.txn()).await?)
    })
    .await
}
