//! The service's own state for the console's zones, fleet and registration pages: zones of
//! every account, the feed's revision and when each recent revision was committed.

use std::collections::HashMap;

use dyn53_dns::feed::Revision;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::Console;
use crate::db::entity::outbox;
use crate::db::{DbResult, RegistrationSetting, Zone};

/// When revisions were committed, in ms since the Unix epoch (the outbox's `created_at`).
pub type CommitTimes = HashMap<Revision, u64>;

impl Console {
    /// Every zone: the shared ones and each account's own, by name.
    pub async fn zones(&self) -> DbResult<Vec<Zone>> {
        self.db.zones().await
    }

    /// The database's revision: what every node should serve.
    pub async fn feed_revision(&self) -> DbResult<Revision> {
        self.db.feed_revision().await
    }

    /// The commit times of `revisions` still in the outbox (pruned ones are missing).
    pub async fn commit_times(&self, revisions: &[Revision]) -> DbResult<CommitTimes> {
        if revisions.is_empty() {
            return Ok(CommitTimes::new());
        }
        let wanted: Vec<i64> = revisions.iter().map(|&r| r as i64).collect();
        let rows: Vec<(i64, chrono::DateTime<chrono::Utc>)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Revision)
            .column(outbox::Column::CreatedAt)
            .filter(outbox::Column::Revision.is_in(wanted))
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(r, at)| (r as Revision, at.timestamp_millis().max(0) as u64))
            .collect())
    }

    pub async fn registration(&self) -> DbResult<RegistrationSetting> {
        self.db.registration().await
    }
}
