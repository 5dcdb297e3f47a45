//! IP addresses as update clients send them: surrounding white space is trimmed and a
//! `/len` prefix length (some routers send their interface address) is accepted and
//! dropped. IPv4 with leading zeros is refused: `010.0.0.1` is octal to some parsers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address")]
pub struct AddrError(pub String);

pub fn parse_ip(input: &str) -> Result<IpAddr, AddrError> {
    let bad = || AddrError(input.chars().take(64).collect());
    let trimmed = input.trim();
    let (addr, len) = match trimmed.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (trimmed, None),
    };
    // std refuses leading zeros in IPv4 octets and zone ids in IPv6. An IPv4-mapped IPv6
    // address (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 peers) is IPv4.
    let ip = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
    if let Some(len) = len {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let ok = !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
        if !ok || len.parse::<u8>().map_or(true, |n| n > max) {
            return Err(bad());
        }
    }
    Ok(ip)
}

pub fn parse_ipv4(input: &str) -> Result<Ipv4Addr, AddrError> {
    match parse_ip(input)? {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(_) => Err(AddrError(input.to_owned())),
    }
}

pub fn parse_ipv6(input: &str) -> Result<Ipv6Addr, AddrError> {
    match parse_ip(input)? {
        IpAddr::V6(v6) => Ok(v6),
        IpAddr::V4(_) => Err(AddrError(input.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_trimmed_and_prefixed() {
        assert_eq!(
            parse_ip(" 192.0.2.1 ").unwrap(),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_ip("192.0.2.1/24").unwrap(),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_ip("2001:db8::1/64").unwrap(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn mapped_ipv6_is_ipv4() {
        assert_eq!(
            parse_ip("::ffff:192.0.2.1").unwrap(),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert!(parse_ipv4("::ffff:192.0.2.1").is_ok());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "010.0.0.1",
            "192.0.2",
            "192.0.2.256",
            "192.0.2.1/33",
            "2001:db8::1/129",
            "192.0.2.1/",
            "192.0.2.1/x",
            "fe80::1%eth0",
            "example.com",
            "1.2.3.4,5.6.7.8",
        ] {
            assert!(parse_ip(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn families_are_checked() {
        assert!(parse_ipv4("2001:db8::1").is_err());
        assert!(parse_ipv6("192.0.2.1").is_err());
    }
}
