//! Response rate limiting and DNS cookies, over real sockets from several source addresses
//! (127.0.0.1 and 127.0.1.1 are different /24 prefixes of the loopback network).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dyn53_dns::exporter::{self, Source};
use dyn53_dns::status::Serving;
use dyn53_dns::{CookieSecret, DnsOptions, RrlConfig};
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;
use hickory_server::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::support::*;

const RATE: u32 = 10;
const FLOOD: usize = 100;

fn limited(rrl: RrlConfig) -> DnsOptions {
    DnsOptions {
        rrl: Some(rrl),
        ..DnsOptions::default()
    }
}

fn rrl() -> RrlConfig {
    RrlConfig {
        rate: RATE,
        ..RrlConfig::default()
    }
}

/// What a flood of `msgs` from `from` got back: answers are collected until the server
/// has been quiet for a while.
async fn flood(server: SocketAddr, from: &str, msgs: &[Message]) -> Vec<Message> {
    let socket = UdpSocket::bind((from.parse::<IpAddr>().unwrap(), 0))
        .await
        .expect("a loopback source address");
    for msg in msgs {
        socket
            .send_to(&msg.to_vec().unwrap(), server)
            .await
            .unwrap();
    }
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while let Ok(Ok((len, _))) =
        timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await
    {
        answers.push(Message::from_vec(&buf[..len]).unwrap());
    }
    answers
}

fn queries(name: &str, count: usize) -> Vec<Message> {
    (0..count).map(|_| query(name, RecordType::TXT)).collect()
}

/// (full answers, slipped answers: truncated and empty).
fn tally(answers: &[Message]) -> (usize, usize) {
    let slipped = answers
        .iter()
        .filter(|m| m.metadata.truncation && m.answers.is_empty())
        .count();
    let full = answers
        .iter()
        .filter(|m| !m.metadata.truncation && !m.answers.is_empty())
        .count();
    assert_eq!(full + slipped, answers.len(), "nothing else: {answers:?}");
    (full, slipped)
}

/// `msg` with a COOKIE option (and an OPT of 1232 bytes if it had none).
fn with_cookie(mut msg: Message, cookie: &[u8]) -> Message {
    if msg.edns.is_none() {
        msg = with_edns(msg, 1232);
    }
    let edns = msg.edns.as_mut().unwrap();
    edns.options_mut()
        .insert(EdnsOption::Unknown(10, cookie.to_vec()));
    msg
}

fn cookie_of(msg: &Message) -> Option<Vec<u8>> {
    match msg.edns.as_ref()?.option(EdnsCode::Cookie)? {
        EdnsOption::Unknown(10, data) => Some(data.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_source_is_limited_while_another_source_is_answered() {
    let server = TestServer::start_options(fixture(1), limited(rrl())).await;
    let answers = flood(
        server.addr,
        "127.0.0.1",
        &queries("www.dyn.example.", FLOOD),
    )
    .await;
    let (full, slipped) = tally(&answers);
    // One second's burst (plus what trickles in during the flood) ...
    assert!(
        (RATE as usize..=RATE as usize + 5).contains(&full),
        "{full} full answers"
    );
    // ... then every second limited answer slips, the others are dropped.
    let over = FLOOD - full;
    assert!(
        slipped.abs_diff(over / 2) <= 1,
        "{slipped} slipped of {over} limited"
    );
    let stats = server.stats.snapshot();
    assert_eq!(stats.rrl_slipped as usize, slipped);
    assert_eq!(stats.rrl_dropped as usize, over - slipped);

    // Another /24 is answered in full meanwhile, and so is a TCP client from the first.
    let other = flood(server.addr, "127.0.1.1", &queries("www.dyn.example.", 5)).await;
    assert_eq!(tally(&other), (5, 0));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for msg in queries("www.dyn.example.", 20) {
        let bytes = tcp_exchange(&mut stream, &msg.to_vec().unwrap())
            .await
            .unwrap();
        assert_eq!(Message::from_vec(&bytes).unwrap().answers.len(), 1);
    }
    // Another name from the flooded source has its own bucket.
    let mx = flood(server.addr, "127.0.0.1", &queries("mx.dyn.example.", 1)).await;
    assert_eq!(mx.len(), 1);

    // The counters are on the status port.
    let metrics = exporter::install();
    Serving::new(server.store.clone(), server.stats.clone())
        .collect()
        .await;
    let metrics = metrics.render();
    assert!(
        metrics.contains(&format!(
            "dyn53_dns_rrl_limited_total{{action=\"slipped\"}} {slipped}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("dyn53_dns_rrl_limited_total{action=\"dropped\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_and_errors_share_a_bucket_per_zone_and_per_source() {
    let server = TestServer::start_options(fixture(1), limited(rrl())).await;
    // Random names: each NXDOMAIN is charged to the zone, each REFUSED to the source.
    let nxdomain: Vec<Message> = (0..40)
        .map(|i| query(&format!("r{i}.dyn.example."), RecordType::A))
        .collect();
    let refused: Vec<Message> = (0..40)
        .map(|i| query(&format!("r{i}.elsewhere.test."), RecordType::A))
        .collect();
    for (msgs, rcode) in [
        (nxdomain, ResponseCode::NXDomain),
        (refused, ResponseCode::Refused),
    ] {
        let answers = flood(server.addr, "127.0.0.1", &msgs).await;
        let full: Vec<_> = answers.iter().filter(|m| !m.metadata.truncation).collect();
        assert!(full.iter().all(|m| m.metadata.response_code == rcode));
        assert!(
            (RATE as usize..=RATE as usize + 5).contains(&full.len()),
            "{rcode}: {} full answers",
            full.len()
        );
        assert!(answers.len() < 40);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_sources_and_log_only_mode_are_answered_in_full() {
    let exempt = RrlConfig {
        exempt: vec!["127.0.0.0/24".parse().unwrap()],
        ..rrl()
    };
    let server = TestServer::start_options(fixture(1), limited(exempt)).await;
    let answers = flood(
        server.addr,
        "127.0.0.1",
        &queries("www.dyn.example.", FLOOD),
    )
    .await;
    assert_eq!(tally(&answers), (FLOOD, 0));
    // Only the exempt prefix.
    let other = flood(
        server.addr,
        "127.0.1.1",
        &queries("www.dyn.example.", FLOOD),
    )
    .await;
    assert!(tally(&other).0 < FLOOD / 2);

    let log_only = RrlConfig {
        log_only: true,
        ..rrl()
    };
    let server = TestServer::start_options(fixture(1), limited(log_only)).await;
    let answers = flood(
        server.addr,
        "127.0.0.1",
        &queries("www.dyn.example.", FLOOD),
    )
    .await;
    assert_eq!(tally(&answers), (FLOOD, 0));
    let stats = server.stats.snapshot();
    assert!(stats.rrl_logged as usize >= FLOOD - RATE as usize - 5);
    assert_eq!(stats.rrl_dropped + stats.rrl_slipped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cookie_gets_a_server_cookie_over_udp_and_tcp() {
    let server = TestServer::start(fixture(1)).await;
    let client = [1, 2, 3, 4, 5, 6, 7, 8];
    let msg = with_cookie(query("www.dyn.example.", RecordType::A), &client);
    for answer in [server.udp_msg(&msg).await, server.tcp_msg(&msg).await] {
        assert_eq!(answer.answers.len(), 1);
        let cookie = cookie_of(&answer).expect("a COOKIE option");
        // RFC 9018: client cookie, version 1, three reserved zero bytes, time, hash.
        assert_eq!(cookie.len(), 24);
        assert_eq!(cookie[..8], client);
        assert_eq!(cookie[8..12], [1, 0, 0, 0]);
    }
    // Errors carry it too, and queries without one get none.
    let refused = server
        .udp_msg(&with_cookie(query("example.org.", RecordType::A), &client))
        .await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(cookie_of(&refused).is_some());
    let plain = server
        .udp_msg(&with_edns(query("www.dyn.example.", RecordType::A), 1232))
        .await;
    assert_eq!(cookie_of(&plain), None);
    let stats = server.stats.snapshot();
    assert_eq!((stats.cookies_new, stats.cookies_valid), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_cookie_gets_formerr() {
    let server = TestServer::start(fixture(1)).await;
    for len in [0, 5, 12, 41] {
        let msg = with_cookie(query("www.dyn.example.", RecordType::A), &vec![9; len]);
        for answer in [server.udp_msg(&msg).await, server.tcp_msg(&msg).await] {
            assert_eq!(
                answer.metadata.response_code,
                ResponseCode::FormErr,
                "{len}"
            );
            assert!(answer.answers.is_empty());
            assert!(answer.edns.is_some(), "with our OPT");
            assert_eq!(cookie_of(&answer), None);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_valid_server_cookie_is_not_limited() {
    let secret: CookieSecret = "00112233445566778899aabbccddeeff".parse().unwrap();
    let options = DnsOptions {
        rrl: Some(rrl()),
        cookie_secret: secret,
    };
    let server = TestServer::start_options(fixture(1), options).await;
    let client = [8, 7, 6, 5, 4, 3, 2, 1];
    // Learn a server cookie (from the source the flood comes from).
    let first = flood(
        server.addr,
        "127.0.0.1",
        &[with_cookie(
            query("www.dyn.example.", RecordType::TXT),
            &client,
        )],
    )
    .await;
    let cookie = cookie_of(&first[0]).expect("a server cookie");
    let msgs: Vec<Message> = (0..FLOOD)
        .map(|_| with_cookie(query("www.dyn.example.", RecordType::TXT), &cookie))
        .collect();
    let answers = flood(server.addr, "127.0.0.1", &msgs).await;
    assert_eq!(tally(&answers), (FLOOD, 0), "never limited");
    assert!(server.stats.snapshot().cookies_valid >= FLOOD as u64);

    // The same cookie from another address, or a forged hash, proves nothing.
    let stolen = flood(server.addr, "127.0.1.1", &msgs).await;
    assert!(tally(&stolen).0 < FLOOD / 2);
    let mut forged_cookie = cookie.clone();
    forged_cookie[23] ^= 1;
    let forged: Vec<Message> = (0..FLOOD)
        .map(|_| with_cookie(query("www.dyn.example.", RecordType::TXT), &forged_cookie))
        .collect();
    let answers = flood(server.addr, "127.0.2.1", &forged).await;
    assert!(tally(&answers).0 < FLOOD / 2);
    // A slipped answer still hands out a valid cookie, to come back with over UDP.
    let slipped = answers
        .iter()
        .find(|m| m.metadata.truncation)
        .expect("a slipped answer");
    assert_eq!(cookie_of(slipped).map(|c| c.len()), Some(24));

    // Another node with the same secret accepts the cookie (a fleet sharing
    // DYN53_COOKIE_SECRET).
    let twin = TestServer::start_options(
        fixture(1),
        DnsOptions {
            rrl: Some(rrl()),
            cookie_secret: secret,
        },
    )
    .await;
    let answers = flood(twin.addr, "127.0.0.1", &msgs).await;
    assert_eq!(tally(&answers), (FLOOD, 0));
}

/// The cookie makes our OPT 28 bytes longer: the size check must count it, or an answer
/// just under the limit without it would go out partial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_a_cookie_are_whole_or_truncated_never_partial() {
    let mut snapshot = fixture(1);
    let lengths = 400..=480;
    for len in lengths.clone() {
        snapshot.zones[0].hosts.push(dyn53_dns::feed::HostRecords {
            name: format!("l{len}.dyn.example"),
            ttl: 60,
            txt: vec!["x".repeat(len)],
            ..Default::default()
        });
    }
    let server = TestServer::start(snapshot).await;
    let (mut whole, mut truncated) = (0, 0);
    for len in lengths {
        let msg = with_cookie(
            with_edns(query(&format!("l{len}.dyn.example."), RecordType::TXT), 512),
            &[3; 8],
        );
        let bytes = server.udp_raw(&msg.to_vec().unwrap()).await.unwrap();
        assert!(bytes.len() <= 512, "{len}: {} bytes", bytes.len());
        let answer = Message::from_vec(&bytes).unwrap();
        assert!(cookie_of(&answer).is_some(), "{len}: the cookie is kept");
        if answer.metadata.truncation {
            truncated += 1;
            assert!(answer.answers.is_empty(), "{len}: no partial RRset");
        } else {
            whole += 1;
            assert_eq!(answer.answers.len(), 1, "{len}: the whole RRset");
        }
    }
    assert!(
        whole > 0 && truncated > 0,
        "{whole} whole, {truncated} truncated"
    );
}
