//! Authorization: the whole policy, in one place. Every service checks here before it reads or
//! changes anything on a caller's behalf.
//!
//! | permission | platform-admin | tenant-admin | tenant-member |
//! | --- | --- | --- | --- |
//! | `ManageTenants` (create, update, suspend, set quotas) | all | - | - |
//! | `ListTenants` | all | - | - |
//! | `ReadTenant` (profile, quota, usage) | all | own | own |
//! | `ManageUsers` | all | own tenant | - |
//! | `ReadUsers` | all | own tenant | own tenant |
//! | `ManageNetworks` | all | own tenant | - |
//! | `ReadNetworks` | all | own tenant | own tenant |
//! | `ReadAudit` | all | own tenant | - |
//! | `VerifyAudit` | yes | - | - |
//! | `ReadCertificates` (CAs, certificates, bundles) | all | own tenant | own tenant |
//! | `ManageCertificates` (CAs, node certificates, revoke, renew, enrollment tokens) | all | own tenant | - |
//! | `RequestUserCertificate` (for oneself) | all | own tenant | own tenant |
//!
//! A user's own account (password, API tokens, own user certificates) is always theirs.

use super::caller::{Actor, Caller};
use crate::entity::user::Role;
use crate::error::ApiError;
use uuid::Uuid;

/// Something a caller may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Create tenants, change their profile, status and quota.
    ManageTenants,
    /// List all tenants.
    ListTenants,
    /// Read a tenant's profile, quota and usage.
    ReadTenant,
    /// Create users, change their roles, delete them.
    ManageUsers,
    /// List and read users.
    ReadUsers,
    /// Launch and delete networks.
    ManageNetworks,
    /// List and read networks.
    ReadNetworks,
    /// Read the audit log.
    ReadAudit,
    /// Verify the whole audit chain.
    VerifyAudit,
    /// List and read CAs and certificates.
    ReadCertificates,
    /// Create CAs, issue node certificates, revoke and renew, manage enrollment tokens.
    ManageCertificates,
    /// Obtain a user certificate for oneself.
    RequestUserCertificate,
}

/// Whose objects a permission is exercised on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The platform as a whole (every tenant).
    Platform,
    /// One tenant's objects.
    Tenant(Uuid),
}

/// Whether `actor` holds `perm` over `scope`.
pub fn allows(actor: &Actor, perm: Permission, scope: Scope) -> bool {
    use Permission::*;
    match actor.role {
        Role::PlatformAdmin => true,
        Role::TenantAdmin | Role::TenantMember => {
            let own = matches!(scope, Scope::Tenant(t) if actor.tenant_id == Some(t));
            let role_allows = match actor.role {
                Role::TenantAdmin => matches!(
                    perm,
                    ReadTenant
                        | ManageUsers
                        | ReadUsers
                        | ManageNetworks
                        | ReadNetworks
                        | ReadAudit
                        | ReadCertificates
                        | ManageCertificates
                        | RequestUserCertificate
                ),
                _ => matches!(
                    perm,
                    ReadTenant
                        | ReadUsers
                        | ReadNetworks
                        | ReadCertificates
                        | RequestUserCertificate
                ),
            };
            own && role_allows
        }
    }
}

/// Requires `perm` over `scope`: the actor, or `UNAUTHENTICATED` / `FORBIDDEN`.
pub fn require(caller: &Caller, perm: Permission, scope: Scope) -> Result<&Actor, ApiError> {
    let actor = caller.actor()?;
    if allows(actor, perm, scope) {
        Ok(actor)
    } else {
        Err(ApiError::Forbidden(format!(
            "{} may not {}",
            actor.role.as_str(),
            describe(perm)
        )))
    }
}

/// Requires `perm` over the tenant owning an object, hiding objects of other tenants: a caller
/// who may not read the tenant gets `NOT_FOUND`, as if the object did not exist.
pub fn require_visible(
    caller: &Caller,
    perm: Permission,
    tenant: Uuid,
    what: &str,
) -> Result<(), ApiError> {
    let actor = caller.actor()?;
    if allows(actor, perm, Scope::Tenant(tenant)) {
        return Ok(());
    }
    let read = match perm {
        Permission::ManageNetworks => Permission::ReadNetworks,
        Permission::ManageUsers => Permission::ReadUsers,
        Permission::ManageCertificates => Permission::ReadCertificates,
        other => other,
    };
    if allows(actor, read, Scope::Tenant(tenant)) {
        Err(ApiError::Forbidden(format!(
            "{} may not {}",
            actor.role.as_str(),
            describe(perm)
        )))
    } else {
        Err(ApiError::NotFound(what.to_owned()))
    }
}

/// The tenant a listing is scoped to: the asked one (checked), else the caller's own; platform
/// admins may list across tenants with `None`.
pub fn listing_scope(
    caller: &Caller,
    perm: Permission,
    asked: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    let actor = caller.actor()?;
    match (asked, actor.role) {
        (Some(t), _) => {
            require(caller, perm, Scope::Tenant(t))?;
            Ok(Some(t))
        }
        (None, Role::PlatformAdmin) => Ok(None),
        (None, _) => {
            let own = actor
                .tenant_id
                .ok_or(ApiError::Forbidden("this user belongs to no tenant".into()))?;
            require(caller, perm, Scope::Tenant(own))?;
            Ok(Some(own))
        }
    }
}

fn describe(perm: Permission) -> &'static str {
    match perm {
        Permission::ManageTenants => "manage tenants",
        Permission::ListTenants => "list tenants",
        Permission::ReadTenant => "read this tenant",
        Permission::ManageUsers => "manage users here",
        Permission::ReadUsers => "read users here",
        Permission::ManageNetworks => "manage networks here",
        Permission::ReadNetworks => "read networks here",
        Permission::ReadAudit => "read this audit log",
        Permission::VerifyAudit => "verify the audit chain",
        Permission::ReadCertificates => "read certificates here",
        Permission::ManageCertificates => "manage certificates here",
        Permission::RequestUserCertificate => "request a user certificate here",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::caller::RequestId;

    fn actor(role: Role, tenant: Option<Uuid>) -> Caller {
        Caller::signed_in(
            Actor {
                user_id: Uuid::now_v7(),
                username: "u".into(),
                role,
                tenant_id: tenant,
                session_id: None,
            },
            RequestId::generate(),
        )
    }

    #[test]
    fn tenants_stay_in_their_own_tenant() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let admin = actor(Role::TenantAdmin, Some(a));
        assert!(require(&admin, Permission::ManageNetworks, Scope::Tenant(a)).is_ok());
        let e = require(&admin, Permission::ManageNetworks, Scope::Tenant(b)).unwrap_err();
        assert_eq!(e.code(), "FORBIDDEN");
        let e = require_visible(&admin, Permission::ManageNetworks, b, "network").unwrap_err();
        assert_eq!(e.code(), "NOT_FOUND");
        let member = actor(Role::TenantMember, Some(a));
        let e = require_visible(&member, Permission::ManageNetworks, a, "network").unwrap_err();
        assert_eq!(e.code(), "FORBIDDEN");
        assert!(require(&member, Permission::ReadAudit, Scope::Tenant(a)).is_err());
        assert!(require(&admin, Permission::ListTenants, Scope::Platform).is_err());
    }

    #[test]
    fn platform_admins_may_do_everything_and_anonymous_nothing() {
        let p = actor(Role::PlatformAdmin, None);
        assert!(require(&p, Permission::VerifyAudit, Scope::Platform).is_ok());
        assert_eq!(
            listing_scope(&p, Permission::ReadUsers, None).unwrap(),
            None
        );
        let anon = Caller::anonymous(RequestId::generate());
        let e = require(&anon, Permission::ReadTenant, Scope::Platform).unwrap_err();
        assert_eq!(e.code(), "UNAUTHENTICATED");
    }

    #[test]
    fn listings_default_to_the_callers_tenant() {
        let t = Uuid::now_v7();
        let m = actor(Role::TenantMember, Some(t));
        assert_eq!(
            listing_scope(&m, Permission::ReadUsers, None).unwrap(),
            Some(t)
        );
        let other = Uuid::now_v7();
        assert!(listing_scope(&m, Permission::ReadUsers, Some(other)).is_err());
    }

    #[test]
    fn request_ids_accept_only_safe_client_values() {
        assert_eq!(RequestId::from_header(Some("abc-123")).as_str(), "abc-123");
        assert_ne!(RequestId::from_header(Some("a b")).as_str(), "a b");
        assert_ne!(
            RequestId::from_header(Some(&"x".repeat(65))).as_str().len(),
            65
        );
    }
}
