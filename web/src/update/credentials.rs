//! Passwords verified recently. argon2id costs tens of milliseconds of CPU by design, which
//! would cap password-authenticated updates at a few dozen per second per core; a client
//! that updates often pays for one verification every few minutes instead.
//!
//! An entry holds no password, only a tag: SHA-256 keyed with a secret drawn at process
//! start, over the user id, the stored hash (PHC string) the password was verified against,
//! and the password. It matches only the same password for the same user while the stored
//! hash is unchanged, so a password change makes the old entry unreachable at once. Only
//! successful verifications are remembered.
//!
//! Verifications going on are shared too: devices of one account that start together with
//! the same password (a power cut's end) wait for the one argon2id run instead of each
//! starting its own, which would fill the hashing service's queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::domain::PasswordHash;
use crate::hashing::Busy;

/// How long a verification is trusted.
const TTL: Duration = Duration::from_secs(5 * 60);
/// One entry per user; beyond this many, the oldest go.
const CAPACITY: usize = 100_000;

pub struct VerifiedPasswords {
    /// Per process: the tags mean nothing outside it, and nothing needs configuring.
    secret: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<i64, Entry>>,
    /// The verifications going on, by tag; removed by the first caller to finish.
    running: Mutex<HashMap<[u8; 32], Arc<OnceCell<bool>>>>,
}

struct Entry {
    tag: [u8; 32],
    expires: Instant,
}

impl VerifiedPasswords {
    pub fn new() -> VerifiedPasswords {
        VerifiedPasswords::with_limits(TTL, CAPACITY)
    }

    fn with_limits(ttl: Duration, capacity: usize) -> VerifiedPasswords {
        VerifiedPasswords {
            secret: rand::random(),
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `password` is the user's: from the cache, from a verification of the same
    /// password going on, or by `run` (argon2id), whose success is then remembered.
    pub async fn verify<F: Future<Output = Result<bool, Busy>>>(
        &self,
        user_id: i64,
        stored: &PasswordHash,
        password: &str,
        run: impl FnOnce() -> F,
    ) -> Result<bool, Busy> {
        if self.contains(user_id, stored, password) {
            return Ok(true);
        }
        let tag = self.tag(user_id, stored, password);
        let cell = lock(&self.running).entry(tag).or_default().clone();
        // The first caller runs; the others wait for its answer (or, if it gave up or got
        // `Busy`, one of them runs next).
        let result = cell.get_or_try_init(run).await.copied();
        let mut running = lock(&self.running);
        if running.get(&tag).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            running.remove(&tag);
        }
        drop(running);
        if result == Ok(true) {
            self.insert(user_id, stored, password);
        }
        result
    }

    /// Whether `password` was verified against `stored` for this user less than the TTL ago.
    pub fn contains(&self, user_id: i64, stored: &PasswordHash, password: &str) -> bool {
        let tag = self.tag(user_id, stored, password);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&user_id)
            .is_some_and(|e| e.expires > Instant::now() && same(&e.tag, &tag))
    }

    /// Remembers a successful verification of `password` against `stored`.
    pub fn insert(&self, user_id: i64, stored: &PasswordHash, password: &str) {
        let entry = Entry {
            tag: self.tag(user_id, stored, password),
            expires: Instant::now() + self.ttl,
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&user_id) {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            // Scanning is cheap next to the argon2id run that precedes every insert.
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(id, _)| *id);
            if let (true, Some(oldest)) = (entries.len() >= self.capacity, oldest) {
                entries.remove(&oldest);
            }
        }
        entries.insert(user_id, entry);
    }

    /// Fixed-size fields, the stored hash with its length, then the password: no two
    /// inputs share an encoding. Keyed with the process's secret, a tag is worthless
    /// outside it (a fast hash of a password alone could be brute-forced); it never
    /// leaves the process, so SHA-256's length extension gives nobody anything.
    fn tag(&self, user_id: i64, stored: &PasswordHash, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.secret)
            .chain_update(user_id.to_be_bytes())
            .chain_update((stored.0.len() as u64).to_be_bytes())
            .chain_update(stored.0.as_bytes())
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compares in time independent of where the tags differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(s: &str) -> PasswordHash {
        PasswordHash(format!("$argon2id$v=19$m=19456,t=2,p=1${s}"))
    }

    #[test]
    fn remembers_a_verified_password() {
        let cache = VerifiedPasswords::new();
        assert!(!cache.contains(1, &hash("a"), "secret"));
        cache.insert(1, &hash("a"), "secret");
        assert!(cache.contains(1, &hash("a"), "secret"));
    }

    #[test]
    fn another_password_or_user_never_hits() {
        let cache = VerifiedPasswords::new();
        cache.insert(1, &hash("a"), "secret");
        assert!(!cache.contains(1, &hash("a"), "Secret"));
        assert!(!cache.contains(1, &hash("a"), "secret "));
        assert!(!cache.contains(1, &hash("a"), ""));
        assert!(!cache.contains(2, &hash("a"), "secret"));
    }

    #[test]
    fn a_changed_password_hash_drops_the_entry() {
        let cache = VerifiedPasswords::new();
        cache.insert(1, &hash("a"), "secret");
        // Even the same password set again gets a new salt, hence a new PHC string.
        assert!(!cache.contains(1, &hash("b"), "secret"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verifications_going_on_are_shared() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = Arc::new(VerifiedPasswords::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    let run = || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(true)
                    };
                    cache.verify(1, &hash("a"), "secret", run).await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.expect("task"), Ok(true));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(lock(&cache.running).is_empty());
        assert!(cache.contains(1, &hash("a"), "secret"));
    }

    #[test]
    fn entries_expire() {
        let cache = VerifiedPasswords::with_limits(Duration::ZERO, CAPACITY);
        cache.insert(1, &hash("a"), "secret");
        assert!(!cache.contains(1, &hash("a"), "secret"));
    }

    #[test]
    fn the_oldest_entry_makes_room() {
        let cache = VerifiedPasswords::with_limits(TTL, 2);
        for user in 1..=3 {
            cache.insert(user, &hash("a"), "secret");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!cache.contains(1, &hash("a"), "secret"));
        assert!(cache.contains(2, &hash("a"), "secret"));
        assert!(cache.contains(3, &hash("a"), "secret"));
    }
}
