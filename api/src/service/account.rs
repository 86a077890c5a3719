//! Accounts: users, passwords, sign-in sessions, and the first platform admin.

use crate::entity::session::{self, SessionKind};
use crate::entity::user::{self, Role};
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr,
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

/// A secret session token as handed to a client. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    fn generate() -> SessionToken {
        let bytes: [u8; 32] = rand::thread_rng().r#gen();
        SessionToken(format!(
            "yls_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Wraps a token received from a client.
    pub fn from_client(s: &str) -> SessionToken {
        SessionToken(s.trim().to_owned())
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex: what the database keeps. A fast hash suffices: tokens carry 256 random bits.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// A random printable secret (passwords, CSRF tokens).
pub fn random_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Hashes a password with Argon2id (default parameters: 19 MiB, 2 passes), off the async threads.
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

/// Checks a password against a stored hash, off the async threads.
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
pub async fn ensure_platform_admin(
    db: &impl ConnectionTrait,
) -> Result<Option<InitialAdmin>, ApiError> {
    let existing = user::Entity::find()
        .filter(user::Column::Role.eq(Role::PlatformAdmin))
        .one(db)
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
    match row.insert(db).await {
        Ok(_) => Ok(Some(InitialAdmin {
            username: ADMIN_USERNAME.to_owned(),
            password,
        })),
        // Another process created it between our look and our insert: theirs stands.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A new session: the secret token (give it to the client once) and its row.
#[derive(Debug)]
pub struct NewSession {
    /// The secret token.
    pub token: SessionToken,
    /// The stored session.
    pub session: session::Model,
    /// The signed-in user.
    pub user: user::Model,
}

/// Signs a user in with a password. Wrong user and wrong password are the same error.
pub async fn sign_in(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    kind: SessionKind,
) -> Result<NewSession, ApiError> {
    let found = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?;
    let hash = match &found {
        Some(u) => u.password_hash.clone(),
        None => decoy_hash().await?,
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    let user = match (found, ok) {
        (Some(u), true) => u,
        _ => return Err(ApiError::Unauthenticated),
    };
    let token = SessionToken::generate();
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
    .insert(db)
    .await?;
    Ok(NewSession {
        token,
        session,
        user,
    })
}

/// Finds the live session of a token: not expired, not revoked, of the expected kind.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    token: &SessionToken,
    kind: SessionKind,
    now: DateTime<Utc>,
) -> Result<Option<(user::Model, session::Model)>, ApiError> {
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token.hash()))
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(match found {
        Some((s, Some(u))) if s.kind == kind && s.revoked_at.is_none() && s.expires_at > now => {
            Some((u, s))
        }
        _ => None,
    })
}

/// Ends a session. Ending an unknown or ended session is not an error.
pub async fn sign_out(db: &impl ConnectionTrait, session_id: Uuid) -> Result<(), ApiError> {
    if let Some(s) = session::Entity::find_by_id(session_id).one(db).await?
        && s.revoked_at.is_none()
    {
        let mut active: session::ActiveModel = s.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(db).await?;
    }
    Ok(())
}
