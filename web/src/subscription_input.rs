//! A subscription as the account manager's form or the API's body gives it, checked into
//! what [`crate::access::NotificationAdmin::subscribe`] takes: the one set of rules both
//! surfaces apply.

use crate::access::{Access, SubscriptionRequest};
use crate::db::DbError;
use crate::domain::{Channel, Email, Events, EventsError, Fqdn, WebhookUrl, parse_stale_days};

/// Stale after this many days unless the subscription says.
pub const DEFAULT_STALE_DAYS: u32 = 7;

/// The fields, as given; empty text counts as absent.
pub struct SubscriptionInput<'a> {
    /// One of the caller's hosts; absent: every host of the account.
    pub host: Option<&'a str>,
    pub email: Option<&'a str>,
    pub url: Option<&'a str>,
    pub events: Vec<&'a str>,
    pub stale_days: Option<u32>,
}

/// Why the fields cannot be a subscription; the text is what the caller is told.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("You have no host {0}.")]
    UnknownHost(String),
    #[error("Give either an e-mail address or a webhook URL.")]
    NoTarget,
    #[error("{0}")]
    Email(String),
    #[error("{0}")]
    Url(String),
    #[error(transparent)]
    Events(#[from] EventsError),
    #[error("{0}")]
    StaleDays(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl InputError {
    /// The API's problem code.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::UnknownHost(_) => "unknown_host",
            InputError::NoTarget => "invalid_target",
            InputError::Email(_) => "invalid_email",
            InputError::Url(_) => "invalid_url",
            InputError::Events(_) => "invalid_events",
            InputError::StaleDays(_) => "invalid_stale_days",
            InputError::Db(_) => "unavailable",
        }
    }
}

/// `s` trimmed, unless that leaves nothing.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl SubscriptionInput<'_> {
    /// Checks the fields; a host is looked up through `access` (another account's is
    /// unknown). Webhooks to private addresses pass only with `allow_private`.
    pub async fn check(
        &self,
        access: &Access,
        allow_private: bool,
    ) -> Result<SubscriptionRequest, InputError> {
        let host = match given(self.host) {
            Some(name) => {
                let unknown = || InputError::UnknownHost(name.chars().take(255).collect());
                let fqdn = Fqdn::parse(name).map_err(|_| unknown())?;
                Some(access.host_named(&fqdn).await?.ok_or_else(unknown)?)
            }
            None => None,
        };
        let channel = match (given(self.email), given(self.url)) {
            (Some(email), None) => {
                Channel::Email(Email::parse(email).map_err(|e| InputError::Email(format!("{e}.")))?)
            }
            (None, Some(url)) => Channel::Webhook(
                WebhookUrl::parse(url, allow_private)
                    .map_err(|e| InputError::Url(e.to_string()))?,
            ),
            _ => return Err(InputError::NoTarget),
        };
        let events = Events::parse(self.events.iter().copied())?;
        let stale_days = parse_stale_days(self.stale_days.unwrap_or(DEFAULT_STALE_DAYS))
            .map_err(InputError::StaleDays)?;
        Ok(SubscriptionRequest {
            host,
            channel,
            events,
            stale_days,
        })
    }
}
