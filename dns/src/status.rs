//! A node's status port: `/metrics` (Prometheus text format), `/healthz` and `/readyz`.
//!
//! A few lines of HTTP/1.x by hand rather than a web framework in every DNS node: one short
//! GET per scrape, answered and closed.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::stats::Stats;
use crate::store::Store;

/// A request must arrive whole within this time and size.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_LIMIT: usize = 8 << 10;

/// What a node knows about itself, shared by the status port and its reports to Redis.
pub struct NodeStatus {
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    /// The feed's latest revision, as last read from Redis.
    pub feed_revision: AtomicU64,
    /// Whether the last contact with Redis worked.
    pub feed_reachable: AtomicBool,
}

impl NodeStatus {
    /// How many revisions the node is behind the feed (0 when it does not know better).
    pub fn lag(&self) -> u64 {
        self.feed_revision
            .load(Relaxed)
            .saturating_sub(self.store.revision())
    }

    /// The metrics in Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let gauge = |value: u64| [("", value)];
        let revision = self.store.revision();
        metric(
            "dyn53_node_revision",
            "gauge",
            "Feed revision this node serves.",
            &gauge(revision),
        );
        metric(
            "dyn53_node_feed_revision",
            "gauge",
            "Latest revision in the feed, as last read.",
            &gauge(self.feed_revision.load(Relaxed)),
        );
        metric(
            "dyn53_node_lag_revisions",
            "gauge",
            "Revisions published but not yet served.",
            &gauge(self.lag()),
        );
        metric(
            "dyn53_node_ready",
            "gauge",
            "1 once the node has data to serve.",
            &gauge(self.store.is_loaded().into()),
        );
        metric(
            "dyn53_node_feed_reachable",
            "gauge",
            "1 if the last contact with the feed worked.",
            &gauge(self.feed_reachable.load(Relaxed).into()),
        );
        metric(
            "dyn53_node_zones",
            "gauge",
            "Zones served.",
            &gauge(self.store.zone_count() as u64),
        );
        metric(
            "dyn53_node_names",
            "gauge",
            "Names served (hosts, apexes, empty non-terminals).",
            &gauge(self.store.name_count() as u64),
        );
        let s = self.stats.snapshot();
        metric(
            "dyn53_dns_responses_total",
            "counter",
            "DNS responses sent, by result.",
            &[
                ("{rcode=\"noerror\"}", s.noerror),
                ("{rcode=\"nodata\"}", s.nodata),
                ("{rcode=\"nxdomain\"}", s.nxdomain),
                ("{rcode=\"refused\"}", s.refused),
                ("{rcode=\"formerr\"}", s.formerr),
                ("{rcode=\"notimp\"}", s.notimp),
                ("{rcode=\"servfail\"}", s.servfail),
                ("{rcode=\"other\"}", s.other),
            ],
        );
        metric(
            "dyn53_dns_truncated_total",
            "counter",
            "UDP responses sent truncated.",
            &gauge(s.truncated),
        );
        metric(
            "dyn53_dns_tcp_queries_total",
            "counter",
            "Queries received over TCP.",
            &gauge(s.tcp),
        );
        metric(
            "dyn53_dns_rrl_limited_total",
            "counter",
            "UDP answers over the rate limit, by what was done with them.",
            &[
                ("{action=\"dropped\"}", s.rrl_dropped),
                ("{action=\"slipped\"}", s.rrl_slipped),
                ("{action=\"logged\"}", s.rrl_logged),
            ],
        );
        metric(
            "dyn53_dns_cookies_total",
            "counter",
            "Queries with a DNS cookie: a valid server cookie of ours, or a new one given.",
            &[
                ("{server_cookie=\"valid\"}", s.cookies_valid),
                ("{server_cookie=\"new\"}", s.cookies_new),
            ],
        );
        out
    }

    fn respond(&self, path: &str) -> (&'static str, String) {
        match path {
            "/metrics" => ("200 OK", self.metrics()),
            "/healthz" => ("200 OK", "ok\n".into()),
            "/readyz" if self.store.is_loaded() => ("200 OK", "ready\n".into()),
            "/readyz" => ("503 Service Unavailable", "no data yet\n".into()),
            _ => ("404 Not Found", "not found\n".into()),
        }
    }
}

/// Serves the status port until `shutdown` completes.
pub async fn serve_status(listener: TcpListener, status: Arc<NodeStatus>, shutdown: impl Future) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.as_mut() => return,
        };
        match stream {
            Ok((stream, _)) => {
                let status = status.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &status).await {
                        debug!(%error, "status request failed");
                    }
                });
            }
            Err(error) => debug!(%error, "status accept failed"),
        }
    }
}

async fn answer(mut stream: TcpStream, status: &NodeStatus) -> io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 || request.len() + n > REQUEST_LIMIT {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request"));
            }
            request.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await;
    let (code, body) = match read {
        Ok(Ok(())) => {
            let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut parts = line.split(' ');
            match (parts.next(), parts.next()) {
                (Some("GET" | "HEAD"), Some(target)) => {
                    status.respond(target.split('?').next().unwrap_or(target))
                }
                _ => ("405 Method Not Allowed", "GET only\n".into()),
            }
        }
        _ => ("400 Bad Request", "bad request\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {code}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !request.starts_with(b"HEAD ") {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}
