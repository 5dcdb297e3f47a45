//! EDNS, truncation, error codes, counters, binding.

use std::net::UdpSocket;

use dyn53_dns::{MAX_UDP_PAYLOAD, bind};
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, RecordType};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_is_echoed_with_our_payload_size() {
    let server = TestServer::start(fixture(1)).await;
    // A client that accepts more than we send gets our size.
    let msg = server
        .udp_msg(&with_edns(query("www.dyn.example.", RecordType::A), 4096))
        .await;
    let edns = msg.edns.as_ref().expect("an OPT record in the answer");
    assert_eq!(edns.max_payload(), MAX_UDP_PAYLOAD);
    assert_eq!(edns.version(), 0);
    assert!(!edns.flags().dnssec_ok);
    assert_eq!(msg.answers.len(), 1);

    // Over TCP too, and on negative and refused answers.
    let tcp = server
        .tcp_msg(&with_edns(query("none.dyn.example.", RecordType::A), 4096))
        .await;
    assert_eq!(tcp.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        tcp.edns.as_ref().map(Edns::max_payload),
        Some(MAX_UDP_PAYLOAD)
    );
    let refused = server
        .udp_msg(&with_edns(query("example.org.", RecordType::A), 1400))
        .await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(refused.edns.is_some());

    // No OPT in the query, none in the answer.
    let plain = server.udp("www.dyn.example.", RecordType::A).await;
    assert!(plain.edns.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_edns_version_gets_badvers() {
    let server = TestServer::start(fixture(1)).await;
    let mut msg = query("www.dyn.example.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_version(1);
    msg.set_edns(edns);
    let answer = server.udp_msg(&msg).await;
    // RCODE 16 (BADVERS and BADSIG share the number; hickory decodes it as the latter).
    assert_eq!(u16::from(answer.metadata.response_code), 16);
    assert_eq!(answer.edns.as_ref().map(Edns::version), Some(0));
    assert!(answer.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_udp_answers_are_truncated_and_whole_over_tcp() {
    let server = TestServer::start(fixture(1)).await;
    // Without EDNS: 512 bytes.
    let udp = server.udp("big.dyn.example.", RecordType::TXT).await;
    assert!(udp.metadata.truncation, "TC set");
    assert!(udp.metadata.authoritative);
    assert!(udp.answers.is_empty(), "no partial RRset");
    // With a large EDNS size we still cap at our own (1232 < ~2.9 KB).
    let edns = server
        .udp_msg(&with_edns(query("big.dyn.example.", RecordType::TXT), 4096))
        .await;
    assert!(edns.metadata.truncation);
    assert!(edns.edns.is_some(), "the OPT survives truncation");

    let tcp = server.tcp("big.dyn.example.", RecordType::TXT).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
    let mut texts: Vec<Vec<u8>> = tcp
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::TXT(t) => t.txt_data.concat(),
            other => panic!("not TXT: {other:?}"),
        })
        .collect();
    texts.sort();
    let mut expected: Vec<Vec<u8>> = big_txt().into_iter().map(String::into_bytes).collect();
    expected.sort();
    assert_eq!(texts, expected);

    // Answers that fit are not truncated, even when a cheap size estimate says they might.
    let small = server.udp("www.dyn.example.", RecordType::TXT).await;
    assert!(!small.metadata.truncation);
    assert_eq!(server.stats.snapshot().truncated, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_edns_size_between_512_and_ours_is_respected() {
    let mut snapshot = fixture(1);
    // ~700 bytes of TXT: fits 1232, not 600.
    snapshot.zones[0].hosts.push(dyn53_dns::feed::HostRecords {
        name: "mid.dyn.example".into(),
        ttl: 60,
        txt: (0..16)
            .map(|i| format!("{i:02}-{}", "m".repeat(37)))
            .collect(),
        ..Default::default()
    });
    let server = TestServer::start(snapshot).await;
    let fits = server
        .udp_msg(&with_edns(query("mid.dyn.example.", RecordType::TXT), 1232))
        .await;
    assert!(!fits.metadata.truncation);
    assert_eq!(fits.answers.len(), 16);
    let small = server
        .udp_msg(&with_edns(query("mid.dyn.example.", RecordType::TXT), 600))
        .await;
    assert!(small.metadata.truncation);
    assert_eq!(small.edns.as_ref().map(Edns::max_payload), Some(600));
    // Below 512 means 512.
    let tiny = server
        .udp_msg(&with_edns(query("www.dyn.example.", RecordType::A), 100))
        .await;
    assert!(!tiny.metadata.truncation);
    assert_eq!(tiny.answers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_opcodes_are_not_implemented() {
    let server = TestServer::start(fixture(1)).await;
    for op in [OpCode::Update, OpCode::Notify, OpCode::Status] {
        let mut msg = Message::new(4242, MessageType::Query, op);
        msg.add_query(Query::query(
            Name::from_ascii("dyn.example.").unwrap(),
            RecordType::SOA,
        ));
        let answer = server.udp_msg(&msg).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NotImp,
            "{op:?}"
        );
        assert_eq!(answer.metadata.op_code, op);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_question_or_several_questions_get_formerr() {
    let server = TestServer::start(fixture(1)).await;
    let empty = Message::new(77, MessageType::Query, OpCode::Query);
    let answer = server.udp_msg(&empty).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);

    let mut two = query("www.dyn.example.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("mx.dyn.example.").unwrap(),
        RecordType::A,
    ));
    let answer = server.udp_msg(&two).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);
    assert!(answer.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_classes_and_zone_transfers_are_refused() {
    let server = TestServer::start(fixture(1)).await;
    let mut chaos = query("version.bind.", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let answer = server.udp_msg(&chaos).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);

    let axfr = server.tcp("dyn.example.", RecordType::AXFR).await;
    assert_eq!(axfr.metadata.response_code, ResponseCode::Refused);
    assert!(axfr.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_counted_by_outcome() {
    let server = TestServer::start(fixture(1)).await;
    server.udp("www.dyn.example.", RecordType::A).await;
    server.udp("www.dyn.example.", RecordType::SRV).await;
    server.udp("nothing.dyn.example.", RecordType::A).await;
    server.tcp("example.org.", RecordType::A).await;
    server
        .udp_msg(&Message::new(9, MessageType::Query, OpCode::Query))
        .await;
    let s = server.stats.snapshot();
    assert_eq!(s.noerror, 1);
    assert_eq!(s.nodata, 1);
    assert_eq!(s.nxdomain, 1);
    assert_eq!(s.refused, 1);
    assert_eq!(s.formerr, 1);
    assert_eq!(s.tcp, 1);
    assert_eq!(s.total, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_binds_one_port_for_udp_and_tcp_and_the_port_is_exclusive() {
    let listeners = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listeners.local_addr();
    assert_ne!(addr.port(), 0);
    // Both protocols hold the port.
    assert!(UdpSocket::bind(addr).is_err());
    assert!(std::net::TcpListener::bind(addr).is_err());
    // A second node on the same port fails instead of sharing the traffic.
    assert!(bind(addr).is_err());
    drop(listeners);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_reuseport_udp_sockets_all_answer() {
    let listeners = dyn53_dns::bind_with("127.0.0.1:0".parse().unwrap(), 3).unwrap();
    let addr = listeners.local_addr();
    assert!(bind(addr).is_err());
    let store = std::sync::Arc::new(dyn53_dns::Store::new());
    store.load(fixture(1));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(dyn53_dns::serve(store, listeners, async move {
        let _ = stopped.await;
    }));
    // Distinct client ports hash to different sockets; every query is answered.
    for i in 0..30u16 {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut msg = query("www.dyn.example.", RecordType::A);
        msg.metadata.id = i;
        socket.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
        let mut buf = [0u8; 512];
        let (len, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        let answer = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(answer.metadata.id, i);
        assert_eq!(answer.answers.len(), 1);
    }
    let _ = stop.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_server_and_frees_the_port() {
    let server = TestServer::start(fixture(1)).await;
    let addr = server.addr;
    server.udp("www.dyn.example.", RecordType::A).await;
    server.stop().await.expect("clean stop");
    // The port can be bound again.
    let again = bind(addr).expect("port free after shutdown");
    assert_eq!(again.local_addr(), addr);
}

/// A server whose future is dropped (its task aborted) stops too: its UDP receive loops,
/// which run on threads of their own, do not outlive it or keep its port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_server_stops_answering_and_frees_the_port() {
    let listeners = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listeners.local_addr();
    let store = std::sync::Arc::new(dyn53_dns::Store::new());
    store.load(fixture(1));
    let task = tokio::spawn(dyn53_dns::serve(
        store,
        listeners,
        std::future::pending::<()>(),
    ));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ask = || async {
        let msg = query("www.dyn.example.", RecordType::A).to_vec().unwrap();
        client.send_to(&msg, addr).await.unwrap();
        let mut buf = [0u8; 512];
        tokio::time::timeout(
            std::time::Duration::from_millis(300),
            client.recv_from(&mut buf),
        )
        .await
        .is_ok()
    };
    assert!(ask().await, "answered while running");
    task.abort();
    let _ = task.await;
    let deadline = tokio::time::Instant::now() + WAIT;
    // A plain socket (no SO_REUSEPORT) binds only once none of the server's holds the port.
    let again = loop {
        match UdpSocket::bind(addr) {
            Ok(again) => break again,
            Err(error) if tokio::time::Instant::now() > deadline => {
                panic!("port still held after the abort: {error}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    };
    drop(again);
    assert!(!ask().await, "nobody answers once the server is gone");
}

/// Queries from several clients arriving together are received and answered in batches
/// (`recvmmsg`/`sendmmsg` on Linux): each client gets exactly the answers to its own queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_arriving_together_are_each_answered_to_their_own_client() {
    let server = TestServer::start(fixture(1)).await;
    let names = ["www.dyn.example.", "mx.dyn.example.", "nope.dyn.example."];
    let mut clients = Vec::new();
    for (i, source) in ["127.0.0.1", "127.0.0.1", "127.0.1.1", "127.0.1.1"]
        .iter()
        .enumerate()
    {
        let socket = tokio::net::UdpSocket::bind((source.parse::<std::net::IpAddr>().unwrap(), 0))
            .await
            .unwrap();
        clients.push((socket, names[i % names.len()]));
    }
    // 4 × 40 queries, interleaved, all sent before any answer is read.
    const EACH: u16 = 40;
    for n in 0..EACH {
        for (c, (socket, name)) in clients.iter().enumerate() {
            let mut msg = query(name, RecordType::A);
            msg.metadata.id = c as u16 * 1000 + n;
            socket
                .send_to(&msg.to_vec().unwrap(), server.addr)
                .await
                .unwrap();
        }
    }
    for (c, (socket, name)) in clients.iter().enumerate() {
        let mut ids = Vec::new();
        let mut buf = [0u8; 512];
        while ids.len() < usize::from(EACH) {
            let (len, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
                .await
                .expect("every query answered")
                .unwrap();
            let answer = Message::from_vec(&buf[..len]).unwrap();
            assert_eq!(answer.queries[0].name().to_ascii(), *name, "client {c}");
            ids.push(answer.metadata.id);
        }
        ids.sort_unstable();
        let expected: Vec<u16> = (0..EACH).map(|n| c as u16 * 1000 + n).collect();
        assert_eq!(ids, expected, "client {c}");
    }
}
