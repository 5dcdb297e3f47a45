//! `dyn53 dns`: a fleet node. It needs only Redis: it serves its local copy at once, loads
//! the current copy from Redis (or continues from its own revision), follows the log, and
//! reports itself about once a second.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::exporter::serve_status;
use crate::fleet::{self, Keys, NodeReport, RedisFeed, Reporter};
use crate::local_copy::{LocalCopy, Persisted};
use crate::options::DnsOptions;
use crate::status::{NodeStatus, Serving};
use crate::store::Store;

const REPORT_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// How this node is listed by `dyn53 fleet`.
    pub id: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub dns_addr: SocketAddr,
    pub status_addr: Option<SocketAddr>,
    /// Where the local copy lives.
    pub data_dir: PathBuf,
    /// Rate limiting and cookies.
    pub dns_options: DnsOptions,
}

/// Runs a node until `shutdown` completes.
pub async fn run_node(
    config: NodeConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let store = Arc::new(Store::new());
    let copy = LocalCopy::open(&config.data_dir)
        .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
    match copy.read() {
        Ok(Some((snapshot, batches))) => {
            store.load(snapshot);
            for batch in &batches {
                store.apply(batch);
            }
            info!(revision = store.revision(), "serving the local copy");
        }
        Ok(None) => info!("no local copy: waiting for the feed"),
        Err(error) => warn!(%error, "cannot read the local copy: waiting for the feed"),
    }

    let keys = Keys::new(&config.redis_prefix);
    let feed =
        RedisFeed::new(&config.redis_url, keys.clone()).context("reading DYN53_REDIS_URL")?;
    let dns = crate::bind(config.dns_addr)
        .with_context(|| format!("binding DNS on {}", config.dns_addr))?
        .with_options(config.dns_options.clone());
    let dns_addr = dns.local_addr();
    let status = Arc::new(NodeStatus::new(Serving::new(store.clone(), dns.stats())));
    let status_listener = match config.status_addr {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding the status port on {addr}"))?,
        ),
        None => None,
    };
    let status_addr = status_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or_else(|| "off".to_owned(), |a| a.to_string());

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(crate::follow(
        store.clone(),
        Persisted::new(feed, copy),
        stopped(stop_rx.clone()),
    ));
    let dns_store = store.clone();
    let dns_stop = stopped(stop_rx.clone());
    tasks.spawn(async move {
        if let Err(error) = crate::serve(dns_store, dns, dns_stop).await {
            warn!(%error, "DNS server failed");
        }
    });
    if let Some(listener) = status_listener {
        let served = serve_status(listener, vec![status.clone()], stopped(stop_rx.clone()));
        tasks.spawn(async move {
            if let Err(error) = served.await {
                warn!(%error, "the status port failed");
            }
        });
    }
    let conn = fleet::connect(&config.redis_url, Duration::from_secs(2))?;
    let started_ms = fleet::now_ms();
    let reporter = Reporter::new(
        store.clone(),
        status.serving.stats.clone(),
        NodeReport {
            id: config.id.clone(),
            dns: dns_addr.to_string(),
            started_ms,
            ..NodeReport::default()
        },
    );
    tasks.spawn(report_loop(conn, keys, reporter, status, stopped(stop_rx)));

    // Tests and scripts read this line to learn the ports they got.
    info!(node = %config.id, dns = %dns_addr, status = %status_addr, "dyn53 node listening");
    crate::tell_systemd_ready();
    shutdown.await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Tells Redis how this node is doing, and learns how far the feed is.
async fn report_loop(
    mut conn: redis::aio::ConnectionManager,
    keys: Keys,
    mut reporter: Reporter,
    status: Arc<NodeStatus>,
    shutdown: impl Future,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.as_mut() => return,
        }
        let report = reporter.sample();
        let result = async {
            if let Some(meta) = fleet::read_meta(&mut conn, &keys).await? {
                status.feed_revision.store(meta.revision, Relaxed);
            }
            fleet::report_node(&mut conn, &keys, report).await
        }
        .await;
        status.feed_reachable.store(result.is_ok(), Relaxed);
    }
}
