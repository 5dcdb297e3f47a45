//! The in-memory store of every zone a node serves, built for fast lookups in little memory.
//!
//! Layout: one `RwLock` over a map of zones; each zone keeps its apex records (SOA, NS)
//! pre-built and a `HashMap` from a host's key relative to the zone (see `names.rs`) to a
//! compact `Host` of 64 bytes, key included: short keys inline, one address of each family
//! inline, the TTL and flags. Only hosts with more (several addresses, MX, TXT, a CNAME)
//! point to a boxed list of record data. A lookup is a few hash probes; the few records of
//! the answer are built per query, owned by the name as asked (which also echoes its case),
//! and the lock is released before the response is sent (never held across an `.await`).
//! Measured with `examples/store_mem.rs` (one A per host): ~136 bytes of live heap per host
//! at 1M hosts (85 at 100k; the hash table's power-of-two buckets dominate), against ~440
//! with pre-built hickory records, and no more CPU per query (dnsperf, 100k and 1M names).
//!
//! Writers prepare hosts outside the lock and then apply a whole batch under one write
//! lock, so readers never see half a batch, and one change costs O(depth of the name), not
//! O(size of the zone) (copy-on-write maps were measured far too slow at 100k names).
//!
//! Every name that exists below an apex, either as a host or as an ancestor of one (an
//! empty non-terminal), has an entry, so NXDOMAIN versus NODATA is one probe per label.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use tokio::sync::watch;
use tracing::warn;

use crate::feed::{Batch, Change, HostRecords, Revision, Snapshot, ZoneData};
use crate::names::{
    HostKey, Key, NameKey, key_labels, key_suffix, parse_key, parse_name, record_wire_len,
};

/// How many CNAMEs a lookup follows inside our own zones before giving up (a long chain;
/// loops stop earlier, at the first repeated name).
const MAX_CNAME_CHAIN: usize = 8;

/// A TXT character-string holds at most 255 bytes; longer feed strings are split.
const TXT_CHUNK: usize = 255;

/// All zones of a node. Cheap to share (`Arc<Store>`); all methods take `&self`.
pub struct Store {
    data: RwLock<Data>,
    /// `None` until the first load; then the revision of the data being served.
    state: watch::Sender<Option<Revision>>,
}

/// What `load` or `apply` did not take: invalid changes are skipped (and logged) rather than
/// blocking the feed, since the control plane is the source of truth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub skipped: usize,
}

#[derive(Default)]
struct Data {
    zones: HashMap<Key, Zone>,
    /// The last batch applied and when (ms since the Unix epoch): how fast changes arrive.
    /// Loading a snapshot leaves it, as a load is no measure of propagation.
    applied: Option<Applied>,
}

/// A batch's revision and when this store began serving it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub revision: Revision,
    pub at_ms: u64,
}

struct Zone {
    key: Key,
    name: Name,
    labels: usize,
    data: ZoneData,
    mname: Name,
    rname: Name,
    ns: Box<[Record]>,
    serial: u32,
    soa: Record,
    /// The SOA for the authority section of negative answers (TTL = min(ttl, minimum)).
    neg_soa: Arc<Record>,
    /// A host whose name is the apex itself (served next to the SOA and NS).
    apex_host: Option<Host>,
    /// Every name below the apex, keyed relative to the apex.
    names: HashMap<HostKey, Host>,
}

/// A name below an apex that exists: a host (`HOST` set), an ancestor of hosts
/// (`descendants > 0`), or both. Addresses are inline for the common host with at most one
/// of each family; anything else lives in `extra`.
struct Host {
    ttl: u32,
    /// Hosts strictly below this name: while non-zero the name is an empty non-terminal
    /// rather than non-existent.
    descendants: u32,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    flags: u8,
    extra: Option<Box<Extra>>,
}

/// A host lives at this name (otherwise it is only an empty non-terminal).
const HOST: u8 = 1;
/// Names below this one that do not exist answer with this host's records.
const WILDCARD: u8 = 2;
/// `v4` is an A record.
const INLINE_A: u8 = 4;
/// `v6` is an AAAA record.
const INLINE_AAAA: u8 = 8;
/// An alias host: `extra` is exactly its CNAME.
const ALIAS: u8 = 16;

/// The records of a host that do not fit inline, grouped by type in answer order
/// (A, AAAA, MX, TXT), or the one CNAME of an alias.
struct Extra {
    records: Box<[RData]>,
}

impl Host {
    /// An empty non-terminal above `descendants` hosts.
    fn empty(descendants: u32) -> Self {
        Self {
            ttl: 0,
            descendants,
            v4: Ipv4Addr::UNSPECIFIED,
            v6: Ipv6Addr::UNSPECIFIED,
            flags: 0,
            extra: None,
        }
    }

    fn is_host(&self) -> bool {
        self.flags & HOST != 0
    }

    fn is_wildcard(&self) -> bool {
        self.flags & WILDCARD != 0
    }

    fn cname_target(&self) -> Option<&Name> {
        if self.flags & ALIAS == 0 {
            return None;
        }
        match self.extra.as_deref()?.records.first()? {
            RData::CNAME(target) => Some(&target.0),
            _ => None,
        }
    }

    /// Adds the records `picker` wants, in answer order, owned by `owner`.
    fn emit(&self, owner: &Name, picker: &mut Picker, out: &mut Records) {
        let record = |data| Record::from_rdata(owner.clone(), self.ttl, data);
        if self.flags & INLINE_A != 0 && picker.wants(RecordType::A) {
            out.push(record(RData::A(A(self.v4))));
        }
        if self.flags & INLINE_AAAA != 0 && picker.wants(RecordType::AAAA) {
            out.push(record(RData::AAAA(AAAA(self.v6))));
        }
        if let Some(extra) = &self.extra {
            for data in &extra.records {
                if picker.wants(data.record_type()) {
                    out.push(record(data.clone()));
                }
            }
        }
    }
}

/// Which records of a name an answer takes.
#[derive(Clone, Copy)]
enum Pick {
    Type(RecordType),
    /// `ANY`: every RRset.
    All,
    /// `ANY` over UDP: the first RRset only (RFC 8482).
    First,
}

/// A [`Pick`] applied to a name's records, which come grouped by type.
struct Picker {
    pick: Pick,
    first: Option<RecordType>,
}

impl Picker {
    fn new(pick: Pick) -> Self {
        Self { pick, first: None }
    }

    /// Whether a record of `rtype` belongs in the answer; asked only for records that exist.
    fn wants(&mut self, rtype: RecordType) -> bool {
        match self.pick {
            Pick::Type(t) => t == rtype,
            Pick::All => true,
            Pick::First => *self.first.get_or_insert(rtype) == rtype,
        }
    }
}

/// An answer the wire path writes without building records: the commonest by far.
pub(crate) enum Plain<'a> {
    /// The host's one A record (TTL, address), owned by the name asked.
    A(u32, Ipv4Addr),
    /// The host's one AAAA record.
    Aaaa(u32, Ipv6Addr),
    /// NXDOMAIN, or NODATA (NOERROR), with the zone's SOA for the authority section: the
    /// record (owner, TTL) and its data.
    Negative {
        rcode: ResponseCode,
        soa: &'a Record,
        soa_data: &'a SOA,
        /// The zone's labels: its key is the query name's key without the labels below.
        zone_labels: usize,
    },
}

/// The result of a lookup inside our zones.
pub struct Answer {
    rcode: ResponseCode,
    records: Records,
    /// The zone's SOA for the authority section (negative answers only).
    soa: Option<Arc<Record>>,
    /// Addresses of the NS and MX targets in our zones, so resolvers need not ask again.
    additional: Records,
}

/// Answer records, built per query: most answers are one record, kept without allocating.
#[derive(Default)]
#[allow(
    clippy::large_enum_variant,
    reason = "one record inline is the point: no allocation for most answers"
)]
enum Records {
    #[default]
    None,
    One(Record),
    Many(Vec<Record>),
}

impl Records {
    fn push(&mut self, record: Record) {
        match std::mem::take(self) {
            Records::None => *self = Records::One(record),
            Records::One(first) => *self = Records::Many(vec![first, record]),
            Records::Many(mut v) => {
                v.push(record);
                *self = Records::Many(v);
            }
        }
    }

    fn extend(&mut self, records: impl Iterator<Item = Record>) {
        for record in records {
            self.push(record);
        }
    }

    fn as_slice(&self) -> &[Record] {
        match self {
            Records::None => &[],
            Records::One(record) => std::slice::from_ref(record),
            Records::Many(v) => v,
        }
    }
}

impl Answer {
    fn negative(rcode: ResponseCode, zone: &Zone) -> Self {
        Self {
            rcode,
            records: Records::None,
            soa: Some(zone.neg_soa.clone()),
            additional: Records::None,
        }
    }

    /// NOERROR with `records`, or NODATA when there are none.
    fn positive(records: Records, zone: &Zone) -> Self {
        if records.as_slice().is_empty() {
            return Self::negative(ResponseCode::NoError, zone);
        }
        Self {
            rcode: ResponseCode::NoError,
            records,
            soa: None,
            additional: Records::None,
        }
    }

    /// NOERROR (also for NODATA) or NXDOMAIN.
    pub fn rcode(&self) -> ResponseCode {
        self.rcode
    }

    /// The answer section.
    pub fn answers(&self) -> &[Record] {
        self.records.as_slice()
    }

    /// The authority section: the zone's SOA for NXDOMAIN and NODATA.
    pub fn authority(&self) -> Option<&Record> {
        self.soa.as_deref()
    }

    /// The additional section: addresses of in-zone NS and MX targets.
    pub fn additional(&self) -> &[Record] {
        self.additional.as_slice()
    }

    /// Leaves the additional section out (it is optional: dropped rather than truncating).
    pub(crate) fn drop_additional(&mut self) {
        self.additional = Records::None;
    }

    /// An upper bound of the whole answer's size on the wire (all three sections).
    pub(crate) fn wire_len_bound(&self) -> usize {
        let sum = |records: &[Record]| records.iter().map(record_wire_len).sum::<usize>();
        sum(self.answers())
            + sum(self.additional())
            + self.soa.as_deref().map_or(0, record_wire_len)
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store: every query is outside our zones until the first `load`.
    pub fn new() -> Self {
        Self {
            data: RwLock::new(Data::default()),
            state: watch::Sender::new(None),
        }
    }

    /// The revision of the data being served (0 before the first load).
    pub fn revision(&self) -> Revision {
        self.state.borrow().unwrap_or(0)
    }

    /// Whether a snapshot has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.state.borrow().is_some()
    }

    /// Follows the served revision: `None` until the first load.
    pub fn subscribe(&self) -> watch::Receiver<Option<Revision>> {
        self.state.subscribe()
    }

    /// Waits until the first snapshot is loaded.
    pub async fn ready(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so this cannot fail while we borrow it.
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// Waits until data at `revision` or later is served.
    pub async fn wait_for(&self, revision: Revision) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|r| r.is_some_and(|r| r >= revision)).await;
    }

    /// Number of zones served.
    pub fn zone_count(&self) -> usize {
        self.read().zones.len()
    }

    /// Number of names served (hosts, apexes and empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.read().zones.values().map(|z| z.names.len() + 1).sum()
    }

    /// The last batch applied, if any since start.
    pub fn last_applied(&self) -> Option<Applied> {
        self.read().applied
    }

    /// Every zone served with its SOA serial, by name (without the final dot).
    pub fn serials(&self) -> Vec<(String, u32)> {
        let mut serials: Vec<(String, u32)> = self
            .read()
            .zones
            .values()
            .map(|z| (z.data.name.trim_end_matches('.').to_owned(), z.serial))
            .collect();
        serials.sort();
        serials
    }

    /// A zone's current SOA serial.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let key = parse_key(zone).ok()?;
        self.read().zones.get(key.full()).map(|z| z.serial)
    }

    /// Replaces everything with `snapshot`, atomically. Every zone's serial becomes the
    /// snapshot's revision (or one more than its previous serial if that was higher, so that
    /// a serial never goes back).
    pub fn load(&self, snapshot: Snapshot) -> ApplyReport {
        let mut report = ApplyReport::default();
        let revision = snapshot.revision;
        let mut zones = HashMap::with_capacity(snapshot.zones.len());
        // Consumed as it goes: each host's feed data is freed before the next one is built,
        // so the store's allocations reuse that memory instead of growing the heap.
        for zs in snapshot.zones {
            let spec = match ZoneSpec::prepare(&zs.zone) {
                Ok(spec) => spec,
                Err(error) => {
                    warn!(%error, "snapshot: zone skipped");
                    report.skipped += 1 + zs.hosts.len();
                    continue;
                }
            };
            let mut zone = Zone::new(spec);
            zone.names.reserve(zs.hosts.len());
            for host in zs.hosts {
                match HostSpec::prepare(&zone.key, &host) {
                    Ok(h) => zone.upsert_host(h),
                    Err(error) => {
                        warn!(%error, zone = %zs.zone.name, "snapshot: host skipped");
                        report.skipped += 1;
                    }
                }
            }
            zones.insert(zone.key.clone(), zone);
        }
        let rev = serial_of(revision);
        let old = {
            let mut data = self.write();
            for zone in zones.values_mut() {
                let serial = match data.zones.get(&zone.key) {
                    Some(old) if old.serial > rev => old.serial.wrapping_add(1),
                    _ => rev,
                };
                zone.finalize(serial);
            }
            let old = std::mem::replace(&mut data.zones, zones);
            self.state.send_replace(Some(revision));
            old
        };
        // Free the previous data outside the lock: dropping 100k hosts takes a while.
        drop(old);
        report
    }

    /// Applies a whole batch atomically and serves its revision. Revision order is the
    /// caller's business (see [`crate::follow()`]).
    pub fn apply(&self, batch: &Batch) -> ApplyReport {
        let mut report = ApplyReport::default();
        let ops: Vec<Op> = batch
            .changes
            .iter()
            .filter_map(|change| match Op::prepare(change) {
                Ok(op) => Some(op),
                Err(error) => {
                    warn!(%error, revision = batch.revision, "change skipped");
                    report.skipped += 1;
                    None
                }
            })
            .collect();
        let rev = serial_of(batch.revision);
        let mut garbage = Vec::new();
        {
            let mut data = self.write();
            let mut touched: Vec<Key> = Vec::new();
            for op in ops {
                if let Err(error) = data.apply_op(op, &mut touched, &mut garbage) {
                    warn!(%error, revision = batch.revision, "change skipped");
                    report.skipped += 1;
                }
            }
            for key in &touched {
                if let Some(zone) = data.zones.get_mut(key) {
                    let serial = if zone.serial >= rev {
                        zone.serial.wrapping_add(1)
                    } else {
                        rev
                    };
                    zone.finalize(serial);
                }
            }
            data.applied = Some(Applied {
                revision: batch.revision,
                at_ms: crate::fleet::now_ms(),
            });
            self.state.send_replace(Some(batch.revision));
        }
        drop(garbage);
        report
    }

    /// Looks up `qname` (as asked, any case) and `qtype`. `None`: the name is outside our
    /// zones (REFUSED). For `ANY`, `all_rrsets` chooses between every RRset of the name and
    /// just one (RFC 8482's minimal answer).
    pub fn lookup(&self, qname: &Name, qtype: RecordType, all_rrsets: bool) -> Option<Answer> {
        let key = NameKey::new(qname)?;
        let data = self.read();
        let zone = data.find_zone(&key)?;
        let mut answer = data.answer(zone, &key, qname, qtype, all_rrsets);
        answer.additional = data.additional(answer.answers());
        Some(answer)
    }

    /// [`Store::lookup`] for the wire path (`crate::wire`): `write` gets the answer when it
    /// is a plain one (see [`Plain`]), under the read lock, and its result is returned.
    /// `None` (nothing written) outside our zones and for every other answer: the apex, an
    /// alias, a host with more than its inline addresses; and for `ANY`, which the caller
    /// must not ask.
    pub(crate) fn plain<R>(
        &self,
        key: &NameKey,
        qtype: RecordType,
        write: impl FnOnce(Plain<'_>) -> R,
    ) -> Option<R> {
        let data = self.read();
        let zone = data.find_zone(key)?;
        // Always an SOA (`Zone::finalize`); were it not, the general path would answer.
        let RData::SOA(soa_data) = &zone.neg_soa.data else {
            return None;
        };
        let negative = |rcode| Plain::Negative {
            rcode,
            soa: &zone.neg_soa,
            soa_data,
            zone_labels: zone.labels,
        };
        let plain = match zone.find(key) {
            Found::Apex => return None,
            Found::NxDomain => negative(ResponseCode::NXDomain),
            Found::NoData => negative(ResponseCode::NoError),
            Found::Host(host) if host.extra.is_some() || qtype == RecordType::ANY => return None,
            Found::Host(host) => match qtype {
                RecordType::A if host.flags & INLINE_A != 0 => Plain::A(host.ttl, host.v4),
                RecordType::AAAA if host.flags & INLINE_AAAA != 0 => Plain::Aaaa(host.ttl, host.v6),
                _ => negative(ResponseCode::NoError),
            },
        };
        Some(write(plain))
    }

    fn read(&self) -> RwLockReadGuard<'_, Data> {
        // A panicking writer leaves whole-op state behind; keep serving what we have.
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// SOA serials are 32-bit; revisions beyond that wrap (RFC 1982 arithmetic copes).
pub fn serial_of(revision: Revision) -> u32 {
    revision as u32
}

enum Found<'a> {
    /// The zone's apex.
    Apex,
    /// A host, or the wildcard host above a name that does not exist.
    Host(&'a Host),
    NoData,
    NxDomain,
}

impl Data {
    /// The most specific zone containing the name.
    fn find_zone(&self, key: &NameKey) -> Option<&Zone> {
        if self.zones.is_empty() {
            return None;
        }
        (0..key.labels()).find_map(|skip| self.zones.get(key.suffix(skip)))
    }

    fn answer(
        &self,
        zone: &Zone,
        key: &NameKey,
        qname: &Name,
        qtype: RecordType,
        all_rrsets: bool,
    ) -> Answer {
        let pick = match qtype {
            RecordType::ANY if all_rrsets => Pick::All,
            RecordType::ANY => Pick::First,
            qtype => Pick::Type(qtype),
        };
        // Answers are owned by the name as asked: synthesised from a wildcard, and in the
        // asker's case (0x20 randomisation).
        let mut owner = qname.clone();
        owner.set_fqdn(true);
        let mut records = Records::None;
        match zone.find(key) {
            Found::NxDomain => return Answer::negative(ResponseCode::NXDomain, zone),
            Found::NoData => return Answer::negative(ResponseCode::NoError, zone),
            Found::Apex => zone.emit_apex(&owner, &mut Picker::new(pick), &mut records),
            Found::Host(host) => {
                let chase = matches!(pick, Pick::Type(t) if t != RecordType::CNAME);
                if chase && host.cname_target().is_some() {
                    return self.chase(host, key, &owner, qtype);
                }
                host.emit(&owner, &mut Picker::new(pick), &mut records);
            }
        }
        Answer::positive(records, zone)
    }

    /// An alias: its CNAME, then, while the target is in our zones, the target's answer
    /// (RFC 1034 §4.3.2; the RCODE is the final name's, RFC 6604). A loop stops at the
    /// first name already in the answer, as NSD does: `a → b → a` gives two CNAMEs.
    fn chase(&self, alias: &Host, alias_key: &NameKey, owner: &Name, qtype: RecordType) -> Answer {
        let mut records = Records::None;
        alias.emit(owner, &mut Picker::new(Pick::All), &mut records);
        let mut rcode = ResponseCode::NoError;
        let mut soa = None;
        let mut target = alias.cname_target().cloned();
        // Chains are short and rare: a list of the names seen is enough.
        let mut seen: Vec<Key> = vec![alias_key.full().into()];
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(name) = target.take() else { break };
            let Some(key) = NameKey::new(&name) else {
                break;
            };
            if seen.iter().any(|k| **k == *key.full()) {
                break;
            }
            seen.push(key.full().into());
            // Outside our zones: the resolver follows it.
            let Some(zone) = self.find_zone(&key) else {
                break;
            };
            let before = records.as_slice().len();
            match zone.find(&key) {
                Found::NxDomain => {
                    rcode = ResponseCode::NXDomain;
                    soa = Some(zone.neg_soa.clone());
                }
                Found::NoData => soa = Some(zone.neg_soa.clone()),
                Found::Apex => {
                    zone.emit_apex(&name, &mut Picker::new(Pick::Type(qtype)), &mut records);
                    if records.as_slice().len() == before {
                        soa = Some(zone.neg_soa.clone());
                    }
                }
                Found::Host(next) => {
                    if next.cname_target().is_some() {
                        next.emit(&name, &mut Picker::new(Pick::All), &mut records);
                        target = next.cname_target().cloned();
                        continue;
                    }
                    next.emit(&name, &mut Picker::new(Pick::Type(qtype)), &mut records);
                    if records.as_slice().len() == before {
                        soa = Some(zone.neg_soa.clone());
                    }
                }
            }
        }
        Answer {
            rcode,
            records,
            soa,
            additional: Records::None,
        }
    }

    /// The A and AAAA records of the NS and MX targets in `answers` that are in our zones
    /// (RFC 1034 §3.6.2's additional section processing; NSD does the same).
    fn additional(&self, answers: &[Record]) -> Records {
        let mut out = Records::None;
        let mut targets: Vec<&Name> = Vec::new();
        for record in answers {
            let target = match &record.data {
                RData::NS(ns) => &ns.0,
                RData::MX(mx) => &mx.exchange,
                _ => continue,
            };
            if targets.contains(&target) {
                continue;
            }
            targets.push(target);
            let Some(key) = NameKey::new(target) else {
                continue;
            };
            let Some(zone) = self.find_zone(&key) else {
                continue;
            };
            for rtype in [RecordType::A, RecordType::AAAA] {
                let picker = &mut Picker::new(Pick::Type(rtype));
                match zone.find(&key) {
                    Found::Apex => zone.emit_apex(target, picker, &mut out),
                    // An alias has no addresses of its own (and `Pick::Type` skips its CNAME).
                    Found::Host(host) => host.emit(target, picker, &mut out),
                    Found::NoData | Found::NxDomain => {}
                }
            }
        }
        out
    }

    fn apply_op(
        &mut self,
        op: Op,
        touched: &mut Vec<Key>,
        garbage: &mut Vec<Zone>,
    ) -> Result<(), String> {
        let zone_key = match &op {
            Op::ZoneUpsert(spec) => &spec.key,
            Op::ZoneDelete(key) => key,
            Op::HostUpsert { zone, .. } | Op::HostDelete { zone, .. } => zone,
        };
        if !touched.contains(zone_key) {
            touched.push(zone_key.clone());
        }
        match op {
            Op::ZoneUpsert(spec) => match self.zones.get_mut(&spec.key) {
                Some(zone) => zone.set_spec(*spec),
                None => {
                    let zone = Zone::new(*spec);
                    self.zones.insert(zone.key.clone(), zone);
                }
            },
            Op::ZoneDelete(key) => garbage.extend(self.zones.remove(&key)),
            Op::HostUpsert { zone, name, host } => self
                .zones
                .get_mut(&zone)
                .ok_or_else(|| format!("host {name}: no such zone"))?
                .upsert_host(host),
            Op::HostDelete { zone, host } => self
                .zones
                .get_mut(&zone)
                .ok_or("host delete: no such zone")?
                .delete_host(host.as_bytes()),
        }
        Ok(())
    }
}

/// A copy of a stored record owned by `owner`.
fn renamed(record: &Record, owner: &Name) -> Record {
    Record::from_rdata(owner.clone(), record.ttl, record.data.clone())
}

impl Zone {
    fn new(spec: ZoneSpec) -> Self {
        let labels = key_labels(&spec.key);
        let placeholder = Record::from_rdata(spec.name.clone(), 0, RData::A(A::new(0, 0, 0, 0)));
        let mut zone = Self {
            key: spec.key,
            name: spec.name,
            labels,
            data: spec.data,
            mname: spec.mname,
            rname: spec.rname,
            ns: spec.ns,
            serial: 0,
            soa: placeholder.clone(),
            neg_soa: Arc::new(placeholder),
            apex_host: None,
            names: HashMap::new(),
        };
        // Made consistent at once; the caller sets the real serial before publishing.
        zone.finalize(0);
        zone
    }

    fn set_spec(&mut self, spec: ZoneSpec) {
        self.data = spec.data;
        self.mname = spec.mname;
        self.rname = spec.rname;
        self.ns = spec.ns;
    }

    /// Rebuilds the SOA with `serial` after a change.
    fn finalize(&mut self, serial: u32) {
        self.serial = serial;
        let d = &self.data;
        self.soa = Record::from_rdata(
            self.name.clone(),
            d.ttl,
            RData::SOA(SOA::new(
                self.mname.clone(),
                self.rname.clone(),
                serial,
                clamp_i32(d.refresh),
                clamp_i32(d.retry),
                clamp_i32(d.expire),
                d.minimum,
            )),
        );
        let mut neg = self.soa.clone();
        neg.ttl = d.ttl.min(d.minimum);
        self.neg_soa = Arc::new(neg);
    }

    /// The apex's records: SOA, NS, then those of a host at the apex.
    fn emit_apex(&self, owner: &Name, picker: &mut Picker, out: &mut Records) {
        if picker.wants(RecordType::SOA) {
            out.push(renamed(&self.soa, owner));
        }
        if !self.ns.is_empty() && picker.wants(RecordType::NS) {
            out.extend(self.ns.iter().map(|ns| renamed(ns, owner)));
        }
        if let Some(host) = &self.apex_host {
            host.emit(owner, picker, out);
        }
    }

    /// Where `key` (inside this zone) stands: the apex, an existing name, an empty
    /// non-terminal, or a name that does not exist, possibly covered by a wildcard host above
    /// it.
    fn find<'a>(&'a self, key: &NameKey) -> Found<'a> {
        let below_apex = key.labels().saturating_sub(self.labels);
        if below_apex == 0 {
            return Found::Apex;
        }
        // Keys relative to the apex: the name's key without the zone's.
        let relative = |skip: usize| {
            let suffix = key.suffix(skip);
            &suffix[..suffix.len().saturating_sub(self.key.len())]
        };
        if let Some(host) = self.names.get(relative(0)) {
            return match host.is_host() {
                true => Found::Host(host),
                false => Found::NoData,
            };
        }
        // The closest existing ancestor decides (RFC 4592): a wildcard there, or nothing.
        for skip in 1..below_apex {
            if let Some(host) = self.names.get(relative(skip)) {
                return match host.is_host() && host.is_wildcard() {
                    true => Found::Host(host),
                    false => Found::NxDomain,
                };
            }
        }
        // Only the apex host's own records are synthesised, never the SOA/NS.
        match &self.apex_host {
            Some(host) if host.is_wildcard() => Found::Host(host),
            _ => Found::NxDomain,
        }
    }

    /// The ancestors strictly between a host and the apex, as relative keys.
    fn ancestors(host: &[u8]) -> impl Iterator<Item = &[u8]> {
        (1..key_labels(host)).map(move |skip| key_suffix(host, skip))
    }

    fn upsert_host(&mut self, spec: HostSpec) {
        let HostSpec { key, host } = spec;
        if key.as_bytes().is_empty() {
            self.apex_host = Some(host);
            return;
        }
        let existed = self.names.get(key.as_bytes()).is_some_and(Host::is_host);
        if !existed {
            for ancestor in Self::ancestors(key.as_bytes()) {
                match self.names.get_mut(ancestor) {
                    Some(entry) => entry.descendants += 1,
                    None => {
                        self.names.insert(HostKey::new(ancestor), Host::empty(1));
                    }
                }
            }
        }
        match self.names.entry(key) {
            Entry::Occupied(mut entry) => {
                let descendants = entry.get().descendants;
                *entry.get_mut() = Host {
                    descendants,
                    ..host
                };
            }
            Entry::Vacant(entry) => {
                entry.insert(host);
            }
        }
    }

    fn delete_host(&mut self, key: &[u8]) {
        if key.is_empty() {
            self.apex_host = None;
            return;
        }
        let Some(entry) = self.names.get_mut(key) else {
            return;
        };
        if !entry.is_host() {
            return; // an empty non-terminal: no host to delete
        }
        if entry.descendants == 0 {
            self.names.remove(key);
        } else {
            *entry = Host::empty(entry.descendants);
        }
        for ancestor in Self::ancestors(key) {
            if let Some(entry) = self.names.get_mut(ancestor) {
                entry.descendants = entry.descendants.saturating_sub(1);
                if entry.descendants == 0 && !entry.is_host() {
                    self.names.remove(ancestor);
                }
            }
        }
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A change with its names parsed and hosts built, ready to go under the lock.
enum Op {
    ZoneUpsert(Box<ZoneSpec>),
    ZoneDelete(Key),
    HostUpsert {
        zone: Key,
        name: Box<str>,
        host: HostSpec,
    },
    HostDelete {
        zone: Key,
        host: HostKey,
    },
}

impl Op {
    fn prepare(change: &Change) -> Result<Self, String> {
        Ok(match change {
            Change::ZoneUpsert(data) => Op::ZoneUpsert(Box::new(ZoneSpec::prepare(data)?)),
            Change::ZoneDelete { zone } => Op::ZoneDelete(parse_key(zone)?.full().into()),
            Change::HostUpsert { zone, host } => {
                let zone: Key = parse_key(zone)?.full().into();
                let name = host.name.as_str().into();
                let host = HostSpec::prepare(&zone, host)?;
                Op::HostUpsert { zone, name, host }
            }
            Change::HostDelete { zone, name } => {
                let zone: Key = parse_key(zone)?.full().into();
                let host = relative_key(&parse_key(name)?, &zone, name)?;
                Op::HostDelete { zone, host }
            }
        })
    }
}

/// A host's key relative to its zone; an error when the host is not inside it.
fn relative_key(host: &NameKey, zone: &[u8], text: &str) -> Result<HostKey, String> {
    let host = host.full();
    let depth = key_labels(host).checked_sub(key_labels(zone));
    match depth {
        Some(depth) if key_suffix(host, depth) == zone => {
            Ok(HostKey::new(&host[..host.len() - zone.len()]))
        }
        _ => Err(format!("host {text:?} is not inside its zone")),
    }
}

struct ZoneSpec {
    key: Key,
    name: Name,
    data: ZoneData,
    mname: Name,
    rname: Name,
    ns: Box<[Record]>,
}

impl ZoneSpec {
    fn prepare(data: &ZoneData) -> Result<Self, String> {
        let (name, key) = parse_name(&data.name)?;
        let (mname, _) = parse_name(&data.mname)?;
        let (rname, _) = parse_name(&data.rname)?;
        let ns: Vec<Record> = data
            .ns
            .iter()
            .filter_map(|ns| match parse_name(ns) {
                Ok((ns, _)) => Some(Record::from_rdata(
                    name.clone(),
                    data.ttl,
                    RData::NS(NS(ns)),
                )),
                Err(error) => {
                    warn!(%error, zone = %data.name, "NS skipped");
                    None
                }
            })
            .collect();
        Ok(Self {
            key,
            name,
            data: data.clone(),
            mname,
            rname,
            ns: ns.into_boxed_slice(),
        })
    }
}

struct HostSpec {
    /// Relative to the zone: empty for a host at the apex.
    key: HostKey,
    host: Host,
}

impl HostSpec {
    fn prepare(zone: &[u8], host: &HostRecords) -> Result<Self, String> {
        let key = relative_key(&parse_key(&host.name)?, zone, &host.name)?;
        if host.cname.is_some() && key.as_bytes().is_empty() {
            return Err(format!(
                "host {:?}: a CNAME cannot be at the apex",
                host.name
            ));
        }
        Ok(Self {
            key,
            host: build_host(host)?,
        })
    }
}

/// Builds a host's compact form; a bad sub-record (an invalid MX name) is skipped, not the
/// host.
fn build_host(host: &HostRecords) -> Result<Host, String> {
    let mut flags = HOST;
    if host.wildcard {
        flags |= WILDCARD;
    }
    let compact = |flags, extra: Vec<RData>| Host {
        ttl: host.ttl,
        descendants: 0,
        v4: Ipv4Addr::UNSPECIFIED,
        v6: Ipv6Addr::UNSPECIFIED,
        flags,
        extra: (!extra.is_empty()).then(|| {
            Box::new(Extra {
                records: extra.into_boxed_slice(),
            })
        }),
    };
    if let Some(target) = &host.cname {
        let (target, _) = parse_name(target)?;
        return Ok(compact(flags | ALIAS, vec![RData::CNAME(CNAME(target))]));
    }
    let mx: Vec<RData> = dedup(&host.mx)
        .filter_map(|mx| match parse_name(&mx.exchange) {
            Ok((exchange, _)) => Some(RData::MX(MX::new(mx.preference, exchange))),
            Err(error) => {
                warn!(%error, host = %host.name, "MX skipped");
                None
            }
        })
        .collect();
    let txt = dedup(&host.txt).map(|s| {
        let chunks: Vec<&[u8]> = if s.is_empty() {
            vec![&[][..]]
        } else {
            s.as_bytes().chunks(TXT_CHUNK).collect()
        };
        RData::TXT(TXT::from_bytes(chunks))
    });
    // The common host: at most one address of each family, inline.
    let one = |n: usize| n <= 1;
    if mx.is_empty()
        && host.txt.is_empty()
        && one(dedup(&host.a).count())
        && one(dedup(&host.aaaa).count())
    {
        let mut simple = compact(flags, Vec::new());
        if let Some(&v4) = host.a.first() {
            simple.v4 = v4;
            simple.flags |= INLINE_A;
        }
        if let Some(&v6) = host.aaaa.first() {
            simple.v6 = v6;
            simple.flags |= INLINE_AAAA;
        }
        return Ok(simple);
    }
    let records: Vec<RData> = dedup(&host.a)
        .map(|ip| RData::A(A(*ip)))
        .chain(dedup(&host.aaaa).map(|ip| RData::AAAA(AAAA(*ip))))
        .chain(mx)
        .chain(txt)
        .collect();
    Ok(compact(flags, records))
}

/// The items in order, without repeats (an RRset holds each record once).
fn dedup<T: PartialEq>(items: &[T]) -> impl Iterator<Item = &T> {
    items
        .iter()
        .enumerate()
        .filter(move |(i, item)| !items[..*i].contains(item))
        .map(|(_, item)| item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::{Mx, ZoneSnapshot};
    use crate::fixtures::{host, zone_data};

    fn store_with(hosts: Vec<HostRecords>) -> Store {
        let store = Store::new();
        store.load(Snapshot {
            revision: 10,
            zones: vec![ZoneSnapshot {
                zone: zone_data("dyn.example"),
                hosts,
            }],
        });
        store
    }

    fn q(store: &Store, name: &str, qtype: RecordType) -> Option<Answer> {
        store.lookup(&Name::from_ascii(name).expect("name"), qtype, false)
    }

    fn entries(store: &Store) -> usize {
        store.name_count()
    }

    #[test]
    fn empty_non_terminals_are_counted_and_removed_with_their_last_host() {
        let store = store_with(vec![
            host("a.b.c.dyn.example", [1, 1, 1, 1]),
            host("x.b.c.dyn.example", [1, 1, 1, 2]),
        ]);
        // apex, a.b.c, x.b.c, b.c, c
        assert_eq!(entries(&store), 5);
        let del = |rev, name: &str| {
            store.apply(&Batch {
                revision: rev,
                changes: vec![Change::HostDelete {
                    zone: "dyn.example".into(),
                    name: name.into(),
                }],
            })
        };
        del(11, "a.b.c.dyn.example");
        assert_eq!(entries(&store), 4);
        let ans = q(&store, "b.c.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.rcode(), ResponseCode::NoError);
        del(12, "x.b.c.dyn.example");
        assert_eq!(entries(&store), 1);
        let ans = q(&store, "c.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.rcode(), ResponseCode::NXDomain);
        // Deleting again, or deleting a name that never existed, is a no-op.
        del(13, "x.b.c.dyn.example");
        del(14, "nothing.dyn.example");
        assert_eq!(entries(&store), 1);
    }

    #[test]
    fn a_host_over_an_empty_non_terminal_keeps_its_descendants() {
        let store = store_with(vec![host("a.b.dyn.example", [1, 1, 1, 1])]);
        store.apply(&Batch {
            revision: 11,
            changes: vec![Change::HostUpsert {
                zone: "dyn.example".into(),
                host: host("b.dyn.example", [2, 2, 2, 2]),
            }],
        });
        store.apply(&Batch {
            revision: 12,
            changes: vec![Change::HostDelete {
                zone: "dyn.example".into(),
                name: "b.dyn.example".into(),
            }],
        });
        let ans = q(&store, "b.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.rcode(), ResponseCode::NoError);
        assert!(ans.answers().is_empty());
        let ans = q(&store, "a.b.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1);
    }

    #[test]
    fn serial_follows_revisions_and_never_goes_back() {
        let store = store_with(vec![]);
        assert_eq!(store.serial("dyn.example"), Some(10));
        store.apply(&Batch {
            revision: 11,
            changes: vec![Change::HostUpsert {
                zone: "dyn.example".into(),
                host: host("a.dyn.example", [1, 1, 1, 1]),
            }],
        });
        assert_eq!(store.serial("dyn.example"), Some(11));
        // A batch replayed with an old revision still moves the serial forward.
        store.apply(&Batch {
            revision: 5,
            changes: vec![Change::HostDelete {
                zone: "dyn.example".into(),
                name: "a.dyn.example".into(),
            }],
        });
        assert_eq!(store.serial("dyn.example"), Some(12));
        // So does an older snapshot.
        store.load(Snapshot {
            revision: 3,
            zones: vec![ZoneSnapshot {
                zone: zone_data("dyn.example"),
                hosts: vec![],
            }],
        });
        assert_eq!(store.serial("dyn.example"), Some(13));
    }

    /// What a node reports: each zone's serial, and the last batch applied (a snapshot
    /// load is no propagation and leaves it).
    #[test]
    fn serials_and_the_last_batch_applied_are_reported() {
        let store = store_with(vec![]);
        assert_eq!(store.serials(), vec![("dyn.example".to_owned(), 10)]);
        assert_eq!(store.last_applied(), None, "a load is not a batch");
        let before = crate::fleet::now_ms();
        store.apply(&Batch {
            revision: 11,
            changes: vec![Change::HostUpsert {
                zone: "dyn.example".into(),
                host: host("a.dyn.example", [1, 1, 1, 1]),
            }],
        });
        let applied = store.last_applied().expect("a batch was applied");
        assert_eq!(applied.revision, 11);
        assert!(applied.at_ms >= before && applied.at_ms <= crate::fleet::now_ms());
        assert_eq!(store.serials(), vec![("dyn.example".to_owned(), 11)]);
        store.load(Snapshot {
            revision: 12,
            zones: vec![ZoneSnapshot {
                zone: zone_data("dyn.example"),
                hosts: vec![],
            }],
        });
        assert_eq!(store.last_applied(), Some(applied));
    }

    #[test]
    fn long_txt_strings_are_split_and_duplicates_dropped() {
        let long = "x".repeat(600);
        let store = store_with(vec![HostRecords {
            name: "t.dyn.example".into(),
            ttl: 60,
            txt: vec![long.clone(), long, String::new()],
            mx: vec![
                Mx {
                    preference: 10,
                    exchange: "mx.dyn.example".into(),
                },
                Mx {
                    preference: 20,
                    exchange: "bad..name".into(),
                },
            ],
            ..Default::default()
        }]);
        let ans = q(&store, "t.dyn.example.", RecordType::TXT).expect("ours");
        assert_eq!(ans.answers().len(), 2);
        let RData::TXT(txt) = &ans.answers()[0].data else {
            panic!("not TXT")
        };
        let lens: Vec<usize> = txt.txt_data.iter().map(|s| s.len()).collect();
        assert_eq!(lens, vec![255, 255, 90]);
        let ans = q(&store, "t.dyn.example.", RecordType::MX).expect("ours");
        assert_eq!(ans.answers().len(), 1);
    }

    #[test]
    fn invalid_changes_are_skipped_and_the_rest_applied() {
        let store = store_with(vec![]);
        let report = store.apply(&Batch {
            revision: 11,
            changes: vec![
                Change::HostUpsert {
                    zone: "dyn.example".into(),
                    host: host("elsewhere.example", [1, 1, 1, 1]),
                },
                Change::HostUpsert {
                    zone: "nozone.example".into(),
                    host: host("a.nozone.example", [1, 1, 1, 1]),
                },
                Change::HostUpsert {
                    zone: "dyn.example".into(),
                    host: HostRecords {
                        cname: Some("x.example".into()),
                        ..host("dyn.example", [1, 1, 1, 1])
                    },
                },
                Change::HostUpsert {
                    zone: "dyn.example".into(),
                    host: host("ok.dyn.example", [1, 1, 1, 1]),
                },
            ],
        });
        assert_eq!(report.skipped, 3);
        assert_eq!(store.revision(), 11);
        let ans = q(&store, "ok.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1);
    }

    #[test]
    fn most_specific_zone_wins() {
        let store = Store::new();
        store.load(Snapshot {
            revision: 1,
            zones: vec![
                ZoneSnapshot {
                    zone: zone_data("example"),
                    hosts: vec![host("a.sub.example", [1, 1, 1, 1])],
                },
                ZoneSnapshot {
                    zone: zone_data("sub.example"),
                    hosts: vec![],
                },
            ],
        });
        let ans = q(&store, "a.sub.example.", RecordType::A).expect("ours");
        assert_eq!(ans.rcode(), ResponseCode::NXDomain);
        let soa = ans.authority().expect("soa");
        assert_eq!(soa.name.to_ascii(), "sub.example.");
        assert!(q(&store, "other.", RecordType::A).is_none());
    }

    #[test]
    fn apex_host_records_and_apex_wildcard() {
        let store = store_with(vec![HostRecords {
            wildcard: true,
            ..host("dyn.example", [9, 9, 9, 9])
        }]);
        let ans = q(&store, "dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1);
        let ans = q(&store, "dyn.example.", RecordType::NS).expect("ours");
        assert_eq!(ans.answers().len(), 2);
        // The wildcard synthesises the host's records, never the apex's SOA/NS.
        let ans = q(&store, "x.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1);
        assert_eq!(ans.answers()[0].name.to_ascii(), "x.dyn.example.");
        let ans = q(&store, "x.dyn.example.", RecordType::NS).expect("ours");
        assert!(ans.answers().is_empty());
        assert_eq!(ans.rcode(), ResponseCode::NoError);
    }

    /// Real threads: readers racing a writer whose batches would leave a dangling CNAME if
    /// a reader ever saw one half-applied.
    #[test]
    fn readers_never_see_half_a_batch() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let alias = |target: usize| HostRecords {
            name: "moving.dyn.example".into(),
            ttl: 60,
            cname: Some(format!("t{target}.dyn.example")),
            ..Default::default()
        };
        let target = |i: usize| host(&format!("t{i}.dyn.example"), (i as u32).to_be_bytes());
        let store = Arc::new(store_with(vec![target(0), alias(0)]));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, done) = (store.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut seen = 0usize;
                    while !done.load(Ordering::Relaxed) {
                        let ans = q(&store, "moving.dyn.example.", RecordType::A).expect("ours");
                        assert_eq!(ans.rcode(), ResponseCode::NoError);
                        let [cname, a] = ans.answers() else {
                            panic!("CNAME and A expected: {:?}", ans.answers())
                        };
                        let (RData::CNAME(t), RData::A(ip)) = (&cname.data, &a.data) else {
                            panic!("CNAME then A")
                        };
                        let i: u32 = t.0.to_ascii()[1..]
                            .split('.')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .expect("t<i>");
                        assert_eq!(u32::from(ip.0), i);
                        seen += 1;
                    }
                    seen
                })
            })
            .collect();
        for i in 1..3000usize {
            store.apply(&Batch {
                revision: 10 + i as u64,
                changes: vec![
                    Change::HostDelete {
                        zone: "dyn.example".into(),
                        name: format!("t{}.dyn.example", i - 1),
                    },
                    Change::HostUpsert {
                        zone: "dyn.example".into(),
                        host: alias(i),
                    },
                    Change::HostUpsert {
                        zone: "dyn.example".into(),
                        host: target(i),
                    },
                ],
            });
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().expect("reader") > 0);
        }
        // Only the apex, the alias and the last target are left.
        assert_eq!(store.name_count(), 3);
    }

    #[test]
    fn a_name_costs_one_64_byte_slot() {
        assert_eq!(
            std::mem::size_of::<HostKey>() + std::mem::size_of::<Host>(),
            64
        );
    }

    fn any(store: &Store, name: &str, all: bool) -> Vec<RecordType> {
        let name = Name::from_ascii(name).expect("name");
        let ans = store.lookup(&name, RecordType::ANY, all).expect("ours");
        ans.answers().iter().map(Record::record_type).collect()
    }

    #[test]
    fn hosts_beyond_one_address_per_family_keep_every_record_in_order() {
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("v6");
        let store = store_with(vec![
            HostRecords {
                name: "m.dyn.example".into(),
                ttl: 90,
                a: vec![
                    [1, 1, 1, 1].into(),
                    [2, 2, 2, 2].into(),
                    [1, 1, 1, 1].into(),
                ],
                aaaa: vec![v6("2001:db8::1")],
                ..Default::default()
            },
            HostRecords {
                name: "dual.dyn.example".into(),
                ttl: 30,
                a: vec![[3, 3, 3, 3].into()],
                aaaa: vec![v6("2001:db8::3"), v6("2001:db8::3")],
                ..Default::default()
            },
            host("dyn.example", [9, 9, 9, 9]),
        ]);
        let ans = q(&store, "m.dyn.example.", RecordType::A).expect("ours");
        let ips: Vec<String> = ans.answers().iter().map(|r| r.data.to_string()).collect();
        assert_eq!(ips, ["1.1.1.1", "2.2.2.2"]);
        assert!(ans.answers().iter().all(|r| r.ttl == 90));
        assert!(ans.authority().is_none());
        let ans = q(&store, "dual.dyn.example.", RecordType::AAAA).expect("ours");
        assert_eq!(ans.answers().len(), 1);
        assert_eq!(ans.answers()[0].ttl, 30);
        // NODATA: the SOA, no records.
        let ans = q(&store, "dual.dyn.example.", RecordType::MX).expect("ours");
        assert_eq!(ans.rcode(), ResponseCode::NoError);
        assert!(ans.answers().is_empty());
        assert!(ans.authority().is_some());
        // ANY: the first RRset over UDP, all of them over TCP.
        use RecordType::{A, AAAA, NS, SOA};
        assert_eq!(any(&store, "m.dyn.example.", false), [A, A]);
        assert_eq!(any(&store, "m.dyn.example.", true), [A, A, AAAA]);
        assert_eq!(any(&store, "dual.dyn.example.", true), [A, AAAA]);
        assert_eq!(any(&store, "dyn.example.", false), [SOA]);
        assert_eq!(any(&store, "dyn.example.", true), [SOA, NS, NS, A]);
    }

    #[test]
    fn answers_are_owned_by_the_name_as_asked() {
        let store = store_with(vec![
            HostRecords {
                wildcard: true,
                ..host("w.dyn.example", [1, 1, 1, 1])
            },
            HostRecords {
                name: "c.dyn.example".into(),
                ttl: 60,
                cname: Some("W.dyn.example".into()),
                ..Default::default()
            },
        ]);
        let owners = |name: &str, qtype| -> Vec<String> {
            let ans = q(&store, name, qtype).expect("ours");
            ans.answers().iter().map(|r| r.name.to_ascii()).collect()
        };
        assert_eq!(owners("W.Dyn.example.", RecordType::A), ["W.Dyn.example."]);
        assert_eq!(
            owners("X.y.W.dyn.example.", RecordType::A),
            ["X.y.W.dyn.example."]
        );
        assert_eq!(owners("DYN.example.", RecordType::SOA), ["DYN.example."]);
        // A chase: the alias as asked, then the target as stored (lowercase).
        assert_eq!(
            owners("C.dyn.example.", RecordType::A),
            ["C.dyn.example.", "w.dyn.example."]
        );
    }

    #[test]
    fn replacing_a_host_changes_its_shape_and_keeps_the_tree() {
        let store = store_with(vec![host("a.b.dyn.example", [1, 1, 1, 1])]);
        let upsert = |rev, host: HostRecords| {
            store.apply(&Batch {
                revision: rev,
                changes: vec![Change::HostUpsert {
                    zone: "dyn.example".into(),
                    host,
                }],
            })
        };
        upsert(
            11,
            HostRecords {
                txt: vec!["t".into()],
                ..host("a.b.dyn.example", [2, 2, 2, 2])
            },
        );
        assert_eq!(entries(&store), 3);
        let ans = q(&store, "a.b.dyn.example.", RecordType::TXT).expect("ours");
        assert_eq!(ans.answers().len(), 1);
        upsert(12, host("a.b.dyn.example", [3, 3, 3, 3]));
        assert_eq!(entries(&store), 3);
        let ans = q(&store, "a.b.dyn.example.", RecordType::TXT).expect("ours");
        assert!(ans.answers().is_empty());
        let ans = q(&store, "a.b.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers()[0].data.to_string(), "3.3.3.3");
        // A long name (a boxed key) behaves like a short one.
        let long = format!("{}.dyn.example", "x".repeat(40));
        upsert(13, host(&long, [4, 4, 4, 4]));
        let ans = q(&store, &format!("{long}."), RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1);
        assert_eq!(entries(&store), 4);
    }

    #[test]
    fn cname_loops_stop() {
        let alias = |name: &str, target: &str| HostRecords {
            name: name.into(),
            ttl: 60,
            cname: Some(target.into()),
            ..Default::default()
        };
        let store = store_with(vec![
            alias("a.dyn.example", "b.dyn.example"),
            alias("b.dyn.example", "a.dyn.example"),
        ]);
        let ans = q(&store, "a.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 2, "stops at the first repeated name");
        assert_eq!(ans.rcode(), ResponseCode::NoError);
        // A longer loop, entered from a name outside it.
        let store = store_with(vec![
            alias("x.dyn.example", "a.dyn.example"),
            alias("a.dyn.example", "b.dyn.example"),
            alias("b.dyn.example", "c.dyn.example"),
            alias("c.dyn.example", "A.dyn.example"),
        ]);
        let ans = q(&store, "x.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 4);
        // A chain longer than the bound still stops.
        let chain: Vec<_> = (0..20)
            .map(|i| {
                alias(
                    &format!("c{i}.dyn.example"),
                    &format!("c{}.dyn.example", i + 1),
                )
            })
            .collect();
        let ans = q(&store_with(chain), "c0.dyn.example.", RecordType::A).expect("ours");
        assert_eq!(ans.answers().len(), 1 + MAX_CNAME_CHAIN);
    }
}
