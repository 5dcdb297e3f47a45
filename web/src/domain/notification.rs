//! What a notification subscription is made of, parsed at the edge: the events it is for
//! and where it goes (an e-mail address, or an HTTPS webhook that is not on a private
//! network unless the operator allows that).

use std::fmt;
use std::net::IpAddr;

use super::{Email, random_base62};

/// Something that happened to a host or an account that its people may want to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A host's addresses changed.
    AddressChanged,
    /// A host had no update for the subscription's number of days.
    HostStale,
    /// Wrong credentials for the account's login or keys, past the guessing limit.
    CredentialsFailing,
    /// A host hit the update abuse limit, or staff blocked it or its account.
    AbuseBlocked,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::AddressChanged,
        EventKind::HostStale,
        EventKind::CredentialsFailing,
        EventKind::AbuseBlocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AddressChanged => "address.changed",
            EventKind::HostStale => "host.stale",
            EventKind::CredentialsFailing => "credentials.failing",
            EventKind::AbuseBlocked => "host.abuse_blocked",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|e| e.as_str() == s.trim())
    }

    /// What a person reads: an e-mail's subject, a page's label.
    pub fn title(self) -> &'static str {
        match self {
            EventKind::AddressChanged => "A host's address changed",
            EventKind::HostStale => "A host has not updated",
            EventKind::CredentialsFailing => "Repeated wrong credentials",
            EventKind::AbuseBlocked => "A host was blocked",
        }
    }
}

/// The events a subscription is for: at least one, each once, in [`EventKind::ALL`]'s order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Events(Vec<EventKind>);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error(
        "{0:?} is not an event: they are address.changed, host.stale, credentials.failing and host.abuse_blocked."
    )]
    Unknown(String),
    #[error("Choose at least one event.")]
    None,
}

impl Events {
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Events, EventsError> {
        let mut kinds = Vec::new();
        for name in names {
            let kind = EventKind::parse(name)
                .ok_or_else(|| EventsError::Unknown(name.chars().take(40).collect()))?;
            kinds.push(kind);
        }
        let events: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| kinds.contains(k))
            .collect();
        if events.is_empty() {
            return Err(EventsError::None);
        }
        Ok(Events(events))
    }

    /// As stored: comma-separated names.
    pub fn stored(&self) -> String {
        self.names().collect::<Vec<_>>().join(",")
    }

    /// From storage; names this version does not know are left out.
    pub fn from_stored(s: &str) -> Events {
        Events(
            EventKind::ALL
                .into_iter()
                .filter(|k| s.split(',').any(|n| n == k.as_str()))
                .collect(),
        )
    }

    pub fn contains(&self, kind: EventKind) -> bool {
        self.0.contains(&kind)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|k| k.as_str())
    }
}

/// Days without an update before a host is stale: 1 to 365.
pub fn parse_stale_days(days: u32) -> Result<u32, &'static str> {
    match days {
        1..=365 => Ok(days),
        _ => Err("A host is stale after 1 to 365 days without an update."),
    }
}

/// A webhook's URL: `https://`, a host, no user or password, at most 2,000 characters,
/// and (unless allowed) not an address on a private, loopback or link-local network.
/// Names are checked again when they are resolved, at each delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("The webhook's URL is not a URL.")]
    Malformed,
    #[error("A webhook's URL starts with https://.")]
    NotHttps,
    #[error("A webhook's URL names no user or password; sign requests with the secret instead.")]
    Credentials,
    #[error("A webhook's URL is at most 2,000 characters.")]
    TooLong,
    #[error("{0} is a private, loopback or link-local address: webhooks go to public addresses.")]
    Private(IpAddr),
}

impl WebhookUrl {
    pub fn parse(text: &str, allow_private: bool) -> Result<WebhookUrl, WebhookUrlError> {
        let text = text.trim();
        if text.len() > 2000 {
            return Err(WebhookUrlError::TooLong);
        }
        let url = url::Url::parse(text).map_err(|_| WebhookUrlError::Malformed)?;
        if url.scheme() != "https" {
            return Err(WebhookUrlError::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookUrlError::Credentials);
        }
        let ip = match url.host() {
            None => return Err(WebhookUrlError::Malformed),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        match ip {
            Some(ip) if !allow_private && !is_public(ip) => Err(WebhookUrlError::Private(ip)),
            _ => Ok(WebhookUrl(url)),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), unspecified, multicast, documentation or an IPv4 address written as IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// Where a subscription's notifications go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    Email(Email),
    Webhook(WebhookUrl),
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Email(_) => "email",
            Channel::Webhook(_) => "webhook",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Channel::Email(email) => email.as_str(),
            Channel::Webhook(url) => url.as_str(),
        }
    }
}

/// A webhook's signing secret, drawn by us and shown once: `whsec_` and 40 characters.
pub fn webhook_secret() -> String {
    format!("whsec_{}", random_base62(40))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(WebhookUrl::parse("https://hooks.example.com/x", false).is_ok());
        assert_eq!(
            WebhookUrl::parse("http://hooks.example.com/x", false),
            Err(WebhookUrlError::NotHttps)
        );
        assert!(matches!(
            WebhookUrl::parse("https://127.0.0.1:8443/", false),
            Err(WebhookUrlError::Private(_))
        ));
        assert!(WebhookUrl::parse("https://127.0.0.1:8443/", true).is_ok());
        assert!(matches!(
            WebhookUrl::parse("https://[::ffff:10.0.0.1]/", false),
            Err(WebhookUrlError::Private(_))
        ));
        assert_eq!(
            WebhookUrl::parse("https://u:p@example.com/", false),
            Err(WebhookUrlError::Credentials)
        );
        assert_eq!(
            WebhookUrl::parse("not a url", false),
            Err(WebhookUrlError::Malformed)
        );
    }

    #[test]
    fn events() {
        let events = Events::parse(["host.stale", "address.changed"]).expect("events");
        assert_eq!(events.stored(), "address.changed,host.stale");
        assert_eq!(Events::from_stored(&events.stored()), events);
        assert_eq!(Events::parse([]), Err(EventsError::None));
        assert!(Events::parse(["nope"]).is_err());
    }
}
