//! The control plane on the metrics port (`DYN53_METRICS_ADDR`): what is read rather than
//! counted, set just before each scrape. The counters live where things happen: updates in
//! `update/stats.rs`, commit batches in `update/committer.rs`, refusals of the hashing
//! service in `hashing.rs`, mail in `mail.rs`. Every name is listed in ARCHITECTURE.md.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use dyn53_dns::Store;
use dyn53_dns::exporter::Source;
use metrics::{describe_gauge, gauge};

use crate::db::Db;
use crate::hashing::PasswordHashing;
use crate::publish::PublishStatus;

/// A scrape waits this long for the database's revision, then shows the last one read.
const REVISION_TIMEOUT: Duration = Duration::from_secs(1);

/// Who takes the outbox's batches.
pub enum OutboxReader {
    /// `dyn53 serve`: the embedded DNS node, which this process feeds itself.
    Node(Arc<Store>),
    /// `dyn53 web`: the publisher to Redis, when this replica is the one.
    Publisher(Arc<PublishStatus>),
}

pub struct ControlPlane {
    db: Db,
    hashing: PasswordHashing,
    outbox: OutboxReader,
}

impl ControlPlane {
    /// Describes the gauges and sets them once, so that the first scrape has them all.
    pub fn new(db: Db, hashing: PasswordHashing, outbox: OutboxReader) -> ControlPlane {
        describe_gauge!(
            "dyn53_db_connections",
            "Database connections of the pool, by state (in_use, idle)."
        );
        describe_gauge!(
            "dyn53_db_connections_max",
            "Most connections the pool opens."
        );
        describe_gauge!(
            "dyn53_password_hash_waiting",
            "Callers waiting for a password-hashing run."
        );
        describe_gauge!(
            "dyn53_password_hash_running",
            "Password-hashing runs going on."
        );
        describe_gauge!(
            "dyn53_outbox_revision",
            "Latest revision committed to the outbox."
        );
        describe_gauge!(
            "dyn53_outbox_backlog_revisions",
            "Revisions committed but not yet taken by the feed's reader (the embedded node, or \
             Redis through this replica's publisher; 0 on a standby replica)."
        );
        describe_gauge!(
            "dyn53_publisher_leader",
            "1 if this process feeds the DNS nodes: the publishing replica, or `dyn53 serve`."
        );
        let plane = ControlPlane {
            db,
            hashing,
            outbox,
        };
        if let OutboxReader::Publisher(_) = plane.outbox {
            describe_gauge!(
                "dyn53_publisher_redis_reachable",
                "1 if the publisher's last contact with Redis worked."
            );
        }
        plane.collect_local();
        gauge!("dyn53_outbox_revision").set(0.0);
        gauge!("dyn53_outbox_backlog_revisions").set(0.0);
        plane
    }

    /// What is known without asking the database.
    fn collect_local(&self) {
        let pool = self.db.pool_use();
        gauge!("dyn53_db_connections", "state" => "in_use").set(pool.in_use);
        gauge!("dyn53_db_connections", "state" => "idle").set(pool.idle);
        gauge!("dyn53_db_connections_max").set(pool.max);
        let queue = self.hashing.queue();
        gauge!("dyn53_password_hash_waiting").set(queue.waiting as f64);
        gauge!("dyn53_password_hash_running").set(queue.running as f64);
        let leader = match &self.outbox {
            OutboxReader::Node(_) => true,
            OutboxReader::Publisher(status) => {
                let reachable = status.redis_ok.load(Relaxed);
                gauge!("dyn53_publisher_redis_reachable").set(u8::from(reachable));
                status.leader.load(Relaxed)
            }
        };
        gauge!("dyn53_publisher_leader").set(u8::from(leader));
    }

    /// How far the outbox's reader has taken it; `None` on a standby replica.
    fn taken(&self) -> Option<u64> {
        match &self.outbox {
            OutboxReader::Node(store) => Some(store.revision()),
            OutboxReader::Publisher(status) => status
                .leader
                .load(Relaxed)
                .then(|| status.published.load(Relaxed)),
        }
    }
}

impl Source for ControlPlane {
    fn collect(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.collect_local();
            let revision = tokio::time::timeout(REVISION_TIMEOUT, self.db.feed_revision()).await;
            let Ok(Ok(revision)) = revision else {
                return;
            };
            gauge!("dyn53_outbox_revision").set(revision as f64);
            let backlog = self
                .taken()
                .map_or(0, |taken| revision.saturating_sub(taken));
            gauge!("dyn53_outbox_backlog_revisions").set(backlog as f64);
        })
    }
}
