//! Bad packets never take the server down: it keeps answering afterwards.

use std::time::Duration;

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;
use tokio::net::TcpStream;

use crate::support::*;

async fn still_answers(server: &TestServer) {
    let udp = server.udp("www.dyn.example.", RecordType::A).await;
    assert_eq!(udp.answers.len(), 1);
    let tcp = server.tcp("www.dyn.example.", RecordType::A).await;
    assert_eq!(tcp.answers.len(), 1);
}

/// A small deterministic generator: the same "random" packets on every run.
fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_headers_and_garbage_over_udp() {
    let server = TestServer::start(fixture(1)).await;
    let short = Duration::from_millis(200);
    // Shorter than a header: silently dropped.
    for len in [0usize, 1, 5, 11] {
        let packet = pseudo_random_bytes(len as u64, len);
        assert!(server.udp_raw_wait(&packet, short).await.is_none());
    }
    // A header that promises a question that is not there: FORMERR with the same ID.
    let header_only = [0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    let answer = server
        .udp_raw_wait(&header_only, short)
        .await
        .expect("FORMERR");
    let msg = Message::from_vec(&answer).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(msg.metadata.id, 0x1234);
    // The same as a response: dropped, never reflected.
    let mut reflected = header_only;
    reflected[2] |= 0x80;
    assert!(server.udp_raw_wait(&reflected, short).await.is_none());
    // Garbage of many sizes, with the QR bit both clear and set.
    for seed in 0..200u64 {
        let len = 12 + (seed as usize * 7) % 500;
        let mut packet = pseudo_random_bytes(seed, len);
        if seed % 2 == 0 {
            packet[2] &= 0x7f;
        }
        let _ = server.udp_raw_wait(&packet, Duration::from_millis(5)).await;
    }
    // A compression pointer loop in the question name.
    let pointer_loop = [
        0xab, 0xcd, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01,
    ];
    let answer = server
        .udp_raw_wait(&pointer_loop, short)
        .await
        .expect("FORMERR");
    let msg = Message::from_vec(&answer).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::FormErr);
    // A label running past the end of the packet.
    let overrun = [
        0xab, 0xce, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, b'a', b'b',
    ];
    let _ = server.udp_raw_wait(&overrun, short).await;
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_sent_to_the_server_are_not_answered() {
    let server = TestServer::start(fixture(1)).await;
    let mut msg = query("www.dyn.example.", RecordType::A);
    msg.metadata.message_type = hickory_server::proto::op::MessageType::Response;
    let bytes = msg.to_vec().unwrap();
    assert!(
        server
            .udp_raw_wait(&bytes, Duration::from_millis(300))
            .await
            .is_none(),
        "no reflection"
    );
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_abrupt_closes_over_tcp() {
    let server = TestServer::start(fixture(1)).await;
    // A frame of garbage.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let _ = tcp_exchange(&mut stream, &pseudo_random_bytes(7, 40)).await;
    drop(stream);
    // A length prefix promising more than is sent, then a close.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stream.write_all(&[0x01, 0x00, 0xde, 0xad]).await.unwrap();
    drop(stream);
    // A connection that sends nothing.
    let idle = TcpStream::connect(server.addr).await.unwrap();
    // Several queries on one connection are all answered.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        let q = query("mx.dyn.example.", RecordType::A);
        let answer = tcp_exchange(&mut stream, &q.to_vec().unwrap())
            .await
            .expect("answered");
        let msg = Message::from_vec(&answer).unwrap();
        assert_eq!(msg.metadata.id, q.metadata.id);
        assert_eq!(msg.answers.len(), 1);
    }
    still_answers(&server).await;
    drop(idle);
}
