//! Abuse control: a host accepts at most so many updates (`good` or `nochg`) in a sliding
//! window; beyond that, updates of it answer `abuse` until the window has room again.
//! Counted per process: with several web replicas each counts its own share.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `max` accepted updates per host in `window` (`DYN53_ABUSE_LIMIT`, `COUNT/SECONDS`).
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

/// When each host's recent accepted updates happened.
pub(super) struct UpdateCounter {
    limit: AbuseLimit,
    recent: Mutex<HashMap<i64, VecDeque<Instant>>>,
}

/// Hosts tracked before the idle ones are forgotten.
const TRACKED: usize = 100_000;

impl UpdateCounter {
    pub(super) fn new(limit: AbuseLimit) -> UpdateCounter {
        UpdateCounter {
            limit,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an update of `host` and says whether it is within the limit; one beyond it is
    /// not counted, so the host recovers once the window has passed.
    pub(super) fn admit(&self, host: i64) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.limit.window;
        if recent.len() >= TRACKED {
            recent.retain(|_, times| times.back().is_some_and(|t| now - *t < window));
        }
        let times = recent.entry(host).or_default();
        while times.front().is_some_and(|t| now - *t >= window) {
            times.pop_front();
        }
        if times.len() >= self.limit.max {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_host() {
        let counter = UpdateCounter::new(AbuseLimit::parse("3/60").expect("limit"));
        assert!((0..3).all(|_| counter.admit(1)));
        assert!(!counter.admit(1));
        assert!(counter.admit(2));
    }

    #[test]
    fn the_window_passes() {
        let counter = UpdateCounter::new(AbuseLimit {
            max: 1,
            window: Duration::from_millis(20),
        });
        assert!(counter.admit(1));
        assert!(!counter.admit(1));
        std::thread::sleep(Duration::from_millis(30));
        assert!(counter.admit(1));
    }

    #[test]
    fn parses_count_per_seconds() {
        assert_eq!(AbuseLimit::parse("10/600"), Ok(AbuseLimit::default()));
        for bad in ["", "10", "0/60", "10/0", "x/60", "10/-1"] {
            assert!(AbuseLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
