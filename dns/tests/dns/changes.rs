//! Changes applied to a running server's store show in its answers.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dyn53_dns::feed::{Change, HostRecords};
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{RData, RecordType};

use crate::support::*;

async fn serial(server: &TestServer, zone: &str) -> u32 {
    let msg = server.udp(&format!("{zone}."), RecordType::SOA).await;
    match &msg.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not SOA: {other:?}"),
    }
}

fn first_a(msg: &Message) -> Option<Ipv4Addr> {
    msg.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soa_serial_increases_with_each_change_to_the_zone() {
    let server = TestServer::start(fixture(5)).await;
    assert_eq!(serial(&server, ZONE).await, 5);
    assert_eq!(serial(&server, "other.example").await, 5);

    server.store.apply(&batch(
        6,
        vec![upsert(
            ZONE,
            a_host("new.dyn.example", Ipv4Addr::new(10, 0, 0, 1)),
        )],
    ));
    assert_eq!(serial(&server, ZONE).await, 6);
    // A zone the batch did not touch keeps its serial.
    assert_eq!(serial(&server, "other.example").await, 5);
    // Negative answers carry the new serial too.
    let nx = server.udp("gone.dyn.example.", RecordType::A).await;
    let RData::SOA(soa) = &nx.authorities[0].data else {
        panic!("SOA")
    };
    assert_eq!(soa.serial, 6);

    server.store.apply(&batch(
        7,
        vec![Change::HostDelete {
            zone: ZONE.into(),
            name: "new.dyn.example".into(),
        }],
    ));
    assert_eq!(serial(&server, ZONE).await, 7);
    assert_eq!(server.store.revision(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_replace_a_hosts_records() {
    let server = TestServer::start(fixture(1)).await;
    server.store.apply(&batch(
        2,
        vec![upsert(
            ZONE,
            HostRecords {
                name: "www.dyn.example".into(),
                ttl: 300,
                a: vec![Ipv4Addr::new(203, 0, 113, 9)],
                ..Default::default()
            },
        )],
    ));
    let a = server.udp("www.dyn.example.", RecordType::A).await;
    assert_eq!(first_a(&a), Some(Ipv4Addr::new(203, 0, 113, 9)));
    assert_eq!(a.answers[0].ttl, 300);
    // The AAAA it no longer has: NODATA.
    let aaaa = server.udp("www.dyn.example.", RecordType::AAAA).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_delete_and_zone_delete() {
    let server = TestServer::start(fixture(1)).await;
    server.store.apply(&batch(
        2,
        vec![Change::HostDelete {
            zone: ZONE.into(),
            name: "a.b.dyn.example".into(),
        }],
    ));
    let gone = server.udp("a.b.dyn.example.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);
    // Its empty non-terminal went with it.
    let ent = server.udp("b.dyn.example.", RecordType::A).await;
    assert_eq!(ent.metadata.response_code, ResponseCode::NXDomain);

    server.store.apply(&batch(
        3,
        vec![Change::ZoneDelete {
            zone: "other.example".into(),
        }],
    ));
    let refused = server.udp("host.other.example.", RecordType::A).await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    // The alias into that zone now only gives its CNAME.
    let cross = server.udp("cross.dyn.example.", RecordType::A).await;
    assert_eq!(cross.answers.len(), 1);

    // A zone created later starts empty, with its own apex.
    server.store.apply(&batch(
        4,
        vec![
            Change::ZoneUpsert(zone("other.example")),
            upsert(
                "other.example",
                a_host("back.other.example", Ipv4Addr::new(10, 9, 9, 9)),
            ),
        ],
    ));
    assert_eq!(serial(&server, "other.example").await, 4);
    let old = server.udp("host.other.example.", RecordType::A).await;
    assert_eq!(old.metadata.response_code, ResponseCode::NXDomain);
    let back = server.udp("back.other.example.", RecordType::A).await;
    assert_eq!(first_a(&back), Some(Ipv4Addr::new(10, 9, 9, 9)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_upsert_changes_the_apex_and_keeps_the_hosts() {
    let server = TestServer::start(fixture(1)).await;
    let mut data = zone(ZONE);
    data.minimum = 10;
    data.ns = vec!["ns.elsewhere.test".into()];
    server
        .store
        .apply(&batch(2, vec![Change::ZoneUpsert(data)]));
    let ns = server.udp("dyn.example.", RecordType::NS).await;
    assert_eq!(ns.answers.len(), 1);
    let nx = server.udp("nothing.dyn.example.", RecordType::A).await;
    assert_eq!(nx.authorities[0].ttl, 10);
    let www = server.udp("www.dyn.example.", RecordType::A).await;
    assert_eq!(first_a(&www), Some(Ipv4Addr::new(192, 0, 2, 1)));
}

/// Each batch moves an alias to a fresh target and deletes the previous target, in an
/// order that would expose a dangling CNAME if a reader ever saw part of a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_seen_whole_or_not_at_all() {
    let server = Arc::new(TestServer::start(fixture(1)).await);
    server.store.apply(&batch(
        2,
        vec![
            upsert(ZONE, a_host("t2.dyn.example", Ipv4Addr::new(10, 0, 0, 2))),
            upsert(ZONE, alias("moving.dyn.example", "t2.dyn.example")),
        ],
    ));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let server = server.clone();
        let done = done.clone();
        tokio::spawn(async move {
            for rev in 3u64..300 {
                let ip = Ipv4Addr::new(10, 0, (rev / 256) as u8, (rev % 256) as u8);
                server.store.apply(&batch(
                    rev,
                    vec![
                        Change::HostDelete {
                            zone: ZONE.into(),
                            name: format!("t{}.dyn.example", rev - 1),
                        },
                        upsert(
                            ZONE,
                            alias("moving.dyn.example", &format!("t{rev}.dyn.example")),
                        ),
                        upsert(ZONE, a_host(&format!("t{rev}.dyn.example"), ip)),
                    ],
                ));
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut seen = 0;
    while !done.load(Ordering::SeqCst) || seen == 0 {
        let msg = server.udp("moving.dyn.example.", RecordType::A).await;
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError, "{msg:?}");
        assert_eq!(msg.answers.len(), 2, "CNAME and its target's A: {msg:?}");
        let RData::CNAME(target) = &msg.answers[0].data else {
            panic!("CNAME first")
        };
        let rev: u64 = target.0.to_ascii()[1..]
            .split('.')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("t<rev>");
        let ip = Ipv4Addr::new(10, 0, (rev / 256) as u8, (rev % 256) as u8);
        assert_eq!(first_a(&msg), Some(ip));
        seen += 1;
    }
    writer.await.unwrap();
    assert!(seen > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_returns_once_the_revision_is_served() {
    let server = TestServer::start(fixture(1)).await;
    let store = server.store.clone();
    let waiter = tokio::spawn(async move { store.wait_for(3).await });
    server.store.apply(&batch(2, vec![]));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiter.is_finished());
    server.store.apply(&batch(3, vec![]));
    tokio::time::timeout(WAIT, waiter).await.unwrap().unwrap();
    let mut rx = server.store.subscribe();
    assert_eq!(*rx.borrow_and_update(), Some(3));
}
