use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dyn53_dns::feed::{Change, HostRecords, Mx};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::entity::{account, group, group_host, host, zone};
use super::{AccountId, Db, DbError, DbResult, LastSeen, WriteTx, Zone};
use crate::domain::{Fqdn, GroupName, InterfaceId, Ipv6Prefix};

/// What a host name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// Serves A/AAAA from its addresses.
    Address,
    /// Serves a CNAME to `alias`.
    Alias,
}

impl HostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKind::Address => "address",
            HostKind::Alias => "alias",
        }
    }

    fn parse(s: &str) -> HostKind {
        if s == "alias" {
            HostKind::Alias
        } else {
            HostKind::Address
        }
    }
}

/// A host with the zone it lives in.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: Fqdn,
    /// Shared: a snapshot holds many hosts of one zone.
    pub zone: Arc<Zone>,
    /// What updates change.
    pub state: HostState,
    pub mx_preference: u16,
    /// Its last check-in (see [`LastSeen`]): filled by a [`super::Tenant`]'s reads, the
    /// ones people see; `None` from the others (the feed's snapshot, writes), which need
    /// none and so read no history for it.
    pub last_seen: Option<LastSeen>,
}

/// What an update decides on and changes: a host's addresses, whether it is offline, and
/// DynDNS's wildcard and MX settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostState {
    pub id: i64,
    pub account: AccountId,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub offline: bool,
    /// `*.name` answers as `name` does.
    pub wildcard: bool,
    pub mx: Option<Fqdn>,
    /// `mx` is a backup: the host itself is the first mail exchanger.
    pub backmx: bool,
    /// Blocked by the operator for abuse: updates are refused. Never changed by one.
    pub blocked: bool,
    /// The owner's own TTL; `None`: the zone's default (always within the zone's bounds).
    pub ttl: Option<u32>,
    pub txt: Vec<String>,
    /// TXT values served at `_acme-challenge.<name>` (ACME DNS-01, set through the API).
    pub acme_txt: Vec<String>,
    /// An alias host serves a CNAME to this name instead of addresses.
    pub alias: Option<Fqdn>,
    /// Served instead of the addresses while offline; none: no address then.
    pub offline_ipv4: Option<Ipv4Addr>,
    pub offline_ipv6: Option<Ipv6Addr>,
    /// Set when the host's IPv6 address follows its account's prefix: `ipv6` is then that
    /// prefix followed by these bits.
    pub ipv6_interface_id: Option<InterfaceId>,
}

impl HostState {
    pub fn kind(&self) -> HostKind {
        if self.alias.is_some() {
            HostKind::Alias
        } else {
            HostKind::Address
        }
    }
}

impl HostState {
    pub(super) fn from_model(m: &host::Model) -> HostState {
        HostState {
            id: m.id,
            account: AccountId(m.account_id),
            ipv4: address(&m.ipv4),
            ipv6: address(&m.ipv6),
            offline: m.offline,
            wildcard: m.wildcard,
            mx: stored_name(&m.mx),
            backmx: m.backmx,
            blocked: m.blocked,
            ttl: m.ttl.and_then(|t| u32::try_from(t).ok()),
            txt: serde_json::from_str(&m.txt).unwrap_or_default(),
            acme_txt: serde_json::from_str(&m.acme_txt).unwrap_or_default(),
            alias: stored_name(&m.alias).filter(|_| HostKind::parse(&m.kind) == HostKind::Alias),
            offline_ipv4: address(&m.offline_ipv4),
            offline_ipv6: address(&m.offline_ipv6),
            ipv6_interface_id: m
                .ipv6_interface_id
                .as_deref()
                .and_then(|id| InterfaceId::parse(id).ok()),
        }
    }
}

/// A host to create.
#[derive(Clone, Debug)]
pub struct NewHost {
    pub name: Fqdn,
    pub account: AccountId,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub ttl: Option<u32>,
}

impl Host {
    /// `None` (logged) for a stored name that no longer parses.
    pub(super) fn from_model(m: host::Model, zone: Arc<Zone>) -> Option<Host> {
        // Stored values were checked on the way in; a value that no longer parses is
        // served as absent rather than taking the host down.
        Some(Host {
            name: super::readable("host name", Fqdn::parse(&m.name))?,
            state: HostState::from_model(&m),
            mx_preference: u16::try_from(m.mx_preference).unwrap_or(10),
            last_seen: None,
            zone,
        })
    }

    /// Exactly what DNS serves for this host now, its offline behaviour applied.
    pub fn served(&self) -> HostRecords {
        let state = &self.state;
        let mx = |preference: u16, exchange: &Fqdn| Mx {
            preference,
            exchange: exchange.to_string(),
        };
        let backup = self.mx_preference.saturating_add(10);
        let mut records = HostRecords {
            name: self.name.to_string(),
            ttl: self.zone.ttl_for(state.ttl),
            mx: match (&state.mx, state.backmx) {
                (Some(exchange), true) => {
                    vec![mx(self.mx_preference, &self.name), mx(backup, exchange)]
                }
                (Some(exchange), false) => vec![mx(self.mx_preference, exchange)],
                (None, _) => Vec::new(),
            },
            txt: state.txt.clone(),
            wildcard: state.wildcard,
            ..HostRecords::default()
        };
        match &state.alias {
            Some(target) => records.cname = Some(target.to_string()),
            None if state.offline => {
                records.a.extend(state.offline_ipv4);
                records.aaaa.extend(state.offline_ipv6);
            }
            _ => {
                records.a.extend(state.ipv4);
                records.aaaa.extend(state.ipv6);
            }
        }
        records
    }
}

/// The label under a host where ACME DNS-01 looks for its TXT challenge.
pub const ACME_LABEL: &str = "_acme-challenge";

impl Host {
    /// The name that serves the host's ACME challenge values.
    pub fn challenge_name(&self) -> String {
        format!("{ACME_LABEL}.{}", self.name)
    }

    /// What DNS serves at the challenge name; `None` while the host has no challenge.
    pub fn served_challenge(&self) -> Option<HostRecords> {
        (!self.state.acme_txt.is_empty()).then(|| HostRecords {
            name: self.challenge_name(),
            ttl: self.zone.ttl_for(self.state.ttl),
            txt: self.state.acme_txt.clone(),
            ..HostRecords::default()
        })
    }

    /// The feed changes that make DNS serve this host as it is now, `before` being what it
    /// served until now (`None`: nothing, a new host).
    pub fn changes(&self, before: Option<&HostState>) -> Vec<Change> {
        let zone = self.zone.name.to_string();
        let mut changes = vec![Change::HostUpsert {
            zone: zone.clone(),
            host: self.served(),
        }];
        match self.served_challenge() {
            Some(challenge) => changes.push(Change::HostUpsert {
                zone,
                host: challenge,
            }),
            None if before.is_some_and(|b| !b.acme_txt.is_empty()) => {
                changes.push(Change::HostDelete {
                    zone,
                    name: self.challenge_name(),
                });
            }
            None => {}
        }
        changes
    }

    /// The feed changes that remove this host from DNS.
    pub fn removal(&self) -> Vec<Change> {
        let zone = self.zone.name.to_string();
        let mut changes = vec![Change::HostDelete {
            zone: zone.clone(),
            name: self.name.to_string(),
        }];
        if !self.state.acme_txt.is_empty() {
            changes.push(Change::HostDelete {
                zone,
                name: self.challenge_name(),
            });
        }
        changes
    }
}

/// A stored host name, absent when it no longer parses (see [`Host::from_model`]).
fn stored_name(stored: &Option<String>) -> Option<Fqdn> {
    stored.as_deref().and_then(|v| Fqdn::parse(v).ok())
}

/// A stored prefix, absent when it no longer parses.
fn stored_prefix(stored: &Option<String>) -> Option<Ipv6Prefix> {
    stored.as_deref().and_then(|v| Ipv6Prefix::parse(v).ok())
}

/// A stored address, absent when it no longer parses (see [`Host::from_model`]).
pub(super) fn address<A: std::str::FromStr>(stored: &Option<String>) -> Option<A> {
    stored.as_deref().and_then(|v| v.parse().ok())
}

impl NewHost {
    pub(super) fn into_active_model(self, zone_id: i64, now: DateTime<Utc>) -> host::ActiveModel {
        host::ActiveModel {
            zone_id: Set(zone_id),
            account_id: Set(self.account.0),
            name: Set(self.name.to_string()),
            kind: Set("address".into()),
            ipv4: Set(self.ipv4.map(|a| a.to_string())),
            ipv6: Set(self.ipv6.map(|a| a.to_string())),
            ttl: Set(self.ttl.map(|t| i32::try_from(t).unwrap_or(i32::MAX))),
            alias: Set(None),
            mx: Set(None),
            mx_preference: Set(10),
            backmx: Set(false),
            txt: Set("[]".into()),
            acme_txt: Set("[]".into()),
            wildcard: Set(false),
            offline: Set(false),
            blocked: Set(false),
            offline_ipv4: Set(None),
            offline_ipv6: Set(None),
            ipv6_interface_id: Set(None),
            last_agent: Set(None),
            last_source: Set(None),
            last_protocol: Set(None),
            updated_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        }
    }
}

/// A stored host's name and state; `None` when the name no longer parses.
fn named_state(m: host::Model) -> Option<(Fqdn, HostState)> {
    Some((Fqdn::parse(&m.name).ok()?, HostState::from_model(&m)))
}

/// Aliases followed before a chain counts as a loop: resolvers give up on longer ones.
const MAX_ALIAS_CHAIN: usize = 8;

impl Db {
    /// Whether making `host` an alias of `target` closes a loop: the aliases the hosts have,
    /// followed from `target` on, come back to `host` or to a name already passed (or go on
    /// longer than any resolver follows).
    pub async fn alias_loops(&self, host: &Fqdn, target: &Fqdn) -> DbResult<bool> {
        let mut passed = vec![host.clone()];
        let mut next = Some(target.clone());
        while let Some(name) = next {
            if passed.contains(&name) || passed.len() > MAX_ALIAS_CHAIN {
                return Ok(true);
            }
            next = host::Entity::find()
                .filter(host::Column::Name.eq(name.as_str()))
                .one(&self.conn)
                .await?
                .and_then(named_state)
                .and_then(|(_, state)| state.alias);
            passed.push(name);
        }
        Ok(false)
    }

    /// Every host of `account`, by name, with its state.
    pub async fn host_states(&self, account: AccountId) -> DbResult<Vec<(Fqdn, HostState)>> {
        let rows = host::Entity::find()
            .filter(host::Column::AccountId.eq(account.0))
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().filter_map(named_state).collect())
    }

    /// The members of `account`'s groups among `groups`, each with its state, by group:
    /// a group without members is there with none; another account's group is not.
    pub async fn group_members(
        &self,
        account: AccountId,
        groups: &[&GroupName],
    ) -> DbResult<Vec<(GroupName, Vec<(Fqdn, HostState)>)>> {
        let found = group::Entity::find()
            .filter(group::Column::AccountId.eq(account.0))
            .filter(group::Column::Name.is_in(groups.iter().map(|g| g.as_str())))
            .all(&self.conn)
            .await?;
        let memberships = group_host::Entity::find()
            .filter(group_host::Column::GroupId.is_in(found.iter().map(|g| g.id)))
            .all(&self.conn)
            .await?;
        let hosts: HashMap<i64, (Fqdn, HostState)> = host::Entity::find()
            .filter(host::Column::AccountId.eq(account.0))
            .filter(host::Column::Id.is_in(memberships.iter().map(|m| m.host_id)))
            .all(&self.conn)
            .await?
            .into_iter()
            .filter_map(named_state)
            .map(|(name, state)| (state.id, (name, state)))
            .collect();
        Ok(found
            .into_iter()
            .filter_map(|g| {
                let members = memberships
                    .iter()
                    .filter(|m| m.group_id == g.id)
                    .filter_map(|m| hosts.get(&m.host_id).cloned())
                    .collect();
                Some((GroupName::parse(&g.name).ok()?, members))
            })
            .collect())
    }

    /// The IPv6 prefix `account` keeps (the last its router sent), if any.
    pub async fn account_ipv6_prefix(&self, account: AccountId) -> DbResult<Option<Ipv6Prefix>> {
        let row = account::Entity::find_by_id(account.0)
            .one(&self.conn)
            .await?;
        Ok(row.and_then(|a| stored_prefix(&a.ipv6_prefix)))
    }

    /// The IPv6 prefix `account` keeps, and its hosts that follow it, by name.
    pub async fn prefix_followers(
        &self,
        account: AccountId,
    ) -> DbResult<(Option<Ipv6Prefix>, Vec<(Fqdn, HostState)>)> {
        let followers = host::Entity::find()
            .filter(host::Column::AccountId.eq(account.0))
            .filter(host::Column::Ipv6InterfaceId.is_not_null())
            .all(&self.conn)
            .await?;
        Ok((
            self.account_ipv6_prefix(account).await?,
            followers.into_iter().filter_map(named_state).collect(),
        ))
    }

    /// The account that holds `name`, if any: for operator commands only (it crosses tenants).
    pub async fn owner_of_host(&self, name: &Fqdn) -> DbResult<Option<AccountId>> {
        let row = host::Entity::find()
            .filter(host::Column::Name.eq(name.as_str()))
            .one(&self.conn)
            .await?;
        Ok(row.map(|h| AccountId(h.account_id)))
    }
}

impl WriteTx {
    /// Keeps `prefix` as the one `account`'s following hosts are made from.
    pub async fn set_account_ipv6_prefix(
        &mut self,
        account: AccountId,
        prefix: Ipv6Prefix,
    ) -> DbResult<()> {
        account::Entity::update_many()
            .col_expr(
                account::Column::Ipv6Prefix,
                sea_orm::sea_query::Expr::value(prefix.to_string()),
            )
            .filter(account::Column::Id.eq(account.0))
            .exec(self.tx())
            .await?;
        Ok(())
    }
}

/// Operator changes to one host, found by name across tenants.
impl WriteTx {
    /// Sets the addresses a host serves while offline, and publishes what it serves.
    pub async fn set_offline_addresses(
        &mut self,
        name: &Fqdn,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) -> DbResult<()> {
        let row = self.host_by_name(name).await?;
        let account = AccountId(row.account_id);
        let mut row: host::ActiveModel = row.into();
        row.offline_ipv4 = Set(ipv4.map(|a| a.to_string()));
        row.offline_ipv6 = Set(ipv6.map(|a| a.to_string()));
        let row = row.update(self.tx()).await?;
        let zone = zone::Entity::find_by_id(row.zone_id)
            .one(self.tx())
            .await?
            .ok_or_else(|| DbError::Missing(format!("the zone of {name} is gone")))?;
        let unreadable = || DbError::Malformed(format!("host {name} or its zone"));
        let zone = Zone::from_model(zone).ok_or_else(unreadable)?;
        let host = Host::from_model(row, Arc::new(zone)).ok_or_else(unreadable)?;
        for change in host.changes(None) {
            self.publish(change);
        }
        self.audit(
            Some(account),
            "cli",
            "host.offline_addresses",
            name.as_str(),
        )
        .await
    }

    async fn host_by_name(&self, name: &Fqdn) -> DbResult<host::Model> {
        host::Entity::find()
            .filter(host::Column::Name.eq(name.as_str()))
            .one(self.tx())
            .await?
            .ok_or_else(|| DbError::Missing(format!("no host {name}")))
    }
}
