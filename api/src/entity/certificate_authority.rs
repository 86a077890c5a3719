//! `certificate_authority`: a tenant's CAs (证书颁发机构), one chain per crypto suite.

use sea_orm::entity::prelude::*;

/// A row of `certificate_authority`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate_authority")]
pub struct Model {
    /// Primary key; sealed keys are bound to it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant (organisation) it belongs to.
    pub tenant_id: Uuid,
    /// `ecdsa-p256` or `sm2`.
    pub suite: String,
    /// `root` or `intermediate`.
    pub kind: String,
    /// The root that signed an intermediate.
    pub parent_id: Option<Uuid>,
    /// Subject common name.
    pub common_name: String,
    /// The CA certificate, PEM.
    pub certificate_pem: String,
    /// The private key, sealed with AES-256-GCM under the master key and bound to `id`.
    pub sealed_key: Vec<u8>,
    /// Fingerprint of the master key that sealed it (to find stale seals after a rotation).
    pub master_key_id: String,
    /// Start of validity.
    pub not_before: ChronoDateTimeUtc,
    /// End of validity.
    pub not_after: ChronoDateTimeUtc,
    /// Number of the current CRL.
    pub crl_number: i64,
    /// The current CRL, DER.
    pub crl_der: Vec<u8>,
    /// When the current CRL was signed.
    pub crl_this_update: ChronoDateTimeUtc,
    /// When the current CRL stops being current.
    pub crl_next_update: ChronoDateTimeUtc,
    /// When created.
    pub created_at: ChronoDateTimeUtc,
}

/// Relations of `certificate_authority`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
