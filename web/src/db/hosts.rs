use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dyn53_dns::feed::{HostRecords, Mx};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::entity::{group, group_host, host};
use super::{AccountId, Db, DbResult, Zone};
use crate::domain::{Fqdn, GroupName};

/// What a host name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// Serves A/AAAA from its addresses.
    Address,
    /// Serves a CNAME to `alias`.
    Alias,
}

impl HostKind {
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
    pub id: i64,
    pub account: AccountId,
    pub name: Fqdn,
    /// Shared: a snapshot holds many hosts of one zone.
    pub zone: Arc<Zone>,
    pub kind: HostKind,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub ttl: Option<u32>,
    pub alias: Option<Fqdn>,
    pub mx: Option<Mx>,
    pub txt: Vec<String>,
    pub wildcard: bool,
    pub offline: bool,
    pub offline_ipv4: Option<Ipv4Addr>,
    pub offline_ipv6: Option<Ipv6Addr>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What an update decides on and changes: a host's addresses and whether it is offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostState {
    pub id: i64,
    pub account: AccountId,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub offline: bool,
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
    pub(super) fn from_model(m: host::Model, zone: Arc<Zone>) -> Host {
        // Stored values were checked on the way in; a value that no longer parses is
        // served as absent rather than taking the host down.
        let fqdn = |s: &Option<String>| s.as_deref().and_then(|v| Fqdn::parse(v).ok());
        Host {
            id: m.id,
            account: AccountId(m.account_id),
            name: Fqdn::parse(&m.name).expect("host names are validated on insert"),
            kind: HostKind::parse(&m.kind),
            ipv4: address(&m.ipv4),
            ipv6: address(&m.ipv6),
            ttl: m.ttl.and_then(|t| u32::try_from(t).ok()),
            alias: fqdn(&m.alias),
            mx: fqdn(&m.mx).map(|exchange| Mx {
                preference: u16::try_from(m.mx_preference).unwrap_or(10),
                exchange: exchange.to_string(),
            }),
            txt: serde_json::from_str(&m.txt).unwrap_or_default(),
            wildcard: m.wildcard,
            offline: m.offline,
            offline_ipv4: address(&m.offline_ipv4),
            offline_ipv6: address(&m.offline_ipv6),
            updated_at: m.updated_at,
            zone,
        }
    }

    pub fn state(&self) -> HostState {
        HostState {
            id: self.id,
            account: self.account,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            offline: self.offline,
        }
    }

    pub fn set_state(&mut self, state: HostState) {
        self.ipv4 = state.ipv4;
        self.ipv6 = state.ipv6;
        self.offline = state.offline;
    }

    /// Exactly what DNS serves for this host now, its offline behaviour applied.
    pub fn served(&self) -> HostRecords {
        let mut records = HostRecords {
            name: self.name.to_string(),
            ttl: self.zone.ttl_for(self.ttl),
            mx: self.mx.iter().cloned().collect(),
            txt: self.txt.clone(),
            wildcard: self.wildcard,
            ..HostRecords::default()
        };
        match (self.kind, &self.alias) {
            (HostKind::Alias, Some(target)) => records.cname = Some(target.to_string()),
            _ if self.offline => {
                records.a.extend(self.offline_ipv4);
                records.aaaa.extend(self.offline_ipv6);
            }
            _ => {
                records.a.extend(self.ipv4);
                records.aaaa.extend(self.ipv6);
            }
        }
        records
    }
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
            txt: Set("[]".into()),
            wildcard: Set(false),
            offline: Set(false),
            offline_ipv4: Set(None),
            offline_ipv6: Set(None),
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
    let state = HostState {
        id: m.id,
        account: AccountId(m.account_id),
        ipv4: address(&m.ipv4),
        ipv6: address(&m.ipv6),
        offline: m.offline,
    };
    Some((Fqdn::parse(&m.name).ok()?, state))
}

impl Db {
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

    /// The account that holds `name`, if any: for operator commands only (it crosses tenants).
    pub async fn owner_of_host(&self, name: &Fqdn) -> DbResult<Option<AccountId>> {
        let row = host::Entity::find()
            .filter(host::Column::Name.eq(name.as_str()))
            .one(&self.conn)
            .await?;
        Ok(row.map(|h| AccountId(h.account_id)))
    }
}
