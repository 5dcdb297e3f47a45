//! DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018).
//!
//! A client that sends a client cookie gets a fresh server cookie back; when it later
//! presents one we made (hash right, timestamp recent), its source address is proven, since
//! a spoofer never sees our answers. Such queries skip response rate limiting (`rrl.rs`).
//!
//! The server cookie is RFC 9018's: version 1, three reserved bytes, a 32-bit timestamp and
//! SipHash-2-4 over client cookie | version | reserved | timestamp | client address, keyed
//! by a 16-byte secret. Nodes that share the secret accept each other's cookies (anycast).

use std::fmt;
use std::hash::Hasher as _;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_server::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use siphasher::sip::SipHasher24;

/// How old a server cookie may be (RFC 9018 §4.3: one hour) ...
const MAX_AGE: i64 = 3600;
/// ... and how far ahead of our clock (five minutes: other nodes' clocks may run ahead).
const MAX_AHEAD: i64 = 300;

const CLIENT_LEN: usize = 8;
/// RFC 9018's server cookie: version, reserved, timestamp, hash.
const SERVER_LEN: usize = 16;
const VERSION: u8 = 1;
/// The COOKIE option of an answer: the client's cookie and ours.
pub(crate) const ANSWER_LEN: usize = CLIENT_LEN + SERVER_LEN;

/// The secret server cookies are made with: random per process, or the same on every node
/// of a fleet (`DYN53_COOKIE_SECRET`, 32 hex digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecret([u8; 16]);

impl CookieSecret {
    pub fn random() -> Self {
        Self(rand::random())
    }
}

/// Never printed: it would let anyone mint valid cookies.
impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

impl FromStr for CookieSecret {
    type Err = String;

    fn from_str(hex: &str) -> Result<Self, String> {
        let hex = hex.trim().as_bytes();
        let mut secret = [0u8; 16];
        if hex.len() != 2 * secret.len() {
            return Err("a cookie secret is 32 hexadecimal digits (16 bytes)".into());
        }
        for (byte, pair) in secret.iter_mut().zip(hex.chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| "not hexadecimal")?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| "not hexadecimal")?;
        }
        Ok(Self(secret))
    }
}

/// The COOKIE option of a query, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cookie {
    client: [u8; CLIENT_LEN],
    /// The query carried a server cookie of ours that is still valid.
    pub(crate) valid: bool,
}

/// A COOKIE option whose length no cookie can have: the query gets FORMERR (RFC 7873
/// §5.2.2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

impl CookieSecret {
    /// Reads the COOKIE option among `options`, if any, sent from `client_ip`.
    pub(crate) fn check(
        &self,
        options: &[(EdnsCode, EdnsOption)],
        client_ip: IpAddr,
    ) -> Result<Option<Cookie>, Malformed> {
        options
            .iter()
            .find_map(|(_, option)| match option {
                EdnsOption::Unknown(10, data) => Some(data),
                _ => None,
            })
            .map(|data| self.check_data(data, client_ip))
            .transpose()
    }

    /// Checks the data of a COOKIE option sent from `client_ip`.
    pub(crate) fn check_data(&self, data: &[u8], client_ip: IpAddr) -> Result<Cookie, Malformed> {
        // A client cookie alone, or with a server cookie of 8 to 32 bytes.
        if !(data.len() == CLIENT_LEN || (16..=40).contains(&data.len())) {
            return Err(Malformed);
        }
        let (client, server) = data.split_at(CLIENT_LEN);
        let client: [u8; CLIENT_LEN] = client.try_into().map_err(|_| Malformed)?;
        // Another server's cookie, or ours from before a change of secret, is no error: the
        // client simply learns a new one.
        let valid = server.len() == SERVER_LEN && self.verify(&client, server, client_ip, now());
        Ok(Cookie { client, valid })
    }

    /// The COOKIE option of our answer: the client's cookie and a fresh server cookie.
    pub(crate) fn answer(&self, cookie: &Cookie, client_ip: IpAddr) -> EdnsOption {
        EdnsOption::Unknown(
            u16::from(EdnsCode::Cookie),
            self.answer_data(cookie, client_ip).to_vec(),
        )
    }

    /// [`CookieSecret::answer`]'s option data.
    pub(crate) fn answer_data(&self, cookie: &Cookie, client_ip: IpAddr) -> [u8; ANSWER_LEN] {
        let mut data = [0; ANSWER_LEN];
        data[..CLIENT_LEN].copy_from_slice(&cookie.client);
        data[CLIENT_LEN..].copy_from_slice(&self.server_cookie(&cookie.client, client_ip, now()));
        data
    }

    fn server_cookie(&self, client: &[u8; 8], ip: IpAddr, time: u32) -> [u8; SERVER_LEN] {
        let mut cookie = [0u8; SERVER_LEN];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&time.to_be_bytes());
        let hash = self.hash(client, &cookie[..8], ip);
        cookie[8..].copy_from_slice(&hash);
        cookie
    }

    fn verify(&self, client: &[u8; 8], server: &[u8], ip: IpAddr, now: u32) -> bool {
        if server[0] != VERSION {
            return false;
        }
        let Ok(stamp) = <[u8; 4]>::try_from(&server[4..8]) else {
            return false;
        };
        // Serial-number arithmetic (RFC 1982), as RFC 9018 asks: the clock wraps in 2106.
        let age = i64::from(now.wrapping_sub(u32::from_be_bytes(stamp)) as i32);
        if !(-MAX_AHEAD..=MAX_AGE).contains(&age) {
            return false;
        }
        // Not a secret compared here but a MAC of the client's own data: a timing leak
        // would tell an attacker a hash for an address it does not receive answers at.
        let hash = self.hash(client, &server[..8], ip);
        server[8..] == hash
    }

    /// SipHash-2-4(client cookie | version | reserved | timestamp | client IP), in the
    /// reference implementation's byte order (little-endian), as RFC 9018's examples.
    fn hash(&self, client: &[u8; 8], head: &[u8], ip: IpAddr) -> [u8; 8] {
        let mut hasher = SipHasher24::new_with_key(&self.0);
        hasher.write(client);
        hasher.write(head);
        match ip {
            IpAddr::V4(v4) => hasher.write(&v4.octets()),
            IpAddr::V6(v6) => hasher.write(&v6.octets()),
        }
        hasher.finish().to_le_bytes()
    }
}

/// Seconds since the epoch, truncated to 32 bits as the timestamp field is.
fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_default())
            .collect()
    }

    /// RFC 9018, appendix A.1 and A.2: the same client learns a server cookie, then a
    /// renewed one.
    #[test]
    fn rfc_9018_examples() {
        let secret: CookieSecret = "e5e973e5a6b2a43f48e7dc849e37bfcf".parse().expect("hex");
        let client: [u8; 8] = hex("2464c4abcf10c957").try_into().expect("8 bytes");
        let ip: IpAddr = "198.51.100.100".parse().expect("ip");
        let learned = secret.server_cookie(&client, ip, 1_559_731_985);
        assert_eq!(learned.to_vec(), hex("010000005cf79f111f8130c3eee29480"));
        let renewed = secret.server_cookie(&client, ip, 1_559_734_385);
        assert_eq!(renewed.to_vec(), hex("010000005cf7a871d4a564a1442aca77"));
        assert!(secret.verify(&client, &learned, ip, 1_559_731_985 + 3600));
        assert!(!secret.verify(&client, &learned, ip, 1_559_731_985 + 3601));
        assert!(secret.verify(&client, &learned, ip, 1_559_731_985 - 300));
        assert!(!secret.verify(&client, &learned, ip, 1_559_731_985 - 301));
        let other_ip: IpAddr = "198.51.100.101".parse().expect("ip");
        assert!(!secret.verify(&client, &learned, other_ip, 1_559_731_985));
    }

    #[test]
    fn option_lengths() {
        let secret = CookieSecret::random();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let option = |len: usize| [(EdnsCode::Cookie, EdnsOption::Unknown(10, vec![7; len]))];
        for len in [0, 7, 9, 15, 41] {
            assert_eq!(secret.check(&option(len), ip), Err(Malformed), "{len}");
        }
        for len in [8, 16, 24, 40] {
            let cookie = secret.check(&option(len), ip).expect("well formed");
            assert!(cookie.is_some_and(|c| !c.valid), "{len}");
        }
        assert_eq!(secret.check(&[], ip), Ok(None));
        // Our own cookie comes back valid, from the same address only.
        let client = Cookie {
            client: [1; 8],
            valid: false,
        };
        let EdnsOption::Unknown(_, data) = secret.answer(&client, ip) else {
            panic!("an unknown option")
        };
        let echoed = [(EdnsCode::Cookie, EdnsOption::Unknown(10, data))];
        assert!(
            secret
                .check(&echoed, ip)
                .expect("ok")
                .is_some_and(|c| c.valid)
        );
        let elsewhere: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(
            !secret
                .check(&echoed, elsewhere)
                .expect("ok")
                .is_some_and(|c| c.valid)
        );
        assert!("00".parse::<CookieSecret>().is_err());
        assert!("zz".repeat(16).parse::<CookieSecret>().is_err());
    }
}
