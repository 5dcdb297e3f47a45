//! The fleet feed in Redis: how the control plane hands every change to any number of DNS
//! nodes, and how nodes report back.
//!
//! Every key lives under a deployment prefix (`DYN53_REDIS_PREFIX`, default `dyn53:`), so
//! several deployments (and parallel tests) share one Redis:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p}meta` | hash | `epoch` (which copy is current), `revision` (last published) |
//! | `{p}{epoch}:zones` | hash | zone name → [`ZoneData`] (JSON) |
//! | `{p}{epoch}:hosts:{zone}` | hash | host name → [`HostRecords`] (JSON) |
//! | `{p}{epoch}:log` | stream | entry `{revision}-0`, field `b`: the batch's changes (JSON) |
//! | `{p}nodes` | sorted set | node ids by last heartbeat (ms) |
//! | `{p}node:{id}` | hash | a node's report ([`NodeReport`]) |
//!
//! The publisher writes a batch to the log, the state and `meta.revision` in one script, so
//! readers never see the log and the state disagree, and a batch sent twice is published
//! once. An epoch is one complete copy written from the database: `republish` writes a new
//! epoch, then switches `meta` to it, and the old epoch's keys expire shortly after. A Redis
//! without `meta` (flushed, or restarted without persistence) is refilled the same way.

mod nodes;
mod publish;
mod reader;

use std::time::Duration;

pub use nodes::{NodeReport, Reporter, list_nodes, now_ms, report_node};
pub use publish::{Published, Publisher};
pub use reader::RedisFeed;
use redis::RedisResult;
use redis::aio::ConnectionManager;

use crate::feed::Revision;
#[cfg(doc)]
use crate::feed::{HostRecords, ZoneData};

/// The stream field that holds a batch's changes (also spelled out in the publish script).
const BATCH_FIELD: &str = "b";

/// Where a deployment's keys are.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    fn zones(&self, epoch: &str) -> String {
        format!("{}{epoch}:zones", self.prefix)
    }

    fn hosts(&self, epoch: &str, zone: &str) -> String {
        format!("{}{epoch}:hosts:{zone}", self.prefix)
    }

    fn log(&self, epoch: &str) -> String {
        format!("{}{epoch}:log", self.prefix)
    }

    fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    fn node(&self, id: &str) -> String {
        format!("{}node:{id}", self.prefix)
    }
}

/// What `{p}meta` says: which copy is current and how far it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub epoch: String,
    pub revision: Revision,
}

/// Reads `{p}meta`; `None` when Redis holds no copy (never filled, flushed, or restarted
/// without persistence).
pub async fn read_meta(conn: &mut ConnectionManager, keys: &Keys) -> RedisResult<Option<Meta>> {
    let (epoch, revision): (Option<String>, Option<Revision>) = redis::cmd("HMGET")
        .arg(keys.meta())
        .arg("epoch")
        .arg("revision")
        .query_async(conn)
        .await?;
    Ok(epoch
        .zip(revision)
        .map(|(epoch, revision)| Meta { epoch, revision }))
}

/// A connection that reconnects by itself. `command_timeout` must exceed the longest
/// blocking read made on it.
pub fn connect(url: &str, command_timeout: Duration) -> RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(command_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Redis's word for a value it could not read, for errors found in our own data.
fn corrupt(what: String) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Parse, "unreadable feed data", what))
}

pub(super) fn json_error(e: serde_json::Error) -> redis::RedisError {
    corrupt(e.to_string())
}
