//! The console's accounts: finding one by a user's address or login ID, or by a host's name
//! or current address (exact matches on indexed columns, so a search costs a few index
//! lookups however many accounts there are), pages of accounts by id, one account whole,
//! and the staff's changes to it (plan, status, viewing it as staff), each audited in the
//! transaction that makes it.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Console;
use super::hosts::at_address;
use crate::db::entity::{account, audit_log, host, session, update_history, user};
use crate::db::tenant::history_line;
use crate::db::{AccountId, DbResult, Event, GroupInfo, HistoryLine, Host, KeyInfo, Tenant};
use crate::domain::{AccountStatus, Email, EventKind, Fqdn, Plan, Role, SecretToken};

/// What the search box was given, parsed: each reading of it that can match something.
#[derive(Clone, Debug, Default)]
pub struct AccountSearch {
    pub email: Option<Email>,
    /// A login ID is matched as typed (trimmed).
    pub login: Option<String>,
    pub host: Option<Fqdn>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl AccountSearch {
    /// Every reading of `text`; `None` for an empty box (all accounts).
    pub fn parse(text: &str) -> Option<AccountSearch> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(AccountSearch {
            email: Email::parse(text).ok(),
            login: Some(text.to_owned()),
            host: Fqdn::parse(text).ok(),
            ipv4: text.parse().ok(),
            ipv6: text.parse().ok(),
        })
    }
}

/// One account in the list.
#[derive(Clone, Debug)]
pub struct AccountRow {
    pub id: i64,
    /// The owner's address; empty for an account without one.
    pub owner: String,
    pub plan: Plan,
    pub status: AccountStatus,
    pub hosts: u64,
    pub created_at: DateTime<Utc>,
}

/// A user of the account as staff see them.
#[derive(Clone, Debug)]
pub struct AccountUser {
    pub email: String,
    pub login: Option<String>,
    pub role: Role,
    pub verified: bool,
    pub staff: bool,
}

/// An update line of one of the account's hosts.
#[derive(Clone, Debug)]
pub struct AccountUpdate {
    pub host: String,
    pub line: HistoryLine,
}

/// A line of the audit log about the account.
#[derive(Clone, Debug)]
pub struct AccountAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// An account whole, for its console page.
#[derive(Clone, Debug)]
pub struct AccountDetail {
    pub row: AccountRow,
    pub users: Vec<AccountUser>,
    pub hosts: Vec<Host>,
    /// Live keys, never their secrets (`KeyInfo` has none).
    pub keys: Vec<KeyInfo>,
    pub groups: Vec<GroupInfo>,
    pub updates: Vec<AccountUpdate>,
    pub audit: Vec<AccountAudit>,
}

/// A change staff make to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Plan(Plan),
    Status(AccountStatus),
}

impl AccountChange {
    /// The audit log's name for it.
    pub fn action(self) -> &'static str {
        match self {
            AccountChange::Plan(_) => "account.plan",
            AccountChange::Status(status) => status.audit_action(),
        }
    }
}

/// Recent lines an account's page shows.
const RECENT: u64 = 20;

impl Console {
    /// Up to `limit` accounts with ids above `after`, by id: all of them, or those `search`
    /// finds.
    pub async fn accounts(
        &self,
        search: Option<&AccountSearch>,
        after: Option<i64>,
        limit: u64,
    ) -> DbResult<Vec<AccountRow>> {
        let after = after.unwrap_or(i64::MIN);
        let mut query = account::Entity::find()
            .filter(account::Column::Id.gt(after))
            .order_by_asc(account::Column::Id)
            .limit(limit);
        if let Some(search) = search {
            let ids = self.found(search, after, limit).await?;
            query = query.filter(account::Column::Id.is_in(ids));
        }
        let accounts = query.all(&self.db.conn).await?;
        self.rows(accounts).await
    }

    /// The first `limit` ids above `after` of the accounts `search` finds: a user's
    /// address or login, a host's name or current address, each an indexed equality.
    async fn found(&self, search: &AccountSearch, after: i64, limit: u64) -> DbResult<Vec<i64>> {
        let mut by_user = Condition::any();
        if let Some(email) = &search.email {
            by_user = by_user.add(user::Column::Email.eq(email.as_str()));
        }
        if let Some(login) = &search.login {
            by_user = by_user.add(user::Column::Login.eq(login.as_str()));
        }
        let mut ids: BTreeSet<i64> = user::Entity::find()
            .select_only()
            .column(user::Column::AccountId)
            .distinct()
            .filter(by_user)
            .filter(user::Column::AccountId.gt(after))
            .order_by_asc(user::Column::AccountId)
            .limit(limit)
            .into_tuple::<i64>()
            .all(&self.db.conn)
            .await?
            .into_iter()
            .collect();
        let mut by_host = Condition::any();
        if let Some(name) = &search.host {
            by_host = by_host.add(host::Column::Name.eq(name.as_str()));
        }
        if let Some(ip) = search.ipv4 {
            by_host = by_host.add(at_address(ip.into()));
        }
        if let Some(ip) = search.ipv6 {
            by_host = by_host.add(at_address(ip.into()));
        }
        if !by_host.is_empty() {
            let hosts = host::Entity::find()
                .select_only()
                .column(host::Column::AccountId)
                .distinct()
                .filter(by_host)
                .filter(host::Column::AccountId.gt(after))
                .order_by_asc(host::Column::AccountId)
                .limit(limit)
                .into_tuple::<i64>()
                .all(&self.db.conn)
                .await?;
            ids.extend(hosts);
        }
        Ok(ids.into_iter().take(limit as usize).collect())
    }

    /// The list's rows of `accounts`: their owners and host counts in one query each.
    async fn rows(&self, accounts: Vec<account::Model>) -> DbResult<Vec<AccountRow>> {
        let ids: Vec<i64> = accounts.iter().map(|a| a.id).collect();
        let mut owners: HashMap<i64, String> = HashMap::new();
        let found = user::Entity::find()
            .filter(user::Column::AccountId.is_in(ids.clone()))
            .filter(user::Column::Role.eq(Role::Owner.as_str()))
            .order_by_desc(user::Column::Id)
            .all(&self.db.conn)
            .await?;
        for u in found {
            // Descending ids: the first owner of an account is inserted last and wins.
            owners.insert(u.account_id, u.email);
        }
        let counts: HashMap<i64, i64> = host::Entity::find()
            .select_only()
            .column(host::Column::AccountId)
            .column_as(host::Column::Id.count(), "hosts")
            .filter(host::Column::AccountId.is_in(ids))
            .group_by(host::Column::AccountId)
            .into_tuple::<(i64, i64)>()
            .all(&self.db.conn)
            .await?
            .into_iter()
            .collect();
        Ok(accounts
            .into_iter()
            .map(|a| AccountRow {
                owner: owners.remove(&a.id).unwrap_or_default(),
                hosts: counts.get(&a.id).copied().unwrap_or(0).max(0) as u64,
                plan: Plan::parse(&a.plan).unwrap_or(Plan::Free),
                status: AccountStatus::parse(&a.status).unwrap_or(AccountStatus::Suspended),
                id: a.id,
                created_at: a.created_at,
            })
            .collect())
    }

    /// Account `id` whole; `None` when there is none.
    pub async fn account(&self, id: i64) -> DbResult<Option<AccountDetail>> {
        let Some(found) = account::Entity::find_by_id(id).one(&self.db.conn).await? else {
            return Ok(None);
        };
        let Some(row) = self.rows(vec![found]).await?.pop() else {
            return Ok(None);
        };
        let users = user::Entity::find()
            .filter(user::Column::AccountId.eq(id))
            .order_by_asc(user::Column::Id)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|u| AccountUser {
                role: Role::parse(&u.role).unwrap_or(Role::Viewer),
                verified: u.email_verified_at.is_some(),
                email: u.email,
                login: u.login,
                staff: u.staff,
            })
            .collect();
        // One account's own data, read with the same queries its users' pages make.
        #[allow(clippy::disallowed_methods)]
        let tenant: Tenant = self.db.tenant(AccountId(id));
        let hosts = tenant.hosts().await?;
        let names: HashMap<i64, String> = hosts
            .iter()
            .map(|h| (h.state.id, h.name.to_string()))
            .collect();
        let updates = update_history::Entity::find()
            .filter(update_history::Column::AccountId.eq(id))
            .order_by_desc(update_history::Column::Id)
            .limit(RECENT)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|r| AccountUpdate {
                host: names.get(&r.host_id).cloned().unwrap_or_default(),
                line: history_line(r),
            })
            .collect();
        let audit = audit_log::Entity::find()
            .filter(audit_log::Column::AccountId.eq(id))
            .order_by_desc(audit_log::Column::Id)
            .limit(RECENT)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|a| AccountAudit {
                at: a.at,
                actor: a.actor,
                action: a.action,
                detail: a.detail,
            })
            .collect();
        Ok(Some(AccountDetail {
            row,
            users,
            keys: tenant.keys().await?,
            groups: tenant.groups().await?,
            hosts,
            updates,
            audit,
        }))
    }

    /// Makes `change` to account `id`, audited with `actor` and `reason` in the same
    /// transaction; `false` when there is no such account (nothing is written).
    pub async fn change_account(
        &self,
        id: i64,
        change: AccountChange,
        actor: &str,
        reason: &str,
    ) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        let Some(before) = account::Entity::find_by_id(id).one(tx.tx()).await? else {
            return Ok(false);
        };
        let (column, value, was) = match change {
            AccountChange::Plan(plan) => (account::Column::Plan, plan.as_str(), before.plan),
            AccountChange::Status(status) => {
                (account::Column::Status, status.as_str(), before.status)
            }
        };
        account::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(account::Column::Id.eq(id))
            .exec(tx.tx())
            .await?;
        let detail = format!("{was} → {value}: {reason}");
        tx.audit(Some(AccountId(id)), actor, change.action(), &detail)
            .await?;
        let blocked = AccountStatus::Blocked.as_str();
        if matches!(change, AccountChange::Status(_)) && value == blocked && was != blocked {
            tx.enqueue(&Event {
                kind: EventKind::AbuseBlocked,
                account: AccountId(id),
                host: None,
                data: serde_json::json!({ "reason": "account_blocked", "detail": reason }),
                dedupe: None,
            })
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Makes the session of `secret` view account `id` as staff (read only), audited; or,
    /// with `None`, stop. `false` when there is no such account.
    pub async fn view_as(
        &self,
        secret: &SecretToken,
        id: Option<i64>,
        actor: &str,
    ) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        if let Some(id) = id {
            if account::Entity::find_by_id(id)
                .one(tx.tx())
                .await?
                .is_none()
            {
                return Ok(false);
            }
            tx.audit(Some(AccountId(id)), actor, "account.view_as", "read only")
                .await?;
        }
        session::Entity::update_many()
            .col_expr(session::Column::ViewingAccount, Expr::value(id))
            .filter(session::Column::Digest.eq(secret.digest()))
            .exec(tx.tx())
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
