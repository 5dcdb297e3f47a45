//! The dyndns2 protocol (`/nic/update`), as DynDNS defined it and No-IP extended it.
//! This adapter only translates: query and headers into an [`UpdateRequest`], the
//! service's results into the one-line-per-name plain-text answer clients parse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{basic_auth, text, try_later};
use crate::domain::{Fqdn, Ipv6Given, Ipv6Prefix, Protocol, parse_ip};
use crate::state::AppState;
use crate::update::{
    Addresses, Client, Credentials, HostEntry, HostResult, HostSettings, UpdateError, UpdateRequest,
};

/// The most names one request may carry.
const MAX_HOSTS: usize = 20;

/// The update's paths: DynDNS's, MintDNS's, No-IP's, and the operator's extra ones. Every
/// method reaches the handler, which answers the ones clients do not use with `badagent`.
pub fn routes(cfg: &mut web::ServiceConfig, extra_paths: &[String]) {
    let paths = ["/nic/update", "/nic/update/default.aspx", "/v3/update"];
    for path in paths
        .iter()
        .copied()
        .chain(extra_paths.iter().map(String::as_str))
    {
        cfg.route(path, web::route().to(nic_update));
    }
}

/// The query parameters this protocol uses; others are ignored, as clients add their own.
#[derive(Default)]
pub struct Query {
    hostname: Option<String>,
    myip: Option<String>,
    myipv6: Option<String>,
    /// The router's LAN prefix (a Fritz!Box's `<ip6lanprefix>`), for hosts that follow it.
    ip6lanprefix: Option<String>,
    username: Option<String>,
    password: Option<String>,
    system: Option<String>,
    offline: Option<String>,
    wildcard: Option<String>,
    mx: Option<String>,
    backmx: Option<String>,
}

impl Query {
    /// Lenient like the servers clients were tested against: raw `,` `:` `@` are fine,
    /// invalid percent-escapes and non-UTF-8 bytes become U+FFFD, and later names win.
    pub fn parse(query: &str) -> Query {
        let mut q = Query::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "hostname" => &mut q.hostname,
                "myip" => &mut q.myip,
                "myipv6" => &mut q.myipv6,
                "ip6lanprefix" => &mut q.ip6lanprefix,
                "username" | "user" => &mut q.username,
                "password" | "pass" => &mut q.password,
                "system" => &mut q.system,
                "offline" => &mut q.offline,
                "wildcard" => &mut q.wildcard,
                "mx" => &mut q.mx,
                "backmx" => &mut q.backmx,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        q
    }

    /// The entries of `hostname`; without one, a per-host key logs in as its host (Fritz!Box
    /// style), which is meant: `login` is then the entry if it is a host name.
    pub fn entries(&self, login: &str) -> Vec<HostEntry> {
        let hostname = match self.hostname.as_deref().filter(|h| !h.is_empty()) {
            Some(names) => names,
            None if Fqdn::parse(login).is_ok() => login,
            None => "",
        };
        hostname.split(',').map(HostEntry::host_or_group).collect()
    }

    /// What the request asks besides its names, or why it is refused (a 400's text).
    pub fn wanted(&self) -> Result<Wanted, String> {
        Ok(Wanted {
            asked: addresses(self)?,
            settings: settings(self)?,
            offline: switch("offline", self.offline.as_deref())?,
        })
    }
}

/// The addresses, settings and offline switch a request asks for.
pub struct Wanted {
    asked: Asked,
    settings: HostSettings,
    offline: Option<bool>,
}

async fn nic_update(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if ![Method::GET, Method::HEAD, Method::POST].contains(req.method()) {
        return text(StatusCode::OK, "badagent");
    }
    let query = Query::parse(req.query_string());
    let Some(credentials) = basic_auth(&req).or_else(|| query_auth(&query)) else {
        return HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"dyn53\", charset=\"UTF-8\"",
            ))
            .content_type("text/plain; charset=utf-8")
            .body("badauth");
    };
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let Some(agent) = agent.filter(|a| !a.is_empty()) else {
        return text(StatusCode::OK, "badagent");
    };
    if state
        .updater
        .refuses_agent(Protocol::Dyndns2, &agent, "badagent")
    {
        return text(StatusCode::OK, "badagent");
    }
    // DynDNS's host kinds; dyn53 treats them alike, as No-IP and MintDNS do.
    let system = query.system.as_deref().unwrap_or("").to_ascii_lowercase();
    if !["", "dyndns", "statdns", "custom"].contains(&system.as_str()) {
        return text(StatusCode::OK, "badsys");
    }
    let hosts = query.entries(&credentials.login);
    if hosts.len() > MAX_HOSTS {
        return text(StatusCode::OK, "numhost");
    }
    let Wanted {
        asked,
        settings,
        offline,
    } = match query.wanted() {
        Ok(wanted) => wanted,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let client = Client {
        protocol: Protocol::Dyndns2,
        source: state.trusted_proxies.client_ip(&req),
        agent: Some(agent),
    };
    let request = UpdateRequest {
        credentials,
        hosts,
        ipv4: asked.ipv4,
        ipv6: asked.ipv6,
        ipv6_prefix: asked.ipv6_prefix,
        preserve_ipv4: asked.preserve_ipv4,
        preserve_ipv6: asked.preserve_ipv6,
        offline,
        settings,
        existing_families_only: false,
        client,
        audited: None,
    };
    let entries = request.hosts.len();
    let lines = |results: &[HostResult]| {
        let lines: Vec<String> = results.iter().map(line).collect();
        text(StatusCode::OK, lines.join("\n"))
    };
    match state.updater.update(request).await {
        Ok(results) => lines(&results),
        // A viewer's request is answered as if none of the names were theirs.
        Err(UpdateError::ReadOnly) => lines(&vec![HostResult::NoHost; entries]),
        // An address in a blocked range: the hosts are refused as for abuse.
        Err(UpdateError::AddressBlocked(_)) => lines(&vec![HostResult::Abuse; entries]),
        Err(UpdateError::BadAuth(_) | UpdateError::AccountInactive) => {
            text(StatusCode::UNAUTHORIZED, "badauth")
        }
        Err(UpdateError::NotOnPlan) => text(StatusCode::OK, "!donator"),
        Err(UpdateError::Unavailable(e)) => try_later(&e, "911"),
        Err(e @ (UpdateError::Interrupted | UpdateError::Busy(_))) => try_later(&e, "911"),
    }
}

fn line(result: &HostResult) -> String {
    match result {
        HostResult::Changed(a) => with_addresses("good", a),
        HostResult::Unchanged(a) => with_addresses("nochg", a),
        HostResult::NotFqdn => "notfqdn".into(),
        HostResult::NoHost | HostResult::ForeignZone => "nohost".into(),
        HostResult::Abuse => "abuse".into(),
    }
}

/// `good 192.0.2.1,2001:db8::1`; the word alone when no address is in play (a preserved
/// family the host does not have).
fn with_addresses(word: &str, a: &Addresses) -> String {
    let v4 = a.ipv4.map(|ip| ip.to_string());
    let v6 = a.ipv6.map(|ip| ip.to_string());
    let list: Vec<String> = v4.into_iter().chain(v6).collect();
    if list.is_empty() {
        word.to_owned()
    } else {
        format!("{word} {}", list.join(","))
    }
}

/// What `myip` and `myipv6` ask for each family.
#[derive(Debug, Default, PartialEq, Eq)]
struct Asked {
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    ipv6_prefix: Option<Ipv6Prefix>,
    preserve_ipv4: bool,
    preserve_ipv6: bool,
}

/// `myip` holds IPv4, IPv6, or both comma-separated (either order); `myipv6` overrides the
/// IPv6 part. The keyword `preserve` keeps a family as it is: in `myip` it stands for IPv4
/// unless an IPv4 address came first, in `myipv6` for IPv6. Empty means absent, in
/// `myip` also one side of the comma. The router's prefix, for the hosts that follow it,
/// comes as `ip6lanprefix`, or as `myipv6` written as a prefix (`2001:db8:1:200::/56`, see
/// [`Ipv6Given`]). Anything malformed rejects the request, saying why.
fn addresses(query: &Query) -> Result<Asked, String> {
    let bad = |name: &str, value: &str| {
        format!(
            "bad {name}: {:?} is not an IP address",
            value.chars().take(64).collect::<String>()
        )
    };
    let mut asked = Asked::default();
    let myip = query
        .myip
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(myip) = myip {
        // An empty part is an absent family: a Fritz!Box's `myip=<ipaddr>,<ip6addr>` on a
        // line with only one of them.
        for part in myip.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let v4_taken = asked.ipv4.is_some() || asked.preserve_ipv4;
            let v6_taken = asked.ipv6.is_some() || asked.preserve_ipv6;
            if part.eq_ignore_ascii_case(PRESERVE) {
                match (v4_taken, v6_taken) {
                    (false, _) => asked.preserve_ipv4 = true,
                    (true, false) => asked.preserve_ipv6 = true,
                    (true, true) => return Err(format!("bad myip: {myip:?} names a family twice")),
                }
                continue;
            }
            match parse_ip(part).map_err(|_| bad("myip", myip))? {
                IpAddr::V4(v4) if !v4_taken => asked.ipv4 = Some(v4),
                IpAddr::V6(v6) if !v6_taken => asked.ipv6 = Some(v6),
                _ => return Err(format!("bad myip: {myip:?} names one family twice")),
            }
        }
    }
    if let Some(v6) = query
        .myipv6
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if v6.eq_ignore_ascii_case(PRESERVE) {
            (asked.ipv6, asked.preserve_ipv6) = (None, true);
        } else {
            match Ipv6Given::parse(v6).map_err(|_| bad("myipv6", v6))? {
                Ipv6Given::Address(address) => {
                    (asked.ipv6, asked.preserve_ipv6) = (Some(address), false);
                }
                Ipv6Given::Prefix(prefix) => asked.ipv6_prefix = Some(prefix),
            }
        }
    }
    if let Some(lan) = query
        .ip6lanprefix
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let prefix = Ipv6Prefix::parse(lan).map_err(|e| format!("bad ip6lanprefix: {e}"))?;
        if asked.ipv6_prefix.is_some_and(|p| p != prefix) {
            return Err("bad ip6lanprefix: myipv6 names another prefix".into());
        }
        asked.ipv6_prefix = Some(prefix);
    }
    Ok(asked)
}

/// `wildcard`, `mx` and `backmx` as DynDNS defined them. Absent, empty or `NOCHG`: as it
/// is, so that a client that knows nothing of them never resets what the owner set.
/// `mx=NO` removes the MX (DynDNS had no way to; a host name never reads `NO`).
fn settings(query: &Query) -> Result<HostSettings, String> {
    let mx = match query.mx.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) if v.eq_ignore_ascii_case(NOCHG) => None,
        Some(v) if v.eq_ignore_ascii_case("no") => Some(None),
        Some(v) => match Fqdn::parse(v) {
            Ok(exchange) => Some(Some(exchange)),
            Err(e) => return Err(format!("bad mx: {}", e)),
        },
    };
    Ok(HostSettings {
        wildcard: switch("wildcard", query.wildcard.as_deref())?,
        mx,
        backmx: switch("backmx", query.backmx.as_deref())?,
        ..HostSettings::default()
    })
}

/// A yes/no parameter: `YES`/`ON` or `NO`/`OFF` in any case; absent, empty or `NOCHG`
/// leave it as it is; anything else is refused, saying why.
fn switch(name: &str, value: Option<&str>) -> Result<Option<bool>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case(NOCHG) => Ok(None),
        Some(v) if ["yes", "on"].iter().any(|w| v.eq_ignore_ascii_case(w)) => Ok(Some(true)),
        Some(v) if ["no", "off"].iter().any(|w| v.eq_ignore_ascii_case(w)) => Ok(Some(false)),
        Some(v) => Err(format!(
            "bad {name}: {:?} is not ON, OFF, YES, NO or NOCHG",
            v.chars().take(64).collect::<String>()
        )),
    }
}

const NOCHG: &str = "nochg";

/// No-IP's keyword for "leave this family as it is".
const PRESERVE: &str = "preserve";

/// `Authorization: Basic` with `login:secret`; the secret may itself contain `:`.
fn query_auth(query: &Query) -> Option<Credentials> {
    Some(Credentials::password_or_key(
        query.username.as_deref()?,
        query.password.as_deref()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(myip: &str, myipv6: &str) -> Query {
        Query {
            myip: Some(myip.into()),
            myipv6: Some(myipv6.into()),
            ..Query::default()
        }
    }

    fn set(ipv4: Option<&str>, ipv6: Option<&str>) -> Asked {
        Asked {
            ipv4: ipv4.map(|a| a.parse().unwrap()),
            ipv6: ipv6.map(|a| a.parse().unwrap()),
            ..Asked::default()
        }
    }

    #[test]
    fn dual_stack_in_either_order_and_override() {
        let both = set(Some("192.0.2.1"), Some("2001:db8::1"));
        assert_eq!(addresses(&q("192.0.2.1,2001:db8::1", "")).unwrap(), both);
        assert_eq!(addresses(&q("2001:db8::1, 192.0.2.1", "")).unwrap(), both);
        assert_eq!(addresses(&q("192.0.2.1", "2001:db8::1")).unwrap(), both);
        assert_eq!(addresses(&q("", "")).unwrap(), Asked::default());
        // One side empty: a router with only one family fills in `<ipaddr>,<ip6addr>`.
        let v4 = set(Some("192.0.2.1"), None);
        assert_eq!(addresses(&q("192.0.2.1,", "")).unwrap(), v4);
        let v6 = set(None, Some("2001:db8::1"));
        assert_eq!(addresses(&q(",2001:db8::1", "")).unwrap(), v6);
    }

    #[test]
    fn preserve_keeps_a_family() {
        let keep_v4 = Asked {
            preserve_ipv4: true,
            ..set(None, Some("2001:db8::1"))
        };
        assert_eq!(addresses(&q("preserve,2001:db8::1", "")).unwrap(), keep_v4);
        assert_eq!(addresses(&q("PRESERVE", "2001:db8::1")).unwrap(), keep_v4);
        let keep_v6 = Asked {
            preserve_ipv6: true,
            ..set(Some("192.0.2.1"), None)
        };
        assert_eq!(addresses(&q("192.0.2.1,preserve", "")).unwrap(), keep_v6);
        assert_eq!(addresses(&q("192.0.2.1", "preserve")).unwrap(), keep_v6);
        assert!(addresses(&q("preserve,preserve,preserve", "")).is_err());
    }

    #[test]
    fn a_prefix_comes_as_ip6lanprefix_or_as_myipv6() {
        let prefix = Some(Ipv6Prefix::parse("2001:db8:1:200::/56").unwrap());
        let mut fritz = q("192.0.2.1,2001:db8::1", "");
        fritz.ip6lanprefix = Some("2001:db8:1:200::/56".into());
        let asked = addresses(&fritz).unwrap();
        assert_eq!(asked.ipv6_prefix, prefix);
        assert_eq!(asked.ipv6, Some("2001:db8::1".parse().unwrap()));
        let asked = addresses(&q("192.0.2.1", "2001:db8:1:200::/56")).unwrap();
        assert_eq!((asked.ipv6, asked.ipv6_prefix), (None, prefix));
        // An address with a length stays an address, as before.
        assert_eq!(
            addresses(&q("", "2001:db8::1/64")).unwrap(),
            set(None, Some("2001:db8::1"))
        );
    }

    #[test]
    fn a_bad_or_second_prefix_is_refused() {
        for bad in ["2001:db8::/80", "x", "192.0.2.0/24"] {
            let mut query = q("", "");
            query.ip6lanprefix = Some(bad.into());
            assert!(addresses(&query).is_err(), "{bad}");
        }
        let mut two = q("", "2001:db8:1::/56");
        two.ip6lanprefix = Some("2001:db8:2::/56".into());
        assert!(addresses(&two).is_err());
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in ["192.0.2.01", "192.0.2.1,192.0.2.2", "x", "192.0.2.1,x"] {
            assert!(addresses(&q(bad, "")).is_err(), "{bad}");
        }
        assert!(addresses(&q("", "192.0.2.1")).is_err());
    }

    #[test]
    fn query_accepts_raw_and_encoded_separators() {
        let raw = Query::parse("hostname=a.example,b.example&username=me@example.com&password=a:b");
        let enc =
            Query::parse("hostname=a.example%2Cb.example&username=me%40example.com&password=a%3Ab");
        for q in [raw, enc] {
            assert_eq!(q.hostname.as_deref(), Some("a.example,b.example"));
            assert_eq!(q.username.as_deref(), Some("me@example.com"));
            assert_eq!(q.password.as_deref(), Some("a:b"));
        }
    }
}
