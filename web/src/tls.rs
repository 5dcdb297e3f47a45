//! HTTPS beside plain HTTP: rustls with the certificate chain and key read from PEM files,
//! and read again when either file changes, so that a renewed certificate (certbot,
//! cert-manager) is used from the next connection on without a restart. A file that cannot
//! be read or does not fit is logged and the last good certificate stays in use.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::ring::{default_provider, sign::any_supported_type};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Where the certificate chain and its key are.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    fn load(&self) -> anyhow::Result<CertifiedKey> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading the certificates in {}", self.cert.display()))?;
        anyhow::ensure!(
            !chain.is_empty(),
            "{} holds no certificate",
            self.cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading the private key in {}", self.key.display()))?;
        let signer = any_supported_type(&key)
            .with_context(|| format!("using the private key in {}", self.key.display()))?;
        let certified = CertifiedKey::new(chain, signer);
        certified.keys_match().with_context(|| {
            format!(
                "{} is not the key of {}",
                self.key.display(),
                self.cert.display()
            )
        })?;
        Ok(certified)
    }

    /// When the files last changed; `None` while one cannot be read.
    fn stamp(&self) -> Option<(SystemTime, SystemTime)> {
        let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Some((modified(&self.cert)?, modified(&self.key)?))
    }
}

/// The certificate every handshake gets: the files' last good contents.
pub struct ReloadingCert {
    files: CertFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl ReloadingCert {
    /// Reads the files now: a server does not start without a usable certificate.
    pub fn load(files: CertFiles) -> anyhow::Result<Arc<ReloadingCert>> {
        let current = RwLock::new(Arc::new(files.load()?));
        Ok(Arc::new(ReloadingCert { files, current }))
    }

    /// The TLS configuration of the HTTPS listeners (HTTP/1.1, TLS 1.2 and 1.3).
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Looks at the files every few seconds and takes what changed, until the task is
    /// dropped.
    pub async fn watch(self: Arc<Self>) {
        let mut seen = self.files.stamp();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tick.tick().await;
            let stamp = self.files.stamp();
            if stamp.is_none() || stamp == seen {
                continue;
            }
            seen = stamp;
            match self.files.load() {
                Ok(certified) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
                Err(e) => tracing::warn!("keeping the previous TLS certificate: {e:#}"),
            }
        }
    }
}
