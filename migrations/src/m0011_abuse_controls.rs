//! The abuse controls: update outcomes counted per minute (by protocol and result, and by
//! client: User-Agents and sources refused for wrong credentials), added to by every web
//! replica, and the operator's block lists (User-Agents, address ranges) that every replica
//! reloads.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpdateOutcomes {
    Table,
    Minute,
    Protocol,
    Result,
    Count,
}

#[derive(DeriveIden)]
enum UpdateClients {
    Table,
    Minute,
    Kind,
    Client,
    Count,
}

#[derive(DeriveIden)]
enum Blocklist {
    Table,
    Kind,
    Pattern,
    Reason,
    Actor,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UpdateOutcomes::Table)
                .col(timestamp_with_time_zone(UpdateOutcomes::Minute))
                .col(string_len(UpdateOutcomes::Protocol, 16))
                .col(string_len(UpdateOutcomes::Result, 16))
                .col(big_integer(UpdateOutcomes::Count))
                .primary_key(
                    Index::create()
                        .col(UpdateOutcomes::Minute)
                        .col(UpdateOutcomes::Protocol)
                        .col(UpdateOutcomes::Result),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UpdateClients::Table)
                .col(timestamp_with_time_zone(UpdateClients::Minute))
                .col(string_len(UpdateClients::Kind, 8))
                .col(string_len(UpdateClients::Client, 255))
                .col(big_integer(UpdateClients::Count))
                .primary_key(
                    Index::create()
                        .col(UpdateClients::Minute)
                        .col(UpdateClients::Kind)
                        .col(UpdateClients::Client),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Blocklist::Table)
                .col(string_len(Blocklist::Kind, 8))
                .col(string_len(Blocklist::Pattern, 255))
                .col(text(Blocklist::Reason))
                .col(string_len(Blocklist::Actor, 320))
                .col(timestamp_with_time_zone(Blocklist::CreatedAt))
                .primary_key(Index::create().col(Blocklist::Kind).col(Blocklist::Pattern))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Blocklist::Table.into_iden(),
            UpdateClients::Table.into_iden(),
            UpdateOutcomes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
