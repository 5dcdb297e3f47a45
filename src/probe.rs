//! `dyn53 probe URL`: the health check of the container image, which holds nothing but the
//! binary (no curl): one `GET`, success on a 2xx answer within a few seconds.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};

const TIMEOUT: Duration = Duration::from_secs(3);

pub fn probe(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if parsed.scheme() != "http" {
        bail!("{url}: only http:// URLs (the service's own ports)");
    }
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("{url}: resolving {host}"))?
        .next()
        .with_context(|| format!("{url}: {host} has no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("{url}: connecting"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let target = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: dyn53-probe\r\n\r\n"
    )
    .with_context(|| format!("{url}: sending"))?;
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .with_context(|| format!("{url}: reading the answer"))?;
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if !code.starts_with('2') || code.len() != 3 {
        bail!("{url} answered {:?}", status.trim_end());
    }
    Ok(())
}
