//! The address a request came from. Forwarding headers are believed only when the peer is
//! a configured proxy, and are read from the right: each proxy appends the address it saw,
//! so only the hops written by proxies we trust are true, and everything further left is
//! whatever the client sent.
//!
//! Both `X-Forwarded-For` and RFC 7239 `Forwarded` are read. A proxy appends to one and
//! passes the other on as the client sent it, and nothing tells which is which: when a
//! request carries both and they name different clients, neither is believed and the
//! answer is the peer. Proxies in front of dyn53 should drop the header they do not write.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// One hop of a forwarding header: an address, or `None` for anything else (garbage, an
/// empty hop, `ip:port` in `X-Forwarded-For`, `unknown` or an obfuscated name).
type Hop = Option<IpAddr>;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma list of CIDRs or addresses (`10.0.0.0/8, 192.0.2.1`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an address or CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map(|a| a.ip().to_canonical())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded_for = hops(req.headers(), "x-forwarded-for", forwarded_for_hops);
        let forwarded = hops(req.headers(), "forwarded", forwarded_hops);
        match (forwarded_for, forwarded) {
            (None, None) => peer,
            (Some(hops), None) | (None, Some(hops)) => self.walk(peer, &hops),
            (Some(a), Some(b)) => {
                let (a, b) = (self.walk(peer, &a), self.walk(peer, &b));
                if a == b { a } else { peer }
            }
        }
    }

    /// Walks `hops` from the peer backwards: the first hop we do not trust is the client.
    /// A hop that is no address ends the walk at the last trusted proxy, the nearest
    /// address we can vouch for: never at a hop further left, which whoever wrote the bad
    /// hop may have written too.
    fn walk(&self, peer: IpAddr, hops: &[Hop]) -> IpAddr {
        let mut vouched = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else { break };
            vouched = ip.to_canonical();
            if !self.trusts(vouched) {
                break;
            }
        }
        vouched
    }
}

/// The hops of every `name` header line, in order; `None` when there is no such header.
/// A line that is not visible ASCII is one bad hop.
fn hops(headers: &HeaderMap, name: &str, parse: fn(&str) -> Vec<Hop>) -> Option<Vec<Hop>> {
    let mut lines = headers.get_all(name).peekable();
    lines.peek()?;
    Some(
        lines
            .flat_map(|line| line.to_str().map_or_else(|_| vec![None], parse))
            .collect(),
    )
}

/// `X-Forwarded-For: client, proxy1, proxy2`: bare addresses only.
fn forwarded_for_hops(line: &str) -> Vec<Hop> {
    line.split(',').map(|hop| hop.trim().parse().ok()).collect()
}

/// `Forwarded: for=192.0.2.1;proto=https, for="[2001:db8::1]:4711"` (RFC 7239): one hop per
/// element, its `for` parameter. An element without exactly one is a bad hop.
fn forwarded_hops(line: &str) -> Vec<Hop> {
    split_unquoted(line, ',')
        .map(|element| {
            let mut nodes = split_unquoted(element, ';').filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim())
            });
            match (nodes.next(), nodes.next()) {
                (Some(node), None) => forwarded_node(node),
                _ => None,
            }
        })
        .collect()
}

/// A `for` value: `192.0.2.1`, or quoted `"192.0.2.1:4711"`, `"[2001:db8::1]"`,
/// `"[2001:db8::1]:4711"`. `unknown`, `_obfuscated` and anything else: `None`.
fn forwarded_node(value: &str) -> Hop {
    let quoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
    // `[`, `]` and `:` are not token characters: only a quoted value may hold them.
    let Some(node) = quoted else {
        return value.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    };
    match node.strip_prefix('[') {
        Some(rest) => {
            let (ip, port) = rest.split_once(']')?;
            valid_port(port)?;
            ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        }
        None => {
            let (ip, port) = match node.split_once(':') {
                Some((ip, port)) => (ip, Some(port)),
                None => (node, None),
            };
            if let Some(port) = port {
                valid_port(&format!(":{port}"))?;
            }
            ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        }
    }
}

/// What may follow a node's address: nothing, `:4711`, or an obfuscated `:_port`.
fn valid_port(rest: &str) -> Option<()> {
    if rest.is_empty() {
        return Some(());
    }
    let port = rest.strip_prefix(':')?;
    let digits = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = port.strip_prefix('_').is_some_and(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    (digits || obfuscated).then_some(())
}

/// `s` split at each `separator` outside a quoted string.
fn split_unquoted(s: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    s.split(move |c: char| {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => return c == separator && !quoted,
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8").unwrap()
    }

    fn walk_xff(line: &str) -> IpAddr {
        proxies().walk(ip("127.0.0.1"), &forwarded_for_hops(line))
    }

    fn walk_forwarded(line: &str) -> IpAddr {
        proxies().walk(ip("127.0.0.1"), &forwarded_hops(line))
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        assert_eq!(walk_xff("203.0.113.5, 198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(
            walk_xff("203.0.113.5, 198.51.100.7, 10.1.2.3"),
            ip("198.51.100.7")
        );
        assert_eq!(walk_xff(" 198.51.100.7 "), ip("198.51.100.7"));
        assert_eq!(walk_xff("::ffff:198.51.100.7"), ip("198.51.100.7"));
        // Only proxies: the furthest one is the nearest address we know.
        assert_eq!(walk_xff("10.0.0.9, 10.0.0.1"), ip("10.0.0.9"));
    }

    #[test]
    fn a_bad_hop_ends_the_walk_at_the_last_trusted_proxy() {
        // The old reading stopped at `x` from the left and believed 203.0.113.5.
        assert_eq!(walk_xff("203.0.113.5, x, 10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(walk_xff("203.0.113.5, 198.51.100.7:4711"), ip("127.0.0.1"));
        assert_eq!(walk_xff("203.0.113.5,,10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(walk_xff(""), ip("127.0.0.1"));
        assert_eq!(walk_xff("203.0.113.5, [2001:db8::1]"), ip("127.0.0.1"));
        // Left of the client, garbage is the client's own business.
        assert_eq!(walk_xff("x, 198.51.100.7, 10.0.0.1"), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_nodes() {
        assert_eq!(forwarded_node("192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(forwarded_node("\"192.0.2.1\""), Some(ip("192.0.2.1")));
        assert_eq!(forwarded_node("\"192.0.2.1:4711\""), Some(ip("192.0.2.1")));
        assert_eq!(forwarded_node("\"[2001:db8::1]\""), Some(ip("2001:db8::1")));
        assert_eq!(
            forwarded_node("\"[2001:db8::1]:4711\""),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            forwarded_node("\"[2001:db8::1]:_p1\""),
            Some(ip("2001:db8::1"))
        );
        for bad in [
            "unknown",
            "_hidden",
            "\"_hidden:80\"",
            "192.0.2.1:4711",
            "[2001:db8::1]",
            "\"2001:db8::1\"",
            "\"[2001:db8::1]4711\"",
            "\"[2001:db8::1]:123456\"",
            "\"192.0.2.1:\"",
            "\"192.0.2.1",
            "",
        ] {
            assert_eq!(forwarded_node(bad), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_elements_are_walked_like_hops() {
        let line =
            "for=203.0.113.5, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.1;by=10.0.0.2";
        assert_eq!(walk_forwarded(line), ip("2001:db8::7"));
        assert_eq!(walk_forwarded("For=198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(
            walk_forwarded("for=203.0.113.5, for=unknown, for=10.0.0.1"),
            ip("10.0.0.1")
        );
        assert_eq!(
            walk_forwarded("for=203.0.113.5, proto=http"),
            ip("127.0.0.1")
        );
        assert_eq!(
            walk_forwarded("for=203.0.113.5;for=198.51.100.7"),
            ip("127.0.0.1")
        );
        // A quoted `,` or `;` belongs to its value.
        let quoted = "for=203.0.113.5;ext=\"a,b;for=192.0.2.9\", for=198.51.100.7";
        assert_eq!(
            forwarded_hops(quoted),
            [Some(ip("203.0.113.5")), Some(ip("198.51.100.7"))]
        );
    }
}
