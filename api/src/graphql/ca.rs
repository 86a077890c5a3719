//! Certificate authorities and certificates in GraphQL.

use super::network::CryptoSuite;
use super::page::{self, Counted};
use super::{opt_uuid_arg, parts, stored_enum, uuid_arg};
use crate::entity::certificate::{self, CertificateStatus as DbStatus};
use crate::entity::certificate_authority as ca_row;
use crate::entity::enrollment_token;
use crate::service::ca::{self, Authorities};
use crate::service::page::cursor;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What a certificate is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "yuelu_ca::Profile")]
pub enum CertificateProfile {
    /// A node's TLS identity: server and client authentication, DNS/IP names required.
    NodeTls,
    /// A node's signing identity (blocks, votes): no TLS use.
    NodeSigning,
    /// A user or application client: TLS client authentication and transaction signing.
    User,
    /// A member organisation's admin (subject `OU=admin`): approves validator-set changes on the
    /// chain for the organisation whose CA issued it. Only the tenant's own admins get one.
    MemberAdmin,
}

/// Whether a certificate may still be relied on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::entity::certificate::CertificateStatus")]
pub enum CertificateStatus {
    /// Not revoked (see `expiresAt` for expiry).
    Active,
    /// Revoked and on its CA's CRL.
    Revoked,
}

/// Why a certificate is revoked (RFC 5280 reason codes).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "yuelu_ca::RevocationReason")]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The private key leaked.
    KeyCompromise,
    /// The CA's key leaked.
    CaCompromise,
    /// The subject changed organisation.
    AffiliationChanged,
    /// Replaced by a newer certificate.
    Superseded,
    /// The subject no longer operates.
    CessationOfOperation,
    /// Temporarily on hold.
    CertificateHold,
    /// Taken off a CRL (delta CRLs only).
    RemoveFromCrl,
    /// A privilege was withdrawn.
    PrivilegeWithdrawn,
    /// The attribute authority's key leaked.
    AaCompromise,
}

/// A certificate authority (证书颁发机构) of a tenant.
#[derive(Clone, Debug)]
pub struct CertificateAuthority(pub ca_row::Model);

#[Object]
impl CertificateAuthority {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The tenant.
    async fn tenant_id(&self) -> ID {
        ID(self.0.tenant_id.to_string())
    }
    /// Crypto suite.
    async fn suite(&self) -> Option<CryptoSuite> {
        stored_enum::<yuelu_engine::CryptoSuite>(&self.0.suite).map(Into::into)
    }
    /// `root` or `intermediate`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// Common name.
    async fn common_name(&self) -> &str {
        &self.0.common_name
    }
    /// The CA certificate, PEM.
    async fn certificate_pem(&self) -> &str {
        &self.0.certificate_pem
    }
    /// Start of validity.
    async fn not_before(&self) -> DateTime<Utc> {
        self.0.not_before
    }
    /// End of validity.
    async fn not_after(&self) -> DateTime<Utc> {
        self.0.not_after
    }
    /// Where relying parties fetch its CRL (DER; append `.pem` for PEM).
    async fn crl_path(&self) -> String {
        format!("/ca/{}/crl", self.0.id)
    }
}

/// A certificate the platform issued (证书).
#[derive(Clone, Debug)]
pub struct Certificate(pub certificate::Model);

#[Object]
impl Certificate {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The tenant.
    async fn tenant_id(&self) -> ID {
        ID(self.0.tenant_id.to_string())
    }
    /// The issuing CA.
    async fn ca_id(&self) -> ID {
        ID(self.0.ca_id.to_string())
    }
    /// Serial number, hex.
    async fn serial(&self) -> &str {
        &self.0.serial
    }
    /// What it is for.
    async fn profile(&self) -> Option<CertificateProfile> {
        self.0
            .profile
            .parse::<yuelu_ca::Profile>()
            .ok()
            .map(Into::into)
    }
    /// Crypto suite.
    async fn suite(&self) -> Option<CryptoSuite> {
        stored_enum::<yuelu_engine::CryptoSuite>(&self.0.suite).map(Into::into)
    }
    /// Subject common name.
    async fn common_name(&self) -> &str {
        &self.0.common_name
    }
    /// Subject alternative names.
    async fn names(&self) -> Vec<String> {
        serde_json::from_str(&self.0.names).unwrap_or_default()
    }
    /// Start of validity.
    async fn not_before(&self) -> DateTime<Utc> {
        self.0.not_before
    }
    /// End of validity.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.not_after
    }
    /// Whether it ends within 30 days (and has not ended): renew it.
    async fn expiring_soon(&self) -> bool {
        let now = Utc::now();
        self.0.not_after > now && self.0.not_after <= now + ca::EXPIRING_SOON
    }
    /// Whether it has ended.
    async fn expired(&self) -> bool {
        self.0.not_after <= Utc::now()
    }
    /// Active or revoked.
    async fn status(&self) -> CertificateStatus {
        self.0.status.into()
    }
    /// When revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// Why revoked.
    async fn revocation_reason(&self) -> Option<RevocationReason> {
        self.0
            .revocation_reason
            .as_deref()
            .and_then(|r| r.parse::<yuelu_ca::RevocationReason>().ok())
            .map(Into::into)
    }
    /// The certificate it renewed.
    async fn renewed_from(&self) -> Option<ID> {
        self.0.renewed_from.map(|r| ID(r.to_string()))
    }
    /// The certificate, PEM.
    async fn pem(&self) -> &str {
        &self.0.pem
    }
    /// When issued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A tenant's CRL as it is now.
#[derive(SimpleObject, Debug)]
pub struct Crl {
    /// The CA.
    pub ca_id: ID,
    /// PEM.
    pub pem: String,
    /// CRL number.
    pub number: i64,
    /// When signed.
    pub this_update: DateTime<Utc>,
    /// When the next CRL is due at the latest.
    pub next_update: DateTime<Utc>,
}

/// An enrollment token (its secret is shown only when created).
#[derive(Clone, Debug)]
pub struct EnrollmentToken(pub enrollment_token::Model);

#[Object]
impl EnrollmentToken {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Certificates it may still obtain.
    async fn uses_left(&self) -> i32 {
        self.0.uses_left
    }
    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// What `createEnrollmentToken` returns.
#[derive(SimpleObject, Debug)]
pub struct NewEnrollmentTokenPayload {
    /// The secret, for the runtime's `Authorization: Bearer` header on `POST /enroll`. Shown
    /// only this once.
    pub token: String,
    /// The stored token.
    pub enrollment_token: EnrollmentToken,
}

/// What `issueCertificate` takes.
#[derive(InputObject, Debug)]
pub struct IssueCertificateInput {
    /// The tenant whose CA issues (default: the caller's).
    pub tenant_id: Option<ID>,
    /// Which of the tenant's CAs; the CSR's key must be of this suite. Its CA is created on
    /// first use.
    #[graphql(default_with = "CryptoSuite::EcdsaP256")]
    pub suite: CryptoSuite,
    /// The PKCS#10 request, PEM. The private key never reaches the platform.
    pub csr: String,
    /// What the certificate is for. Node profiles need a tenant admin; anyone may request a
    /// user certificate for themselves, and a tenant admin a member-admin certificate for
    /// themselves (the common name of both is the requester's user name).
    pub profile: CertificateProfile,
    /// Lifetime in days (default 365, at most 825).
    pub validity_days: Option<i32>,
}

/// Filters for `certificates`.
#[derive(InputObject, Debug, Default)]
pub struct CertificateFilter {
    /// The tenant (default: the caller's; platform admins may list all).
    pub tenant_id: Option<ID>,
    /// Only active or only revoked.
    pub status: Option<CertificateStatus>,
    /// Only ended (true) or not yet ended (false) certificates.
    pub expired: Option<bool>,
    /// Only certificates ending within this many days.
    pub expiring_within_days: Option<i32>,
    /// Only this profile.
    pub profile: Option<CertificateProfile>,
}

fn auth<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Authorities>> {
    ctx.data::<Arc<Authorities>>()
}

#[derive(Default)]
pub(super) struct CaQuery;

#[Object]
impl CaQuery {
    /// A tenant's CAs (default: the caller's).
    async fn certificate_authorities(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> Result<Vec<CertificateAuthority>> {
        let (db, caller) = parts(ctx)?;
        let t = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let rows = ca::authorities(db, caller, t).await.extend()?;
        Ok(rows.into_iter().map(CertificateAuthority).collect())
    }

    /// The PEM bundle of a tenant's CA certificates, roots first (default: the caller's).
    async fn ca_bundle(&self, ctx: &Context<'_>, tenant_id: Option<ID>) -> Result<String> {
        let (db, caller) = parts(ctx)?;
        let t = opt_uuid_arg("tenantId", tenant_id).extend()?;
        ca::bundle(db, caller, t).await.extend()
    }

    /// A CA's current CRL (also served without credentials at `/ca/{id}/crl`).
    async fn crl(&self, ctx: &Context<'_>, ca_id: ID) -> Result<Crl> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("caId", &ca_id).extend()?;
        caller.actor().extend()?;
        let c = ca::crl(db, auth(ctx)?, id).await.extend()?;
        Ok(Crl {
            ca_id: ID(c.ca_id.to_string()),
            pem: c.pem,
            number: c.number,
            this_update: c.this_update,
            next_update: c.next_update,
        })
    }

    /// Certificates with their expiry, filtered.
    async fn certificates(
        &self,
        ctx: &Context<'_>,
        filter: Option<CertificateFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Certificate, Counted>> {
        let (db, caller) = parts(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = ca::CertificateFilter {
            tenant_id: opt_uuid_arg("filter.tenantId", f.tenant_id).extend()?,
            status: f.status.map(DbStatus::from),
            expired: f.expired,
            expiring_within_days: f.expiring_within_days.map(i64::from),
            profile: f
                .profile
                .map(|p| yuelu_ca::Profile::from(p).as_str().to_owned()),
        };
        let args = page::args(ctx, after, before, first, last);
        let p = ca::certificates(db, caller, filter, args).await.extend()?;
        Ok(page::connection(p, |c| cursor(&c.id), Certificate))
    }

    /// A certificate.
    async fn certificate(&self, ctx: &Context<'_>, id: ID) -> Result<Certificate> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        Ok(Certificate(ca::certificate(db, caller, id).await.extend()?))
    }

    /// A tenant's enrollment tokens (default: the caller's).
    async fn enrollment_tokens(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, EnrollmentToken, Counted>> {
        let (db, caller) = parts(ctx)?;
        let t = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let args = page::args(ctx, after, before, first, last);
        let p = ca::enrollment_tokens(db, caller, t, args).await.extend()?;
        Ok(page::connection(p, |t| cursor(&t.id), EnrollmentToken))
    }
}

#[derive(Default)]
pub(super) struct CaMutation;

#[Object]
impl CaMutation {
    /// Creates a tenant's CA for a suite: a root, and an intermediate below it when asked.
    /// (Issuing creates a root-only CA on demand when none exists.)
    async fn create_certificate_authority(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        suite: CryptoSuite,
        #[graphql(default = false)] with_intermediate: bool,
    ) -> Result<CertificateAuthority> {
        let (db, caller) = parts(ctx)?;
        let t = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let row = ca::create_authority(db, auth(ctx)?, caller, t, suite.into(), with_intermediate)
            .await
            .extend()?;
        Ok(CertificateAuthority(row))
    }

    /// Issues a certificate from a CSR. Refused requests (malformed or wrongly signed CSR,
    /// wrong key type, names outside the tenant's domains, another tenant's CA) issue nothing
    /// and are audited.
    async fn issue_certificate(
        &self,
        ctx: &Context<'_>,
        input: IssueCertificateInput,
    ) -> Result<Certificate> {
        let (db, caller) = parts(ctx)?;
        let tenant_id = opt_uuid_arg("tenantId", input.tenant_id).extend()?;
        let row = ca::issue(
            db,
            auth(ctx)?,
            caller,
            ca::IssueInput {
                tenant_id,
                suite: input.suite.into(),
                csr: input.csr.into_bytes(),
                profile: input.profile.into(),
                validity_days: input.validity_days.map(i64::from),
            },
        )
        .await
        .extend()?;
        Ok(Certificate(row))
    }

    /// Renews a certificate: same key and names, new serial and validity.
    async fn renew_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        validity_days: Option<i32>,
    ) -> Result<Certificate> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        let row = ca::renew(db, auth(ctx)?, caller, id, validity_days.map(i64::from))
            .await
            .extend()?;
        Ok(Certificate(row))
    }

    /// Revokes a certificate with a reason; its CA's CRL is re-signed at once.
    async fn revoke_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default_with = "RevocationReason::Unspecified")] reason: RevocationReason,
    ) -> Result<Certificate> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        let row = ca::revoke(db, auth(ctx)?, caller, id, reason.into())
            .await
            .extend()?;
        Ok(Certificate(row))
    }

    /// Creates an enrollment token with which a node runtime obtains node certificates from
    /// `POST /enroll`.
    async fn create_enrollment_token(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        name: String,
        #[graphql(default = 16)] uses: i32,
        #[graphql(default = 24)] expires_in_hours: i32,
    ) -> Result<NewEnrollmentTokenPayload> {
        let (db, caller) = parts(ctx)?;
        let t = opt_uuid_arg("tenantId", tenant_id).extend()?;
        let n =
            ca::create_enrollment_token(db, caller, t, &name, uses, i64::from(expires_in_hours))
                .await
                .extend()?;
        Ok(NewEnrollmentTokenPayload {
            token: n.token.expose().to_owned(),
            enrollment_token: EnrollmentToken(n.row),
        })
    }

    /// Revokes an enrollment token.
    async fn revoke_enrollment_token(&self, ctx: &Context<'_>, id: ID) -> Result<EnrollmentToken> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        let row = ca::revoke_enrollment_token(db, caller, id).await.extend()?;
        Ok(EnrollmentToken(row))
    }

    /// Sets the DNS domains (subdomains included) and IP networks a tenant's certificates may
    /// name (platform admins).
    async fn set_tenant_name_policy(
        &self,
        ctx: &Context<'_>,
        id: ID,
        domains: Vec<String>,
        #[graphql(default)] ip_networks: Vec<String>,
    ) -> Result<super::tenant::Tenant> {
        let (db, caller) = parts(ctx)?;
        let id = uuid_arg("id", &id).extend()?;
        let t = ca::set_name_policy(db, caller, id, domains, ip_networks)
            .await
            .extend()?;
        Ok(super::tenant::Tenant(t))
    }
}
