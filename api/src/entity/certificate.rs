//! `certificate`: every certificate the platform issued (证书).

use sea_orm::entity::prelude::*;

/// Whether a certificate may still be relied on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CertificateStatus {
    /// Issued and not revoked (it may still have expired: see `not_after`).
    #[sea_orm(string_value = "active")]
    Active,
    /// Revoked; listed in its CA's CRL.
    #[sea_orm(string_value = "revoked")]
    Revoked,
}

/// A row of `certificate`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant whose CA issued it.
    pub tenant_id: Uuid,
    /// The issuing CA.
    pub ca_id: Uuid,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `node-tls`, `node-signing` or `user`.
    pub profile: String,
    /// `ecdsa-p256` or `sm2`.
    pub suite: String,
    /// Subject common name.
    pub common_name: String,
    /// Subject alternative names (JSON array of strings).
    pub names: String,
    /// Start of validity.
    pub not_before: ChronoDateTimeUtc,
    /// End of validity.
    pub not_after: ChronoDateTimeUtc,
    /// The certificate, PEM.
    pub pem: String,
    /// Active or revoked.
    pub status: CertificateStatus,
    /// When revoked.
    pub revoked_at: Option<ChronoDateTimeUtc>,
    /// Why revoked (RFC 5280 reason name).
    pub revocation_reason: Option<String>,
    /// Who asked: `user:<id>` or `enrollment:<token id>`.
    pub requested_by: String,
    /// The certificate this one renewed.
    pub renewed_from: Option<Uuid>,
    /// When issued.
    pub created_at: ChronoDateTimeUtc,
}

/// Relations of `certificate`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
