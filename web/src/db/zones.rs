use chrono::Utc;
use dyn53_dns::feed::ZoneData;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entity::zone;
use super::{AccountId, Db, DbResult};
use crate::domain::Fqdn;

/// A zone the service answers for.
#[derive(Clone, Debug)]
pub struct Zone {
    pub id: i64,
    pub name: Fqdn,
    /// The account whose own zone this is; `None` for the service's shared zones.
    pub account: Option<AccountId>,
    pub default_ttl: u32,
    pub min_ttl: u32,
    pub max_ttl: u32,
    data: ZoneData,
}

/// What an operator gives to create a zone; the rest has sensible defaults.
#[derive(Clone, Debug)]
pub struct NewZone {
    pub name: Fqdn,
    /// Name servers; empty means `ns1.<zone>`.
    pub nameservers: Vec<Fqdn>,
    pub default_ttl: u32,
    /// The account whose own zone it is; `None`: shared by every account.
    pub account: Option<AccountId>,
}

impl Zone {
    /// `None` (logged) for a stored name that no longer parses.
    pub(super) fn from_model(m: zone::Model) -> Option<Zone> {
        let name = super::readable("zone name", Fqdn::parse(&m.name))?;
        let ttl = |v: i32| u32::try_from(v).unwrap_or(0);
        let data = ZoneData {
            name: name.to_string(),
            ttl: ttl(m.default_ttl),
            mname: m.mname,
            rname: m.rname,
            refresh: ttl(m.refresh),
            retry: ttl(m.retry),
            expire: ttl(m.expire),
            minimum: ttl(m.negative_ttl),
            ns: m
                .nameservers
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        Some(Zone {
            id: m.id,
            name,
            account: m.account_id.map(AccountId),
            default_ttl: ttl(m.default_ttl),
            min_ttl: ttl(m.min_ttl),
            max_ttl: ttl(m.max_ttl),
            data,
        })
    }

    pub fn nameservers(&self) -> &[String] {
        &self.data.ns
    }

    /// The apex data a DNS node serves.
    pub fn served(&self) -> ZoneData {
        self.data.clone()
    }

    /// A host's TTL: its own if set, else the zone's default, within the zone's bounds.
    /// Whether an owner may choose `ttl` in this zone; the reason when not.
    pub fn check_ttl(&self, ttl: u32) -> Result<(), String> {
        if (self.min_ttl..=self.max_ttl).contains(&ttl) {
            return Ok(());
        }
        Err(format!(
            "The TTL must be between {} and {} seconds in {}.",
            self.min_ttl, self.max_ttl, self.name
        ))
    }

    pub fn ttl_for(&self, requested: Option<u32>) -> u32 {
        requested
            .unwrap_or(self.default_ttl)
            .clamp(self.min_ttl, self.max_ttl)
    }
}

impl NewZone {
    pub(super) fn into_active_model(self) -> zone::ActiveModel {
        let ns = if self.nameservers.is_empty() {
            vec![format!("ns1.{}", self.name)]
        } else {
            self.nameservers.iter().map(Fqdn::to_string).collect()
        };
        let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        zone::ActiveModel {
            name: Set(self.name.to_string()),
            account_id: Set(self.account.map(|a| a.0)),
            default_ttl: Set(as_i32(self.default_ttl)),
            min_ttl: Set(as_i32(self.default_ttl.min(30))),
            max_ttl: Set(86_400),
            mname: Set(ns[0].clone()),
            rname: Set(format!("hostmaster.{}", self.name)),
            nameservers: Set(ns.join(",")),
            refresh: Set(3_600),
            retry: Set(600),
            expire: Set(604_800),
            negative_ttl: Set(as_i32(self.default_ttl)),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
    }
}

impl Db {
    pub async fn zones(&self) -> DbResult<Vec<Zone>> {
        let rows = zone::Entity::find()
            .order_by_asc(zone::Column::Name)
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().filter_map(Zone::from_model).collect())
    }

    /// The zone that `name` falls in: the longest zone name that is a suffix of it.
    pub async fn zone_of(&self, name: &Fqdn) -> DbResult<Option<Zone>> {
        let candidates: Vec<&str> = name.suffixes().collect();
        let found = zone::Entity::find()
            .filter(zone::Column::Name.is_in(candidates))
            .all(&self.conn)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(Zone::from_model)
            .max_by_key(|z| z.name.as_str().len()))
    }
}
