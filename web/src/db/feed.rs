//! Reading the outbox for the DNS feed: the full state, and the batches after a revision.

use std::collections::HashMap;
use std::sync::Arc;

use dyn53_dns::feed::{Batch, Change, Revision, Snapshot, ZoneSnapshot};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};

use super::entity::{host, outbox, zone};
use super::{Db, DbError, DbResult, Host, Zone};

/// Hosts read per query while building a snapshot.
const SNAPSHOT_PAGE: u64 = 5_000;

impl Db {
    /// Every zone and host, consistent with the revision it reports.
    pub async fn snapshot(&self) -> DbResult<Snapshot> {
        let isolation = self.is_postgres().then_some(IsolationLevel::RepeatableRead);
        let tx = self.conn.begin_with_config(isolation, None).await?;
        let revision = revision_in(&tx).await?;
        let zones: HashMap<i64, Arc<Zone>> = zone::Entity::find()
            .all(&tx)
            .await?
            .into_iter()
            .filter_map(|z| Some((z.id, Arc::new(Zone::from_model(z)?))))
            .collect();
        let mut by_zone: HashMap<i64, ZoneSnapshot> = zones
            .values()
            .map(|z| {
                (
                    z.id,
                    ZoneSnapshot {
                        zone: z.served(),
                        hosts: Vec::new(),
                    },
                )
            })
            .collect();
        // Pages keep the peak small: a million rows at once would be gigabytes of row buffers.
        let mut after = 0;
        loop {
            let page = host::Entity::find()
                .filter(host::Column::Id.gt(after))
                .order_by_asc(host::Column::Id)
                .limit(SNAPSHOT_PAGE)
                .all(&tx)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for row in page {
                let zone = zones.get(&row.zone_id);
                if let (Some(zone), Some(snap)) = (zone, by_zone.get_mut(&row.zone_id)) {
                    let Some(host) = Host::from_model(row, zone.clone()) else {
                        continue;
                    };
                    snap.hosts.push(host.served());
                    snap.hosts.extend(host.served_challenge());
                }
            }
        }

        tx.commit().await?;
        Ok(Snapshot {
            revision,
            zones: by_zone.into_values().collect(),
        })
    }

    /// The revision of the last commit.
    pub async fn feed_revision(&self) -> DbResult<Revision> {
        revision_in(&self.conn).await
    }

    /// Up to `limit` batches with a revision above `after`, in order.
    pub async fn batches_after(&self, after: Revision, limit: u64) -> DbResult<Vec<Batch>> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Revision.gt(after as i64))
            .order_by_asc(outbox::Column::Revision)
            .limit(limit)
            .all(&self.conn)
            .await?;
        rows.into_iter()
            .map(|row| {
                let changes: Vec<Change> = serde_json::from_str(&row.payload).map_err(|e| {
                    DbError::Malformed(format!(
                        "outbox revision {} is unreadable: {e}",
                        row.revision
                    ))
                })?;
                Ok(Batch {
                    revision: row.revision as Revision,
                    changes,
                })
            })
            .collect()
    }
}

impl Db {
    /// Deletes outbox rows below `revision`: once every reader has applied them they are
    /// only history, and the outbox would otherwise grow with every update.
    pub async fn prune_outbox(&self, below: Revision) -> DbResult<u64> {
        let result = outbox::Entity::delete_many()
            .filter(outbox::Column::Revision.lt(below as i64))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected)
    }
}

async fn revision_in(conn: &impl ConnectionTrait) -> DbResult<Revision> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT value FROM feed_revision WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbError::Malformed("feed_revision is missing: run migrations".into()))?;
    let revision: i64 = row.try_get("", "value")?;
    Ok(revision as Revision)
}
