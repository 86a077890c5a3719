//! Revocation with a reason, and each CA's CRL (证书吊销列表): re-signed at every revocation
//! and before it stops being current, served to anyone.

use super::{Authorities, CRL_LIFETIME, to_system};
use crate::database::Database;
use crate::entity::certificate::{self, CertificateStatus};
use crate::entity::certificate_authority as ca_row;
use crate::error::ApiError;
use crate::service::audit::{self, Action, Change};
use crate::service::authz::{self, Permission};
use crate::service::caller::Caller;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;
use yuelu_ca::{CrlNumber, CrlSpec, RevocationReason, RevokedCertificate, SerialNumber};

/// Re-sign a CRL once it is this close to its next update.
const REFRESH_BEFORE: Duration = Duration::days(2);

/// Re-signs a CA's CRL from its revoked certificates with the next number, in `conn`'s
/// transaction.
async fn resign(
    auth: &Authorities,
    conn: &impl ConnectionTrait,
    ca: ca_row::Model,
) -> Result<ca_row::Model, ApiError> {
    let revoked = certificate::Entity::find()
        .filter(certificate::Column::CaId.eq(ca.id))
        .filter(certificate::Column::Status.eq(CertificateStatus::Revoked))
        .all(conn)
        .await?;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in &revoked {
        let serial: SerialNumber = r.serial.parse().map_err(ApiError::internal)?;
        let reason = r
            .revocation_reason
            .as_deref()
            .unwrap_or("unspecified")
            .parse()
            .unwrap_or(RevocationReason::Unspecified);
        entries.push(RevokedCertificate {
            serial,
            revoked_at: to_system(r.revoked_at.unwrap_or(r.created_at)),
            reason,
        });
    }
    let now = Utc::now();
    let number = ca.crl_number + 1;
    let signer = auth.open(&ca)?;
    let crl = signer.crl(&CrlSpec {
        number: CrlNumber::new(number as u64),
        this_update: to_system(now),
        next_update: to_system(now + CRL_LIFETIME),
        revoked: entries,
    })?;
    let mut a: ca_row::ActiveModel = ca.into();
    a.crl_number = Set(number);
    a.crl_der = Set(crl.der);
    a.crl_this_update = Set(now);
    a.crl_next_update = Set(now + CRL_LIFETIME);
    Ok(a.update(conn).await?)
}

/// Revokes a certificate. Certificate managers revoke any of their tenant's; a user may
/// revoke their own user certificates. The CA's CRL is re-signed in the same transaction.
pub async fn revoke(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    id: Uuid,
    reason: RevocationReason,
) -> Result<certificate::Model, ApiError> {
    let row = audit::audited(db, caller, Action::RevokeCertificate, async |c| {
        c.target("certificate", id);
        let actor = caller.actor()?.clone();
        let cert = certificate::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("certificate".into()))?;
        c.tenant(cert.tenant_id);
        let own = super::issuance::owned_by(&cert, actor.user_id);
        if !own {
            authz::require_visible(
                caller,
                Permission::ManageCertificates,
                cert.tenant_id,
                "certificate",
            )?;
        }
        if cert.status == CertificateStatus::Revoked {
            return Err(ApiError::Conflict(
                "the certificate is already revoked".into(),
            ));
        }
        mark_revoked(auth, c, cert, reason).await
    })
    .await?;
    auth.track(&row);
    Ok(row)
}

/// Revokes a certificate in a change and re-signs its CA's CRL.
pub(super) async fn mark_revoked(
    auth: &Authorities,
    c: &mut Change,
    cert: certificate::Model,
    reason: RevocationReason,
) -> Result<certificate::Model, ApiError> {
    c.detail("serial", cert.serial.clone());
    c.detail("reason", reason.as_str());
    let ca_id = cert.ca_id;
    let mut a: certificate::ActiveModel = cert.into();
    a.status = Set(CertificateStatus::Revoked);
    a.revoked_at = Set(Some(Utc::now()));
    a.revocation_reason = Set(Some(reason.as_str().to_owned()));
    let row = a.update(c.txn()).await?;
    let ca = ca_row::Entity::find_by_id(ca_id)
        .one(c.txn())
        .await?
        .ok_or_else(|| ApiError::internal(std::io::Error::other("certificate without its CA")))?;
    let ca = resign(auth, c.txn(), ca).await?;
    c.detail("crlNumber", ca.crl_number);
    Ok(row)
}

/// A CA's current CRL.
#[derive(Clone, Debug)]
pub struct CrlView {
    /// The CA.
    pub ca_id: Uuid,
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
    /// Its number.
    pub number: i64,
    /// When signed.
    pub this_update: DateTime<Utc>,
    /// When the next one is due at the latest.
    pub next_update: DateTime<Utc>,
}

/// The current CRL of a CA, for anyone (CRLs are public by design: relying parties fetch them
/// without credentials). Re-signed first if it is about to stop being current.
pub async fn crl(db: &Database, auth: &Authorities, ca_id: Uuid) -> Result<CrlView, ApiError> {
    let mut ca = ca_row::Entity::find_by_id(ca_id)
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::NotFound("certificate authority".into()))?;
    if ca.crl_next_update - Utc::now() < REFRESH_BEFORE {
        let txn = db.write().await?;
        // Re-read under the writer lock: another request may have refreshed it already.
        if let Some(fresh) = ca_row::Entity::find_by_id(ca_id).one(&*txn).await? {
            ca = if fresh.crl_next_update - Utc::now() < REFRESH_BEFORE {
                resign(auth, &*txn, fresh).await?
            } else {
                fresh
            };
        }
        txn.commit().await?;
    }
    let pem = yuelu_ca::crl_pem(&ca.crl_der)?;
    Ok(CrlView {
        ca_id,
        der: ca.crl_der,
        pem,
        number: ca.crl_number,
        this_update: ca.crl_this_update,
        next_update: ca.crl_next_update,
    })
}

/// Re-signs every CRL close to its next update (run periodically, so that CRLs stay current
/// even when nobody fetches them).
pub async fn refresh_crls(db: &Database, auth: &Authorities) -> Result<usize, ApiError> {
    let due = ca_row::Entity::find()
        .filter(ca_row::Column::CrlNextUpdate.lt(Utc::now() + REFRESH_BEFORE))
        .all(db.conn())
        .await?;
    let n = due.len();
    for ca in due {
        crl(db, auth, ca.id).await?;
    }
    Ok(n)
}
