//! Drops `hosts_zone` (`zone_id`): `m0008`'s `hosts_zone_name` (`zone_id`, `name`) begins
//! with the same column and serves every lookup by zone, and each change of a host's
//! address, which no HOT update can spare since `hosts_ipv4` indexes it, wrote into both.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &[&str]); 1] = [("hosts_zone", "hosts", &["zone_id"])];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_indexes(m, &INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::create_indexes(m, &INDEXES).await
    }
}
