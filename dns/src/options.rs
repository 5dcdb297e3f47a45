//! What a DNS server does beyond answering, as its command line sets it.

use crate::cookies::CookieSecret;
use crate::rrl::RrlConfig;

/// What a server does beyond answering: rate limiting and DNS cookies.
#[derive(Clone, Debug)]
pub struct DnsOptions {
    /// Response rate limiting of UDP answers (`crate::rrl`); `None`: off.
    pub rrl: Option<RrlConfig>,
    /// The secret server cookies are made with; the same on every node of a fleet lets
    /// clients keep their cookie from one node to another (anycast).
    pub cookie_secret: CookieSecret,
}

/// No rate limiting (an embedded or test server; `dyn53 dns` turns it on by default), and
/// a random cookie secret.
impl Default for DnsOptions {
    fn default() -> Self {
        Self {
            rrl: None,
            cookie_secret: CookieSecret::random(),
        }
    }
}
