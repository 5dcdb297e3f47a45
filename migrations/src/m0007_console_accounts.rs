//! The console's accounts section: the indexes its searches and an account's page use (a
//! host by its current address; an account's newest update lines and audit lines), and the
//! account a staff member's session views as, read only.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ViewingAccount,
}

/// (index name, table, columns)
const INDEXES: [(&str, &str, &[&str]); 4] = [
    ("hosts_ipv4", "hosts", &["ipv4"]),
    ("hosts_ipv6", "hosts", &["ipv6"]),
    (
        "update_history_account",
        "update_history",
        &["account_id", "id"],
    ),
    (
        "audit_log_account_newest",
        "audit_log",
        &["account_id", "id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .add_column(big_integer_null(Sessions::ViewingAccount))
                .to_owned(),
        )
        .await?;
        crate::create_indexes(m, &INDEXES).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_indexes(m, &INDEXES).await?;
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .drop_column(Sessions::ViewingAccount)
                .to_owned(),
        )
        .await
    }
}
