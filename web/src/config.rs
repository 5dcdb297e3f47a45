//! Runtime configuration, filled from the command line and `DYN53_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::Fqdn;
use crate::http::TrustedProxies;

/// Where data lives: every command needs this much.
#[derive(Clone, Debug)]
pub struct Storage {
    pub data_dir: PathBuf,
    /// `None`: a SQLite file in the data directory.
    pub database_url: Option<String>,
}

/// What `serve` needs besides storage.
#[derive(Clone, Debug)]
pub struct Config {
    pub storage: Storage,
    pub http_addrs: Vec<SocketAddr>,
    pub dns_addr: SocketAddr,
    /// Zones created at start when missing.
    pub zones: Vec<Fqdn>,
    pub trusted_proxies: TrustedProxies,
}

impl Storage {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("dyn53.db").display()
            ),
        }
    }
}
