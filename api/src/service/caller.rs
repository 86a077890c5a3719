//! Who is calling: the signed-in actor (if any) and the request's id, for authorization and audit.

use crate::entity::user::{self, Role};
use crate::error::ApiError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// A request's id: taken from a well-formed `X-Request-Id` header, else generated. Recorded in
/// audit entries and returned in the response header, so that a user's report finds the entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id.
    pub fn generate() -> RequestId {
        RequestId(Uuid::now_v7().to_string())
    }

    /// The client's id if it is 1-64 characters of `[A-Za-z0-9._-]`, else a fresh one.
    pub fn from_header(value: Option<&str>) -> RequestId {
        match value {
            Some(v)
                if !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
            {
                RequestId(v.to_owned())
            }
            _ => RequestId::generate(),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signed-in user, as authorization sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's name.
    pub username: String,
    /// The user's role.
    pub role: Role,
    /// The user's tenant (none for platform admins).
    pub tenant_id: Option<Uuid>,
    /// The session this request came with (console or `signIn`), if not an API token.
    pub session_id: Option<Uuid>,
}

impl Actor {
    /// The actor of a user row.
    pub fn of(user: &user::Model, session_id: Option<Uuid>) -> Actor {
        Actor {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            tenant_id: user.tenant_id,
            session_id,
        }
    }
}

/// Who makes a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The signed-in user, if any.
    pub actor: Option<Actor>,
    /// The request's id.
    pub request_id: RequestId,
    /// Audit entries written for this request so far (shared by clones), so that a mutation
    /// that failed before reaching its service can still be recorded, exactly once.
    recorded: Arc<AtomicU64>,
}

impl Caller {
    /// An anonymous caller.
    pub fn anonymous(request_id: RequestId) -> Caller {
        Caller {
            actor: None,
            request_id,
            recorded: Arc::default(),
        }
    }

    /// A signed-in caller.
    pub fn signed_in(actor: Actor, request_id: RequestId) -> Caller {
        Caller {
            actor: Some(actor),
            request_id,
            recorded: Arc::default(),
        }
    }

    /// A caller who may or may not be signed in.
    pub fn new(actor: Option<Actor>, request_id: RequestId) -> Caller {
        Caller {
            actor,
            request_id,
            recorded: Arc::default(),
        }
    }

    /// Notes that an audit entry was written for this request.
    pub fn mark_recorded(&self) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
    }

    /// How many audit entries were written for this request.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// The actor, or `UNAUTHENTICATED`.
    pub fn actor(&self) -> Result<&Actor, ApiError> {
        self.actor.as_ref().ok_or(ApiError::Unauthenticated)
    }
}
