//! The console's audit log filtered by an actor or an account together with an action:
//! indexes newest first within the pair, so that a page is one index range scan even when
//! the pair matches few lines or none (before, one side's index was scanned for the other).
//! A time range needs no index of its own: it becomes a range of ids through `m0008`'s
//! `audit_log_at`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, table, columns)
const INDEXES: [(&str, &str, &[&str]); 2] = [
    (
        "audit_log_actor_action_newest",
        "audit_log",
        &["actor", "action", "id"],
    ),
    (
        "audit_log_account_action_newest",
        "audit_log",
        &["account_id", "action", "id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::create_indexes(m, &INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_indexes(m, &INDEXES).await
    }
}
