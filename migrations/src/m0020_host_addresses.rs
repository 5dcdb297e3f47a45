//! Moves the index of hosts by current address out of `hosts`, into `host_addresses`: a
//! row per host with its two addresses, kept by the writer of `hosts` in the same
//! transaction. Indexed in `hosts` (`m0007`'s `hosts_ipv4`, `hosts_ipv6`), every change of
//! address wrote a new entry into each of the table's eight indexes, as PostgreSQL cannot
//! write a row version that changes an indexed value without them (a HOT update); it was
//! the dearest statement of a changing update (`bench/README.md`). Now the host's row is
//! rewritten on its own page with no index entry, and only the narrow row's three indexes
//! take one.
//! The addresses stay in `hosts` too: every reader of a host has them with its row, and
//! only the console's search by address reads `host_addresses`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HostAddresses {
    Table,
    HostId,
    Ipv4,
    Ipv6,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
    Ipv4,
    Ipv6,
}

const NEW_INDEXES: [(&str, &str, &[&str]); 2] = [
    ("host_addresses_ipv4", "host_addresses", &["ipv4"]),
    ("host_addresses_ipv6", "host_addresses", &["ipv6"]),
];
const OLD_INDEXES: [(&str, &str, &[&str]); 2] = [
    ("hosts_ipv4", "hosts", &["ipv4"]),
    ("hosts_ipv6", "hosts", &["ipv6"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(HostAddresses::Table)
                .col(big_integer(HostAddresses::HostId).primary_key())
                .col(string_len_null(HostAddresses::Ipv4, 15))
                .col(string_len_null(HostAddresses::Ipv6, 39))
                .foreign_key(
                    ForeignKey::create()
                        .from(HostAddresses::Table, HostAddresses::HostId)
                        .to(Hosts::Table, Hosts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        let copy = Query::insert()
            .into_table(HostAddresses::Table)
            .columns([
                HostAddresses::HostId,
                HostAddresses::Ipv4,
                HostAddresses::Ipv6,
            ])
            .select_from(
                Query::select()
                    .columns([Hosts::Id, Hosts::Ipv4, Hosts::Ipv6])
                    .from(Hosts::Table)
                    .to_owned(),
            )
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        m.exec_stmt(copy).await?;
        crate::create_indexes(m, &NEW_INDEXES).await?;
        crate::drop_indexes(m, &OLD_INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::create_indexes(m, &OLD_INDEXES).await?;
        m.drop_table(Table::drop().table(HostAddresses::Table).to_owned())
            .await
    }
}
