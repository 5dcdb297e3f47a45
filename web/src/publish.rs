//! The outbox publisher of `dyn53 web`: every committed batch goes to the fleet feed in
//! Redis, in revision order, at least once.
//!
//! One replica publishes at a time (the database's leadership lock); the others stand by.
//! The publisher continues from the revision Redis says it has, reading this process's commits
//! from memory and everyone else's from the outbox. When Redis is down, updates still
//! commit; the publisher retries and catches up from the outbox when Redis is back. A Redis
//! that comes back empty, or holding revisions the outbox no longer has, gets a new copy
//! written from the database; so does one whose last batch is not the database's batch of
//! that revision (a database restored from a backup, checked when a publisher takes over).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context;
use dyn53_dns::feed::{Batch, Feed};
use dyn53_dns::fleet::{Meta, Published, Publisher};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::db::{Db, Duty, Leadership};
use crate::feed::{LocalCommits, OutboxFeed};

/// How often the leader checks its lock and that Redis still holds the copy.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A standby replica tries to become the leader this often.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
/// A batch with more changes than this (a bulk import) is published as a new copy rather
/// than as one huge log entry: nodes would reload that much anyway.
const LARGE_BATCH: usize = 10_000;
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What `/readyz` reports about publishing.
#[derive(Debug, Default)]
pub struct PublishStatus {
    /// Whether this replica is the publisher.
    pub leader: AtomicBool,
    /// Whether the last attempt to reach Redis worked.
    pub redis_ok: AtomicBool,
    /// The last revision Redis acknowledged.
    pub published: AtomicU64,
}

/// Publishes until `shutdown` completes.
pub async fn run_publisher(
    db: Db,
    local: Arc<LocalCommits>,
    redis: Publisher,
    status: Arc<PublishStatus>,
    shutdown: impl Future,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut publishing = Publishing {
        feed: OutboxFeed::new(db.clone(), local),
        db,
        redis,
        status,
    };
    let mut backoff = BACKOFF_START;
    loop {
        let lead = tokio::select! {
            lead = publishing.db.try_lead(Duty::Publish) => lead,
            _ = shutdown.as_mut() => return,
        };
        let outcome = match lead {
            Ok(Some(mut lead)) => {
                info!("this replica publishes the feed");
                publishing.status.leader.store(true, Relaxed);
                let outcome = tokio::select! {
                    outcome = publishing.lead(&mut lead) => outcome,
                    _ = shutdown.as_mut() => return,
                };
                publishing.status.leader.store(false, Relaxed);
                outcome
            }
            Ok(None) => Err(anyhow::anyhow!("another replica publishes")),
            Err(e) => Err(e).context("taking the publisher lock"),
        };
        let delay = match outcome {
            Ok(()) => {
                backoff = BACKOFF_START;
                STANDBY_RETRY
            }
            Err(error) => {
                warn!("publisher: {error:#}; retrying in {backoff:?}");
                let delay = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.as_mut() => return,
        }
    }
}

struct Publishing {
    db: Db,
    feed: OutboxFeed,
    redis: Publisher,
    status: Arc<PublishStatus>,
}

impl Publishing {
    /// Publishes while this replica holds the lock. `Ok` when the lock was lost.
    async fn lead(&mut self, lead: &mut Leadership) -> anyhow::Result<()> {
        let mut meta = self.current_copy().await?;
        let mut checked = Instant::now();
        loop {
            if checked.elapsed() >= CHECK_EVERY {
                if !lead.holds().await {
                    warn!("lost the publisher lock");
                    return Ok(());
                }
                if self.read_meta().await?.as_ref() != Some(&meta) {
                    meta = self.current_copy().await?;
                }
                checked = Instant::now();
            }
            let batches = self.feed.next(meta.revision).await?;
            let contiguous = batches
                .iter()
                .zip(meta.revision + 1..)
                .take_while(|(batch, expected)| batch.revision == *expected)
                .count();
            if contiguous == 0 && !batches.is_empty() {
                warn!(
                    published = meta.revision,
                    next = batches[0].revision,
                    "the outbox no longer has what Redis lacks: writing a new copy"
                );
                meta = self.write_copy().await?;
            } else if batches.iter().any(|b| b.changes.len() > LARGE_BATCH) {
                meta = self.write_copy().await?;
            } else if contiguous > 0 {
                let outcomes = self.publish(&meta.epoch, &batches[..contiguous]).await?;
                for (batch, outcome) in batches.iter().zip(outcomes) {
                    if outcome == Published::Stale {
                        meta = self.current_copy().await?;
                        break;
                    }
                    meta.revision = batch.revision;
                }
            }
            self.status.published.store(meta.revision, Relaxed);
        }
    }

    /// The copy in Redis to continue, or a new one when Redis has none or one that does
    /// not belong to this database (a revision the database has not reached).
    async fn current_copy(&mut self) -> anyhow::Result<Meta> {
        let revision = self.db.feed_revision().await?;
        match self.read_meta().await? {
            Some(meta) if meta.revision <= revision && self.history_differs(&meta).await? => {
                warn!(
                    redis = meta.revision,
                    database = revision,
                    "the database's batch of the copy's revision is not the one published \
                     (restored from a backup?): writing a new copy"
                );
                self.write_copy().await
            }
            Some(meta) if meta.revision <= revision => Ok(meta),
            Some(meta) => {
                warn!(
                    redis = meta.revision,
                    database = revision,
                    "Redis is ahead of the database: writing a new copy"
                );
                self.write_copy().await
            }
            None => {
                info!("Redis holds no copy: writing one from the database");
                self.write_copy().await
            }
        }
    }

    /// Whether the batch Redis published last differs from the database's batch of that
    /// revision: a database restored from a backup that has since moved past the copy with
    /// other changes. Without both batches (a fresh copy, a pruned outbox) there is nothing
    /// to tell, and the copy is continued.
    async fn history_differs(&mut self, meta: &Meta) -> anyhow::Result<bool> {
        if meta.revision == 0 {
            return Ok(false);
        }
        let logged = self.redis.logged(&meta.epoch, meta.revision).await;
        let Some(logged) = self.redis_result(logged)? else {
            return Ok(false);
        };
        let ours = self.db.batches_after(meta.revision - 1, 1).await?;
        Ok(ours
            .first()
            .filter(|batch| batch.revision == meta.revision)
            .is_some_and(|batch| batch.changes != logged.changes))
    }

    async fn write_copy(&mut self) -> anyhow::Result<Meta> {
        let snapshot = self.db.snapshot().await?;
        let started = Instant::now();
        let meta = self.redis_result(self.redis.clone().republish(&snapshot).await)?;
        info!(
            revision = meta.revision,
            epoch = %meta.epoch,
            took = ?started.elapsed(),
            "copy written to Redis"
        );
        self.status.published.store(meta.revision, Relaxed);
        Ok(meta)
    }

    async fn read_meta(&mut self) -> anyhow::Result<Option<Meta>> {
        let meta = self.redis.meta().await;
        self.redis_result(meta)
    }

    async fn publish(&mut self, epoch: &str, batches: &[Batch]) -> anyhow::Result<Vec<Published>> {
        let published = self.redis.publish(epoch, batches).await;
        self.redis_result(published)
    }

    fn redis_result<T>(&self, result: redis::RedisResult<T>) -> anyhow::Result<T> {
        self.status.redis_ok.store(result.is_ok(), Relaxed);
        result.context("Redis")
    }
}
