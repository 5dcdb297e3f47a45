//! The in-process feed of `dyn53 serve`. Batches committed by this process are handed to
//! the DNS node directly (no database round trip, and still served if the database fails
//! right after the commit); anything else, such as the CLI's writes from another process,
//! is read from the database outbox, polled briefly: at once when this process's batches
//! leave a gap, else every [`POLL`] (after each local batch, it was a query per commit that
//! found nothing).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dyn53_dns::feed::{Batch, Feed, FeedError, Revision, Snapshot};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout_at};

use crate::db::Db;

/// How often the outbox is read when this process's batches leave no gap.
const POLL: Duration = Duration::from_millis(100);
/// How long `next` waits before returning empty, so the follower can check for shutdown.
const WAIT: Duration = Duration::from_secs(1);
/// Local batches kept for a follower that lags; older ones are read from the outbox.
const LOCAL_LIMIT: usize = 1024;

/// Batches this process committed, not yet taken by the feed.
#[derive(Default)]
pub struct LocalCommits {
    batches: Mutex<VecDeque<Batch>>,
    notify: Notify,
}

impl LocalCommits {
    pub fn committed(&self, batch: Batch) {
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        // Commits of concurrent writers may arrive here slightly out of order.
        let at = batches.partition_point(|b| b.revision < batch.revision);
        batches.insert(at, batch);
        if batches.len() > LOCAL_LIMIT {
            batches.pop_front();
        }
        drop(batches);
        self.notify.notify_waiters();
    }

    /// The batches that follow `after` without a gap; drops the ones at or below it.
    fn take_after(&self, after: Revision) -> Vec<Batch> {
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        while batches.front().is_some_and(|b| b.revision <= after) {
            batches.pop_front();
        }
        let contiguous = batches
            .iter()
            .zip(after + 1..)
            .take_while(|(b, expected)| b.revision == *expected)
            .count();
        batches.drain(..contiguous).collect()
    }

    /// Whether batches wait for one that another process committed.
    fn waits(&self) -> bool {
        !self
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

pub struct OutboxFeed {
    db: Db,
    local: Arc<LocalCommits>,
    /// When the outbox was last read.
    read_at: Mutex<Option<Instant>>,
}

impl OutboxFeed {
    pub fn new(db: Db, local: Arc<LocalCommits>) -> OutboxFeed {
        OutboxFeed {
            db,
            local,
            read_at: Mutex::default(),
        }
    }

    /// When the outbox is next read if no gap calls for it sooner.
    fn next_read(&self) -> Option<Instant> {
        let read_at = self.read_at.lock().unwrap_or_else(PoisonError::into_inner);
        read_at.map(|at| at + POLL)
    }
}

fn unavailable(e: impl std::fmt::Display) -> FeedError {
    FeedError::Unavailable(e.to_string())
}

impl Feed for OutboxFeed {
    async fn snapshot(&self) -> Result<Snapshot, FeedError> {
        self.db.snapshot().await.map_err(unavailable)
    }

    async fn next(&self, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let deadline = Instant::now() + WAIT;
        loop {
            // Registered before looking, so a commit in between still wakes us.
            let woken = self.local.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let local = self.local.take_after(after);
            if !local.is_empty() {
                return Ok(local);
            }
            // Nothing local follows `after`: another process wrote, or nothing happened.
            let now = Instant::now();
            let next_read = self.next_read();
            if self.local.waits() || next_read.is_none_or(|at| at <= now) {
                *self.read_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
                let batches = self
                    .db
                    .batches_after(after, 1000)
                    .await
                    .map_err(unavailable)?;
                if !batches.is_empty() {
                    return Ok(batches);
                }
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let wake_at = self.next_read().map_or(deadline, |at| at.min(deadline));
            let _ = timeout_at(wake_at, woken).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(revision: Revision) -> Batch {
        Batch {
            revision,
            changes: Vec::new(),
        }
    }

    fn revisions(batches: &[Batch]) -> Vec<Revision> {
        batches.iter().map(|b| b.revision).collect()
    }

    #[test]
    fn hands_out_contiguous_batches_in_order() {
        let local = LocalCommits::default();
        for r in [3, 2, 4, 7] {
            local.committed(batch(r));
        }
        assert_eq!(revisions(&local.take_after(1)), [2, 3, 4]);
        // 5 and 6 came from elsewhere: 7 waits until the outbox supplied them.
        assert!(local.take_after(4).is_empty());
        assert!(local.waits(), "a gap calls for the outbox at once");
        assert_eq!(revisions(&local.take_after(6)), [7]);
    }

    #[test]
    fn drops_what_was_already_applied() {
        let local = LocalCommits::default();
        local.committed(batch(2));
        local.committed(batch(3));
        assert_eq!(revisions(&local.take_after(2)), [3]);
        assert!(!local.waits(), "no gap: the outbox waits for its poll");
    }
}
