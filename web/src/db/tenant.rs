//! [`Tenant`]: the one way the account manager reaches an account's data. Every query is
//! filtered by the account, so another tenant's host or key is simply not found.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::entity::{group, group_host, host, update_history, update_key, update_key_host, user};
use super::last_seen::last_seen;
use super::{
    AccountId, Db, DbError, DbResult, Host, KeyProtocols, NewHost, NewKey, TokenData, TokenPurpose,
    WriteTx, Zone,
};
use crate::domain::{
    Email, Fqdn, GroupName, Ipv6Prefix, KeyScope, Role, SecretToken, UpdateKey, tsig_key_name,
};

/// An account's data, and only that.
#[derive(Clone)]
pub struct Tenant {
    pub(super) db: Db,
    pub(super) account: AccountId,
}

/// One line of a host's history.
#[derive(Clone, Debug)]
pub struct HistoryLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub protocol: String,
    pub source: Option<String>,
    pub agent: Option<String>,
    pub result: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// An update key as its owner sees it (never its secret).
#[derive(Clone, Debug)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub owner: String,
    pub scope: String,
    pub miniupdate: bool,
    /// Made for RFC 2136 too: the name of its TSIG key.
    pub tsig_name: Option<String>,
    /// Limited to `hosts`: then empty means none is left, and the key can do nothing.
    pub limited: bool,
    /// The hosts it is limited to, sorted; empty when not `limited`.
    pub hosts: Vec<String>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Db {
    pub fn tenant(&self, account: AccountId) -> Tenant {
        Tenant {
            db: self.clone(),
            account,
        }
    }
}

impl Tenant {
    /// The account's hosts, by name, with their zones.
    pub async fn hosts(&self) -> DbResult<Vec<Host>> {
        let rows = host::Entity::find()
            .filter(host::Column::AccountId.eq(self.account.0))
            .order_by_asc(host::Column::Name)
            .all(&self.db.conn)
            .await?;
        self.with_zones(rows).await
    }

    /// The account's host named `name`; `None` for another account's.
    pub async fn host_named(&self, name: &Fqdn) -> DbResult<Option<Host>> {
        let rows = host::Entity::find()
            .filter(host::Column::AccountId.eq(self.account.0))
            .filter(host::Column::Name.eq(name.as_str()))
            .all(&self.db.conn)
            .await?;
        Ok(self.with_zones(rows).await?.into_iter().next())
    }

    /// Up to `limit` of the account's hosts that `filter` keeps, by name, after the name
    /// `filter.after` (cursor paging: the last name of the previous page).
    pub async fn hosts_page(&self, filter: &HostFilter, limit: u64) -> DbResult<Vec<Host>> {
        let mut query = host::Entity::find()
            .filter(host::Column::AccountId.eq(self.account.0))
            .order_by_asc(host::Column::Name)
            .limit(limit);
        if let Some(after) = &filter.after {
            query = query.filter(host::Column::Name.gt(after.as_str()));
        }
        if let Some(zone) = filter.zone {
            query = query.filter(host::Column::ZoneId.eq(zone));
        }
        if let Some(part) = &filter.name_contains {
            query = query.filter(host::Column::Name.contains(part.as_str()));
        }
        if let Some(offline) = filter.offline {
            query = query.filter(host::Column::Offline.eq(offline));
        }
        if let Some(ids) = &filter.only {
            query = query.filter(host::Column::Id.is_in(ids.iter().copied()));
        }
        let rows = query.all(&self.db.conn).await?;
        self.with_zones(rows).await
    }

    /// The account's host `id`; `None` for another account's.
    pub async fn host(&self, id: i64) -> DbResult<Option<Host>> {
        let rows = host::Entity::find_by_id(id)
            .filter(host::Column::AccountId.eq(self.account.0))
            .all(&self.db.conn)
            .await?;
        Ok(self.with_zones(rows).await?.into_iter().next())
    }

    /// The hosts of `rows`, with their zones and when they were last seen.
    async fn with_zones(&self, rows: Vec<host::Model>) -> DbResult<Vec<Host>> {
        let zones: Vec<Arc<Zone>> = self.db.zones().await?.into_iter().map(Arc::new).collect();
        let mut seen = last_seen(&self.db.conn, &rows).await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let zone = zones.iter().find(|z| z.id == m.zone_id)?.clone();
                let id = m.id;
                let mut host = Host::from_model(m, zone)?;
                host.last_seen = seen.remove(&id);
                Some(host)
            })
            .collect())
    }

    /// The zones this account may create hosts in: the shared ones and its own.
    pub async fn zones(&self) -> DbResult<Vec<Zone>> {
        Ok(self
            .db
            .zones()
            .await?
            .into_iter()
            .filter(|z| z.account.is_none_or(|a| a == self.account))
            .collect())
    }

    /// The IPv6 prefix the account's following hosts are made from, if it has one.
    pub async fn ipv6_prefix(&self) -> DbResult<Option<Ipv6Prefix>> {
        self.db.account_ipv6_prefix(self.account).await
    }

    pub async fn host_count(&self) -> DbResult<u64> {
        Ok(host::Entity::find()
            .filter(host::Column::AccountId.eq(self.account.0))
            .count(&self.db.conn)
            .await?)
    }

    /// Creates a host in `zone`, one of [`Tenant::zones`], with `addresses` if any;
    /// `Taken` when the name is, `NotAllowed` when it may not be made there.
    pub async fn create_host(
        &self,
        zone: &Zone,
        name: Fqdn,
        (ipv4, ipv6): (Option<Ipv4Addr>, Option<Ipv6Addr>),
        actor: &str,
    ) -> DbResult<Host> {
        let mut tx = self.db.begin_write().await?;
        let new = NewHost {
            name,
            account: self.account,
            ipv4,
            ipv6,
            ttl: None,
        };
        let created = tx
            .insert_hosts(std::slice::from_ref(zone), vec![new])
            .await?;
        let host = created
            .into_iter()
            .next()
            .ok_or_else(|| DbError::Malformed("the host created is unreadable".into()))?;
        tx.audit(Some(self.account), actor, "host.create", host.name.as_str())
            .await?;
        tx.commit().await?;
        Ok(host)
    }

    /// Deletes the account's host `id`; `false` when it has none such.
    pub async fn delete_host(&self, id: i64, actor: &str) -> DbResult<bool> {
        let Some(host) = self.host(id).await? else {
            return Ok(false);
        };
        let mut tx = self.db.begin_write().await?;
        tx.delete_host(self.account, &host).await?;
        tx.audit(Some(self.account), actor, "host.delete", host.name.as_str())
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The newest `limit` history lines of the account's host `id` older than the line
    /// `before` (cursor paging), newest first.
    pub async fn history_before(
        &self,
        id: i64,
        before: Option<i64>,
        limit: u64,
    ) -> DbResult<Vec<HistoryLine>> {
        let mut query = self
            .history_of(id)
            .order_by_desc(update_history::Column::Id);
        if let Some(before) = before {
            query = query.filter(update_history::Column::Id.lt(before));
        }
        self.history_lines(query.limit(limit)).await
    }

    /// The newest `limit` history lines of the account's host `id`, skipping `offset`.
    pub async fn history(&self, id: i64, offset: u64, limit: u64) -> DbResult<Vec<HistoryLine>> {
        let query = self
            .history_of(id)
            .order_by_desc(update_history::Column::At)
            .order_by_desc(update_history::Column::Id)
            .offset(offset)
            .limit(limit);
        self.history_lines(query).await
    }

    /// The history of the account's host `id`, to be ordered and paged.
    fn history_of(&self, id: i64) -> Select<update_history::Entity> {
        update_history::Entity::find()
            .filter(update_history::Column::AccountId.eq(self.account.0))
            .filter(update_history::Column::HostId.eq(id))
    }

    async fn history_lines(
        &self,
        query: Select<update_history::Entity>,
    ) -> DbResult<Vec<HistoryLine>> {
        let rows = query.all(&self.db.conn).await?;
        Ok(rows.into_iter().map(history_line).collect())
    }

    /// The account's live update keys, newest first.
    pub async fn keys(&self) -> DbResult<Vec<KeyInfo>> {
        let rows = update_key::Entity::find()
            .filter(update_key::Column::AccountId.eq(self.account.0))
            .filter(update_key::Column::RevokedAt.is_null())
            .order_by_desc(update_key::Column::CreatedAt)
            .all(&self.db.conn)
            .await?;
        let owners = user::Entity::find()
            .filter(user::Column::AccountId.eq(self.account.0))
            .all(&self.db.conn)
            .await?;
        let limits = update_key_host::Entity::find()
            .filter(update_key_host::Column::KeyId.is_in(rows.iter().map(|k| k.id)))
            .all(&self.db.conn)
            .await?;
        let names: HashMap<i64, String> = host::Entity::find()
            .select_only()
            .columns([host::Column::Id, host::Column::Name])
            .filter(host::Column::AccountId.eq(self.account.0))
            .filter(host::Column::Id.is_in(limits.iter().map(|l| l.host_id)))
            .into_tuple::<(i64, String)>()
            .all(&self.db.conn)
            .await?
            .into_iter()
            .collect();
        let hosts_of = |key: i64| {
            let mut hosts: Vec<String> = limits
                .iter()
                .filter(|l| l.key_id == key)
                .filter_map(|l| names.get(&l.host_id).cloned())
                .collect();
            hosts.sort();
            hosts
        };
        Ok(rows
            .into_iter()
            .map(|k| KeyInfo {
                hosts: hosts_of(k.id),
                limited: k.limited,
                owner: owners
                    .iter()
                    .find(|u| u.id == k.user_id)
                    .map(|u| u.email.clone())
                    .unwrap_or_default(),
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                scope: k.scope,
                miniupdate: k.miniupdate,
                tsig_name: k.tsig_secret.map(|_| tsig_key_name(k.id)),
                last_used_at: k.last_used_at,
                last_used_from: k.last_used_from,
                created_at: k.created_at,
            })
            .collect())
    }

    /// Creates a key for the user `owner` (of this account), limited to `hosts` (this
    /// account's) when any; the audit log names `actor`. The key and its id.
    pub async fn create_key(
        &self,
        owner: &Email,
        name: &str,
        hosts: &[Fqdn],
        scope: KeyScope,
        also_for: KeyProtocols,
        actor: &str,
    ) -> DbResult<(UpdateKey, i64)> {
        let key = UpdateKey::generate();
        let tx = self.db.begin_write().await?;
        let new = NewKey {
            owner,
            name,
            hosts,
            scope,
            also_for,
        };
        let id = tx.insert_key(new, &key, actor).await?;
        tx.commit().await?;
        Ok((key, id))
    }

    /// Revokes the account's key `id`; `false` when it has no such live key.
    pub async fn revoke_key(&self, id: i64, actor: &str) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        let revoked = update_key::Entity::update_many()
            .col_expr(update_key::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(update_key::Column::Id.eq(id))
            .filter(update_key::Column::AccountId.eq(self.account.0))
            .filter(update_key::Column::RevokedAt.is_null())
            .exec(tx.tx())
            .await?
            .rows_affected
            == 1;
        if revoked {
            tx.audit(Some(self.account), actor, "key.revoke", &id.to_string())
                .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }
}

pub(super) fn history_line(r: update_history::Model) -> HistoryLine {
    HistoryLine {
        id: r.id,
        at: r.at,
        protocol: r.protocol,
        source: r.source,
        agent: r.agent,
        result: r.result,
        ipv4: r.ipv4,
        ipv6: r.ipv6,
    }
}

/// Which of an account's hosts a page of [`Tenant::hosts_page`] holds.
#[derive(Clone, Debug, Default)]
pub struct HostFilter {
    /// Names after this one.
    pub after: Option<String>,
    pub zone: Option<i64>,
    pub name_contains: Option<String>,
    pub offline: Option<bool>,
    /// Only these host ids (a host-limited key's).
    pub only: Option<Vec<i64>>,
}

impl WriteTx {
    /// Deletes a host and its history, and publishes its removal. The row first: deleting
    /// it waits for a check-in's lock on it, so the history read next has that check-in's.
    async fn delete_host(&mut self, account: AccountId, host: &Host) -> DbResult<()> {
        host::Entity::delete_many()
            .filter(host::Column::Id.eq(host.state.id))
            .filter(host::Column::AccountId.eq(account.0))
            .exec(self.tx())
            .await?;
        update_history::Entity::delete_many()
            .filter(update_history::Column::HostId.eq(host.state.id))
            .exec(self.tx())
            .await?;
        for change in host.removal() {
            self.publish(change);
        }
        Ok(())
    }
}

/// A group of an account's hosts, as the account manager shows it.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub id: i64,
    pub name: GroupName,
    /// Member host names, sorted.
    pub hosts: Vec<String>,
}

impl Tenant {
    pub async fn groups(&self) -> DbResult<Vec<GroupInfo>> {
        let groups = group::Entity::find()
            .filter(group::Column::AccountId.eq(self.account.0))
            .order_by_asc(group::Column::Name)
            .all(&self.db.conn)
            .await?;
        let members = group_host::Entity::find()
            .filter(group_host::Column::GroupId.is_in(groups.iter().map(|g| g.id)))
            .all(&self.db.conn)
            .await?;
        let hosts = self.hosts().await?;
        Ok(groups
            .into_iter()
            .filter_map(|g| {
                let mut names: Vec<String> = members
                    .iter()
                    .filter(|m| m.group_id == g.id)
                    .filter_map(|m| hosts.iter().find(|h| h.state.id == m.host_id))
                    .map(|h| h.name.to_string())
                    .collect();
                names.sort();
                Some(GroupInfo {
                    id: g.id,
                    name: GroupName::parse(&g.name).ok()?,
                    hosts: names,
                })
            })
            .collect())
    }

    /// Creates a group of the account's `hosts`; `Taken` when the name is, `Missing` when a
    /// host is not the account's.
    pub async fn create_group(
        &self,
        name: &GroupName,
        hosts: &[Fqdn],
        actor: &str,
    ) -> DbResult<()> {
        let taken = group::Entity::find()
            .filter(group::Column::AccountId.eq(self.account.0))
            .filter(group::Column::Name.eq(name.as_str()))
            .one(&self.db.conn)
            .await?
            .is_some();
        if taken {
            return Err(DbError::Taken(format!("a group {name} exists already")));
        }
        let tx = self.db.begin_write().await?;
        tx.upsert_group(self.account, name, hosts, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renames the account's group `id` and sets its members; `false` when it has none
    /// such, `Taken` when the new name is another group's.
    pub async fn save_group(
        &self,
        id: i64,
        name: &GroupName,
        hosts: &[Fqdn],
        actor: &str,
    ) -> DbResult<bool> {
        let groups = group::Entity::find()
            .filter(group::Column::AccountId.eq(self.account.0))
            .all(&self.db.conn)
            .await?;
        let Some(current) = groups.iter().find(|g| g.id == id) else {
            return Ok(false);
        };
        if groups.iter().any(|g| g.id != id && g.name == name.as_str()) {
            return Err(DbError::Taken(format!("a group {name} exists already")));
        }
        let tx = self.db.begin_write().await?;
        if current.name != name.as_str() {
            group::Entity::update_many()
                .col_expr(group::Column::Name, Expr::value(name.as_str()))
                .filter(group::Column::Id.eq(id))
                .exec(tx.tx())
                .await?;
        }
        tx.upsert_group(self.account, name, hosts, actor).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the account's group `id` (its hosts stay); `false` when it has none such.
    pub async fn delete_group(&self, id: i64, actor: &str) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        let deleted = group::Entity::delete_many()
            .filter(group::Column::Id.eq(id))
            .filter(group::Column::AccountId.eq(self.account.0))
            .exec(tx.tx())
            .await?
            .rows_affected
            == 1;
        if deleted {
            tx.audit(Some(self.account), actor, "group.delete", &id.to_string())
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

/// A user of the account, as the team page shows them.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

impl Tenant {
    pub async fn members(&self) -> DbResult<Vec<Member>> {
        let users = user::Entity::find()
            .filter(user::Column::AccountId.eq(self.account.0))
            .order_by_asc(user::Column::Email)
            .all(&self.db.conn)
            .await?;
        Ok(users
            .into_iter()
            .map(|u| Member {
                id: u.id,
                role: Role::parse(&u.role).unwrap_or(Role::Viewer),
                email: u.email,
            })
            .collect())
    }

    /// An invitation's token for `email` to join this account as `role`, valid for `ttl`.
    pub async fn invite(
        &self,
        email: &Email,
        role: Role,
        ttl: chrono::Duration,
        actor: &str,
    ) -> DbResult<SecretToken> {
        let tx = self.db.begin_write().await?;
        let data = TokenData {
            account: Some(self.account),
            email: Some(email.clone()),
            role: Some(role),
            ..TokenData::default()
        };
        let token = tx.issue_token(TokenPurpose::Invite, data, ttl).await?;
        let detail = format!("{email} as {}", role.as_str());
        tx.audit(Some(self.account), actor, "user.invite", &detail)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Removes the account's user `id` (never its owner) with their keys, sessions and
    /// e-mail subscriptions; `false` when the account has no such user.
    pub async fn remove_member(&self, id: i64, actor: &str) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        let member = user::Entity::find_by_id(id)
            .filter(user::Column::AccountId.eq(self.account.0))
            .filter(user::Column::Role.ne(Role::Owner.as_str()))
            .one(tx.tx())
            .await?;
        if let Some(member) = &member {
            tx.readdress_subscriptions(self.account.0, &member.email, None)
                .await?;
        }
        let removed = user::Entity::delete_many()
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::AccountId.eq(self.account.0))
            .filter(user::Column::Role.ne(Role::Owner.as_str()))
            .exec(tx.tx())
            .await?
            .rows_affected
            == 1;
        if removed {
            tx.audit(Some(self.account), actor, "user.remove", &id.to_string())
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }
}
