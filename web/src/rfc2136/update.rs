//! An RFC 2136 update of one account's hosts: the zone section, the prerequisites (§2.4,
//! §3.2) and the update section (§2.5, §3.4), made into one request to the update service.
//!
//! Every name in the message must be a host the key reaches, or that host's
//! `_acme-challenge` name; only A, AAAA and TXT at a host and TXT at its challenge name are
//! changed, and the update section names one host, so the whole message is one request:
//! it is applied whole or not at all. Prerequisites are checked on the hosts as read
//! before the update; a change committed in between by another client is not seen.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::access::Access;
use crate::db::{ACME_LABEL, Host, HostState};
use crate::domain::{Fqdn, Protocol};
use crate::update::{
    Client, HostEntry, HostResult, HostSettings, MAX_TXT, TxtAt, TxtChange, TxtEdit, UpdateError,
    Updater, check_txt,
};

/// Why a message is answered with an error: its response code.
type Refused = ResponseCode;

/// A name of the message: a host the caller reaches, at the host or its challenge name.
#[derive(Clone, Copy)]
struct Target<'a> {
    host: &'a Host,
    at: TxtAt,
}

/// Applies the update in `message` for the caller of `access`: the response code.
pub async fn apply(
    message: &Message,
    access: &Access,
    updater: &Updater,
    source: IpAddr,
) -> ResponseCode {
    match run(message, access, updater, source).await {
        Ok(()) => ResponseCode::NoError,
        Err(code) => code,
    }
}

async fn run(
    message: &Message,
    access: &Access,
    updater: &Updater,
    source: IpAddr,
) -> Result<(), Refused> {
    let zone = zone(message, access).await?;
    let prerequisites = &message.answers;
    let updates = &message.authorities;
    let hosts = hosts(prerequisites.iter().chain(updates), zone, access).await?;
    let target = |name: &Name| target(name, &hosts).ok_or(ResponseCode::Refused);
    check_prerequisites(prerequisites, &target)?;

    let Some(first) = updates.first() else {
        return Ok(());
    };
    let host = target(&first.name)?.host;
    let mut change = Change::new(host);
    for record in updates {
        let target = target(&record.name)?;
        if target.host.state.id != host.state.id {
            // Two hosts would be two requests, no longer all or nothing.
            return Err(ResponseCode::Refused);
        }
        change.add(record, target.at)?;
    }
    change.send(access, updater, source).await
}

/// The zone section's zone: one SOA question, of a zone the account may use (else
/// `NOTAUTH`: not a zone we are authoritative for, as far as this key goes).
async fn zone<'m>(message: &'m Message, access: &Access) -> Result<&'m Name, Refused> {
    let [zone] = message.queries.as_slice() else {
        return Err(ResponseCode::FormErr);
    };
    if zone.query_type() != RecordType::SOA || zone.query_class() != DNSClass::IN {
        return Err(ResponseCode::FormErr);
    }
    let name = Fqdn::parse(zone.name().to_ascii().trim_end_matches('.'))
        .map_err(|_| ResponseCode::NotAuth)?;
    let zones = access.zones().await.map_err(|_| ResponseCode::ServFail)?;
    match zones.iter().any(|z| z.name == name) {
        true => Ok(zone.name()),
        false => Err(ResponseCode::NotAuth),
    }
}

/// The host and where at it a name is: `_acme-challenge.<host>` or the host's own name.
fn split(name: &Name) -> Option<(Fqdn, TxtAt)> {
    let ascii = name.to_ascii().to_ascii_lowercase();
    let ascii = ascii.trim_end_matches('.');
    match ascii
        .strip_prefix(ACME_LABEL)
        .and_then(|s| s.strip_prefix('.'))
    {
        Some(host) => Some((Fqdn::parse(host).ok()?, TxtAt::AcmeChallenge)),
        None => Some((Fqdn::parse(ascii).ok()?, TxtAt::Host)),
    }
}

/// The hosts the records name, each read once through `access`: a name outside the zone is
/// `NOTZONE`; one the caller does not reach (another account's, beyond the key's limit, no
/// host at all, or not a host's name) is `REFUSED`.
async fn hosts<'a>(
    records: impl Iterator<Item = &'a Record>,
    zone: &Name,
    access: &Access,
) -> Result<HashMap<Fqdn, Host>, Refused> {
    let mut hosts = HashMap::new();
    for record in records {
        if !zone.zone_of(&record.name) {
            return Err(ResponseCode::NotZone);
        }
        let Some((name, _)) = split(&record.name) else {
            return Err(ResponseCode::Refused);
        };
        if hosts.contains_key(&name) {
            continue;
        }
        let host = access
            .host_named(&name)
            .await
            .map_err(|_| ResponseCode::ServFail)?
            .ok_or(ResponseCode::Refused)?;
        hosts.insert(name, host);
    }
    Ok(hosts)
}

fn target<'a>(name: &Name, hosts: &'a HashMap<Fqdn, Host>) -> Option<Target<'a>> {
    let (name, at) = split(name)?;
    Some(Target {
        host: hosts.get(&name)?,
        at,
    })
}

/// The records of type `kind` the name serves now, as far as this protocol knows them.
fn rrset(state: &HostState, at: TxtAt, kind: RecordType) -> Vec<RData> {
    let txt = |values: &[String]| {
        values
            .iter()
            .map(|v| RData::TXT(TXT::new(vec![v.clone()])))
            .collect()
    };
    match (at, kind) {
        (TxtAt::Host, RecordType::A) => state.ipv4.map(|a| RData::A(A(a))).into_iter().collect(),
        (TxtAt::Host, RecordType::AAAA) => state
            .ipv6
            .map(|a| RData::AAAA(AAAA(a)))
            .into_iter()
            .collect(),
        (TxtAt::Host, RecordType::TXT) => txt(&state.txt),
        (TxtAt::AcmeChallenge, RecordType::TXT) => txt(&state.acme_txt),
        _ => Vec::new(),
    }
}

/// Whether a name has anything: a host always; its challenge name while it has a value.
fn in_use(target: Target<'_>) -> bool {
    match target.at {
        TxtAt::Host => true,
        TxtAt::AcmeChallenge => !target.host.state.acme_txt.is_empty(),
    }
}

/// RFC 2136 §3.2: each prerequisite holds, else the code that says which did not.
fn check_prerequisites<'a>(
    records: &[Record],
    target: &impl Fn(&Name) -> Result<Target<'a>, Refused>,
) -> Result<(), Refused> {
    // Value-dependent prerequisites compare whole RRsets, gathered first.
    let mut expected: Vec<(Target<'a>, RecordType, Vec<RData>)> = Vec::new();
    for record in records {
        if record.ttl != 0 {
            return Err(ResponseCode::FormErr);
        }
        let t = target(&record.name)?;
        let kind = record.record_type();
        let empty = matches!(record.data, RData::Update0(_));
        let state = &t.host.state;
        match (record.dns_class, kind) {
            (DNSClass::ANY | DNSClass::NONE, _) if !empty => return Err(ResponseCode::FormErr),
            (DNSClass::ANY, RecordType::ANY) if !in_use(t) => return Err(ResponseCode::NXDomain),
            (DNSClass::ANY, RecordType::ANY) => {}
            (DNSClass::ANY, _) if rrset(state, t.at, kind).is_empty() => {
                return Err(ResponseCode::NXRRSet);
            }
            (DNSClass::ANY, _) => {}
            (DNSClass::NONE, RecordType::ANY) if in_use(t) => return Err(ResponseCode::YXDomain),
            (DNSClass::NONE, RecordType::ANY) => {}
            (DNSClass::NONE, _) if !rrset(state, t.at, kind).is_empty() => {
                return Err(ResponseCode::YXRRSet);
            }
            (DNSClass::NONE, _) => {}
            (DNSClass::IN, _) if !empty => {
                let same = |(e, k, _): &&mut (Target<'a>, RecordType, Vec<RData>)| {
                    e.host.state.id == t.host.state.id && e.at == t.at && *k == kind
                };
                match expected.iter_mut().find(|e| same(e)) {
                    Some((_, _, values)) => values.push(record.data.clone()),
                    None => expected.push((t, kind, vec![record.data.clone()])),
                }
            }
            _ => return Err(ResponseCode::FormErr),
        }
    }
    for (t, kind, values) in expected {
        let now = rrset(&t.host.state, t.at, kind);
        let equal =
            values.iter().all(|v| now.contains(v)) && now.iter().all(|v| values.contains(v));
        if !equal {
            return Err(ResponseCode::NXRRSet);
        }
    }
    Ok(())
}

/// What the update section does to one host, worked out on a copy of its state.
struct Change<'a> {
    host: &'a Host,
    state: HostState,
    /// `Some(None)`: the family's address is removed.
    ipv4: Option<Option<Ipv4Addr>>,
    ipv6: Option<Option<Ipv6Addr>>,
    txt: Vec<TxtEdit>,
}

impl<'a> Change<'a> {
    fn new(host: &'a Host) -> Change<'a> {
        Change {
            host,
            state: host.state.clone(),
            ipv4: None,
            ipv6: None,
            txt: Vec::new(),
        }
    }

    /// One record of the update section (RFC 2136 §2.5): add to an RRset (class IN),
    /// delete an RRset or every RRset of a name (ANY), delete one record (NONE).
    fn add(&mut self, record: &Record, at: TxtAt) -> Result<(), Refused> {
        let kind = record.record_type();
        let empty = matches!(record.data, RData::Update0(_));
        // RFC 2136 §3.4.1.3: what no update can be.
        let malformed = match record.dns_class {
            DNSClass::IN => empty || kind == RecordType::ANY,
            DNSClass::ANY => record.ttl != 0 || !empty,
            DNSClass::NONE => record.ttl != 0 || kind == RecordType::ANY,
            _ => true,
        };
        if malformed {
            return Err(ResponseCode::FormErr);
        }
        match (record.dns_class, at, &record.data) {
            (DNSClass::IN, TxtAt::Host, RData::A(a)) => self.set_ipv4(Some(a.0)),
            (DNSClass::IN, TxtAt::Host, RData::AAAA(a)) => self.set_ipv6(Some(a.0)),
            (DNSClass::IN, _, RData::TXT(txt)) => return self.txt(at, TxtChange::Add(value(txt)?)),
            (DNSClass::ANY, TxtAt::Host, _) if kind == RecordType::A => self.set_ipv4(None),
            (DNSClass::ANY, TxtAt::Host, _) if kind == RecordType::AAAA => self.set_ipv6(None),
            (DNSClass::ANY, TxtAt::AcmeChallenge, _)
                if matches!(kind, RecordType::A | RecordType::AAAA) => {}
            (DNSClass::ANY, _, _) if kind == RecordType::TXT => {
                return self.txt(at, TxtChange::Clear);
            }
            // Every RRset of the challenge name is its TXT values; a host's are more than
            // this protocol changes.
            (DNSClass::ANY, TxtAt::AcmeChallenge, _) if kind == RecordType::ANY => {
                return self.txt(at, TxtChange::Clear);
            }
            (DNSClass::NONE, TxtAt::Host, RData::A(a)) => {
                if self.state.ipv4 == Some(a.0) {
                    self.set_ipv4(None);
                }
            }
            (DNSClass::NONE, TxtAt::Host, RData::AAAA(a)) => {
                if self.state.ipv6 == Some(a.0) {
                    self.set_ipv6(None);
                }
            }
            (DNSClass::NONE, TxtAt::AcmeChallenge, RData::A(_) | RData::AAAA(_)) => {}
            (DNSClass::NONE, _, RData::TXT(txt)) => {
                return self.txt(at, TxtChange::Remove(value(txt)?));
            }
            _ => return Err(ResponseCode::Refused),
        }
        Ok(())
    }

    fn set_ipv4(&mut self, address: Option<Ipv4Addr>) {
        self.state.ipv4 = address;
        self.ipv4 = Some(address);
    }

    fn set_ipv6(&mut self, address: Option<Ipv6Addr>) {
        self.state.ipv6 = address;
        self.ipv6 = Some(address);
    }

    /// A TXT change, refused when it would take the name past [`MAX_TXT`] values.
    fn txt(&mut self, at: TxtAt, change: TxtChange) -> Result<(), Refused> {
        if let TxtChange::Add(value) = &change {
            let values = match at {
                TxtAt::Host => &self.state.txt,
                TxtAt::AcmeChallenge => &self.state.acme_txt,
            };
            if !values.contains(value) && values.len() >= MAX_TXT {
                return Err(ResponseCode::Refused);
            }
        }
        let edit = TxtEdit { at, change };
        edit.apply(&mut self.state);
        self.txt.push(edit);
        Ok(())
    }

    /// The change as one request to the update service, made with the caller's
    /// capability to change hosts.
    async fn send(self, access: &Access, updater: &Updater, source: IpAddr) -> Result<(), Refused> {
        let writer = access.host_writer().map_err(|_| ResponseCode::Refused)?;
        let set4 = self.ipv4.flatten();
        let set6 = self.ipv6.flatten();
        let client = Client {
            protocol: Protocol::Rfc2136,
            source,
            agent: None,
        };
        let host = HostEntry::host(Ok(self.host.name.clone()));
        let mut request = writer.request(vec![host], (set4, set6), client);
        (request.preserve_ipv4, request.preserve_ipv6) = (set4.is_none(), set6.is_none());
        request.offline = Some(self.host.state.offline);
        request.settings = HostSettings {
            remove_addresses: (self.ipv4 == Some(None), self.ipv6 == Some(None)),
            txt_edits: self.txt,
            ..HostSettings::default()
        };
        match updater.update(request).await.as_deref() {
            Ok([HostResult::Changed(_) | HostResult::Unchanged(_)]) => Ok(()),
            Ok(_) => Err(ResponseCode::Refused),
            Err(UpdateError::BadAuth(_)) => Err(ResponseCode::NotAuth),
            Err(UpdateError::Unavailable(_) | UpdateError::Busy(_) | UpdateError::Interrupted) => {
                Err(ResponseCode::ServFail)
            }
            Err(_) => Err(ResponseCode::Refused),
        }
    }
}

/// A TXT record's one character-string, as a value a name may have; `REFUSED` otherwise.
fn value(txt: &TXT) -> Result<String, Refused> {
    let [data] = &*txt.txt_data else {
        return Err(ResponseCode::Refused);
    };
    let value = String::from_utf8(data.to_vec()).map_err(|_| ResponseCode::Refused)?;
    check_txt(std::slice::from_ref(&value)).map_err(|_| ResponseCode::Refused)?;
    Ok(value)
}
