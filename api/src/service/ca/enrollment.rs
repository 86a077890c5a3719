//! Enrollment: how node runtimes (the Kubernetes controller, the local runtime) obtain node
//! certificates for keys they generated, without any user's credentials.
//!
//! A tenant admin creates an enrollment token: scoped to the tenant's CAs and to node
//! profiles, limited in uses and lifetime, revocable, shown once and stored hashed. The
//! runtime sends CSRs with it to `POST /enroll`. We chose platform-issued tokens over
//! Kubernetes TokenReview because the platform serves several clusters and a local runtime:
//! TokenReview would need API credentials for every cluster's apiserver and would not cover
//! local nodes, while a token works the same everywhere and is audited like any credential.

use super::issuance::{issuing_ca, leaf_validity, precheck, row_of};
use super::{name_policy, suite_name, tenant_of, tenant_row};
use crate::database::Database;
use crate::entity::certificate;
use crate::entity::enrollment_token;
use crate::entity::tenant::TenantStatus;
use crate::error::ApiError;
use crate::service::account::SecretToken;
use crate::service::audit::{self, Action, Entry};
use crate::service::authz::{self, Permission};
use crate::service::caller::Caller;
use crate::service::page::{self, Page, PageArgs};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, Order, QueryFilter, Set};
use uuid::Uuid;
use yuelu_ca::{CryptoSuite, IssueRequest, Profile, VerifiedCsr};

use super::Authorities;

/// What a runtime hears when its token does not work.
const BAD_TOKEN: &str = "unknown, expired or revoked enrollment token";

/// Most certificates one token may obtain.
pub const MAX_USES: i32 = 10_000;
/// Longest a token may live, hours.
pub const MAX_HOURS: i64 = 24 * 90;

/// A new enrollment token: the secret (shown once) and its row.
#[derive(Debug)]
pub struct NewEnrollmentToken {
    /// The secret.
    pub token: SecretToken,
    /// The stored token.
    pub row: enrollment_token::Model,
}

/// Creates an enrollment token for a tenant (certificate managers).
pub async fn create_enrollment_token(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
    name: &str,
    uses: i32,
    hours: i64,
) -> Result<NewEnrollmentToken, ApiError> {
    audit::audited(db, caller, Action::CreateEnrollmentToken, async |c| {
        let t = tenant_of(caller, tenant_id)?;
        c.tenant(t);
        authz::require_visible(caller, Permission::ManageCertificates, t, "tenant")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid("name", "1 to 64 characters"));
        }
        if !(1..=MAX_USES).contains(&uses) {
            return Err(ApiError::invalid("uses", format!("1 to {MAX_USES}")));
        }
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(ApiError::invalid(
                "expiresInHours",
                format!("1 to {MAX_HOURS}"),
            ));
        }
        tenant_row(c.txn(), t).await?;
        let token = SecretToken::generate(SecretToken::ENROLLMENT);
        let now = Utc::now();
        let row = enrollment_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(t),
            name: Set(name.to_owned()),
            token_hash: Set(token.hash()),
            uses_left: Set(uses),
            created_by: Set(caller.actor()?.user_id),
            created_at: Set(now),
            expires_at: Set(now + Duration::hours(hours)),
            revoked_at: Set(None),
        }
        .insert(c.txn())
        .await?;
        c.target("enrollment-token", row.id);
        c.detail("name", name);
        c.detail("uses", uses);
        Ok(NewEnrollmentToken { token, row })
    })
    .await
}

/// A tenant's enrollment tokens.
pub async fn enrollment_tokens(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
    args: PageArgs,
) -> Result<Page<enrollment_token::Model>, ApiError> {
    let t = tenant_of(caller, tenant_id)?;
    authz::require_visible(caller, Permission::ManageCertificates, t, "tenant")?;
    let q = enrollment_token::Entity::find().filter(enrollment_token::Column::TenantId.eq(t));
    page::keyset::<_, _, Uuid>(db.conn(), q, enrollment_token::Column::Id, Order::Asc, args).await
}

/// Revokes an enrollment token.
pub async fn revoke_enrollment_token(
    db: &Database,
    caller: &Caller,
    id: Uuid,
) -> Result<enrollment_token::Model, ApiError> {
    audit::audited(db, caller, Action::RevokeEnrollmentToken, async |c| {
        c.target("enrollment-token", id);
        caller.actor()?;
        let t = enrollment_token::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("enrollment token".into()))?;
        c.tenant(t.tenant_id);
        authz::require_visible(
            caller,
            Permission::ManageCertificates,
            t.tenant_id,
            "enrollment token",
        )?;
        if t.revoked_at.is_some() {
            return Ok(t);
        }
        let mut a: enrollment_token::ActiveModel = t.into();
        a.revoked_at = Set(Some(Utc::now()));
        Ok(a.update(c.txn()).await?)
    })
    .await
}

/// What a runtime sends to `POST /enroll`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollRequest {
    /// The CSR for the node's key, PEM.
    pub csr: String,
    /// `node-tls` or `node-signing`.
    pub profile: String,
    /// `ecdsa-p256` or `sm2`: which of the tenant's CAs.
    pub suite: CryptoSuite,
    /// Lifetime in days (default 365).
    pub validity_days: Option<i64>,
}

/// What a runtime sends to `POST /enroll/revoke`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeEnrolledRequest {
    /// The certificate's serial, hex.
    pub serial: String,
    /// An RFC 5280 reason name (`cessationOfOperation`, `keyCompromise`...); `unspecified`
    /// when absent.
    pub reason: Option<String>,
}

/// Revokes a node certificate that one of the tenant's enrollment tokens obtained, for the
/// runtime holding a token (the controller's finalizer, a local node going away). Idempotent,
/// so that retries after a lost answer succeed: an already revoked certificate is answered as
/// it is. Revoked tokens are refused; expired or used-up ones may still revoke.
pub async fn revoke_enrolled(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    token: &SecretToken,
    req: RevokeEnrolledRequest,
) -> Result<certificate::Model, ApiError> {
    let row = audit::audited(db, caller, Action::RevokeCertificate, async |c| {
        let t = enrollment_token::Entity::find()
            .filter(enrollment_token::Column::TokenHash.eq(token.hash()))
            .one(c.txn())
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(ApiError::BadToken(BAD_TOKEN))?;
        c.tenant(t.tenant_id);
        c.detail("enrollmentToken", t.id.to_string());
        let reason: yuelu_ca::RevocationReason = req
            .reason
            .as_deref()
            .unwrap_or("unspecified")
            .parse()
            .map_err(|_| {
                ApiError::invalid(
                    "reason",
                    "an RFC 5280 reason name, e.g. cessationOfOperation",
                )
            })?;
        let serial = req.serial.trim().to_ascii_lowercase().replace(':', "");
        // Any live token of the tenant may revoke what the tenant's runtimes enrolled, so that
        // a runtime whose token was rotated can still clean up after itself.
        let cert = certificate::Entity::find()
            .filter(certificate::Column::TenantId.eq(t.tenant_id))
            .filter(certificate::Column::Serial.eq(serial))
            .filter(certificate::Column::RequestedBy.starts_with("enrollment:"))
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("certificate".into()))?;
        c.target("certificate", cert.id);
        if cert.status == crate::entity::certificate::CertificateStatus::Revoked {
            c.detail("alreadyRevoked", true);
            return Ok(cert);
        }
        super::revocation::mark_revoked(auth, c, cert, reason).await
    })
    .await?;
    auth.track(&row);
    Ok(row)
}

/// What `POST /enroll` answers.
#[derive(Clone, Debug)]
pub struct Enrolled {
    /// The certificate issued.
    pub certificate: certificate::Model,
    /// The tenant's CA bundle (PEM), for the node's trust store.
    pub ca_bundle: String,
}

/// Issues a node certificate to a runtime holding an enrollment token. Every attempt is
/// audited once, with the token's id in the entry.
pub async fn enroll(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    token: &SecretToken,
    req: EnrollRequest,
) -> Result<Enrolled, ApiError> {
    let mut entry = Entry::new(caller, Action::Enroll);
    // Checks that need no transaction; a refusal here is audited on its own.
    let checked = async {
        let t = enrollment_token::Entity::find()
            .filter(enrollment_token::Column::TokenHash.eq(token.hash()))
            .one(db.conn())
            .await?
            .ok_or(ApiError::BadToken(BAD_TOKEN))?;
        entry.tenant(t.tenant_id);
        entry.detail("enrollmentToken", t.id.to_string());
        if t.revoked_at.is_some() || t.expires_at <= Utc::now() {
            return Err(ApiError::BadToken(BAD_TOKEN));
        }
        let profile: Profile = req
            .profile
            .parse()
            .map_err(|_| ApiError::invalid("profile", "node-tls or node-signing"))?;
        if !matches!(profile, Profile::NodeTls | Profile::NodeSigning) {
            return Err(ApiError::invalid(
                "profile",
                "enrollment issues node-tls or node-signing only",
            ));
        }
        entry.detail("profile", profile.as_str());
        entry.detail("suite", suite_name(req.suite));
        let validity = leaf_validity(req.validity_days)?;
        let csr = VerifiedCsr::parse(req.csr.as_bytes()).map_err(ApiError::from)?;
        let tenant = tenant_row(db.conn(), t.tenant_id).await?;
        if tenant.status == TenantStatus::Suspended {
            return Err(ApiError::Forbidden("the tenant is suspended".into()));
        }
        let policy = name_policy(&tenant)?;
        precheck(&csr, req.suite, &policy)?;
        let (ca_row, ca) = issuing_ca(db, auth, caller, t.tenant_id, req.suite).await?;
        Ok((t, csr, profile, validity, policy, ca_row, ca))
    }
    .await;
    let (t, csr, profile, validity, policy, ca_row, ca) = match checked {
        Ok(v) => v,
        Err(e) => {
            audit::record_entry(db, &entry, &e).await;
            return Err(e);
        }
    };
    let cert = audit::audited(db, caller, Action::Enroll, async |c| {
        c.tenant(t.tenant_id);
        c.detail("enrollmentToken", t.id.to_string());
        c.detail("profile", profile.as_str());
        // Take a use under the writer lock, unless another request took the last one.
        let fresh = enrollment_token::Entity::find_by_id(t.id)
            .one(c.txn())
            .await?
            .filter(|f| f.revoked_at.is_none())
            .ok_or(ApiError::BadToken(BAD_TOKEN))?;
        if fresh.uses_left <= 0 {
            return Err(ApiError::Forbidden(
                "this enrollment token is used up".into(),
            ));
        }
        let cert = ca.issue(&IssueRequest::new(&csr, profile, validity), &policy)?;
        let left = fresh.uses_left - 1;
        let mut a: enrollment_token::ActiveModel = fresh.into();
        a.uses_left = Set(left);
        a.update(c.txn()).await?;
        let id = Uuid::now_v7();
        let row = row_of(
            id,
            t.tenant_id,
            ca_row.id,
            &cert,
            format!("enrollment:{}", t.id),
            None,
        )?;
        certificate::ActiveModel::from(row.clone())
            .insert(c.txn())
            .await?;
        c.target("certificate", id);
        c.detail("serial", row.serial.clone());
        c.detail("commonName", row.common_name.clone());
        c.detail("usesLeft", left);
        Ok(row)
    })
    .await?;
    auth.track(&cert);
    let ca_bundle = super::bundle_of(db.conn(), t.tenant_id).await?;
    Ok(Enrolled {
        certificate: cert,
        ca_bundle,
    })
}
