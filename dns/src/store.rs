//! The in-memory store of every zone a node serves, built for fast lookups.
//!
//! Layout: one `RwLock` over a map of zones, each zone a `HashMap` from a name's key (see
//! `names.rs`) to an entry. Everything a query returns is pre-built as hickory
//! [`Record`]s inside immutable, `Arc`-shared nodes, so a lookup is a few hash probes and an
//! `Arc` clone; the lock is released before the response is sent (never held across an
//! `.await`).
//!
//! Writers prepare records outside the lock and then apply a whole batch under one write
//! lock, so readers never see half a batch, and one change costs O(depth of the name), not
//! O(size of the zone) (copy-on-write maps were measured far too slow at 100k names).
//!
//! Every name that exists, either as a host or as an ancestor of one (an empty
//! non-terminal), has an entry, so NXDOMAIN versus NODATA is one probe per label.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use tokio::sync::watch;
use tracing::warn;

use crate::feed::{Batch, Change, HostRecords, Revision, Snapshot, ZoneData};
use crate::names::{Key, NameKey, key_labels, key_suffix, parse_name, record_wire_len};

/// How many CNAMEs a lookup follows inside our own zones before giving up (loop guard).
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
}

struct Zone {
    key: Key,
    name: Name,
    labels: usize,
    data: ZoneData,
    mname: Name,
    rname: Name,
    ns: Option<RRset>,
    serial: u32,
    /// Records of a host whose name is the apex itself (merged into the apex node).
    apex_host: Option<Arc<Node>>,
    /// The SOA for the authority section of negative answers (TTL = min(ttl, minimum)).
    neg_soa: Arc<Record>,
    names: HashMap<Key, Entry>,
}

/// A name that exists: a host (`node`), an ancestor of hosts (`descendants > 0`), or both.
struct Entry {
    node: Option<Arc<Node>>,
    /// Hosts strictly below this name: while non-zero the name is an empty non-terminal
    /// rather than non-existent.
    descendants: u32,
}

/// Everything one name serves, pre-built.
pub(crate) struct Node {
    rrsets: Box<[RRset]>,
    /// Set for an alias host: `rrsets` is then exactly its CNAME. Boxed: most hosts are not
    /// aliases, and a `Name` is 80 bytes.
    cname_target: Option<Box<Name>>,
    /// Names below this one that do not exist answer with this node's records.
    wildcard: bool,
}

#[derive(Clone)]
struct RRset {
    rtype: RecordType,
    records: Box<[Record]>,
    /// Uncompressed size on the wire, to skip the exact truncation check for small answers.
    wire_len: usize,
}

impl RRset {
    fn new(rtype: RecordType, records: Vec<Record>) -> Self {
        let wire_len = records.iter().map(record_wire_len).sum();
        Self {
            rtype,
            records: records.into_boxed_slice(),
            wire_len,
        }
    }
}

impl Node {
    fn rrset(&self, rtype: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

/// The result of a lookup inside our zones.
pub struct Answer {
    rcode: ResponseCode,
    records: Records,
    /// The zone's SOA for the authority section (negative answers only).
    soa: Option<Arc<Record>>,
}

enum Records {
    None,
    /// The stored records as they are (the common case: no copy).
    Shared(Arc<Node>, usize),
    /// Copies with another owner name (wildcard, the asker's case) or a CNAME chain.
    Owned(Vec<Record>),
}

impl Answer {
    fn negative(rcode: ResponseCode, zone: &Zone) -> Self {
        Self {
            rcode,
            records: Records::None,
            soa: Some(zone.neg_soa.clone()),
        }
    }

    /// NOERROR (also for NODATA) or NXDOMAIN.
    pub fn rcode(&self) -> ResponseCode {
        self.rcode
    }

    /// The answer section.
    pub fn answers(&self) -> &[Record] {
        match &self.records {
            Records::None => &[],
            Records::Shared(node, i) => node.rrsets.get(*i).map_or(&[], |r| &r.records),
            Records::Owned(v) => v,
        }
    }

    /// The authority section: the zone's SOA for NXDOMAIN and NODATA.
    pub fn authority(&self) -> Option<&Record> {
        self.soa.as_deref()
    }

    /// An upper bound of the answer and authority sections' size on the wire.
    pub(crate) fn wire_len_bound(&self) -> usize {
        let answers = match &self.records {
            Records::None => 0,
            Records::Shared(node, i) => node.rrsets.get(*i).map_or(0, |r| r.wire_len),
            Records::Owned(v) => v.iter().map(record_wire_len).sum(),
        };
        answers + self.soa.as_deref().map_or(0, record_wire_len)
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
        self.read().zones.values().map(|z| z.names.len()).sum()
    }

    /// A zone's current SOA serial.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let (_, key) = parse_name(zone).ok()?;
        self.read().zones.get(&key).map(|z| z.serial)
    }

    /// Replaces everything with `snapshot`, atomically. Every zone's serial becomes the
    /// snapshot's revision (or one more than its previous serial if that was higher, so that
    /// a serial never goes back).
    pub fn load(&self, snapshot: Snapshot) -> ApplyReport {
        let mut report = ApplyReport::default();
        let mut zones = HashMap::with_capacity(snapshot.zones.len());
        for zs in &snapshot.zones {
            let spec = match ZoneSpec::prepare(&zs.zone) {
                Ok(spec) => spec,
                Err(error) => {
                    warn!(%error, "snapshot: zone skipped");
                    report.skipped += 1 + zs.hosts.len();
                    continue;
                }
            };
            let mut zone = Zone::new(spec);
            zone.names.reserve(zs.hosts.len() + zs.hosts.len() / 8);
            for host in &zs.hosts {
                match HostSpec::prepare(&zone.key, host) {
                    Ok(h) => zone.upsert_host(h),
                    Err(error) => {
                        warn!(%error, zone = %zs.zone.name, "snapshot: host skipped");
                        report.skipped += 1;
                    }
                }
            }
            zones.insert(zone.key.clone(), zone);
        }
        let rev = serial_of(snapshot.revision);
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
            self.state.send_replace(Some(snapshot.revision));
            old
        };
        // Free the previous data outside the lock: dropping 100k nodes takes a while.
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
        Some(data.answer(zone, &key, qname, qtype, all_rrsets))
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
fn serial_of(revision: Revision) -> u32 {
    revision as u32
}

enum Found<'a> {
    /// The name exists with records; `true` when synthesised from a wildcard.
    Node(&'a Arc<Node>, bool),
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
        let (node, synthesized) = match zone.find(key) {
            Found::NxDomain => return Answer::negative(ResponseCode::NXDomain, zone),
            Found::NoData => return Answer::negative(ResponseCode::NoError, zone),
            Found::Node(node, synthesized) => (node, synthesized),
        };
        // Stored owners are lowercase: copy when the asker's name differs.
        let rename = synthesized || key.had_upper();
        if node.cname_target.is_some() && qtype != RecordType::CNAME && qtype != RecordType::ANY {
            return self.chase(node, qname, rename, qtype);
        }
        if qtype == RecordType::ANY {
            let take = if all_rrsets { node.rrsets.len() } else { 1 };
            let records: Vec<Record> = node
                .rrsets
                .iter()
                .take(take)
                .flat_map(|r| r.records.iter())
                .map(|r| owned(r, rename.then_some(qname)))
                .collect();
            if records.is_empty() {
                return Answer::negative(ResponseCode::NoError, zone);
            }
            return Answer {
                rcode: ResponseCode::NoError,
                records: Records::Owned(records),
                soa: None,
            };
        }
        match node.rrsets.iter().position(|r| r.rtype == qtype) {
            Some(i) if !rename => Answer {
                rcode: ResponseCode::NoError,
                records: Records::Shared(node.clone(), i),
                soa: None,
            },
            Some(i) => Answer {
                rcode: ResponseCode::NoError,
                records: Records::Owned(
                    node.rrsets[i]
                        .records
                        .iter()
                        .map(|r| owned(r, Some(qname)))
                        .collect(),
                ),
                soa: None,
            },
            None => Answer::negative(ResponseCode::NoError, zone),
        }
    }

    /// An alias: its CNAME, then, while the target is in our zones, the target's answer
    /// (RFC 1034 §4.3.2; the RCODE is the final name's, RFC 6604).
    fn chase(&self, node: &Node, qname: &Name, rename: bool, qtype: RecordType) -> Answer {
        let mut records: Vec<Record> = node
            .rrsets
            .iter()
            .flat_map(|r| r.records.iter())
            .map(|r| owned(r, rename.then_some(qname)))
            .collect();
        let mut rcode = ResponseCode::NoError;
        let mut soa = None;
        let mut target = node.cname_target.clone();
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(name) = target.take() else { break };
            let Some(key) = NameKey::new(&name) else {
                break;
            };
            // Outside our zones: the resolver follows it.
            let Some(zone) = self.find_zone(&key) else {
                break;
            };
            match zone.find(&key) {
                Found::NxDomain => {
                    rcode = ResponseCode::NXDomain;
                    soa = Some(zone.neg_soa.clone());
                }
                Found::NoData => soa = Some(zone.neg_soa.clone()),
                Found::Node(next, synthesized) => {
                    let owner = synthesized.then_some(&*name);
                    if next.cname_target.is_some() {
                        records.extend(
                            next.rrsets
                                .iter()
                                .flat_map(|r| r.records.iter())
                                .map(|r| owned(r, owner)),
                        );
                        target = next.cname_target.clone();
                        continue;
                    }
                    match next.rrset(qtype) {
                        Some(rrset) => {
                            records.extend(rrset.records.iter().map(|r| owned(r, owner)))
                        }
                        None => soa = Some(zone.neg_soa.clone()),
                    }
                }
            }
        }
        Answer {
            rcode,
            records: Records::Owned(records),
            soa,
        }
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
            Op::HostUpsert { zone, host } => self
                .zones
                .get_mut(&zone)
                .ok_or_else(|| format!("host {}: no such zone", host.name))?
                .upsert_host(host),
            Op::HostDelete { zone, host } => self
                .zones
                .get_mut(&zone)
                .ok_or("host delete: no such zone")?
                .delete_host(&host),
        }
        Ok(())
    }
}

/// A copy of a stored record, re-owned when `owner` is given.
fn owned(record: &Record, owner: Option<&Name>) -> Record {
    let mut copy = record.clone();
    if let Some(owner) = owner {
        copy.name = owner.clone();
    }
    copy
}

impl Zone {
    fn new(spec: ZoneSpec) -> Self {
        let labels = key_labels(&spec.key);
        let placeholder = Arc::new(Record::from_rdata(
            spec.name.clone(),
            0,
            RData::A(A::new(0, 0, 0, 0)),
        ));
        let mut zone = Self {
            key: spec.key,
            name: spec.name,
            labels,
            data: spec.data,
            mname: spec.mname,
            rname: spec.rname,
            ns: spec.ns,
            serial: 0,
            apex_host: None,
            neg_soa: placeholder,
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

    /// Rebuilds the apex (SOA with `serial`, NS, a host at the apex) after a change.
    fn finalize(&mut self, serial: u32) {
        self.serial = serial;
        let d = &self.data;
        let soa = Record::from_rdata(
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
        let mut neg = soa.clone();
        neg.ttl = d.ttl.min(d.minimum);
        self.neg_soa = Arc::new(neg);
        let mut rrsets = vec![RRset::new(RecordType::SOA, vec![soa])];
        rrsets.extend(self.ns.clone());
        if let Some(host) = &self.apex_host {
            rrsets.extend(host.rrsets.iter().cloned());
        }
        let apex = Arc::new(Node {
            rrsets: rrsets.into_boxed_slice(),
            cname_target: None,
            wildcard: false,
        });
        match self.names.get_mut(&self.key) {
            Some(entry) => entry.node = Some(apex),
            None => {
                self.names.insert(
                    self.key.clone(),
                    Entry {
                        node: Some(apex),
                        descendants: 0,
                    },
                );
            }
        }
    }

    /// Where `key` (inside this zone) stands: an existing name, an empty non-terminal, or
    /// a name that does not exist, possibly covered by a wildcard host above it.
    fn find<'a>(&'a self, key: &NameKey) -> Found<'a> {
        if let Some(entry) = self.names.get(key.full()) {
            return match &entry.node {
                Some(node) => Found::Node(node, false),
                None => Found::NoData,
            };
        }
        // The closest existing ancestor decides (RFC 4592): a wildcard there, or nothing.
        let below_apex = key.labels().saturating_sub(self.labels);
        for skip in 1..=below_apex {
            let Some(entry) = self.names.get(key.suffix(skip)) else {
                continue;
            };
            // The apex node carries SOA/NS: only the apex host's own records are synthesised.
            let node = if skip == below_apex {
                self.apex_host.as_ref()
            } else {
                entry.node.as_ref()
            };
            return match node {
                Some(node) if node.wildcard => Found::Node(node, true),
                _ => Found::NxDomain,
            };
        }
        Found::NxDomain
    }

    /// The ancestors strictly between a host and the apex.
    fn ancestors<'k>(&self, host: &'k [u8]) -> impl Iterator<Item = &'k [u8]> + use<'k> {
        let depth = key_labels(host).saturating_sub(self.labels);
        (1..depth).map(move |skip| key_suffix(host, skip))
    }

    fn upsert_host(&mut self, host: HostSpec) {
        if host.key == self.key {
            self.apex_host = Some(host.node);
            return;
        }
        let existed = self.names.get(&host.key).is_some_and(|e| e.node.is_some());
        if !existed {
            for ancestor in self.ancestors(&host.key) {
                match self.names.get_mut(ancestor) {
                    Some(entry) => entry.descendants += 1,
                    None => {
                        self.names.insert(
                            ancestor.into(),
                            Entry {
                                node: None,
                                descendants: 1,
                            },
                        );
                    }
                }
            }
        }
        self.names
            .entry(host.key)
            .or_insert(Entry {
                node: None,
                descendants: 0,
            })
            .node = Some(host.node);
    }

    fn delete_host(&mut self, key: &[u8]) {
        if key == &*self.key {
            self.apex_host = None;
            return;
        }
        let Some(entry) = self.names.get_mut(key) else {
            return;
        };
        if entry.node.take().is_none() {
            return; // an empty non-terminal: no host to delete
        }
        if entry.descendants == 0 {
            self.names.remove(key);
        }
        for ancestor in self.ancestors(key) {
            if let Some(entry) = self.names.get_mut(ancestor) {
                entry.descendants = entry.descendants.saturating_sub(1);
                if entry.descendants == 0 && entry.node.is_none() {
                    self.names.remove(ancestor);
                }
            }
        }
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A change with its names parsed and records built, ready to go under the lock.
enum Op {
    ZoneUpsert(Box<ZoneSpec>),
    ZoneDelete(Key),
    HostUpsert { zone: Key, host: HostSpec },
    HostDelete { zone: Key, host: Key },
}

impl Op {
    fn prepare(change: &Change) -> Result<Self, String> {
        Ok(match change {
            Change::ZoneUpsert(data) => Op::ZoneUpsert(Box::new(ZoneSpec::prepare(data)?)),
            Change::ZoneDelete { zone } => Op::ZoneDelete(parse_name(zone)?.1),
            Change::HostUpsert { zone, host } => {
                let (_, zone) = parse_name(zone)?;
                let host = HostSpec::prepare(&zone, host)?;
                Op::HostUpsert { zone, host }
            }
            Change::HostDelete { zone, name } => {
                let (_, zone) = parse_name(zone)?;
                let (_, host) = parse_name(name)?;
                check_inside(&host, &zone, name)?;
                Op::HostDelete { zone, host }
            }
        })
    }
}

fn check_inside(host: &[u8], zone: &[u8], text: &str) -> Result<(), String> {
    let depth = key_labels(host).checked_sub(key_labels(zone));
    match depth {
        Some(depth) if key_suffix(host, depth) == zone => Ok(()),
        _ => Err(format!("host {text:?} is not inside its zone")),
    }
}

struct ZoneSpec {
    key: Key,
    name: Name,
    data: ZoneData,
    mname: Name,
    rname: Name,
    ns: Option<RRset>,
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
            ns: (!ns.is_empty()).then(|| RRset::new(RecordType::NS, ns)),
        })
    }
}

struct HostSpec {
    key: Key,
    name: Name,
    node: Arc<Node>,
}

impl HostSpec {
    fn prepare(zone: &[u8], host: &HostRecords) -> Result<Self, String> {
        let (name, key) = parse_name(&host.name)?;
        check_inside(&key, zone, &host.name)?;
        if host.cname.is_some() && *key == *zone {
            return Err(format!(
                "host {:?}: a CNAME cannot be at the apex",
                host.name
            ));
        }
        let node = Arc::new(build_node(&name, host)?);
        Ok(Self { key, name, node })
    }
}

/// Builds a host's records; a bad sub-record (an invalid MX name) is skipped, not the host.
fn build_node(owner: &Name, host: &HostRecords) -> Result<Node, String> {
    let ttl = host.ttl;
    let record = |data: RData| Record::from_rdata(owner.clone(), ttl, data);
    if let Some(target) = &host.cname {
        let (target, _) = parse_name(target)?;
        let rrset = RRset::new(
            RecordType::CNAME,
            vec![record(RData::CNAME(CNAME(target.clone())))],
        );
        return Ok(Node {
            rrsets: Box::new([rrset]),
            cname_target: Some(Box::new(target)),
            wildcard: host.wildcard,
        });
    }
    let mut rrsets = Vec::new();
    let a: Vec<Record> = dedup(&host.a).map(|ip| record(RData::A(A(*ip)))).collect();
    let aaaa: Vec<Record> = dedup(&host.aaaa)
        .map(|ip| record(RData::AAAA(AAAA(*ip))))
        .collect();
    let mx: Vec<Record> = dedup(&host.mx)
        .filter_map(|mx| match parse_name(&mx.exchange) {
            Ok((exchange, _)) => Some(record(RData::MX(MX::new(mx.preference, exchange)))),
            Err(error) => {
                warn!(%error, host = %host.name, "MX skipped");
                None
            }
        })
        .collect();
    let txt: Vec<Record> = dedup(&host.txt)
        .map(|s| {
            let chunks: Vec<&[u8]> = if s.is_empty() {
                vec![&[][..]]
            } else {
                s.as_bytes().chunks(TXT_CHUNK).collect()
            };
            record(RData::TXT(TXT::from_bytes(chunks)))
        })
        .collect();
    for (rtype, records) in [
        (RecordType::A, a),
        (RecordType::AAAA, aaaa),
        (RecordType::MX, mx),
        (RecordType::TXT, txt),
    ] {
        if !records.is_empty() {
            rrsets.push(RRset::new(rtype, records));
        }
    }
    Ok(Node {
        rrsets: rrsets.into_boxed_slice(),
        cname_target: None,
        wildcard: host.wildcard,
    })
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
    use std::net::Ipv4Addr;

    use super::*;
    use crate::feed::{Mx, ZoneSnapshot};

    fn zone_data(name: &str) -> ZoneData {
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

    fn host(name: &str, ip: [u8; 4]) -> HostRecords {
        HostRecords {
            name: name.into(),
            ttl: 60,
            a: vec![Ipv4Addr::from(ip)],
            ..Default::default()
        }
    }

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
        assert_eq!(ans.answers().len(), 1 + MAX_CNAME_CHAIN);
    }
}
