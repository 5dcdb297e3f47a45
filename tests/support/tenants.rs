//! The accounts most protocol tests start from, and assertions on what DNS serves.

use std::net::IpAddr;
use std::time::Duration;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

use super::{Backend, Server, dns, eventually};

pub const PASS: &str = "correct horse battery";

/// A server with alice (hosts home and office in dyn.test) and bob (host bob in dyn.test).
pub async fn setup(backend: Backend) -> Server {
    setup_with(backend, &[]).await
}

/// [`setup`] with extra environment variables for the server.
pub async fn setup_with(backend: Backend, env: &[(&str, &str)]) -> Server {
    let server = Server::start_with(backend, env).await;
    server.add_user("alice@example.com", PASS);
    server.add_user("bob@example.com", PASS);
    server.cli_ok(&[
        "host",
        "add",
        "home.dyn.test",
        "--owner",
        "alice@example.com",
    ]);
    server.cli_ok(&[
        "host",
        "add",
        "office.dyn.test",
        "--owner",
        "alice@example.com",
        "--ipv4",
        "198.51.100.1",
    ]);
    server.cli_ok(&[
        "host",
        "add",
        "bob.dyn.test",
        "--owner",
        "bob@example.com",
        "--ipv4",
        "198.51.100.9",
    ]);
    // The CLI's writes reach DNS through the outbox poll: start every test from a node
    // that has applied them, so later assertions see only what the test itself did.
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    server
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Waits until `name` answers exactly `expected` for `rtype` (the feed is asynchronous).
pub async fn assert_serves(server: &Server, name: &str, rtype: RecordType, expected: &[&str]) {
    let expected: Vec<IpAddr> = expected.iter().map(|s| ip(s)).collect();
    let got = eventually(Duration::from_secs(3), async || {
        let got = dns::lookup(server.dns, name, rtype).await;
        (got == expected).then_some(got)
    })
    .await;
    assert!(
        got.is_some(),
        "{name} {rtype} should serve {expected:?}, serves {:?}",
        dns::lookup(server.dns, name, rtype).await
    );
}

/// Waits until `name` answers exactly these TXT values (sorted).
pub async fn assert_txt(server: &Server, name: &str, expected: &[&str]) {
    let got = eventually(Duration::from_secs(3), async || {
        let got = dns::txt(server.dns, name).await;
        (got == expected).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "{name} TXT should be {expected:?}, is {:?}",
        dns::txt(server.dns, name).await
    );
}

/// Waits until `name` does not exist in DNS.
pub async fn assert_nxdomain(server: &Server, name: &str) {
    let gone = eventually(Duration::from_secs(3), async || {
        let answer = dns::udp(server.dns, name, RecordType::TXT).await;
        (answer.metadata.response_code == ResponseCode::NXDomain).then_some(())
    })
    .await;
    assert!(gone.is_some(), "{name} should be NXDOMAIN");
}
