//! The abuse page's lists: hosts at their update limit, sources refused for wrong
//! credentials, the busiest User-Agents.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Console;
use super::dashboard::summed;
use crate::db::entity::{host, update_client, update_history};
use crate::db::{ClientKind, DbResult};

/// A host with `updates` accepted updates in the abuse limit's window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyHost {
    pub name: String,
    pub updates: i64,
}

impl Console {
    /// The `limit` clients of `kind` with the most requests since `since`, most first.
    pub async fn top_clients(
        &self,
        kind: ClientKind,
        since: DateTime<Utc>,
        limit: u64,
    ) -> DbResult<Vec<(String, i64)>> {
        Ok(update_client::Entity::find()
            .select_only()
            .column(update_client::Column::Client)
            .column_as(summed(), "n")
            .filter(update_client::Column::Kind.eq(kind.as_str()))
            .filter(update_client::Column::Minute.gte(since))
            .group_by(update_client::Column::Client)
            .order_by(Expr::cust("n"), Order::Desc)
            .order_by_asc(update_client::Column::Client)
            .limit(limit)
            .into_tuple()
            .all(&self.db.conn)
            .await?)
    }

    /// Hosts with at least `max` updates in their history since `since` (those the abuse
    /// limit now refuses), the busiest first, at most `limit`.
    pub async fn hosts_at_limit(
        &self,
        since: DateTime<Utc>,
        max: usize,
        limit: u64,
    ) -> DbResult<Vec<BusyHost>> {
        let busy: Vec<(i64, i64)> = update_history::Entity::find()
            .select_only()
            .column(update_history::Column::HostId)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(update_history::Column::At.gte(since))
            .group_by(update_history::Column::HostId)
            .having(Expr::cust("COUNT(*)").gte(max as i64))
            .order_by(Expr::cust("COUNT(*)"), Order::Desc)
            .limit(limit)
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        let names: Vec<(i64, String)> = host::Entity::find()
            .select_only()
            .column(host::Column::Id)
            .column(host::Column::Name)
            .filter(host::Column::Id.is_in(busy.iter().map(|(id, _)| *id)))
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        Ok(busy
            .into_iter()
            .filter_map(|(id, updates)| {
                let (_, name) = names.iter().find(|(h, _)| *h == id)?;
                Some(BusyHost {
                    name: name.clone(),
                    updates,
                })
            })
            .collect())
    }
}
