//! The DNS nodes as the console lists them: in `dyn53 web`, the reports the fleet's nodes
//! write to Redis about once a second (kept a day, so a dead node stays listed, as stale);
//! in `dyn53 serve`, the embedded node, sampled the same way in the process.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dyn53_dns::fleet::{self, Keys, NodeReport, Reporter};
use dyn53_dns::{Stats, Store};
use redis::aio::ConnectionManager;

/// Where the nodes' reports come from.
#[derive(Clone)]
pub enum Nodes {
    /// `dyn53 serve`: its own node's latest report.
    Embedded(Arc<Mutex<NodeReport>>),
    /// `dyn53 web`: the fleet's reports in Redis.
    Fleet { conn: ConnectionManager, keys: Keys },
}

impl Nodes {
    /// Samples the embedded node every second, as a fleet node reports itself.
    pub fn embedded(store: Arc<Store>, stats: Arc<Stats>, dns: String) -> Nodes {
        let base = NodeReport {
            id: "embedded".into(),
            dns,
            started_ms: fleet::now_ms(),
            ..NodeReport::default()
        };
        let mut reporter = Reporter::new(store, stats, base);
        let latest = Arc::new(Mutex::new(reporter.sample().clone()));
        let shared = latest.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let report = reporter.sample().clone();
                *shared.lock().unwrap_or_else(PoisonError::into_inner) = report;
            }
        });
        Nodes::Embedded(latest)
    }

    /// Every node's latest report, by id.
    pub async fn list(&self) -> redis::RedisResult<Vec<NodeReport>> {
        match self {
            Nodes::Embedded(latest) => Ok(vec![
                latest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ]),
            Nodes::Fleet { conn, keys } => fleet::list_nodes(&mut conn.clone(), keys).await,
        }
    }
}
