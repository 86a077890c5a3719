//! Database entities (sea-orm models), one module per table.

pub mod session;
pub mod user;
