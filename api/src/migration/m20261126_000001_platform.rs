//! The platform's first schema: tenants, users, sessions, API tokens, networks, audit log,
//! certificate authorities, certificates and enrollment tokens.

use sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
    Name,
    Uscc,
    ContactName,
    ContactPhone,
    ContactEmail,
    Status,
    MaxNetworks,
    MaxNodes,
    MaxStorageGib,
    AllowedDomains,
    AllowedIpNetworks,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CertificateAuthority {
    Table,
    Id,
    TenantId,
    Suite,
    Kind,
    ParentId,
    CommonName,
    CertificatePem,
    SealedKey,
    MasterKeyId,
    NotBefore,
    NotAfter,
    CrlNumber,
    CrlDer,
    CrlThisUpdate,
    CrlNextUpdate,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Certificate {
    Table,
    Id,
    TenantId,
    CaId,
    Serial,
    Profile,
    Suite,
    CommonName,
    Names,
    NotBefore,
    NotAfter,
    Pem,
    Status,
    RevokedAt,
    RevocationReason,
    RequestedBy,
    RenewedFrom,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EnrollmentToken {
    Table,
    Id,
    TenantId,
    Name,
    TokenHash,
    UsesLeft,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    TenantId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    UserId,
    TokenHash,
    Kind,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Network {
    Table,
    Id,
    TenantId,
    Name,
    Engine,
    Version,
    Consensus,
    Crypto,
    Validators,
    Observers,
    StorageGib,
    Placement,
    Phase,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEntry {
    Table,
    Seq,
    At,
    RequestId,
    ActorUserId,
    ActorUsername,
    ActorRole,
    TenantId,
    Action,
    TargetType,
    TargetId,
    Result,
    Details,
    PrevHash,
    Hash,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenant::Table)
                .col(pk_uuid(Tenant::Id))
                .col(string_len_uniq(Tenant::Name, 100))
                .col(string_len_uniq(Tenant::Uscc, 18))
                .col(string_len(Tenant::ContactName, 64))
                .col(string_len(Tenant::ContactPhone, 32))
                .col(string_len(Tenant::ContactEmail, 254))
                .col(string_len(Tenant::Status, 16))
                .col(integer(Tenant::MaxNetworks))
                .col(integer(Tenant::MaxNodes))
                .col(integer(Tenant::MaxStorageGib))
                .col(text(Tenant::AllowedDomains))
                .col(text(Tenant::AllowedIpNetworks))
                .col(timestamp_with_time_zone(Tenant::CreatedAt))
                .col(timestamp_with_time_zone(Tenant::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(User::Table)
                .col(pk_uuid(User::Id))
                .col(string_len_uniq(User::Username, 64))
                .col(string_len(User::PasswordHash, 255))
                .col(string_len(User::Role, 32))
                .col(uuid_null(User::TenantId))
                .col(timestamp_with_time_zone(User::CreatedAt))
                .col(timestamp_with_time_zone(User::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_user_tenant",
                    (User::Table, User::TenantId),
                    (Tenant::Table, Tenant::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_tenant")
                .table(User::Table)
                .col(User::TenantId)
                .col(User::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(pk_uuid(Session::Id))
                .col(uuid(Session::UserId))
                .col(string_len_uniq(Session::TokenHash, 64))
                .col(string_len(Session::Kind, 16))
                .col(string_len(Session::CsrfToken, 64))
                .col(timestamp_with_time_zone(Session::CreatedAt))
                .col(timestamp_with_time_zone(Session::ExpiresAt))
                .col(timestamp_with_time_zone_null(Session::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_session_user",
                    (Session::Table, Session::UserId),
                    (User::Table, User::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_session_user")
                .table(Session::Table)
                .col(Session::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiToken::Table)
                .col(pk_uuid(ApiToken::Id))
                .col(uuid(ApiToken::UserId))
                .col(string_len(ApiToken::Name, 64))
                .col(string_len_uniq(ApiToken::TokenHash, 64))
                .col(timestamp_with_time_zone(ApiToken::CreatedAt))
                .col(timestamp_with_time_zone(ApiToken::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiToken::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiToken::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_api_token_user",
                    (ApiToken::Table, ApiToken::UserId),
                    (User::Table, User::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_api_token_user")
                .table(ApiToken::Table)
                .col(ApiToken::UserId)
                .col(ApiToken::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Network::Table)
                .col(pk_uuid(Network::Id))
                .col(uuid(Network::TenantId))
                .col(string_len(Network::Name, 63))
                .col(string_len(Network::Engine, 32))
                .col(string_len(Network::Version, 32))
                .col(string_len(Network::Consensus, 32))
                .col(string_len(Network::Crypto, 32))
                .col(integer(Network::Validators))
                .col(integer(Network::Observers))
                .col(integer(Network::StorageGib))
                .col(string_len(Network::Placement, 63))
                .col(string_len(Network::Phase, 16))
                .col(uuid(Network::CreatedBy))
                .col(timestamp_with_time_zone(Network::CreatedAt))
                .col(timestamp_with_time_zone(Network::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_network_tenant",
                    (Network::Table, Network::TenantId),
                    (Tenant::Table, Tenant::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_network_tenant_name")
                .table(Network::Table)
                .col(Network::TenantId)
                .col(Network::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditEntry::Table)
                .col(big_integer(AuditEntry::Seq).primary_key())
                .col(timestamp_with_time_zone(AuditEntry::At))
                .col(string_len(AuditEntry::RequestId, 64))
                .col(uuid_null(AuditEntry::ActorUserId))
                .col(string_len_null(AuditEntry::ActorUsername, 64))
                .col(string_len_null(AuditEntry::ActorRole, 32))
                .col(uuid_null(AuditEntry::TenantId))
                .col(string_len(AuditEntry::Action, 64))
                .col(string_len_null(AuditEntry::TargetType, 32))
                .col(string_len_null(AuditEntry::TargetId, 64))
                .col(string_len(AuditEntry::Result, 32))
                .col(text(AuditEntry::Details))
                .col(string_len(AuditEntry::PrevHash, 64))
                .col(string_len(AuditEntry::Hash, 64))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_tenant")
                .table(AuditEntry::Table)
                .col(AuditEntry::TenantId)
                .col(AuditEntry::Seq)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_action_actor")
                .table(AuditEntry::Table)
                .col(AuditEntry::Action)
                .col(AuditEntry::ActorUsername)
                .col(AuditEntry::Seq)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CertificateAuthority::Table)
                .col(pk_uuid(CertificateAuthority::Id))
                .col(uuid(CertificateAuthority::TenantId))
                .col(string_len(CertificateAuthority::Suite, 16))
                .col(string_len(CertificateAuthority::Kind, 16))
                .col(uuid_null(CertificateAuthority::ParentId))
                .col(string_len(CertificateAuthority::CommonName, 128))
                .col(text(CertificateAuthority::CertificatePem))
                .col(blob(CertificateAuthority::SealedKey))
                .col(string_len(CertificateAuthority::MasterKeyId, 64))
                .col(timestamp_with_time_zone(CertificateAuthority::NotBefore))
                .col(timestamp_with_time_zone(CertificateAuthority::NotAfter))
                .col(big_integer(CertificateAuthority::CrlNumber))
                .col(blob(CertificateAuthority::CrlDer))
                .col(timestamp_with_time_zone(
                    CertificateAuthority::CrlThisUpdate,
                ))
                .col(timestamp_with_time_zone(
                    CertificateAuthority::CrlNextUpdate,
                ))
                .col(timestamp_with_time_zone(CertificateAuthority::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_ca_tenant",
                    (CertificateAuthority::Table, CertificateAuthority::TenantId),
                    (Tenant::Table, Tenant::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ca_tenant_suite")
                .table(CertificateAuthority::Table)
                .col(CertificateAuthority::TenantId)
                .col(CertificateAuthority::Suite)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Certificate::Table)
                .col(pk_uuid(Certificate::Id))
                .col(uuid(Certificate::TenantId))
                .col(uuid(Certificate::CaId))
                .col(string_len(Certificate::Serial, 64))
                .col(string_len(Certificate::Profile, 16))
                .col(string_len(Certificate::Suite, 16))
                .col(string_len(Certificate::CommonName, 128))
                .col(text(Certificate::Names))
                .col(timestamp_with_time_zone(Certificate::NotBefore))
                .col(timestamp_with_time_zone(Certificate::NotAfter))
                .col(text(Certificate::Pem))
                .col(string_len(Certificate::Status, 16))
                .col(timestamp_with_time_zone_null(Certificate::RevokedAt))
                .col(string_len_null(Certificate::RevocationReason, 32))
                .col(string_len(Certificate::RequestedBy, 64))
                .col(uuid_null(Certificate::RenewedFrom))
                .col(timestamp_with_time_zone(Certificate::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_certificate_ca",
                    (Certificate::Table, Certificate::CaId),
                    (CertificateAuthority::Table, CertificateAuthority::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_certificate_ca_serial")
                .table(Certificate::Table)
                .col(Certificate::CaId)
                .col(Certificate::Serial)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_certificate_tenant")
                .table(Certificate::Table)
                .col(Certificate::TenantId)
                .col(Certificate::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_certificate_expiry")
                .table(Certificate::Table)
                .col(Certificate::Status)
                .col(Certificate::NotAfter)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EnrollmentToken::Table)
                .col(pk_uuid(EnrollmentToken::Id))
                .col(uuid(EnrollmentToken::TenantId))
                .col(string_len(EnrollmentToken::Name, 64))
                .col(string_len_uniq(EnrollmentToken::TokenHash, 64))
                .col(integer(EnrollmentToken::UsesLeft))
                .col(uuid(EnrollmentToken::CreatedBy))
                .col(timestamp_with_time_zone(EnrollmentToken::CreatedAt))
                .col(timestamp_with_time_zone(EnrollmentToken::ExpiresAt))
                .col(timestamp_with_time_zone_null(EnrollmentToken::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_enrollment_token_tenant",
                    (EnrollmentToken::Table, EnrollmentToken::TenantId),
                    (Tenant::Table, Tenant::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        // The audit log is append-only in the database itself, not only in our code.
        let conn = m.get_connection();
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => {
                for op in ["UPDATE", "DELETE"] {
                    conn.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_entry_no_{l} BEFORE {op} ON audit_entry \
                         BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
                        l = op.to_lowercase()
                    ))
                    .await?;
                }
            }
            DatabaseBackend::Postgres => {
                conn.execute_unprepared(
                    "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$",
                )
                .await?;
                conn.execute_unprepared(
                    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE \
                     ON audit_entry FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
                )
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!("unsupported database {other:?}")));
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Postgres {
            m.get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS audit_entry_append_only() CASCADE")
                .await?;
        }
        for t in [
            EnrollmentToken::Table.into_iden(),
            Certificate::Table.into_iden(),
            CertificateAuthority::Table.into_iden(),
            AuditEntry::Table.into_iden(),
            Network::Table.into_iden(),
            ApiToken::Table.into_iden(),
            Session::Table.into_iden(),
            User::Table.into_iden(),
            Tenant::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
