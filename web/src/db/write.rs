//! One writing transaction. Every change to served data goes through a [`WriteTx`], which
//! collects the feed changes it makes and, at commit, appends them to the outbox under the
//! next revision in the same transaction: a change is committed and published, or neither.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dyn53_dns::feed::{Batch, Change, Revision};

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::entity::{audit_log, host, outbox, update_history, update_key, zone};
use super::{AccountId, Db, DbError, DbResult, Host, NewHost, NewZone, Zone};
use crate::domain::{Fqdn, Protocol};

/// Who or what touched a host, for its "last seen" fields and history.
#[derive(Clone, Debug)]
pub struct Seen<'a> {
    pub at: DateTime<Utc>,
    pub protocol: Protocol,
    pub source: Option<IpAddr>,
    pub agent: Option<&'a str>,
}

pub struct WriteTx {
    tx: DatabaseTransaction,
    changes: Vec<Change>,
}

impl Db {
    pub async fn begin_write(&self) -> DbResult<WriteTx> {
        let tx = self.conn.begin().await?;
        if !self.is_postgres() {
            // SQLite: take the write lock now. A deferred transaction that reads first and
            // upgrades later fails with SQLITE_BUSY when another writer got there between.
            tx.execute_unprepared("UPDATE feed_revision SET value = value WHERE id = 1")
                .await?;
        }
        Ok(WriteTx {
            tx,
            changes: Vec::new(),
        })
    }
}

impl WriteTx {
    /// The account's hosts among `names`, locked until commit so that concurrent updates
    /// of one host serialise and each decides on fresh data.
    pub async fn lock_hosts(&self, account: AccountId, names: &[&Fqdn]) -> DbResult<Vec<Host>> {
        let rows = host::Entity::find()
            .filter(host::Column::AccountId.eq(account.0))
            .filter(host::Column::Name.is_in(names.iter().map(|n| n.as_str())))
            .order_by_asc(host::Column::Id)
            .lock_exclusive()
            .all(&self.tx)
            .await?;
        self.with_zones(rows).await
    }

    async fn with_zones(&self, rows: Vec<host::Model>) -> DbResult<Vec<Host>> {
        let zone_ids: Vec<i64> = rows.iter().map(|h| h.zone_id).collect();
        let zones: HashMap<i64, Arc<Zone>> = zone::Entity::find()
            .filter(zone::Column::Id.is_in(zone_ids))
            .all(&self.tx)
            .await?
            .into_iter()
            .map(|z| (z.id, Arc::new(Zone::from_model(z))))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|h| {
                zones
                    .get(&h.zone_id)
                    .cloned()
                    .map(|z| Host::from_model(h, z))
            })
            .collect())
    }

    /// Stores the host's addresses and offline state; publishes what it now serves.
    pub async fn save_host_state(&mut self, host: &Host, seen: &Seen<'_>) -> DbResult<()> {
        let model = host::ActiveModel {
            id: Set(host.id),
            ipv4: Set(host.ipv4.map(|a| a.to_string())),
            ipv6: Set(host.ipv6.map(|a| a.to_string())),
            offline: Set(host.offline),
            ..seen_columns(seen)
        };
        model.update(&self.tx).await?;
        self.publish(Change::HostUpsert {
            zone: host.zone.name.to_string(),
            host: host.served(),
        });
        Ok(())
    }

    /// Records that a client checked in without changing anything.
    pub async fn touch_host(&self, host: &Host, seen: &Seen<'_>) -> DbResult<()> {
        host::ActiveModel {
            id: Set(host.id),
            ..seen_columns(seen)
        }
        .update(&self.tx)
        .await?;
        Ok(())
    }

    pub async fn add_history(&self, host: &Host, seen: &Seen<'_>, result: &str) -> DbResult<()> {
        update_history::ActiveModel {
            id: NotSet,
            host_id: Set(host.id),
            account_id: Set(host.account.0),
            at: Set(seen.at),
            protocol: Set(seen.protocol.as_str().into()),
            source: Set(seen.source.map(|s| s.to_string())),
            agent: Set(seen.agent.map(truncate_agent)),
            result: Set(result.into()),
            ipv4: Set(host.ipv4.map(|a| a.to_string())),
            ipv6: Set(host.ipv6.map(|a| a.to_string())),
        }
        .insert(&self.tx)
        .await?;
        Ok(())
    }

    pub async fn mark_key_used(&self, key_id: i64, seen: &Seen<'_>) -> DbResult<()> {
        update_key::ActiveModel {
            id: Set(key_id),
            last_used_at: Set(Some(seen.at)),
            last_used_from: Set(seen.source.map(|s| s.to_string())),
            ..Default::default()
        }
        .update(&self.tx)
        .await?;
        Ok(())
    }

    /// Creates a zone; `Ok(None)` when it exists already.
    pub async fn insert_zone(&mut self, new: NewZone) -> DbResult<Option<Zone>> {
        let existing = zone::Entity::find()
            .filter(zone::Column::Name.eq(new.name.as_str()))
            .one(&self.tx)
            .await?;
        if existing.is_some() {
            return Ok(None);
        }
        let zone = Zone::from_model(new.into_active_model().insert(&self.tx).await?);
        self.publish(Change::ZoneUpsert(zone.served()));
        Ok(Some(zone))
    }

    /// Creates hosts in their zones. All or nothing: a name outside every zone or one
    /// that exists rejects the whole lot.
    pub async fn insert_hosts(
        &mut self,
        zones: &[Zone],
        hosts: Vec<NewHost>,
    ) -> DbResult<Vec<Host>> {
        let now = Utc::now();
        let names: Vec<String> = hosts.iter().map(|h| h.name.to_string()).collect();
        let mut existing = Vec::new();
        for chunk in names.chunks(500) {
            let found = host::Entity::find()
                .select_only()
                .column(host::Column::Name)
                .filter(host::Column::Name.is_in(chunk))
                .into_tuple::<String>()
                .all(&self.tx)
                .await?;
            existing.extend(found);
        }
        if let Some(name) = existing.first() {
            return Err(DbError::Rejected(format!("host {name} exists already")));
        }
        let mut models = Vec::with_capacity(hosts.len());
        for new in hosts {
            let zone = zones
                .iter()
                .filter(|z| new.name.is_within(&z.name) && new.name != z.name)
                .max_by_key(|z| z.name.as_str().len())
                .ok_or_else(|| {
                    DbError::Rejected(format!(
                        "{} is not inside any zone of this service",
                        new.name
                    ))
                })?;
            models.push(new.into_active_model(zone.id, now));
        }
        let zone_by_id: HashMap<i64, Arc<Zone>> =
            zones.iter().map(|z| (z.id, Arc::new(z.clone()))).collect();
        let mut created = Vec::with_capacity(models.len());
        // RETURNING (PostgreSQL, SQLite ≥ 3.35): reading the rows back by name instead turned
        // a million-host import quadratic, the planner still sizing the table as before.
        for chunk in models.chunks(500) {
            let rows = host::Entity::insert_many(chunk.iter().cloned())
                .exec_with_returning(&self.tx)
                .await?;
            created.extend(rows.into_iter().filter_map(|row| {
                let zone = zone_by_id.get(&row.zone_id)?.clone();
                Some(Host::from_model(row, zone))
            }));
        }
        for host in &created {
            self.publish(Change::HostUpsert {
                zone: host.zone.name.to_string(),
                host: host.served(),
            });
        }
        Ok(created)
    }

    pub async fn audit(
        &self,
        account: Option<AccountId>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> DbResult<()> {
        audit_log::ActiveModel {
            id: NotSet,
            at: Set(Utc::now()),
            account_id: Set(account.map(|a| a.0)),
            actor: Set(actor.into()),
            action: Set(action.into()),
            detail: Set(detail.into()),
        }
        .insert(&self.tx)
        .await?;
        Ok(())
    }

    pub(super) fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    fn publish(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Commits; returns the changes as published, under their revision, if there were any.
    pub async fn commit(self) -> DbResult<Option<Batch>> {
        let revision = if self.changes.is_empty() {
            None
        } else {
            // Bumped last, so the counter's row lock is held only for the commit itself;
            // holding it at all makes revisions commit in order, which the feed relies on.
            let backend = self.tx.get_database_backend();
            let bump = Statement::from_string(
                backend,
                "UPDATE feed_revision SET value = value + 1 WHERE id = 1 RETURNING value",
            );
            let row = self.tx.query_one_raw(bump).await?;
            let value: i64 = row
                .ok_or_else(|| {
                    DbError::Rejected("feed_revision is missing: run migrations".into())
                })?
                .try_get("", "value")?;
            let payload = serde_json::to_string(&self.changes)
                .map_err(|e| DbError::Rejected(e.to_string()))?;
            outbox::ActiveModel {
                revision: Set(value),
                created_at: Set(Utc::now()),
                payload: Set(payload),
            }
            .insert(&self.tx)
            .await?;
            Some(value as Revision)
        };
        self.tx.commit().await?;
        Ok(revision.map(|revision| Batch {
            revision,
            changes: self.changes,
        }))
    }
}

fn seen_columns(seen: &Seen<'_>) -> host::ActiveModel {
    host::ActiveModel {
        last_agent: Set(seen.agent.map(truncate_agent)),
        last_source: Set(seen.source.map(|s| s.to_string())),
        last_protocol: Set(Some(seen.protocol.as_str().into())),
        updated_at: Set(Some(seen.at)),
        ..Default::default()
    }
}

fn truncate_agent(agent: &str) -> String {
    agent.chars().take(255).collect()
}

impl From<sea_orm::TryGetError> for DbError {
    fn from(e: sea_orm::TryGetError) -> Self {
        DbError::Unavailable(e.into())
    }
}
