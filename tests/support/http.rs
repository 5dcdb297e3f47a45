//! A deliberately small HTTP/1.x client over a raw socket, so tests control every byte
//! the way fragile field clients do (HTTP/1.0, odd query strings, oversized headers).

use std::net::SocketAddr;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes and reads the answer until the server closes the connection.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut bytes = Vec::new();
    // A server may reset after answering an oversized request: keep what arrived.
    let _ = stream.read_to_end(&mut bytes).await;
    parse(&bytes).ok_or_else(|| {
        std::io::Error::other(format!(
            "unparseable answer: {:?}",
            String::from_utf8_lossy(&bytes)
        ))
    })
}

fn parse(bytes: &[u8]) -> Option<Response> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = &bytes[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunked(body)
    } else {
        body.to_vec()
    };
    Some(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The content of a chunked body (a streamed answer); what arrived of it if the server
/// closed the connection before the last chunk.
fn dechunked(mut body: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let (Some(size @ 1..), Some(rest)) = (size, body.get(end + 2..)) else {
            break;
        };
        content.extend_from_slice(&rest[..size.min(rest.len())]);
        body = rest.get(size + 2..).unwrap_or_default();
    }
    content
}

/// `GET path` over HTTP/1.1 with `Connection: close`, optional Basic credentials and agent.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    auth: Option<(&str, &str)>,
    agent: Option<&str>,
) -> Response {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some((user, pass)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    if let Some(agent) = agent {
        request.push_str(&format!("User-Agent: {agent}\r\n"));
    }
    request.push_str("\r\n");
    raw(addr, request.as_bytes()).await.expect("HTTP exchange")
}

pub const AGENT: &str = "dyn53-tests/1.0 tests@example.com";

/// A dyndns2 update with Basic credentials and a proper agent.
pub async fn update(addr: SocketAddr, user: &str, pass: &str, query: &str) -> Response {
    get(
        addr,
        &format!("/nic/update?{query}"),
        Some((user, pass)),
        Some(AGENT),
    )
    .await
}
