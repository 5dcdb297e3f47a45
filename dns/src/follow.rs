//! Keeping a [`Store`] in step with a [`Feed`].
//!
//! Start from a snapshot, then apply batches strictly in revision order. Delivery is
//! at-least-once, so a batch at or below the applied revision is skipped; a batch beyond the
//! next one, or a feed that says it cannot continue, means changes were missed (a trimmed
//! log, a flushed Redis), so the snapshot is reloaded. While the feed is unavailable the node
//! keeps serving what it has and retries with a capped backoff. A store that was loaded before
//! following starts (from the node's local copy) continues from its own revision.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::feed::{Feed, FeedError};
use crate::store::Store;

const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Follows `feed` into `store` until `shutdown` completes. Await the first load with
/// [`Store::ready`], a given revision with [`Store::wait_for`].
pub async fn follow<F: Feed>(store: Arc<Store>, feed: F, shutdown: impl Future) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = BACKOFF_START;
    // A store loaded already (from the node's local copy) continues from its revision.
    let mut need_snapshot = !store.is_loaded();
    // A gap right after a load means the snapshot is older than the log's start: back off
    // rather than reload in a tight loop.
    let mut just_loaded = false;
    loop {
        if need_snapshot {
            let result = tokio::select! {
                result = feed.snapshot() => result,
                _ = shutdown.as_mut() => return,
            };
            match result {
                Ok(snapshot) => {
                    let revision = snapshot.revision;
                    let zones = snapshot.zones.len();
                    let report = store.load(snapshot);
                    info!(revision, zones, skipped = report.skipped, "snapshot loaded");
                    need_snapshot = false;
                    just_loaded = true;
                }
                Err(error) => {
                    warn!(%error, retry_in = ?backoff, "cannot load the snapshot");
                    if pause(&mut backoff, shutdown.as_mut()).await {
                        return;
                    }
                    continue;
                }
            }
        }

        let after = store.revision();
        let result = tokio::select! {
            result = feed.next(after) => result,
            _ = shutdown.as_mut() => return,
        };
        match result {
            Ok(batches) => {
                for batch in batches {
                    let applied = store.revision();
                    if batch.revision <= applied {
                        debug!(
                            revision = batch.revision,
                            applied, "duplicate batch skipped"
                        );
                        continue;
                    }
                    if batch.revision != applied + 1 {
                        warn!(
                            revision = batch.revision,
                            applied, "gap in the feed: reloading the snapshot"
                        );
                        need_snapshot = true;
                        break;
                    }
                    let report = store.apply(&batch);
                    just_loaded = false;
                    debug!(
                        revision = batch.revision,
                        changes = batch.changes.len(),
                        skipped = report.skipped,
                        "batch applied"
                    );
                }
                if !need_snapshot {
                    backoff = BACKOFF_START;
                } else if just_loaded && pause(&mut backoff, shutdown.as_mut()).await {
                    return;
                }
            }
            Err(error @ FeedError::Resync(_)) => {
                warn!(%error, "reloading the snapshot");
                need_snapshot = true;
                if just_loaded && pause(&mut backoff, shutdown.as_mut()).await {
                    return;
                }
            }
            Err(error @ FeedError::Unavailable(_)) => {
                warn!(%error, retry_in = ?backoff, "cannot read the feed");
                if pause(&mut backoff, shutdown.as_mut()).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps for the current backoff and doubles it (capped). `true` if shutdown came first.
async fn pause<S: Future>(backoff: &mut Duration, shutdown: std::pin::Pin<&mut S>) -> bool {
    let delay = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = shutdown => true,
    }
}
