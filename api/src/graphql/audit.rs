//! The audit log in GraphQL.

use super::page::{self, Counted};
use super::{opt_uuid_arg, parts};
use crate::entity::audit_entry;
use crate::service::{audit, page::cursor};
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use chrono::{DateTime, Utc};

/// One audited action.
#[derive(Clone, Debug)]
pub struct AuditEntry(pub audit_entry::Model);

#[Object]
impl AuditEntry {
    /// Position in the chain, from 1.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The request that did it (the `X-Request-Id` of its HTTP exchange).
    async fn request_id(&self) -> &str {
        &self.0.request_id
    }
    /// Who, when signed in.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|u| ID(u.to_string()))
    }
    /// The actor's user name (or the name tried at a failed sign-in).
    async fn actor_username(&self) -> Option<&str> {
        self.0.actor_username.as_deref()
    }
    /// The actor's role then.
    async fn actor_role(&self) -> Option<&str> {
        self.0.actor_role.as_deref()
    }
    /// The tenant concerned.
    async fn tenant_id(&self) -> Option<ID> {
        self.0.tenant_id.map(|u| ID(u.to_string()))
    }
    /// The action (the mutation's name).
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The kind of object acted on.
    async fn target_type(&self) -> Option<&str> {
        self.0.target_type.as_deref()
    }
    /// The object's id.
    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }
    /// `ok`, or the error code.
    async fn result(&self) -> &str {
        &self.0.result
    }
    /// Further facts, a JSON object as text.
    async fn details(&self) -> &str {
        &self.0.details
    }
    /// The previous entry's hash.
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    /// This entry's hash.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

/// Filters for `auditLog`.
#[derive(InputObject, Debug, Default)]
pub struct AuditFilter {
    /// Only this tenant's entries (tenant admins always see only their own).
    pub tenant_id: Option<ID>,
    /// Only this action.
    pub action: Option<String>,
    /// Only entries by this user name.
    pub actor_username: Option<String>,
    /// Only this result (`ok` or an error code).
    pub result: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// The outcome of `verifyAuditLog`.
#[derive(SimpleObject, Debug)]
pub struct AuditVerification {
    /// Whether every entry's hash, link and sequence number is right.
    pub ok: bool,
    /// Entries checked before the first broken one (or all).
    pub checked_entries: u64,
    /// The first broken entry's sequence number.
    pub first_broken_seq: Option<i64>,
    /// The hash of the last good entry: record it elsewhere to detect a rewritten tail later.
    pub head_hash: String,
}

#[derive(Default)]
pub(super) struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first: platform admins see all, tenant admins their tenant's.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, AuditEntry, Counted>> {
        let (db, caller) = parts(ctx)?;
        let f = filter.unwrap_or_default();
        let tenant_id = opt_uuid_arg("filter.tenantId", f.tenant_id).extend()?;
        let filter = audit::AuditFilter {
            tenant_id,
            action: f.action,
            actor_username: f.actor_username,
            result: f.result,
            since: f.since,
        };
        let args = page::args(ctx, after, before, first, last);
        let p = audit::list(db, caller, filter, args).await.extend()?;
        Ok(page::connection(p, |e| cursor(&e.seq), AuditEntry))
    }

    /// Recomputes every entry's hash and link (platform admins).
    async fn verify_audit_log(&self, ctx: &Context<'_>) -> Result<AuditVerification> {
        let (db, caller) = parts(ctx)?;
        let v = audit::verify(db, caller).await.extend()?;
        Ok(AuditVerification {
            ok: v.first_broken.is_none(),
            checked_entries: v.checked,
            first_broken_seq: v.first_broken,
            head_hash: v.head_hash,
        })
    }
}
