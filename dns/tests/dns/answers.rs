//! What the node answers, over UDP and TCP.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{RData, Record, RecordType};

use crate::support::*;

fn a_addrs(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn owners(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.name.to_ascii()).collect()
}

fn assert_negative(msg: &Message, rcode: ResponseCode, zone: &str) {
    assert_eq!(msg.metadata.response_code, rcode);
    assert!(msg.metadata.authoritative, "AA on negative answers");
    assert!(
        msg.answers.is_empty(),
        "no answer records: {:?}",
        msg.answers
    );
    assert_eq!(msg.authorities.len(), 1, "the SOA in authority");
    let soa = &msg.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name.to_ascii(), format!("{zone}."));
    // TTL = min(SOA TTL 3600, SOA minimum 30).
    assert_eq!(soa.ttl, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_answers_are_authoritative_over_udp_and_tcp() {
    let server = TestServer::start(fixture(1)).await;
    for tcp in [false, true] {
        let ask = |qtype| {
            let server = &server;
            async move {
                if tcp {
                    server.tcp("www.dyn.example.", qtype).await
                } else {
                    server.udp("www.dyn.example.", qtype).await
                }
            }
        };

        let a = ask(RecordType::A).await;
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert!(a.metadata.authoritative);
        assert!(!a.metadata.recursion_available);
        assert!(a.metadata.recursion_desired, "RD is copied");
        assert!(!a.metadata.truncation);
        assert_eq!(a_addrs(&a), vec![Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(a.answers[0].ttl, 60);
        assert!(a.authorities.is_empty());

        let aaaa = ask(RecordType::AAAA).await;
        assert!(aaaa.metadata.authoritative);
        let RData::AAAA(v6) = &aaaa.answers[0].data else {
            panic!("not AAAA: {aaaa:?}")
        };
        assert_eq!(v6.0, "2001:db8::1".parse::<Ipv6Addr>().unwrap());

        let mx = ask(RecordType::MX).await;
        let RData::MX(mx) = &mx.answers[0].data else {
            panic!("not MX")
        };
        assert_eq!(mx.preference, 10);
        assert_eq!(mx.exchange.to_ascii(), "mx.dyn.example.");

        let txt = ask(RecordType::TXT).await;
        let RData::TXT(txt) = &txt.answers[0].data else {
            panic!("not TXT")
        };
        assert_eq!(&*txt.txt_data[0], b"hello world");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apex_serves_soa_and_ns_and_nodata_otherwise() {
    let server = TestServer::start(fixture(7)).await;
    let soa = server.udp("dyn.example.", RecordType::SOA).await;
    assert!(soa.metadata.authoritative);
    assert_eq!(soa.answers.len(), 1);
    let RData::SOA(rdata) = &soa.answers[0].data else {
        panic!("not SOA")
    };
    assert_eq!(rdata.serial, 7);
    assert_eq!(rdata.mname.to_ascii(), "ns1.dyn.example.");
    assert_eq!(rdata.rname.to_ascii(), "hostmaster.dyn.example.");
    assert_eq!(rdata.minimum, 30);
    assert_eq!(soa.answers[0].ttl, 3600);

    let ns = server.udp("dyn.example.", RecordType::NS).await;
    let mut names: Vec<String> = ns
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::NS(ns) => ns.0.to_ascii(),
            other => panic!("not NS: {other:?}"),
        })
        .collect();
    names.sort();
    assert_eq!(names, vec!["ns1.dyn.example.", "ns2.dyn.example."]);

    let a = server.udp("dyn.example.", RecordType::A).await;
    assert_negative(&a, ResponseCode::NoError, ZONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_and_nodata_carry_the_soa() {
    let server = TestServer::start(fixture(1)).await;
    let nx = server.udp("nothing.dyn.example.", RecordType::A).await;
    assert_negative(&nx, ResponseCode::NXDomain, ZONE);
    let deep = server
        .tcp("x.y.nothing.dyn.example.", RecordType::AAAA)
        .await;
    assert_negative(&deep, ResponseCode::NXDomain, ZONE);

    // www has no SRV (and no AAAA on mx): NODATA.
    let nodata = server.udp("www.dyn.example.", RecordType::SRV).await;
    assert_negative(&nodata, ResponseCode::NoError, ZONE);
    let nodata = server.tcp("mx.dyn.example.", RecordType::AAAA).await;
    assert_negative(&nodata, ResponseCode::NoError, ZONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_non_terminal_is_nodata() {
    let server = TestServer::start(fixture(1)).await;
    // a.b.dyn.example exists, so b.dyn.example exists without records.
    let ent = server.udp("b.dyn.example.", RecordType::A).await;
    assert_negative(&ent, ResponseCode::NoError, ZONE);
    let below = server.udp("c.b.dyn.example.", RecordType::A).await;
    assert_negative(&below, ResponseCode::NXDomain, ZONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_hosts_answer_below_themselves_with_the_query_name() {
    let server = TestServer::start(fixture(1)).await;
    for name in ["anything.wild.dyn.example.", "a.b.c.wild.dyn.example."] {
        let msg = server.udp(name, RecordType::A).await;
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
        assert!(msg.metadata.authoritative);
        assert_eq!(a_addrs(&msg), vec![Ipv4Addr::new(192, 0, 2, 50)]);
        assert_eq!(owners(&msg.answers), vec![name.to_string()]);
    }
    // The host itself, and an existing name below it, answer for themselves.
    let host = server.udp("wild.dyn.example.", RecordType::A).await;
    assert_eq!(a_addrs(&host), vec![Ipv4Addr::new(192, 0, 2, 50)]);
    let exists = server.udp("exists.wild.dyn.example.", RecordType::A).await;
    assert_eq!(a_addrs(&exists), vec![Ipv4Addr::new(192, 0, 2, 51)]);
    // A type the wildcard host lacks: NODATA, not NXDOMAIN.
    let nodata = server.udp("x.wild.dyn.example.", RecordType::MX).await;
    assert_negative(&nodata, ResponseCode::NoError, ZONE);
    // Below an existing name without a wildcard: NXDOMAIN (RFC 4592 closest encloser).
    let nx = server
        .udp("x.exists.wild.dyn.example.", RecordType::A)
        .await;
    assert_negative(&nx, ResponseCode::NXDomain, ZONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_hosts_answer_the_cname_for_every_type() {
    let server = TestServer::start(fixture(1)).await;
    // Target in our zone: CNAME then the target's records of the asked type.
    let a = server.udp("alias.dyn.example.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authoritative);
    assert_eq!(a.answers.len(), 2);
    let RData::CNAME(target) = &a.answers[0].data else {
        panic!("CNAME first: {a:?}")
    };
    assert_eq!(target.0.to_ascii(), "www.dyn.example.");
    assert_eq!(a.answers[0].name.to_ascii(), "alias.dyn.example.");
    assert_eq!(a.answers[0].ttl, 120);
    assert_eq!(a.answers[1].name.to_ascii(), "www.dyn.example.");
    assert_eq!(a_addrs(&a), vec![Ipv4Addr::new(192, 0, 2, 1)]);

    let mx = server.udp("alias.dyn.example.", RecordType::MX).await;
    assert_eq!(mx.answers.len(), 2);
    assert_eq!(mx.answers[1].record_type(), RecordType::MX);

    // Asking for the CNAME itself gives just it.
    let cname = server.udp("alias.dyn.example.", RecordType::CNAME).await;
    assert_eq!(cname.answers.len(), 1);
    assert_eq!(cname.answers[0].record_type(), RecordType::CNAME);

    // Target elsewhere: only the CNAME (the resolver goes on from there).
    let ext = server.udp("ext.dyn.example.", RecordType::AAAA).await;
    assert_eq!(ext.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ext.answers.len(), 1);
    assert!(ext.authorities.is_empty());

    // Target in another zone of ours.
    let cross = server.udp("cross.dyn.example.", RecordType::A).await;
    assert_eq!(a_addrs(&cross), vec![Ipv4Addr::new(198, 51, 100, 7)]);

    // Target in our zone but missing: the CNAME, NXDOMAIN and the SOA (RFC 6604).
    let dangling = server.udp("dangling.dyn.example.", RecordType::A).await;
    assert_eq!(dangling.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(dangling.answers.len(), 1);
    assert_eq!(dangling.authorities.len(), 1);

    // The target lacks the type: the CNAME and NODATA's SOA.
    let nodata = server.udp("alias.dyn.example.", RecordType::SRV).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert_eq!(nodata.answers.len(), 1);
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_our_zones_are_refused() {
    let server = TestServer::start(fixture(1)).await;
    for name in ["example.org.", "www.example.org.", "example.", "."] {
        let msg = server.udp(name, RecordType::A).await;
        assert_eq!(msg.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!msg.metadata.authoritative);
        assert!(msg.answers.is_empty() && msg.authorities.is_empty());
        assert_eq!(msg.queries.len(), 1, "the question is echoed");
    }
    let tcp = server.tcp("www.example.org.", RecordType::A).await;
    assert_eq!(tcp.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_case_insensitive_and_the_askers_case_is_echoed() {
    let server = TestServer::start(fixture(1)).await;
    let asked = "wWw.DyN.eXaMpLe.";
    let msg = server.udp(asked, RecordType::A).await;
    assert_eq!(a_addrs(&msg), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(
        msg.queries[0]
            .name()
            .eq_case(&hickory_server::proto::rr::Name::from_ascii(asked).unwrap())
    );
    assert_eq!(msg.queries[0].name().to_ascii(), asked);
    assert_eq!(owners(&msg.answers), vec![asked.to_string()]);

    let tcp = server.tcp("ALIAS.dyn.example.", RecordType::A).await;
    assert_eq!(tcp.answers[0].name.to_ascii(), "ALIAS.dyn.example.");
    assert_eq!(tcp.answers.len(), 2);

    let nx = server.udp("NoThInG.DYN.example.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.queries[0].name().to_ascii(), "NoThInG.DYN.example.");

    let wild = server.udp("X.Wild.dyn.example.", RecordType::A).await;
    assert_eq!(
        owners(&wild.answers),
        vec!["X.Wild.dyn.example.".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_is_minimal_over_udp_and_complete_over_tcp() {
    let server = TestServer::start(fixture(1)).await;
    let udp = server.udp("www.dyn.example.", RecordType::ANY).await;
    assert_eq!(udp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(udp.answers.len(), 1, "one RRset (RFC 8482)");
    let tcp = server.tcp("www.dyn.example.", RecordType::ANY).await;
    let mut types: Vec<RecordType> = tcp.answers.iter().map(Record::record_type).collect();
    types.sort();
    let mut expected = vec![
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
    ];
    expected.sort();
    assert_eq!(types, expected);
    let ent = server.udp("b.dyn.example.", RecordType::ANY).await;
    assert_negative(&ent, ResponseCode::NoError, ZONE);
}
