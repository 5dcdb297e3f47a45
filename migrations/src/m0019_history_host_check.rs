//! Drops the foreign key from `update_history.host_id` to `hosts` (PostgreSQL). Every
//! history line inserted ran it: a query per row and a share lock written into the host's
//! row, which cost the check-in writer as much as the insert itself (`bench/README.md`).
//! What it gave is kept without it: a host's deletion deletes its history in the same
//! transaction, and history is inserted only for hosts that exist, on rows locked first.
//!
//! SQLite cannot drop a constraint short of rebuilding the table, and checks one cheaply
//! in the process: it keeps the key, which then never finds anything to do.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpdateHistory {
    Table,
    HostId,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
}

/// The name PostgreSQL gave the unnamed key of `m0001`.
const KEY: &str = "update_history_host_id_fkey";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !crate::on_postgres(m) {
            return Ok(());
        }
        m.drop_foreign_key(
            ForeignKey::drop()
                .name(KEY)
                .table(UpdateHistory::Table)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !crate::on_postgres(m) {
            return Ok(());
        }
        m.create_foreign_key(
            ForeignKey::create()
                .name(KEY)
                .from(UpdateHistory::Table, UpdateHistory::HostId)
                .to(Hosts::Table, Hosts::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        )
        .await
    }
}
