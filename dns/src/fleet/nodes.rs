//! Nodes report their state to Redis, so that `dyn53 fleet` can list them.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisResult};

use super::Keys;
use crate::feed::Revision;

/// How long a silent node's report is kept before it disappears from the list.
const REPORT_TTL_MS: i64 = 24 * 3600 * 1000;

/// What a node says about itself, about once a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// Whether it has data to serve.
    pub ready: bool,
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
        ("ready", u8::from(report.ready).to_string()),
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
                ready: number("ready") == 1,
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
