//! Sliding-window limits counted in this process: `WindowCounter`, which `shared_limits`
//! falls back to when there is no fleet's Redis (embedded mode) or it fails.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `max` events in `window` (`COUNT/SECONDS`): accepted updates per host
/// (`DYN53_ABUSE_LIMIT`), wrong credentials per source address (`DYN53_AUTH_FAILURE_LIMIT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbuseLimit {
    pub max: usize,
    pub window: Duration,
}

impl Default for AbuseLimit {
    /// DynDNS's and No-IP's rule of thumb: more than 10 in 10 minutes is a broken client.
    fn default() -> Self {
        AbuseLimit {
            max: 10,
            window: Duration::from_secs(600),
        }
    }
}

impl AbuseLimit {
    /// `COUNT/SECONDS`, e.g. `10/600`.
    pub fn parse(s: &str) -> Result<AbuseLimit, String> {
        let bad = || format!("{s:?} is not COUNT/SECONDS, e.g. 10/600");
        let (max, secs) = s.trim().split_once('/').ok_or_else(bad)?;
        let max: usize = max.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        if max == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(AbuseLimit {
            max,
            window: Duration::from_secs(secs),
        })
    }
}

/// Events per key (a host, a source address) in a sliding window.
///
/// Keys are spread over shards, each behind its own lock, so concurrent updates rarely wait
/// for each other. A shard forgets its idle keys when it has grown to twice the keys it kept
/// at its last sweep: a sweep visits each entry, but at most once per entry added since, so
/// a call costs O(1) amortised however many keys are live (a sweep of every key on every
/// call, once many are live, is what made updates slow down as the service grew).
pub struct WindowCounter<K> {
    limit: AbuseLimit,
    shards: Box<[Mutex<Shard<K>>]>,
    hasher: RandomState,
}

struct Shard<K> {
    recent: HashMap<K, VecDeque<Instant>>,
    /// The size at which the next sweep happens.
    sweep_at: usize,
    /// Entries visited by sweeps so far (what the test of the amortised cost counts).
    swept: u64,
}

/// Enough shards that two cores' workers seldom meet on one.
const SHARDS: usize = 64;
/// Keys a shard holds before its first sweep.
const FIRST_SWEEP: usize = 1024;

impl<K: Hash + Eq> WindowCounter<K> {
    pub fn new(limit: AbuseLimit) -> WindowCounter<K> {
        let shard = || {
            Mutex::new(Shard {
                recent: HashMap::new(),
                sweep_at: FIRST_SWEEP,
                swept: 0,
            })
        };
        WindowCounter {
            limit,
            shards: (0..SHARDS).map(|_| shard()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Whether `key` has had its limit of events in the window.
    pub fn is_full(&self, key: K) -> bool {
        let max = self.limit.max;
        self.with_entry(key, |times| times.len() >= max)
    }

    /// Counts an event of `key`.
    pub fn record(&self, key: K) {
        let now = Instant::now();
        self.with_entry(key, |times| times.push_back(now));
    }

    /// Counts an event of `key` if it is within the limit, and says whether it was; one
    /// beyond it is not counted, so the key recovers once the window has passed.
    pub fn admit(&self, key: K) -> bool {
        self.admit_or_wait(key).is_ok()
    }

    /// Like [`Self::admit`]; when there is no room, how long until there is.
    pub fn admit_or_wait(&self, key: K) -> Result<(), Duration> {
        let now = Instant::now();
        let (max, window) = (self.limit.max, self.limit.window);
        self.with_entry(key, |times| {
            if times.len() < max {
                times.push_back(now);
                return Ok(());
            }
            Err(times
                .front()
                .map_or(window, |first| window.saturating_sub(now - *first)))
        })
    }

    fn with_entry<T>(&self, key: K, f: impl FnOnce(&mut VecDeque<Instant>) -> T) -> T {
        let window = self.limit.window;
        let index = self.hasher.hash_one(&key) as usize % self.shards.len();
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.recent.len() >= shard.sweep_at {
            let now = Instant::now();
            shard.swept += shard.recent.len() as u64;
            shard
                .recent
                .retain(|_, times| times.back().is_some_and(|t| now - *t < window));
            shard.sweep_at = FIRST_SWEEP.max(2 * shard.recent.len());
        }
        let times = shard.recent.entry(key).or_default();
        expire(times, window);
        f(times)
    }

    /// Entries visited by sweeps so far, over all shards.
    #[cfg(test)]
    fn swept(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).swept)
            .sum()
    }
}

/// Drops the events that left the window.
fn expire(times: &mut VecDeque<Instant>, window: Duration) {
    let now = Instant::now();
    while times.front().is_some_and(|t| now - *t >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_host() {
        let counter = WindowCounter::new(AbuseLimit::parse("3/60").expect("limit"));
        assert!((0..3).all(|_| counter.admit(1)));
        assert!(!counter.admit(1));
        assert!(counter.admit(2));
    }

    #[test]
    fn says_how_long_until_there_is_room() {
        let counter = WindowCounter::new(AbuseLimit::parse("1/60").expect("limit"));
        assert_eq!(counter.admit_or_wait(1), Ok(()));
        let wait = counter.admit_or_wait(1).expect_err("full");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(59));
    }

    #[test]
    fn the_window_passes() {
        let counter = WindowCounter::new(AbuseLimit {
            max: 1,
            window: Duration::from_millis(20),
        });
        assert!(counter.admit(1));
        assert!(!counter.admit(1));
        std::thread::sleep(Duration::from_millis(30));
        assert!(counter.admit(1));
    }

    #[test]
    fn counts_events_until_full() {
        let counter = WindowCounter::new(AbuseLimit::parse("2/60").expect("limit"));
        assert!(!counter.is_full("a"));
        counter.record("a");
        counter.record("a");
        assert!(counter.is_full("a"));
        assert!(!counter.is_full("b"));
    }

    /// With 100,000 live keys, a call must not visit them all: sweeps cost O(1) per call,
    /// amortised.
    #[test]
    fn calls_do_not_sweep_every_live_key() {
        let counter = WindowCounter::new(AbuseLimit::parse("10/600").expect("limit"));
        let calls = 300_000u64;
        for key in 0..calls {
            // 100,000 hosts, each updated three times, all within the window.
            counter.record(key % 100_000);
        }
        let swept = counter.swept();
        assert!(
            swept <= 3 * calls,
            "{swept} entries swept for {calls} calls"
        );
        let live: usize = counter
            .shards
            .iter()
            .map(|s| s.lock().unwrap().recent.len())
            .sum();
        assert_eq!(live, 100_000);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let counter = WindowCounter::new(AbuseLimit {
            max: 1,
            window: Duration::from_millis(1),
        });
        for key in 0..(SHARDS * FIRST_SWEEP) as u64 {
            counter.record(key);
        }
        std::thread::sleep(Duration::from_millis(5));
        for key in 0..(SHARDS * FIRST_SWEEP * 2) as u64 {
            counter.record(1_000_000 + key);
        }
        let live: usize = counter
            .shards
            .iter()
            .map(|s| s.lock().unwrap().recent.len())
            .sum();
        assert!(live < SHARDS * FIRST_SWEEP * 2, "{live} keys kept");
    }

    #[test]
    fn parses_count_per_seconds() {
        assert_eq!(AbuseLimit::parse("10/600"), Ok(AbuseLimit::default()));
        for bad in ["", "10", "0/60", "10/0", "x/60", "10/-1"] {
            assert!(AbuseLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
