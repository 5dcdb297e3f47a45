//! Runtime configuration, filled from the command line and `DYN53_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::blocklists::BlockedAgents;
use crate::client_ip::TrustedProxies;
use crate::domain::Fqdn;
use crate::limits::AbuseLimit;
use crate::notify::NotifySettings;
use crate::tls::CertFiles;
use crate::update::UpdateLimits;

/// Where data lives: every command needs this much.
#[derive(Clone, Debug)]
pub struct Storage {
    pub data_dir: PathBuf,
    /// `None`: a SQLite file in the data directory.
    pub database_url: Option<String>,
}

/// What the control plane (`serve`, `web`) needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub storage: Storage,
    pub http_addrs: Vec<SocketAddr>,
    /// HTTPS listen addresses, with `tls`'s certificate.
    pub https_addrs: Vec<SocketAddr>,
    /// The certificate and key files of the HTTPS listeners; `None` when there are none.
    pub tls: Option<CertFiles>,
    /// The miniupdate TCP protocol's address; `None`: not served.
    pub miniupdate_addr: Option<SocketAddr>,
    /// The RFC 2136 update listener's address (UDP and TCP); `None`: not served.
    pub dns_update_addr: Option<SocketAddr>,
    /// Zones created at start when missing.
    pub zones: Vec<Fqdn>,
    pub trusted_proxies: TrustedProxies,
    pub blocked_agents: BlockedAgents,
    /// Extra paths answered as `/nic/update`.
    pub update_paths: Vec<String>,
    /// `None`: mail goes to `.eml` files in the data dir's `mail/`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// The base of e-mailed links; `None`: `http://` and the first HTTP address bound.
    pub public_url: Option<String>,
    /// The REST API's token signing secret; `None`: one drawn at start (tokens then work
    /// only on this process).
    pub jwt_secret: Option<String>,
    pub limits: UpdateLimits,
    /// REST API calls per caller in a window.
    pub api_rate_limit: AbuseLimit,
    /// Callers that may wait for a password-hashing run; beyond them, "try later".
    pub hash_queue: usize,
    /// The metrics port (`/metrics`, `/healthz`, `/readyz`); `None`: none. Never the
    /// update port: metrics are for the operator's scraper, not the public.
    pub metrics_addr: Option<SocketAddr>,
    /// Notifications' retries, stale-host scans and webhook targets.
    pub notify: NotifySettings,
}

impl Storage {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.sqlite_file().display()),
        }
    }

    /// Where the data is, for people: the SQLite file, or the PostgreSQL database, host and
    /// port (never the password).
    pub fn place(&self) -> String {
        crate::db::place(&self.database_url())
    }

    /// The SQLite file used when no database URL is given.
    pub fn sqlite_file(&self) -> PathBuf {
        self.data_dir.join("dyn53.db")
    }
}

/// Where the fleet feed lives (`web`, `republish`).
#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub redis_url: String,
    /// Every key starts with this, so deployments can share a Redis.
    pub redis_prefix: String,
    /// About how many batches the log keeps for nodes that fall behind.
    pub log_length: u64,
}
