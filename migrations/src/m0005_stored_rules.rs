//! Rules that must outlive the rows they were inferred from: whether a key is limited to
//! some hosts (its `update_key_hosts` rows cascade away with the hosts), and the operator's
//! blocks, which belong to a name rather than to the host that had it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpdateKeys {
    Table,
    Id,
    Limited,
}

#[derive(DeriveIden)]
enum UpdateKeyHosts {
    Table,
    KeyId,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Name,
    Blocked,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BlockedNames {
    Table,
    Name,
    Reason,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UpdateKeys::Table)
                .add_column(boolean(UpdateKeys::Limited).default(false))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table(UpdateKeys::Table)
                .value(UpdateKeys::Limited, true)
                .and_where(
                    Expr::col(UpdateKeys::Id).in_subquery(
                        Query::select()
                            .column(UpdateKeyHosts::KeyId)
                            .from(UpdateKeyHosts::Table)
                            .to_owned(),
                    ),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BlockedNames::Table)
                .col(string_len(BlockedNames::Name, 253).primary_key())
                .col(text_null(BlockedNames::Reason))
                .col(timestamp_with_time_zone(BlockedNames::CreatedAt))
                .to_owned(),
        )
        .await?;
        // When an existing block was made is unknown: not before its host was created.
        m.exec_stmt(
            Query::insert()
                .into_table(BlockedNames::Table)
                .columns([BlockedNames::Name, BlockedNames::CreatedAt])
                .select_from(
                    Query::select()
                        .columns([Hosts::Name, Hosts::CreatedAt])
                        .from(Hosts::Table)
                        .and_where(Expr::col(Hosts::Blocked).eq(true))
                        .to_owned(),
                )
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BlockedNames::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(UpdateKeys::Table)
                .drop_column(UpdateKeys::Limited)
                .to_owned(),
        )
        .await
    }
}
