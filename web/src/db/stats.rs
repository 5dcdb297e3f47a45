//! Update statistics: per-minute counts that every web replica adds to (an upsert adds its
//! count to the row's), and the operator's block lists, which every replica reloads.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::entity::{blocklist, update_client, update_outcome};
use super::{Db, DbResult, WriteTx};

/// Updates of one minute answered `result` by `protocol`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeCount {
    pub minute: DateTime<Utc>,
    pub protocol: &'static str,
    pub result: &'static str,
    pub count: i64,
}

/// What a client count counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// Requests with this User-Agent.
    Agent,
    /// Requests from this source address refused for wrong credentials.
    Refused,
}

impl ClientKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ClientKind::Agent => "agent",
            ClientKind::Refused => "refused",
        }
    }
}

/// Requests of one minute from one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCount {
    pub minute: DateTime<Utc>,
    pub kind: ClientKind,
    pub client: String,
    pub count: i64,
}

/// Rows per statement: far below SQLite's limit on parameters.
const CHUNK: usize = 500;

/// `table.count + excluded.count`: an upsert that adds.
fn added(table: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!("{table}.count + excluded.count"))
}

impl Db {
    /// Adds the counts to the stored ones, in one transaction.
    pub async fn add_update_counts(
        &self,
        outcomes: &[OutcomeCount],
        clients: &[ClientCount],
    ) -> DbResult<()> {
        let tx = self.conn.begin().await?;
        for chunk in outcomes.chunks(CHUNK) {
            let rows = chunk.iter().map(|o| update_outcome::ActiveModel {
                minute: Set(o.minute),
                protocol: Set(o.protocol.into()),
                result: Set(o.result.into()),
                count: Set(o.count),
            });
            update_outcome::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        update_outcome::Column::Minute,
                        update_outcome::Column::Protocol,
                        update_outcome::Column::Result,
                    ])
                    .value(update_outcome::Column::Count, added("update_outcomes"))
                    .to_owned(),
                )
                .exec_without_returning(&tx)
                .await?;
        }
        for chunk in clients.chunks(CHUNK) {
            let rows = chunk.iter().map(|c| update_client::ActiveModel {
                minute: Set(c.minute),
                kind: Set(c.kind.as_str().into()),
                client: Set(c.client.clone()),
                count: Set(c.count),
            });
            update_client::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        update_client::Column::Minute,
                        update_client::Column::Kind,
                        update_client::Column::Client,
                    ])
                    .value(update_client::Column::Count, added("update_clients"))
                    .to_owned(),
                )
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the counts of minutes before `before`.
    pub async fn prune_update_counts(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let outcomes = update_outcome::Entity::delete_many()
            .filter(update_outcome::Column::Minute.lt(before))
            .exec(&self.conn)
            .await?;
        let clients = update_client::Entity::delete_many()
            .filter(update_client::Column::Minute.lt(before))
            .exec(&self.conn)
            .await?;
        Ok(outcomes.rows_affected + clients.rows_affected)
    }

    /// Every entry of the block lists, oldest first.
    pub async fn blocklist(&self) -> DbResult<Vec<BlockEntry>> {
        let rows = blocklist::Entity::find()
            .order_by_asc(blocklist::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let kind = match row.kind.as_str() {
                    "agent" => BlockKind::Agent,
                    "range" => BlockKind::Range,
                    other => {
                        tracing::warn!("a block list entry of unknown kind {other:?} is left out");
                        return None;
                    }
                };
                Some(BlockEntry {
                    kind,
                    pattern: row.pattern,
                    reason: row.reason,
                    actor: row.actor,
                    created_at: row.created_at,
                })
            })
            .collect())
    }
}

/// Which block list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// User-Agents, matched as case-insensitive substrings.
    Agent,
    /// Address ranges (CIDR) no update may point a name into.
    Range,
}

impl BlockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Agent => "agent",
            BlockKind::Range => "range",
        }
    }
}

/// One entry of a block list: what, why, by whom, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    pub kind: BlockKind,
    pub pattern: String,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl WriteTx {
    /// Adds `pattern` to a block list; `false` if it was there already.
    pub async fn add_block(
        &self,
        kind: BlockKind,
        pattern: &str,
        reason: &str,
        actor: &str,
    ) -> DbResult<bool> {
        let row = blocklist::ActiveModel {
            kind: Set(kind.as_str().into()),
            pattern: Set(pattern.into()),
            reason: Set(reason.into()),
            actor: Set(actor.into()),
            created_at: Set(Utc::now()),
        };
        let inserted = blocklist::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(self.tx())
            .await?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
    }

    /// Removes `pattern` from a block list; `false` if it was not there.
    pub async fn remove_block(&self, kind: BlockKind, pattern: &str) -> DbResult<bool> {
        let deleted = blocklist::Entity::delete_many()
            .filter(blocklist::Column::Kind.eq(kind.as_str()))
            .filter(blocklist::Column::Pattern.eq(pattern))
            .exec(self.tx())
            .await?;
        Ok(deleted.rows_affected > 0)
    }
}
