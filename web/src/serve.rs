//! Running the services: `dyn53 serve` (the control plane, one DNS node and the in-process
//! feed between them, in one process) and `dyn53 web` (the control plane publishing to the
//! fleet feed in Redis, for `dyn53 dns` nodes).

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use dyn53_dns::exporter::{Source, serve_status};
use dyn53_dns::feed::Revision;
use dyn53_dns::fleet::{self, Keys, Publisher};
use dyn53_dns::status::Serving;
use dyn53_dns::{DnsOptions, Store};
use tokio::sync::watch;

use crate::app;
use crate::blocklists::Blocklists;
use crate::config::{Config, FleetConfig, Storage};
use crate::db::Db;
use crate::domain::SecretToken;
use crate::feed::{LocalCommits, OutboxFeed};
use crate::hashing::PasswordHashing;
use crate::mail::Mailer;
use crate::nodes::Nodes;
use crate::notify::{self, Webhooks};
use crate::private_files::{create_private, private_dir, tighten};
use crate::publish::{PublishStatus, run_publisher};
use crate::scrape::{ControlPlane, OutboxReader};
use crate::shared_limits::{ApiLimits, LoginLimits, MailLimits, SharedLimits};
use crate::state::AppState;
use crate::tls::ReloadingCert;
use crate::tokens::TokenKeys;
use crate::update::Updater;
use crate::{miniupdate, ops, rfc2136};

/// Whether opening the configured database may create it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The services and `migrate`: a new SQLite database is made when there is none.
    MayCreate,
    /// Operator commands: no database where they look means they look in the wrong place,
    /// and an empty new one would only hide that.
    Existing,
}

/// Opens the configured database and brings its schema up to date.
pub async fn open_db(storage: &Storage, opening: Opening) -> anyhow::Result<Db> {
    if storage.database_url.is_none() {
        let file = storage.sqlite_file();
        if opening == Opening::Existing && !file.exists() {
            bail!(
                "there is no dyn53 database at {}: run this where `dyn53 serve` runs, or set \
                 DYN53_DATA_DIR (or DYN53_DATABASE_URL) to the server's, in the environment or \
                 in a settings file (DYN53_CONFIG)",
                file.display()
            );
        }
        private_dir(&storage.data_dir).with_context(|| {
            format!("creating the data directory {}", storage.data_dir.display())
        })?;
        // SQLite gives its -wal and -shm files the database file's mode.
        create_private(&file).with_context(|| format!("creating {}", file.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", file.display());
            tighten(path.as_ref()).with_context(|| format!("making {path} private"))?;
        }
    }
    Ok(Db::open(&storage.database_url()).await?)
}

/// How many applied revisions stay in the outbox: a reader that falls further behind than
/// this reloads a snapshot instead.
const OUTBOX_KEEP: u64 = 10_000;

/// Keeps the outbox short once its batches are applied (`applied` says how far).
async fn prune_outbox(db: Db, applied: impl Fn() -> Revision) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let below = applied().saturating_sub(OUTBOX_KEEP);
        if let Err(e) = db.prune_outbox(below).await {
            tracing::warn!("pruning the outbox: {e}");
        }
    }
}

/// Completes once `stop` says so: how a service tells its tasks to end.
fn stopped(stop: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|stop| *stop).await;
    }
}

/// The database, with the configured zones present.
async fn open_control_plane(config: &Config) -> anyhow::Result<Db> {
    let db = open_db(&config.storage, Opening::MayCreate).await?;
    // Operator commands run elsewhere need to be told where the data is.
    match &config.storage.database_url {
        None => tracing::info!(
            "data in {dir}: run operator commands here, or with DYN53_DATA_DIR={dir}",
            dir = config.storage.data_dir.display()
        ),
        Some(_) => tracing::info!("data in {}", config.storage.place()),
    }
    for zone in ops::ensure_zones(&db, &config.zones).await? {
        tracing::info!(%zone, "created zone");
    }
    Ok(db)
}

/// The update protocols' servers: HTTP and miniupdate, around one update service.
struct Front {
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The HTTP addresses bound, comma-separated.
    addrs: String,
    /// The HTTPS addresses bound, comma-separated, or `off`.
    https_addrs: String,
    /// Reloads the HTTPS certificate when its files change.
    cert_watch: Option<tokio::task::JoinHandle<()>>,
    /// Reloads the block lists that every replica shares.
    blocklists_reload: tokio::task::JoinHandle<()>,
    /// Sends notifications while this replica leads; stopped mid-attempt, a delivery is
    /// tried again (at least once).
    notifier: tokio::task::JoinHandle<()>,
    /// Its statistics are flushed once more at the stop.
    updater: Updater,
    miniupdate: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    /// What the control plane shows on the metrics port.
    metrics: Arc<ControlPlane>,
    /// RFC 2136 updates, UDP and TCP on one address.
    dns_update: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Front {
    /// Serves on the configured addresses.
    async fn start(
        config: &Config,
        db: Db,
        local_commits: Arc<LocalCommits>,
        outbox: OutboxReader,
        shared_limits: Option<SharedLimits>,
        nodes: Nodes,
    ) -> anyhow::Result<Front> {
        let listeners = config
            .http_addrs
            .iter()
            .map(|addr| TcpListener::bind(addr).with_context(|| format!("binding HTTP on {addr}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let addrs: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        let (tls_listeners, https_addrs, cert_watch) = match &config.tls {
            Some(files) => {
                let cert = ReloadingCert::load(files.clone())?;
                let tls = cert.server_config()?;
                let mut listeners = Vec::new();
                for addr in &config.https_addrs {
                    let listener = TcpListener::bind(addr)
                        .with_context(|| format!("binding HTTPS on {addr}"))?;
                    listeners.push((listener, tls.clone()));
                }
                let addrs: Vec<String> = listeners
                    .iter()
                    .filter_map(|(l, _)| l.local_addr().ok())
                    .map(|a| a.to_string())
                    .collect();
                (listeners, addrs.join(","), Some(tokio::spawn(cert.watch())))
            }
            None => (Vec::new(), "off".to_owned(), None),
        };
        let hashing = PasswordHashing::new(config.hash_queue);
        let publish = match &outbox {
            OutboxReader::Publisher(status) => Some(status.clone()),
            OutboxReader::Node(_) => None,
        };
        let metrics = Arc::new(ControlPlane::new(db.clone(), hashing.clone(), outbox));
        let blocklists = Arc::new(Blocklists::new(db.clone(), config.blocked_agents.clone()));
        blocklists
            .reload()
            .await
            .context("reading the block lists")?;
        let blocklists_reload = tokio::spawn(blocklists.clone().keep_reloading());
        let updater = Updater::new(
            db.clone(),
            local_commits,
            config.limits,
            hashing.clone(),
            shared_limits.clone(),
            blocklists.clone(),
        );
        let miniupdate = match config.miniupdate_addr {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding miniupdate on {addr}"))?;
                let addr = listener.local_addr()?;
                let task = tokio::spawn(miniupdate::serve(listener, updater.clone()));
                Some((addr, task))
            }
            None => None,
        };
        let dns_update = match config.dns_update_addr {
            Some(addr) => {
                let (udp, tcp) = rfc2136::bind(addr)
                    .await
                    .with_context(|| format!("binding DNS updates on {addr}"))?;
                let addr = udp.local_addr()?;
                let task = tokio::spawn(rfc2136::serve(udp, tcp, db.clone(), updater.clone()));
                Some((addr, task))
            }
            None => None,
        };
        if config.smtp_url.is_none() {
            // Mail goes to files there, with live links in them.
            private_dir(&config.storage.data_dir).with_context(|| {
                format!(
                    "creating the data directory {}",
                    config.storage.data_dir.display()
                )
            })?;
        }
        let mail_dir = config.storage.data_dir.join("mail");
        let mailer = Mailer::new(config.smtp_url.as_deref(), mail_dir, &config.mail_from)
            .context("setting up mail (DYN53_SMTP_URL, DYN53_MAIL_FROM)")?;
        let notifier = tokio::spawn(notify::run(
            db.clone(),
            mailer.clone(),
            Webhooks::new(&config.notify)?,
            config.notify.clone(),
        ));
        let state = AppState {
            mailer,
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", addrs[0])),
            login_limits: Arc::new(LoginLimits::new(
                config.limits.password_guesses_per_login,
                shared_limits.as_ref(),
            )),
            mail_limits: Arc::new(MailLimits::new(shared_limits.as_ref())),
            token_keys: token_keys(config.jwt_secret.as_deref()),
            api_limits: Arc::new(ApiLimits::new(
                config.api_rate_limit,
                shared_limits.as_ref(),
            )),
            db,
            updater: updater.clone(),
            hashing,
            trusted_proxies: config.trusted_proxies.clone(),
            blocklists,
            publish,
            nodes,
            private_webhooks: config.notify.allow_private,
        };
        let (handle, server) =
            app::start(state, config.update_paths.clone(), listeners, tls_listeners)?;
        Ok(Front {
            handle,
            task: tokio::spawn(server),
            addrs: addrs.join(","),
            https_addrs,
            cert_watch,
            blocklists_reload,
            notifier,
            updater,
            miniupdate,
            metrics,
            dns_update,
        })
    }

    /// The miniupdate address, or `off`.
    fn miniupdate_addr(&self) -> String {
        listening(&self.miniupdate)
    }

    /// The RFC 2136 update address, or `off`.
    fn dns_update_addr(&self) -> String {
        listening(&self.dns_update)
    }

    /// Finishes the HTTP requests in progress, then stops; closes miniupdate sessions and
    /// DNS update connections.
    async fn stop(self) {
        for (_, task) in self.miniupdate.into_iter().chain(self.dns_update) {
            task.abort();
        }
        if let Some(task) = self.cert_watch {
            task.abort();
        }
        self.handle.stop(true).await;
        let _ = self.task.await;
        self.blocklists_reload.abort();
        self.notifier.abort();
        self.updater.flush_stats().await;
    }
}

/// The metrics port (`DYN53_METRICS_ADDR`), when configured: bound before anything starts,
/// so that a taken port fails the start.
fn bind_metrics(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    config
        .metrics_addr
        .map(|addr| {
            TcpListener::bind(addr).with_context(|| format!("binding the metrics port on {addr}"))
        })
        .transpose()
}

/// Serves `sources` on the metrics port until `stop` says so; the address bound, or `off`.
fn serve_metrics(
    listener: Option<TcpListener>,
    sources: Vec<Arc<dyn Source>>,
    stop: &watch::Receiver<bool>,
) -> (String, Option<tokio::task::JoinHandle<()>>) {
    let Some(listener) = listener else {
        return ("off".to_owned(), None);
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let served = serve_status(listener, sources, stopped(stop));
    let task = tokio::spawn(async move {
        if let Err(e) = served.await {
            tracing::warn!("the metrics port failed: {e}");
        }
    });
    (addr, Some(task))
}

/// A listener's address, or `off`.
fn listening<T>(listener: &Option<(SocketAddr, T)>) -> String {
    listener
        .as_ref()
        .map_or("off".into(), |(addr, _)| addr.to_string())
}

/// The API's token key: the configured secret, or one drawn now.
fn token_keys(secret: Option<&str>) -> TokenKeys {
    match secret {
        Some(secret) => TokenKeys::new(secret.as_bytes()),
        None => {
            tracing::warn!("DYN53_JWT_SECRET is not set: API tokens work only on this process");
            TokenKeys::new(SecretToken::generate().secret().as_bytes())
        }
    }
}

/// `dyn53 serve`: runs until `shutdown` completes, then stops cleanly. Its DNS node limits
/// and answers cookies as `dns_options` say, like a fleet node.
pub async fn serve(
    config: Config,
    dns_addr: SocketAddr,
    dns_options: DnsOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics_listener = bind_metrics(&config)?;
    let db = open_control_plane(&config).await?;
    let (stop, stop_rx) = watch::channel(false);

    let store = Arc::new(Store::new());
    let local_commits = Arc::new(LocalCommits::default());
    let feed = OutboxFeed::new(db.clone(), local_commits.clone());
    let follower = tokio::spawn(dyn53_dns::follow(store.clone(), feed, stopped(&stop_rx)));
    store.ready().await;

    let applied = store.clone();
    tokio::spawn(prune_outbox(db.clone(), move || applied.revision()));

    let dns = dyn53_dns::bind(dns_addr)
        .with_context(|| format!("binding DNS on {dns_addr}"))?
        .with_options(dns_options);
    let dns_addr = dns.local_addr();
    let nodes = Nodes::embedded(store.clone(), dns.stats(), dns_addr.to_string());
    let node = Arc::new(Serving::new(store.clone(), dns.stats()));
    let dns_task = tokio::spawn(dyn53_dns::serve(store.clone(), dns, stopped(&stop_rx)));

    let outbox = OutboxReader::Node(store.clone());
    let front = Front::start(&config, db, local_commits, outbox, None, nodes).await?;
    let (metrics, metrics_task) = serve_metrics(
        metrics_listener,
        vec![front.metrics.clone(), node],
        &stop_rx,
    );
    // Tests and scripts read this line to learn the ports they got.
    let (miniupdate, dns_update) = (front.miniupdate_addr(), front.dns_update_addr());
    tracing::info!(http = %front.addrs, https = %front.https_addrs, dns = %dns_addr, %miniupdate, %dns_update, %metrics, "dyn53 listening");
    dyn53_dns::tell_systemd_ready();

    shutdown.await;
    tracing::info!("shutting down");
    front.stop().await;
    let _ = stop.send(true);
    let _ = dns_task.await;
    let _ = follower.await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    Ok(())
}

/// How long an update waits for Redis to count it before counting it in the process.
const LIMITS_TIMEOUT: Duration = Duration::from_millis(500);

/// The writing side of the fleet feed.
pub fn fleet_publisher(fleet: &FleetConfig) -> anyhow::Result<Publisher> {
    let conn = fleet::connect(&fleet.redis_url, Duration::from_secs(10))
        .context("reading DYN53_REDIS_URL")?;
    Ok(Publisher::new(
        conn,
        Keys::new(&fleet.redis_prefix),
        fleet.log_length,
    ))
}

/// `dyn53 web`: runs until `shutdown` completes, then stops cleanly.
pub async fn web(
    config: Config,
    fleet: FleetConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics_listener = bind_metrics(&config)?;
    let db = open_control_plane(&config).await?;
    let redis = fleet_publisher(&fleet)?;
    let (stop, stop_rx) = watch::channel(false);

    let local_commits = Arc::new(LocalCommits::default());
    let status = Arc::new(PublishStatus::default());
    let publisher = tokio::spawn(run_publisher(
        db.clone(),
        local_commits.clone(),
        redis,
        status.clone(),
        stopped(&stop_rx),
    ));
    let published = status.clone();
    tokio::spawn(prune_outbox(db.clone(), move || {
        published.published.load(Relaxed)
    }));

    // The update service's limits, counted in the fleet's Redis: one count for every replica.
    let limits_conn =
        fleet::connect(&fleet.redis_url, LIMITS_TIMEOUT).context("reading DYN53_REDIS_URL")?;
    let shared_limits = SharedLimits::new(limits_conn, &fleet.redis_prefix);
    let nodes = Nodes::Fleet {
        conn: fleet::connect(&fleet.redis_url, Duration::from_secs(2))
            .context("reading DYN53_REDIS_URL")?,
        keys: Keys::new(&fleet.redis_prefix),
    };
    let front = Front::start(
        &config,
        db,
        local_commits,
        OutboxReader::Publisher(status),
        Some(shared_limits),
        nodes,
    )
    .await?;
    let (metrics, metrics_task) =
        serve_metrics(metrics_listener, vec![front.metrics.clone()], &stop_rx);
    let (miniupdate, dns_update) = (front.miniupdate_addr(), front.dns_update_addr());
    tracing::info!(http = %front.addrs, https = %front.https_addrs, %miniupdate, %dns_update, %metrics, "dyn53 web listening");
    dyn53_dns::tell_systemd_ready();

    shutdown.await;
    tracing::info!("shutting down");
    front.stop().await;
    let _ = stop.send(true);
    let _ = publisher.await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    Ok(())
}
