//! The errors users see, each with a stable machine code.

use async_graphql::ErrorExtensions;

/// An error a request can end with. The code is stable; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid credentials came with the request.
    #[error("sign in first")]
    Unauthenticated,
    /// A machine credential (an enrollment token) is unknown, expired or revoked; the message
    /// says which kind, for whoever configures it.
    #[error("{0}")]
    BadToken(&'static str),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The object does not exist (or the caller may not know it exists).
    #[error("{0} not found")]
    NotFound(String),
    /// An argument is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument, as named in the schema.
        field: String,
        /// Why, for people.
        reason: String,
    },
    /// A tenant quota would be exceeded.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The change conflicts with the current state (duplicate name, wrong state).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many failed attempts.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// A certificate request was refused: the CSR, its key type or its names (the code is the
    /// CA's own: `CSR_MALFORMED`, `CSR_SIGNATURE_INVALID`, `KEY_TYPE_MISMATCH`,
    /// `NAME_NOT_ALLOWED`, ...).
    #[error("{0}")]
    Certificate(yuelu_ca::CaError),
    /// Something failed on our side; the details are in the server log, not in the answer.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The stable code (`extensions.code` in GraphQL answers).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated | ApiError::BadToken(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::InvalidInput { .. } => "INVALID_INPUT",
            ApiError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Certificate(e) => e.code(),
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// Wraps an internal failure, logging its details once here.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::Internal(Box::new(e))
    }

    /// An invalid argument.
    pub fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::InvalidInput {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<yuelu_ca::CaError> for ApiError {
    fn from(e: yuelu_ca::CaError) -> Self {
        if e.is_internal() {
            ApiError::internal(e)
        } else {
            ApiError::Certificate(e)
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

// Resolvers turn an `ApiError` into a GraphQL error with `async_graphql::ResultExt::extend`
// (`.extend()?`): async-graphql's blanket `From<impl Display>` would keep only the message.
impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                ApiError::InvalidInput { field, .. } => ext.set("field", field.as_str()),
                ApiError::RateLimited { retry_after_secs } => {
                    ext.set("retryAfterSeconds", *retry_after_secs)
                }
                _ => {}
            }
        })
    }
}
