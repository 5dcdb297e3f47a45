//! Hosts that follow an IPv6 prefix: a host keeps the last bits of its address (its interface
//! identifier), and the account keeps the prefix its router last sent. The host's `ipv6` stays
//! the address served, computed from both whenever either changes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Ipv6InterfaceId,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Ipv6Prefix,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Hosts::Table)
                .add_column(string_len_null(Hosts::Ipv6InterfaceId, 39))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(string_len_null(Accounts::Ipv6Prefix, 43))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .drop_column(Accounts::Ipv6Prefix)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Hosts::Table)
                .drop_column(Hosts::Ipv6InterfaceId)
                .to_owned(),
        )
        .await
    }
}
