//! What every handler may reach: the database, the update service, mail, the limits and the
//! token keys. It belongs to no adapter, so that none imports another's.

use std::sync::Arc;

use crate::blocklists::Blocklists;
use crate::client_ip::TrustedProxies;
use crate::db::Db;
use crate::hashing::PasswordHashing;
use crate::mail::Mailer;
use crate::nodes::Nodes;
use crate::publish::PublishStatus;
use crate::shared_limits::{ApiLimits, LoginLimits, MailLimits};
use crate::tokens::TokenKeys;
use crate::update::Updater;

pub struct AppState {
    pub db: Db,
    pub updater: Updater,
    /// argon2id for every page and API call that hashes or verifies a password.
    pub hashing: PasswordHashing,
    pub trusted_proxies: TrustedProxies,
    /// The block lists the update service applies; the console reloads them on a change.
    pub blocklists: Arc<Blocklists>,
    /// `dyn53 web`'s publisher, for `/readyz`.
    pub publish: Option<Arc<PublishStatus>>,
    pub mailer: Mailer,
    /// The service's address as people reach it, without a trailing `/`: e-mailed links.
    pub public_url: String,
    pub login_limits: Arc<LoginLimits>,
    /// Mails the pages send, per address and per source.
    pub mail_limits: Arc<MailLimits>,
    /// Signs and checks REST API tokens.
    pub token_keys: TokenKeys,
    /// REST API calls per caller.
    pub api_limits: Arc<ApiLimits>,
    /// The DNS nodes' reports, for the console.
    pub nodes: Nodes,
    /// Webhooks may go to private addresses (`DYN53_NOTIFY_ALLOW_PRIVATE`).
    pub private_webhooks: bool,
}
