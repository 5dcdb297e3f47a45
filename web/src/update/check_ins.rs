//! Check-ins that changed nothing: their history lines, the hosts' "last seen" and the
//! keys' "last used" are written in the background, many per transaction, instead of one
//! serialised commit per `nochg`. They are not durable: a crash loses the last half second
//! of them, which changes nothing that is served.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, sleep_until};

use crate::db::{Db, DbResult, HistoryEntry, Seen};

/// How long the first check-in of a batch waits for others to share its transaction.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// How often a batch being gathered looks at the queue. Waiting on the queue itself would
/// wake the writer for each check-in: a thread wake-up per update.
const GATHER_STEP: Duration = Duration::from_millis(20);
/// Check-ins written in one transaction at most.
const MAX_BATCH: usize = 1000;
/// Batches written at once: while one waits for the database, the next is written.
const WRITERS: usize = 2;
/// Check-ins waiting beyond the batches being written; past this, requests wait for room,
/// so a database that falls behind slows clients down rather than filling memory.
const QUEUE: usize = 10 * MAX_BATCH;

/// One request's check-in: a history entry per host it named, and the key it used.
struct CheckIn {
    history: Vec<HistoryEntry>,
    key: Option<(i64, Seen)>,
}

#[derive(Clone)]
pub(super) struct CheckIns {
    queue: mpsc::Sender<CheckIn>,
}

impl CheckIns {
    pub(super) fn start(db: Db) -> CheckIns {
        let (queue, check_ins) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, check_ins));
        CheckIns { queue }
    }

    pub(super) async fn record(&self, history: Vec<HistoryEntry>, key: Option<(i64, Seen)>) {
        // Only fails when the writer is gone, as the process stops.
        let _ = self.queue.send(CheckIn { history, key }).await;
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<CheckIn>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deadline = Instant::now() + FLUSH_EVERY;
        while batch.len() < MAX_BATCH && Instant::now() < deadline && !queue.is_closed() {
            sleep_until(deadline.min(Instant::now() + GATHER_STEP)).await;
            // What is queued now, without waiting for more.
            let room = MAX_BATCH - batch.len();
            batch.extend(std::iter::from_fn(|| queue.try_recv().ok()).take(room));
        }
        let count = batch.len();
        let (history, keys): (Vec<_>, Vec<_>) = batch.drain(..).map(|c| (c.history, c.key)).unzip();
        let history: Vec<HistoryEntry> = history.into_iter().flatten().collect();
        let Ok(writer) = writers.clone().acquire_owned().await else {
            return;
        };
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) = write(&db, &history, keys.iter().flatten()).await {
                tracing::warn!(check_ins = count, "check-ins lost: {e}");
            }
            drop(writer);
        });
    }
}

async fn write(
    db: &Db,
    history: &[HistoryEntry],
    keys: impl Iterator<Item = &(i64, Seen)>,
) -> DbResult<()> {
    // The last check-in of each host and each key is the one that counts. Rows are locked
    // in the committer's order, hosts then keys, each by id: no two writers deadlock. A
    // host deleted since its check-in was read is not locked, and gets no history.
    let last_seen: BTreeMap<i64, &Seen> = history.iter().map(|h| (h.host.id, &h.seen)).collect();
    let keys_used: BTreeMap<i64, &Seen> = keys.map(|(id, seen)| (*id, seen)).collect();
    let tx = db.begin_write().await?;
    let exist = tx.touch_hosts(last_seen).await?;
    tx.add_history(history.iter().filter(|h| exist.contains(&h.host.id)))
        .await?;
    tx.mark_keys_used(&keys_used).await?;
    tx.commit().await?;
    Ok(())
}
