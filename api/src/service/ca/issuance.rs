//! Issuing and renewing certificates. Issued certificates reach the database through the
//! [`Ledger`], which commits many at once: every answer still waits for a durable commit of
//! its certificate and its audit entry, but one fsync serves a whole batch.

use super::{
    Authorities, DEFAULT_LEAF_DAYS, MAX_LEAF_DAYS, create_chain, from_system, issuing_row,
    name_policy, suite_name, tenant_of, tenant_row,
};
use crate::database::Database;
use crate::entity::certificate::{self, CertificateStatus};
use crate::entity::certificate_authority as ca_row;
use crate::entity::tenant::TenantStatus;
use crate::error::ApiError;
use crate::service::audit::{self, Action, Entry, NewEntry};
use crate::service::authz::{self, Permission};
use crate::service::caller::Caller;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use yuelu_ca::{
    CertificateAuthority, CryptoSuite, IssueRequest, IssuedCertificate, NamePolicy, Profile,
    Validity, VerifiedCsr,
};

/// Most certificates one commit carries.
const MAX_BATCH: usize = 512;

struct Pending {
    cert: certificate::ActiveModel,
    entry: NewEntry,
    done: oneshot::Sender<Result<(), String>>,
}

/// Commits issued certificates with their audit entries, in batches (group commit).
#[derive(Clone, Debug)]
pub struct Ledger {
    tx: mpsc::Sender<Pending>,
    stats: Arc<LedgerStats>,
}

/// What the ledger has done, for benchmarks and diagnostics.
#[derive(Debug, Default)]
pub struct LedgerStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Certificates committed.
    pub certificates: AtomicU64,
}

impl Ledger {
    /// Starts the committing task on the current runtime.
    pub fn start(db: Database) -> Ledger {
        Ledger::with_batch(db, MAX_BATCH)
    }

    /// Starts a ledger that commits at most `max_batch` certificates at once (1: no group
    /// commit, for comparison).
    pub fn with_batch(db: Database, max_batch: usize) -> Ledger {
        let max_batch = max_batch.max(1);
        let (tx, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        let stats = Arc::new(LedgerStats::default());
        let counters = stats.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (certs, rest): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|p| (p.cert, (p.entry, p.done)))
                    .unzip();
                let (entries, replies): (Vec<_>, Vec<_>) = rest.into_iter().unzip();
                let result = async {
                    let txn = db.write().await?;
                    for chunk in certs.chunks(500) {
                        certificate::Entity::insert_many(chunk.to_vec())
                            .exec(&*txn)
                            .await?;
                    }
                    audit::append(&*txn, db.backend(), entries).await?;
                    txn.commit().await
                }
                .await
                .map_err(|e| e.to_string());
                if result.is_ok() {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    counters
                        .certificates
                        .fetch_add(replies.len() as u64, Ordering::Relaxed);
                }
                if let Err(e) = &result {
                    tracing::error!(error = %e, "committing issued certificates");
                }
                for r in replies {
                    let _ = r.send(result.clone());
                }
            }
        });
        Ledger { tx, stats }
    }

    /// Counters of what it committed.
    pub fn stats(&self) -> &LedgerStats {
        &self.stats
    }

    /// Commits one certificate and its entry; returns once both are durable.
    async fn commit(
        &self,
        cert: certificate::ActiveModel,
        entry: NewEntry,
    ) -> Result<(), ApiError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { cert, entry, done })
            .await
            .map_err(|_| ApiError::internal(std::io::Error::other("certificate ledger stopped")))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(std::io::Error::other(e))),
            Err(_) => Err(ApiError::internal(std::io::Error::other(
                "certificate ledger stopped",
            ))),
        }
    }
}

/// What `issueCertificate` takes.
#[derive(Clone, Debug)]
pub struct IssueInput {
    /// The tenant whose CA issues (default: the caller's).
    pub tenant_id: Option<Uuid>,
    /// Which of the tenant's CAs: its ECDSA or its SM2 chain. The CSR's key must match.
    pub suite: CryptoSuite,
    /// The PKCS#10 request, PEM or DER.
    pub csr: Vec<u8>,
    /// What the certificate is for.
    pub profile: Profile,
    /// Lifetime in days (default 365, at most 825).
    pub validity_days: Option<i64>,
}

pub(super) fn leaf_validity(days: Option<i64>) -> Result<Validity, ApiError> {
    let days = days.unwrap_or(DEFAULT_LEAF_DAYS);
    if !(1..=MAX_LEAF_DAYS).contains(&days) {
        return Err(ApiError::invalid(
            "validityDays",
            format!("1 to {MAX_LEAF_DAYS} days"),
        ));
    }
    Ok(Validity::from_now(StdDuration::from_secs(
        days as u64 * 86_400,
    ))?)
}

/// The issuing CA for a tenant and suite, created (root only) on demand. Creation is its own
/// audited change, recorded under the same request.
pub(super) async fn issuing_ca(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    tenant_id: Uuid,
    suite: CryptoSuite,
) -> Result<(ca_row::Model, Arc<CertificateAuthority>), ApiError> {
    if let Some(row) = issuing_row(db.conn(), tenant_id, suite).await? {
        let ca = auth.open(&row)?;
        return Ok((row, ca));
    }
    let row = audit::audited(db, caller, Action::CreateCertificateAuthority, async |c| {
        c.tenant(tenant_id);
        // Another request may have created it meanwhile (the writer lock orders us).
        if let Some(row) = issuing_row(c.txn(), tenant_id, suite).await? {
            return Ok(row);
        }
        let t = tenant_row(c.txn(), tenant_id).await?;
        let row = create_chain(auth, c.txn(), &t, suite, false).await?;
        c.target("certificate-authority", row.id);
        c.detail("suite", suite_name(suite));
        c.detail("onDemand", true);
        Ok(row)
    })
    .await?;
    let ca = auth.open(&row)?;
    Ok((row, ca))
}

/// Refuses a request before anything is created for it (a CA on demand included): the CSR's
/// key must be of the CA's suite and its names within the tenant's policy.
pub(super) fn precheck(
    csr: &VerifiedCsr,
    suite: CryptoSuite,
    policy: &NamePolicy,
) -> Result<(), ApiError> {
    if csr.suite() != suite {
        return Err(yuelu_ca::CaError::KeyTypeMismatch {
            expected: suite,
            found: csr.suite(),
        }
        .into());
    }
    policy.check_all(csr.names())?;
    Ok(())
}

/// Whether a profile certifies a person: their common name is their user name, and they may
/// renew and revoke it themselves.
pub(super) fn personal(profile: Profile) -> bool {
    matches!(profile, Profile::User | Profile::MemberAdmin)
}

/// Whether a certificate is a personal one its holder asked for.
pub(super) fn owned_by(cert: &certificate::Model, user: Uuid) -> bool {
    cert.requested_by == format!("user:{user}") && cert.profile.parse().is_ok_and(personal)
}

/// The row for a freshly issued certificate.
pub(super) fn row_of(
    id: Uuid,
    tenant_id: Uuid,
    ca_id: Uuid,
    cert: &IssuedCertificate,
    requested_by: String,
    renewed_from: Option<Uuid>,
) -> Result<certificate::Model, ApiError> {
    let names: Vec<String> = cert.names.iter().map(|n| n.to_string()).collect();
    Ok(certificate::Model {
        id,
        tenant_id,
        ca_id,
        serial: cert.serial.to_hex(),
        profile: cert.profile.as_str().to_owned(),
        suite: suite_name(cert.suite).to_owned(),
        common_name: cert.common_name.clone(),
        names: serde_json::to_string(&names).map_err(ApiError::internal)?,
        not_before: from_system(cert.not_before),
        not_after: from_system(cert.not_after),
        pem: cert.pem()?,
        status: CertificateStatus::Active,
        revoked_at: None,
        revocation_reason: None,
        requested_by,
        renewed_from,
        created_at: Utc::now(),
    })
}

/// Issues a certificate from a CSR. Node profiles need certificate managers (tenant admins);
/// a user certificate anyone of the tenant may request for themselves, and its common name is
/// their user name whatever the CSR says. Refusals issue nothing and are audited.
pub async fn issue(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    input: IssueInput,
) -> Result<certificate::Model, ApiError> {
    let mut entry = Entry::new(caller, Action::IssueCertificate);
    entry.detail("profile", input.profile.as_str());
    entry.detail("suite", suite_name(input.suite));
    let result = async {
        let t = tenant_of(caller, input.tenant_id)?;
        entry.tenant(t);
        let perm = match input.profile {
            Profile::User => Permission::RequestUserCertificate,
            _ => Permission::ManageCertificates,
        };
        authz::require_visible(caller, perm, t, "tenant")?;
        let actor = caller.actor()?;
        // A member-admin certificate approves governance on the chain in the organisation's
        // name: only the organisation's own admins get one, never the platform operator.
        if input.profile == Profile::MemberAdmin
            && actor.role != crate::entity::user::Role::TenantAdmin
        {
            return Err(ApiError::Forbidden(
                "member-admin certificates are for the tenant's own admins".into(),
            ));
        }
        let validity = leaf_validity(input.validity_days)?;
        let csr = VerifiedCsr::parse(&input.csr).map_err(ApiError::from)?;
        let tenant = tenant_row(db.conn(), t).await?;
        if tenant.status == TenantStatus::Suspended {
            return Err(ApiError::Conflict("the tenant is suspended".into()));
        }
        let policy = name_policy(&tenant)?;
        precheck(&csr, input.suite, &policy)?;
        let (ca_row, ca) = issuing_ca(db, auth, caller, t, input.suite).await?;
        let mut request = IssueRequest::new(&csr, input.profile, validity);
        if personal(input.profile) {
            request = request.with_common_name(actor.username.clone());
        }
        let cert = ca.issue(&request, &policy)?;
        let id = Uuid::now_v7();
        entry.target("certificate", id);
        entry.detail("serial", cert.serial.to_hex());
        entry.detail("commonName", cert.common_name.clone());
        let row = row_of(
            id,
            t,
            ca_row.id,
            &cert,
            format!("user:{}", actor.user_id),
            None,
        )?;
        auth.ledger
            .commit(certificate::ActiveModel::from(row.clone()), entry.ok())
            .await?;
        Ok(row)
    }
    .await;
    match result {
        Ok(row) => {
            entry.mark_recorded();
            auth.track(&row);
            Ok(row)
        }
        Err(e) => {
            audit::record_entry(db, &entry, &e).await;
            Err(e)
        }
    }
}

/// Renews a certificate: same key, subject, names and profile; a new serial and validity. The
/// old certificate stays valid until it ends or is revoked.
pub async fn renew(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    id: Uuid,
    validity_days: Option<i64>,
) -> Result<certificate::Model, ApiError> {
    let row = audit::audited(db, caller, Action::RenewCertificate, async |c| {
        let actor = caller.actor()?.clone();
        let old = certificate::Entity::find_by_id(id)
            .one(c.txn())
            .await?
            .ok_or_else(|| ApiError::NotFound("certificate".into()))?;
        c.tenant(old.tenant_id);
        let own = owned_by(&old, actor.user_id);
        if !own {
            authz::require_visible(
                caller,
                Permission::ManageCertificates,
                old.tenant_id,
                "certificate",
            )?;
        }
        if old.status == CertificateStatus::Revoked {
            return Err(ApiError::Conflict(
                "a revoked certificate cannot be renewed".into(),
            ));
        }
        let validity = leaf_validity(validity_days)?;
        let ca_model = ca_row::Entity::find_by_id(old.ca_id)
            .one(c.txn())
            .await?
            .ok_or_else(|| {
                ApiError::internal(std::io::Error::other("certificate without its CA"))
            })?;
        let ca = auth.open(&ca_model)?;
        let tenant = tenant_row(c.txn(), old.tenant_id).await?;
        let cert = ca.renew(old.pem.as_bytes(), validity, &name_policy(&tenant)?)?;
        let new_id = Uuid::now_v7();
        let row = row_of(
            new_id,
            old.tenant_id,
            old.ca_id,
            &cert,
            format!("user:{}", actor.user_id),
            Some(old.id),
        )?;
        certificate::ActiveModel::from(row.clone())
            .insert(c.txn())
            .await?;
        c.target("certificate", new_id);
        c.detail("renewed", old.serial.clone());
        c.detail("serial", row.serial.clone());
        Ok(row)
    })
    .await?;
    auth.track(&row);
    Ok(row)
}
