//! Webhook deliveries: an HTTPS POST of the event's JSON, signed with HMAC-SHA256 under the
//! subscription's secret. The client trusts the public roots (and the operator's CA file),
//! follows no redirect, uses no proxy, times out, and connects only to public addresses
//! unless the operator allows private ones: a name is checked as it is resolved, so a
//! name that resolves to a private address (or starts to) is refused at each delivery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::Sha256;

use super::NotifySettings;
use crate::domain::{WebhookUrl, is_public};

/// Connecting, and the whole request: a slow receiver costs one attempt, not the queue.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
const SIGNATURE_HEADER: &str = "X-Dyn53-Signature";
/// The event's id, the same on every attempt: receivers de-duplicate by it.
const EVENT_ID_HEADER: &str = "X-Dyn53-Event-Id";
const EVENT_HEADER: &str = "X-Dyn53-Event";

pub struct Webhooks {
    client: reqwest::Client,
    allow_private: bool,
}

/// Why an attempt failed: the status a receiver answered, if it answered.
pub struct Failure {
    pub status: Option<u16>,
    pub error: String,
}

impl Webhooks {
    pub fn new(settings: &NotifySettings) -> anyhow::Result<Webhooks> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(file) = &settings.ca_file {
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading DYN53_NOTIFY_CA_FILE {}", file.display()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate in {}", file.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(Resolver {
                allow_private: settings.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("dyn53-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the webhook client")?;
        Ok(Webhooks {
            client,
            allow_private: settings.allow_private,
        })
    }

    /// Posts `body` to `url`, signed with `secret`: the status of a 2xx answer.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        (event_id, event): (&str, &str),
        body: &str,
    ) -> Result<u16, Failure> {
        let failed = |error: String| Failure {
            status: None,
            error,
        };
        // Checked again at each delivery: the operator's setting may have changed, and an
        // address in the URL is never resolved (so the resolver never sees it).
        let url = WebhookUrl::parse(url, self.allow_private).map_err(|e| failed(e.to_string()))?;
        let now = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(secret, now, body))
            .header(EVENT_ID_HEADER, event_id)
            .header(EVENT_HEADER, event)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err(Failure {
                status: Some(status),
                error: format!("answered {status}"),
            })
        }
    }
}

/// `t=<now>,v1=<hex HMAC-SHA256(secret, "<now>.<body>")>`: the time is signed too, so a
/// receiver can refuse an old request replayed.
fn signature(secret: &str, now: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{now}.{body}").as_bytes());
    let digest = crate::domain::hex(&mac.finalize().into_bytes());
    format!("t={now},v1={digest}")
}

/// An error and its causes on one line, without the URL (which the log shows already).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The system's resolver, keeping public addresses only (unless private ones are allowed).
struct Resolver {
    allow_private: bool,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if usable.is_empty() && !found.is_empty() {
                return Err(format!(
                    "{host} resolves only to private, loopback or link-local addresses"
                )
                .into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_time_and_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
