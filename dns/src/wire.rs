//! The commonest UDP query read, and its answer written, straight on the wire bytes.
//!
//! Most queries to a dynamic DNS node are one question of class IN, without EDNS or with an
//! OPT record that carries a cookie at most, about a host with one address of each family
//! or a name that does not exist. Decoding such a query into hickory's `Message` and
//! encoding records through its `BinEncoder` allocated a dozen times per query (the name's
//! labels, every compression candidate). Here the query is read in place ([`PlainQuery`]),
//! the store hands over the few values of the answer (`store::Plain`) and the answer is
//! written into the loop's buffer ([`write_answer`]), without allocating.
//!
//! The bytes are exactly those of the general path (`Handler::reply` and hickory's encoder,
//! name compression included: every label suffix of every name written is a candidate,
//! compared byte for byte, case included). The unit tests compare both paths on many
//! queries. Whatever this module does not recognise goes the general way.

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RecordType, rdata::SOA};

use crate::cookies::ANSWER_LEN;
use crate::names::NameKey;
use crate::store::Plain;

const HEADER_LEN: usize = 12;
/// Header flags (RFC 1035 §4.1.1): the first byte ...
const QR: u8 = 0x80;
const OPCODE: u8 = 0x78;
const AA: u8 = 0x04;
const TC: u8 = 0x02;
const RD: u8 = 0x01;
/// ... and the second.
const CD: u8 = 0x10;

const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;
const TYPE_SOA: u16 = 6;
const OPTION_COOKIE: u16 = 10;
/// The DO bit among the OPT record's flags (RFC 3225).
const DNSSEC_OK: u16 = 0x8000;

/// Hickory's limit of compression candidates per message, kept for identical bytes.
const MAX_CANDIDATES: usize = 64;
/// A name has at most 127 labels.
const MAX_LABELS: usize = 128;
/// Hops through compression pointers while comparing names (ours only point backwards).
const MAX_HOPS: usize = 128;

/// A query the wire path answers: a standard query, one question of class IN whose type
/// is not one the general path treats apart (ANY, AXFR, IXFR, OPT), nothing in the answer
/// and authority sections, at most an OPT record of version 0 with at most a COOKIE
/// option, and nothing after it.
pub(crate) struct PlainQuery<'p> {
    packet: &'p [u8],
    /// The question's end in `packet` (name, type and class).
    question_end: usize,
    /// The question's name, lowercased, with its label offsets.
    pub(crate) key: NameKey,
    pub(crate) qtype: RecordType,
    pub(crate) edns: Option<PlainEdns<'p>>,
}

/// The query's OPT record.
#[derive(Clone, Copy)]
pub(crate) struct PlainEdns<'p> {
    pub(crate) max_payload: u16,
    pub(crate) dnssec_ok: bool,
    /// The COOKIE option's data, unchecked.
    pub(crate) cookie: Option<&'p [u8]>,
}

impl<'p> PlainQuery<'p> {
    /// `None` for anything else, which the general path answers.
    pub(crate) fn parse(packet: &'p [u8]) -> Option<Self> {
        let header = packet.get(..HEADER_LEN)?;
        let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        // A query (QR clear) of opcode QUERY, one question, nothing but an OPT after it.
        if header[2] & (QR | OPCODE) != 0
            || count(4) != 1
            || count(6) != 0
            || count(8) != 0
            || count(10) > 1
        {
            return None;
        }
        let (key, name_len) = NameKey::from_wire(&packet[HEADER_LEN..])?;
        if key.labels() == 0 {
            return None;
        }
        let question_end = HEADER_LEN + name_len + 4;
        let fixed = packet.get(question_end - 4..question_end)?;
        let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
        let qtype = RecordType::from(qtype);
        if qclass != CLASS_IN
            || matches!(
                qtype,
                RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT
            )
        {
            return None;
        }
        let rest = &packet[question_end..];
        let edns = match count(10) {
            0 if rest.is_empty() => None,
            1 => Some(PlainEdns::parse(rest)?),
            _ => return None,
        };
        Some(Self {
            packet,
            question_end,
            key,
            qtype,
            edns,
        })
    }
}

impl<'p> PlainEdns<'p> {
    /// The OPT record that must make up all of `record`.
    fn parse(record: &'p [u8]) -> Option<Self> {
        // Root owner, type, class (the payload size), TTL (extended RCODE, version, flags),
        // length, options.
        let fixed = record.get(..11)?;
        let word = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
        if fixed[0] != 0 || word(1) != TYPE_OPT || fixed[6] != 0 {
            return None;
        }
        let options = &record[11..];
        if usize::from(word(9)) != options.len() {
            return None;
        }
        let cookie = match options {
            [] => None,
            [code_hi, code_lo, len_hi, len_lo, data @ ..]
                if u16::from_be_bytes([*code_hi, *code_lo]) == OPTION_COOKIE
                    && usize::from(u16::from_be_bytes([*len_hi, *len_lo])) == data.len() =>
            {
                Some(data)
            }
            _ => return None,
        };
        Some(Self {
            max_payload: word(3),
            dnssec_ok: word(7) & DNSSEC_OK != 0,
            cookie,
        })
    }
}

/// Our OPT record in an answer.
pub(crate) struct AnswerEdns {
    pub(crate) max_payload: u16,
    pub(crate) dnssec_ok: bool,
    pub(crate) cookie: Option<[u8; ANSWER_LEN]>,
}

/// Writes the answer to `query` into `out`: `plain`'s record, or with `None` no record
/// (an answer the rate limiter slips, truncated).
pub(crate) fn write_answer(
    query: &PlainQuery<'_>,
    plain: Option<&Plain<'_>>,
    header: AnswerHeader,
    edns: Option<&AnswerEdns>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let request = query.packet;
    let mut first = QR | AA | (request[2] & RD);
    if header.truncated {
        first |= TC;
    }
    let rcode: u16 = header.rcode.into();
    out.extend_from_slice(&request[..2]);
    out.extend_from_slice(&[first, (request[3] & CD) | (rcode & 0x0F) as u8]);
    let (answers, authorities) = match plain {
        Some(Plain::A(..) | Plain::Aaaa(..)) => (1u16, 0u16),
        Some(Plain::Negative { .. }) => (0, 1),
        None => (0, 0),
    };
    for count in [1, answers, authorities, u16::from(edns.is_some())] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    // The question as asked (its case too), and each of its label suffixes as a candidate.
    out.extend_from_slice(&request[HEADER_LEN..query.question_end]);
    let mut names = Candidates::new();
    for start in query.key.label_starts() {
        names.add(HEADER_LEN + start);
    }
    let owner = &request[HEADER_LEN..query.question_end - 5];
    match plain {
        Some(&Plain::A(ttl, v4)) => {
            let address = (RecordType::A, ttl, &v4.octets()[..]);
            write_address(out, &mut names, owner, address);
        }
        Some(&Plain::Aaaa(ttl, v6)) => {
            let address = (RecordType::AAAA, ttl, &v6.octets()[..]);
            write_address(out, &mut names, owner, address);
        }
        Some(Plain::Negative { soa, soa_data, .. }) => {
            names.write_name(out, &soa.name);
            record_head(out, TYPE_SOA, soa.ttl);
            rdata(out, |out| write_soa_data(out, &mut names, soa_data));
        }
        None => {}
    }
    if let Some(edns) = edns {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&edns.max_payload.to_be_bytes());
        // Extended RCODE (none of ours needs it) and version 0, then the flags.
        let flags = if edns.dnssec_ok { DNSSEC_OK } else { 0 };
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&flags.to_be_bytes());
        rdata(out, |out| {
            if let Some(cookie) = &edns.cookie {
                out.extend_from_slice(&OPTION_COOKIE.to_be_bytes());
                out.extend_from_slice(&(ANSWER_LEN as u16).to_be_bytes());
                out.extend_from_slice(cookie);
            }
        });
    }
}

/// What the header says beyond what the query decides.
#[derive(Clone, Copy)]
pub(crate) struct AnswerHeader {
    pub(crate) rcode: ResponseCode,
    pub(crate) truncated: bool,
}

fn write_soa_data(out: &mut Vec<u8>, names: &mut Candidates, soa: &SOA) {
    names.write_name(out, &soa.mname);
    names.write_name(out, &soa.rname);
    out.extend_from_slice(&soa.serial.to_be_bytes());
    out.extend_from_slice(&soa.refresh.to_be_bytes());
    out.extend_from_slice(&soa.retry.to_be_bytes());
    out.extend_from_slice(&soa.expire.to_be_bytes());
    out.extend_from_slice(&soa.minimum.to_be_bytes());
}

/// An address record (type, TTL, address) owned by the question's name, `owner`.
fn write_address(
    out: &mut Vec<u8>,
    names: &mut Candidates,
    owner: &[u8],
    (rtype, ttl, octets): (RecordType, u32, &[u8]),
) {
    names.write(out, labels_of(owner));
    record_head(out, rtype.into(), ttl);
    rdata(out, |out| out.extend_from_slice(octets));
}

/// Type, class IN and TTL of a record whose owner name was just written.
fn record_head(out: &mut Vec<u8>, rtype: u16, ttl: u32) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
}

/// Writes RDATA with `data`, preceded by its length.
fn rdata(out: &mut Vec<u8>, data: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    data(out);
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// The labels of an uncompressed wire name without its root byte.
fn labels_of(mut wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = wire.split_first()?;
        let (label, rest) = rest.split_at(usize::from(len).min(rest.len()));
        wire = rest;
        Some(label)
    })
}

/// Name compression as hickory's encoder does it: where in the message each label suffix
/// of the names written so far starts (at most [`MAX_CANDIDATES`]).
struct Candidates {
    starts: [u16; MAX_CANDIDATES],
    len: usize,
}

impl Candidates {
    fn new() -> Self {
        Self {
            starts: [0; MAX_CANDIDATES],
            len: 0,
        }
    }

    fn add(&mut self, start: usize) {
        if self.len < MAX_CANDIDATES {
            self.starts[self.len] = start as u16;
            self.len += 1;
        }
    }

    fn write_name(&mut self, out: &mut Vec<u8>, name: &Name) {
        self.write(out, name.iter());
    }

    /// Writes a name of `labels`: all its labels, then from the first label on, the rest
    /// becomes a pointer to the first candidate spelling the same suffix; the labels written
    /// whole become candidates.
    fn write<'l>(&mut self, out: &mut Vec<u8>, labels: impl Iterator<Item = &'l [u8]>) {
        let start = out.len();
        let mut label_starts = [0u16; MAX_LABELS];
        let mut count = 0;
        for label in labels {
            // A name has fewer labels; the slot is only missing for a corrupt one.
            let Some(slot) = label_starts.get_mut(count) else {
                break;
            };
            *slot = out.len() as u16;
            count += 1;
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        let end = out.len();
        let known = self.len;
        for (i, &label) in label_starts[..count].iter().enumerate() {
            let label = usize::from(label);
            let found = self.starts[..known]
                .iter()
                .find(|&&at| spells(out, usize::from(at), &out[label..end]));
            if let Some(&at) = found {
                out.truncate(label);
                out.extend_from_slice(&(0xC000 | at).to_be_bytes());
                for &whole in &label_starts[..i] {
                    self.add(usize::from(whole));
                }
                return;
            }
        }
        for &whole in &label_starts[..count] {
            self.add(usize::from(whole));
        }
        debug_assert!(out.len() - start < 256);
        out.push(0);
    }
}

/// Whether the name at `at` in `message` (followed through its pointers) is exactly the
/// labels `wire` (a name without its root byte).
fn spells(message: &[u8], mut at: usize, mut wire: &[u8]) -> bool {
    let mut hops = 0;
    loop {
        let Some(&len) = message.get(at) else {
            return false;
        };
        if len & 0xC0 == 0xC0 {
            let Some(&low) = message.get(at + 1) else {
                return false;
            };
            hops += 1;
            if hops > MAX_HOPS {
                return false;
            }
            at = usize::from(u16::from_be_bytes([len & 0x3F, low]));
            continue;
        }
        if len == 0 {
            return wire.is_empty();
        }
        let Some(label) = message.get(at..at + 1 + usize::from(len)) else {
            return false;
        };
        let Some(rest) = wire.strip_prefix(label) else {
            return false;
        };
        wire = rest;
        at += label.len();
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddr};
    use std::sync::Arc;

    use super::PlainQuery;
    use crate::cookies::CookieSecret;
    use crate::feed::{HostRecords, Mx, Snapshot, ZoneSnapshot};
    use crate::fixtures::{host, zone_data};
    use crate::handler::Handler;
    use crate::rrl::{RateLimiter, RrlConfig};
    use crate::stats::Stats;
    use crate::store::Store;

    fn store() -> Arc<Store> {
        let with = |name: &str, edit: fn(&mut HostRecords)| {
            let mut host = host(name, [192, 0, 2, 1]);
            edit(&mut host);
            host
        };
        let hosts = vec![
            host("a.dyn.example", [192, 0, 2, 1]),
            with("both.dyn.example", |h| h.aaaa = vec![Ipv6Addr::LOCALHOST]),
            with("six.dyn.example", |h| {
                h.a.clear();
                h.aaaa = vec!["2001:db8::6".parse().expect("v6")];
            }),
            with("two.dyn.example", |h| h.a.push([192, 0, 2, 2].into())),
            with("mail.dyn.example", |h| {
                h.mx = vec![Mx {
                    preference: 10,
                    exchange: "a.dyn.example".into(),
                }];
            }),
            with("text.dyn.example", |h| h.txt = vec!["hello".into()]),
            with("alias.dyn.example", |h| {
                h.a.clear();
                h.cname = Some("a.dyn.example".into());
            }),
            with("w.dyn.example", |h| h.wildcard = true),
            host("deep.b.c.dyn.example", [192, 0, 2, 3]),
            host("dyn.example", [192, 0, 2, 4]),
            host("x.sub.example", [192, 0, 2, 5]),
        ];
        let (apex, sub): (Vec<_>, Vec<_>) = hosts
            .into_iter()
            .partition(|h| h.name.ends_with("dyn.example"));
        let store = Store::new();
        store.load(Snapshot {
            revision: 7,
            zones: vec![
                ZoneSnapshot {
                    zone: zone_data("dyn.example"),
                    hosts: apex,
                },
                ZoneSnapshot {
                    zone: zone_data("sub.example"),
                    hosts: sub,
                },
            ],
        });
        Arc::new(store)
    }

    /// A query's bytes: header, one question (`name` as given, dots between labels), and
    /// `additional` after it (ARCOUNT 1 when not empty).
    fn query(flags: [u8; 2], name: &str, qtype: u16, qclass: u16, additional: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, flags[0], flags[1], 0, 1, 0, 0, 0, 0, 0];
        packet.push(u8::from(!additional.is_empty()));
        for label in name.split('.').filter(|l| !l.is_empty()) {
            packet.push(label.len() as u8);
            packet.extend_from_slice(label.as_bytes());
        }
        packet.push(0);
        packet.extend_from_slice(&qtype.to_be_bytes());
        packet.extend_from_slice(&qclass.to_be_bytes());
        packet.extend_from_slice(additional);
        packet
    }

    /// An OPT record: payload size, version, flags and options (code, data).
    fn opt(payload: u16, version: u8, flags: u16, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut data = Vec::new();
        for (code, option) in options {
            data.extend_from_slice(&code.to_be_bytes());
            data.extend_from_slice(&(option.len() as u16).to_be_bytes());
            data.extend_from_slice(option);
        }
        let mut record = vec![0, 0, 41];
        record.extend_from_slice(&payload.to_be_bytes());
        record.extend_from_slice(&[0, version]);
        record.extend_from_slice(&flags.to_be_bytes());
        record.extend_from_slice(&(data.len() as u16).to_be_bytes());
        record.extend_from_slice(&data);
        record
    }

    /// Queries of every kind the wire path takes or must leave to the general path.
    fn queries(valid_cookie: &[u8]) -> Vec<Vec<u8>> {
        let too_long = format!("{}.dyn.example", ["abcdefghij"; 24].join("."));
        let long = format!("{}.dyn.example", ["abcdefghij"; 21].join("."));
        let many = format!("{}.dyn.example", ["a"; 70].join("."));
        let names = [
            "a.dyn.example",
            "A.Dyn.EXAMPLE",
            "a.DYN.example",
            "both.dyn.example",
            "six.dyn.example",
            "two.dyn.example",
            "mail.dyn.example",
            "text.dyn.example",
            "alias.dyn.example",
            "x.w.dyn.example",
            "Y.Z.w.dyn.example",
            "w.dyn.example",
            "b.c.dyn.example",
            "c.dyn.example",
            "deep.b.c.dyn.example",
            "nx.dyn.example",
            "NX.b.c.dyn.example",
            "dyn.example",
            "Dyn.Example",
            "x.sub.example",
            "nothing.sub.example",
            "sub.example",
            "example",
            "elsewhere.org",
            "",
            &long,
            &too_long,
            &many,
            "a\u{7f}b.dyn.example",
            "a\\.b.dyn.example",
        ];
        let types = [1, 28, 16, 15, 5, 6, 2, 255, 252, 251, 41, 0, 65535, 99];
        let mut out = Vec::new();
        for name in names {
            for qtype in types {
                out.push(query([0x01, 0x00], name, qtype, 1, &[]));
            }
            for flags in [
                [0, 0],
                [0x07, 0xF0],
                [0x81, 0],
                [0x09, 0],
                [0x28, 0],
                [0x01, 0x0F],
            ] {
                out.push(query(flags, name, 1, 1, &[]));
            }
            for qclass in [3, 254, 255, 0] {
                out.push(query([1, 0], name, 1, qclass, &[]));
            }
            for additional in [
                opt(1232, 0, 0, &[]),
                opt(4096, 0, 0x8000, &[]),
                opt(100, 0, 0xFFFF, &[]),
                opt(600, 0, 0x8000, &[(10, &[7; 8])]),
                opt(1232, 0, 0, &[(10, valid_cookie)]),
                opt(1232, 0, 0, &[(10, &[7; 24])]),
                opt(1232, 0, 0, &[(10, &[7; 5])]),
                opt(1232, 0, 0, &[(3, &[])]),
                opt(1232, 0, 0, &[(10, &[7; 8]), (10, &[8; 8])]),
                opt(1232, 1, 0, &[]),
            ] {
                out.push(query([1, 0], name, 1, 1, &additional));
                out.push(query([1, 0], name, 28, 1, &additional));
            }
        }
        // Odd messages: trailing bytes, a record that is no OPT, a cut OPT, a short header.
        let a = query([1, 0], "a.dyn.example", 1, 1, &[]);
        let mut trailing = a.clone();
        trailing.push(0);
        out.push(trailing);
        let mut not_opt = query([1, 0], "a.dyn.example", 1, 1, &opt(1232, 0, 0, &[]));
        not_opt[a.len() + 2] = 1;
        out.push(not_opt);
        let cut = query(
            [1, 0],
            "a.dyn.example",
            1,
            1,
            &opt(1232, 0, 0, &[(10, &[7; 8])]),
        );
        out.push(cut[..cut.len() - 3].to_vec());
        out.push(a[..11].to_vec());
        out.push(a[..a.len() - 1].to_vec());
        out
    }

    /// Every query, then variants of some with bytes changed at random (deterministic).
    fn mutated(queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = queries.to_vec();
        for packet in queries.iter().step_by(7) {
            for _ in 0..8 {
                let mut changed = packet.clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % changed.len() as u64) as usize;
                    changed[at] = next() as u8;
                }
                out.push(changed);
            }
        }
        out
    }

    /// The wire path answers what the general path answers, byte for byte, counts the same
    /// and charges the rate limiter the same; and it does take the common queries.
    #[test]
    fn the_wire_path_answers_as_the_general_path() {
        let store = store();
        let secret = CookieSecret::random();
        let sources: [SocketAddr; 3] = [
            "192.0.2.53:5300".parse().expect("addr"),
            "[2001:db8::53]:5300".parse().expect("addr"),
            "[::ffff:198.51.100.1]:5300".parse().expect("addr"),
        ];
        // A server cookie of ours for the first source, as a client would send it back.
        let client_ip = sources[0].ip().to_canonical();
        let cookie = secret
            .check_data(&[9; 8], client_ip)
            .expect("a client cookie");
        let valid_cookie = secret.answer_data(&cookie, client_ip);
        let packets = mutated(&queries(&valid_cookie));
        for rrl in [None, Some(1), Some(1_000_000)] {
            let (wire_stats, general_stats) = (Arc::new(Stats::new()), Arc::new(Stats::new()));
            let wire = Handler::new(store.clone(), wire_stats.clone(), secret);
            let general = Handler::new(store.clone(), general_stats.clone(), secret);
            let config = RrlConfig {
                rate: rrl.unwrap_or(1),
                exempt: vec!["198.51.100.0/24".parse().expect("prefix")],
                ..RrlConfig::default()
            };
            let mut wire_rrl = RateLimiter::new(Arc::new(config), wire_stats.clone());
            let mut general_rrl = wire_rrl.twin(general_stats.clone());
            let (mut wire_out, mut general_out) = (Vec::new(), Vec::new());
            // Counts the queries the wire path answers itself.
            let probe = Handler::new(store.clone(), Arc::new(Stats::new()), secret);
            let mut plain = 0;
            for packet in &packets {
                for &src in &sources {
                    let limiters = rrl.map(|_| (&mut wire_rrl, &mut general_rrl));
                    let (wire_limiter, general_limiter) = match limiters {
                        Some((w, g)) => (Some(w), Some(g)),
                        None => (None, None),
                    };
                    let sent = wire.answer_udp(packet, src, &mut wire_out, wire_limiter);
                    let expected =
                        general.answer_general(packet, src, &mut general_out, general_limiter);
                    assert_eq!(sent, expected, "query {packet:02x?} from {src}");
                    if sent && !differ_by_a_clock_tick(&wire_out, &general_out) {
                        assert_eq!(wire_out, general_out, "query {packet:02x?} from {src}");
                    }
                }
                if probe
                    .answer_plain(packet, sources[0], &mut wire_out, None)
                    .is_some()
                {
                    plain += 1;
                }
            }
            assert_eq!(wire_stats.snapshot(), general_stats.snapshot());
            assert!(plain > packets.len() / 8, "{plain} of {}", packets.len());
        }
    }

    /// Two answers that end in server cookies made a second apart (the clock ticked between
    /// the two paths' answers): the same but for the cookie's timestamp and so its hash,
    /// the last 12 bytes of an answer that carries one.
    fn differ_by_a_clock_tick(a: &[u8], b: &[u8]) -> bool {
        let Some(at) = a.len().checked_sub(12) else {
            return false;
        };
        let time = |x: &[u8]| u32::from_be_bytes(x[at..at + 4].try_into().expect("4 bytes"));
        a.len() == b.len() && a[..at] == b[..at] && time(a).abs_diff(time(b)) == 1
    }

    #[test]
    fn the_wire_path_leaves_the_uncommon_to_the_general_path() {
        let none = |packet: &[u8]| PlainQuery::parse(packet).is_none();
        assert!(!none(&query([1, 0], "a.dyn.example", 1, 1, &[])));
        assert!(none(&query([1, 0], "a.dyn.example", 255, 1, &[])), "ANY");
        assert!(
            none(&query([1, 0], "a.dyn.example", 1, 255, &[])),
            "QCLASS ANY"
        );
        assert!(
            none(&query([0x80, 0], "a.dyn.example", 1, 1, &[])),
            "a response"
        );
        assert!(
            none(&query([0x28, 0], "a.dyn.example", 1, 1, &[])),
            "UPDATE"
        );
        assert!(none(&query([1, 0], "", 1, 1, &[])), "the root");
        let version_1 = opt(1232, 1, 0, &[]);
        assert!(
            none(&query([1, 0], "a.dyn.example", 1, 1, &version_1)),
            "EDNS 1"
        );
        let nsid = opt(1232, 0, 0, &[(3, &[])]);
        assert!(none(&query([1, 0], "a.dyn.example", 1, 1, &nsid)), "NSID");
    }
}
