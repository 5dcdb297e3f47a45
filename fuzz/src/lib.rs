//! The entry points the fuzz targets drive, one per input surface. The workspace's
//! `tests/fuzz_corpus.rs` includes this file and replays every checked-in corpus file
//! through the same functions, so `scripts/test` runs them without a nightly compiler.
//!
//! Each entry panics only on a bug: a panic inside dyn53, or an answer that breaks what the
//! entry checks.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use dyn53_dns::feed::{HostRecords, Mx, Snapshot, ZoneData, ZoneSnapshot};
use dyn53_dns::{DnsOptions, MAX_UDP_PAYLOAD, RrlConfig, Store, UdpResponder};
use dyn53_web::http::dyndns2;
use dyn53_web::miniupdate::Command;
use dyn53_web::rfc2136::tsig::Request;
use hickory_server::proto::op::{Message, MessageType, OpCode};
use hickory_server::proto::rr::rdata::tsig::TsigError;

/// Where every fuzzed datagram comes from: one source, so the rate limiter soon limits it
/// and its slip and drop paths are fuzzed too.
const SOURCE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 5353);

/// A UDP responder over a zone with every kind of data the store serves (addresses, MX
/// with in-zone target, TXT, wildcard, CNAME chains and a loop, a large RRset), and the
/// rate limiting `dyn53 dns` starts with.
static RESPONDER: LazyLock<Mutex<UdpResponder>> = LazyLock::new(|| {
    let store = Arc::new(Store::new());
    store.load(snapshot());
    let options = DnsOptions {
        rrl: Some(RrlConfig::default()),
        ..DnsOptions::default()
    };
    Mutex::new(UdpResponder::new(store, &options))
});

/// Arbitrary bytes as a UDP datagram: silence, or an answer that is a response with the
/// query's id, fits the UDP limit and decodes.
pub fn dns_request(data: &[u8]) {
    let mut out = Vec::new();
    let answered = RESPONDER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .answer(data, SOURCE, &mut out);
    if !answered {
        return;
    }
    assert!(
        out.len() <= usize::from(MAX_UDP_PAYLOAD),
        "{} bytes",
        out.len()
    );
    let answer = match Message::from_vec(&out) {
        Ok(answer) => answer,
        Err(error) => panic!("our answer does not decode ({error}): {out:02x?}"),
    };
    assert_eq!(answer.metadata.message_type, MessageType::Response);
    assert_eq!(out[..2], data[..2], "the query's id");
}

/// Arbitrary bytes as the query string of a dyndns2 request (`/nic/update?…`).
pub fn dyndns2_query(data: &[u8]) {
    let query = dyndns2::Query::parse(&String::from_utf8_lossy(data));
    let _ = query.entries("device.dyn.example");
    let _ = query.wanted();
}

/// Arbitrary bytes as an RFC 2136 message, as far as no key is needed: decoded, and when
/// signed, the bytes its MAC covers (the message's own header onwards) and the unsigned
/// `BADSIG` refusal, which must decode.
pub fn dns_update_message(data: &[u8]) {
    let Ok(request) = Request::parse(data) else {
        return;
    };
    let Some(signature) = &request.signature else {
        return;
    };
    assert!(signature.covered().len() >= 12, "the header is covered");
    let response = Message::response(request.message.metadata.id, OpCode::Update);
    if let Ok(out) = signature.refuse(response, TsigError::BadSig)
        && let Err(error) = Message::from_vec(&out)
    {
        panic!("our refusal does not decode ({error}): {out:02x?}");
    }
}

/// Arbitrary bytes as one miniupdate command line, as a session reads it.
pub fn miniupdate_line(data: &[u8]) {
    if let Command::AUpdate { mode, host, ip } = Command::parse(&String::from_utf8_lossy(data)) {
        let _ = dyn53_web::miniupdate::update_target(mode, host, ip);
    }
}

fn snapshot() -> Snapshot {
    let zone = |name: &str| ZoneData {
        name: name.into(),
        ttl: 3600,
        mname: format!("ns1.{name}"),
        rname: format!("hostmaster.{name}"),
        refresh: 7200,
        retry: 900,
        expire: 1_209_600,
        minimum: 30,
        ns: vec![format!("ns1.{name}"), format!("ns2.{name}")],
    };
    let host = |name: &str, last: u8| HostRecords {
        name: name.into(),
        ttl: 60,
        a: vec![Ipv4Addr::new(192, 0, 2, last)],
        ..HostRecords::default()
    };
    let alias = |name: &str, target: &str| HostRecords {
        name: name.into(),
        ttl: 120,
        cname: Some(target.into()),
        ..HostRecords::default()
    };
    Snapshot {
        revision: 1,
        zones: vec![
            ZoneSnapshot {
                zone: zone("dyn.example"),
                hosts: vec![
                    HostRecords {
                        aaaa: vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)],
                        mx: vec![Mx {
                            preference: 10,
                            exchange: "mx.dyn.example".into(),
                        }],
                        txt: vec!["hello world".into()],
                        ..host("www.dyn.example", 1)
                    },
                    host("mx.dyn.example", 25),
                    host("ns1.dyn.example", 53),
                    HostRecords {
                        wildcard: true,
                        ..host("wild.dyn.example", 50)
                    },
                    alias("alias.dyn.example", "www.dyn.example"),
                    alias("loop1.dyn.example", "loop2.dyn.example"),
                    alias("loop2.dyn.example", "loop1.dyn.example"),
                    alias("ext.dyn.example", "www.elsewhere.test"),
                    HostRecords {
                        name: "big.dyn.example".into(),
                        ttl: 60,
                        txt: (0..60)
                            .map(|i| format!("{i:02}-{}", "t".repeat(37)))
                            .collect(),
                        ..HostRecords::default()
                    },
                ],
            },
            ZoneSnapshot {
                zone: zone("other.example"),
                hosts: vec![host("host.other.example", 7)],
            },
        ],
    }
}
