//! Room on each page of `hosts` (PostgreSQL) for the next version of its rows. A check-in
//! rewrites a host's "last seen" columns; when no indexed value changes (the same agent and
//! source as last time, as is usual), PostgreSQL can write the new version without touching
//! any index (a HOT update), but only on the row's own page. Filled to the brim, as the
//! default leaves them, the pages have no room: every check-in wrote an entry into each of
//! the table's nine indexes (`bench/README.md`). SQLite has no such setting.
//!
//! The setting applies to pages filled from now on; an existing table gains the room as
//! its rows are updated and vacuumed, or at once with `VACUUM FULL hosts`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How full an insert leaves a page of `hosts`, in per cent: a host row is ~200 bytes, so
/// 70 % leaves room for about ten new versions per 8 kB page.
const FILLFACTOR: u8 = 70;

async fn set_fillfactor(m: &SchemaManager<'_>, percent: u8) -> Result<(), DbErr> {
    if !crate::on_postgres(m) {
        return Ok(());
    }
    // A storage parameter, PostgreSQL's own: sea-query has no builder for it.
    m.get_connection()
        .execute_unprepared(&format!("ALTER TABLE hosts SET (fillfactor = {percent})"))
        .await
        .map(|_| ())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(m, FILLFACTOR).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(m, 100).await
    }
}
