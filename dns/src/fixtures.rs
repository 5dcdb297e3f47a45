//! Zone data for the crate's unit tests.

use std::net::Ipv4Addr;

use crate::feed::{HostRecords, ZoneData};

/// A zone with two name servers and usual SOA timers.
pub fn zone_data(name: &str) -> ZoneData {
    ZoneData {
        name: name.into(),
        ttl: 3600,
        mname: format!("ns1.{name}"),
        rname: format!("hostmaster.{name}"),
        refresh: 7200,
        retry: 900,
        expire: 1_209_600,
        minimum: 60,
        ns: vec![format!("ns1.{name}"), format!("ns2.{name}")],
    }
}

/// A host with one A record and a 60 s TTL.
pub fn host(name: &str, ip: [u8; 4]) -> HostRecords {
    HostRecords {
        name: name.into(),
        ttl: 60,
        a: vec![Ipv4Addr::from(ip)],
        ..Default::default()
    }
}
