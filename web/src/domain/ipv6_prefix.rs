//! IPv6 hosts that follow a prefix. A provider hands the router a prefix (a /56, a /64) that
//! changes now and then, and the router knows only that prefix, not the addresses of the
//! machines behind it; each of them keeps its own last bits, its interface identifier. A
//! derived host's address is the prefix's bits followed by the host's:
//! [`Ipv6Prefix::address_for`].

use std::fmt;
use std::net::Ipv6Addr;

use super::addr::parse_ip;

/// The shortest interface identifier: the last 64 bits, which SLAAC gives each machine.
const IID_BITS: u8 = 64;

/// A prefix as a router reports it, at most 64 bits long; the bits after its length are
/// dropped (`2001:db8:1:2::/56` is `2001:db8:1::/56`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Prefix {
    network: Ipv6Addr,
    len: u8,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("{0:?} is not an IPv6 prefix like 2001:db8:1200::/56")]
    Malformed(String),
    #[error("an IPv6 prefix is /64 or shorter: the last 64 bits are each host's own")]
    TooLong,
}

impl Ipv6Prefix {
    /// `address/len`; without a length, the /64 the address is in.
    pub fn parse(input: &str) -> Result<Ipv6Prefix, PrefixError> {
        let bad = || PrefixError::Malformed(input.chars().take(64).collect());
        let trimmed = input.trim();
        let len = match trimmed.split_once('/') {
            Some((_, len)) => len.parse::<u8>().map_err(|_| bad())?,
            None => IID_BITS,
        };
        let address = match parse_ip(trimmed).map_err(|_| bad())? {
            std::net::IpAddr::V6(v6) => v6,
            std::net::IpAddr::V4(_) => return Err(bad()),
        };
        Ipv6Prefix::new(address, len)
    }

    pub fn new(address: Ipv6Addr, len: u8) -> Result<Ipv6Prefix, PrefixError> {
        if len == 0 || len > IID_BITS {
            return Err(PrefixError::TooLong);
        }
        Ok(Ipv6Prefix {
            network: Ipv6Addr::from_bits(address.to_bits() & network_mask(len)),
            len,
        })
    }

    /// The address of the machine with `id` behind this prefix. Its last 64 bits are
    /// `id`'s, never all zero, so it is never the subnet's router anycast address.
    pub fn address_for(&self, id: InterfaceId) -> Ipv6Addr {
        let mask = network_mask(self.len);
        Ipv6Addr::from_bits(self.network.to_bits() | (id.0.to_bits() & !mask))
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

fn network_mask(len: u8) -> u128 {
    u128::MAX << (128 - u32::from(len))
}

/// The bits of a derived host's address after the prefix, written as an IPv6 address:
/// `::1:2:3:4`. Bits above the last 64 pick a subnet of a shorter prefix (`::2:0:0:0:1` is
/// in subnet 2 of a /56); the prefix's own bits replace whatever is written there, so a
/// machine's whole current address also works. The last 64 bits are never all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceId(Ipv6Addr);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceIdError {
    #[error("{0:?} is not an interface identifier like ::1:2:3:4")]
    Malformed(String),
    #[error("an interface identifier's last 64 bits cannot all be zero")]
    Zero,
}

impl InterfaceId {
    /// `::1:2:3:4`, or the same without the leading `::`.
    pub fn parse(input: &str) -> Result<InterfaceId, InterfaceIdError> {
        let trimmed = input.trim();
        let malformed = || InterfaceIdError::Malformed(input.chars().take(64).collect());
        // `::192.0.2.1` parses, but an IPv4 address is not what anyone means here.
        if trimmed.contains('.') {
            return Err(malformed());
        }
        let address = trimmed
            .parse::<Ipv6Addr>()
            .or_else(|_| format!("::{trimmed}").parse::<Ipv6Addr>())
            .map_err(|_| malformed())?;
        if address.to_bits() & !network_mask(IID_BITS) == 0 {
            return Err(InterfaceIdError::Zero);
        }
        Ok(InterfaceId(address))
    }
}

impl fmt::Display for InterfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What dyndns2's `myipv6` holds: an address, or, written with a length of 64 or less and
/// nothing after it, the router's prefix (`2001:db8:1:200::/56`), which is never an address
/// to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Given {
    Address(Ipv6Addr),
    Prefix(Ipv6Prefix),
}

impl Ipv6Given {
    pub fn parse(input: &str) -> Result<Ipv6Given, PrefixError> {
        let bad = || PrefixError::Malformed(input.chars().take(64).collect());
        let address = match parse_ip(input).map_err(|_| bad())? {
            std::net::IpAddr::V6(v6) => v6,
            std::net::IpAddr::V4(_) => return Err(bad()),
        };
        let is_prefix = input.contains('/')
            && address.to_bits() & !network_mask(IID_BITS) == 0
            && Ipv6Prefix::parse(input).is_ok();
        if is_prefix {
            Ipv6Prefix::parse(input).map(Ipv6Given::Prefix)
        } else {
            Ok(Ipv6Given::Address(address))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(s: &str) -> Ipv6Prefix {
        Ipv6Prefix::parse(s).unwrap()
    }

    fn id(s: &str) -> InterfaceId {
        InterfaceId::parse(s).unwrap()
    }

    #[test]
    fn a_prefix_drops_the_bits_after_its_length() {
        assert_eq!(prefix("2001:db8:1:2::/56").to_string(), "2001:db8:1::/56");
        assert_eq!(prefix(" 2001:db8:1:2:: ").to_string(), "2001:db8:1:2::/64");
        assert_eq!(prefix("2001:db8::/48").to_string(), "2001:db8::/48");
    }

    #[test]
    fn a_prefix_longer_than_64_or_malformed_is_refused() {
        assert_eq!(
            Ipv6Prefix::parse("2001:db8::/80"),
            Err(PrefixError::TooLong)
        );
        assert_eq!(Ipv6Prefix::parse("2001:db8::/0"), Err(PrefixError::TooLong));
        for bad in ["", "192.0.2.0/24", "2001:db8::/x", "2001:db8::/129", "host"] {
            assert!(
                matches!(Ipv6Prefix::parse(bad), Err(PrefixError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_address_is_the_prefix_then_the_hosts_bits() {
        let p = prefix("2001:db8:1:200::/56");
        assert_eq!(
            p.address_for(id("::1:2:3:4")).to_string(),
            "2001:db8:1:200:1:2:3:4"
        );
        // Subnet 5 of the /56, and a whole old address whose prefix is replaced.
        assert_eq!(
            p.address_for(id("::5:0:0:0:1")).to_string(),
            "2001:db8:1:205::1"
        );
        assert_eq!(
            p.address_for(id("2001:db8:ffff:2ff:a:b:c:d")).to_string(),
            "2001:db8:1:2ff:a:b:c:d"
        );
        let p64 = prefix("2001:db8:9:9::/64");
        assert_eq!(
            p64.address_for(id("1:2:3:4")).to_string(),
            "2001:db8:9:9:1:2:3:4"
        );
    }

    #[test]
    fn an_interface_identifier_is_never_all_zero() {
        assert_eq!(InterfaceId::parse("::"), Err(InterfaceIdError::Zero));
        assert_eq!(
            InterfaceId::parse("::5:0:0:0:0"),
            Err(InterfaceIdError::Zero)
        );
        for bad in ["nas", "192.0.2.1", "::192.0.2.1", "2001:db8::/64"] {
            assert!(
                matches!(InterfaceId::parse(bad), Err(InterfaceIdError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn myipv6_is_a_prefix_only_with_a_length_and_nothing_after_it() {
        assert_eq!(
            Ipv6Given::parse("2001:db8:1:200::/56"),
            Ok(Ipv6Given::Prefix(prefix("2001:db8:1:200::/56")))
        );
        for address in [
            "2001:db8::1/64",
            "2001:db8::1",
            "2001:db8:1:2::",
            "2001:db8::/96",
        ] {
            assert!(
                matches!(Ipv6Given::parse(address), Ok(Ipv6Given::Address(_))),
                "{address}"
            );
        }
        assert!(Ipv6Given::parse("192.0.2.1").is_err());
    }
}
