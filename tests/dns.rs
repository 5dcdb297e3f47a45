//! The DNS port of `dyn53 serve`: its node limits UDP answers like a fleet node
//! (`--rrl-*`), over real sockets from two loopback sources (127.0.0.1 and 127.0.1.1 are
//! different /24 prefixes). The database plays no part here, so SQLite alone.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::op::Message;
use hickory_server::proto::rr::RecordType;
use support::{Backend, Server, dns, eventually};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A server whose `www.dyn.test` has an address, served (checked over TCP, which is never
/// limited, so that waiting does not use up the buckets under test).
async fn server_with_host(env: &[(&str, &str)]) -> Server {
    let server = Server::start_with(Backend::Sqlite, env).await;
    server.add_user("alice@example.com", "correct horse battery");
    server.cli_ok(&[
        "host",
        "add",
        "www.dyn.test",
        "--owner",
        "alice@example.com",
        "--ipv4",
        "192.0.2.80",
    ]);
    let served = eventually(Duration::from_secs(3), async || {
        let answer = dns::tcp(server.dns, "www.dyn.test.", RecordType::A).await;
        (!dns::addresses(&answer).is_empty()).then_some(())
    })
    .await;
    assert!(served.is_some(), "www.dyn.test is not served");
    server
}

/// Sends `count` queries for `www.dyn.test` from `from`, 50 at a time (no socket buffer
/// overflows on either side); returns what came back until the server has been quiet for
/// a while.
async fn flood(server: SocketAddr, from: &str, count: usize) -> Vec<Message> {
    let from: IpAddr = from.parse().expect("a source address");
    let socket = UdpSocket::bind((from, 0)).await.expect("a loopback source");
    let query = dns::query_message("www.dyn.test.", RecordType::A)
        .to_vec()
        .expect("encode");
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_535];
    let mut sent = 0;
    while sent < count {
        for _ in 0..(count - sent).min(50) {
            socket.send_to(&query, server).await.expect("send");
            sent += 1;
        }
        let quiet = if sent < count { 20 } else { 300 };
        while let Ok(Ok((len, _))) =
            timeout(Duration::from_millis(quiet), socket.recv_from(&mut buf)).await
        {
            answers.push(Message::from_vec(&buf[..len]).expect("decode"));
        }
    }
    answers
}

/// (full answers, slipped answers: truncated and empty); nothing else may come back.
fn tally(answers: &[Message]) -> (usize, usize) {
    let full = answers
        .iter()
        .filter(|m| !m.metadata.truncation && dns::addresses(m).len() == 1)
        .count();
    let slipped = answers
        .iter()
        .filter(|m| m.metadata.truncation && m.answers.is_empty())
        .count();
    assert_eq!(full + slipped, answers.len(), "nothing else: {answers:?}");
    (full, slipped)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_limits_a_flood_from_one_source_at_the_configured_rate() {
    let server = server_with_host(&[("DYN53_RRL_RATE", "10")]).await;
    let (full, slipped) = tally(&flood(server.dns, "127.0.0.1", 100).await);
    // One second's burst and what trickles in during the flood; of the rest, every second
    // one slips (the default slip), the others are dropped.
    assert!((10..=20).contains(&full), "{full} full answers");
    let limited = 100 - full;
    assert!(
        slipped.abs_diff(limited / 2) <= 1,
        "{slipped} slipped of {limited} limited"
    );
    // Another source prefix is answered in full meanwhile.
    assert_eq!(tally(&flood(server.dns, "127.0.1.1", 5).await), (5, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_limits_by_default_and_exempts_what_it_is_told() {
    // The default is `dyn53 dns`'s: 200 answers a second per source, name and kind.
    let server = server_with_host(&[]).await;
    let (full, slipped) = tally(&flood(server.dns, "127.0.0.1", 600).await);
    assert!(full < 400, "{full} full answers of 600");
    assert!(slipped > 0, "nothing slipped");

    let exempt = server_with_host(&[("DYN53_RRL_EXEMPT", "127.0.0.0/24")]).await;
    assert_eq!(tally(&flood(exempt.dns, "127.0.0.1", 600).await), (600, 0));
}
