//! Nodes report their state to Redis, so that `dyn53 fleet` and the console can list them.

use std::collections::HashMap;
use std::sync::Arc;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisResult};

use super::Keys;
use crate::feed::Revision;
use crate::stats::Stats;
use crate::store::Store;

/// How long a silent node's report is kept before it disappears from the list: a dead node
/// stays listed (as stale) for a day.
const REPORT_TTL_MS: i64 = 24 * 3600 * 1000;

/// What a node says about itself, about once a second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeReport {
    pub id: String,
    /// Revision served (0 before the first load).
    pub revision: Revision,
    /// When this report was sent, in milliseconds since the Unix epoch.
    pub heartbeat_ms: u64,
    pub started_ms: u64,
    /// The address the node answers DNS on.
    pub dns: String,
    pub queries: u64,
    /// Queries per second since the previous report.
    pub qps: f64,
    /// Whether it has data to serve.
    pub ready: bool,
    /// The last batch it applied (0: none since start) and when, in ms since the epoch.
    pub applied_revision: Revision,
    pub applied_ms: u64,
    /// Each zone's SOA serial as this node serves it.
    pub serials: Vec<(String, u32)>,
}

/// Makes a node's reports from its store and counters; the rate of queries is taken
/// between two consecutive reports.
pub struct Reporter {
    store: Arc<Store>,
    stats: Arc<Stats>,
    report: NodeReport,
}

impl Reporter {
    /// `base` says who the node is (id, address, start time).
    pub fn new(store: Arc<Store>, stats: Arc<Stats>, base: NodeReport) -> Reporter {
        Reporter {
            store,
            stats,
            report: base,
        }
    }

    /// The node's state now.
    pub fn sample(&mut self) -> &NodeReport {
        let now = now_ms();
        let queries = self.stats.snapshot().total;
        let r = &mut self.report;
        let elapsed = now.saturating_sub(r.heartbeat_ms);
        if r.heartbeat_ms > 0 && elapsed > 0 {
            r.qps = queries.saturating_sub(r.queries) as f64 * 1000.0 / elapsed as f64;
        }
        r.queries = queries;
        r.heartbeat_ms = now;
        r.revision = self.store.revision();
        r.ready = self.store.is_loaded();
        let applied = self.store.last_applied().unwrap_or_default();
        r.applied_revision = applied.revision;
        r.applied_ms = applied.at_ms;
        r.serials = self.store.serials();
        r
    }
}

pub async fn report_node(
    conn: &mut ConnectionManager,
    keys: &Keys,
    report: &NodeReport,
) -> RedisResult<()> {
    let key = keys.node(&report.id);
    let fields = [
        ("revision", report.revision.to_string()),
        ("heartbeat_ms", report.heartbeat_ms.to_string()),
        ("started_ms", report.started_ms.to_string()),
        ("dns", report.dns.clone()),
        ("queries", report.queries.to_string()),
        ("qps", format!("{:.1}", report.qps)),
        ("ready", u8::from(report.ready).to_string()),
        ("applied_revision", report.applied_revision.to_string()),
        ("applied_ms", report.applied_ms.to_string()),
        (
            "serials",
            serde_json::to_string(&report.serials).unwrap_or_default(),
        ),
    ];
    redis::pipe()
        .hset_multiple(&key, &fields)
        .ignore()
        .pexpire(&key, REPORT_TTL_MS)
        .ignore()
        .zadd(keys.nodes(), &report.id, report.heartbeat_ms)
        .ignore()
        .query_async(conn)
        .await
}

/// Every node that reported within the last day, by id.
pub async fn list_nodes(conn: &mut ConnectionManager, keys: &Keys) -> RedisResult<Vec<NodeReport>> {
    let stale = now_ms().saturating_sub(REPORT_TTL_MS as u64);
    let () = conn.zrembyscore(keys.nodes(), 0, stale).await?;
    let mut ids: Vec<String> = conn.zrange(keys.nodes(), 0, -1).await?;
    ids.sort();
    if ids.is_empty() {
        // Redis refuses an empty pipeline.
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hgetall(keys.node(id));
    }
    let reports: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
    Ok(ids
        .into_iter()
        .zip(reports)
        .filter(|(_, fields)| !fields.is_empty())
        .map(|(id, fields)| {
            let number = |name: &str| fields.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
            NodeReport {
                revision: number("revision"),
                heartbeat_ms: number("heartbeat_ms"),
                started_ms: number("started_ms"),
                dns: fields.get("dns").cloned().unwrap_or_default(),
                queries: number("queries"),
                qps: fields
                    .get("qps")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0),
                ready: number("ready") == 1,
                applied_revision: number("applied_revision"),
                applied_ms: number("applied_ms"),
                serials: fields
                    .get("serials")
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default(),
                id,
            }
        })
        .collect())
}

/// Milliseconds since the Unix epoch, the unit of heartbeats.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
