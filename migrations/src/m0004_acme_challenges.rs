//! The REST API's ACME DNS-01 support: TXT values a host serves at `_acme-challenge.<host>`,
//! kept apart from the host's own TXT records so that certificate clients never touch them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    AcmeTxt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Hosts::Table)
                .add_column(text(Hosts::AcmeTxt).default("[]"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Hosts::Table)
                .drop_column(Hosts::AcmeTxt)
                .to_owned(),
        )
        .await
    }
}
