//! When a host was last seen, and by which client. A check-in that changes nothing and comes
//! from the client the host's row names already rewrites the row's "last seen" columns at
//! most every [`SEEN_LAG`] (`WriteTx::touch_hosts`): a device checking in every few minutes
//! then costs a history line, not a row rewrite too. The row stays a lower bound, close
//! enough to search hosts by client and to find hosts gone for days; what a person reads is
//! the later of the row and the host's newest history line.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::DbResult;
use super::entity::{host, update_history};

/// How far a host's row may lag behind check-ins of the client it names.
pub(super) const SEEN_LAG: Duration = Duration::hours(1);

/// A host's last check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastSeen {
    pub at: DateTime<Utc>,
    pub protocol: Option<String>,
    pub agent: Option<String>,
    pub source: Option<String>,
}

impl LastSeen {
    /// What the host's row says; `None` for a host never seen.
    fn of_row(m: &host::Model) -> Option<LastSeen> {
        Some(LastSeen {
            at: m.updated_at?,
            protocol: m.last_protocol.clone(),
            agent: m.last_agent.clone(),
            source: m.last_source.clone(),
        })
    }

    fn of_line(line: update_history::Model) -> LastSeen {
        LastSeen {
            at: line.at,
            protocol: Some(line.protocol),
            agent: line.agent,
            source: line.source,
        }
    }

    /// `e.g. dyndns2 (ddclient/3.10.0)`: the protocol and the User-Agent.
    pub fn client(&self) -> Option<String> {
        match (&self.protocol, &self.agent) {
            (Some(protocol), Some(agent)) => Some(format!("{protocol} ({agent})")),
            (Some(protocol), None) => Some(protocol.clone()),
            (None, _) => None,
        }
    }
}

/// The last check-in of each of `rows` that has been seen, by host id: its row's or its
/// newest history line's, whichever is later. An index probe per host.
pub(super) async fn last_seen(
    conn: &impl ConnectionTrait,
    rows: &[host::Model],
) -> DbResult<HashMap<i64, LastSeen>> {
    let mut seen: HashMap<i64, LastSeen> = rows
        .iter()
        .filter_map(|m| Some((m.id, LastSeen::of_row(m)?)))
        .collect();
    for chunk in rows.chunks(500) {
        // The newest line by id: lines of changes commit at once, those of check-ins that
        // changed nothing a moment later, so the newest id can be a check-in older than the
        // row (which every change writes); the later of the two is the last.
        let newest = Query::select()
            .expr(Expr::cust(
                "(SELECT u.id FROM update_history u WHERE u.host_id = hosts.id \
                 ORDER BY u.id DESC LIMIT 1)",
            ))
            .from(host::Entity)
            .and_where(host::Column::Id.is_in(chunk.iter().map(|m| m.id)))
            .to_owned();
        let lines = update_history::Entity::find()
            .filter(update_history::Column::Id.in_subquery(newest))
            .all(conn)
            .await?;
        for line in lines {
            let host = line.host_id;
            let line = LastSeen::of_line(line);
            if seen.get(&host).is_none_or(|row| row.at < line.at) {
                seen.insert(host, line);
            }
        }
    }
    Ok(seen)
}
