//! The audit log as the console reads it: newest first, filtered, in keyset pages by id.
//!
//! Every page is one index range scan of about one page of rows, whatever the log's length
//! and whichever filters are set:
//! - a time range is first turned into a range of ids (ids grow with time): the first line
//!   at or after `from`, the first at or after `to`, each found through the `(at, id)`
//!   index; the page itself then filters by id only, so it never sorts a month of lines;
//! - actor, account and action each have an index newest first (`(actor, id)`,
//!   `(account_id, id)`, `(action, id)`), and so do the pairs staff combine with an action
//!   (`(actor, action, id)`, `(account_id, action, id)`, `m0013`): a pair that matches
//!   nothing is an empty index range, not a scan of one side's lines for the other.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Console;
use crate::db::DbResult;
use crate::db::entity::audit_log;

/// Which lines of the audit log to read; every field set narrows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub account: Option<i64>,
    pub action: Option<String>,
    /// From the first line at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Up to, not including, the first line at or after this time.
    pub to: Option<DateTime<Utc>>,
    /// Lines older than this id (the last id of the previous page).
    pub before: Option<i64>,
}

/// One line of the audit log.
#[derive(Clone, Debug)]
pub struct AuditLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

impl Console {
    /// Up to `limit` lines that `filter` keeps, newest first.
    ///
    /// The time range keeps the lines from the first written at or after `from` up to the
    /// first written at or after `to`, in the order they were written (by id): the lines
    /// whose time is in the range, as long as ids follow time; lines committed by two
    /// transactions at the same instant, or by replicas whose clocks differ, may cross a
    /// bound by that much.
    pub async fn audit_log(&self, filter: &AuditFilter, limit: u64) -> DbResult<Vec<AuditLine>> {
        let mut query = audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(limit);
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_log::Column::Actor.eq(actor.as_str()));
        }
        if let Some(account) = filter.account {
            query = query.filter(audit_log::Column::AccountId.eq(account));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_log::Column::Action.eq(action.as_str()));
        }
        if let Some(from) = filter.from {
            match self.first_line_since(from).await? {
                Some(first) => query = query.filter(audit_log::Column::Id.gte(first)),
                None => return Ok(Vec::new()),
            }
        }
        let to = match filter.to {
            Some(to) => self.first_line_since(to).await?,
            None => None,
        };
        if let Some(before) = [to, filter.before].into_iter().flatten().min() {
            query = query.filter(audit_log::Column::Id.lt(before));
        }
        let rows = query.all(&self.db.conn).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditLine {
                id: r.id,
                at: r.at,
                account: r.account_id,
                actor: r.actor,
                action: r.action,
                detail: r.detail,
            })
            .collect())
    }

    /// The id of the first line written at or after `at`, if any (one probe of `(at, id)`).
    async fn first_line_since(&self, at: DateTime<Utc>) -> DbResult<Option<i64>> {
        Ok(audit_log::Entity::find()
            .select_only()
            .column(audit_log::Column::Id)
            .filter(audit_log::Column::At.gte(at))
            .order_by_asc(audit_log::Column::At)
            .order_by_asc(audit_log::Column::Id)
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.db.conn)
            .await?)
    }
}
