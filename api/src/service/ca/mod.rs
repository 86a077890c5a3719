//! Certificate authorities (证书颁发机构): each tenant's own CA chain per crypto suite, its keys
//! sealed under the platform's master key, issuance from CSRs, revocation with CRLs, renewal,
//! and enrollment of node keys by runtimes.
//!
//! The cryptography is `yuelu-ca`'s; this module keeps CAs and certificates in the database,
//! decides who may do what, and audits every change.

mod enrollment;
mod issuance;
mod revocation;

pub use enrollment::{
    EnrollRequest, Enrolled, NewEnrollmentToken, RevokeEnrolledRequest, create_enrollment_token,
    enroll, enrollment_tokens, revoke_enrolled, revoke_enrollment_token,
};
pub use issuance::{IssueInput, Ledger, LedgerStats, issue, renew};
pub use revocation::{CrlView, crl, refresh_crls, revoke};

use super::audit::{self, Action};
use super::authz::{self, Permission};
use super::caller::Caller;
use super::page::{self, Page, PageArgs};
use crate::database::Database;
use crate::entity::certificate::{self, CertificateStatus};
use crate::entity::certificate_authority as ca_row;
use crate::entity::tenant;
use crate::error::ApiError;
use crate::metrics::Metrics;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    Set,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use uuid::Uuid;
use yuelu_ca::{
    CaId, CaSpec, CertificateAuthority, CryptoSuite, MasterKey, NamePolicy, SealedKey, Validity,
};

/// How long a root CA lives.
pub const ROOT_LIFETIME: Duration = Duration::days(20 * 365);
/// How long an intermediate CA lives.
pub const INTERMEDIATE_LIFETIME: Duration = Duration::days(10 * 365);
/// A leaf certificate's lifetime when the request does not say.
pub const DEFAULT_LEAF_DAYS: i64 = 365;
/// The longest leaf lifetime a request may ask for.
pub const MAX_LEAF_DAYS: i64 = 825;
/// Certificates expiring within this window are "expiring soon" (the alert condition).
pub const EXPIRING_SOON: Duration = Duration::days(30);
/// How long a CRL is current; it is re-signed well before.
pub const CRL_LIFETIME: Duration = Duration::days(7);

/// The platform's CAs at run time: the master key, the decrypted CAs in use, and the ledger
/// that commits issued certificates.
pub struct Authorities {
    master: MasterKey,
    loaded: Mutex<HashMap<Uuid, Arc<CertificateAuthority>>>,
    ledger: Ledger,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Authorities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorities")
            .field("master_key", &self.master.id().to_hex())
            .finish_non_exhaustive()
    }
}

impl Authorities {
    /// Starts the CA machinery for a database. Refuses a master key other than the one the
    /// stored CA keys were sealed with: better to stop at start than to fail every issuance.
    pub async fn start(
        db: &Database,
        master: MasterKey,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Authorities>, ApiError> {
        Authorities::start_with(db, master, metrics, Ledger::start(db.clone())).await
    }

    /// Like [`Authorities::start`], with a given ledger (benchmarks compare batch sizes).
    pub async fn start_with(
        db: &Database,
        master: MasterKey,
        metrics: Arc<Metrics>,
        ledger: Ledger,
    ) -> Result<Arc<Authorities>, ApiError> {
        let id = master.id().to_hex();
        let stale = ca_row::Entity::find()
            .filter(ca_row::Column::MasterKeyId.ne(id.clone()))
            .one(db.conn())
            .await?;
        if let Some(ca) = stale {
            return Err(ApiError::internal(std::io::Error::other(format!(
                "CA {} was sealed with master key {}, but the configured master key is {id}; \
                 start with the master key the platform was set up with",
                ca.id, ca.master_key_id
            ))));
        }
        let a = Arc::new(Authorities {
            master,
            loaded: Mutex::new(HashMap::new()),
            ledger,
            metrics,
        });
        a.load_expiry_metrics(db).await?;
        Ok(a)
    }

    /// The ledger committing issued certificates.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The fingerprint of the master key in use.
    pub fn master_key_id(&self) -> String {
        self.master.id().to_hex()
    }

    /// The decrypted CA of a row, cached.
    fn open(&self, row: &ca_row::Model) -> Result<Arc<CertificateAuthority>, ApiError> {
        if let Some(ca) = self.cache().get(&row.id) {
            return Ok(ca.clone());
        }
        let ca = CertificateAuthority::load(
            row.certificate_pem.as_bytes(),
            &SealedKey::from_bytes(row.sealed_key.clone()),
            &self.master,
            &CaId::new(row.id.to_string()),
        )
        .map_err(ApiError::internal)?;
        let ca = Arc::new(ca);
        self.cache().insert(row.id, ca.clone());
        Ok(ca)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<CertificateAuthority>>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the expiry gauge of a certificate (or removes it when revoked).
    pub(crate) fn track(&self, cert: &certificate::Model) {
        let labels = [
            cert.tenant_id.to_string(),
            cert.serial.clone(),
            cert.profile.clone(),
            cert.common_name.clone(),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        match cert.status {
            CertificateStatus::Active => self
                .metrics
                .certificate_expiry
                .with_label_values(&labels)
                .set(cert.not_after.timestamp() as f64),
            CertificateStatus::Revoked => {
                let _ = self.metrics.certificate_expiry.remove_label_values(&labels);
            }
        }
    }

    async fn load_expiry_metrics(&self, db: &Database) -> Result<(), ApiError> {
        let active = certificate::Entity::find()
            .filter(certificate::Column::Status.eq(CertificateStatus::Active))
            .filter(certificate::Column::NotAfter.gt(Utc::now()))
            .all(db.conn())
            .await?;
        for c in &active {
            self.track(c);
        }
        self.count_expiring(db).await
    }

    /// Recounts certificates expiring within [`EXPIRING_SOON`] per tenant (the alert gauge).
    pub async fn count_expiring(&self, db: &Database) -> Result<(), ApiError> {
        let now = Utc::now();
        let soon = certificate::Entity::find()
            .filter(certificate::Column::Status.eq(CertificateStatus::Active))
            .filter(certificate::Column::NotAfter.gt(now))
            .filter(certificate::Column::NotAfter.lte(now + EXPIRING_SOON))
            .all(db.conn())
            .await?;
        let mut per_tenant: HashMap<Uuid, i64> = HashMap::new();
        for c in soon {
            *per_tenant.entry(c.tenant_id).or_default() += 1;
        }
        self.metrics.certificates_expiring.reset();
        for (t, n) in per_tenant {
            self.metrics
                .certificates_expiring
                .with_label_values(&[&t.to_string()])
                .set(n);
        }
        Ok(())
    }
}

/// The crypto suite's name as stored.
pub fn suite_name(s: CryptoSuite) -> &'static str {
    s.as_str()
}

fn to_system(t: DateTime<Utc>) -> SystemTime {
    SystemTime::from(t)
}

fn from_system(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// A tenant's certificate name policy: the domains and IP networks its certificates may name.
pub fn name_policy(t: &tenant::Model) -> Result<NamePolicy, ApiError> {
    let domains: Vec<String> = serde_json::from_str(&t.allowed_domains).unwrap_or_default();
    let networks: Vec<String> = serde_json::from_str(&t.allowed_ip_networks).unwrap_or_default();
    let nets = networks
        .iter()
        .map(|n| parse_network(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    Ok(NamePolicy::from_domains(domains)
        .map_err(ApiError::internal)?
        .with_ip_networks(nets))
}

/// Parses `10.0.0.0/8` or a single address.
pub fn parse_network(s: &str) -> Result<yuelu_ca::IpNetwork, yuelu_ca::CaError> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| yuelu_ca::CaError::NameInvalid {
        name: s.to_owned(),
        reason: "not an IP address or network".into(),
    })?;
    let prefix = match (prefix, ip) {
        (Some(p), _) => p,
        (None, std::net::IpAddr::V4(_)) => 32,
        (None, std::net::IpAddr::V6(_)) => 128,
    };
    yuelu_ca::IpNetwork::new(ip, prefix)
}

/// The issuing CA of a tenant for a suite: its intermediate if it has one, else its root.
async fn issuing_row(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    suite: CryptoSuite,
) -> Result<Option<ca_row::Model>, ApiError> {
    let rows = ca_row::Entity::find()
        .filter(ca_row::Column::TenantId.eq(tenant_id))
        .filter(ca_row::Column::Suite.eq(suite_name(suite)))
        .order_by_asc(ca_row::Column::Id)
        .all(conn)
        .await?;
    Ok(rows
        .iter()
        .find(|r| r.kind == "intermediate")
        .or_else(|| rows.first())
        .cloned())
}

/// Creates a tenant's CA chain for a suite in `conn`'s transaction: a root, and an
/// intermediate below it when asked. Returns the issuing CA's row.
async fn create_chain(
    auth: &Authorities,
    conn: &impl ConnectionTrait,
    t: &tenant::Model,
    suite: CryptoSuite,
    with_intermediate: bool,
) -> Result<ca_row::Model, ApiError> {
    let now = Utc::now();
    let lifetime = |d: Duration| d.to_std().unwrap_or_default();
    let root_spec = CaSpec {
        common_name: format!("Yuelu Root CA ({})", suite_name(suite)),
        validity: Validity::from_now(lifetime(ROOT_LIFETIME))?,
        path_len: Some(u8::from(with_intermediate)),
    };
    let root = CertificateAuthority::create_root(suite, &t.name, &root_spec)?;
    let root_row = store(auth, conn, t.id, suite, "root", None, &root, now).await?;
    if !with_intermediate {
        return Ok(root_row);
    }
    let spec = CaSpec {
        common_name: format!("Yuelu Issuing CA ({})", suite_name(suite)),
        validity: Validity::from_now(lifetime(INTERMEDIATE_LIFETIME))?,
        path_len: Some(0),
    };
    let inter = root.create_intermediate(&spec)?;
    store(
        auth,
        conn,
        t.id,
        suite,
        "intermediate",
        Some(root_row.id),
        &inter,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn store(
    auth: &Authorities,
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    suite: CryptoSuite,
    kind: &str,
    parent: Option<Uuid>,
    ca: &CertificateAuthority,
    now: DateTime<Utc>,
) -> Result<ca_row::Model, ApiError> {
    let id = Uuid::now_v7();
    let sealed = ca.seal_key(&auth.master, &CaId::new(id.to_string()))?;
    let crl = ca.crl(&yuelu_ca::CrlSpec {
        number: yuelu_ca::CrlNumber::new(1),
        this_update: to_system(now),
        next_update: to_system(now + CRL_LIFETIME),
        revoked: Vec::new(),
    })?;
    let validity = ca.validity();
    let row = ca_row::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        suite: Set(suite_name(suite).to_owned()),
        kind: Set(kind.to_owned()),
        parent_id: Set(parent),
        common_name: Set(ca.info().common_name.clone().unwrap_or_default()),
        certificate_pem: Set(ca.certificate_pem()?),
        sealed_key: Set(sealed.as_bytes().to_vec()),
        master_key_id: Set(auth.master.id().to_hex()),
        not_before: Set(from_system(validity.not_before())),
        not_after: Set(from_system(validity.not_after())),
        crl_number: Set(1),
        crl_der: Set(crl.der.clone()),
        crl_this_update: Set(now),
        crl_next_update: Set(now + CRL_LIFETIME),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(row)
}

async fn tenant_row(conn: &impl ConnectionTrait, id: Uuid) -> Result<tenant::Model, ApiError> {
    tenant::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant".into()))
}

/// The tenant a caller acts for: the given one, or their own.
fn tenant_of(caller: &Caller, given: Option<Uuid>) -> Result<Uuid, ApiError> {
    match given {
        Some(t) => Ok(t),
        None => caller
            .actor()?
            .tenant_id
            .ok_or_else(|| ApiError::invalid("tenantId", "required for platform admins")),
    }
}

/// Creates a tenant's CA for a suite (tenant admins for their own tenant). A tenant has one
/// CA chain per suite; issuing creates one on demand when none exists.
pub async fn create_authority(
    db: &Database,
    auth: &Authorities,
    caller: &Caller,
    tenant_id: Option<Uuid>,
    suite: CryptoSuite,
    with_intermediate: bool,
) -> Result<ca_row::Model, ApiError> {
    audit::audited(db, caller, Action::CreateCertificateAuthority, async |c| {
        let t = tenant_of(caller, tenant_id)?;
        c.tenant(t);
        authz::require_visible(caller, Permission::ManageCertificates, t, "tenant")?;
        let tenant = tenant_row(c.txn(), t).await?;
        if issuing_row(c.txn(), t, suite).await?.is_some() {
            return Err(ApiError::Conflict(format!(
                "the tenant already has a {} CA",
                suite_name(suite)
            )));
        }
        let row = create_chain(auth, c.txn(), &tenant, suite, with_intermediate).await?;
        c.target("certificate-authority", row.id);
        c.detail("suite", suite_name(suite));
        c.detail("intermediate", with_intermediate);
        Ok(row)
    })
    .await
}

/// A tenant's CAs (roots and intermediates, all suites).
pub async fn authorities(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
) -> Result<Vec<ca_row::Model>, ApiError> {
    let t = tenant_of(caller, tenant_id)?;
    authz::require_visible(caller, Permission::ReadCertificates, t, "tenant")?;
    Ok(ca_row::Entity::find()
        .filter(ca_row::Column::TenantId.eq(t))
        .order_by_asc(ca_row::Column::Id)
        .all(db.conn())
        .await?)
}

/// The PEM bundle of a tenant's CA certificates, roots first: what its nodes and clients
/// trust.
pub async fn bundle(
    db: &Database,
    caller: &Caller,
    tenant_id: Option<Uuid>,
) -> Result<String, ApiError> {
    let t = tenant_of(caller, tenant_id)?;
    authz::require_visible(caller, Permission::ReadCertificates, t, "tenant")?;
    bundle_of(db.conn(), t).await
}

pub(crate) async fn bundle_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<String, ApiError> {
    let rows = ca_row::Entity::find()
        .filter(ca_row::Column::TenantId.eq(tenant_id))
        .order_by_asc(ca_row::Column::Id)
        .all(conn)
        .await?;
    let mut ordered: Vec<_> = rows.iter().filter(|r| r.kind == "root").collect();
    ordered.extend(rows.iter().filter(|r| r.kind != "root"));
    Ok(ordered.iter().map(|r| r.certificate_pem.as_str()).collect())
}

/// Filters for listing certificates.
#[derive(Clone, Debug, Default)]
pub struct CertificateFilter {
    /// The tenant (default: the caller's; platform admins may list all).
    pub tenant_id: Option<Uuid>,
    /// Only active or only revoked.
    pub status: Option<CertificateStatus>,
    /// Only certificates past their end of validity (true) or not yet (false).
    pub expired: Option<bool>,
    /// Only certificates that end within this many days (and have not ended).
    pub expiring_within_days: Option<i64>,
    /// Only this profile (`node-tls`, `node-signing`, `user`).
    pub profile: Option<String>,
}

/// Lists certificates with their expiry.
pub async fn certificates(
    db: &Database,
    caller: &Caller,
    f: CertificateFilter,
    args: PageArgs,
) -> Result<Page<certificate::Model>, ApiError> {
    let scope = authz::listing_scope(caller, Permission::ReadCertificates, f.tenant_id)?;
    let now = Utc::now();
    let mut q = certificate::Entity::find();
    if let Some(t) = scope {
        q = q.filter(certificate::Column::TenantId.eq(t));
    }
    if let Some(s) = f.status {
        q = q.filter(certificate::Column::Status.eq(s));
    }
    match f.expired {
        Some(true) => q = q.filter(certificate::Column::NotAfter.lte(now)),
        Some(false) => q = q.filter(certificate::Column::NotAfter.gt(now)),
        None => {}
    }
    if let Some(days) = f.expiring_within_days {
        if !(0..=3650).contains(&days) {
            return Err(ApiError::invalid("filter.expiringWithinDays", "0 to 3650"));
        }
        q = q
            .filter(certificate::Column::NotAfter.gt(now))
            .filter(certificate::Column::NotAfter.lte(now + Duration::days(days)));
    }
    if let Some(p) = f.profile {
        q = q.filter(certificate::Column::Profile.eq(p));
    }
    page::keyset::<_, _, Uuid>(db.conn(), q, certificate::Column::Id, Order::Asc, args).await
}

/// A certificate the caller may see.
pub async fn certificate(
    db: &Database,
    caller: &Caller,
    id: Uuid,
) -> Result<certificate::Model, ApiError> {
    caller.actor()?;
    let c = certificate::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::NotFound("certificate".into()))?;
    authz::require_visible(
        caller,
        Permission::ReadCertificates,
        c.tenant_id,
        "certificate",
    )?;
    Ok(c)
}

/// Sets the domains and IP networks a tenant's certificates may name (platform admins).
pub async fn set_name_policy(
    db: &Database,
    caller: &Caller,
    tenant_id: Uuid,
    domains: Vec<String>,
    ip_networks: Vec<String>,
) -> Result<tenant::Model, ApiError> {
    audit::audited(db, caller, Action::SetTenantNamePolicy, async |c| {
        c.target("tenant", tenant_id);
        c.tenant(tenant_id);
        authz::require(caller, Permission::ManageTenants, authz::Scope::Platform)?;
        let mut clean_domains = Vec::new();
        for d in &domains {
            let name = yuelu_ca::DnsName::new(d.trim())
                .map_err(|e| ApiError::invalid("domains", e.to_string()))?;
            if name.is_wildcard() {
                return Err(ApiError::invalid(
                    "domains",
                    "give domains, not wildcards: subdomains are included",
                ));
            }
            clean_domains.push(name.as_str().to_owned());
        }
        let mut clean_nets = Vec::new();
        for n in &ip_networks {
            parse_network(n.trim()).map_err(|e| ApiError::invalid("ipNetworks", e.to_string()))?;
            clean_nets.push(n.trim().to_owned());
        }
        clean_domains.sort();
        clean_domains.dedup();
        clean_nets.sort();
        clean_nets.dedup();
        let t = tenant_row(c.txn(), tenant_id).await?;
        c.detail("domains", clean_domains.clone());
        c.detail("ipNetworks", clean_nets.clone());
        let mut a: tenant::ActiveModel = t.into();
        a.allowed_domains = Set(serde_json::to_string(&clean_domains).map_err(ApiError::internal)?);
        a.allowed_ip_networks =
            Set(serde_json::to_string(&clean_nets).map_err(ApiError::internal)?);
        a.updated_at = Set(Utc::now());
        Ok(a.update(c.txn()).await?)
    })
    .await
}
