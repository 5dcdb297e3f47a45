//! The console's hosts and audit log sections: an index for each search, ordered as its
//! page is (by name within a zone, a User-Agent or a source address; the audit log newest
//! first within an actor or an action, or by time), so that a page is an index range
//! scan of at most one page at a million rows. A host by its current address and the
//! audit log by account use `m0007`'s `hosts_ipv4`, `hosts_ipv6` and
//! `audit_log_account_newest`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, table, columns)
const INDEXES: [(&str, &str, &[&str]); 6] = [
    ("hosts_zone_name", "hosts", &["zone_id", "name"]),
    ("hosts_agent_name", "hosts", &["last_agent", "name"]),
    ("hosts_source_name", "hosts", &["last_source", "name"]),
    ("audit_log_actor_newest", "audit_log", &["actor", "id"]),
    ("audit_log_action_newest", "audit_log", &["action", "id"]),
    ("audit_log_at", "audit_log", &["at", "id"]),
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
