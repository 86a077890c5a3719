//! Schema migrations, run at start. Once a migration has shipped it never changes: add a new one.

use sea_orm_migration::prelude::*;

mod m20261126_000001_platform;

/// All migrations, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261126_000001_platform::Migration)]
    }
}
