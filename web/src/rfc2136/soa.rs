//! Signed SOA queries on the update listener: how nsupdate without a `zone` line, and
//! certbot's RFC 2136 plugin, find the zone of a name before they update it. Answered
//! from the zones the key's account may use, as their authoritative server would: the
//! zone's SOA in the answer section at its apex, in the authority section below it;
//! `REFUSED` for a name in none of them. Whether a name exists is the DNS port's to say.

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::rdata::SOA;
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::access::Access;
use crate::db::Db;
use dyn53_dns::store::serial_of;

/// Whether `message` is a query this listener answers: one SOA question of class IN.
pub fn is_soa_query(message: &Message) -> bool {
    matches!(message.queries.as_slice(), [q]
        if q.query_type() == RecordType::SOA && q.query_class() == DNSClass::IN)
}

/// Fills `response` for the SOA query in `message`; its response code.
pub async fn answer(
    message: &Message,
    access: &Access,
    db: &Db,
    response: &mut Message,
) -> ResponseCode {
    let Some(asked) = message.queries.first().map(|q| q.name()) else {
        return ResponseCode::FormErr;
    };
    let (Ok(zones), Ok(revision)) = (access.zones().await, db.feed_revision().await) else {
        return ResponseCode::ServFail;
    };
    let name = |s: &str| Name::from_ascii(format!("{}.", s.trim_end_matches('.')));
    // The longest zone that holds the name (an `_acme-challenge` name too).
    let Some((apex, data)) = zones
        .iter()
        .filter_map(|z| Some((name(z.name.as_str()).ok()?, z.served())))
        .filter(|(apex, _)| apex.zone_of(asked))
        .max_by_key(|(apex, _)| apex.num_labels())
    else {
        return ResponseCode::Refused;
    };
    let (Ok(mname), Ok(rname)) = (name(&data.mname), name(&data.rname)) else {
        return ResponseCode::ServFail;
    };
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let soa = SOA::new(
        mname,
        rname,
        serial_of(revision),
        clamp(data.refresh),
        clamp(data.retry),
        clamp(data.expire),
        data.minimum,
    );
    let at_apex = apex == *asked;
    let record = Record::from_rdata(apex, data.ttl, RData::SOA(soa));
    response.metadata.authoritative = true;
    if at_apex {
        response.add_answer(record);
    } else {
        response.add_authority(record);
    }
    ResponseCode::NoError
}
