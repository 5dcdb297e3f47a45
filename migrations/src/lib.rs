//! dyn53's database schema. Every migration runs unchanged on PostgreSQL and SQLite, so it
//! is written with sea-query's portable builders, never raw SQL.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_legacy_protocols;
mod m0003_account_manager;
mod m0004_acme_challenges;
mod m0005_stored_rules;
mod m0006_second_factor;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_legacy_protocols::Migration),
            Box::new(m0003_account_manager::Migration),
            Box::new(m0004_acme_challenges::Migration),
            Box::new(m0005_stored_rules::Migration),
            Box::new(m0006_second_factor::Migration),
        ]
    }
}
