//! RFC 2136 dynamic updates signed with TSIG: an update key made for them keeps its TSIG
//! secret, which the server needs in clear to compute HMAC-SHA256 (see `web/src/rfc2136/`
//! for that trade-off).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpdateKeys {
    Table,
    TsigSecret,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UpdateKeys::Table)
                .add_column(string_len_null(UpdateKeys::TsigSecret, 44))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UpdateKeys::Table)
                .drop_column(UpdateKeys::TsigSecret)
                .to_owned(),
        )
        .await
    }
}
