//! What a DNS node tells its status port ([`crate::exporter`]): what it serves, how it
//! answered (the atomics of [`Stats`], copied into metrics at scrape time so that the
//! answer path only ever adds to an atomic), and for a fleet node how far the feed is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::exporter::Source;
use crate::stats::Stats;
use crate::store::Store;

/// What every node serves and answers: `dyn53 dns`'s, and the one inside `dyn53 serve`.
pub struct Serving {
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
}

/// A fleet node (`dyn53 dns`): what it serves, and the feed in Redis. Shared by the status
/// port and the node's reports to Redis.
pub struct NodeStatus {
    pub serving: Serving,
    /// The feed's latest revision, as last read from Redis.
    pub feed_revision: AtomicU64,
    /// Whether the last contact with Redis worked.
    pub feed_reachable: AtomicBool,
}

impl Serving {
    pub fn new(store: Arc<Store>, stats: Arc<Stats>) -> Serving {
        describe_gauge!("dyn53_node_revision", "Feed revision this node serves.");
        describe_gauge!("dyn53_node_ready", "1 once the node has data to serve.");
        describe_gauge!("dyn53_node_zones", "Zones served.");
        describe_gauge!(
            "dyn53_node_names",
            "Names served (hosts, apexes, empty non-terminals)."
        );
        describe_counter!(
            "dyn53_dns_responses_total",
            "DNS responses sent, by result."
        );
        describe_counter!("dyn53_dns_truncated_total", "UDP responses sent truncated.");
        describe_counter!("dyn53_dns_tcp_queries_total", "Queries received over TCP.");
        describe_counter!(
            "dyn53_dns_rrl_limited_total",
            "UDP answers over the rate limit, by what was done with them."
        );
        describe_counter!(
            "dyn53_dns_cookies_total",
            "Queries with a DNS cookie: a valid server cookie of ours, or a new one given."
        );
        Serving { store, stats }
    }

    /// Copies the store's figures and the answer counters into metrics.
    fn collect_now(&self) {
        let store = &self.store;
        gauge!("dyn53_node_revision").set(store.revision() as f64);
        gauge!("dyn53_node_ready").set(u8::from(store.is_loaded()));
        gauge!("dyn53_node_zones").set(store.zone_count() as f64);
        gauge!("dyn53_node_names").set(store.name_count() as f64);
        let s = self.stats.snapshot();
        for (rcode, value) in [
            ("noerror", s.noerror),
            ("nodata", s.nodata),
            ("nxdomain", s.nxdomain),
            ("refused", s.refused),
            ("formerr", s.formerr),
            ("notimp", s.notimp),
            ("servfail", s.servfail),
            ("other", s.other),
        ] {
            counter!("dyn53_dns_responses_total", "rcode" => rcode).absolute(value);
        }
        counter!("dyn53_dns_truncated_total").absolute(s.truncated);
        counter!("dyn53_dns_tcp_queries_total").absolute(s.tcp);
        for (action, value) in [
            ("dropped", s.rrl_dropped),
            ("slipped", s.rrl_slipped),
            ("logged", s.rrl_logged),
        ] {
            counter!("dyn53_dns_rrl_limited_total", "action" => action).absolute(value);
        }
        for (server_cookie, value) in [("valid", s.cookies_valid), ("new", s.cookies_new)] {
            counter!("dyn53_dns_cookies_total", "server_cookie" => server_cookie).absolute(value);
        }
    }
}

impl Source for Serving {
    fn collect(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.collect_now();
        Box::pin(std::future::ready(()))
    }

    fn readiness(&self) -> Result<(), &'static str> {
        if self.store.is_loaded() {
            Ok(())
        } else {
            Err("no data yet")
        }
    }
}

impl NodeStatus {
    pub fn new(serving: Serving) -> NodeStatus {
        describe_gauge!(
            "dyn53_node_feed_revision",
            "Latest revision in the feed, as last read."
        );
        describe_gauge!(
            "dyn53_node_lag_revisions",
            "Revisions published but not yet served."
        );
        describe_gauge!(
            "dyn53_node_feed_reachable",
            "1 if the last contact with the feed worked."
        );
        NodeStatus {
            serving,
            feed_revision: AtomicU64::new(0),
            feed_reachable: AtomicBool::new(false),
        }
    }

    /// How many revisions the node is behind the feed (0 when it does not know better).
    pub fn lag(&self) -> u64 {
        self.feed_revision
            .load(Relaxed)
            .saturating_sub(self.serving.store.revision())
    }
}

impl Source for NodeStatus {
    fn collect(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.serving.collect_now();
        gauge!("dyn53_node_feed_revision").set(self.feed_revision.load(Relaxed) as f64);
        gauge!("dyn53_node_lag_revisions").set(self.lag() as f64);
        gauge!("dyn53_node_feed_reachable").set(u8::from(self.feed_reachable.load(Relaxed)));
        Box::pin(std::future::ready(()))
    }

    fn readiness(&self) -> Result<(), &'static str> {
        self.serving.readiness()
    }
}
