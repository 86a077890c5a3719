//! Database entities (sea-orm models), one module per table.

pub mod api_token;
pub mod audit_entry;
pub mod certificate;
pub mod certificate_authority;
pub mod enrollment_token;
pub mod network;
pub mod session;
pub mod tenant;
pub mod user;
