//! The update service: the one path by which every protocol changes a host's addresses.
//! Adapters translate their request into an [`UpdateRequest`] and the [`HostResult`]s back
//! into their wire format; nothing else about an update lives in an adapter.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::Utc;

use crate::db::{AccountId, Db, DbError, Host, KeyAuth, Seen};
use crate::domain::{Fqdn, NameError, Protocol, UpdateKey, verify_password};
use crate::feed::LocalCommits;

/// A login (e-mail or login ID) and a secret (the account password or an update key).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub login: String,
    pub secret: String,
}

/// Where a request came from, for defaults, history and "last seen".
#[derive(Clone, Debug)]
pub struct Client {
    pub protocol: Protocol,
    pub source: IpAddr,
    pub agent: Option<String>,
}

#[derive(Clone, Debug)]
pub struct UpdateRequest {
    pub credentials: Credentials,
    /// The names asked for, in request order; a name that did not parse is answered as such.
    pub hosts: Vec<Result<Fqdn, NameError>>,
    /// Addresses to set. Neither given: the client's source address, for its family.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub client: Client,
}

/// The addresses a request set, IPv4 first when both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

/// The outcome for one requested name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostResult {
    Changed(Addresses),
    Unchanged(Addresses),
    /// The entry is not a valid host name.
    NotFqdn,
    /// No such host, or not one the caller may change: never says which.
    NoHost,
}

/// Why a whole request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("wrong credentials")]
    BadAuth,
    #[error("the account is not active")]
    AccountInactive,
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
}

impl From<DbError> for UpdateError {
    fn from(e: DbError) -> Self {
        UpdateError::Unavailable(e)
    }
}

/// Who is updating, and within which limits.
struct Principal {
    account: AccountId,
    may_change_dns: bool,
    key: Option<KeyAuth>,
}

impl Principal {
    fn may_update(&self, host: &Host) -> bool {
        self.may_change_dns
            && host.account == self.account
            && self
                .key
                .as_ref()
                .and_then(|k| k.hosts.as_ref())
                .is_none_or(|ids| ids.contains(&host.id))
    }
}

#[derive(Clone)]
pub struct Updater {
    db: Db,
    feed: Arc<LocalCommits>,
}

impl Updater {
    pub fn new(db: Db, feed: Arc<LocalCommits>) -> Updater {
        Updater { db, feed }
    }

    pub async fn update(&self, req: UpdateRequest) -> Result<Vec<HostResult>, UpdateError> {
        let principal = self.authenticate(&req.credentials).await?;
        let addresses = match (req.ipv4, req.ipv6, req.client.source) {
            (None, None, IpAddr::V4(v4)) => Addresses {
                ipv4: Some(v4),
                ipv6: None,
            },
            (None, None, IpAddr::V6(v6)) => Addresses {
                ipv4: None,
                ipv6: Some(v6),
            },
            (ipv4, ipv6, _) => Addresses { ipv4, ipv6 },
        };
        let seen = Seen {
            at: Utc::now(),
            protocol: req.client.protocol,
            source: Some(req.client.source),
            agent: req.client.agent.as_deref(),
        };

        let names: Vec<&Fqdn> = req.hosts.iter().filter_map(|h| h.as_ref().ok()).collect();
        if names.is_empty() {
            return Ok(vec![HostResult::NotFqdn; req.hosts.len()]);
        }
        let mut tx = self.db.begin_write().await?;
        let mut hosts: HashMap<Fqdn, Host> = tx
            .lock_hosts(principal.account, &names)
            .await?
            .into_iter()
            .filter(|h| principal.may_update(h))
            .map(|h| (h.name.clone(), h))
            .collect();

        let mut results = Vec::with_capacity(req.hosts.len());
        for entry in &req.hosts {
            let Ok(name) = entry else {
                results.push(HostResult::NotFqdn);
                continue;
            };
            let Some(host) = hosts.get_mut(name) else {
                results.push(HostResult::NoHost);
                continue;
            };
            let before = (host.ipv4, host.ipv6, host.offline);
            // The families are independent: a family the request does not name is kept.
            host.ipv4 = addresses.ipv4.or(host.ipv4);
            host.ipv6 = addresses.ipv6.or(host.ipv6);
            host.offline = false;
            let changed = before != (host.ipv4, host.ipv6, host.offline);
            if changed {
                tx.save_host_state(host, &seen).await?;
            } else {
                tx.touch_host(host, &seen).await?;
            }
            tx.add_history(host, &seen, if changed { "good" } else { "nochg" })
                .await?;
            results.push(if changed {
                HostResult::Changed(addresses)
            } else {
                HostResult::Unchanged(addresses)
            });
        }
        if let Some(key) = &principal.key {
            tx.mark_key_used(key.key_id, &seen).await?;
        }
        if let Some(batch) = tx.commit().await? {
            self.feed.committed(batch);
        }
        Ok(results)
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Principal, UpdateError> {
        let user = self.db.find_login(&credentials.login).await?;
        let key = match UpdateKey::parse(&credentials.secret) {
            // The key is found by the SHA-256 of its 190 random bits: index timing reveals
            // nothing about the secret. It must belong to the login that presents it.
            Some(key) => match (self.db.find_key(&key).await?, &user) {
                (Some(found), Some(u)) if found.user_id == u.user_id => Some(found),
                _ => return Err(UpdateError::BadAuth),
            },
            None => {
                let secret = credentials.secret.clone();
                let stored = user.as_ref().map(|u| u.password.clone());
                // argon2id takes tens of milliseconds of CPU: keep it off the async workers.
                let ok =
                    tokio::task::spawn_blocking(move || verify_password(&secret, stored.as_ref()))
                        .await
                        .unwrap_or(false);
                if !ok {
                    return Err(UpdateError::BadAuth);
                }
                None
            }
        };
        let user = user.ok_or(UpdateError::BadAuth)?;
        if !user.account_active {
            return Err(UpdateError::AccountInactive);
        }
        Ok(Principal {
            account: user.account,
            may_change_dns: user.role.may_change_dns(),
            key,
        })
    }
}
