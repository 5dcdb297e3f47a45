//! Group commit for updates that change something. Revisions commit in order, so every
//! writing transaction holds the revision counter's row lock through its commit (a WAL
//! flush): one transaction per update would cap updates at one per flush. One committer
//! task takes every changing update waiting, writes them in one transaction under one
//! revision, and answers each only after that commit; while it commits, the next batch
//! gathers. A lone update still commits at once. How many updates each transaction took is
//! `dyn53_update_commit_batch_size`.
//! Every batch costs about a dozen round trips whatever its size, so one transaction at a
//! time, with batches that grow with the load: two at once halved the batches and made
//! each update a fifth dearer in CPU (`bench/README.md`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dyn53_dns::feed::Batch;
use metrics::{Histogram, describe_histogram, histogram};
use tokio::sync::{mpsc, oneshot};

use super::{HostResult, Job, UpdateError};
use crate::db::{Db, DbResult, HostState, Seen};
use crate::feed::LocalCommits;

/// Updates written in one transaction at most: bounds its size and its lock time.
const MAX_BATCH: usize = 256;
/// Updates waiting beyond the batch being written; more wait to be queued.
const QUEUE: usize = 4 * MAX_BATCH;

type Answer = Result<Vec<HostResult>, UpdateError>;

#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::Sender<(Job, oneshot::Sender<Answer>)>,
}

impl Committer {
    pub(super) fn start(db: Db, feed: Arc<LocalCommits>) -> Committer {
        let (queue, jobs) = mpsc::channel(QUEUE);
        describe_histogram!(
            "dyn53_update_commit_batch_size",
            "Changing updates written in one transaction."
        );
        let batch_sizes = histogram!("dyn53_update_commit_batch_size");
        tokio::spawn(run(db, feed, jobs, batch_sizes));
        Committer { queue }
    }

    /// Applies `job` on locked rows and commits it; answers after the commit.
    pub(super) async fn commit(&self, job: Job) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| UpdateError::Interrupted)?;
        answer.await.unwrap_or(Err(UpdateError::Interrupted))
    }
}

async fn run(
    db: Db,
    feed: Arc<LocalCommits>,
    mut queue: mpsc::Receiver<(Job, oneshot::Sender<Answer>)>,
    batch_sizes: Histogram,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch_sizes.record(batch.len() as f64);
        let (jobs, replies): (Vec<Job>, Vec<_>) = batch.drain(..).unzip();
        match write(&db, &jobs).await {
            Ok((answers, committed)) => {
                if let Some(committed) = committed {
                    feed.committed(committed);
                }
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(UpdateError::Unavailable(e.clone())));
                }
            }
        }
    }
}

/// One transaction for `jobs`, applied in order as if each were alone: the answers, and
/// the batch committed for the feed.
async fn write(db: &Db, jobs: &[Job]) -> DbResult<(Vec<Vec<HostResult>>, Option<Batch>)> {
    let mut tx = db.begin_write().await?;
    let wanted: Vec<_> = jobs
        .iter()
        .flat_map(|job| job.written().map(|name| (job.principal.account, name)))
        .collect();
    let mut hosts = tx.lock_hosts(&wanted).await?;
    let mut states: HashMap<String, HostState> = hosts
        .iter()
        .map(|h| (h.name.to_string(), h.state.clone()))
        .collect();
    let mut answers = Vec::with_capacity(jobs.len());
    let mut history = Vec::new();
    // (account, actor, host id) of each host a person's change changed.
    let mut audited = Vec::new();
    for job in jobs {
        let (answer, checked_in) = job.apply(&mut states);
        answers.push(answer);
        if let Some(actor) = &job.audited {
            let changed = checked_in.iter().filter(|h| h.changed);
            audited.extend(changed.map(|h| (job.principal.account, actor, h.host.id)));
        }
        history.extend(checked_in);
    }

    // Each host is written once: its final state, seen as its last check-in says.
    let last_seen: HashMap<i64, &Seen> = history.iter().map(|h| (h.host.id, &h.seen)).collect();
    let mut unchanged = Vec::new();
    // (index in `hosts`, state before, check-in) of each host that changed.
    let mut changes = Vec::new();
    for (i, host) in hosts.iter_mut().enumerate() {
        let Some(&seen) = last_seen.get(&host.state.id) else {
            continue;
        };
        let state = &states[host.name.as_str()];
        if *state == host.state {
            unchanged.push((host.state.id, seen));
        } else {
            changes.push((i, std::mem::replace(&mut host.state, state.clone()), seen));
        }
    }
    let changed: Vec<_> = changes
        .iter()
        .map(|(i, before, seen)| (&hosts[*i], before, *seen))
        .collect();
    tx.save_host_states(&changed).await?;
    tx.touch_hosts(unchanged).await?;
    tx.add_history(&history).await?;
    for (account, actor, id) in audited {
        if let Some(host) = hosts.iter().find(|h| h.state.id == id) {
            tx.audit(Some(account), actor, "host.change", host.name.as_str())
                .await?;
        }
    }
    let keys_used: BTreeMap<i64, &Seen> = jobs
        .iter()
        .filter_map(|job| Some((job.principal.key.as_ref()?.key_id, &job.seen)))
        .collect();
    tx.mark_keys_used(&keys_used).await?;
    // By account, in id order; a later job's prefix replaces an earlier one's.
    let prefixes: BTreeMap<_, _> = jobs
        .iter()
        .filter_map(|job| Some((job.principal.account, job.prefix.keep?)))
        .collect();
    for (account, prefix) in prefixes {
        tx.set_account_ipv6_prefix(account, prefix).await?;
    }
    Ok((answers, tx.commit().await?))
}
