//! dyn53's database schema. Every migration runs on PostgreSQL and SQLite, written with
//! sea-query's portable builders, never raw SQL, with two exceptions for PostgreSQL alone: a
//! storage setting that has no portable form and no meaning on SQLite (`m0017`, raw SQL),
//! and a foreign key SQLite cannot drop (`m0019`).

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_legacy_protocols;
mod m0003_account_manager;
mod m0004_acme_challenges;
mod m0005_stored_rules;
mod m0007_console_accounts;
mod m0008_console_audit;
mod m0010_service_settings;
mod m0011_abuse_controls;
mod m0012_second_factor;
mod m0013_audit_speed;
mod m0014_tsig_keys;
mod m0015_ipv6_prefixes;
mod m0016_notifications;
mod m0017_hosts_fillfactor;
mod m0018_hosts_zone_index;
mod m0019_history_host_check;
mod m0020_host_addresses;

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
            Box::new(m0007_console_accounts::Migration),
            Box::new(m0008_console_audit::Migration),
            Box::new(m0010_service_settings::Migration),
            Box::new(m0011_abuse_controls::Migration),
            Box::new(m0012_second_factor::Migration),
            Box::new(m0013_audit_speed::Migration),
            Box::new(m0014_tsig_keys::Migration),
            Box::new(m0015_ipv6_prefixes::Migration),
            Box::new(m0016_notifications::Migration),
            Box::new(m0017_hosts_fillfactor::Migration),
            Box::new(m0018_hosts_zone_index::Migration),
            Box::new(m0019_history_host_check::Migration),
            Box::new(m0020_host_addresses::Migration),
        ]
    }
}

/// Whether the migration runs on PostgreSQL: the few steps SQLite has no form for.
fn on_postgres(m: &SchemaManager<'_>) -> bool {
    m.get_database_backend() == sea_orm::DatabaseBackend::Postgres
}

/// An index: its name, its table and its columns.
type IndexSpec<'a> = (&'a str, &'a str, &'a [&'a str]);

/// Creates each of `indexes`.
async fn create_indexes(m: &SchemaManager<'_>, indexes: &[IndexSpec<'_>]) -> Result<(), DbErr> {
    for (name, table, cols) in indexes {
        let mut index = Index::create();
        index.name(*name).table(Alias::new(*table));
        for col in *cols {
            index.col(Alias::new(*col));
        }
        m.create_index(index).await?;
    }
    Ok(())
}

/// Drops each of `indexes`.
async fn drop_indexes(m: &SchemaManager<'_>, indexes: &[IndexSpec<'_>]) -> Result<(), DbErr> {
    for (name, table, _) in indexes {
        m.drop_index(
            Index::drop()
                .name(*name)
                .table(Alias::new(*table))
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}
