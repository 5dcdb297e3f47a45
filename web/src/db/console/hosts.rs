//! The console's host search across accounts. Each kind of search is one index range scan
//! in the order its page is shown (`m0008`): a page of 50 costs the same at a million hosts
//! as at a hundred. By address, the hosts at it are found in `host_addresses`' index
//! (`m0020`) and sorted by name: as many as share the address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Console;
use crate::db::entity::{host, host_address, zone};
use crate::db::last_seen::last_seen;
use crate::db::{DbResult, WriteTx};
use crate::domain::Fqdn;

/// What the staff look for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostQuery {
    /// A host name, or the start of one.
    Name(String),
    /// Every host of a zone, by the zone's name.
    Zone(String),
    /// Hosts whose current IPv4 or IPv6 address this is.
    Address(IpAddr),
    /// Hosts whose last User-Agent is this, or starts with it.
    Agent(String),
    /// Hosts last updated from this source address.
    Source(IpAddr),
}

/// Where a page starts: after this host (and, for an agent search, its agent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCursor {
    pub name: String,
    pub agent: Option<String>,
}

/// A host as the console lists it.
#[derive(Clone, Debug)]
pub struct HostRow {
    pub name: String,
    pub account: i64,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// When it was last seen (see [`crate::db::LastSeen`]).
    pub updated_at: Option<DateTime<Utc>>,
    /// The client of its last check-in, as searches find it.
    pub last_agent: Option<String>,
    pub last_source: Option<String>,
    pub blocked: bool,
}

impl HostRow {
    /// Where the page after this row starts.
    pub fn cursor(&self, query: &HostQuery) -> HostCursor {
        HostCursor {
            name: self.name.clone(),
            agent: matches!(query, HostQuery::Agent(_))
                .then(|| self.last_agent.clone().unwrap_or_default()),
        }
    }
}

/// `column` starts with `prefix`: a range the column's index serves, and `LIKE` so that
/// a collation other than byte order cannot let a neighbour in.
fn starts_with(column: host::Column, prefix: &str) -> sea_orm::Condition {
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    sea_orm::Condition::all()
        .add(column.gte(prefix))
        .add(column.lt(format!("{prefix}{}", char::MAX)))
        .add(Expr::col(column).like(LikeExpr::new(format!("{escaped}%")).escape('\\')))
}

/// The host's current address is `address`: found in `host_addresses` (`m0020`), whose
/// index of each family serves it.
pub(super) fn at_address(address: IpAddr) -> SimpleExpr {
    let (column, text) = match address {
        IpAddr::V4(a) => (host_address::Column::Ipv4, a.to_string()),
        IpAddr::V6(a) => (host_address::Column::Ipv6, a.to_string()),
    };
    host::Column::Id.in_subquery(
        Query::select()
            .column(host_address::Column::HostId)
            .from(host_address::Entity)
            .and_where(column.eq(text))
            .to_owned(),
    )
}

impl Console {
    /// Up to `limit` hosts that `query` finds, after `after`: by name, or for an agent
    /// search by agent and then name.
    pub async fn search_hosts(
        &self,
        query: &HostQuery,
        after: Option<&HostCursor>,
        limit: u64,
    ) -> DbResult<Vec<HostRow>> {
        let mut select = host::Entity::find().limit(limit);
        select = match query {
            HostQuery::Name(prefix) => select.filter(starts_with(host::Column::Name, prefix)),
            HostQuery::Zone(name) => {
                let zone = zone::Entity::find()
                    .filter(zone::Column::Name.eq(name.as_str()))
                    .one(&self.db.conn)
                    .await?;
                let Some(zone) = zone else {
                    return Ok(Vec::new());
                };
                select.filter(host::Column::ZoneId.eq(zone.id))
            }
            HostQuery::Address(address) => select.filter(at_address(*address)),
            HostQuery::Agent(prefix) => select
                .filter(starts_with(host::Column::LastAgent, prefix))
                .order_by_asc(host::Column::LastAgent),
            HostQuery::Source(source) => {
                select.filter(host::Column::LastSource.eq(source.to_string()))
            }
        };
        if let Some(after) = after {
            select = match (query, &after.agent) {
                (HostQuery::Agent(_), Some(agent)) => select.filter(
                    Expr::tuple([
                        Expr::col(host::Column::LastAgent),
                        Expr::col(host::Column::Name),
                    ])
                    .gt(Expr::tuple([
                        Expr::value(agent.as_str()),
                        Expr::value(after.name.as_str()),
                    ])),
                ),
                _ => select.filter(host::Column::Name.gt(after.name.as_str())),
            };
        }
        let rows = select
            .order_by_asc(host::Column::Name)
            .all(&self.db.conn)
            .await?;
        let mut seen = last_seen(&self.db.conn, &rows).await?;
        Ok(rows
            .into_iter()
            .map(|h| HostRow {
                updated_at: seen.remove(&h.id).map(|s| s.at),
                name: h.name,
                account: h.account_id,
                ipv4: h.ipv4,
                ipv6: h.ipv6,
                last_agent: h.last_agent,
                last_source: h.last_source,
                blocked: h.blocked,
            })
            .collect())
    }

    /// Blocks `name` for abuse or lifts its block, with the operator's one mechanism
    /// ([`WriteTx::set_name_blocked`]), audited with `actor` and `reason`; `false` if it
    /// already was so.
    pub async fn set_name_blocked(
        &self,
        name: &Fqdn,
        blocked: bool,
        reason: &str,
        actor: &str,
    ) -> DbResult<bool> {
        let tx: WriteTx = self.db.begin_write().await?;
        let changed = tx
            .set_name_blocked(name, blocked, Some(reason), actor)
            .await?;
        tx.commit().await?;
        Ok(changed)
    }
}
