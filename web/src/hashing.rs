//! The one password-hashing service every path uses (updates, pages, the API, the CLI).
//!
//! argon2id costs 19 MiB and tens of milliseconds of CPU a run, on purpose: without a bound,
//! a burst of bogus sign-ins makes the server allocate 19 MiB per request in flight, and the
//! allocator's per-thread arenas keep it afterwards. Here a fixed number of runs go at once
//! (one per core: more only make each slower), each in one of as many buffers kept for the
//! process's life, so the memory is `runs × 19 MiB` whatever the load. Beyond the runs, a
//! short queue waits; a caller beyond the queue gets [`Busy`] at once, which each surface
//! turns into its protocol's "try later" answer (`911`, 503, the pages' "try again"). Those
//! refusals are counted (`dyn53_password_hash_busy_total`); the callers waiting and the runs
//! going on are read from the semaphores at scrape time ([`PasswordHashing::queue`]).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, counter, describe_counter};
use tokio::sync::Semaphore;

use crate::domain::{Argon2Memory, PasswordHash, hash_password, verify_password};

/// Callers that may wait for a run by default (`DYN53_HASH_QUEUE`).
pub const DEFAULT_QUEUE: usize = 32;

#[derive(Clone)]
pub struct PasswordHashing {
    /// Runs plus waiting callers: a caller who finds no permit is refused without waiting.
    admitted: Arc<Semaphore>,
    runs: Arc<Semaphore>,
    /// The buffers of the runs that are not going on.
    idle_memory: Arc<Mutex<Vec<Argon2Memory>>>,
    /// The sizes the semaphores were made with.
    max_runs: usize,
    max_admitted: usize,
    busy: Counter,
}

/// The hashing service's load at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashingQueue {
    /// Runs going on.
    pub running: usize,
    /// Callers waiting for a run.
    pub waiting: usize,
}

/// Every run is taken and the queue is full: try again shortly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many passwords are being checked at once")]
pub struct Busy;

impl PasswordHashing {
    /// One run per core, and `queue` callers waiting at most.
    pub fn new(queue: usize) -> PasswordHashing {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        PasswordHashing::with_runs(cores, queue)
    }

    pub fn with_runs(runs: usize, queue: usize) -> PasswordHashing {
        let runs = runs.max(1);
        describe_counter!(
            "dyn53_password_hash_busy_total",
            "Password checks refused at once because every run was taken and the queue full."
        );
        PasswordHashing {
            admitted: Arc::new(Semaphore::new(runs + queue)),
            runs: Arc::new(Semaphore::new(runs)),
            idle_memory: Arc::new(Mutex::new(Vec::new())),
            max_runs: runs,
            max_admitted: runs + queue,
            busy: counter!("dyn53_password_hash_busy_total"),
        }
    }

    /// The runs going on and the callers waiting, now.
    pub fn queue(&self) -> HashingQueue {
        let admitted = self.max_admitted - self.admitted.available_permits();
        let running = self.max_runs - self.runs.available_permits();
        HashingQueue {
            running,
            waiting: admitted.saturating_sub(running),
        }
    }

    /// A new hash of a password a person chose.
    pub async fn hash(&self, password: &str) -> Result<PasswordHash, Busy> {
        let password = password.to_owned();
        self.run(move |memory| hash_password(&password, memory))
            .await?
            .map_err(|e| {
                tracing::error!("{e:#}");
                Busy
            })
    }

    /// Whether `password` is the one `stored` was made from. Without a stored hash (an
    /// unknown login) the same work is done, so timing does not tell which logins exist.
    pub async fn verify(&self, password: &str, stored: Option<PasswordHash>) -> Result<bool, Busy> {
        let password = password.to_owned();
        self.run(move |memory| verify_password(&password, stored.as_ref(), memory))
            .await
    }

    /// Runs `work` off the async workers once a run is free. The permits and the buffer go
    /// with the blocking task, so a caller that gives up (a closed connection) cannot let
    /// more runs start than the bound while its own still goes on.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Argon2Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            self.busy.increment(1);
            Busy
        })?;
        let run = self.runs.clone().acquire_owned().await.map_err(|_| Busy)?;
        let idle = self.idle_memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut memory = taken.unwrap_or_default();
            let result = work(&mut memory);
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop((run, admitted));
            result
        })
        .await
        .map_err(|_| Busy)
    }

    /// Buffers allocated so far: never more than the runs.
    #[cfg(test)]
    fn buffers(&self) -> usize {
        self.idle_memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_and_verifies() {
        let hashing = PasswordHashing::with_runs(1, 1);
        let hash = hashing.hash("a long secret").await.expect("hash");
        let right = hashing.verify("a long secret", Some(hash.clone())).await;
        let wrong = hashing.verify("another secret", Some(hash)).await;
        assert!(right.expect("verify") && !wrong.expect("verify"));
        assert!(!hashing.verify("a long secret", None).await.expect("verify"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_callers_are_refused_at_once_and_buffers_stay_bounded() {
        let hashing = PasswordHashing::with_runs(2, 3);
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.verify("guess", None).await })
            })
            .collect();
        let mut answered = 0;
        let mut busy = 0;
        for call in calls {
            match call.await.expect("task") {
                Ok(_) => answered += 1,
                Err(Busy) => busy += 1,
            }
        }
        // 2 runs + 3 waiting are admitted at the start; the rest may find room only once
        // some have finished.
        assert!(answered >= 5, "{answered} answered");
        assert!(busy > 0, "nobody was refused");
        assert!(hashing.buffers() <= 2, "{} buffers", hashing.buffers());
        let idle = HashingQueue {
            running: 0,
            waiting: 0,
        };
        assert_eq!(hashing.queue(), idle);
    }
}
