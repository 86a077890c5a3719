//! The audit log (审计日志): every mutation, successful or not, as an append-only chain of
//! entries, each carrying the SHA-256 of its fields and of the entry before it.
//!
//! A successful change and its entry commit in one transaction, so there is never a change
//! without its entry, nor an entry for a change that did not happen. A failed mutation changes
//! nothing; its entry is written after the rollback. Entries are appended one at a time (the
//! SQLite writer lock, a PostgreSQL advisory lock), so sequence numbers have no gaps and each
//! entry links to its predecessor.

use super::authz::{self, Permission, Scope};
use super::caller::Caller;
use super::page::{self, Page, PageArgs};
use crate::database::{Database, WriteTxn};
use crate::entity::audit_entry::{self, Column, Entity};
use crate::error::ApiError;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audited action: the GraphQL mutation's name, or the console action that does the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `signIn` (and the console's sign-in form).
    SignIn,
    /// `signOut` (and the console's sign-out button).
    SignOut,
    /// `changePassword`.
    ChangePassword,
    /// `createTenant`.
    CreateTenant,
    /// `updateTenant`.
    UpdateTenant,
    /// `setTenantStatus`.
    SetTenantStatus,
    /// `setTenantQuota`.
    SetTenantQuota,
    /// `createUser`.
    CreateUser,
    /// `setUserRole`.
    SetUserRole,
    /// `deleteUser`.
    DeleteUser,
    /// `createApiToken`.
    CreateApiToken,
    /// `revokeApiToken`.
    RevokeApiToken,
    /// `createNetwork`.
    CreateNetwork,
    /// `deleteNetwork`.
    DeleteNetwork,
    /// `setTenantNamePolicy`.
    SetTenantNamePolicy,
    /// `createCertificateAuthority` (also when issuance creates one on demand).
    CreateCertificateAuthority,
    /// `issueCertificate`.
    IssueCertificate,
    /// `renewCertificate`.
    RenewCertificate,
    /// `revokeCertificate`.
    RevokeCertificate,
    /// `createEnrollmentToken`.
    CreateEnrollmentToken,
    /// `revokeEnrollmentToken`.
    RevokeEnrollmentToken,
    /// `POST /enroll`: a node runtime obtaining a node certificate.
    Enroll,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 22] = [
        Action::SignIn,
        Action::SignOut,
        Action::ChangePassword,
        Action::CreateTenant,
        Action::UpdateTenant,
        Action::SetTenantStatus,
        Action::SetTenantQuota,
        Action::CreateUser,
        Action::SetUserRole,
        Action::DeleteUser,
        Action::CreateApiToken,
        Action::RevokeApiToken,
        Action::CreateNetwork,
        Action::DeleteNetwork,
        Action::SetTenantNamePolicy,
        Action::CreateCertificateAuthority,
        Action::IssueCertificate,
        Action::RenewCertificate,
        Action::RevokeCertificate,
        Action::CreateEnrollmentToken,
        Action::RevokeEnrollmentToken,
        Action::Enroll,
    ];

    /// The name recorded, equal to the GraphQL mutation's.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignIn => "signIn",
            Action::SignOut => "signOut",
            Action::ChangePassword => "changePassword",
            Action::CreateTenant => "createTenant",
            Action::UpdateTenant => "updateTenant",
            Action::SetTenantStatus => "setTenantStatus",
            Action::SetTenantQuota => "setTenantQuota",
            Action::CreateUser => "createUser",
            Action::SetUserRole => "setUserRole",
            Action::DeleteUser => "deleteUser",
            Action::CreateApiToken => "createApiToken",
            Action::RevokeApiToken => "revokeApiToken",
            Action::CreateNetwork => "createNetwork",
            Action::DeleteNetwork => "deleteNetwork",
            Action::SetTenantNamePolicy => "setTenantNamePolicy",
            Action::CreateCertificateAuthority => "createCertificateAuthority",
            Action::IssueCertificate => "issueCertificate",
            Action::RenewCertificate => "renewCertificate",
            Action::RevokeCertificate => "revokeCertificate",
            Action::CreateEnrollmentToken => "createEnrollmentToken",
            Action::RevokeEnrollmentToken => "revokeEnrollmentToken",
            Action::Enroll => "enroll",
        }
    }
}

/// What an action was done to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The kind of object (`tenant`, `user`, `network`, `api-token`, `session`).
    pub kind: &'static str,
    /// Its id.
    pub id: String,
}

/// What an audit entry will say, built up while an action runs.
#[derive(Clone, Debug)]
pub struct Entry {
    caller: Caller,
    action: String,
    target: Option<Target>,
    tenant: Option<Uuid>,
    details: Map<String, Value>,
    actor_username: Option<String>,
}

impl Entry {
    /// An entry for `action` by `caller`.
    pub fn new(caller: &Caller, action: Action) -> Entry {
        Entry {
            caller: caller.clone(),
            action: action.as_str().to_owned(),
            target: None,
            tenant: None,
            details: Map::new(),
            actor_username: None,
        }
    }

    /// Names the object acted on.
    pub fn target(&mut self, kind: &'static str, id: impl ToString) {
        self.target = Some(Target {
            kind,
            id: id.to_string(),
        });
    }

    /// Names the tenant whose objects the action concerns.
    pub fn tenant(&mut self, tenant: Uuid) {
        self.tenant = Some(tenant);
    }

    /// Adds a fact. Never pass secrets.
    pub fn detail(&mut self, key: &str, value: impl Into<Value>) {
        self.details.insert(key.to_owned(), value.into());
    }

    /// Records the user name for an anonymous caller (the name tried at sign-in).
    pub fn username(&mut self, name: &str) {
        self.actor_username = Some(name.to_owned());
    }

    fn finish(&self, result: &str) -> NewEntry {
        let actor = self.caller.actor.as_ref();
        NewEntry {
            request_id: self.caller.request_id.as_str().to_owned(),
            actor_user_id: actor.map(|a| a.user_id),
            actor_username: actor
                .map(|a| a.username.clone())
                .or_else(|| self.actor_username.clone()),
            actor_role: actor.map(|a| a.role.as_str().to_owned()),
            tenant_id: self.tenant.or_else(|| actor.and_then(|a| a.tenant_id)),
            action: self.action.clone(),
            target: self.target.clone(),
            result: result.to_owned(),
            details: Value::Object(self.details.clone()).to_string(),
        }
    }
}

/// A change in progress: the write transaction plus what its audit entry will say.
pub struct Change {
    txn: WriteTxn,
    backend: DatabaseBackend,
    entry: Entry,
}

impl Change {
    /// The transaction, for the change's reads and writes.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Which database this is.
    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Names the object acted on.
    pub fn target(&mut self, kind: &'static str, id: impl ToString) {
        self.entry.target(kind, id);
    }

    /// Names the tenant whose objects the action concerns.
    pub fn tenant(&mut self, tenant: Uuid) {
        self.entry.tenant(tenant);
    }

    /// Adds a fact to the entry. Never pass secrets.
    pub fn detail(&mut self, key: &str, value: impl Into<Value>) {
        self.entry.detail(key, value);
    }
}

/// Runs `body` as one audited change: authorization, validation, reads and writes happen in
/// `body` on [`Change::txn`]. On success the entry is appended in the same transaction and
/// everything commits; on failure everything rolls back and an entry with the error's code is
/// appended on its own.
pub async fn audited<T>(
    db: &Database,
    caller: &Caller,
    action: Action,
    body: impl AsyncFnOnce(&mut Change) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut change = Change {
        txn: db.write().await?,
        backend: db.backend(),
        entry: Entry::new(caller, action),
    };
    match body(&mut change).await {
        Ok(value) => {
            let entry = change.entry.finish("ok");
            append(&*change.txn, change.backend, vec![entry]).await?;
            change.txn.commit().await?;
            caller.mark_recorded();
            Ok(value)
        }
        Err(err) => {
            let entry = change.entry.finish(err.code());
            if let Err(e) = change.txn.rollback().await {
                tracing::warn!(error = %e, "rolling back a failed change");
            }
            record(db, entry).await;
            caller.mark_recorded();
            Err(err)
        }
    }
}

/// Records the failure of an action that had no [`Change`] (it failed before one began).
pub async fn record_failure(
    db: &Database,
    caller: &Caller,
    action: Action,
    username: Option<&str>,
    err: &ApiError,
) {
    let mut entry = Entry::new(caller, action);
    if let Some(u) = username {
        entry.username(u);
    }
    record_entry(db, &entry, err).await;
}

/// Records a failed action from its entry (target, tenant and details as far as known).
pub async fn record_entry(db: &Database, entry: &Entry, err: &ApiError) {
    record(db, entry.finish(err.code())).await;
    entry.caller.mark_recorded();
}

/// Records a mutation that failed before any service saw it (a malformed argument, say), by
/// its GraphQL name and the code it failed with.
pub async fn record_unattributed(db: &Database, caller: &Caller, action: &str, code: &str) {
    let mut entry = Entry::new(caller, Action::SignIn);
    entry.action = action.to_owned();
    record(db, entry.finish(code)).await;
    caller.mark_recorded();
}

/// Appends an entry in a transaction of its own. An audit write that fails is logged loudly:
/// it happens only after the action already failed, and must not mask that failure.
async fn record(db: &Database, entry: NewEntry) {
    let result = async {
        let txn = db.write().await?;
        append(&*txn, db.backend(), vec![entry]).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a failed action in the audit log");
    }
}

/// An entry ready to append.
pub struct NewEntry {
    request_id: String,
    actor_user_id: Option<Uuid>,
    actor_username: Option<String>,
    actor_role: Option<String>,
    tenant_id: Option<Uuid>,
    action: String,
    target: Option<Target>,
    result: String,
    details: String,
}

/// The hash of an entry: SHA-256 over its fields in a fixed order, as a JSON array.
pub fn entry_hash(e: &audit_entry::Model) -> String {
    let fields = serde_json::json!([
        e.seq,
        e.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.request_id,
        e.actor_user_id.map(|u| u.to_string()),
        e.actor_username,
        e.actor_role,
        e.tenant_id.map(|u| u.to_string()),
        e.action,
        e.target_type,
        e.target_id,
        e.result,
        e.details,
        e.prev_hash,
    ]);
    hex::encode(Sha256::digest(fields.to_string().as_bytes()))
}

/// Appends entries in order, in the caller's transaction.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    backend: DatabaseBackend,
    entries: Vec<NewEntry>,
) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    if backend == DatabaseBackend::Postgres {
        // One appender at a time, held to the end of the transaction: the next appender then
        // sees these entries as the head.
        conn.execute_unprepared("SELECT pg_advisory_xact_lock(8231001)")
            .await?;
    }
    let head = Entity::find()
        .order_by_desc(Column::Seq)
        .limit(1)
        .one(conn)
        .await?;
    let (mut seq, mut prev_hash) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    // Microseconds: what PostgreSQL keeps, so the hash survives the round trip.
    let at = Utc::now().trunc_subsecs(6);
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let (target_type, target_id) = match e.target {
            Some(t) => (Some(t.kind.to_owned()), Some(t.id)),
            None => (None, None),
        };
        let mut model = audit_entry::Model {
            seq,
            at,
            request_id: e.request_id,
            actor_user_id: e.actor_user_id,
            actor_username: e.actor_username,
            actor_role: e.actor_role,
            tenant_id: e.tenant_id,
            action: e.action,
            target_type,
            target_id,
            result: e.result,
            details: e.details,
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
        };
        model.hash = entry_hash(&model);
        prev_hash = model.hash.clone();
        seq += 1;
        rows.push(audit_entry::ActiveModel::from(model));
    }
    // Bounded statements: PostgreSQL takes at most 65535 bind parameters per statement.
    for chunk in rows.chunks(1000) {
        Entity::insert_many(chunk.to_vec()).exec(conn).await?;
    }
    Ok(())
}

impl Entry {
    /// The entry as appended for a successful action.
    pub(crate) fn ok(&self) -> NewEntry {
        self.finish("ok")
    }

    /// Notes on the caller that its entry was written.
    pub(crate) fn mark_recorded(&self) {
        self.caller.mark_recorded();
    }
}

/// Filters for reading the log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this tenant's entries (tenant admins always get their own).
    pub tenant_id: Option<Uuid>,
    /// Only this action.
    pub action: Option<String>,
    /// Only entries by this user name.
    pub actor_username: Option<String>,
    /// Only this result (`ok` or an error code).
    pub result: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Reads the log, newest first. Platform admins see everything; tenant admins their tenant's.
pub async fn list(
    db: &Database,
    caller: &Caller,
    filter: AuditFilter,
    args: PageArgs,
) -> Result<Page<audit_entry::Model>, ApiError> {
    let scope = authz::listing_scope(caller, Permission::ReadAudit, filter.tenant_id)?;
    let mut q = Entity::find();
    if let Some(t) = scope {
        q = q.filter(Column::TenantId.eq(t));
    }
    if let Some(a) = filter.action {
        q = q.filter(Column::Action.eq(a));
    }
    if let Some(u) = filter.actor_username {
        q = q.filter(Column::ActorUsername.eq(u));
    }
    if let Some(r) = filter.result {
        q = q.filter(Column::Result.eq(r));
    }
    if let Some(s) = filter.since {
        q = q.filter(Column::At.gte(s));
    }
    page::keyset::<_, _, i64>(db.conn(), q, Column::Seq, Order::Desc, args).await
}

/// The outcome of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub checked: u64,
    /// The first entry whose hash, link or sequence number is wrong, if any.
    pub first_broken: Option<i64>,
    /// The hash of the last entry (what an external witness would record).
    pub head_hash: String,
}

/// Recomputes every entry's hash and link, in order.
pub async fn verify(db: &Database, caller: &Caller) -> Result<Verification, ApiError> {
    authz::require(caller, Permission::VerifyAudit, Scope::Platform)?;
    const BATCH: u64 = 1000;
    let mut checked = 0;
    let mut prev = GENESIS_HASH.to_owned();
    let mut next_seq = 1;
    loop {
        let batch = Entity::find()
            .filter(Column::Seq.gte(next_seq))
            .order_by_asc(Column::Seq)
            .limit(BATCH)
            .all(db.conn())
            .await?;
        let done = (batch.len() as u64) < BATCH;
        for e in batch {
            let broken = e.seq != next_seq || e.prev_hash != prev || entry_hash(&e) != e.hash;
            if broken {
                return Ok(Verification {
                    checked,
                    first_broken: Some(next_seq),
                    head_hash: prev,
                });
            }
            checked += 1;
            next_seq += 1;
            prev = e.hash;
        }
        if done {
            return Ok(Verification {
                checked,
                first_broken: None,
                head_hash: prev,
            });
        }
    }
}

/// Failed sign-ins for a user name since its last successful one, within `window`: their
/// count and the time of the oldest. The rate limit reads the audit log, so it holds across
/// restarts and across API replicas sharing a database.
pub async fn recent_sign_in_failures(
    db: &Database,
    username: &str,
    window: chrono::Duration,
) -> Result<(u64, Option<DateTime<Utc>>), ApiError> {
    let since = Utc::now() - window;
    let last_ok = Entity::find()
        .filter(Column::Action.eq(Action::SignIn.as_str()))
        .filter(Column::ActorUsername.eq(username))
        .filter(Column::Result.eq("ok"))
        .filter(Column::At.gte(since))
        .order_by_desc(Column::Seq)
        .limit(1)
        .one(db.conn())
        .await?;
    let mut q = Entity::find()
        .filter(Column::Action.eq(Action::SignIn.as_str()))
        .filter(Column::ActorUsername.eq(username))
        .filter(Column::Result.eq("UNAUTHENTICATED"))
        .filter(Column::At.gte(since));
    if let Some(ok) = last_ok {
        q = q.filter(Column::Seq.gt(ok.seq));
    }
    let failures = q.order_by_asc(Column::Seq).all(db.conn()).await?;
    Ok((failures.len() as u64, failures.first().map(|f| f.at)))
}
