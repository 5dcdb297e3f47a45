//! `dyn53 serve`: the control plane, one DNS node and the in-process feed between them,
//! in one process.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use dyn53_dns::Store;
use tokio::sync::watch;

use crate::config::{Config, Storage};
use crate::db::Db;
use crate::feed::{LocalCommits, OutboxFeed};

use crate::http::{self, AppState};
use crate::ops;
use crate::update::Updater;

/// Opens the configured database and brings its schema up to date.
pub async fn open_db(storage: &Storage) -> anyhow::Result<Db> {
    if storage.database_url.is_none() {
        std::fs::create_dir_all(&storage.data_dir).with_context(|| {
            format!("creating the data directory {}", storage.data_dir.display())
        })?;
    }
    let db = Db::connect(&storage.database_url())
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("migrating the database")?;
    Ok(db)
}

/// How many applied revisions stay in the outbox: a reader that falls further behind than
/// this reloads a snapshot instead.
const OUTBOX_KEEP: u64 = 10_000;

/// Keeps the outbox short once the embedded DNS node has applied it.
async fn prune_outbox(db: Db, store: Arc<Store>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let below = store.revision().saturating_sub(OUTBOX_KEEP);
        if let Err(e) = db.prune_outbox(below).await {
            tracing::warn!("pruning the outbox: {e}");
        }
    }
}

/// Runs until `shutdown` completes, then stops cleanly.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let db = open_db(&config.storage).await?;
    for zone in ops::ensure_zones(&db, &config.zones).await? {
        tracing::info!(%zone, "created zone");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let store = Arc::new(Store::new());
    let local_commits = Arc::new(LocalCommits::default());
    let feed = OutboxFeed::new(db.clone(), local_commits.clone());
    let follower = tokio::spawn(dyn53_dns::follow(
        store.clone(),
        feed,
        stopped(stop_rx.clone()),
    ));
    store.ready().await;

    tokio::spawn(prune_outbox(db.clone(), store.clone()));

    let dns = dyn53_dns::bind(config.dns_addr)
        .with_context(|| format!("binding DNS on {}", config.dns_addr))?;
    let dns_addr = dns.local_addr();
    let dns_task = tokio::spawn(dyn53_dns::serve(
        store.clone(),
        dns,
        stopped(stop_rx.clone()),
    ));

    let listeners = config
        .http_addrs
        .iter()
        .map(|addr| TcpListener::bind(addr).with_context(|| format!("binding HTTP on {addr}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let http_addrs: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    let state = AppState {
        db: db.clone(),
        updater: Updater::new(db, local_commits),
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let (http_handle, http_server) = http::start(state, listeners)?;
    let http_task = tokio::spawn(http_server);

    // Tests and scripts read this line to learn the ports they got.
    tracing::info!(http = %http_addrs.join(","), dns = %dns_addr, "dyn53 listening");

    shutdown.await;
    tracing::info!("shutting down");
    http_handle.stop(true).await;
    let _ = stop_tx.send(true);
    let _ = http_task.await;
    let _ = dns_task.await;
    let _ = follower.await;
    Ok(())
}
