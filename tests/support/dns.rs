//! DNS queries over real UDP and TCP sockets, built and parsed with hickory's own types.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub fn query_message(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(
        Name::from_str(name).expect("query name"),
        rtype,
    ));
    msg
}

/// One UDP query; panics when no answer arrives within two seconds.
pub async fn udp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let bytes = query_message(name, rtype).to_vec().expect("encode");
    socket.send_to(&bytes, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .expect("DNS answer within 2 s")
        .expect("recv");
    Message::from_vec(&buf[..len]).expect("decode")
}

pub async fn tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    let bytes = query_message(name, rtype).to_vec().expect("encode");
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .expect("send");
    stream.write_all(&bytes).await.expect("send");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.expect("length");
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.expect("answer");
    Message::from_vec(&buf).expect("decode")
}

/// The A and AAAA addresses in an answer section.
pub fn addresses(msg: &Message) -> Vec<IpAddr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The addresses `name` answers with for `rtype`, over UDP.
pub async fn lookup(server: SocketAddr, name: &str, rtype: RecordType) -> Vec<IpAddr> {
    addresses(&udp(server, name, rtype).await)
}

/// The TXT values `name` answers with, sorted.
pub async fn txt(server: SocketAddr, name: &str) -> Vec<String> {
    let msg = udp(server, name, RecordType::TXT).await;
    let mut texts: Vec<String> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    texts.sort();
    texts
}

/// The SOA serial `server` answers for `zone`, if it answers it (NOERROR with an SOA).
pub async fn soa_serial(server: SocketAddr, zone: &str) -> Option<u32> {
    let answer = udp(server, zone, RecordType::SOA).await;
    if answer.metadata.response_code != hickory_server::proto::op::ResponseCode::NoError {
        return None;
    }
    answer.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}
