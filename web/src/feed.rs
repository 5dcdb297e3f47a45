//! The in-process feed of `dyn53 serve`: the DNS node reads the database outbox directly.
//! Writers in this process wake it at once; writers in other processes (the CLI) are
//! picked up by a short poll.

use std::sync::Arc;
use std::time::Duration;

use dyn53_dns::feed::{Batch, Feed, FeedError, Revision, Snapshot};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};

use crate::db::Db;

/// How often the outbox is read when nothing in this process wrote to it.
const POLL: Duration = Duration::from_millis(100);
/// How long `next` waits before returning empty, so the follower can check for shutdown.
const WAIT: Duration = Duration::from_secs(1);

/// Tells the feed that a revision was committed.
#[derive(Default)]
pub struct FeedWaker {
    notify: Notify,
}

impl FeedWaker {
    pub fn wake(&self) {
        self.notify.notify_waiters();
    }
}

pub struct OutboxFeed {
    db: Db,
    waker: Arc<FeedWaker>,
}

impl OutboxFeed {
    pub fn new(db: Db, waker: Arc<FeedWaker>) -> OutboxFeed {
        OutboxFeed { db, waker }
    }
}

fn unavailable(e: impl std::fmt::Display) -> FeedError {
    FeedError(e.to_string())
}

impl Feed for OutboxFeed {
    async fn snapshot(&self) -> Result<Snapshot, FeedError> {
        self.db.snapshot().await.map_err(unavailable)
    }

    async fn next(&self, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let deadline = Instant::now() + WAIT;
        loop {
            // Registered before reading, so a commit between the read and the wait still wakes us.
            let woken = self.waker.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let batches = self
                .db
                .batches_after(after, 1000)
                .await
                .map_err(unavailable)?;
            if !batches.is_empty() || Instant::now() >= deadline {
                return Ok(batches);
            }
            let _ = timeout(POLL, woken).await;
        }
    }
}
