//! Service-wide settings staff change at run time (first: whether sign-ups are open), one
//! row per setting, read by every replica. A missing row is the setting's default.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServiceSettings {
    Table,
    Name,
    Value,
    Reason,
    ChangedBy,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ServiceSettings::Table)
                .col(string_len(ServiceSettings::Name, 64).primary_key())
                .col(string_len(ServiceSettings::Value, 64))
                .col(text_null(ServiceSettings::Reason))
                .col(string_len(ServiceSettings::ChangedBy, 320))
                .col(timestamp_with_time_zone(ServiceSettings::ChangedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ServiceSettings::Table).to_owned())
            .await
    }
}
