//! Details checked against NSD: DO echoed, AA on QCLASS ANY, CNAME loops, NOTIMP flags,
//! the additional section and name compression.

use std::net::Ipv4Addr;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::support::*;

fn a_records(records: &[Record]) -> Vec<(String, Ipv4Addr)> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_do_bit_is_copied_into_the_answer() {
    let server = TestServer::start(fixture(1)).await;
    let mut msg = query("www.dyn.example.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    for answer in [server.udp_msg(&msg).await, server.tcp_msg(&msg).await] {
        let edns = answer.edns.as_ref().expect("an OPT record");
        assert!(edns.flags().dnssec_ok, "DO echoed (RFC 3225 §3)");
        assert_eq!(answer.answers.len(), 1);
    }
    // And not set when the query did not set it.
    let plain = server
        .udp_msg(&with_edns(query("www.dyn.example.", RecordType::A), 1232))
        .await;
    assert!(!plain.edns.as_ref().expect("OPT").flags().dnssec_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qclass_any_is_answered_without_aa() {
    let server = TestServer::start(fixture(1)).await;
    let mut msg = Message::new(321, MessageType::Query, OpCode::Query);
    let mut q = Query::query(Name::from_ascii("www.dyn.example.").unwrap(), RecordType::A);
    q.set_query_class(DNSClass::ANY);
    msg.add_query(q);
    for answer in [server.udp_msg(&msg).await, server.tcp_msg(&msg).await] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(!answer.metadata.authoritative, "no AA for QCLASS ANY");
        assert_eq!(
            a_records(&answer.answers),
            vec![("www.dyn.example.".into(), Ipv4Addr::new(192, 0, 2, 1))]
        );
    }
    // Class IN keeps AA.
    assert!(
        server
            .udp("www.dyn.example.", RecordType::A)
            .await
            .metadata
            .authoritative
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_loop_is_answered_with_each_cname_once() {
    let mut snapshot = fixture(1);
    snapshot.zones[0].hosts.extend([
        alias("loop1.dyn.example", "loop2.dyn.example"),
        alias("loop2.dyn.example", "loop1.dyn.example"),
    ]);
    let server = TestServer::start(snapshot).await;
    let answer = server.udp("loop1.dyn.example.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    let cnames: Vec<(String, String)> = answer
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::CNAME(target) => (r.name.to_ascii(), target.0.to_ascii()),
            other => panic!("only CNAMEs expected: {other:?}"),
        })
        .collect();
    assert_eq!(
        cnames,
        vec![
            ("loop1.dyn.example.".into(), "loop2.dyn.example.".into()),
            ("loop2.dyn.example.".into(), "loop1.dyn.example.".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notimp_answers_do_not_copy_rd_and_cd() {
    let server = TestServer::start(fixture(1)).await;
    let mut msg = Message::new(4243, MessageType::Query, OpCode::Notify);
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = true;
    msg.add_query(Query::query(
        Name::from_ascii("dyn.example.").unwrap(),
        RecordType::SOA,
    ));
    for answer in [server.udp_msg(&msg).await, server.tcp_msg(&msg).await] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NotImp);
        assert!(!answer.metadata.recursion_desired, "RD not copied");
        assert!(!answer.metadata.checking_disabled, "CD not copied");
    }
    // A query keeps them.
    let mut msg = query("www.dyn.example.", RecordType::A);
    msg.metadata.checking_disabled = true;
    let answer = server.udp_msg(&msg).await;
    assert!(answer.metadata.recursion_desired && answer.metadata.checking_disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns_and_mx_targets_in_our_zones_come_with_their_addresses() {
    let mut snapshot = fixture(1);
    snapshot.zones[0]
        .hosts
        .push(a_host("ns1.dyn.example", Ipv4Addr::new(192, 0, 2, 53)));
    let server = TestServer::start(snapshot).await;
    for tcp in [false, true] {
        let ask = |name, qtype| {
            let server = &server;
            async move {
                match tcp {
                    true => server.tcp(name, qtype).await,
                    false => server.udp(name, qtype).await,
                }
            }
        };
        let mx = ask("www.dyn.example.", RecordType::MX).await;
        assert_eq!(mx.answers.len(), 1);
        assert_eq!(
            a_records(&mx.additionals),
            vec![("mx.dyn.example.".into(), Ipv4Addr::new(192, 0, 2, 25))]
        );
        // ns2 has no host: only ns1's address.
        let ns = ask("dyn.example.", RecordType::NS).await;
        assert_eq!(ns.answers.len(), 2);
        assert_eq!(
            a_records(&ns.additionals),
            vec![("ns1.dyn.example.".into(), Ipv4Addr::new(192, 0, 2, 53))]
        );
        // Nothing additional for other types, nor for targets outside our zones.
        let a = ask("www.dyn.example.", RecordType::A).await;
        assert!(a.additionals.is_empty());
        let other = ask("other.example.", RecordType::NS).await;
        assert!(other.additionals.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_owner_name_points_at_the_question() {
    let server = TestServer::start(fixture(1)).await;
    let msg = query("www.dyn.example.", RecordType::A);
    let bytes = server
        .udp_raw(&msg.to_vec().unwrap())
        .await
        .expect("answer");
    // Header 12 + question (17-byte name, type, class) 21 + answer (2-byte pointer, type,
    // class, TTL, length, 4 bytes of address) 16. Without the pointer: 64 bytes.
    assert_eq!(bytes.len(), 12 + 21 + 16);
    assert_eq!(
        &bytes[33..35],
        &[0xc0, 12],
        "a pointer to the question's name"
    );
    let answer = Message::from_vec(&bytes).unwrap();
    assert_eq!(answer.answers[0].name.to_ascii(), "www.dyn.example.");
    // The asker's case (0x20) still compresses, and is echoed.
    let msg = query("wWw.DYN.example.", RecordType::A);
    let bytes = server
        .udp_raw(&msg.to_vec().unwrap())
        .await
        .expect("answer");
    assert_eq!(bytes.len(), 12 + 21 + 16);
    let answer = Message::from_vec(&bytes).unwrap();
    assert_eq!(answer.answers[0].name.to_ascii(), "wWw.DYN.example.");
}
