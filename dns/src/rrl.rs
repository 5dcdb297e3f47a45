//! Response rate limiting (RRL) for UDP answers, after BIND's, NSD's and Knot's.
//!
//! Why: a UDP query's source address can be forged, so without a limit anyone can make us
//! send large answers (a tenant's 1 KB of TXT) to a victim. Each answer is charged to a
//! token bucket keyed by the source prefix (IPv4 /24, IPv6 /56: an attacker forging one
//! victim address gains nothing by varying the low bits), the class of answer and a name:
//! - positive answers: the query name, so a busy resolver asking for many names is not
//!   held back by the few it asks most;
//! - negative answers (NXDOMAIN, NODATA): the zone, so random names do not get a bucket each;
//! - errors (REFUSED, FORMERR, ...): no name, one bucket per prefix.
//!
//! A limited answer is dropped, except every `slip`-th one, which goes out truncated and
//! empty: a real client behind the prefix retries over TCP (never limited), a victim gets
//! a small packet. Clients that proved their address with a valid DNS cookie
//! (`cookies.rs`) and exempt prefixes are never limited.
//!
//! Memory and speed: each UDP receive loop owns its table (no lock, no shared cache line on
//! the hot path), a fixed array of buckets indexed by a keyed hash of the key. Keys that
//! share a bucket share its tokens: under a flood from many sources memory stays the same,
//! and an innocent client that lands on a flooded bucket still gets slipped answers, so it
//! retries over TCP. The hash is keyed at random so that nobody can aim at a bucket.

use std::hash::Hasher as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use siphasher::sip::SipHasher13;
use tracing::info;

use crate::stats::Stats;

/// Buckets per UDP socket: 16 bytes each, 1 MiB per socket.
const TABLE_SIZE: usize = 1 << 16;
/// Tokens are counted in thousandths of an answer, so that they refill every millisecond.
const MILLI: u64 = 1000;

/// How answers are limited; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrlConfig {
    /// Answers per second per bucket; also the burst a bucket allows (one second's worth).
    pub rate: u32,
    /// Every `slip`-th limited answer goes out truncated instead of being dropped; 0: none.
    pub slip: u32,
    /// The prefix lengths that make a source.
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Sources never limited (monitoring, a load generator, trusted resolvers).
    pub exempt: Vec<IpNet>,
    /// Count and log what would be limited, but answer everything.
    pub log_only: bool,
}

/// NSD's rate and slip, Knot's prefix lengths (NSD groups IPv6 sources by /64; a /56 is
/// what a home or small site is commonly given, so one forged victim covers it all).
impl Default for RrlConfig {
    fn default() -> Self {
        Self {
            rate: 200,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            log_only: false,
        }
    }
}

/// What an answer is charged to, besides its source and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Positive,
    Negative,
    Error,
}

/// What to do with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    /// Send it truncated and empty.
    Slip,
    Drop,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    /// When the bucket was last charged, on the table's clock ([`RateLimiter::now`]).
    stamp: u64,
    /// Thousandths of an answer left.
    tokens: u32,
    /// Limiting since the bucket was last full: one log line per episode, not per answer.
    limiting: bool,
}

/// One UDP loop's rate limiter.
pub(crate) struct RateLimiter {
    config: Arc<RrlConfig>,
    buckets: Box<[Bucket]>,
    keys: (u64, u64),
    epoch: Instant,
    /// Limited answers so far, for `slip`.
    limited: u32,
    stats: Arc<Stats>,
}

impl RateLimiter {
    pub(crate) fn new(config: Arc<RrlConfig>, stats: Arc<Stats>) -> Self {
        Self {
            config,
            buckets: vec![Bucket::default(); TABLE_SIZE].into_boxed_slice(),
            keys: rand::random(),
            epoch: Instant::now(),
            limited: 0,
            stats,
        }
    }

    /// A copy of this table in its present state, counting into `stats`: two paths fed
    /// the same answers must come to the same verdicts.
    #[cfg(test)]
    pub(crate) fn twin(&self, stats: Arc<Stats>) -> Self {
        Self {
            config: self.config.clone(),
            buckets: self.buckets.clone(),
            keys: self.keys,
            epoch: self.epoch,
            limited: self.limited,
            stats,
        }
    }

    /// Charges one answer of `class` to `source`; `name` is the lowercase wire form of the
    /// name the class is keyed by (empty for errors).
    pub(crate) fn check(&mut self, source: IpAddr, class: Class, name: &[u8]) -> Verdict {
        let now = self.now();
        self.check_at(now, source, class, name)
    }

    /// [`RateLimiter::check`] at `now` on the table's clock.
    fn check_at(&mut self, now: u64, source: IpAddr, class: Class, name: &[u8]) -> Verdict {
        // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d: an IPv6 prefix of
        // that would put every IPv4 client in one bucket.
        let source = source.to_canonical();
        if self.exempts(source) {
            return Verdict::Send;
        }
        let prefix = self.prefix(source);
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        // Unambiguous: the family tells the address's length, the name comes last.
        match prefix.network() {
            IpAddr::V4(v4) => {
                hasher.write_u8(4);
                hasher.write(&v4.octets());
            }
            IpAddr::V6(v6) => {
                hasher.write_u8(6);
                hasher.write(&v6.octets());
            }
        }
        hasher.write_u8(class as u8);
        hasher.write(name);
        let index = hasher.finish() as usize % TABLE_SIZE;

        // Beyond 4 million answers per second a bucket is as good as unlimited.
        let capacity = (u64::from(self.config.rate) * MILLI).min(u64::from(u32::MAX));
        let bucket = &mut self.buckets[index];
        let elapsed = now.saturating_sub(bucket.stamp);
        let tokens =
            (u64::from(bucket.tokens) + elapsed * u64::from(self.config.rate)).min(capacity);
        bucket.stamp = now;
        if tokens == capacity {
            // Full again: whatever limited it is over.
            bucket.limiting = false;
        }
        if tokens >= MILLI {
            bucket.tokens = (tokens - MILLI) as u32;
            return Verdict::Send;
        }
        bucket.tokens = tokens as u32;
        if !bucket.limiting {
            bucket.limiting = true;
            info!(
                source = %prefix,
                ?class,
                log_only = self.config.log_only,
                "rate limiting answers"
            );
        }
        if self.config.log_only {
            self.stats.record_rrl_logged();
            return Verdict::Send;
        }
        self.limited = self.limited.wrapping_add(1);
        let slip = self.config.slip;
        if slip > 0 && self.limited.is_multiple_of(slip) {
            self.stats.record_rrl_slipped();
            Verdict::Slip
        } else {
            self.stats.record_rrl_dropped();
            Verdict::Drop
        }
    }

    /// Whether `source` is never limited: callers ask first when the key costs work.
    pub(crate) fn exempts(&self, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.config.exempt.iter().any(|net| net.contains(&source))
    }

    /// Milliseconds since the table was made, plus one second: a bucket never charged
    /// (stamp 0) is then a second old, full.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + MILLI
    }

    /// The source's prefix, e.g. `192.0.2.0/24`.
    fn prefix(&self, source: IpAddr) -> IpNet {
        let len = match source {
            IpAddr::V4(_) => self.config.ipv4_prefix.min(32),
            IpAddr::V6(_) => self.config.ipv6_prefix.min(128),
        };
        IpNet::new(source, len).map_or(IpNet::from(source), |net| net.trunc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(config: RrlConfig) -> RateLimiter {
        RateLimiter::new(Arc::new(config), Arc::new(Stats::new()))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    /// How many of `count` answers at `now` are sent.
    fn sent(rrl: &mut RateLimiter, now: u64, source: &str, count: usize) -> usize {
        (0..count)
            .filter(|_| rrl.check_at(now, ip(source), Class::Positive, b"\x03www") == Verdict::Send)
            .count()
    }

    #[test]
    fn a_bucket_allows_a_second_of_burst_and_refills_at_the_rate() {
        let mut rrl = limiter(RrlConfig {
            rate: 10,
            ..RrlConfig::default()
        });
        let start = rrl.now();
        assert_eq!(sent(&mut rrl, start, "192.0.2.1", 50), 10);
        // 100 ms later: one more answer.
        assert_eq!(sent(&mut rrl, start + 100, "192.0.2.1", 50), 1);
        // The same /24, another address: the same bucket.
        assert_eq!(sent(&mut rrl, start + 100, "192.0.2.200", 5), 0);
        // Another /24, another class, another name: other buckets.
        assert_eq!(sent(&mut rrl, start + 100, "192.0.3.1", 50), 10);
        let other = |rrl: &mut RateLimiter, class, name: &[u8]| {
            rrl.check_at(start + 100, ip("192.0.2.1"), class, name)
        };
        assert_eq!(other(&mut rrl, Class::Negative, b"\x03www"), Verdict::Send);
        assert_eq!(other(&mut rrl, Class::Positive, b"\x02mx"), Verdict::Send);
        // After a quiet second, the whole burst again (and no more).
        assert_eq!(sent(&mut rrl, start + 5_000, "192.0.2.1", 50), 10);
    }

    #[test]
    fn ipv6_sources_share_a_56_and_mapped_ipv4_counts_as_ipv4() {
        let mut rrl = limiter(RrlConfig {
            rate: 5,
            ..RrlConfig::default()
        });
        let now = rrl.now();
        assert_eq!(sent(&mut rrl, now, "2001:db8:0:ff::1", 20), 5);
        assert_eq!(sent(&mut rrl, now, "2001:db8:0:ee::2", 20), 0, "same /56");
        assert_eq!(sent(&mut rrl, now, "2001:db8:0:100::1", 20), 5, "next /56");
        assert_eq!(sent(&mut rrl, now, "198.51.100.7", 20), 5);
        assert_eq!(
            sent(&mut rrl, now, "::ffff:198.51.100.8", 20),
            0,
            "same /24"
        );
        assert_eq!(sent(&mut rrl, now, "::ffff:203.0.113.1", 20), 5);
    }

    #[test]
    fn every_slip_th_limited_answer_slips_unless_exempt_or_log_only() {
        let mut rrl = limiter(RrlConfig {
            rate: 1,
            slip: 3,
            exempt: vec!["10.0.0.0/8".parse().expect("prefix")],
            ..RrlConfig::default()
        });
        let now = rrl.now();
        let verdicts: Vec<Verdict> = (0..7)
            .map(|_| rrl.check_at(now, ip("192.0.2.1"), Class::Error, b""))
            .collect();
        use Verdict::*;
        assert_eq!(verdicts, [Send, Drop, Drop, Slip, Drop, Drop, Slip]);
        assert_eq!(sent(&mut rrl, now, "10.1.2.3", 100), 100);

        let mut never = limiter(RrlConfig {
            rate: 1,
            slip: 0,
            ..RrlConfig::default()
        });
        assert!((0..10).all(|_| never.check_at(now, ip("192.0.2.1"), Class::Error, b"") != Slip));

        let mut log_only = limiter(RrlConfig {
            rate: 1,
            log_only: true,
            ..RrlConfig::default()
        });
        assert_eq!(sent(&mut log_only, now, "192.0.2.1", 10), 10);
        assert_eq!(log_only.stats.snapshot().rrl_logged, 9);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let mut rrl = limiter(RrlConfig {
            rate: u32::MAX,
            ..RrlConfig::default()
        });
        let now = rrl.now();
        assert_eq!(sent(&mut rrl, now, "192.0.2.1", 1000), 1000);
    }
}
