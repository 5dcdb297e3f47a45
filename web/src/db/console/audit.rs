//! The audit log as the console reads it: newest first, filtered, in keyset pages by id.
//! Each filter has an index that yields its rows newest first (`m0007`, `m0008`), so a page
//! reads about one page of rows whatever the log's length.

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
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
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
            query = query.filter(audit_log::Column::At.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(audit_log::Column::At.lt(to));
        }
        if let Some(before) = filter.before {
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
}
