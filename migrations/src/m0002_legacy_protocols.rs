//! What the legacy protocols need beyond the initial schema: DynDNS's backup MX flag, the
//! operator's abuse block on a host, and the MD5 form of an update key that the miniupdate
//! protocol's challenge needs (see `web/src/miniupdate.rs` for that trade-off).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Backmx,
    Blocked,
}

#[derive(DeriveIden)]
enum UpdateKeys {
    Table,
    MiniupdateMd5,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let columns = [
            (
                Hosts::Table.into_iden(),
                boolean(Hosts::Backmx).default(false).to_owned(),
            ),
            (
                Hosts::Table.into_iden(),
                boolean(Hosts::Blocked).default(false).to_owned(),
            ),
            (
                UpdateKeys::Table.into_iden(),
                string_len_null(UpdateKeys::MiniupdateMd5, 32),
            ),
        ];
        for (table, mut column) in columns {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            (Hosts::Table.into_iden(), Hosts::Backmx.into_iden()),
            (Hosts::Table.into_iden(), Hosts::Blocked.into_iden()),
            (
                UpdateKeys::Table.into_iden(),
                UpdateKeys::MiniupdateMd5.into_iden(),
            ),
        ];
        for (table, column) in columns {
            m.alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
