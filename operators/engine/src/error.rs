//! Errors every engine reports, each with a stable machine code.

/// An engine refused or failed to plan something.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The spec asks for something this engine does not offer.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: String,
    },
    /// A field of the spec is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidSpec {
        /// The spec field, as named in the API and the CRD.
        field: &'static str,
        /// Why it is invalid, for people.
        reason: String,
    },
    /// An identity given to the engine cannot be used (wrong key type, unknown node, duplicates).
    #[error("invalid node identity {node}: {reason}")]
    InvalidIdentity {
        /// The node whose identity is wrong.
        node: String,
        /// Why.
        reason: String,
    },
    /// Generating or encoding key material failed.
    #[error("key material: {0}")]
    Key(String),
}

impl EngineError {
    /// A stable code for machines (API `extensions.code`, Kubernetes condition reasons).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Unsupported { .. } => "ENGINE_UNSUPPORTED",
            EngineError::InvalidSpec { .. } => "INVALID_SPEC",
            EngineError::InvalidIdentity { .. } => "INVALID_IDENTITY",
            EngineError::Key(_) => "KEY_MATERIAL",
        }
    }

    /// The same code in the CamelCase Kubernetes wants for condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            EngineError::Unsupported { .. } => "EngineUnsupported",
            EngineError::InvalidSpec { .. } => "InvalidSpec",
            EngineError::InvalidIdentity { .. } => "InvalidIdentity",
            EngineError::Key(_) => "KeyMaterial",
        }
    }
}
